"""Unweighted events from trained VEGAS grids: robust maximum weights and hit-or-miss, on the device.

Within a kernel group, a point is drawn by picking channel i with probability p_i, then mapping
uniform numbers through channel i's grid; its weight W = f_i(x) J_i(x) / p_i has E[W] = sigma_g.
Events are kept with probability min(|W| / W_max, 1) and carry the sign of W: as in MadGraph, an
integrand that is negative somewhere (an interference term; an LO PDF set below zero) gives
unweighted events of both signs, each of weight +-sigma_abs / N with sigma_abs the integral of
|f|, so that the signed weights sum to sigma on average and every distribution is unbiased.

Each channel's maximum m_i is not the largest weight seen (one outlier would ruin the efficiency):
as in MadGraph, the weights above the maxima may carry at most a fraction ``tolerance`` of the cross
section on a pilot sample (events above a maximum are kept with weight 1: a bias below
``tolerance``). That budget is shared among all channels so that sum_i m_i is smallest: at the
optimum every channel exceeds its maximum with the same probability q (the Lagrange condition
d truncation_i / d m_i = -P(w_i > m_i) equal for all i), and q is the largest whose truncation fits
the budget. Choosing p_i = m_i / sum_j m_j makes every channel's largest W equal to
W_max = sum_j m_j, so the efficiency is sigma / sum_j m_j. Channels are chosen per point by
systematic sampling, so every batch holds
the same mix of channels and the accepted events of a batch, in random order, are an exact sample
of the group's distribution.

Kernel groups (subprocesses with different matrix elements) share the events in proportion to
their sigma_abs (a multinomial draw, as MadGraph shares events among its P-directories): the
fractions carry the integration's relative error, no more.
"""

from __future__ import annotations

import functools
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
    """Smallest W_max with sum(max(|W| - W_max, 0)) <= tolerance * sum(|W|) (0 if all W = 0); JAX or numpy."""
    w = -jnp.sort(-jnp.abs(jnp.asarray(weights, dtype=jnp.float64)))
    n = w.shape[0]
    above = jnp.cumsum(w) - w * jnp.arange(1, n + 1)  # excess over W_max = w[k] of the k+1 largest
    k = jnp.searchsorted(above, tolerance * jnp.sum(w), side="right", method="sort") - 1
    return jnp.where(w[0] > 0, w[jnp.clip(k, 0, n - 1)], 0.0)


@dataclass(frozen=True)
class GroupPlan:
    """How one kernel group draws unweighted events: channel probabilities, W_max and the group's
    sigma_abs (pb), the integral of |f| that its events share."""

    probabilities: np.ndarray
    max_weight: float
    abs_cross_section_pb: float


@dataclass(frozen=True)
class Unweighting:
    """The unweighting plan of a run: per group, the expected efficiency sigma_abs / sum W_max, and
    the share of sigma_abs that negative weights carry (the expected share of negative events)."""

    groups: tuple[GroupPlan, ...]
    efficiency: float
    negative_fraction: float = 0.0

    @property
    def max_weight(self) -> float:
        return float(sum(g.max_weight for g in self.groups))

    @property
    def abs_cross_section_pb(self) -> float:
        """sigma_abs: every unweighted event carries +- this / N (pb) with MadGraph's event_norm = sum."""
        return float(sum(g.abs_cross_section_pb for g in self.groups))


TAIL = 4096
"""Largest pilot weights per channel that the host receives to set the maxima."""


