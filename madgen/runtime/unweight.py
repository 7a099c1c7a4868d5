"""Unweighted events from trained VEGAS grids: robust maximum weights and hit-or-miss, on the device.

Within a kernel group, a point is drawn by picking channel i with probability p_i, then mapping
uniform numbers through channel i's grid; its weight W = f_i(x) J_i(x) / p_i has E[W] = sigma_g.
Events are kept with probability min(W / W_max, 1).

Each channel's maximum m_i is not the largest weight seen (one outlier would ruin the efficiency)
but, as in MadGraph, the smallest value whose truncation loses at most a fraction ``tolerance`` of
the channel's cross section on a pilot sample; events above it are kept with weight 1 (a bias below
``tolerance``). Choosing p_i = m_i / sum_j m_j makes every channel's largest W equal to
W_max = sum_j m_j, so the efficiency is sigma / sum_j m_j, the cross-section-weighted mean of the
channel efficiencies. Channels are chosen per point by systematic sampling, so every batch holds
the same mix of channels and the accepted events of a batch, in random order, are an exact sample
of the group's distribution.

Kernel groups (subprocesses with different matrix elements) share the events in proportion to
their integrated cross sections (a multinomial draw, as MadGraph shares events among its
P-directories): the fractions carry the integration's relative error, no more.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from madgen.runtime.sampler import Accepted, cumulative_fractions

PILOT_STREAM, UNWEIGHT_STREAM = 2, 3
"""Key streams of the pilot sample and of the unweighting (``jax.random.fold_in(run key, stream)``)."""

MIN_PILOT_POINTS = 4096
"""Pilot points at least per contributing channel."""

TRANSFER_ROWS = 1024
"""Accepted events move to the host in slices of this many rows (one compiled slice shape)."""


def robust_max_weight(weights, tolerance: float):
    """Smallest W_max with sum(max(W - W_max, 0)) <= tolerance * sum(W) (0 if no W > 0); JAX or numpy."""
    w = -jnp.sort(-jnp.maximum(jnp.asarray(weights, dtype=jnp.float64), 0.0))
    n = w.shape[0]
    above = jnp.cumsum(w) - w * jnp.arange(1, n + 1)  # excess over W_max = w[k] of the k+1 largest
    k = jnp.searchsorted(above, tolerance * jnp.sum(w), side="right", method="sort") - 1
    return jnp.where(w[0] > 0, w[jnp.clip(k, 0, n - 1)], 0.0)


@dataclass(frozen=True)
class GroupPlan:
    """How one kernel group draws unweighted events: channel probabilities and W_max."""

    probabilities: np.ndarray
    max_weight: float


@dataclass(frozen=True)
class Unweighting:
    """The unweighting plan of a run: per group, and the expected efficiency sigma / sum W_max."""

    groups: tuple[GroupPlan, ...]
    efficiency: float

    @property
    def max_weight(self) -> float:
        return float(sum(g.max_weight for g in self.groups))


def channel_maxima(sampler, key, edges, sigma, n_pilot: int, tolerance: float, parameters, settings) -> np.ndarray:
    """Robust maximum of f_i J_i of every channel of a group, from pilot points shared in proportion
    to sigma_i (at least MIN_PILOT_POINTS per contributing channel), evaluated on the device."""
    contributing = sigma > 0
    shares = np.where(contributing, np.maximum(sigma / sigma.sum(), MIN_PILOT_POINTS / max(n_pilot, 1)), 0.0)
    cumulative = cumulative_fractions(shares)
    n_batches = max(1, -(-n_pilot // sampler.batch_size))
    weights, channels = [], []
    for b in range(n_batches):
        batch = sampler.evaluate(jax.random.fold_in(key, b), cumulative, edges, parameters, settings)
        weights.append(batch.weight)
        channels.append(batch.channel)
    weights, channels = jnp.concatenate(weights), jnp.concatenate(channels)
    return np.array([float(_channel_maximum(weights, channels, k, tolerance)) if contributing[k] else 0.0
                     for k in range(len(sigma))])


@jax.jit
def _channel_maximum(weights, channels, k, tolerance):
    return robust_max_weight(jnp.where(channels == k, weights, 0.0), tolerance)


def plan_unweighting(samplers, channels, grids, result, n_events: int, tolerance: float, key, parameters,
                     settings) -> Unweighting:
    """Robust channel maxima of every group from a pilot sample, hence p_i, W_max and the efficiency."""
    from madgen.runtime.integrate import stacked_edges

    key = jax.random.fold_in(key, PILOT_STREAM)
    n_pilot = min(max(2 * n_events, 100_000), 1_000_000)
    sigma_all = np.array([max(r.cross_section_pb, 0.0) for r in result.channels])
    plans, total_max = [], 0.0
    for group, sampler in enumerate(samplers):
        members = [i for i, c in enumerate(channels) if c.group == group]
        sigma = sigma_all[members]
        if not sigma.sum() > 0:
            plans.append(GroupPlan(np.full(len(members), 1.0 / len(members)), 0.0))
            continue
        share = sigma.sum() / sigma_all.sum()
        edges = stacked_edges(grids, channels, group, sampler.ndim)
        maxima = channel_maxima(sampler, jax.random.fold_in(key, group), edges, sigma,
                                max(int(n_pilot * share), MIN_PILOT_POINTS), tolerance, parameters, settings)
        if not maxima.sum() > 0:
            raise ValueError("no point passed the cuts: the phase space left by the cuts is empty")
        plans.append(GroupPlan(maxima / maxima.sum(), float(maxima.sum())))
        total_max += float(maxima.sum())
    if not total_max > 0:
        raise ValueError("no point passed the cuts: the phase space left by the cuts is empty")
    return Unweighting(tuple(plans), float(sigma_all.sum() / total_max))


def group_event_counts(result, n_groups: int, n_events: int, seed: int) -> np.ndarray:
    """Events per kernel group: multinomial in proportion to the groups' cross sections."""
    sigma = np.maximum(result.group_cross_sections(n_groups), 0.0)
    return np.random.default_rng([seed, UNWEIGHT_STREAM]).multinomial(n_events, sigma / sigma.sum())


def accepted_events(sampler, plan: GroupPlan, edges, n_events: int, key, parameters, settings):
    """Yield accepted events of one group as host arrays (an ``Accepted`` of numpy arrays, count
    rows each) until ``n_events``; memory is bounded by one batch on the device."""
    cumulative = cumulative_fractions(plan.probabilities)
    probabilities = jnp.asarray(plan.probabilities)
    kept, b = 0, 0
    while kept < n_events:
        batch_key = jax.random.fold_in(key, b)
        batch = sampler.evaluate(jax.random.fold_in(batch_key, 0), cumulative, edges, parameters, settings)
        accepted = sampler.unweight(batch, jax.random.fold_in(batch_key, 1), probabilities, plan.max_weight)
        count = min(int(accepted.count), n_events - kept)
        b += 1
        if count == 0:
            continue
        payload = (accepted.channel, accepted.member, accepted.evaluation)
        size = min(TRANSFER_ROWS, sampler.batch_size)
        rows = []
        for start in range(0, count, size):
            first = min(start, sampler.batch_size - size)  # a slice never runs past the batch
            part = sampler.rows(payload, first, size)
            rows.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[start - first:], part))
        channel, member, evaluation = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts)[:count], *rows)
        kept += count
        yield Accepted(np.asarray(count), np.asarray(accepted.over), channel, member, evaluation)
