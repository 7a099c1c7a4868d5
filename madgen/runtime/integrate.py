"""Cross sections: VEGAS over the channels of every kernel group, the points evaluated on the
device (``madgen.runtime.sampler``), the grids adapted on the host.

With single-diagram enhancement (MadGraph's multichannel choice) the integrand is split as

    |M|^2 = sum_i |M|^2 * |A_i|^2 / sum_j |A_j|^2,

and term i is integrated over the phase-space map built from diagram i, so that every channel's
resonances and t-channel peaks are flattened by its own map before VEGAS adapts. sigma = sum_i sigma_i.

Warm-up iterations only train the grids (their estimates are discarded). Each following iteration
adapts further and its estimate enters an average per channel weighted by its number of points
(unbiased, see ``_Average``); a grid adapts only from an iteration with enough points (see
``MIN_POINTS_PER_INCREMENT``); points go
to channels in proportion to their spread sigma_i sqrt(n_i) (the allocation that minimises the total
variance), each channel keeping at least 2% of the largest share so that no channel is lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import numpy as np

from madgen.runtime.grids import Grid
from madgen.runtime.sampler import cumulative_fractions

MIN_SHARE = 0.02
"""Smallest share of points a channel keeps, relative to the largest one."""

MIN_POINTS_PER_INCREMENT = 4
"""A channel's grid adapts to an iteration only where it had this many points per increment on average:
from fewer, the histogram is mostly empty increments and the grid would follow the noise, starving
regions no point happened to reach (g u > e+ e- u's photon t-channel at 250 points per iteration:
0.013 +- 0.004 pb where it holds 7.0 pb); it stays as it was and its estimate stays unbiased."""

ADAPTATION_DAMPING = 0.5
"""vegas' alpha: how fast the grids move towards the trained density."""

INTEGRATION_STREAM = 1
"""Key stream of the integration (``jax.random.fold_in(run key, stream)``)."""


@dataclass(frozen=True)
class ChannelResult:
    channel: object  # IntegrationChannel
    cross_section_pb: float
    error_pb: float
    n_points: int
    chi2_dof: float


@dataclass(frozen=True)
class IntegrationResult:
    cross_section_pb: float
    error_pb: float
    n_points: int
    channels: tuple[ChannelResult, ...]

    @property
    def relative_error(self) -> float:
        return abs(self.error_pb / self.cross_section_pb) if self.cross_section_pb else math.inf


@dataclass
class _Average:
    """The average of independent iteration estimates, each weighted by its number of points.

    Not by its inverse variance (Lepage's choice): where a channel's weights are heavy-tailed (a region
    its grid samples rarely), an iteration that misses the tail has both a low mean and a small
    variance estimate, so inverse-variance weights favour low means and bias the average low
    (p p > e+ e- j with MadGraph's cuts: several channels a factor 2-10 low, the sum 2.4 % low at the
    default 20000 points per iteration). Weights that do not depend on the estimates keep it unbiased."""

    means: list = field(default_factory=list)
    sdevs: list = field(default_factory=list)
    counts: list = field(default_factory=list)

    def add(self, mean: float, sdev: float, n_points: int):
        self.means.append(mean)
        self.sdevs.append(sdev)
        self.counts.append(n_points)

    @property
    def n_points(self) -> int:
        return int(sum(self.counts))

    @property
    def n_iterations(self) -> int:
        return len(self.means)

    @property
    def mean(self) -> float:
        total = sum(self.counts)
        return sum(n * m for n, m in zip(self.counts, self.means)) / total if total else 0.0

    @property
    def sdev(self) -> float:
        total = sum(self.counts)
        return math.sqrt(sum((n * s) ** 2 for n, s in zip(self.counts, self.sdevs))) / total if total else 0.0

    @property
    def chi2_dof(self) -> float:
        """Sum of ((mean_i - mean) / sdev_i)^2 over iterations with a spread, per degree of freedom."""
        mean = self.mean
        terms = [((m - mean) / s) ** 2 for m, s in zip(self.means, self.sdevs) if s > 0]
        return sum(terms) / (len(terms) - 1) if len(terms) > 1 else 0.0


def stacked_edges(grids, channels, group: int, ndim: int) -> np.ndarray:
    """The edges of a group's channel grids, padded to the group's dimension: (K, ndim, ninc + 1)."""
    return np.stack([grids[i].padded(ndim) for i, c in enumerate(channels) if c.group == group])


