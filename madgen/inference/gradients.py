"""Per-event derivatives of generated |M|^2: batched, jit-compiled, in double precision, in bounded memory.

* ``parameter_gradient``: d log|M|^2 / d theta (or d|M|^2 / d theta) for a chosen subset of
  the external UFO parameters, shape (N, k); ``parameter_hessian``: (N, k, k).
* ``momentum_gradient``: d|M|^2 / dp, shape (N, n, 4); ``momentum_hessian``: (N, n, 4, n, 4).
* ``unit_cube_gradient`` / ``unit_cube_hessian``: of a channel's event weight with respect to its
  phase-space variables x in [0, 1)^ndim (``TrainedChannel.weights``-like functions).

Every function evaluates the batch in chunks of ``chunk_size`` events inside one compiled function
(``madgen.inference.chunking``), so peak memory is set by the chunk size, not by N (default 1024 events
for values and gradients, 1024 / d, at least 64, for Hessians in d variables). ``mode``: "forward" (one jvp per
variable), "reverse" (one vjp of the chunk; events are independent) or "auto": forward for at most
``FORWARD_MAX_INPUTS`` variables per event (a few parameters, as gold mining needs), reverse above
(many parameters, momenta). Hessians are forward over the gradient of that mode. Compiled functions
are cached per (process, parameter names, mode, chunk size).
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from madgen.contract import jit
from madgen.inference.chunking import (DEFAULT_CHUNK_SIZE, FORWARD_MAX_INPUTS, chunk_size_of, chunked_map, mode_of,
                                       per_event_gradient, per_event_hessian, split_parameters)
from madgen.inference.errors import InferenceError
from madgen.phasespace.kinematics import in_me_frame

__all__ = ["FORWARD_MAX_INPUTS", "matrix_element_values", "momentum_gradient", "momentum_hessian",
           "parameter_gradient", "parameter_hessian", "parameter_value_and_gradient", "unit_cube_gradient",
           "unit_cube_hessian"]


def parameter_names(process, names: Sequence[str] | str) -> tuple[str, ...]:
    """``names`` checked against the process's external parameters (a tuple, in the given order)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    known = process.default_parameters()
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InferenceError(f"parameter(s) {unknown or '[]'} are not external parameters of "
                             f"'{process.process}'; choose from {sorted(known)}")
    if len(set(names)) != len(names):
        raise InferenceError(f"parameter names {list(names)} repeat a name")
    return names


def complete(process, parameters: Mapping | None = None) -> dict:
    """All external parameters: the package defaults overridden by ``parameters`` (plain floats, or
    arrays of one value per event, such as alpha_s(muR) of hadron collisions)."""
    defaults = process.default_parameters()
    unknown = sorted(set(parameters or {}) - set(defaults))
    if unknown:
        raise InferenceError(f"unknown parameter(s) {unknown} for '{process.process}'; known: {sorted(defaults)}")
    return {**defaults, **{k: (np.asarray(v, dtype=float) if np.ndim(v) else float(v))
                           for k, v in (parameters or {}).items()}}


def with_theta(base: Mapping, names: Sequence[str], theta) -> dict:
    """``base`` with ``names[i]`` set to ``theta[i]`` (theta may be traced)."""
    return {**base, **{name: theta[i] for i, name in enumerate(names)}}


def theta_of(base: Mapping, names: Sequence[str]) -> np.ndarray:
    return np.array([float(base[n]) for n in names])


def task_parameters(settings) -> tuple[tuple[str, ...], dict]:
    """(names, base) of a task's settings (``names``: parameter names; ``base``: (name, value) pairs) as
    Python strings and floats: on a Dask worker they arrive as numpy arrays (``runtime.tasks.to_host``)."""
    return tuple(str(n) for n in settings.names), {str(name): float(value) for name, value in settings.base}


