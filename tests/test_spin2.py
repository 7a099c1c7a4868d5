"""Spin-2 particles end to end (UFO spin code 5), on the SM with a spin-2 resonance y2 coupled to the
stress-energy tensor of the leptons and the photon and a massless g2 (tests/spin2_model.py).

Checks that hold whatever the couplings' normalisation (no published number is needed):
- angular distributions of s-channel spin-2 exchange between massless states, from the Wigner
  d-functions (only J_z = +-1 for a fermion pair, +-2 for a photon pair through a traceless T_{mu nu}):
  f f~ > Y > f' f~' ~ (d2_{1,1})^2 + (d2_{1,-1})^2 ~ 1 - 3c^2 + 4c^4, a a > Y > l+ l- and l+ l- > Y > a a
  ~ 1 - c^4, a a > Y > a a ~ 1 + 6c^2 + c^4; the massless g2 (de Donder) gives f f~'s shape too;
- at s = M^2 the angle-averaged |M|^2 of a > Y > b (summed over all spins) equals
  sum|M(Y > a)|^2 sum|M(Y > b)|^2 / ((2J + 1) M^2 Gamma^2) (orthogonality of the rotation matrices):
  it ties the propagator's numerator to the five polarisation tensors and madgen's averaging (5 states)
  to MadGraph's convention, with madgen's own decay |M|^2 on the right;
- `widths: auto` is the sum of the partial widths from those decay |M|^2;
- Ward identities with an external spin-2 leg, a photon and the contact vertex: the photon's (its
  polarisation replaced by its momentum) and the massless g2's (eps^{mu nu} replaced by
  k^mu xi^nu + xi^mu k^nu), which fail if a current, a polarisation tensor or the contact vertex is off;
- Lorentz invariance, and initial-state averaging over 5 states (y2 y2 > e+ e- against its crossing);
- the cross section of e+ e- > y2 > mu+ mu- through `madgen launch` against its closed form;
- gradients in the momenta and parameters against central finite differences.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from physics import boost_matrix, collision_points, rotation_matrix, transform
from spin2_model import write_spin2_model
from test_matrix_elements import assert_gauge_invariant, colour_summed

M_Y, W_Y = 1000.0, 50.0  # the model's defaults


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(write_spin2_model(tmp_path_factory.mktemp("spin2") / "sm_spin2"))


def back_to_back(energy, cos, phi=0.3):
    """Massless 2 -> 2 in the centre-of-mass frame, one event per cos."""
    cos = np.atleast_1d(cos)
    sin = np.sqrt(1 - cos**2)
    zero = np.zeros_like(cos)
    e = np.full_like(cos, energy)
    out = np.stack([e, e * sin * np.cos(phi), e * sin * np.sin(phi), e * cos], -1)
    incoming = np.stack([e, zero, zero, e], -1)
    return np.stack([incoming, incoming * [1, 1, 1, -1], out, out * [1, -1, -1, -1]], 1)


def decay_package(generate_package, model, final):
    """The package of y2 > ``final`` (a pair such as "e+ e-")."""
    label = final.replace("+", "p").replace("-", "m").replace("~", "x").replace(" ", "")
    return generate_package(model, f"y2 > {final}", f"y2_{label}")


def decay_me2(package, mass=M_Y):
    """madgen's |M|^2 of Y > two massless particles (averaged over Y's 5 helicities), at two directions."""
    momenta = np.array([[[mass, 0, 0, 0], [mass / 2, 0, 0, mass / 2], [mass / 2, 0, 0, -mass / 2]],
                        [[mass, 0, 0, 0], [mass / 2, 0.3 * mass, 0, 0.4 * mass],
                         [mass / 2, -0.3 * mass, 0, -0.4 * mass]]])
    values = np.asarray(package.matrix_element(momenta))
    np.testing.assert_allclose(values[1], values[0], rtol=1e-12)  # isotropic, as a spin average is
    return float(values[0])


COS = np.array([-0.95, -0.6, -0.2, 0.0, 0.35, 0.7, 0.99])
SHAPES = [
    ("y2_ee_mumu", "e+ e- > y2 > mu+ mu-", 1 - 3 * COS**2 + 4 * COS**4),
    ("y2_aa_mumu", "a a > y2 > mu+ mu-", 1 - COS**4),
    ("y2_mumu_aa", "mu+ mu- > y2 > a a", 1 - COS**4),
    ("y2_aa_aa", "a a > y2 > a a", 1 + 6 * COS**2 + COS**4),
    ("g2_ee_mumu", "e+ e- > g2 > mu+ mu-", 1 - 3 * COS**2 + 4 * COS**4),
]


@pytest.mark.parametrize("name,process,shape", SHAPES, ids=[s[0] for s in SHAPES])
def test_angular_distributions_of_spin2_exchange(model, generate_package, name, process, shape):
    package = generate_package(model, process, name)
    assert package.n_diagrams == 1
    values = np.asarray(package.matrix_element(back_to_back(700.0, COS)))
    ratio = values / shape
    assert np.all(ratio > 0)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)


BREIT_WIGNER = [
    # (name, process, decay of the initial pair, decay of the final pair, initial spin and colour states,
    #  final identical)
    ("y2_ee_mumu", "e+ e- > y2 > mu+ mu-", "e+ e-", "mu+ mu-", 4, 1),
    ("y2_aa_mumu", "a a > y2 > mu+ mu-", "a a", "mu+ mu-", 4, 1),
    ("y2_mumu_aa", "mu+ mu- > y2 > a a", "mu+ mu-", "a a", 4, 2),
    ("y2_aa_aa", "a a > y2 > a a", "a a", "a a", 4, 2),
    ("y2_uux_ee", "u u~ > y2 > e+ e-", "u u~", "e+ e-", 4 * 9, 1),
    ("y2_gg_ee", "g g > y2 > e+ e-", "g g", "e+ e-", 4 * 64, 1),
    ("y2_gg_uux", "g g > y2 > u u~", "g g", "u u~", 4 * 64, 1),
]


@pytest.mark.parametrize("name,process,into,out_of,initial_states,identical", BREIT_WIGNER,
                         ids=[b[0] for b in BREIT_WIGNER])
def test_breit_wigner_relation_at_the_pole(model, generate_package, name, process, into, out_of,
                                           initial_states, identical):
    """<sum|M(a > Y > b)|^2>_angles = sum|M(Y > a)|^2 sum|M(Y > b)|^2 / (5 M^2 Gamma^2) at s = M^2, sums over
    spins and colours, where madgen's decay |M|^2 is sum/(5 S) (S = 2 for two photons or gluons) and the
    2 -> 2's is sum/(spin and colour states x S_final): the colour sums of the decays (3 for u u~, 8 for g g)
    carry the colour factor of the s-channel."""
    package = generate_package(model, process, name)
    cos, weights = np.polynomial.legendre.leggauss(8)  # exact for the polynomials in cos above
    average = float(np.asarray(package.matrix_element(back_to_back(M_Y / 2, cos))) @ weights) / 2

    def summed_decay(final):
        symmetry = 2 if final in ("a a", "g g") else 1  # madgen's |M|^2 of y2 > a a includes 1/2
        return 5 * symmetry * decay_me2(decay_package(generate_package, model, final))

    expected = summed_decay(into) * summed_decay(out_of) / (5 * M_Y**2 * W_Y**2) / (initial_states * identical)
    assert average == pytest.approx(expected, rel=1e-12)


def test_production_is_the_crossed_decay(model, generate_package):
    """e+ e- > y2 at sqrt(s) = M: sum|M|^2 equals the decay's, so madgen's |M|^2 is (5/4) that of y2 > e+ e-."""
    production = generate_package(model, "e+ e- > y2", "y2_production")
    momenta = np.array([[[M_Y / 2, 0, 0, M_Y / 2], [M_Y / 2, 0, 0, -M_Y / 2], [M_Y, 0, 0, 0]]])
    value = float(np.asarray(production.matrix_element(momenta))[0])
    decay = decay_me2(decay_package(generate_package, model, "e+ e-"))
    assert value == pytest.approx(5 / 4 * decay, rel=1e-12)


def test_auto_width_of_the_spin2_resonance(model, generate_package):
    """`widths: auto` gives Gamma(y2) = sum over its decays of |M|^2 / (16 pi M) (massless products, colours
    summed; the photon and gluon pairs' identical-particle 1/2 is in their |M|^2)."""
    package = generate_package(model, "e+ e- > y2 > mu+ mu-", "y2_auto", widths="auto")
    pairs = ("e+ e-", "mu+ mu-", "a a", "u u~", "d d~", "g g")
    partial = sum(decay_me2(decay_package(generate_package, model, pair)) for pair in pairs)
    assert float(package.widths()["WY2"]) == pytest.approx(partial / (16 * math.pi * M_Y), rel=1e-12)


def test_gradients_through_spin2_currents(model, generate_package):
    """jax.grad in the momenta and in MY2, WY2, kappaY against central differences (relative steps 1e-5)."""
    package = generate_package(model, "e+ e- > y2 > mu+ mu-", "y2_ee_mumu")
    event = back_to_back(520.0, 0.3)[0]
    gradient = np.asarray(jax.grad(lambda p: package.matrix_element(p))(event))
    for leg, mu in [(0, 0), (0, 3), (2, 1), (3, 2)]:
        step = 1e-5 * event[0, 0]
        shift = np.zeros_like(event)
        shift[leg, mu] = step
        plus, minus = (float(np.asarray(package.matrix_element(event + s, check=False))) for s in (shift, -shift))
        assert gradient[leg, mu] == pytest.approx((plus - minus) / (2 * step), rel=1e-6,
                                                  abs=1e-6 * np.abs(gradient).max())
    theta = package.default_parameters()
    names = ("MY2", "WY2", "kappaY")
    grads = jax.grad(lambda prm: package.matrix_element(event, prm))(theta)
    for name in names:
        step = 1e-5 * theta[name]
        plus, minus = (float(np.asarray(package.matrix_element(event, {**theta, name: theta[name] + s})))
                       for s in (step, -step))
        assert float(grads[name]) == pytest.approx((plus - minus) / (2 * step), rel=1e-6)


def test_cross_section_through_launch(model, generate_package, tmp_path):
    """sigma(e+ e- > y2 > mu+ mu-) at 1.2 TeV without cuts: |M|^2 = A (1 - 3c^2 + 4c^4) integrates to
    A (8/5) / (16 pi) / (2 s) (in pb with hbar^2 c^2 = 0.3893793721e9 pb GeV^2); `madgen launch` must agree
    within 4 standard deviations, and write the spin-2 resonance into its events."""
    import json

    from madgen.cli import main

    sqrt_s = 1200.0
    package = generate_package(model, "e+ e- > y2 > mu+ mu-", "y2_ee_mumu")
    amplitude = float(np.asarray(package.matrix_element(back_to_back(sqrt_s / 2, 0.0)))[0])
    expected = amplitude * (8 / 5) / (16 * math.pi) / (2 * sqrt_s**2) * 0.3893793721e9
    (tmp_path / "proc.yaml").write_text(yaml.safe_dump({"model": model, "process": "e+ e- > y2 > mu+ mu-",
                                                         "name": "y2_launch", "output": str(tmp_path / "pkg")}))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({
        "sqrt_s": sqrt_s, "n_events": 200, "seed": 3, "iterations": 3, "points_per_iteration": 8000,
        "lhe": True, "cuts": {"ptl": 0, "etal": -1, "drll": 0}}))
    assert main(["launch", str(tmp_path / "proc.yaml"), "--run", str(tmp_path / "run.yaml"),
                 "-o", str(tmp_path / "run")]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert abs(results["cross_section_pb"] - expected) < 4 * results["error_pb"], (results, expected)
    events = (tmp_path / "run" / "events.lhe").read_text()
    assert " 5000039 " in events  # the required s-channel resonance is written with status 2


WARD = [
    ("y2_ee_ya", "e+ e- > y2 a", (0.0, 0.0), (M_Y, 0.0), 1500.0, [4]),
    ("y2_ea_ey", "e- a > e- y2", (0.0, 0.0), (0.0, M_Y), 1500.0, [2]),
    ("g2_ee_ga", "e+ e- > g2 a", (0.0, 0.0), (0.0, 0.0), 800.0, [4]),
    ("y2_ee_yaa", "e+ e- > y2 a a", (0.0, 0.0), (M_Y, 0.0, 0.0), 2600.0, [4, 5]),
]


@pytest.fixture(scope="module", params=WARD, ids=[w[0] for w in WARD])
def ward_case(request, model, generate_package):
    name, process, initial, final, sqrt_s, photons = request.param
    package = generate_package(model, process, name)
    momenta = collision_points(sqrt_s, initial, final, np.random.default_rng(11), 4)
    return package, momenta, photons


def test_photon_ward_identity_with_spin2_legs(ward_case, monkeypatch):
    """With the contact vertex the photon's gauge invariance holds through spin-2 currents, external
    polarisation tensors and the four-point vertex."""
    package, momenta, photons = ward_case
    for leg in photons:
        assert_gauge_invariant(package, momenta, leg - 1, monkeypatch)


def test_graviton_ward_identity(model, generate_package, monkeypatch):
    """The massless g2's polarisation tensor replaced by k^mu xi^nu + xi^mu k^nu (a linearised
    diffeomorphism, any xi): |M|^2 vanishes for e+ e- > g2 a, where g2 couples to a conserved T_{mu nu}."""
    package = generate_package(model, "e+ e- > g2 a", "g2_ee_ga")
    momenta = collision_points(800.0, (0.0, 0.0), (0.0, 0.0), np.random.default_rng(12), 4)
    module = package._module
    physical = colour_summed(package, momenta)
    target = np.asarray(momenta[:, 2, :]).T
    xi = (0.3, -0.7, 0.2 + 0.4j, 1.1)
    original = module.leg_states

    def leg_states(kind, p, m, helicities, flag):
        if kind == "tensor" and np.allclose(np.asarray(p), target):
            k = jnp.asarray(p, dtype=jnp.complex128) / jnp.asarray(p[0])
            x = [jnp.full_like(k[0], c) for c in xi]
            return [tuple(k[a] * x[b] + x[a] * k[b] for a in range(4) for b in range(4)) for _ in helicities]
        return original(kind, p, m, helicities, flag)

    with monkeypatch.context() as patch:
        patch.setattr(module, "leg_states", leg_states)
        unphysical = colour_summed(package, momenta)
    assert np.all(physical > 0) and np.all(unphysical <= 1e-20 * physical), unphysical / physical


def test_lorentz_invariance_with_external_spin2(ward_case):
    package, momenta, _ = ward_case
    matrix = boost_matrix([0.3, -0.5, 0.6]) @ rotation_matrix([1.0, 2.0, -0.5], 0.7)
    np.testing.assert_allclose(np.asarray(package.matrix_element(transform(momenta, matrix))),
                               np.asarray(package.matrix_element(momenta)), rtol=1e-10)


def test_averaging_over_five_states(model, generate_package):
    """y2 y2 > e+ e- at the momenta of e+ e- > y2 y2 reversed: the same sum over spins, averaged over
    5 x 5 states with no identical-particle factor against 2 x 2 states with 1/2: a ratio of 8/25."""
    pair = generate_package(model, "e+ e- > y2 y2", "y2_ee_yy")
    crossed = generate_package(model, "y2 y2 > e+ e-", "y2_yy_ee")
    momenta = collision_points(2600.0, (0.0, 0.0), (M_Y, M_Y), np.random.default_rng(13), 5)
    reversed_ = momenta[:, [2, 3, 0, 1], :]
    np.testing.assert_allclose(np.asarray(crossed.matrix_element(reversed_)),
                               8 / 25 * np.asarray(pair.matrix_element(momenta)), rtol=1e-12)
