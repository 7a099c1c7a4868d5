"""A differentiable cross section sigma(theta) on a fixed sample of a prepared run's trained grids.

After ``madgen.runtime.prepare_run`` has integrated at theta_ref, its grids are frozen and a fixed
sample of unit-cube points y_c with VEGAS Jacobians J_c is drawn per channel c. Then

    sigma(theta) = sum_c mean_{x in x_c} [ w_c(x, theta) J_c(x) ]

is an unbiased estimate for every theta (the grid is only an importance density), a smooth
function of theta, and its gradient is the gradient of the cross section: masses and widths enter
the phase-space maps and the momentum-fraction maps as JAX values, so moving phase-space boundaries
and thresholds are included, and with hadron beams so is the dependence of alpha_s(muR) and of the
PDFs on dynamical scales that move with theta (a final-state mass in m_T). Errors are the sample
standard errors of the mean (per point, also for the gradient). The sample is evaluated in tasks of
fixed pieces (``madgen.runtime.tasks``: here, or on the run's Dask workers) whose per-point values are
merged in a fixed order, so sigma(theta) does not depend on where it was computed.

Not captured: a cut whose boundary moves in x with theta (when the momenta at fixed x depend on
theta, e.g. on a final-state mass or a Breit-Wigner map) adds a boundary term that a fixed sample
misses; cuts on massless legs of 2 -> 2 processes do not move, and heavy particles are not cut.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from madgen.contract import jit
from madgen.inference.chunking import chunked_map
from madgen.inference.errors import InferenceError
from madgen.inference.gradients import parameter_names, task_parameters, theta_of, with_theta
from madgen.runtime.tasks import leaf_bytes, task_function


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


def fixed_samples(prepared, n_points: int, key=None) -> list[FixedSample]:
    """About ``n_points`` points shared among channels in proportion to their cross sections at
    theta_ref, and at least min(1000, n_points) in every channel.

    A channel whose cross section vanishes at theta_ref (a contact vertex of an EFT coefficient that
    is zero there) still carries sigma(theta) away from it, so it is never left empty."""
    sigma = np.array([max(r.cross_section_pb, 0.0) for r in prepared.result.channels])
    shares = sigma / sigma.sum()
    samples = []
    for channel, share in enumerate(shares):
        count = max(int(round(n_points * share)), min(1000, n_points))
        channel_key = None if key is None else jax.random.fold_in(key, channel)
        samples.append(FixedSample(*prepared.sample_unit_cube(channel, count, channel_key)))
    return samples


XSEC_TASK_POINTS = 65536
"""Points per cross-section task (whole chunks of the run's ``batch_size``, at least one): a channel's
fixed sample is cut into pieces of this many points, its last chunk padded with Jacobian 0, so every
chunk runs through one compiled function per group wherever it runs, and the per-point values come
back in piece order: sigma(theta) is the same bytes with or without Dask workers, whatever their number."""

PER_POINT_KEPT = 8
"""Per-point results kept per ``DifferentiableCrossSection`` (the most recent thetas): ``mine``'s
log sigma ratios reuse the values of its estimates instead of evaluating the sample again."""


class CrossSectionSettings(NamedTuple):
    """What a cross-section task needs besides its points (plain data: it travels to Dask workers)."""

    names: tuple[str, ...]
    base: tuple[tuple[str, float], ...]  # theta_ref and the other parameters
    run_settings: object  # the run's ``RunSettings`` (beam energies and scales) as numpy arrays
    chunk: int


def cross_section_task(samplers, group: int, channel: int, x: np.ndarray, jacobian: np.ndarray, theta: np.ndarray,
                       gradient, settings: CrossSectionSettings):
    """(w J per point (n,), d(w J)/d theta (n, k) or None) at theta (k,) of one piece of a channel's fixed
    sample: points x (n, ndim) of local channel ``channel`` of kernel group ``group`` with VEGAS
    Jacobians (n,), n a multiple of ``settings.chunk`` (a task: ``samplers`` are the run's, here or on a
    worker)."""
    values_only, with_gradient = _cross_section_functions(samplers[int(group)].integrand, settings)
    theta, local, chunk, gradient = jnp.asarray(theta), jnp.int32(int(channel)), int(settings.chunk), bool(gradient)
    values, grads = [], []
    for start in range(0, len(jacobian), chunk):
        batch = (jnp.asarray(x[start:start + chunk]), jnp.asarray(jacobian[start:start + chunk]))
        if gradient:
            v, g = with_gradient(theta, *batch, local)
            grads.append(np.asarray(g))
        else:
            v = values_only(theta, *batch, local)
        values.append(np.asarray(v))
    return np.concatenate(values), np.concatenate(grads) if gradient else None


def _cross_section_functions(integrand, settings: CrossSectionSettings):
    """(theta, x, J, channel) -> per-point w J, and -> (w J, d(w J)/d theta (chunk, k)), both jitted with
    the parameters and the run settings as constants; built once per process and settings."""
    names, base = task_parameters(settings)
    run_settings = jax.tree_util.tree_map(jnp.asarray, settings.run_settings)
    key = ("cross_section", id(integrand), names, tuple(base.items()), leaf_bytes(settings.run_settings))
    return task_function(key, lambda: _compile_contributions(integrand, names, base, run_settings))


def _compile_contributions(integrand, names, base, run_settings):
    """The jitted pair of ``_cross_section_functions`` (compiled with the kernel's options)."""

    def contributions(theta, x, jacobian, channel):
        values = integrand(x, channel, with_theta(base, names, theta), run_settings).weight * jacobian
        return values, values

    def with_gradient(theta, x, jacobian, channel):
        gradient, values = jax.jacfwd(contributions, has_aux=True)(theta, x, jacobian, channel)
        return values, gradient

    return (jit(lambda *args: contributions(*args)[0], process=integrand.kernel),
            jit(with_gradient, process=integrand.kernel))


class DifferentiableCrossSection:
    """sigma(theta) and its gradient for the parameters ``names`` on fixed channel samples of a
    ``PreparedRun`` (theta_ref: its parameters). ``tasks``: where the sample's pieces are evaluated
    (``madgen.runtime.tasks``), default the run's (its Dask workers while their client is open, else
    here, so the object keeps working after the client closes); the results do not depend on it."""

    def __init__(self, prepared, names: Sequence[str], samples: Sequence[FixedSample], tasks=None):
        self.prepared = prepared
        self.process = prepared.process
        self.names = parameter_names(prepared.process.subprocesses[0], names)
        self.base = dict(prepared.parameters)
        self.theta_ref = theta_of(self.base, self.names)
        self.samples = list(samples)
        self.chunk = int(prepared.batch_size)
        self._tasks = tasks
        self._traceable = [self._contributions(integrand) for integrand in prepared.integrands]
        self._kept: OrderedDict = OrderedDict()

    def _contributions(self, integrand):
        """(theta, x, J, channel) -> per-point w J, not jitted (for ``__call__``)."""
        names, base = self.names, self.base
        return lambda theta, x, jacobian, channel: (
            integrand(x, channel, with_theta(base, names, theta)).weight * jacobian)

    @property
    def tasks(self):
        """Where the sample's pieces are evaluated now: the ``tasks`` given, else the run's
        (``PreparedRun.task_runner``: its Dask workers while their client is open, else here)."""
        return self._tasks if self._tasks is not None else self.prepared.task_runner()

    def theta(self, theta=None) -> np.ndarray:
        """theta as a (k,) array: None (theta_ref), a mapping name -> value, or a sequence."""
        return as_theta(self.names, theta, self.theta_ref)

    def parameters(self, theta=None) -> dict:
        """The complete parameter dict at theta."""
        return {**self.base, **dict(zip(self.names, map(float, self.theta(theta))))}

    def _settings(self, group: int) -> CrossSectionSettings:
        return CrossSectionSettings(self.names, tuple((k, float(v)) for k, v in self.base.items()),
                                    self.prepared.integrands[group].settings(), self.chunk)

    def _pieces(self, sample: FixedSample):
        """(filled, x, J) of the pieces of a channel's sample: XSEC_TASK_POINTS points in whole chunks,
        the last chunk padded to one compiled shape (x = 0.5, J = 0: the padded points add nothing)."""
        n, size = len(sample.jacobian), self.chunk * max(1, XSEC_TASK_POINTS // self.chunk)
        for start in range(0, n, size):
            x, jacobian = sample.x[start:start + size], sample.jacobian[start:start + size]
            filled = len(jacobian)
            missing = -filled % self.chunk
            if missing:
                x = np.concatenate([x, np.full((missing, x.shape[1]), 0.5)])
                jacobian = np.concatenate([jacobian, np.zeros(missing)])
            yield filled, x, jacobian

    def _per_point(self, theta, gradient: bool):
        """Per channel: (w J per point (n_c,), d(w J)/d theta (n_c, k) or None) at theta (k,), from the
        run's tasks, merged in channel and piece order (the last ``PER_POINT_KEPT`` thetas are kept)."""
        theta = np.asarray(self.theta(theta), dtype=np.float64)
        key = (theta.tobytes(), bool(gradient))
        if key not in self._kept:
            self._kept[key] = self._evaluate(theta, bool(gradient))
            while len(self._kept) > PER_POINT_KEPT:
                self._kept.popitem(last=False)
        self._kept.move_to_end(key)
        return self._kept[key]

    def _evaluate(self, theta: np.ndarray, gradient: bool):
        """``_per_point`` computed: one task per piece of every channel's sample."""
        k = len(self.names)
        owners, arguments = [], []
        per_group = {}
        for index, (channel, sample) in enumerate(zip(self.prepared.channels, self.samples)):
            settings = per_group.setdefault(channel.group, self._settings(channel.group))
            for filled, x, jacobian in self._pieces(sample):
                owners.append((index, filled))
                arguments.append((channel.group, channel.local, x, jacobian, theta, gradient, settings))
        values = [[] for _ in self.samples]
        grads = [[] for _ in self.samples]
        for (index, filled), (v, g) in zip(owners, self.tasks.map(cross_section_task, arguments)):
            values[index].append(v[:filled])
            if gradient:
                grads[index].append(g[:filled])
        return [(np.concatenate(v) if v else np.zeros(0),
                 (np.concatenate(g) if g else np.zeros((0, k))) if gradient else None)
                for v, g in zip(values, grads)]

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
        """sigma(theta) as a traceable JAX function of theta (k,) on the whole fixed sample, evaluated
        ``chunk`` points at a time with checkpointed chunks (``madgen.inference.chunking``): jax.grad
        and jax.hessian of it keep one chunk's intermediates alive, not the sample's."""
        total = 0.0
        for channel, sample in zip(self.prepared.channels, self.samples):
            if len(sample.jacobian):
                contributions = self._traceable[channel.group]
                local = jnp.int32(channel.local)
                values = chunked_map(lambda batch, c=contributions: c(theta, batch[0], batch[1], local),
                                     (jnp.asarray(sample.x), jnp.asarray(sample.jacobian)), self.chunk)
                total = total + jnp.mean(values)
        return total


def as_theta(names: Sequence[str], theta, default, what: str = "theta") -> np.ndarray:
    """A (k,) array from None (``default``), a mapping (missing names keep ``default``) or a sequence of
    real numbers; anything else is an error naming ``what`` and the value."""
    default = np.asarray(default, dtype=float)
    if theta is None:
        return default.copy()
    if isinstance(theta, Mapping):
        unknown = sorted(str(name) for name in set(theta) - set(names))
        if unknown:
            raise InferenceError(f"{what}: {unknown} are not among the chosen parameters {list(names)}")
        return np.array([_real(theta[n], f"{what} {n}") if n in theta else d for n, d in zip(names, default)])
    if isinstance(theta, (str, bytes)) or not (isinstance(theta, Sequence) or hasattr(theta, "__array__")):
        raise InferenceError(f"{what} {theta!r}: give a mapping of parameter values ({{'{names[0]}': 1.0}}) or a "
                             f"sequence of {len(names)} number(s)")
    array = np.asarray(theta) if hasattr(theta, "__array__") else np.asarray(theta, dtype=object)
    values = np.array([_real(value, what) for value in array.reshape(-1)])
    if values.shape != (len(names),):
        raise InferenceError(f"{what} {list(values)} has {values.size} value(s); parameters {list(names)} "
                             f"need {len(names)}")
    return values


def _real(value, what: str) -> float:
    """``value`` as a float if it is a real number (not a bool, a string or an array)."""
    scalar_array = hasattr(value, "__array__") and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "iuf"
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, (int, float, np.integer, np.floating))
                                                   or scalar_array):
        raise InferenceError(f"{what} = {value!r}: expected a real number")
    number = float(value)
    if not np.isfinite(number):
        raise InferenceError(f"{what} = {value!r}: expected a finite number")
    return number


def complete_parameters(process, parameters: Mapping | None) -> dict:
    """All external parameters of the process at ``parameters`` (defaults elsewhere), as floats."""
    first = process.subprocesses[0]
    try:
        return {k: float(v) for k, v in first.complete_parameters(parameters).items()}
    except ValueError as error:  # the generated InputShapeError names the unknown parameters
        raise InferenceError(str(error)) from None


def prepared_at(process, run, parameters: Mapping | None = None, log=print, distribute=None):
    """The runtime's ``PreparedRun`` integrated at ``parameters`` (defaults elsewhere; ``distribute``:
    ``madgen.runtime.prepared.prepare_run``'s); an error when the cross section vanishes."""
    from madgen.runtime.prepared import prepare_run

    prepared = prepare_run(process, run, complete_parameters(process, parameters), log=log, distribute=distribute)
    if not prepared.cross_section_pb > 0:
        raise InferenceError(f"the cross section of '{process.process}' vanishes with the cuts of {run.path}")
    return prepared


def differentiable_cross_section(process, run, names: Sequence[str], theta_ref: Mapping | None = None,
                                 n_points: int | None = None, log=print, distribute=None):
    """Integrate ``process`` with run card ``run`` at theta_ref, freeze the grids and return
    (``DifferentiableCrossSection`` on ``n_points`` fixed points (default: points_per_iteration),
    the ``PreparedRun``). With ``distribute`` the integration and the sample's pieces run on the Dask
    workers of the run (while its client is open), with the same results as here. ``run``: a ``RunCard``,
    or a run card's path or mapping (as ``madgen.api.launch`` takes it)."""
    from madgen.runtime.runcard import as_run_card

    run = as_run_card(run, log)
    names = parameter_names(process.subprocesses[0], names)
    base = complete_parameters(process, None)
    base.update(dict(zip(names, as_theta(names, theta_ref, theta_of(base, names)))))
    prepared = prepared_at(process, run, base, log=log, distribute=distribute)
    samples = fixed_samples(prepared, n_points or run.points_per_iteration)
    return DifferentiableCrossSection(prepared, names, samples), prepared
