"""Cuts: kinematics helpers, MadGraph particle classes, the jit-able mask, divergence check."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from madgen.errors import RunCardError
from madgen.runtime import kinematics
from madgen.runtime.cuts import check_divergent, cut_function, particle_class, plan_cuts, rapidity_window
from madgen.runtime.runcard import Cuts, parse_run_card

NO_CUTS = {key: (-1.0 if key.endswith("max") or key in ("etaj", "etab", "etaa", "etal") else 0.0)
           for key in Cuts().as_dict()}


def massless(pt, eta, phi):
    """(E, px, py, pz) of a massless particle."""
    return [pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)]


def test_kinematics():
    p = jnp.array(massless(30.0, 1.2, 0.7))
    assert kinematics.transverse_momentum(p) == pytest.approx(30.0)
    assert kinematics.pseudorapidity(p) == pytest.approx(1.2)
    assert kinematics.rapidity(p) == pytest.approx(1.2)  # massless: y = eta
    assert kinematics.azimuth(p) == pytest.approx(0.7)
    massive = jnp.array([10.0, 1.0, 2.0, 3.0])
    assert kinematics.invariant_mass(massive) == pytest.approx(math.sqrt(100 - 14))
    assert kinematics.rapidity(massive) == pytest.approx(0.5 * math.log(13 / 7))
    assert kinematics.pseudorapidity(massive) == pytest.approx(math.asinh(3 / math.sqrt(5)))


def test_delta_r_wraps_around_pi():
    a, b = jnp.array(massless(20, 0.0, math.pi - 0.1)), jnp.array(massless(20, 0.3, -math.pi + 0.1))
    assert kinematics.delta_phi(a, b) == pytest.approx(0.2)
    assert kinematics.delta_r(a, b) == pytest.approx(math.hypot(0.2, 0.3))
    back_to_back = jnp.array(massless(20, 0.0, 0.0)), jnp.array(massless(20, 0.0, math.pi))
    assert kinematics.delta_phi(*back_to_back) == pytest.approx(math.pi)


def test_pair_mass_of_back_to_back_massless():
    a, b = jnp.array(massless(40, 0.0, 0.0)), jnp.array(massless(40, 0.0, math.pi))
    assert kinematics.pair_mass(a, b) == pytest.approx(80.0)


@pytest.mark.parametrize("pdg, maxjetflavor, expected", [
    (21, 4, "j"), (1, 4, "j"), (-2, 4, "j"), (3, 4, "j"), (-4, 4, "j"),
    (5, 4, "b"), (-5, 4, "b"), (5, 5, "j"), (4, 3, "b"),
    (22, 4, "a"), (11, 4, "l"), (-13, 4, "l"), (15, 4, "l"),  # MadGraph counts taus as leptons
    (12, 4, None), (-14, 4, None), (16, 4, None), (6, 4, None), (23, 4, None), (-24, 4, None),
    (25, 4, None), (1000021, 4, None),
])
def test_particle_classes(pdg, maxjetflavor, expected):
    assert particle_class(pdg, maxjetflavor) == expected


def test_heavy_by_mass_is_not_cut():
    assert particle_class(5, 4, mass=4.7) == "b" and particle_class(11, 4, mass=20.0) is None


def event(*particles, sqrt_s=200.0):
    """Two beams along z and the given final-state momenta (momentum balance does not matter here)."""
    beams = [[sqrt_s / 2, 0, 0, sqrt_s / 2], [sqrt_s / 2, 0, 0, -sqrt_s / 2]]
    return beams + [list(p) for p in particles]


def test_pt_eta_and_dr_cuts_on_jets():
    passes = jax.jit(cut_function(Cuts(), [21, 21, 21, 21], n_initial=2))
    momenta = jnp.array([
        event(massless(50, 0.0, 0.0), massless(50, 0.0, math.pi)),  # passes
        event(massless(15, 0.0, 0.0), massless(50, 0.0, math.pi)),  # ptj = 20 fails
        event(massless(50, 5.5, 0.0), massless(50, 0.0, math.pi)),  # etaj = 5 fails
        event(massless(50, 0.0, 0.1), massless(50, 0.2, 0.2)),  # drjj = 0.4 fails
        event(massless(50, 0.0, math.pi - 0.1), massless(50, 0.0, -math.pi + 0.1)),  # dR 0.2 across pi fails
        event(massless(50, 0.0, math.pi - 0.3), massless(50, 0.0, -math.pi + 0.3)),  # dR 0.6 across pi passes
    ])
    assert passes(momenta).tolist() == [True, False, False, False, False, True]


def test_max_cuts_and_pair_mass_window():
    cuts = dict(NO_CUTS, ptjmax=100.0, mmjj=50.0, mmjjmax=150.0)
    passes = cut_function(cuts, [1, -1, 2, -2], n_initial=2)
    momenta = jnp.array([
        event(massless(40, 0.0, 0.0), massless(40, 0.0, math.pi)),  # m = 80
        event(massless(120, 0.0, 0.0), massless(40, 0.0, math.pi)),  # ptjmax fails
        event(massless(10, 0.0, 0.0), massless(10, 0.0, math.pi)),  # m = 20 < mmjj
        event(massless(90, 0.0, 0.0), massless(90, 0.0, math.pi)),  # m = 180 > mmjjmax
    ])
    assert passes(momenta).tolist() == [True, False, False, False]


def test_mmll_only_for_same_flavour_opposite_sign():
    cuts = dict(NO_CUTS, mmll=100.0)
    pair = event(massless(20, 0.0, 0.0), massless(20, 0.0, math.pi))  # m = 40
    assert not cut_function(cuts, [1, -1, 11, -11], 2)(jnp.array([pair]))[0]
    assert cut_function(cuts, [1, -1, 11, -13], 2)(jnp.array([pair]))[0]
    assert cut_function(cuts, [1, -1, 11, 11], 2)(jnp.array([pair]))[0]


def test_photons_leptons_and_uncut_particles():
    cuts = parse_run_card("sqrt_s: 200").cuts  # pta = ptl = 10, etaa = etal = 2.5, dral = 0.4
    passes = cut_function(cuts, [11, -11, 22, 13, 12, 6], 2)
    nu_and_top = [massless(1, 7.0, 0.0), [200, 0, 0, 100]]  # along the beam: never cut
    good = event(massless(30, 1.0, 0.0), massless(30, -1.0, 2.0), *nu_and_top)
    soft_photon = event(massless(5, 1.0, 0.0), massless(30, -1.0, 2.0), *nu_and_top)
    forward_lepton = event(massless(30, 1.0, 0.0), massless(30, -2.6, 2.0), *nu_and_top)
    close = event(massless(30, 1.0, 0.0), massless(30, 1.2, 0.2), *nu_and_top)
    assert passes(jnp.array([good, soft_photon, forward_lepton, close])).tolist() == [True, False, False, False]


def test_trivial_cuts_and_decays():
    plan = plan_cuts(NO_CUTS, [11, -11, 21, 21], 2)
    assert plan.is_trivial
    assert plan_cuts(Cuts(), [6, 5, 24], n_initial=1).is_trivial  # decays: no cuts, as MadGraph
    momenta = np.zeros((3, 4, 4))
    assert cut_function(NO_CUTS, [11, -11, 21, 21], 2)(momenta).tolist() == [True] * 3


def test_divergence_checks():
    no_pt = dict(Cuts().as_dict(), ptj=0.0)
    problems = check_divergent([21, 21, 21, 21], no_pt)
    assert len(problems) == 1 and "ptj" in problems[0] and "infinite" in problems[0]
    assert check_divergent([21, 21, 21, 21], Cuts()) == []
    assert check_divergent([11, -11, 2, -2], no_pt) == []  # s-channel only: finite
    assert any("ptj" in p for p in check_divergent([11, -11, 2, -2, 21], no_pt))
    collinear = dict(no_pt, ptj=20.0, drjj=0.0, mmjj=0.0)
    assert any("drjj" in p for p in check_divergent([11, -11, 1, -1, 21], collinear))
    assert check_divergent([21, 21, 6, -6], no_pt) == []
    (b_jet,) = check_divergent([21, 5, 23, 5], Cuts(), masses=[0.0, 0.0, 91.188, 0.0])  # 5-flavour p p > z j
    assert "cuts.ptb > 0" in b_jet and "'maxjetflavor: 5'" in b_jet
    assert check_divergent([21, 5, 23, 5], Cuts(), maxjetflavor=5, masses=[0.0, 0.0, 91.188, 0.0]) == []
    assert any("pta" in p for p in check_divergent([11, -11, 22, 22], dict(NO_CUTS)))
    assert check_divergent([11, -11, 13, -13], dict(NO_CUTS)) == []
    assert any("ptl" in p for p in check_divergent([11, -11, 11, -11], dict(NO_CUTS)))  # Bhabha
    assert check_divergent([6, 5, 24], dict(NO_CUTS), n_initial=1) == []


def test_divergence_checks_count_a_two_body_decay_as_one_massive_particle():
    """e+ e- > z h, z > mu+ mu- with no lepton cuts is finite (the muons come from the Z inside its
    bwcutoff window), while e+ e- > mu+ mu- h with no cuts is not (a photon can split into them);
    a three-body decay keeps its massless products in the check."""
    z_to_mumu = [{"particle": "Z", "pdg": 23, "mass": "MZ", "width": "WZ", "legs": [3, 4], "parent": None}]
    zh = [11, -11, -13, 13, 25]
    assert any("ptl" in p for p in check_divergent(zh, dict(NO_CUTS)))
    assert check_divergent(zh, dict(NO_CUTS), decays=z_to_mumu) == []
    top = [{"particle": "t", "pdg": 6, "mass": "MT", "width": "WT", "legs": [3, 4, 5], "parent": None},
           {"particle": "W+", "pdg": 24, "mass": "MW", "width": "WW", "legs": [3, 4], "parent": 0}]
    assert check_divergent([21, 21, -11, 12, 5, -6], dict(NO_CUTS), decays=top) == []
    three_body = [{"particle": "Z", "pdg": 23, "mass": "MZ", "width": "WZ", "legs": [3, 4, 5], "parent": None}]
    assert any("pta" in p for p in check_divergent([11, -11, -13, 13, 22], dict(NO_CUTS), decays=three_body))


def boosted(momenta, y):
    """Momenta (batch, n, 4) boosted along z by rapidity y (batch,)."""
    ch, sh = np.cosh(y)[:, None], np.sinh(y)[:, None]
    e, pz = momenta[..., 0], momenta[..., 3]
    return np.stack([ch * e + sh * pz, momenta[..., 1], momenta[..., 2], sh * e + ch * pz], axis=-1)


def test_rapidity_window_holds_every_boost_that_passes_the_eta_cuts():
    """Two jets (massless) and a massive b quark (m = 4.7) with |eta| cuts 2.5 and 1.5, random momenta
    and boosts: every boost that passes all eta cuts lies in the window; for the massless jets alone
    the window is exactly the accepted range; a leg along the beam (no pT) empties it."""
    rng = np.random.default_rng(7)
    n = 4000
    masses = np.array([0.0, 0.0, 0.0, 0.0, 4.7])
    three = rng.normal(scale=[30.0, 30.0, 150.0], size=(n, 3, 3))
    energy = np.sqrt(np.sum(three ** 2, axis=-1) + masses[2:] ** 2)
    momenta = np.concatenate([np.zeros((n, 2, 4)), np.concatenate([energy[..., None], three], axis=-1)], axis=1)
    y = rng.uniform(-5.0, 5.0, size=n)
    cuts = {"etaj": 2.5, "etab": 1.5, "ptj": 0.0, "ptb": 0.0, "drjj": 0.0, "drbj": 0.0}
    pdg = [21, 21, 21, 1, 5]
    plan = plan_cuts(cuts, pdg, 2, masses=masses)
    assert plan.rapidity_limits == ((2, 2.5), (3, 2.5), (4, 1.5))
    lower, upper = map(np.asarray, rapidity_window(jnp.asarray(momenta), jnp.asarray(masses), plan.rapidity_limits))
    passes = np.asarray(cut_function(cuts, pdg, 2, masses=masses)(jnp.asarray(boosted(momenta, y))))
    assert 0.05 < passes.mean() < 0.5
    assert np.all((lower[passes] <= y[passes] + 1e-12) & (y[passes] <= upper[passes] + 1e-12))
    jets = plan_cuts({"etaj": 2.5, "ptj": 0.0, "drjj": 0.0}, [21, 21, 21, 1], 2).rapidity_limits
    lower, upper = map(np.asarray, rapidity_window(jnp.asarray(momenta[:, :4]), jnp.asarray(masses[:4]), jets))
    passes = np.asarray(cut_function({"etaj": 2.5, "ptj": 0.0, "drjj": 0.0}, [21, 21, 21, 1], 2)(
        jnp.asarray(boosted(momenta[:, :4], y))))
    inside = (lower < y) & (y < upper)
    clear = np.minimum(np.abs(y - lower), np.abs(y - upper)) > 1e-9
    assert np.array_equal(passes[clear], inside[clear]) and 0.05 < inside.mean() < 0.5
    along = momenta[:1].copy()
    along[0, 2] = [50.0, 0.0, 0.0, 50.0]
    lower, upper = rapidity_window(jnp.asarray(along), jnp.asarray(masses), plan.rapidity_limits)
    assert float(upper[0]) < float(lower[0])


def test_decay_products_are_uncut_without_cut_decays():
    """MadGraph's cut_decays = false exempts the products of decay-chain resonances, not those of a
    required s-channel (p p > z > e+ e-); with cut_decays every leg is cut again."""
    from madgen.runtime.cuts import uncut_legs

    chain = [{"particle": "Z", "legs": [4, 5], "parent": None}]
    required = [{"particle": "Z", "legs": [3, 4], "parent": None, "required": True}]
    assert uncut_legs(chain) == {3, 4}
    assert uncut_legs(chain, cut_decays=True) == frozenset()
    assert uncut_legs(required) == frozenset()
    pdg_ids = [-11, 11, 25, -13, 13]
    cuts = {"ptl": 10.0, "etal": 2.5, "drll": 0.4, "mmll": 5.0}
    assert plan_cuts(cuts, pdg_ids, 2, uncut=uncut_legs(chain)).is_trivial
    plan = plan_cuts(cuts, pdg_ids, 2)
    assert [s[0] for s in plan.singles] == [3, 4] and [p[:2] for p in plan.pairs] == [(3, 4)]


def test_uncut_decay_products_that_can_be_soft_are_named():
    """Z -> e+ e- a without cuts on its products diverges (soft photon); a two-body decay does not."""
    three_body = [{"particle": "Z", "legs": [4, 5, 6], "parent": None}]
    pdg_ids, masses = [-11, 11, 25, -11, 11, 22], [0, 0, 125, 0, 0, 0]
    problems = check_divergent(pdg_ids, Cuts(), masses=masses, decays=three_body, uncut={3, 4, 5})
    assert any("decay of the Z" in p and "cut_decays: true" in p for p in problems), problems
    assert check_divergent(pdg_ids, Cuts(), masses=masses, decays=three_body) == []
    two_body = [{"particle": "Z", "legs": [4, 5], "parent": None}]
    assert check_divergent([-11, 11, 25, -13, 13], Cuts(), masses=[0] * 2 + [125] + [0] * 2, decays=two_body,
                           uncut={3, 4}) == []


def test_cuts_by_pdg_id_and_ptheavy_plan():
    """MadGraph's pt_min_pdg / eta_max_pdg / mxx_min_pdg act on the heavy particles the class cuts skip
    (not on decay products without cut_decays); ptheavy wants one heavy particle above it."""
    cuts = parse_run_card("sqrt_s: 1000\ncuts:\n  pt_min_pdg: {6: 100}\n  eta_max_pdg: {6: 2}\n"
                          "  mxx_min_pdg: {6: 500}\n  ptheavy: 300").cuts
    pdg_ids, masses = [21, 21, 6, -6, 21], [0, 0, 173, 173, 0]
    plan = plan_cuts(cuts, pdg_ids, 2, masses=masses)
    assert plan.singles[:2] == ((2, 100.0, math.inf, 0.0, math.inf, 0.0, 2.0), (3, 100.0, math.inf, 0.0, math.inf,
                                                                                  0.0, 2.0))
    assert plan.pairs == ((2, 3, 0.0, math.inf, 500.0, math.inf),) and plan.event.at_least_one == (((2, 3), 300.0),)
    assert [s[0] for s in plan_cuts(cuts, pdg_ids, 2, masses=masses, uncut={2}).singles] == [3, 4]
    same_sign = parse_run_card("sqrt_s: 1000\ncuts:\n  mxx_min_pdg: {6: 500}\n"
                               "  mxx_only_part_antipart: {default: true}").cuts
    assert plan_cuts(same_sign, [21, 21, 6, 6, -6, -6], 2, masses=[0, 0] + [173] * 4).pairs == tuple(
        (a, b, 0.0, math.inf, 500.0, math.inf) for a, b in ((2, 4), (2, 5), (3, 4), (3, 5)))
    passes = cut_function(cuts, pdg_ids, 2, masses=masses)
    e_top = math.sqrt(173.0**2 + 350.0**2)
    event = [[600, 0, 0, 600], [600, 0, 0, -600], [e_top, 350, 0, 0], [e_top, -340, 0, 0], [10, -10, 0, 0]]
    assert bool(passes(jnp.asarray([event]))[0]) is False  # m(t t~) ~ 2 e_top > 500, pT ok; gluon pT 10 < 20
    event[4], event[3] = [30, -30, 0, 0], [e_top, -320, 0, 0]
    assert bool(passes(jnp.asarray([event]))[0])
    event[2], event[3] = [e_top, 250, 0, 0], [e_top, -220, 0, 0]
    assert bool(passes(jnp.asarray([event]))[0]) is False  # no top above ptheavy = 300


@pytest.mark.parametrize("bad, culprit", [
    ("pt_min_pdg: {5: 10}", "PDG id 5 is a jet, b, lepton or photon"),
    ("pt_min_pdg: {-6: 10}", "give the positive id"),
    ("pt_max_pdg: {6: 0}", "-1 (no cut) or a positive number"),
    ("eta_max_pdg: 2.5", "expected a mapping of PDG ids"),
    ("mxx_only_part_antipart: {6: 1}", "expected true or false"),
])
def test_cuts_by_pdg_id_refuse_what_madgraph_refuses(bad, culprit):
    with pytest.raises(RunCardError, match=re.escape(culprit)):
        parse_run_card(f"sqrt_s: 1000\ncuts:\n  {bad}")


def test_a_pt_cut_on_the_top_by_pdg_id_end_to_end(generate_package, tmp_path):
    """e+ e- > t t~ at 500 GeV with pt_min_pdg {6: 150} and eta_max_pdg {6: 1}: the launched cross section
    against the quadrature of the package's own |M|^2 over the accepted polar angles."""
    from madgen import api

    proc = generate_package("sm", "e+ e- > t t~", "cuts_pdg_eett")
    sqrt_s, mt = 500.0, float(proc.default_parameters()["MT"])
    p = math.sqrt(sqrt_s**2 / 4 - mt**2)
    c_pt = math.sqrt(1 - (150.0 / p) ** 2)                       # pT > 150: |cos theta| < c_pt
    c_eta = math.tanh(1.0)                                        # |eta| < 1: |cos theta| < tanh 1
    c_max = min(c_pt, c_eta)
    nodes, weights = np.polynomial.legendre.leggauss(64)
    cos = c_max * nodes
    sin = np.sqrt(1 - cos**2)
    e = sqrt_s / 2
    momenta = np.stack([np.array([[e, 0, 0, e], [e, 0, 0, -e], [e, p * s, 0, p * c], [e, -p * s, 0, -p * c]])
                        for c, s in zip(cos, sin)])
    me2 = np.asarray(proc.matrix_element(momenta))
    gev2_to_pb = 0.3893793721e9
    expected = 2 * math.pi * c_max * np.sum(weights * me2) * p / (64 * math.pi**2 * sqrt_s**2 * e) * gev2_to_pb
    card = {"sqrt_s": sqrt_s, "n_events": 10, "seed": 5, "iterations": 4, "points_per_iteration": 10000,
            "lhe": False, "columnar": None, "cuts": {"pt_min_pdg": {6: 150.0}, "eta_max_pdg": {6: 1.0}}}
    run = api.launch(proc._dir, card, output=tmp_path / "run", log=lambda *a, **k: None, progress=False)
    assert abs(run.cross_section_pb - expected) < 4 * run.error_pb + 1e-9 * expected, (run.cross_section_pb, expected)
    full = np.stack([np.array([[e, 0, 0, e], [e, 0, 0, -e], [e, p * s, 0, p * c], [e, -p * s, 0, -p * c]])
                     for c, s in zip(nodes, np.sqrt(1 - nodes**2))])
    uncut = 2 * math.pi * np.sum(weights * np.asarray(proc.matrix_element(full))) * p / (
        64 * math.pi**2 * sqrt_s**2 * e) * gev2_to_pb
    assert expected < 0.8 * uncut  # the cuts remove a fifth or more: a run ignoring them would fail above


