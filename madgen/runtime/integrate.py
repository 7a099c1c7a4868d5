"""Cross sections at fixed partonic energy: one VEGAS grid (``vegas.AdaptiveMap``) per
phase-space channel, sampled in fixed-size batches so the compiled integrand never retraces.

With single-diagram enhancement (MadGraph's multichannel choice) the integrand is split as

    |M|^2 = sum_i |M|^2 * |A_i|^2 / sum_j |A_j|^2,

and term i is integrated over the phase-space map built from diagram i, so that every
channel's resonances and t-channel peaks are flattened by its own map before VEGAS adapts.
sigma = sum_i sigma_i. The flat alternative integrates |M|^2 with RAMBO in one channel.
All weights are in pb:  dsigma = |M|^2 / (2 lambda^{1/2}(s, m1^2, m2^2)) dPhi_n * GEV2_TO_PB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

GEV2_TO_PB = 0.3893793721e9
"""(hbar c)^2 in GeV^2 pb."""


@dataclass(frozen=True)
class Collision:
    """Fixed-energy beams: beam 1 along +z with energy e1, beam 2 along -z with e2 (GeV)."""

    e1: float
    e2: float

    def sqrt_s(self, m1: float = 0.0, m2: float = 0.0) -> float:
        """Centre-of-mass energy of beams with masses m1, m2."""
        p1 = math.sqrt(max(self.e1 ** 2 - m1 ** 2, 0.0))
        p2 = math.sqrt(max(self.e2 ** 2 - m2 ** 2, 0.0))
        return math.sqrt(m1 ** 2 + m2 ** 2 + 2 * (self.e1 * self.e2 + p1 * p2))


@dataclass(frozen=True)
class Channel:
    """One phase-space channel of one subprocess: the diagrams whose share of |M|^2 it
    integrates (several when their phase-space maps coincide); empty for flat RAMBO."""

    subprocess: int
    diagrams: tuple[int, ...]
    ndim: int
    label: str


@dataclass(frozen=True)
class ChannelResult:
    channel: Channel
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
        return self.error_pb / self.cross_section_pb if self.cross_section_pb else math.inf


def flux_factor(sqrt_s, m1, m2):
    """1 / (2 lambda^{1/2}(s, m1^2, m2^2)): the incoming flux of a 2 -> n collision."""
    s = sqrt_s ** 2
    kallen = (s - m1 ** 2 - m2 ** 2) ** 2 - 4 * m1 ** 2 * m2 ** 2
    return 1.0 / (2.0 * jnp.sqrt(kallen))


def channel_weight_functions(process, channels: list[Channel], generators: list[Callable],
                             collision: Collision, cut: Callable, parameters=None) -> list[Callable]:
    """For each channel of one subprocess, x (batch, ndim) in the unit cube -> (weights in pb,
    lab-frame momenta (batch, n, 4)).

    ``generators[k](x, sqrt_s, masses, internal_parameters)`` gives the centre-of-mass momenta of
    all legs and their phase-space weight; the event weight adds flux, |M|^2 (times the
    channel's diagrams' share of it, for multichannel), the cuts and the conversion to pb.

    All channels share one compiled function (the phase-space map picked by ``lax.switch`` on
    the channel index, x padded to the widest channel), so |M|^2 is compiled once per
    subprocess, not once per channel. Each returned function also takes the complete external
    parameter dict as an optional second argument (traced values allowed): sigma(theta) on a
    fixed sample of x is differentiable, masses moving the phase-space boundaries included.
    """
    defaults = process.complete_parameters(parameters)
    beam_masses = [float(m) for m in np.asarray(process.masses(defaults))[:2]]
    sqrt_s = collision.sqrt_s(*beam_masses)
    width = max(c.ndim for c in channels)
    shares = np.zeros((len(channels), process.n_diagrams))
    for k, channel in enumerate(channels):
        shares[k, np.asarray(channel.diagrams, dtype=np.int64) - 1] = 1.0
    flat = np.array([not c.diagrams for c in channels])

    def branch(generator, ndim):
        return lambda x, masses, internal: generator(x[:, :ndim], sqrt_s, masses, internal)

    branches = [branch(g, c.ndim) for g, c in zip(generators, channels)]

    @jax.jit
    def weights(x, k, external):
        from madgen.phasespace import cm_to_lab, propagator_parameters

        masses = process.masses(external)
        internal = propagator_parameters(process, external)
        cm, phase_space = jax.lax.switch(k, branches, x, masses, internal)
        momenta = cm_to_lab(cm, collision.e1, collision.e2, masses[0], masses[1])
        point = process.evaluate(momenta, external, diagrams=True, check=False)
        me2, per_diagram = point["me2"], point["diagram_weights"]
        total = per_diagram @ jnp.ones(per_diagram.shape[-1])
        mine = per_diagram @ jnp.asarray(shares)[k]
        share = jnp.where(total > 0, mine / jnp.where(total > 0, total, 1.0), 0.0)
        me2 = jnp.where(jnp.asarray(flat)[k], me2, me2 * share)
        passed = cut(momenta) & (phase_space > 0)
        flux = flux_factor(sqrt_s, masses[0], masses[1])
        return jnp.where(passed, me2 * phase_space, 0.0) * flux * GEV2_TO_PB, momenta

    def for_channel(k, ndim):
        def channel_weights(x, external=defaults):
            x = jnp.asarray(x, dtype=jnp.float64)
            padded = jnp.pad(x, ((0, 0), (0, width - ndim)), constant_values=0.5)
            return weights(padded, jnp.int32(k), external)

        return channel_weights

    return [for_channel(k, c.ndim) for k, c in enumerate(channels)]


def evaluate_in_chunks(function, x: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """``function`` on x in fixed-size chunks (the last one padded), so jit compiles once."""
    n = len(x)
    weights, momenta = [], []
    for start in range(0, n, chunk):
        block = x[start:start + chunk]
        filled = len(block)
        if filled < chunk:
            block = np.concatenate([block, np.full((chunk - filled, x.shape[1]), 0.5)])
        w, p = function(jnp.asarray(block))
        weights.append(np.asarray(w)[:filled])
        momenta.append(np.asarray(p)[:filled])
    return np.concatenate(weights), np.concatenate(momenta)


@dataclass
class TrainedChannel:
    """A channel, its weight function and its VEGAS grid (a ``vegas.AdaptiveMap``, adapted in place)."""

    channel: Channel
    weights: Callable
    grid: object
    result: ChannelResult | None = None


def make_grid(ndim: int, increments: int = 500):
    """A uniform VEGAS map of the unit cube."""
    import vegas

    return vegas.AdaptiveMap([[0.0, 1.0]] * ndim, ninc=increments)


def sample_grid(trained: TrainedChannel, n: int, rng: np.random.Generator, chunk: int):
    """n points through the channel's grid: (uniform y, x, weight f(x) J(x) in pb, momenta)."""
    grid = trained.grid
    y = rng.random((n, grid.dim))
    x = np.empty_like(y)
    jacobian = np.empty(n)
    grid.map(y, x, jacobian)
    f, momenta = evaluate_in_chunks(trained.weights, x, chunk)
    return y, x, f * jacobian, momenta


