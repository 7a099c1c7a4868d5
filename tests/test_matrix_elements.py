"""|M|^2 of generated packages against MadGraph5_aMC@NLO, closed forms, and symmetry checks.

Every process is checked for Lorentz invariance (boosted and rotated momenta) and,
for each external gluon or photon, gauge invariance (its polarisation replaced by
its momentum makes the colour-summed |M|^2 vanish to rounding).

Both symmetry checks run with the widths of the charged and coloured unstable particles
(top, W) set to zero: a fixed width in an s-channel propagator of a particle that
couples to the external gauge boson breaks gauge invariance at O(width/mass)
(e.g. 1e-7 relative in g g > t t~ g, where a final-state top radiates), and Lorentz
invariance of the helicity sum rests on gauge invariance (massless polarisation
vectors are frame dependent).
"""

import jax.numpy as jnp
import numpy as np
import pytest

from physics import boost_matrix, collision_points, dot, rotation_matrix, transform
from madgen.errors import InputShapeError

# name, process as in the reference file
REFERENCE_CASES = [
    ("epem_mupmum", "e+ e- > mu+ mu-"),
    ("epem_ttx", "e+ e- > t t~"),
    ("gg_ttx", "g g > t t~"),
    ("uux_ddx", "u u~ > d d~"),
    ("gg_ttxg", "g g > t t~ g"),
    ("gg_ttxgg", "g g > t t~ g g"),
]


@pytest.fixture(scope="module", params=REFERENCE_CASES, ids=[c[0] for c in REFERENCE_CASES])
def sm_case(request, generate_package, reference_processes):
    name, process = request.param
    return generate_package("sm", process, name), reference_processes[process]


def test_agrees_with_madgraph(sm_case):
    proc, reference = sm_case
    assert proc.pdg_ids == tuple(reference["pdg_ids"])
    assert proc.n_diagrams == reference["n_diagrams"]
    momenta = np.array([point["momenta"] for point in reference["points"]])
    expected = np.array([point["me2"] for point in reference["points"]])
    got = np.asarray(proc.matrix_element(momenta))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=0)


def test_lorentz_invariance(sm_case):
    proc, reference = sm_case
    momenta = np.array([point["momenta"] for point in reference["points"]])
    matrix = boost_matrix([0.3, -0.5, 0.6]) @ rotation_matrix([1.0, 2.0, -0.5], 0.7)
    original = np.asarray(proc.matrix_element(momenta, zero_widths(proc)))
    moved = np.asarray(proc.matrix_element(transform(momenta, matrix), zero_widths(proc)))
    np.testing.assert_allclose(moved, original, rtol=1e-10)


def test_gauge_invariance(sm_case, monkeypatch):
    """The Ward identity on the first gauge-boson leg of the initial state and the first of the final
    state (g g > t t~ g g: legs 1 and 5): each leg costs a compilation of the kernel, and the others
    attach through the same vertices."""
    proc, reference = sm_case
    momenta = np.array([point["momenta"] for point in reference["points"]])
    gauge = [leg for leg, pdg in enumerate(proc.pdg_ids) if pdg in (21, 22)]
    initial = [leg for leg in gauge if leg < proc.n_initial]
    final = [leg for leg in gauge if leg >= proc.n_initial]
    for leg in initial[:1] + final[:1]:
        assert_gauge_invariant(proc, momenta, leg, monkeypatch)


def assert_gauge_invariant(proc, momenta, leg, monkeypatch):
    """Replace leg's polarisation vector by its momentum: the colour-summed |M|^2 must vanish."""
    module = proc._module
    physical = colour_summed(proc, momenta)
    original = module.leg_states
    target = np.asarray(momenta[:, leg, :]).T  # (4, batch)

    def leg_states(kind, p, m, helicities, flag):
        if kind == "vector" and np.allclose(np.asarray(p), target):
            scaled = jnp.asarray(p, dtype=jnp.complex128) / jnp.asarray(p[0])
            return [tuple(scaled) for _ in helicities]
        return original(kind, p, m, helicities, flag)

    with monkeypatch.context() as patch:
        patch.setattr(module, "leg_states", leg_states)
        unphysical = colour_summed(proc, momenta)
    assert np.all(unphysical <= 1e-20 * physical), (leg, unphysical / physical)


def zero_widths(proc):
    """Widths of the unstable particles that couple to photons or gluons, set to zero."""
    return {name: 0.0 for name in proc.default_parameters() if name in CHARGED_WIDTHS}


CHARGED_WIDTHS = ("WW", "WT")


def colour_summed(proc, momenta):
    module = proc._module
    p = jnp.transpose(jnp.asarray(momenta), (1, 2, 0))
    parameters = module_parameters(proc, zero_widths(proc))
    return np.asarray(module.matrix_element(p, parameters))