def test_eta_cuts_take_the_rapidity_as_madgraph():
    """MadGraph's cuts.f compares |rap(p)| with etal (rap: 1/2 ln((E + pz) / (E - pz))): a tau at
    y = 2.45 passes etal = 2.5 although its pseudorapidity is larger than 2.5."""
    mass, pt, y = 1.777, 3.0, 2.45
    mt = math.hypot(mass, pt)
    tau = [mt * math.cosh(y), pt, 0.0, mt * math.sinh(y)]
    assert float(kinematics.pseudorapidity(jnp.asarray(tau))) > 2.5
    passes = cut_function({"ptl": 1.0, "etal": 2.5}, [11, -11, 15, -15], 2, masses=[0, 0, mass, mass])
    event = [[50, 0, 0, 50], [50, 0, 0, -50], tau, [50, -pt, 0, 0]]
    assert bool(passes(jnp.asarray([event]))[0])
    event[2] = [mt * math.cosh(2.55), pt, 0.0, mt * math.sinh(2.55)]
    assert not bool(passes(jnp.asarray([event]))[0])


def _event(*final):
    """Two incoming partons (their momenta do not matter to cuts) and the final-state momenta."""
    return jnp.asarray([[[100, 0, 0, 100], [100, 0, 0, -100], *final]], dtype=float)