def hessian_chunk_size(n_inputs: int) -> int:
    """Default events per chunk of a Hessian in ``n_inputs`` variables: the gradient's default divided
    by the number of tangents carried (at least 64)."""
    return max(64, DEFAULT_CHUNK_SIZE // max(1, n_inputs))


def _batched(x, parameters: Mapping):
    """(x as a float64 array, shared parameters, per-event parameters)."""
    x = jnp.asarray(x, dtype=jnp.float64)
    shared, per_event = split_parameters(dict(parameters), x.shape[0] if x.ndim else 0)
    return x, shared, {k: jnp.asarray(v) for k, v in per_event.items()}


# ----------------------------------------------------------------------------- parameters


def _log_or_plain(process, names, log: bool):
    """value(theta, momenta, parameters): log|M|^2 or |M|^2 with ``names`` set to theta; theta (k,) is
    shared by all events, theta (k, m) gives one value per event."""
    def value(theta, momenta, parameters):
        me2 = process.matrix_element(in_me_frame(process, momenta), with_theta(parameters, names, theta))
        return jnp.log(me2) if log else me2
    return value


def parameter_derivative(value, k: int, mode: str, order: int):
    """per_chunk(theta, *batch): the derivative in theta (k,) of ``value(theta, *batch) -> (m,)`` for a
    chunk of m independent events: order 1 -> (value (m,), gradient (m, k)), order 2 -> Hessian
    (m, k, k). ``forward`` differentiates the shared theta (k tangents); ``reverse`` gives each
    event its own copy of theta, as theta (k, m), and pulls back one vjp of the chunk."""
    def per_chunk(theta, *batch):
        if mode == "forward":
            def f(t):
                return value(t, *batch)
            if order == 1:
                gradient, result = jax.jacfwd(lambda t: (f(t), f(t)), has_aux=True)(theta)
                return result, gradient
            return jax.jacfwd(jax.jacfwd(f))(theta)
        rows = jnp.broadcast_to(theta, (jax.tree_util.tree_leaves(batch)[0].shape[0], k))

        def g(t):
            return value(t.T, *batch)
        return per_event_gradient(g, rows, "reverse") if order == 1 else per_event_hessian(g, rows, "reverse")
    return per_chunk


@functools.lru_cache(maxsize=64)
def _parameter_function(process, names: tuple[str, ...], log: bool, mode: str, chunk: int, order: int):
    """jit(theta, momenta, shared, per_event) -> order 0: values (N,); 1: (values, gradient); 2: Hessian."""
    value = _log_or_plain(process, names, log)
    per_chunk = value if order == 0 else parameter_derivative(value, len(names), mode, order)

    def run(theta, momenta, shared, per_event):
        return chunked_map(lambda batch: per_chunk(theta, batch[0], {**shared, **batch[1]}), (momenta, per_event),
                           chunk)
    return jit(run, process=process)


def _parameter_call(process, momenta, names, parameters, log, mode, chunk_size, order):
    names = parameter_names(process, names) if order else ()
    base = complete(process, parameters)
    mode = mode_of(mode, len(names))
    default = DEFAULT_CHUNK_SIZE if order < 2 else hessian_chunk_size(len(names))
    function = _parameter_function(process, names, bool(log), mode, chunk_size_of(chunk_size, default), order)
    momenta, shared, per_event = _batched(momenta, base)
    return function(jnp.asarray(theta_of(base, names)), momenta, shared, per_event)


def matrix_element_values(process, momenta, parameters: Mapping | None = None, log: bool = True, *,
                          chunk_size: int | None = None) -> np.ndarray:
    """log|M|^2 (``log=False``: |M|^2) per event (N,), in chunks (parameters may hold per-event arrays)."""
    return np.asarray(_parameter_call(process, momenta, (), parameters, log, "auto", chunk_size, 0))


def parameter_value_and_gradient(process, momenta, names, parameters: Mapping | None = None, log: bool = True, *,
                                 mode: str = "auto", chunk_size: int | None = None):
    """(log|M|^2 (N,), d log|M|^2 / d theta (N, k)) at ``parameters`` (defaults elsewhere);
    with ``log=False`` the same for |M|^2 itself."""
    value, gradient = _parameter_call(process, momenta, names, parameters, log, mode, chunk_size, 1)
    return np.asarray(value), np.asarray(gradient)


def parameter_gradient(process, momenta, names, parameters: Mapping | None = None, log: bool = True, *,
                       mode: str = "auto", chunk_size: int | None = None) -> np.ndarray:
    """d log|M|^2 / d theta (``log=False``: d|M|^2 / d theta) per event, shape (N, k)."""
    return parameter_value_and_gradient(process, momenta, names, parameters, log, mode=mode,
                                        chunk_size=chunk_size)[1]


def parameter_hessian(process, momenta, names, parameters: Mapping | None = None, log: bool = True, *,
                      mode: str = "auto", chunk_size: int | None = None) -> np.ndarray:
    """Second derivatives of log|M|^2 (or |M|^2) in the chosen parameters per event, shape (N, k, k)."""
    return np.asarray(_parameter_call(process, momenta, names, parameters, log, mode, chunk_size, 2))


# ----------------------------------------------------------------------------- momenta and unit cube


@functools.lru_cache(maxsize=64)
def _per_event_function(evaluate, mode: str, chunk: int, order: int):
    """jit(x, shared, per_event) -> d f / dx (order 1) or d^2 f / dx dx (order 2) per event of
    ``evaluate(x, parameters) -> (m,)``."""
    derivative = per_event_gradient if order == 1 else per_event_hessian

    def per_chunk(x, parameters):
        result = derivative(lambda y: evaluate(y, parameters), x, mode)
        return result[1] if order == 1 else result

    def run(x, shared, per_event):
        return chunked_map(lambda batch: per_chunk(batch[0], {**shared, **batch[1]}), (x, per_event), chunk)
    return jax.jit(run)  # a bare function of x: no process, so XLA's default options


def _per_event_call(evaluate, x, parameters, mode, chunk_size, order):
    x, shared, per_event = _batched(x, parameters)
    n_inputs = int(np.prod(x.shape[1:], dtype=np.int64))
    default = DEFAULT_CHUNK_SIZE if order == 1 else hessian_chunk_size(n_inputs)
    function = _per_event_function(evaluate, mode_of(mode, n_inputs), chunk_size_of(chunk_size, default), order)
    return np.asarray(function(x, shared, per_event))


@functools.lru_cache(maxsize=64)
def _me2_of(process):
    """|M|^2 (m,) of momenta (m, n, 4): one function object per process (the compile cache key)."""
    return lambda momenta, parameters: process.matrix_element(in_me_frame(process, momenta), parameters)


@functools.lru_cache(maxsize=64)
def _weight_of(weights):
    """The event weight (m,) of ``weights(x, parameters) -> (w, momenta)``."""
    return lambda x, parameters: weights(x, parameters)[0]


def momentum_gradient(process, momenta, parameters: Mapping | None = None, *, mode: str = "auto",
                      chunk_size: int | None = None) -> np.ndarray:
    """d|M|^2 / dp^mu of every leg per event, shape (N, n, 4) (components E, px, py, pz)."""
    return _per_event_call(_me2_of(process), momenta, complete(process, parameters), mode, chunk_size, 1)


def momentum_hessian(process, momenta, parameters: Mapping | None = None, *, mode: str = "auto",
                     chunk_size: int | None = None) -> np.ndarray:
    """d^2|M|^2 / dp dp per event, shape (N, n, 4, n, 4)."""
    return _per_event_call(_me2_of(process), momenta, complete(process, parameters), mode, chunk_size, 2)


def unit_cube_gradient(weights, x, parameters: Mapping, *, mode: str = "auto",
                       chunk_size: int | None = None) -> np.ndarray:
    """d w / dx of a channel's event weight (``weights(x, parameters) -> (w, momenta)``, e.g.
    ``TrainedChannel.weights``) at unit-cube points x (N, ndim); ``parameters`` complete."""
    return _per_event_call(_weight_of(weights), x, parameters, mode, chunk_size, 1)


def unit_cube_hessian(weights, x, parameters: Mapping, *, mode: str = "auto",
                      chunk_size: int | None = None) -> np.ndarray:
    """d^2 w / dx dx per point, shape (N, ndim, ndim)."""
    return _per_event_call(_weight_of(weights), x, parameters, mode, chunk_size, 2)
