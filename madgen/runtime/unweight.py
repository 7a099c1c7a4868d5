"""Unweighted events from trained VEGAS grids: weighted sampling, robust maximum weights,
and hit-or-miss.

A point is drawn by picking channel i with probability p_i, then mapping uniform numbers
through channel i's VEGAS grid; its weight W = f_i(x) J_i(x) / p_i has E[W] = sigma. Events
are kept with probability min(W / W_max, 1).

Each channel's maximum m_i is not the largest weight seen (one outlier would ruin the
efficiency) but, as in MadGraph, the smallest value whose truncation loses at most a fraction
``tolerance`` of the channel's cross section on a pilot sample; events above it are kept
with weight 1 (a bias below ``tolerance``). Choosing p_i = m_i / sum_j m_j makes every
channel's largest W equal to W_max = sum_j m_j, so the efficiency is sigma / sum_j m_j, the
cross-section-weighted mean of the channel efficiencies; with p_i proportional to sigma_i it
would be that of the worst channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from madgen.runtime.integrate import TrainedChannel, sample_grid


@dataclass(frozen=True)
class WeightedSample:
    weights: np.ndarray  # (N,) in pb, E[W] = sigma
    momenta: np.ndarray  # (N, n, 4) lab frame
    channel: np.ndarray  # (N,) index into the channel list


def channel_probabilities(channels: list[TrainedChannel]) -> np.ndarray:
    """p_i proportional to each channel's cross section (channels that vanish are never sampled)."""
    sigma = np.array([max(t.result.cross_section_pb, 0.0) for t in channels])
    if sigma.sum() <= 0:
        raise ValueError("all channels have zero cross section: there are no events to generate")
    return sigma / sigma.sum()


def sample_weighted(channels: list[TrainedChannel], n: int, rng: np.random.Generator,
                    chunk: int, probabilities: np.ndarray | None = None) -> WeightedSample:
    """n weighted points, channel by channel in a fixed order (so a seed fixes the sample);
    channel i is picked with ``probabilities[i]`` (default: sigma_i / sigma)."""
    if probabilities is None:
        probabilities = channel_probabilities(channels)
    counts = rng.multinomial(n, probabilities)
    weights, momenta, labels = [], [], []
    for index, (trained, count) in enumerate(zip(channels, counts)):
        if count == 0:
            continue
        _, _, w, p = sample_grid(trained, count, rng, chunk)
        weights.append(w / probabilities[index])
        momenta.append(p)
        labels.append(np.full(count, index))
    return WeightedSample(np.concatenate(weights), np.concatenate(momenta), np.concatenate(labels))


def robust_max_weight(weights: np.ndarray, tolerance: float) -> float:
    """Smallest W_max with sum(max(W - W_max, 0)) <= tolerance * sum(W) (0 if no W > 0)."""
    w = np.sort(np.asarray(weights, dtype=np.float64))[::-1]
    w = w[w > 0]
    if len(w) == 0:
        return 0.0
    above = np.cumsum(w) - w * np.arange(1, len(w) + 1)  # excess over W_max = w[k] of the k+1 largest
    allowed = tolerance * w.sum()
    k = int(np.searchsorted(above, allowed, side="right")) - 1
    return float(w[max(k, 0)])


def hit_or_miss(sample: WeightedSample, max_weight: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the kept events."""
    keep = rng.random(len(sample.weights)) * max_weight < sample.weights
    return np.nonzero(keep)[0]


def channel_max_weights(channels: list[TrainedChannel], n_pilot: int, rng: np.random.Generator,
                        chunk: int, tolerance: float, minimum: int = 4096) -> np.ndarray:
    """Robust maximum of f_i J_i for every channel, from pilot points shared in proportion to
    sigma_i (at least ``minimum`` per contributing channel)."""
    shares = channel_probabilities(channels)
    maxima = np.zeros(len(channels))
    for index, (trained, share) in enumerate(zip(channels, shares)):
        if share > 0:
            _, _, w, _ = sample_grid(trained, max(int(n_pilot * share), minimum), rng, chunk)
            maxima[index] = robust_max_weight(w, tolerance)
    if not maxima.sum() > 0:
        raise ValueError("no point passed the cuts: the phase space left by the cuts is empty")
    return maxima


MAX_BATCH_POINTS = 262_144
"""Points sampled per unweighting batch: bounds memory whatever the number of events requested."""


@dataclass(frozen=True)
class Unweighting:
    """How to draw unweighted events: channel probabilities p_i = m_i / sum m, W_max = sum m."""

    probabilities: np.ndarray
    max_weight: float
    efficiency: float


def plan_unweighting(channels: list[TrainedChannel], n_events: int, rng: np.random.Generator, chunk: int,
                     tolerance: float) -> Unweighting:
    """Robust channel maxima from a pilot sample (``channel_max_weights``), hence W_max and the
    expected efficiency sigma / W_max."""
    sigma = sum(t.result.cross_section_pb for t in channels)
    maxima = channel_max_weights(channels, min(max(2 * n_events, 100_000), 1_000_000), rng, chunk, tolerance)
    return Unweighting(maxima / maxima.sum(), float(maxima.sum()), sigma / float(maxima.sum()))


def accepted_batches(channels: list[TrainedChannel], plan: Unweighting, n_events: int, rng: np.random.Generator,
                     chunk: int, max_points: int = MAX_BATCH_POINTS):
    """Yield (momenta (k, n, 4), channel index (k,)) of accepted events, batch by batch, until
    ``n_events`` in total: memory stays bounded by ``max_points`` sampled points."""
    kept = 0
    while kept < n_events:
        remaining = n_events - kept
        batch = int(min(max(1.5 * remaining / max(plan.efficiency, 1e-6), chunk), max_points))
        sample = sample_weighted(channels, batch, rng, chunk, plan.probabilities)
        chosen = hit_or_miss(sample, plan.max_weight, rng)[:remaining]
        kept += len(chosen)
        if len(chosen):
            yield sample.momenta[chosen], sample.channel[chosen]


def unweighted_events(channels: list[TrainedChannel], n_events: int, rng: np.random.Generator, chunk: int,
                      tolerance: float, progress=None):
    """(momenta (N, n, 4), channel index (N,), efficiency, W_max in pb) of ``n_events`` events, in memory."""
    plan = plan_unweighting(channels, n_events, rng, chunk, tolerance)
    momenta, labels = [], []
    for batch_momenta, batch_labels in accepted_batches(channels, plan, n_events, rng, chunk):
        momenta.append(batch_momenta)
        labels.append(batch_labels)
        if progress is not None:
            progress.update(len(batch_labels))
    return np.concatenate(momenta), np.concatenate(labels), plan.efficiency, plan.max_weight
