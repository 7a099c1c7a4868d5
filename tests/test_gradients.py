"""jax.grad of generated |M|^2 against central finite differences, in double precision.

Steps are relative 1e-5 (truncation error ~1e-10, rounding ~1e-11); agreement is
required to 1e-6 of the largest gradient component.
"""

import jax
import numpy as np
import pytest

from physics import collision_points, momentum_differences

CASES = [
    ("epem_mupmum", "e+ e- > mu+ mu-", 91.0, (0, 0)),
    ("epem_ttx", "e+ e- > t t~", 500.0, (173.0, 173.0)),
    ("gg_ttx", "g g > t t~", 600.0, (173.0, 173.0)),
    # XLA's CPU compile of the backward pass of the 16-diagram g g > t t~ g takes minutes
    pytest.param(("gg_ttxg", "g g > t t~ g", 1000.0, (173.0, 173.0, 0.0)), marks=pytest.mark.slow),
]


@pytest.fixture(scope="module", params=CASES, ids=["epem_mupmum", "epem_ttx", "gg_ttx", "gg_ttxg"])
def case(request, generate_package):
    name, process, sqrt_s, final_masses = request.param
    proc = generate_package("sm", process, name)
    momenta = collision_points(sqrt_s, (0, 0), final_masses, np.random.default_rng(3), 2)
    return proc, momenta


def central_difference(function, x, step):
    return (function(x + step) - function(x - step)) / (2 * step)


def test_gradient_wrt_momenta(case):
    proc, momenta = case
    event = momenta[0]
    gradient = np.asarray(jax.grad(lambda p: proc.matrix_element(p))(event))
    assert gradient.shape == event.shape and np.all(np.isfinite(gradient))
    numeric = momentum_differences(proc, event)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


def test_gradient_wrt_every_parameter(case):
    proc, momenta = case
    defaults = proc.default_parameters()
    gradient = jax.grad(lambda prm: proc.matrix_element(momenta, prm).sum())(defaults)
    assert set(gradient) == set(defaults)
    scale = max(abs(float(gradient[n]) * defaults[n]) for n in defaults)  # d|M|^2/dlog(theta)
    for name, value in defaults.items():
        step = 1e-5 * abs(value)

        def shifted(x, name=name):
            # same pytree: no retrace; a shifted mass puts the legs slightly off shell: unchecked
            return float(proc.matrix_element(momenta, {**defaults, name: x}, check=False).sum())

        numeric = central_difference(shifted, value, step)
        got = float(gradient[name])
        # compare d|M|^2/dlog(theta): parameters span 1e-5 (Gf) to 1e2 (aEWM1)
        assert abs(got - numeric) * abs(value) <= 1e-6 * max(scale, 1e-300) + 1e-6 * abs(numeric * value), \
            (name, got, numeric)


def test_gradient_is_jittable_and_vmappable(case):
    proc, momenta = case
    per_event = jax.jit(jax.vmap(jax.grad(lambda p, prm: proc.matrix_element(p, prm), argnums=(0, 1)),
                                 in_axes=(0, None)))
    d_momenta, d_parameters = per_event(momenta, proc.default_parameters())
    assert d_momenta.shape == momenta.shape
    assert all(np.shape(v) == (len(momenta),) for v in d_parameters.values())
    single = jax.grad(lambda p: proc.matrix_element(p))(momenta[1])
    np.testing.assert_allclose(d_momenta[1], single, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("process, parameters", [("t > b w+", {}), ("w+ > t b~", {"MT": 10.0})])
def test_gradient_wrt_momenta_with_a_massive_particle_at_rest(generate_package, process, parameters):
    """A decay in the rest frame of the decaying top (a spinor) or W (a polarisation vector): its helicity axis
    is undefined at |p| = 0, but the spin-summed |M|^2 is smooth there; its gradient was 0 in the resting
    particle's 3-momentum (finite differences: 33.3, 14.1, 11.4 for the top), now as finite differences say.
    The values and helicity weights at rest are those of the helicity basis with axis +z."""
    proc = generate_package("sm", process, "rest_" + "".join(ch for ch in process if ch.isalnum()))
    theta = proc.complete_parameters(parameters)
    m0, m1, m2 = (float(m) for m in np.asarray(proc.masses(parameters)))
    pf = np.sqrt((m0 ** 2 - (m1 + m2) ** 2) * (m0 ** 2 - (m1 - m2) ** 2)) / (2 * m0)
    n = pf * np.array([np.sqrt(1 - 0.09) * np.cos(0.4), np.sqrt(1 - 0.09) * np.sin(0.4), 0.3])
    event = np.array([[m0, 0, 0, 0], [np.hypot(pf, m1), *n], [np.hypot(pf, m2), *-n]])
    gradient = np.asarray(jax.grad(lambda p: proc.matrix_element(p, theta))(event))
    steps = 1e-5 * m0
    shifts = np.zeros((event.size, *event.shape))
    shifts[np.arange(event.size), *np.unravel_index(np.arange(event.size), event.shape)] = steps
    values = np.asarray(proc.matrix_element(np.concatenate([event + shifts, event - shifts]), theta, check=False))
    numeric = ((values[:event.size] - values[event.size:]) / (2 * steps)).reshape(event.shape)
    assert np.abs(numeric[0, 1:]).max() > 0.1  # the resting particle's 3-momentum matters
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())