def module_parameters(proc, overrides=None):
    return proc._parameters.compute_parameters(proc.complete_parameters(overrides))


def test_random_points_are_lorentz_and_gauge_invariant(generate_package, monkeypatch):
    proc = generate_package("sm", "g g > t t~ g", "gg_ttxg")
    rng = np.random.default_rng(7)
    momenta = collision_points(1000.0, (0, 0), (173.0, 173.0, 0.0), rng, 5)
    original = np.asarray(proc.matrix_element(momenta, zero_widths(proc)))
    assert np.all(original > 0)
    matrix = rotation_matrix([0.2, 1.0, 0.3], 2.1) @ boost_matrix([0.1, 0.2, 0.9])
    np.testing.assert_allclose(proc.matrix_element(transform(momenta, matrix), zero_widths(proc)), original,
                               rtol=1e-10)
    for leg in (0, 1, 4):
        assert_gauge_invariant(proc, momenta, leg, monkeypatch)


# --- closed forms -------------------------------------------------------------------------


def sm_couplings(parameters):
    """Electroweak inputs of the UFO sm in the Gf scheme, as MadGraph computes them."""
    aEW = 1 / parameters["aEWM1"]
    MZ, Gf = parameters["MZ"], parameters["Gf"]
    MW = np.sqrt(MZ ** 2 / 2 + np.sqrt(MZ ** 4 / 4 - aEW * np.pi * MZ ** 2 / (Gf * np.sqrt(2))))
    sw2 = 1 - MW ** 2 / MZ ** 2
    return np.sqrt(4 * np.pi * aEW), sw2


def ee_to_mumu_closed_form(momenta, parameters):
    """Spin-averaged |M|^2 of e+ e- > mu+ mu- through gamma and Z, massless fermions:
    (e^4 s^2 / 4) sum_ij |A_ij|^2 (1 +- cos theta)^2, A_ij = Q^2/s + g_i g_j / (s - MZ^2 + i MZ WZ)."""
    ee, sw2 = sm_couplings(parameters)
    sw, cw = np.sqrt(sw2), np.sqrt(1 - sw2)
    q_lepton, t3 = -1.0, -0.5
    g_left = (t3 - q_lepton * sw2) / (sw * cw)
    g_right = -q_lepton * sw2 / (sw * cw)
    p_eplus, p_eminus, p_muplus, p_muminus = (momenta[:, i] for i in range(4))
    s = dot(p_eplus + p_eminus, p_eplus + p_eminus)
    cos_theta = 1 - 2 * dot(p_eminus, p_muminus) / (s / 2)
    propagator = 1 / (s - parameters["MZ"] ** 2 + 1j * parameters["MZ"] * parameters["WZ"])
    amplitude = {(i, j): q_lepton ** 2 / s + gi * gj * propagator
                 for i, gi in (("L", g_left), ("R", g_right)) for j, gj in (("L", g_left), ("R", g_right))}
    same = np.abs(amplitude["L", "L"]) ** 2 + np.abs(amplitude["R", "R"]) ** 2
    opposite = np.abs(amplitude["L", "R"]) ** 2 + np.abs(amplitude["R", "L"]) ** 2
    return ee ** 4 * s ** 2 / 4 * (same * (1 + cos_theta) ** 2 + opposite * (1 - cos_theta) ** 2)


def ee_to_mumu_polarised_closed_form(momenta, parameters, p_eplus, p_eminus):
    """|M|^2 of e+ e- > mu+ mu- for beams of helicity polarisations P(e+), P(e-) in [-1, 1] (MadGraph's
    polbeam / 100): a left-handed electron meets a right-handed positron, weight (1 - P(e-)) (1 + P(e+)),
    and the other way round (1 + P(e-)) (1 - P(e+)); the average over the beams' helicities stays (1/4)."""
    ee, sw2 = sm_couplings(parameters)
    sw, cw = np.sqrt(sw2), np.sqrt(1 - sw2)
    g = {"L": (-0.5 + sw2) / (sw * cw), "R": sw2 / (sw * cw)}
    p_eplus_, p_eminus_, _, p_muminus = (momenta[:, i] for i in range(4))
    s = dot(p_eplus_ + p_eminus_, p_eplus_ + p_eminus_)
    cos_theta = 1 - 2 * dot(p_eminus_, p_muminus) / (s / 2)
    propagator = 1 / (s - parameters["MZ"] ** 2 + 1j * parameters["MZ"] * parameters["WZ"])
    amplitude = {(i, j): 1 / s + g[i] * g[j] * propagator for i in "LR" for j in "LR"}
    weight = {"L": (1 - p_eminus) * (1 + p_eplus), "R": (1 + p_eminus) * (1 - p_eplus)}
    total = sum(weight[i] * (np.abs(amplitude[i, i]) ** 2 * (1 + cos_theta) ** 2
                             + np.abs(amplitude[i, "R" if i == "L" else "L"]) ** 2 * (1 - cos_theta) ** 2)
                for i in "LR")
    return ee ** 4 * s ** 2 / 4 * total


