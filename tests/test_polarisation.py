"""Polarised particles, MadGraph's ``w+{0}`` (arXiv:1912.01725; madgen.process.polarisation).

Checked against closed forms, not against the unpolarised code path alone:

* an external polarised leg keeps its helicities: {0} + {L} + {R} is the unpolarised |M|^2 and {T} is
  {L} + {R}, point by point; t -> W+ b gives the W helicity fractions of the top decay,
  F_0 = mt^2 / (mt^2 + 2 MW^2), F_L = 2 MW^2 / (mt^2 + 2 MW^2), F_R = 0 (massless b), and t~ -> W- b~ the
  same with L and R exchanged;
* a decayed polarised W (its propagator's numerator eps eps*): at fixed production kinematics the
  lepton's angle theta in the W rest frame (to the W direction) follows the spin-1 d-functions,
  |M|^2 ~ sin^2 theta for {0}, (1 + cos theta)^2 for {R} and (1 - cos theta)^2 for {L} of W+ -> e+ ve,
  exactly, off shell too (the polarisation vectors are built with sqrt(k^2)); averaged over the lepton's
  azimuth (where the interference between helicities cancels), {T} is {L} + {R} and {0} + {T} + {A} is
  the unpolarised chain ({A} vanishes on the conserved current of massless leptons);
* end to end: ``launch`` of e+ e- > w+{0} w- writes helicity 0 for every W+ and its cross section is the
  Gauss-Legendre integral of the package's |M|^2, also with asymmetric beams (helicities of the partonic
  centre-of-mass frame).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from madgen.errors import ProcessError, UnsupportedFeature
from madgen.model import load_model
from madgen.phasespace.kinematics import cm_to_lab, in_me_frame, partonic_frame
from madgen.process.expand import expand_process, resolve_labels
from madgen.process.syntax import parse_process
from physics import momentum_differences


@pytest.fixture(scope="module")
def sm():
    return load_model("sm")


def subprocesses(model, text):
    return expand_process(model, parse_process(text), resolve_labels(model, {}))


# ------------------------------------------------------------------ syntax and expansion


def test_parse_polarisations():
    spec = parse_process("p p > w+{0} w-{T} j, w+ > e+ ve, (w- > mu-{L} vm~)")
    assert spec.final == ("w+", "w-", "j") and spec.final_polarisations == ("0", "T", "")
    assert spec.decays[0].product_polarisations == () and spec.decays[1].product_polarisations == ("L", "")
    assert parse_process("e+ e- > mu+ mu-").final_polarisations == ()


def test_polarisations_in_subprocesses(sm):
    (sub,) = subprocesses(sm, "e+ e- > z{0} z{T}, z > mu+{L} mu-")
    assert sub.text == "e+ e- > Z{0} Z{T}, Z > mu+{L} mu-, Z > mu+{L} mu-"
    assert sub.polarisations == ("", "", "L", "", "L", "")
    assert [d.polarisation for d in sub.decays] == ["0", "T"]
    assert sub.identical_particle_factor == 1  # a longitudinal and a transverse Z are not identical
    (both,) = subprocesses(sm, "e+ e- > z{0} z{0}")
    assert both.identical_particle_factor == 2 and both.flat_text == "e+ e- > Z{0} Z{0}"
    # labels: one subprocess per assignment, the polarisation kept in its place
    texts = [s.text for s in subprocesses(sm, "p p > w+{0} j")]
    assert "u d~ > W+{0} g" in texts and all("W+{0}" in t for t in texts)


@pytest.mark.parametrize("text, error, words", [
    ("e+{L} e- > mu+ mu-", UnsupportedFeature, ["'e+{L}'", "polbeam1"]),
    ("e+ e- > z > mu+ mu-{X}", ProcessError, ["'{X}'", "{0} (longitudinal)"]),
    ("e+ e- > w+ {0} w-", ProcessError, ["'{0}'", "right after its name"]),
    ("p p > w+{0} j, w+{0} > e+ ve", UnsupportedFeature, ["decaying particle", "'p p > w+{0} j, w+ > e+ ve'"]),
    ("e+ e- > mu+ mu- / z{0}", UnsupportedFeature, ["'z{0}'"]),
])
def test_bad_polarisation_syntax(text, error, words):
    with pytest.raises(error) as info:
        parse_process(text)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("text, error, words", [
    ("u u~ > a{0} g", ProcessError, ["massless vector has no longitudinal"]),
    ("e+ e- > mu+ mu-{0}", ProcessError, ["spin-1/2", "{L}"]),
    ("e+ e- > w+{A} w-", ProcessError, ["auxiliary", "decayed vector"]),
    ("e+ e- > z{0} h{0}", UnsupportedFeature, ["spin 1/2 and 1", "spin 0"]),
    ("e+ e- > t{L} t~, t > w+ b", UnsupportedFeature, ["decayed massive vector", "decay products"]),
])
def test_polarisation_the_particle_cannot_have(sm, text, error, words):
    with pytest.raises(error) as info:
        subprocesses(sm, text)
    message = str(info.value)
    assert f"process '{text}'" in message
    for word in words:
        assert word in message


# ------------------------------------------------------------------ external legs

SQRT_S = 500.0


def _ww_points(mw, n=5, seed=3):
    rng = np.random.default_rng(seed)
    energy = SQRT_S / 2
    size = math.sqrt(energy ** 2 - mw ** 2)
    points = []
    for _ in range(n):
        c, phi = rng.uniform(-1, 1), rng.uniform(0, 2 * np.pi)
        n_hat = np.array([math.sqrt(1 - c * c) * math.cos(phi), math.sqrt(1 - c * c) * math.sin(phi), c])
        points.append([[energy, 0, 0, energy], [energy, 0, 0, -energy],
                       [energy, *(size * n_hat)], [energy, *(-size * n_hat)]])
    return np.array(points)


@pytest.fixture(scope="module")
def external(generate_package):
    return {label: generate_package("sm", f"e+ e- > w+{{{label}}} w-" if label else "e+ e- > w+ w-", f"pol_ext{label}")
            for label in ("", "0", "L", "R", "T")}


def test_external_polarisations_add_up_to_the_helicity_sum(external):
    points = _ww_points(float(np.asarray(external[""].masses())[2]))
    me2 = {label: np.asarray(proc.matrix_element(points)) for label, proc in external.items()}
    np.testing.assert_allclose(me2["0"] + me2["L"] + me2["R"], me2[""], rtol=1e-12)
    np.testing.assert_allclose(me2["T"], me2["L"] + me2["R"], rtol=1e-12)
    assert np.all(me2["0"] > 0) and np.all(me2["0"] < 0.9 * me2[""])
    assert external["0"].polarised and not external[""].polarised
    assert {tuple(row) for row in external["0"]._module.HELICITIES[:, 2:3]} == {(0,)}


@pytest.mark.parametrize("tag, process, fractions", [
    ("t", "t > w+{{{}}} b", {"0": "long", "L": "trans", "R": "zero"}),
    ("tx", "t~ > w-{{{}}} b~", {"0": "long", "R": "trans", "L": "zero"}),
])
def test_top_decay_helicity_fractions(generate_package, tag, process, fractions):
    procs = {label: generate_package("sm-no_b_mass", process.format(label), f"pol_top_{tag}{label}")
             for label in fractions}
    unpolarised = generate_package("sm-no_b_mass", process.format("").replace("{}", ""), f"pol_top_{tag}")
    mt, mw = (float(m) for m in np.asarray(unpolarised.masses())[:2])
    e_w = (mt ** 2 + mw ** 2) / (2 * mt)
    size = math.sqrt(e_w ** 2 - mw ** 2)
    direction = np.array([0.48, -0.6, 0.64])
    point = np.array([[[mt, 0, 0, 0], [e_w, *(size * direction)], [size, *(-size * direction)]]])
    total = float(np.asarray(unpolarised.matrix_element(point))[0])
    expected = {"long": mt ** 2 / (mt ** 2 + 2 * mw ** 2), "trans": 2 * mw ** 2 / (mt ** 2 + 2 * mw ** 2), "zero": 0.0}
    for label, kind in fractions.items():
        fraction = float(np.asarray(procs[label].matrix_element(point))[0]) / total
        assert fraction == pytest.approx(expected[kind], rel=1e-12, abs=1e-14), (label, kind)


# ------------------------------------------------------------------ a decayed W


def _boost(p, beta):
    b2 = beta @ beta
    gamma = 1 / math.sqrt(1 - b2)
    bp = p[1:] @ beta
    return np.array([gamma * (p[0] + bp), *(p[1:] + ((gamma - 1) * bp / b2 + gamma * p[0]) * beta)])


def _chain_point(mw, theta, phi, off_shell=1.013, cos_w=0.3):
    """e+ e- > (W+ > e+ ve) W-: the W+ of mass off_shell * MW along a fixed direction, the e+ at angle
    theta to it (azimuth phi) in its rest frame."""
    energy = SQRT_S / 2
    mstar = off_shell * mw
    e_w = (SQRT_S ** 2 + mstar ** 2 - mw ** 2) / (2 * SQRT_S)
    size = math.sqrt(e_w ** 2 - mstar ** 2)
    n_hat = np.array([math.sqrt(1 - cos_w ** 2), 0.0, cos_w])
    e1 = np.array([cos_w, 0.0, -math.sqrt(1 - cos_w ** 2)])
    e2 = np.cross(n_hat, e1)
    d = math.cos(theta) * n_hat + math.sin(theta) * (math.cos(phi) * e1 + math.sin(phi) * e2)
    beta = size * n_hat / e_w
    positron = _boost(np.array([mstar / 2, *(mstar / 2 * d)]), beta)
    neutrino = _boost(np.array([mstar / 2, *(-mstar / 2 * d)]), beta)
    return np.array([[energy, 0, 0, energy], [energy, 0, 0, -energy], positron, neutrino,
                     [SQRT_S - e_w, *(-size * n_hat)]])


@pytest.fixture(scope="module")
def chains(generate_package):
    return {label: generate_package("sm", f"e+ e- > w+{{{label}}} w-, w+ > e+ ve" if label
                                    else "e+ e- > w+ w-, w+ > e+ ve", f"pol_chain{label}")
            for label in ("", "0", "L", "R", "T", "A")}


def test_decayed_w_follows_the_spin_one_distributions(chains):
    mw = float(np.asarray(chains[""].masses())[4])
    thetas = np.array([0.3, 1.0, 1.7, 2.5, 2.9])
    points = np.array([_chain_point(mw, t, 0.7) for t in thetas])
    c = np.cos(thetas)
    for label, shape in (("0", 1 - c ** 2), ("R", (1 + c) ** 2), ("L", (1 - c) ** 2)):
        ratio = np.asarray(chains[label].matrix_element(points)) / shape
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10, err_msg=label)


def test_decayed_w_polarisations_add_up_over_the_azimuth(chains):
    mw = float(np.asarray(chains[""].masses())[4])
    phis = np.arange(8) * 2 * np.pi / 8  # exact for the azimuthal harmonics up to cos(2 phi)
    for theta in (0.4, 2.0):
        points = np.array([_chain_point(mw, theta, phi) for phi in phis])
        mean = {label: float(np.mean(np.asarray(proc.matrix_element(points)))) for label, proc in chains.items()}
        assert mean["T"] == pytest.approx(mean["L"] + mean["R"], rel=1e-12)
        assert mean["0"] + mean["T"] + mean["A"] == pytest.approx(mean[""], rel=1e-12)
        assert abs(mean["A"]) < 1e-20 * mean[""]  # the lepton current is conserved
        # point by point the helicities interfere: the polarised pieces are not the unpolarised value
        single = np.asarray(chains[""].matrix_element(points))
        parts = sum(np.asarray(chains[label].matrix_element(points)) for label in ("0", "T"))
        assert np.max(np.abs(parts / single - 1)) > 1e-3


def test_me_frame_of_a_polarised_process(chains):
    """A polarised |M|^2 depends on the frame: the runtime's (and reweighting's, mining's) is the partonic
    centre of mass, which ``in_me_frame`` restores from lab momenta."""
    mw = float(np.asarray(chains[""].masses())[4])
    cm = np.array([_chain_point(mw, 1.1, 0.4)])
    lab = np.asarray(cm_to_lab(cm, 400.0, 156.25))  # the same sqrt(s) = 500 GeV, boosted
    np.testing.assert_allclose(np.asarray(partonic_frame(lab, 2)), cm, atol=1e-10)
    polarised, plain = chains["0"], chains[""]
    at_cm = np.asarray(polarised.matrix_element(cm))
    assert abs(float(np.asarray(polarised.matrix_element(lab))[0] / at_cm[0]) - 1) > 1e-3
    np.testing.assert_allclose(np.asarray(polarised.matrix_element(in_me_frame(polarised, lab))), at_cm, rtol=1e-12)
    assert in_me_frame(plain, lab) is lab  # an unpolarised |M|^2 is Lorentz invariant


# ------------------------------------------------------------------ end to end


def _quadrature_cross_section(proc, sqrt_s):
    """sigma of e+ e- > W+ W- from the package's |M|^2 by 400-point Gauss-Legendre in cos theta (pb)."""
    mw = float(np.asarray(proc.masses())[2])
    energy = sqrt_s / 2
    size = math.sqrt(energy ** 2 - mw ** 2)
    x, w = np.polynomial.legendre.leggauss(400)
    points = np.array([[[energy, 0, 0, energy], [energy, 0, 0, -energy],
                        [energy, size * math.sqrt(1 - c * c), 0, size * c],
                        [energy, -size * math.sqrt(1 - c * c), 0, -size * c]] for c in x])
    me2 = np.asarray(proc.matrix_element(points))
    gev2_to_pb = 0.3893793721e9
    return float(np.sum(w * me2)) * 2 * np.pi * size / (64 * np.pi ** 2 * energy * sqrt_s ** 2) * gev2_to_pb