def channel_tails(tasks, group: int, key, edges, sigma, n_pilot: int, batch_size: int, parameters, settings):
    """Pilot points of a group shared in proportion to |sigma_i| (at least MIN_PILOT_POINTS per
    contributing channel), evaluated on the device in tasks: per channel its number of points, its TAIL
    largest |weights|, descending (the only part of the pilot the host receives; the union of the
    tasks' tails holds the pilot's), and its signed sums (``pilot_task``)."""
    from madgen.runtime.tasks import batch_ranges, key_data

    magnitude = np.abs(sigma)
    shares = np.where(magnitude > 0, np.maximum(magnitude / magnitude.sum(), MIN_PILOT_POINTS / max(n_pilot, 1)), 0.0)
    cumulative = cumulative_fractions(shares)
    n_batches = max(1, -(-n_pilot // batch_size))
    data = key_data(key)
    parts = tasks.map(pilot_task, [(group, data, start, stop, cumulative, edges, parameters, settings)
                                   for start, stop in batch_ranges(n_batches)])
    counts = np.sum([p[0] for p in parts], axis=0)
    tails = [-np.sort(-np.concatenate([p[1][k] for p in parts]))[:TAIL] for k in range(len(sigma))]
    signed_sums = np.sum([p[2] for p in parts], axis=0)
    return counts, tails, signed_sums


def pilot_task(samplers, group: int, key, start: int, stop: int, cumulative, edges, parameters, settings):
    """Pilot batches start .. stop - 1 of a group (a task): per channel its number of points (K,),
    its largest |weights| (K, min(TAIL, points)), descending, and (K, 2): the magnitude of the sum of
    its negative weights and the sum of its positive weights."""
    from madgen.runtime.tasks import as_key

    sampler, key = samplers[group], as_key(key)
    weights, channels = [], []
    for b in range(start, stop):
        batch = sampler.evaluate(jax.random.fold_in(key, b), cumulative, edges, parameters, settings)
        weights.append(batch.weight)
        channels.append(batch.channel)
    weights, channels = jnp.concatenate(weights), jnp.concatenate(channels)
    size = min(TAIL, weights.shape[0])
    counts, tails, signed_sums = [], [], []
    for k in range(sampler.n_channels):
        count, tail, signed = _channel_tail(weights, channels, k, size)
        counts.append(int(count))
        tails.append(np.asarray(tail))
        signed_sums.append(np.asarray(signed, dtype=float))
    return np.array(counts), np.array(tails), np.array(signed_sums)


@functools.partial(jax.jit, static_argnums=3)
def _channel_tail(weights, channels, k, size):
    mine = channels == k
    signed = jnp.stack([-jnp.sum(jnp.where(mine & (weights < 0), weights, 0.0)),
                        jnp.sum(jnp.where(mine & (weights > 0), weights, 0.0))])
    return jnp.sum(mine), jax.lax.top_k(jnp.where(mine, jnp.abs(weights), 0.0), size)[0], signed


def signed_parts(signed_sums, counts) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the pilot's estimates of the integrals of the negative part's magnitude and of the
    positive part (pb): its two signed sums over its number of points."""
    signed_sums = np.asarray(signed_sums, dtype=float).reshape(-1, 2)
    counts = np.asarray(counts, dtype=float)
    return tuple(np.divide(signed_sums[:, j], counts, out=np.zeros(len(counts)), where=counts > 0) for j in (0, 1))


def absolute_cross_sections(sigma, signed_sums, counts) -> np.ndarray:
    """Per channel sigma_abs, the integral of |f| (pb): the channel's integrated cross section ``sigma``
    (VEGAS) plus twice the smaller of its negative and positive parts, which the pilot measures
    (``signed_sums[i]``: the magnitude of channel i's negative weights summed, and its positive sum;
    ``counts[i]``: its pilot points): sigma + 2 N or -sigma + 2 P. Exactly |sigma| for a channel of
    one sign."""
    negative, positive = signed_parts(signed_sums, counts)
    sigma = np.asarray(sigma, dtype=float)
    sigma_abs = np.where(negative <= positive, sigma + 2.0 * negative, -sigma + 2.0 * positive)
    # statistics can leave that at or below zero for a channel of both signs: the pilot's own mean |w|
    return np.where(sigma_abs > 0, sigma_abs, negative + positive)


def shared_maxima(counts, tails, budget: float) -> np.ndarray:
    """Channel maxima m_i with the smallest sum whose truncation, sum_i mean_i((w - m_i)+) (pb), is at
    most ``budget``. ``tails[i]``: the largest weights of channel i, descending; ``counts[i]``: its
    number of points.

    Channel i's truncation is piecewise linear and convex in m_i: between its j-th and (j+1)-th largest
    weights it falls with slope j / n_i (the exceedance probability). Lowering m_i by dm costs
    (j / n_i) dm of the budget, so the optimum lowers the maxima segment by segment in increasing order
    of j / n_i (a fractional knapsack), the last segment partly: all channels end at the same
    exceedance probability up to one point."""
    counts = np.asarray(counts)
    maxima = np.array([float(t[0]) if counts[i] > 0 and len(t) and t[0] > 0 else 0.0 for i, t in enumerate(tails)])
    keys, owners, drops, costs = [], [], [], []
    for i, tail in enumerate(tails):
        if maxima[i] <= 0 or len(tail) < 2:
            continue
        tail = np.maximum(np.asarray(tail, dtype=float), 0.0)
        j = np.arange(1, len(tail))
        drop = tail[:-1] - tail[1:]
        keys.append(j / counts[i])
        owners.append(np.full(len(j), i))
        drops.append(drop)
        costs.append(j * drop / counts[i])
    if not keys:
        return maxima
    keys, owners, drops, costs = map(np.concatenate, (keys, owners, drops, costs))
    order = np.lexsort((owners, keys))
    owners, drops, costs = owners[order], drops[order], costs[order]
    spent = np.cumsum(costs)
    full = int(np.searchsorted(spent, budget, side="right"))
    np.subtract.at(maxima, owners[:full], drops[:full])
    if full < len(costs) and costs[full] > 0:
        left = budget - (spent[full - 1] if full else 0.0)
        maxima[owners[full]] -= drops[full] * left / costs[full]
    return np.maximum(maxima, 0.0)


def plan_unweighting(samplers, channels, grids, result, n_events: int, tolerance: float, key, parameters,
                     settings, tasks=None) -> Unweighting:
    """Channel maxima of every group from a pilot sample with the truncation budget ``tolerance`` x
    sigma_abs shared by all channels (``shared_maxima``), hence p_i, W_max, each group's sigma_abs and
    the efficiency."""
    from madgen.runtime.integrate import stacked_edges
    from madgen.runtime.tasks import LocalTasks

    tasks = tasks or LocalTasks(samplers)
    key = jax.random.fold_in(key, PILOT_STREAM)
    n_pilot = min(max(2 * n_events, 100_000), 1_000_000)
    sigma_all = np.array([r.cross_section_pb for r in result.channels])
    if not np.abs(sigma_all).sum() > 0:
        raise ValueError("no point passed the cuts: the phase space left by the cuts is empty")
    counts, tails = np.zeros(len(channels), dtype=np.int64), [np.zeros(1) for _ in channels]
    signed_sums = np.zeros((len(channels), 2))
    for group, sampler in enumerate(samplers):
        members = [i for i, c in enumerate(channels) if c.group == group]
        sigma = sigma_all[members]
        if not np.abs(sigma).sum() > 0:
            continue
        share = np.abs(sigma).sum() / np.abs(sigma_all).sum()
        edges = stacked_edges(grids, channels, group, sampler.ndim)
        group_counts, group_tails, group_signed = channel_tails(
            tasks, group, jax.random.fold_in(key, group), edges, sigma, max(int(n_pilot * share), MIN_PILOT_POINTS),
            sampler.batch_size, parameters, settings)
        for local, index in enumerate(members):
            counts[index], tails[index] = group_counts[local], group_tails[local]
            signed_sums[index] = group_signed[local]
    sigma_abs = absolute_cross_sections(sigma_all, signed_sums, counts)
    maxima = shared_maxima(counts, tails, tolerance * sigma_abs.sum())
    if not maxima.sum() > 0:
        raise ValueError("no point passed the cuts: the phase space left by the cuts is empty")
    plans = []
    for group in range(len(samplers)):
        members = [i for i, c in enumerate(channels) if c.group == group]
        group_max = maxima[members]
        probabilities = group_max / group_max.sum() if group_max.sum() > 0 else np.full(len(members), 1 / len(members))
        group_abs = float(sigma_abs[members].sum()) if group_max.sum() > 0 else 0.0
        plans.append(GroupPlan(probabilities, float(group_max.sum()), group_abs))
    total_abs = sum(p.abs_cross_section_pb for p in plans)
    negative_fraction = min(1.0, float(np.sum(signed_parts(signed_sums, counts)[0])) / total_abs)
    return Unweighting(tuple(plans), float(total_abs / maxima.sum()), negative_fraction)


def group_event_counts(plan: Unweighting, n_events: int, seed: int) -> np.ndarray:
    """Events per kernel group: multinomial in proportion to the groups' sigma_abs."""
    sigma_abs = np.array([g.abs_cross_section_pb for g in plan.groups])
    return np.random.default_rng([seed, UNWEIGHT_STREAM]).multinomial(n_events, sigma_abs / sigma_abs.sum())


def accepted_events(tasks, group: int, plan: GroupPlan, edges, n_events: int, key, parameters, settings):
    """Yield accepted events of one group as host arrays (an ``Accepted`` of numpy arrays, count
    rows each) until ``n_events``: hit-or-miss batches 0, 1, 2, ... in tasks (``unweight_task``),
    taken in batch order whatever runs them; memory is bounded by one batch on the device."""
    from madgen.runtime.tasks import endless_ranges, key_data

    cumulative = cumulative_fractions(plan.probabilities)
    arguments = ((group, key_data(key), start, stop, cumulative, np.asarray(plan.probabilities), plan.max_weight,
                  edges, parameters, settings) for start, stop in endless_ranges())
    kept = 0
    stream = tasks.stream(unweight_task, arguments)
    try:
        for batches in stream:
            for accepted in batches:
                count = min(int(accepted.count), n_events - kept)
                if count == 0:
                    continue
                kept += count
                yield jax.tree_util.tree_map(lambda a: a[:count] if np.ndim(a) else a, accepted)
                if kept >= n_events:
                    return
    finally:
        stream.close()


def unweight_task(samplers, group: int, key, start: int, stop: int, cumulative, probabilities, max_weight, edges,
                  parameters, settings):
    """Hit-or-miss batches start .. stop - 1 of a group (a task): per batch an ``Accepted`` of host
    arrays holding only its accepted events (``count`` rows)."""
    from madgen.runtime.tasks import as_key

    sampler, key = samplers[group], as_key(key)
    probabilities = jnp.asarray(probabilities)
    results = []
    for b in range(start, stop):
        batch_key = jax.random.fold_in(key, b)
        batch = sampler.evaluate(jax.random.fold_in(batch_key, 0), cumulative, edges, parameters, settings)
        accepted = sampler.unweight(batch, jax.random.fold_in(batch_key, 1), probabilities, max_weight)
        count = int(accepted.count)
        payload = (accepted.channel, accepted.member, accepted.evaluation)
        size = min(TRANSFER_ROWS, sampler.batch_size)
        rows = []
        for first_row in range(0, count, size):
            first = min(first_row, sampler.batch_size - size)  # a slice never runs past the batch
            part = sampler.rows(payload, first, size)
            rows.append(jax.tree_util.tree_map(lambda a, offset=first_row - first: np.asarray(a)[offset:], part))
        if rows:
            channel, member, evaluation = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts)[:count],
                                                                 *rows)
        else:
            channel, member, evaluation = jax.tree_util.tree_map(lambda a: np.asarray(a)[:0] if np.ndim(a) else np.asarray(a),
                                                                 payload)
        results.append(Accepted(np.asarray(count), np.asarray(accepted.over), channel, member, evaluation))
    return results
