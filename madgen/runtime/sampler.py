"""The event loop on the device: random numbers, VEGAS maps, channel choice, weights, iteration
statistics and hit-or-miss unweighting, all in compiled JAX code.

One kernel group is evaluated in fixed-size batches by one compiled function (``evaluate``):
uniform numbers from ``jax.random`` (keys derived from the run's seed), a channel per point by
systematic sampling of the channel fractions (channels mix within a batch: each point of channel
k is an independent draw from channel k's VEGAS grid), the grid map y -> x and its Jacobian, and
the group's weight function. Small compiled functions then reduce a batch on the device: to the
per-channel sums and VEGAS histograms of an iteration (``accumulate``), or to the accepted events
of hit-or-miss, moved to the front of the batch in random order (``unweight``). Only these
reductions and the accepted events travel to the host; the points themselves never do.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from madgen.contract import jit
from madgen.runtime.grids import accumulate_histograms, map_points
from madgen.runtime.integrand import Evaluation


class Batch(NamedTuple):
    """One evaluated batch, on the device."""

    weight: jnp.ndarray  # (B,) f(x) J(y) in pb
    channel: jnp.ndarray  # (B,) local channel of each point
    bins: jnp.ndarray  # (B, ndim) VEGAS increment of each coordinate
    trainable: jnp.ndarray  # (B,) all y in (0, 1), as vegas counts training points
    x: jnp.ndarray  # (B, ndim) unit-cube points
    jacobian: jnp.ndarray  # (B,) VEGAS Jacobians
    evaluation: Evaluation


class IterationSums(NamedTuple):
    """Per-channel sums over an iteration, accumulated on the device."""

    count: jnp.ndarray  # (K,)
    sum_w: jnp.ndarray  # (K,)
    sum_w2: jnp.ndarray  # (K,)
    histogram: jnp.ndarray  # (K, ndim, ninc) sum of w^2 per increment
    histogram_count: jnp.ndarray  # (K, ndim, ninc)


class Accepted(NamedTuple):
    """Hit-or-miss result of one batch: the first ``count`` rows are the accepted events, in random order."""

    count: jnp.ndarray  # () int
    over: jnp.ndarray  # () int: accepted events whose |weight| exceeded the maximum (kept with weight +-1)
    channel: jnp.ndarray  # (B,)
    member: jnp.ndarray  # (B,) member subprocess chosen in proportion to its luminosity
    evaluation: Evaluation


def systematic_channels(shift, cumulative, size: int):
    """Channel of each of ``size`` points: systematic sampling of the fractions whose cumulative
    sums are ``cumulative`` (K,), with one uniform ``shift``: channel k gets floor or ceil of
    size * fraction_k points, exactly size * fraction_k on average."""
    positions = (jnp.arange(size) + shift) / size
    index = jnp.searchsorted(cumulative, positions, side="right")
    return jnp.clip(index, 0, cumulative.shape[0] - 1).astype(jnp.int32)


def cumulative_fractions(fractions) -> np.ndarray:
    """Normalised cumulative sums of non-negative fractions, the last exactly 1."""
    fractions = np.clip(np.asarray(fractions, dtype=float), 0.0, None)
    cumulative = np.cumsum(fractions / fractions.sum())
    cumulative[-1] = 1.0
    return cumulative


def group_sampler(integrand, batch_size: int) -> "GroupSampler":
    """The ``GroupSampler`` of an integrand, shared by every run in this Python process whose
    integrand compiles to the same code (``GroupIntegrand.cache_key``): the compiled functions are
    reused (runs at other beam energies or scales included)."""
    key = (integrand.cache_key, int(batch_size))
    sampler = _SAMPLERS.get(key)
    if sampler is None:
        if len(_SAMPLERS) >= _MAX_SAMPLERS:
            _SAMPLERS.pop(next(iter(_SAMPLERS)))
        sampler = _SAMPLERS[key] = GroupSampler(integrand, batch_size)
    return sampler


_SAMPLERS: dict = {}
_MAX_SAMPLERS = 16


class GroupSampler:
    """Compiled batch functions of one kernel group (``integrand``) for batches of ``batch_size``;
    ``evaluate(key, cumulative channel fractions, grid edges, parameters, run settings)``."""

    def __init__(self, integrand, batch_size: int):
        self.integrand = integrand
        self.batch_size = int(batch_size)
        self.ndim = integrand.ndim
        self.n_channels = len(integrand.maps)
        self.evaluate = jit(self._evaluate, process=integrand.kernel)
        self.accumulate = jax.jit(_accumulate)
        self.unweight = jax.jit(_unweight)
        self.rows = jax.jit(_rows, static_argnums=2)

    def _evaluate(self, key, cumulative, edges, parameters, settings) -> Batch:
        shift_key, point_key = jax.random.split(key)
        channel = systematic_channels(jax.random.uniform(shift_key, dtype=jnp.float64), cumulative,
                                      self.batch_size)
        y = jax.random.uniform(point_key, (self.batch_size, self.ndim), dtype=jnp.float64)
        x, jacobian, bins = map_points(edges, y, channel)
        evaluation = self.integrand(x, channel, parameters, settings)
        trainable = jnp.all(y > 0.0, axis=-1)
        return Batch(evaluation.weight * jacobian, channel, bins, trainable, x, jacobian, evaluation)

    def empty_sums(self, ninc: int) -> IterationSums:
        k, d = self.n_channels, self.ndim
        return IterationSums(jnp.zeros(k), jnp.zeros(k), jnp.zeros(k), jnp.zeros((k, d, ninc)), jnp.zeros((k, d, ninc)))


def _accumulate(sums: IterationSums, batch: Batch) -> IterationSums:
    k = sums.count.shape[0]
    one_hot = jax.nn.one_hot(batch.channel, k, dtype=jnp.float64)  # fixed-order sums: same bits on any core count
    w = batch.weight
    histogram, histogram_count = accumulate_histograms(sums.histogram, sums.histogram_count, batch.channel,
                                                       batch.bins, w ** 2, batch.trainable)
    return IterationSums(sums.count + jnp.sum(one_hot, axis=0), sums.sum_w + w @ one_hot,
                         sums.sum_w2 + (w ** 2) @ one_hot, histogram, histogram_count)


def _unweight(batch: Batch, key, probabilities, max_weight) -> Accepted:
    """Hit-or-miss against ``max_weight`` of |W|, W = w / p_channel (an event keeps the sign of its
    ``evaluation.weight``); a member subprocess per event in proportion to its luminosity; accepted
    events first, in random order."""
    accept_key, member_key, order_key = jax.random.split(key, 3)
    size = batch.weight.shape[0]
    weight = jnp.abs(batch.weight) / probabilities[batch.channel]
    accepted = jax.random.uniform(accept_key, (size,), dtype=jnp.float64) * max_weight < weight
    densities = batch.evaluation.densities
    cumulative = jnp.cumsum(densities, axis=-1)
    target = jax.random.uniform(member_key, (size,), dtype=jnp.float64) * cumulative[:, -1]
    member = jnp.minimum(jnp.sum(cumulative <= target[:, None], axis=-1), densities.shape[-1] - 1)
    rank = jnp.where(accepted, jax.random.uniform(order_key, (size,), dtype=jnp.float64), 2.0)
    order = jnp.argsort(rank)
    take = lambda a: a[order]  # noqa: E731
    return Accepted(jnp.sum(accepted), jnp.sum(accepted & (weight > max_weight)), take(batch.channel),
                    take(member), jax.tree_util.tree_map(take, batch.evaluation))


def _rows(tree, start, size: int):
    """``size`` rows of every array of ``tree`` from ``start`` (a compiled slice: no per-size recompile)."""
    return jax.tree_util.tree_map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, size), tree)