@pytest.mark.parametrize("sqrt_s", [20.0, 91.188, 250.0])
def test_polarised_beams_against_the_chiral_closed_form(generate_package, sqrt_s):
    """sum_h polarisation_factors[h] |M_h|^2 (what a run with polbeam1/2 integrates) against the chiral
    amplitudes, for partly and fully polarised beams of either sign; unpolarised it is |M|^2."""
    proc = generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")
    momenta = collision_points(sqrt_s, (0, 0), (0, 0), np.random.default_rng(12), 20)
    weights = np.asarray(proc.helicity_weights(momenta))
    for p_eplus, p_eminus in [(0.0, 0.0), (0.3, -0.8), (-0.3, 0.8), (1.0, -1.0), (1.0, 1.0), (-0.6, 0.0)]:
        polarised = weights @ proc.polarisation_factors((p_eplus, p_eminus))
        expected = ee_to_mumu_polarised_closed_form(momenta, proc.default_parameters(), p_eplus, p_eminus)
        np.testing.assert_allclose(polarised, expected, rtol=1e-10, atol=1e-14 * np.max(expected))
    np.testing.assert_allclose(weights @ proc.polarisation_factors((0.0, 0.0)), proc.matrix_element(momenta),
                               rtol=1e-12)


def test_polarisations_are_checked(generate_package):
    proc = generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")
    for bad in [(0.5,), (0.2, 1.5), (0.1, 0.2, 0.3)]:
        with pytest.raises(InputShapeError, match="one per initial particle"):
            proc.polarisation_factors(bad)
    massive = generate_package("sm", "z z > mu+ mu-", "zz_mupmum")  # a Z has helicity 0 as well
    with pytest.raises(InputShapeError, match="helicity-0 state"):
        massive.polarisation_factors((0.5, 0.0))
    assert np.all(massive.polarisation_factors((0.0, 0.0)) == 1.0)


@pytest.mark.parametrize("sqrt_s", [20.0, 91.188, 250.0, 3000.0])
def test_ee_to_mumu_closed_form(generate_package, sqrt_s):
    proc = generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")
    rng = np.random.default_rng(11)
    momenta = collision_points(sqrt_s, (0, 0), (0, 0), rng, 20)
    expected = ee_to_mumu_closed_form(momenta, proc.default_parameters())
    assert np.all(np.isfinite(expected)) and np.all(expected > 0)
    np.testing.assert_allclose(proc.matrix_element(momenta), expected, rtol=1e-10)


def gg_to_ttbar_closed_form(momenta, aS, mt):
    """Spin- and colour-averaged |M|^2 of g g > t t~ (Ellis, Stirling, Webber eq. 10.12):
    g^4 (1/(6 tau1 tau2) - 3/8) (tau1^2 + tau2^2 + rho - rho^2/(4 tau1 tau2)),
    tau_i = 2 p_i.p_t / s, rho = 4 m^2 / s."""
    p1, p2, p3 = momenta[:, 0], momenta[:, 1], momenta[:, 2]
    s = dot(p1 + p2, p1 + p2)
    tau1, tau2 = 2 * dot(p1, p3) / s, 2 * dot(p2, p3) / s
    rho = 4 * mt ** 2 / s
    g4 = (4 * np.pi * aS) ** 2
    return g4 * (1 / (6 * tau1 * tau2) - 3 / 8) * (tau1 ** 2 + tau2 ** 2 + rho - rho ** 2 / (4 * tau1 * tau2))


@pytest.mark.parametrize("sqrt_s", [350.0, 500.0, 2000.0])
def test_gg_to_ttbar_closed_form(generate_package, sqrt_s):
    proc = generate_package("sm", "g g > t t~", "gg_ttx")
    parameters = proc.default_parameters()
    rng = np.random.default_rng(5)
    mt = parameters["MT"]
    momenta = collision_points(sqrt_s, (0, 0), (mt, mt), rng, 20)
    expected = gg_to_ttbar_closed_form(momenta, parameters["aS"], mt)
    assert np.all(np.isfinite(expected)) and np.all(expected > 0)
    np.testing.assert_allclose(proc.matrix_element(momenta), expected, rtol=1e-10)
    # and away from the defaults: the closed form follows the parameters
    heavier = {"MT": 180.0, "aS": 0.13}
    momenta = collision_points(sqrt_s + 20.0, (0, 0), (180.0, 180.0), rng, 5)
    got = np.asarray(proc.matrix_element(momenta, heavier))
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    np.testing.assert_allclose(got, gg_to_ttbar_closed_form(momenta, 0.13, 180.0), rtol=1e-10)
