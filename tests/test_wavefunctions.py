"""External wavefunctions (templates/wavefunctions.py): Dirac equations, spin and
polarization sums, axis momenta, finite gradients, the legs' states in one call.
A wavefunction is a tuple of its components; ``stacked`` makes it one array."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

_PATH = pathlib.Path(__file__).resolve().parents[1] / "templates" / "wavefunctions.py"
_spec = importlib.util.spec_from_file_location("madgen_template_wavefunctions", _PATH)
wf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wf)

G0 = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]], complex)
SIG = [np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]], complex)]
GAMMA = [G0] + [np.block([[np.zeros((2, 2)), s], [-s, np.zeros((2, 2))]]) for s in SIG]
GAMMA5 = np.diag([-1, -1, 1, 1]).astype(complex)
METRIC = np.diag([1.0, -1.0, -1.0, -1.0])


def stacked(wavefunction):
    return jnp.stack(wavefunction)


def slash(p):
    return sum(GAMMA[mu] * METRIC[mu, mu] * p[mu] for mu in range(4))


def momentum(m, px, py, pz):
    return np.array([np.sqrt(m * m + px * px + py * py + pz * pz), px, py, pz])


MOMENTA = [
    (0.0, 1.0, -2.0, 3.0),
    (0.0, 0.0, 0.0, 5.0),
    (0.0, 0.0, 0.0, -5.0),
    (4.7, 3.0, 1.5, -2.0),
    (4.7, 0.0, 0.0, 2.0),
    (4.7, 0.0, 0.0, -2.0),
    (4.7, 0.0, 0.0, 0.0),
]


NEGATIVE_MASSES = [(-4.7, 3.0, 1.5, -2.0), (-4.7, 0.0, 0.0, 2.0), (-4.7, 0.0, 0.0, 0.0)]
"""A negative mass, as SLHA gives a Majorana neutralino (SPS1a's Mneu3): u = gamma5 u(|m|), v = -gamma5 v(|m|),
which satisfy the Dirac equations and spin sums with the signed mass."""


@pytest.mark.parametrize("m,px,py,pz", MOMENTA + NEGATIVE_MASSES)
def test_dirac_equations_and_spin_sums(m, px, py, pz):
    p = momentum(m, px, py, pz)
    ps = slash(p)
    one = np.eye(4)
    su, sv = np.zeros((4, 4), complex), np.zeros((4, 4), complex)
    for hel in (-1, 1):
        u = np.asarray(wf.ket_spinor(p, m, hel, False))
        v = np.asarray(wf.ket_spinor(p, m, hel, True))
        ub = np.asarray(wf.bra_spinor(p, m, hel, False))
        vb = np.asarray(wf.bra_spinor(p, m, hel, True))
        assert u.shape == (4,) and u.dtype == np.complex128
        np.testing.assert_allclose((ps - m * one) @ u, 0, atol=1e-12)
        np.testing.assert_allclose((ps + m * one) @ v, 0, atol=1e-12)
        np.testing.assert_allclose(ub @ (ps - m * one), 0, atol=1e-12)
        np.testing.assert_allclose(vb @ (ps + m * one), 0, atol=1e-12)
        np.testing.assert_allclose(ub, u.conj() @ G0, atol=1e-14)
        su += np.outer(u, ub)
        sv += np.outer(v, vb)
        # helicity eigenstates: for massless u, chirality = helicity
        if m == 0:
            np.testing.assert_allclose(GAMMA5 @ u, hel * u, atol=1e-12)
            np.testing.assert_allclose(GAMMA5 @ v, -hel * v, atol=1e-12)
        # helicity operator Sigma.p_hat
        pp = np.linalg.norm(p[1:])
        if pp > 0:
            hop = sum(np.kron(np.eye(2), s) * p[1 + i] / pp for i, s in enumerate(SIG))
            np.testing.assert_allclose(hop @ u, hel * u, atol=1e-12)
            np.testing.assert_allclose(hop @ v, -hel * v, atol=1e-12)
    np.testing.assert_allclose(su, ps + m * one, atol=1e-12)
    np.testing.assert_allclose(sv, ps - m * one, atol=1e-12)


@pytest.mark.parametrize("m,px,py,pz", MOMENTA)
def test_polarization_sums(m, px, py, pz):
    p = momentum(m, px, py, pz)
    hels = (-1, 0, 1) if m > 0 else (-1, 1)
    total = np.zeros((4, 4), complex)
    for hel in hels:
        e = np.asarray(wf.polarization(p, m, hel, False))
        eo = np.asarray(wf.polarization(p, m, hel, True))
        np.testing.assert_allclose(eo, e.conj())
        assert abs(e @ METRIC @ p) < 1e-12  # transversality
        np.testing.assert_allclose(e.conj() @ METRIC @ e, -1, atol=1e-12)
        total += np.outer(e, e.conj())
    if m > 0:
        np.testing.assert_allclose(total, -np.linalg.inv(METRIC) + np.outer(p, p) / m**2, atol=1e-12)
    else:
        # transverse projector: -g + (p n + n p)/(p.n) with n = (E, -p3)
        n = np.array([p[0], -p[1], -p[2], -p[3]])
        expected = -np.linalg.inv(METRIC) + (np.outer(p, n) + np.outer(n, p)) / (p @ METRIC @ n)
        expected -= np.outer(p, p) * (n @ METRIC @ n) / (p @ METRIC @ n) ** 2
        np.testing.assert_allclose(total, expected, atol=1e-12)


@pytest.mark.parametrize("m", [4.7, -4.7])
def test_spinors_are_continuous_at_rest(m):
    """A spinor at rest (the rest-frame basis) is the limit of the moving helicity spinors along +z, for a
    negative mass too (it vanished there, E + m = 0: a neutralino decaying at rest had |M|^2 = 0)."""
    rest = momentum(m, 0.0, 0.0, 0.0)
    slow = momentum(m, 0.0, 0.0, 1e-9)
    for hel in (-1, 1):
        for antiparticle in (False, True):
            at_rest = np.asarray(wf.ket_spinor(rest, m, hel, antiparticle))
            assert np.abs(at_rest).max() > 1.0
            np.testing.assert_allclose(at_rest, np.asarray(wf.ket_spinor(slow, m, hel, antiparticle)), atol=1e-8)


def spin2_numerator(p, m):
    """The massive spin-2 propagator's numerator B^{mu nu, a b} = (P^{mu a} P^{nu b} + P^{mu b} P^{nu a}) / 2
    - P^{mu nu} P^{a b} / 3, P = -g + p p / m^2 (the textbook sum over the five polarisation tensors)."""
    proj = -np.linalg.inv(METRIC) + np.outer(p, p) / m**2
    return (np.einsum("ma,nb->mnab", proj, proj) + np.einsum("mb,na->mnab", proj, proj)) / 2 \
        - np.einsum("mn,ab->mnab", proj, proj) / 3


@pytest.mark.parametrize("m,px,py,pz", MOMENTA)
def test_tensor_polarizations(m, px, py, pz):
    """Spin-2 polarisation tensors eps^{mu nu} (component 4 mu + nu): symmetric, traceless, transverse to p,
    orthonormal (eps_l^{mu nu} eps*_{l' mu nu} = delta), conjugated when outgoing, +-2 the products of the
    vector's +-1 polarisations (helicity along p), and for a massive one summing to the propagator's
    numerator."""
    p = momentum(m, px, py, pz)
    hels = (-2, -1, 0, 1, 2) if m > 0 else (-2, 2)
    eps = {}
    for hel in hels:
        e = np.asarray(wf.tensor_polarization(p, m, hel, False)).reshape(4, 4)
        eo = np.asarray(wf.tensor_polarization(p, m, hel, True)).reshape(4, 4)
        np.testing.assert_allclose(eo, e.conj(), atol=0)
        np.testing.assert_allclose(e, e.T, atol=1e-12)
        assert abs(np.trace(METRIC @ e)) < 1e-12
        np.testing.assert_allclose(p @ METRIC @ e, 0, atol=1e-12)
        eps[hel] = e
    lower = {h: METRIC @ e @ METRIC for h, e in eps.items()}
    gram = np.array([[np.sum(eps[a] * lower[b].conj()) for b in hels] for a in hels])
    np.testing.assert_allclose(gram, np.eye(len(hels)), atol=1e-12)
    if m > 0:
        total = sum(np.einsum("mn,ab->mnab", eps[h], eps[h].conj()) for h in hels)
        np.testing.assert_allclose(total, spin2_numerator(p, m), atol=1e-12)
    for hel in hels:
        if abs(hel) == 2:
            e1 = np.asarray(wf.polarization(p, m, hel // 2, False))
            np.testing.assert_allclose(eps[hel], np.outer(e1, e1), atol=1e-12)


def test_polarization_helicity_along_z():
    p = momentum(0.0, 0.0, 0.0, 3.0)
    e = np.asarray(wf.polarization(p, 0.0, 1, False))
    np.testing.assert_allclose(e, np.array([0, -1, -1j, 0]) / np.sqrt(2), atol=1e-14)


def test_batched_and_jit():
    rng = np.random.default_rng(1)
    three = rng.normal(size=(3, 5))
    three[:, 0] = [0, 0, 2.0]
    three[:, 1] = [0, 0, -2.0]
    m = 1.3
    p = np.vstack([np.sqrt(m * m + (three**2).sum(0)), three])
    f = jax.jit(lambda p: wf.ket_spinor(p, m, 1, False))
    out = stacked(f(p))
    assert out.shape == (4, 5)
    for i in range(5):
        np.testing.assert_allclose(out[:, i], stacked(wf.ket_spinor(p[:, i], m, 1, False)), atol=1e-13)
    assert stacked(wf.polarization(p, m, 0, False)).shape == (4, 5)
    assert stacked(wf.bra_spinor(p, jnp.full(5, m), -1, True)).shape == (4, 5)
    assert stacked(wf.scalar_wf(p)).shape == (1, 5)


@pytest.mark.parametrize("kind,flag,helicities", [("ket", False, (-1, 1)), ("bra", True, (1, -1)),
                                                  ("vector", True, (-1, 0, 1)), ("scalar", False, (0,)),
                                                  ("tensor", True, (-2, -1, 0, 1, 2))])
def test_leg_states_are_the_wavefunctions_in_one_call(kind, flag, helicities):
    """leg_states (one jitted call per leg, as generated kernels use it) returns, per requested
    helicity and in that order, the same components as the wavefunction functions."""
    rng = np.random.default_rng(7)
    three = rng.normal(size=(3, 6))
    three[:, 0] = [0, 0, -2.0]
    m = 1.3
    p = np.vstack([np.sqrt(m * m + (three**2).sum(0)), three])
    direct = {"ket": lambda h: wf.ket_spinor(p, m, h, flag), "bra": lambda h: wf.bra_spinor(p, m, h, flag),
              "vector": lambda h: wf.polarization(p, m, h, flag), "scalar": lambda h: wf.scalar_wf(p),
              "tensor": lambda h: wf.tensor_polarization(p, m, h, flag)}[kind]
    states = wf.leg_states(kind, p, m, helicities, flag)
    assert len(states) == len(helicities)
    for state, hel in zip(states, helicities):
        np.testing.assert_allclose(stacked(state), stacked(direct(hel)), rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind,flag,helicities", [("ket", False, (-1, 1)), ("vector", True, (-1, 0, 1))])
def test_leg_states_read_the_momentum_once(kind, flag, helicities):
    """The wavefunctions take the momentum as its four components too (the same states), and leg_states
    slices p into them once: in reverse mode each slice becomes a pad of the whole momentum array, and
    the states' many reads of p[1], p[2], p[3] had cost g g > t t~'s momentum gradient 11 % in pads."""
    rng = np.random.default_rng(3)
    three = rng.normal(size=(3, 5))
    p = np.vstack([np.sqrt(1.7 + (three**2).sum(0)), three])
    direct = {"ket": wf.ket_spinor, "vector": wf.polarization}[kind]
    for hel in helicities:
        np.testing.assert_array_equal(stacked(direct(tuple(jnp.asarray(p)), 1.3, hel, flag)),
                                      stacked(direct(p, 1.3, hel, flag)))
    inner = jax.make_jaxpr(lambda q: wf.leg_states.__wrapped__(kind, q, 1.3, helicities, flag))(jnp.asarray(p))
    slices = [eqn for eqn in inner.eqns if eqn.primitive.name in ("slice", "dynamic_slice", "gather", "squeeze")]
    reads = [eqn for eqn in slices if eqn.primitive.name != "squeeze"]
    assert len(reads) == 4


@pytest.mark.parametrize("m,px,py,pz", MOMENTA)
def test_gradients_finite(m, px, py, pz):
    p0 = jnp.asarray(momentum(m, px, py, pz))

    def total(p, mass):
        s = 0.0
        for hel in (-1, 1):
            for anti in (False, True):
                s += jnp.sum(jnp.abs(stacked(wf.ket_spinor(p, mass, hel, anti))) ** 2)
                s += jnp.sum(jnp.real(stacked(wf.bra_spinor(p, mass, hel, anti))))
            s += jnp.sum(jnp.real(stacked(wf.polarization(p, mass, hel, False)))
                         + jnp.imag(stacked(wf.polarization(p, mass, hel, True))))
        if m > 0:
            s += jnp.sum(jnp.real(stacked(wf.polarization(p, mass, 0, False))))
        return s

    gp, gm = jax.grad(total, argnums=(0, 1))(p0, m)
    assert np.all(np.isfinite(np.asarray(gp))) and np.isfinite(float(gm))