@pytest.mark.parametrize("beams", [{"sqrt_s": SQRT_S}, {"beam_energies": [400.0, 156.25]}])
def test_launch_a_polarised_process(external, tmp_path, beams):
    import pylhe

    from madgen.api import launch

    proc = external["0"]
    run = {**beams, "n_events": 300, "seed": 5, "iterations": 4, "points_per_iteration": 4000, "lhe": True}
    result = launch(proc._dir, run, output=tmp_path / "run", progress=False)
    expected = _quadrature_cross_section(proc, SQRT_S)
    assert abs(result.cross_section_pb - expected) < 5 * result.error_pb, (result.cross_section_pb, expected)
    events = list(pylhe.LHEFile.fromfile(str(tmp_path / "run" / "events.lhe")).events)
    assert len(events) == 300
    assert {int(p.spin) for e in events for p in e.particles if int(p.id) == 24} == {0}


def test_gradients_of_a_polarised_chain_against_finite_differences(chains):
    """d|M|^2/dp and d|M|^2/d(MW, WW) through the polarisation vectors of the off-shell momentum."""
    import jax

    proc = chains["0"]
    mw = float(np.asarray(proc.masses())[4])
    event = _chain_point(mw, 1.2, 0.5)
    gradient = np.asarray(jax.grad(lambda p: proc.matrix_element(p))(event))
    numeric = momentum_differences(proc, event)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())
    defaults = proc.default_parameters()
    by_parameter = jax.grad(lambda prm: proc.matrix_element(event[None], prm, check=False).sum())(defaults)
    for name in ("MZ", "aEWM1"):  # MW is derived from them in the SM's scheme
        value = defaults[name]
        step = 1e-5 * abs(value)
        shifted = [float(proc.matrix_element(event[None], {**defaults, name: value + s}, check=False).sum())
                   for s in (step, -step)]
        numeric = (shifted[0] - shifted[1]) / (2 * step)
        assert float(by_parameter[name]) == pytest.approx(numeric, rel=1e-6), name


