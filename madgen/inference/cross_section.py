"""A differentiable cross section sigma(theta) on a fixed sample of trained VEGAS grids.

After integrating at theta_ref (the runtime's channels and grids), the grids are frozen and
a fixed sample y_c ~ U(0, 1)^ndim is drawn per channel c. Then

    sigma(theta) = sum_c mean_{y in y_c} [ w_c(x_c(y), theta) J_c(y) ]

is an unbiased estimate for every theta (the grid is only an importance density), a smooth
function of theta, and its gradient is the gradient of the cross section: masses and widths
enter the phase-space maps as JAX values, so moving phase-space boundaries are included.
Errors are the sample standard errors of the mean (per point, also for the gradient).

Not captured: a cut whose boundary moves in x with theta (when the momenta at fixed x depend on
theta, e.g. on a final-state mass or a Breit-Wigner map) adds a boundary term that a fixed sample
misses; cuts on massless legs of 2 -> 2 processes at fixed energy do not move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from madgen.inference.errors import InferenceError
from madgen.inference.gradients import parameter_names, theta_of, with_theta


@dataclass(frozen=True)
class CrossSectionEstimate:
    """sigma(theta) in pb with its MC error, and d sigma / d theta (k,) with errors (fixed sample)."""

    names: tuple[str, ...]
    theta: np.ndarray
    cross_section_pb: float
    error_pb: float
    gradient: np.ndarray | None
    gradient_error: np.ndarray | None
    n_points: int


@dataclass(frozen=True)
class FixedSample:
    """Unit-cube points x (n, ndim) of one channel and their VEGAS Jacobians J (n,)."""

    x: np.ndarray
    jacobian: np.ndarray


def _complete(process, parameters: Mapping | None) -> dict:
    first = process.subprocesses[0]
    try:
        return {k: float(v) for k, v in first.complete_parameters(parameters).items()}
    except ValueError as error:  # the generated InputShapeError names the unknown parameters
        raise InferenceError(str(error)) from None


def bind_parameters(channels, external: Mapping):
    """Make every channel's ``weights(x)`` use ``external`` (a complete parameter dict), so that the
    runtime's integration and sampling run at theta_ref; returns the original weight functions."""
    originals = [trained.weights for trained in channels]
    for trained, original in zip(channels, originals):
        trained.weights = (lambda x, external=dict(external), original=original: original(x, external))
    return originals


def trained_channels(process, run, parameters: Mapping | None = None, log=print):
    """The runtime's channels integrated at ``parameters`` (defaults elsewhere).

    Returns (channels with trained grids and ``.result``, original weight functions taking
    (x, complete parameters), the random generator after integration, the IntegrationResult).
    """
    from madgen.runtime.channels import prepare_channels

    external = _complete(process, parameters)
    channels, rng, _ = prepare_channels(process, run, external)
    originals = bind_parameters(channels, external)
    result = _integrate(channels, run, rng, log)
    if not result.cross_section_pb > 0:
        raise InferenceError(f"the cross section of '{process.process}' vanishes with the cuts of {run.path}")
    return channels, originals, rng, result


def chunk_size(run, n_channels: int) -> int:
    """Points per compiled evaluation, as the runtime chooses them."""
    from madgen.runtime.channels import batch_size

    return batch_size(run, n_channels)


def _integrate(channels, run, rng, log):
    from madgen.runtime.integrate import integrate_channels

    return integrate_channels(channels, run, chunk_size(run, len(channels)), rng, log=log)


def fixed_samples(channels, n_points: int, rng: np.random.Generator) -> list[FixedSample]:
    """About ``n_points`` points shared among channels in proportion to their cross sections
    (at least 1000 per contributing channel); a channel with sigma_c <= 0 gets none."""
    sigma = np.array([max(t.result.cross_section_pb, 0.0) for t in channels])
    shares = sigma / sigma.sum()
    samples = []
    for trained, share in zip(channels, shares):
        count = 0 if share <= 0 else max(int(round(n_points * share)), min(1000, n_points))
        grid = trained.grid
        y = rng.random((count, grid.dim))
        x = np.empty_like(y)
        jacobian = np.empty(count)
        if count:
            grid.map(y, x, jacobian)
        samples.append(FixedSample(x, jacobian))
    return samples