def iteration_task(samplers, group: int, key, start: int, stop: int, cumulative, edges, parameters, settings):
    """Batches start .. stop - 1 of one iteration of one group (a task, ``madgen.runtime.tasks``): the
    per-channel ``IterationSums`` of those batches, accumulated on the device, as host arrays."""
    from madgen.runtime.tasks import as_key, to_host

    sampler, key = samplers[group], as_key(key)
    sums = sampler.empty_sums(edges.shape[-1] - 1)
    for b in range(start, stop):
        sums = sampler.accumulate(sums, sampler.evaluate(jax.random.fold_in(key, b), cumulative, edges, parameters,
                                                         settings))
    return to_host(sums)


def run_iteration(tasks, group: int, key, edges, fractions, n_batches: int, parameters, settings):
    """One iteration of one group: ``n_batches`` batches in tasks (``tasks``: ``LocalTasks`` or
    ``DaskTasks``), their sums added in task order; per local channel (count, mean, sdev) and the
    VEGAS histograms (K, ndim, ninc) of w^2 and of counts."""
    from madgen.runtime.tasks import batch_ranges, key_data

    cumulative = cumulative_fractions(fractions)
    data = key_data(key)
    parts = tasks.map(iteration_task, [(group, data, start, stop, cumulative, edges, parameters, settings)
                                       for start, stop in batch_ranges(max(1, n_batches))])
    sums = parts[0]
    for part in parts[1:]:
        sums = jax.tree_util.tree_map(np.add, sums, part)
    count, sum_w, sum_w2, histogram, histogram_count = (np.asarray(v) for v in sums)
    safe = np.maximum(count, 1.0)
    mean = sum_w / safe
    variance = np.maximum(sum_w2 / safe - mean ** 2, 0.0) / np.maximum(count - 1.0, 1.0)
    mean = np.where(count > 0, mean, 0.0)
    return count, mean, np.sqrt(np.where(count > 1, variance, 0.0)), histogram, histogram_count


def integrate(samplers, channels, grids, run, key, parameters, settings, log=print, tasks=None):
    """Train the grids and integrate (see the module docstring); returns (IntegrationResult, trained
    grids). ``samplers[g]`` evaluates group g; ``grids[i]`` belongs to ``channels[i]``; ``tasks`` runs
    the batches (default: here, ``LocalTasks``)."""
    from madgen.runtime.tasks import LocalTasks

    tasks = tasks or LocalTasks(samplers)
    grids = list(grids)
    key = jax.random.fold_in(key, INTEGRATION_STREAM)
    spread = np.ones(len(channels))
    averages = [_Average() for _ in channels]
    total_iterations = run.warmup_iterations + run.iterations
    for iteration in range(total_iterations):
        shares = np.maximum(spread, MIN_SHARE * spread.max()) if spread.max() > 0 else np.ones(len(channels))
        shares = shares / shares.sum()
        for group, sampler in enumerate(samplers):
            members = [i for i, c in enumerate(channels) if c.group == group]
            points = run.points_per_iteration * shares[members].sum()
            n_batches = max(1, round(points / sampler.batch_size))
            edges = stacked_edges(grids, channels, group, sampler.ndim)
            results = run_iteration(tasks, group, jax.random.fold_in(jax.random.fold_in(key, iteration), group), edges,
                                    shares[members], n_batches, parameters, settings)
            count, mean, sdev, histogram, histogram_count = results
            for local, index in enumerate(members):
                n = int(count[local])
                spread[index] = sdev[local] * math.sqrt(max(n, 1))
                if n >= MIN_POINTS_PER_INCREMENT * grids[index].ninc:
                    grids[index] = grids[index].adapted(histogram[local], histogram_count[local], ADAPTATION_DAMPING)
                if iteration >= run.warmup_iterations:
                    averages[index].add(float(mean[local]), float(sdev[local]), n)
        if iteration >= run.warmup_iterations:
            sigma = sum(a.mean for a in averages)
            error = math.sqrt(sum(a.sdev ** 2 for a in averages))
            log(f"  iteration {iteration - run.warmup_iterations + 1}: {sigma:.6g} +- {error:.3g} pb")
            if run.target_precision and sigma != 0 and error <= run.target_precision * abs(sigma):
                break
    results = tuple(ChannelResult(c, a.mean, a.sdev, a.n_points, a.chi2_dof) for c, a in zip(channels, averages))
    sigma = sum(r.cross_section_pb for r in results)
    error = math.sqrt(sum(r.error_pb ** 2 for r in results))
    return IntegrationResult(sigma, error, sum(r.n_points for r in results), results), tuple(grids)


def initial_grids(channels, ninc: int | None = None) -> tuple[Grid, ...]:
    """Uniform grids, one per channel, of the channel's own dimension."""
    from madgen.runtime.grids import INCREMENTS

    return tuple(Grid.uniform(c.ndim, ninc or INCREMENTS) for c in channels)