def _massless(pt, y, phi=0.0):
    return [pt * math.cosh(y), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(y)]


@pytest.mark.parametrize("cuts, final, passes", [
    # xptj: at least one jet above 50
    ({"xptj": 50}, [(60, 0), (30, 1)], True), ({"xptj": 50}, [(40, 0), (30, 1)], False),
    # ordered jet pTs: hardest above 50, second above 35 (cutuse 0: both)
    ({"ptj1min": 50, "ptj2min": 35}, [(30, 0), (60, 1)], False),
    ({"ptj1min": 50, "ptj2min": 35}, [(40, 0), (60, 1)], True),
    ({"ptj1min": 50, "ptj2min": 35, "cutuse": 1}, [(30, 0), (60, 1)], True),
    ({"ptj3min": 10}, [(40, 0), (60, 1)], False),          # no third jet
    ({"ptj1max": 50}, [(40, 0), (60, 1)], False),
    # HT of the jets, of the two hardest, of jets and b quarks
    ({"htjmin": 100}, [(40, 0), (50, 1)], False), ({"htjmin": 80}, [(40, 0), (50, 1)], True),
    ({"htjmax": 80}, [(40, 0), (50, 1)], False), ({"ihtmin": 100}, [(40, 0), (50, 1)], False),
    ({"ht2min": 80}, [(40, 0), (50, 1)], True),
    # weak-boson fusion: opposite hemispheres, |y| >= 2, gap >= 4.5
    ({"xetamin": 2.0}, [(40, 2.5), (50, -2.2)], True), ({"xetamin": 2.0}, [(40, 2.5), (50, 2.2)], False),
    ({"deltaeta": 4.5}, [(40, 2.5), (50, -2.2)], True), ({"deltaeta": 5.0}, [(40, 2.5), (50, -2.2)], False),
])
def test_event_cuts_on_jets(cuts, final, passes):
    """MadGraph's cuts.f on the jets as a whole (u d~ > e+ ve g g: the jets are the two gluons; the
    lepton and neutrino sit at pT 30 back to back, passing the default lepton cuts)."""
    pdg_ids = [2, -1, -11, 12, 21, 21]
    lepton, neutrino = _massless(30, 0.0, 1.0), _massless(30, 0.0, 1.0 + math.pi)
    jets = [_massless(pt, y, phi) for (pt, y), phi in zip(final, (0.0, 2.5))]
    check = cut_function({**cuts, "drjj": 0, "etaj": -1}, pdg_ids, 2, masses=[0] * 6)
    assert bool(check(_event(lepton, neutrino, *jets))[0]) is passes


