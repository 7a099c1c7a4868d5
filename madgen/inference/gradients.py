"""Per-event derivatives of generated |M|^2: batched, jit-compiled, in double precision.

* ``parameter_gradient``: d log|M|^2 / d theta (or d|M|^2 / d theta) for a chosen subset of
  the external UFO parameters, shape (N, k); ``parameter_hessian``: (N, k, k).
* ``momentum_gradient``: d|M|^2 / dp, shape (N, n, 4); ``momentum_hessian``: (N, n, 4, n, 4).
* ``unit_cube_gradient`` / ``unit_cube_hessian``: of a channel's event weight with respect to its
  phase-space variables x in [0, 1)^ndim (``TrainedChannel.weights``-like functions).

Parameter derivatives use forward mode (k tangents per batch, cheap for a few parameters);
momentum and unit-cube derivatives use reverse mode on the batch sum (events are independent).
Compiled functions are cached per (process, parameter names).
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from madgen.inference.errors import InferenceError


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


def _me2(process, momenta, parameters):
    return process.matrix_element(momenta, parameters)


@functools.lru_cache(maxsize=64)
def _parameter_functions(process, names: tuple[str, ...], log: bool):
    def value(theta, momenta, base):
        me2 = _me2(process, momenta, with_theta(base, names, theta))
        return jnp.log(me2) if log else me2

    def value_and_gradient(theta, momenta, base):
        gradient, result = jax.jacfwd(lambda t: (value(t, momenta, base),) * 2, has_aux=True)(theta)
        return result, gradient

    def hessian(theta, momenta, base):
        return jax.jacfwd(jax.jacfwd(value))(theta, momenta, base)

    return jax.jit(value_and_gradient), jax.jit(hessian)


def parameter_value_and_gradient(process, momenta, names, parameters: Mapping | None = None, log: bool = True):
    """(log|M|^2 (N,), d log|M|^2 / d theta (N, k)) at ``parameters`` (defaults elsewhere);
    with ``log=False`` the same for |M|^2 itself."""
    names = parameter_names(process, names)
    base = complete(process, parameters)
    value_and_gradient, _ = _parameter_functions(process, names, bool(log))
    value, gradient = value_and_gradient(jnp.asarray(theta_of(base, names)), jnp.asarray(momenta), base)
    return np.asarray(value), np.asarray(gradient)


def parameter_gradient(process, momenta, names, parameters: Mapping | None = None, log: bool = True) -> np.ndarray:
    """d log|M|^2 / d theta (``log=False``: d|M|^2 / d theta) per event, shape (N, k)."""
    return parameter_value_and_gradient(process, momenta, names, parameters, log)[1]


def parameter_hessian(process, momenta, names, parameters: Mapping | None = None, log: bool = True) -> np.ndarray:
    """Second derivatives of log|M|^2 (or |M|^2) in the chosen parameters per event, shape (N, k, k)."""
    names = parameter_names(process, names)
    base = complete(process, parameters)
    _, hessian = _parameter_functions(process, names, bool(log))
    result = hessian(jnp.asarray(theta_of(base, names)), jnp.asarray(momenta), base)  # (N, k, k)
    return np.asarray(result)


@functools.lru_cache(maxsize=64)
def _momentum_functions(process):
    def single(p, parameters):
        return _me2(process, p[None], parameters)[0]

    gradient = jax.jit(lambda momenta, parameters: jax.grad(
        lambda p: jnp.sum(_me2(process, p, parameters)))(momenta))
    hessian = jax.jit(jax.vmap(jax.hessian(single), in_axes=(0, None)))
    return gradient, hessian


def momentum_gradient(process, momenta, parameters: Mapping | None = None) -> np.ndarray:
    """d|M|^2 / dp^mu of every leg per event, shape (N, n, 4) (components E, px, py, pz)."""
    gradient, _ = _momentum_functions(process)
    return np.asarray(gradient(jnp.asarray(momenta), complete(process, parameters)))


def momentum_hessian(process, momenta, parameters: Mapping | None = None) -> np.ndarray:
    """d^2|M|^2 / dp dp per event, shape (N, n, 4, n, 4)."""
    _, hessian = _momentum_functions(process)
    return np.asarray(hessian(jnp.asarray(momenta), complete(process, parameters)))


@functools.lru_cache(maxsize=64)
def _unit_cube_functions(weights):
    def single(x, parameters):
        return weights(x[None], parameters)[0][0]

    gradient = jax.jit(lambda x, parameters: jax.grad(lambda y: jnp.sum(weights(y, parameters)[0]))(x))
    hessian = jax.jit(jax.vmap(jax.hessian(single), in_axes=(0, None)))
    return gradient, hessian


def unit_cube_gradient(weights, x, parameters: Mapping) -> np.ndarray:
    """d w / dx of a channel's event weight (``weights(x, parameters) -> (w, momenta)``, e.g.
    ``TrainedChannel.weights``) at unit-cube points x (N, ndim); ``parameters`` complete."""
    gradient, _ = _unit_cube_functions(weights)
    return np.asarray(gradient(jnp.asarray(x, dtype=jnp.float64), dict(parameters)))


def unit_cube_hessian(weights, x, parameters: Mapping) -> np.ndarray:
    """d^2 w / dx dx per point, shape (N, ndim, ndim)."""
    _, hessian = _unit_cube_functions(weights)
    return np.asarray(hessian(jnp.asarray(x, dtype=jnp.float64), dict(parameters)))