def test_two_polarisations_of_one_process_in_one_card(tmp_path):
    """[e+ e- > w+{0} w-, e+ e- > w+{T} w-]: two subprocesses (one was dropped as a duplicate of the other)."""
    import madgen

    card = tmp_path / "two.yaml"
    card.write_text("model: sm\nprocess: [e+ e- > w+{0} w-, e+ e- > w+{T} w-]\n")
    with pytest.raises(Exception, match=r"two.yaml:2, column \d+: malformed YAML.*quote a process with a polarised"):
        madgen.generate(card, output=tmp_path / "two", force=True)
    card.write_text("model: sm\nprocess:\n  - e+ e- > w+{0} w-\n  - e+ e- > w+{T} w-\n")
    package = madgen.load(madgen.generate(card, output=tmp_path / "two", force=True).path)
    assert [s.process for s in package.subprocesses] == ["e+ e- > W+{0} W-", "e+ e- > W+{T} W-"]
    assert package.polarised


def test_a_polarised_particle_produced_alone_and_other_frames(sm, generate_package, tmp_path):
    """p p > w+{L} (at rest in the partonic frame: L/R point nowhere) is refused, {0} and {T} are not; a run
    card's me_frame other than [1, 2] (MadGraph's frame for the helicities) is refused for a polarised process."""
    from madgen.api import launch
    from madgen.errors import RunCardError
    from madgen.runtime.runcard import parse_run_card

    with pytest.raises(ProcessError, match=r"W\+\{L\}' is produced alone, at rest"):
        subprocesses(sm, "u d~ > w+{L}, w+ > e+ ve")
    assert subprocesses(sm, "u d~ > w+{T}, w+ > e+ ve")
    assert parse_run_card("sqrt_s: 500\nme_frame: [3, 4]").me_frame == (3, 4)
    assert parse_run_card("[3,4,5] = me_frame\n500 = ebeam1\n500 = ebeam2\n", "run_card.dat").me_frame == (3, 4, 5)
    with pytest.raises(RunCardError, match="me_frame"):
        parse_run_card("sqrt_s: 500\nme_frame: [a]")
    with pytest.raises(RunCardError, match=r"key 'me_frame': \[3, 4\].*partonic centre-of-mass frame only"):
        launch(generate_package("sm", "e+ e- > w+{0} w-", "pol_ext0")._dir, {"sqrt_s": 500.0, "me_frame": [3, 4]},
               output=tmp_path / "run", progress=False, log=lambda *a: None)