@pytest.mark.parametrize("cuts, passes", [
    ({"misset": 25}, True), ({"misset": 35}, False), ({"missetmax": 25}, False),
    ({"ptllmin": 5}, False),       # the e+ ve pair is back to back: pT 0
    ({"ptllmax": 5}, True),
    ({"mmnl": 50}, True), ({"mmnl": 70}, False),     # m(e+ ve) = 60
    ({"xptl": 25}, True), ({"xptl": 35}, False), ({"ptl1min": 35}, False), ({"ptl2min": 5}, False),
])
def test_event_cuts_on_leptons_and_neutrinos(cuts, passes):
    pdg_ids = [2, -1, -11, 12, 21]
    lepton, neutrino, jet = _massless(30, 0.0, 0.0), _massless(30, 0.0, math.pi), _massless(40, 0.5, 1.0)
    check = cut_function(cuts, pdg_ids, 2, masses=[0] * 5)
    assert bool(check(_event(lepton, neutrino, jet))[0]) is passes


def test_event_cuts_on_absent_classes_are_ignored_as_in_madgraph():
    """setcuts.f drops xptj without jets and misset without neutrinos; a minimum of an ordered pT or of
    HT that no particle can meet removes every event."""
    pdg_ids, final = [11, -11, 13, -13], [_massless(40, 0.2, 0.0), _massless(40, -0.2, math.pi)]
    for cuts in ({"xptj": 50}, {"misset": 20}, {"xptb": 10}, {"xetamin": 2}):
        assert plan_cuts(cuts, pdg_ids, 2).event is None
        assert bool(cut_function(cuts, pdg_ids, 2)(_event(*final))[0])
    for cuts in ({"ptj1min": 10}, {"htjmin": 10}, {"ihtmin": 10}):
        assert not bool(cut_function(cuts, pdg_ids, 2)(_event(*final))[0])