class DifferentiableCrossSection:
    """sigma(theta) and its gradient for the parameters ``names`` on fixed channel samples.

    ``weight_functions[c](x, parameters) -> (w, momenta)`` are the channels' event weights (pb);
    ``base`` is the complete parameter dict (theta_ref) that theta overrides.
    """

    def __init__(self, process, names: Sequence[str], base: Mapping, weight_functions, samples, chunk: int,
                 subprocess_of_channel: Sequence[int]):
        self.process = process
        self.names = parameter_names(process.subprocesses[0], names)
        self.base = dict(base)
        self.theta_ref = theta_of(self.base, self.names)
        self.samples = list(samples)
        self.chunk = int(chunk)
        self.subprocess_of_channel = tuple(subprocess_of_channel)
        self._weight_functions = list(weight_functions)
        self._functions = [self._compile(w) for w in self._weight_functions]

    def _compile(self, weights):
        """(theta, x, J) -> per-point w J, and -> (w J, d(w J)/d theta (chunk, k)), both jitted."""
        names, base = self.names, self.base

        def contributions(theta, x, jacobian):
            values = weights(x, with_theta(base, names, theta))[0] * jacobian
            return values, values

        def with_gradient(theta, x, jacobian):
            gradient, values = jax.jacfwd(contributions, has_aux=True)(theta, x, jacobian)
            return values, gradient

        return jax.jit(lambda theta, x, jacobian: contributions(theta, x, jacobian)[0]), jax.jit(with_gradient)

    def theta(self, theta=None) -> np.ndarray:
        """theta as a (k,) array: None (theta_ref), a mapping name -> value, or a sequence."""
        return as_theta(self.names, theta, self.theta_ref)

    def parameters(self, theta=None) -> dict:
        """The complete parameter dict at theta."""
        return {**self.base, **dict(zip(self.names, map(float, self.theta(theta))))}

    def _chunks(self, sample: FixedSample):
        n = len(sample.jacobian)
        for start in range(0, n, self.chunk):
            x, jacobian = sample.x[start:start + self.chunk], sample.jacobian[start:start + self.chunk]
            filled = len(jacobian)
            if filled < self.chunk:  # pad to one compiled shape; padded points get Jacobian 0
                x = np.concatenate([x, np.full((self.chunk - filled, x.shape[1]), 0.5)])
                jacobian = np.concatenate([jacobian, np.zeros(self.chunk - filled)])
            yield filled, jnp.asarray(x), jnp.asarray(jacobian)

    def _per_point(self, theta, gradient: bool):
        """Per channel: (w J per point (n_c,), d(w J)/d theta (n_c, k) or None) at theta (k,)."""
        parameters = self.parameters(theta)
        theta = jnp.asarray(self.theta(theta))
        results = []
        for weights, (_, with_gradient), sample in zip(self._weight_functions, self._functions, self.samples):
            values, grads = [], []
            for filled, x, jacobian in self._chunks(sample):
                if gradient:
                    v, g = with_gradient(theta, x, jacobian)
                    grads.append(np.asarray(g)[:filled])
                else:  # the runtime's compiled weights (same chunk shape as its integration): no new compile
                    v = np.asarray(weights(x, parameters)[0]) * np.asarray(jacobian)
                values.append(np.asarray(v)[:filled])
            k = len(self.names)
            results.append((np.concatenate(values) if values else np.zeros(0),
                            (np.concatenate(grads) if grads else np.zeros((0, k))) if gradient else None))
        return results

    def estimate(self, theta=None, gradient: bool = True) -> CrossSectionEstimate:
        """sigma(theta) +- error and (``gradient=True``) d sigma / d theta +- error."""
        k = len(self.names)
        sigma, variance, grad, grad_variance = 0.0, 0.0, np.zeros(k), np.zeros(k)
        for values, grads in self._per_point(theta, gradient):
            n = len(values)
            if n == 0:
                continue
            sigma += values.mean()
            variance += values.var(ddof=1) / n if n > 1 else 0.0
            if gradient:
                grad += grads.mean(axis=0)
                grad_variance += grads.var(axis=0, ddof=1) / n if n > 1 else 0.0
        return CrossSectionEstimate(self.names, self.theta(theta), float(sigma), math.sqrt(variance),
                                    grad if gradient else None, np.sqrt(grad_variance) if gradient else None,
                                    sum(len(s.jacobian) for s in self.samples))

    def log_ratio(self, theta, theta_ref=None) -> tuple[float, float]:
        """log sigma(theta) / sigma(theta_ref) on the shared sample, with its (correlated) MC error."""
        a, b = self._per_point(theta, False), self._per_point(theta_ref, False)
        sigma_a = sum(v.sum() / len(v) for v, _ in a if len(v))
        sigma_b = sum(v.sum() / len(v) for v, _ in b if len(v))
        variance = sum(np.var(va / sigma_a - vb / sigma_b, ddof=1) / len(va)
                       for (va, _), (vb, _) in zip(a, b) if len(va) > 1)
        return float(np.log(sigma_a / sigma_b)), float(np.sqrt(variance))

    def __call__(self, theta):
        """sigma(theta) as a traceable JAX function of theta (k,) on the whole fixed sample: use it
        with jax.grad / jax.hessian when the sample fits in memory."""
        total = 0.0
        for (values_only, _), sample in zip(self._functions, self.samples):
            if len(sample.jacobian):
                total = total + jnp.mean(values_only(theta, jnp.asarray(sample.x), jnp.asarray(sample.jacobian)))
        return total

    def weighted_points(self, theta=None):
        """The fixed sample as weighted events at theta: (weights (M,) in pb, momenta (M, n, 4),
        subprocess index (M,)), weighted so that mean(weights) = sigma(theta) and averages of an
        observable f are sum(W f) / sum(W) (each channel's points carry its share of sigma)."""
        parameters = self.parameters(theta)
        total = sum(len(s.jacobian) for s in self.samples)
        weights, momenta, subprocess = [], [], []
        for channel, (function, sample) in enumerate(zip(self._weight_functions, self.samples)):
            n = len(sample.jacobian)
            if n == 0:
                continue
            w, p = function(jnp.asarray(sample.x), parameters)
            weights.append(np.asarray(w) * sample.jacobian * total / n)
            momenta.append(np.asarray(p))
            subprocess.append(np.full(n, self.subprocess_of_channel[channel]))
        return np.concatenate(weights), np.concatenate(momenta), np.concatenate(subprocess)


