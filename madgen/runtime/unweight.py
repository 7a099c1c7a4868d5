"""Unweighted events from trained VEGAS grids: weighted sampling, a robust maximum weight,
and hit-or-miss.

A point is drawn by picking channel i with probability p_i = sigma_i / sigma, then mapping
uniform numbers through channel i's VEGAS grid; its weight W = f_i(x) J_i(x) / p_i has
E[W] = sigma. Events are kept with probability min(W / W_max, 1).

W_max is not the largest weight seen (one outlier would ruin the efficiency) but, as in
MadGraph, the smallest value whose truncation loses at most a fraction ``tolerance`` of the
cross section: sum_j max(W_j - W_max, 0) <= tolerance * sum_j W_j on a pilot sample.
The events above it are kept with weight 1; the bias this introduces is below ``tolerance``.
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
                    chunk: int) -> WeightedSample:
    """n weighted points, channel by channel in a fixed order (so a seed fixes the sample)."""
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
    """Smallest W_max with sum(max(W - W_max, 0)) <= tolerance * sum(W)."""
    w = np.sort(np.asarray(weights, dtype=np.float64))[::-1]
    w = w[w > 0]
    if len(w) == 0:
        raise ValueError("no point passed the cuts: the phase space left by the cuts is empty")
    above = np.cumsum(w) - w * np.arange(1, len(w) + 1)  # excess over W_max = w[k] of the k+1 largest
    allowed = tolerance * w.sum()
    k = int(np.searchsorted(above, allowed, side="right")) - 1
    return float(w[max(k, 0)])


def hit_or_miss(sample: WeightedSample, max_weight: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the kept events."""
    keep = rng.random(len(sample.weights)) * max_weight < sample.weights
    return np.nonzero(keep)[0]