def test_dsqrt_shat_bounds_the_partonic_energy():
    """MadGraph's dsqrt_shat / dsqrt_shatmax: a window on sqrt(s-hat), which also bounds the sampled
    partonic energy of hadron beams."""
    from madgen.runtime.cuts import partonic_energy_bounds

    pdg_ids, masses = [21, 21, 6, -6, 21], [0, 0, 173, 173, 0]
    cuts = {"dsqrt_shat": 600, "dsqrt_shatmax": 900, "ptj": 20}
    assert partonic_energy_bounds(cuts, pdg_ids, 2, masses=masses) == (600.0, 900.0)
    assert partonic_energy_bounds({"ptj": 20}, pdg_ids, 2, masses=masses) == (2 * 173 + 20, math.inf)
    check = cut_function(cuts, pdg_ids, 2, masses=masses)
    top = lambda p, sign: [math.hypot(173, p), sign * p, 0, 0]  # noqa: E731
    inside = [top(300, 1), top(270, -1), [30, -30, 0, 0]]       # sqrt(s-hat) about 737
    outside = [top(100, 1), top(70, -1), [30, -30, 0, 0]]       # about 404
    assert bool(check(_event(*inside))[0]) and not bool(check(_event(*outside))[0])


def test_frixione_isolation_of_photons():
    """MadGraph's ptgmin: the photon's pT above ptgmin, draj dropped, and within R0gamma = 0.4 the partons'
    pT summed outward from the photon at most epsgamma pT(photon) ((1 - cos r) / (1 - cos R0))^xn."""
    cuts = {"ptgmin": 20.0, "R0gamma": 0.4, "xn": 1.0, "epsgamma": 1.0, "ptj": 10.0}
    pdg_ids = [2, -2, 22, 21, 21]
    check = cut_function(cuts, pdg_ids, 2, masses=[0] * 5)
    photon = _massless(50, 0.0, 0.0)
    far = _massless(40, 0.0, 2.0)

    def gluon_at(r, pt):
        return _massless(pt, 0.0, r)

    allowed = lambda r: 50 * (1 - math.cos(r)) / (1 - math.cos(0.4))  # noqa: E731
    assert allowed(0.2) == pytest.approx(12.625, abs=0.001)
    assert bool(check(_event(photon, gluon_at(0.2, 12.0), far))[0])       # inside the cone, under the bound
    assert not bool(check(_event(photon, gluon_at(0.2, 13.0), far))[0])   # over it
    assert bool(check(_event(photon, gluon_at(0.5, 40.0), far))[0])       # outside the cone: any pT
    assert not bool(check(_event(_massless(15, 0.0, 0.0), far, _massless(30, 1.0, 1.0)))[0])  # pT < ptgmin
    # draj = 0.4 by default is dropped: the 0.2-close gluon above passed; without ptgmin it is cut
    plain = cut_function({"ptj": 10.0}, pdg_ids, 2, masses=[0] * 5)
    assert not bool(plain(_event(photon, gluon_at(0.2, 12.0), far))[0])
    # isoEM: a lepton near a photon counts too (e+ e- > e+ e- a), unless isoEM is false
    leptonic = [11, -11, 22, 11, -11]
    event = _event(photon, _massless(30, 0.0, 0.2), _massless(40, 0.5, 3.0))
    assert not bool(cut_function({**cuts, "drll": 0, "dral": 0}, leptonic, 2, masses=[0] * 5)(event)[0])
    assert bool(cut_function({**cuts, "drll": 0, "dral": 0, "isoEM": False}, leptonic, 2, masses=[0] * 5)(event)[0])