def as_theta(names: Sequence[str], theta, default) -> np.ndarray:
    """A (k,) array from None (``default``), a mapping (missing names keep ``default``) or a sequence."""
    default = np.asarray(default, dtype=float)
    if theta is None:
        return default.copy()
    if isinstance(theta, Mapping):
        unknown = sorted(set(theta) - set(names))
        if unknown:
            raise InferenceError(f"theta names {unknown} are not among the chosen parameters {list(names)}")
        return np.array([float(theta.get(n, d)) for n, d in zip(names, default)])
    values = np.asarray(theta, dtype=float).reshape(-1)
    if values.shape != (len(names),):
        raise InferenceError(f"theta {list(values)} has {values.size} value(s); parameters {list(names)} "
                             f"need {len(names)}")
    return values


def differentiable_cross_section(process, run, names: Sequence[str], theta_ref: Mapping | None = None,
                                 n_points: int | None = None, log=print):
    """Integrate ``process`` with run card ``run`` at theta_ref, freeze the grids and return
    (DifferentiableCrossSection on ``n_points`` fixed points (default: points_per_iteration),
    the trained channels, the random generator)."""
    names = parameter_names(process.subprocesses[0], names)
    base = _complete(process, None)
    base.update(dict(zip(names, as_theta(names, theta_ref, theta_of(base, names)))))
    channels, originals, rng, _ = trained_channels(process, run, base, log=log)
    samples = fixed_samples(channels, n_points or run.points_per_iteration, rng)
    sigma = DifferentiableCrossSection(process, names, base, originals, samples, chunk_size(run, len(channels)),
                                       [t.channel.subprocess for t in channels])
    return sigma, channels, rng