def run_iteration(trained: TrainedChannel, n: int, rng: np.random.Generator, chunk: int,
                  adapt: bool = True, alpha: float = 0.5) -> tuple[float, float]:
    """One VEGAS iteration: the estimate and its error from n points, then (optionally) the
    grid adapted to the squared weights, as in Lepage's algorithm (damping ``alpha``)."""
    y, _, w, _ = sample_grid(trained, n, rng, chunk)
    if adapt and np.any(w != 0):
        trained.grid.add_training_data(y, w ** 2)
        trained.grid.adapt(alpha=alpha)
    return float(np.mean(w)), float(np.std(w, ddof=1) / math.sqrt(n))


@dataclass
class _Average:
    """Inverse-variance weighted average of independent iteration estimates."""

    sum_weights: float = 0.0
    sum_values: float = 0.0
    sum_squares: float = 0.0  # for chi2
    n_points: int = 0
    n_iterations: int = 0

    def add(self, mean: float, sdev: float, n_points: int):
        self.n_points += n_points
        self.n_iterations += 1
        if sdev == 0 and mean == 0:  # a channel that never contributes (e.g. all points cut)
            return
        weight = 1.0 / max(sdev, 1e-15 * abs(mean)) ** 2  # sdev 0: an exactly constant integrand
        self.sum_weights += weight
        self.sum_values += weight * mean
        self.sum_squares += weight * mean ** 2

    @property
    def mean(self) -> float:
        return self.sum_values / self.sum_weights if self.sum_weights else 0.0

    @property
    def sdev(self) -> float:
        return self.sum_weights ** -0.5 if self.sum_weights else 0.0

    @property
    def chi2_dof(self) -> float:
        if self.n_iterations < 2 or not self.sum_weights:
            return 0.0
        chi2 = self.sum_squares - self.sum_values ** 2 / self.sum_weights
        return max(chi2, 0.0) / (self.n_iterations - 1)


def integrate_channels(channels: list[TrainedChannel], run, chunk: int, rng: np.random.Generator,
                       log=print) -> IntegrationResult:
    """Train every channel's grid, then iterate until the precision target or iteration count.

    Warm-up iterations only train the grids (their estimates are discarded). Each following
    iteration adapts further and its estimate enters an inverse-variance weighted average per
    channel; points go to channels in proportion to their error (the allocation that
    minimises the total variance), in whole batches of ``chunk`` so shapes never change.
    """
    def batches(points):
        return max(1, round(points / chunk)) * chunk

    per_channel = batches(run.points_per_iteration / len(channels))
    spread = []
    for trained in channels:
        sdev = 0.0
        for _ in range(run.warmup_iterations):
            _, sdev = run_iteration(trained, per_channel, rng, chunk)
        spread.append(sdev * math.sqrt(per_channel))
    averages = [_Average() for _ in channels]
    for iteration in range(run.iterations):
        total_spread = sum(spread)
        for k, trained in enumerate(channels):
            share = spread[k] / total_spread if total_spread > 0 else 1.0 / len(channels)
            n = batches(run.points_per_iteration * share)
            mean, sdev = run_iteration(trained, n, rng, chunk)
            averages[k].add(mean, sdev, n)
            spread[k] = sdev * math.sqrt(n)
        sigma = sum(a.mean for a in averages)
        error = math.sqrt(sum(a.sdev ** 2 for a in averages))
        log(f"  iteration {iteration + 1}: {sigma:.6g} +- {error:.3g} pb")
        if run.target_precision and sigma > 0 and error <= run.target_precision * sigma:
            break
    results = tuple(ChannelResult(t.channel, a.mean, a.sdev, a.n_points, a.chi2_dof)
                    for t, a in zip(channels, averages))
    for trained, result in zip(channels, results):
        trained.result = result
    sigma = sum(r.cross_section_pb for r in results)
    error = math.sqrt(sum(r.error_pb ** 2 for r in results))
    return IntegrationResult(sigma, error, sum(r.n_points for r in results), results)