def test_uncut_lepton_pair_is_collinear_only_where_a_massless_propagator_makes_it():
    """n2 > n1 mu+ mu- (through a Z or smuons) is finite without cuts on the muons; t > b e+ e- ... with a
    photon splitting into the pair is not: the channel table's massless propagators decide
    (``massless_splittings``), the same-flavour heuristic stays for callers without the table."""
    from madgen.runtime.cuts import massless_splittings

    decay = [{"particle": "n2", "legs": [4, 5, 6], "parent": None}]
    pdg_ids, masses = [-11, 11, 1000022, 1000022, -13, 13], [0, 0, 96.7, 96.7, 0, 0]
    through_z = {"diagrams": [{"propagators": [{"legs": [5, 6], "mass": "MZ"}, {"legs": [4, 5, 6], "mass": "MN2"}]}]}
    through_photon = {"diagrams": [{"propagators": [{"legs": [5, 6], "mass": "ZERO"}]}]}
    assert massless_splittings(through_z) == frozenset()
    assert massless_splittings(through_photon) == {frozenset({5, 6})}
    arguments = dict(masses=masses, decays=decay, uncut={3, 4, 5})
    assert check_divergent(pdg_ids, Cuts(), massless_pairs=massless_splittings(through_z), **arguments) == []
    problems = check_divergent(pdg_ids, Cuts(), massless_pairs=massless_splittings(through_photon), **arguments)
    assert any("decay of the n2" in p and "collinear" in p for p in problems), problems
    assert check_divergent(pdg_ids, Cuts(), **arguments)  # no table: the heuristic names it


def test_a_cut_by_pdg_id_that_cuts_nothing_is_named(generate_package):
    """A PDG id no final-state particle has (a typo: 600 for 6), or one only a decay product has while
    cut_decays is false, cuts nothing: the run warns, naming the key and the id; with cut_decays true the
    decay product is cut and the warning goes."""
    from madgen.runtime.checks import idle_pdg_cuts
    from madgen.runtime.prepared import build_samplers

    proc = generate_package("sm", "e+ e- > t t~, t > b w+", "cuts_pdg_idle")
    card = "sqrt_s: 1000\ncuts:\n  pt_min_pdg: {6: 10, 600: 5}\n  eta_max_pdg: {24: 2.5}\n"
    run = parse_run_card(card)
    assert [(key, code) for key, code, _ in idle_pdg_cuts(proc, run)] == [("eta_max_pdg", 24), ("pt_min_pdg", 600)]
    warnings = []
    build_samplers(proc, run, warn=warnings.append)
    assert any("'pt_min_pdg' for PDG id 600" in w and "no final-state particle" in w for w in warnings), warnings
    assert any("'eta_max_pdg' for PDG id 24" in w and "decay product" in w for w in warnings), warnings
    cut_decays = parse_run_card("cut_decays: true\n" + card)
    assert [(key, code) for key, code, _ in idle_pdg_cuts(proc, cut_decays)] == [("pt_min_pdg", 600)]
