"""The runtime end to end (madgen.launch): cross sections against closed forms, unweighted
event distributions, multichannel against flat phase space, LHE read back with pylhe,
reproducibility, and bad run cards."""

import json
import math
import subprocess
import sys

import numpy as np
import pylhe
import pytest

import madgen
from madgen.errors import MadgenError, RunCardError
from madgen.model import read_param_card
from madgen.runtime.integrand import GEV2_TO_PB
from test_matrix_elements import ee_to_mumu_closed_form

QUICK = {"iterations": 5, "warmup_iterations": 3, "points_per_iteration": 20000}


@pytest.fixture(scope="module")
def ee_mumu(generate_package):
    return generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")


def launch(proc, tmp_path, **run):
    package = proc._dir
    card = {**QUICK, "n_events": 1000, "seed": 1, **run}
    output = tmp_path / f"run_{abs(hash(json.dumps(card, sort_keys=True)))}"
    return madgen.api.launch(package, card, output=output, log=lambda *_: None, progress=False), output


def two_to_two_points(sqrt_s: float, cos_theta: np.ndarray) -> np.ndarray:
    """Massless e+ e- > mu+ mu- momenta, e+ along +z, with theta the angle between mu- and e-."""
    e = sqrt_s / 2
    sin = np.sqrt(1 - cos_theta ** 2)
    zero = np.zeros_like(cos_theta)
    points = np.zeros((len(cos_theta), 4, 4))
    points[:, 0] = [e, 0, 0, e]
    points[:, 1] = [e, 0, 0, -e]
    points[:, 2] = np.stack([zero + e, -e * sin, zero, e * cos_theta], axis=1)
    points[:, 3] = np.stack([zero + e, e * sin, zero, -e * cos_theta], axis=1)
    return points


def ee_to_mumu_cross_section(sqrt_s: float, parameters, max_cos: float = 1.0) -> float:
    """Closed-form sigma in pb for |cos(theta)| < max_cos: the gamma + Z |M|^2 integrated by
    Gauss-Legendre (exact: a polynomial of degree 2), dPhi_2 = dcos(theta) / (16 pi), flux 1/(2s)."""
    nodes, weights = np.polynomial.legendre.leggauss(4)
    me2 = ee_to_mumu_closed_form(two_to_two_points(sqrt_s, max_cos * nodes), parameters)
    return float(max_cos * np.sum(weights * me2) / (16 * math.pi) / (2 * sqrt_s ** 2) * GEV2_TO_PB)


NO_CUTS = {"ptl": 0.0, "etal": -1.0, "drll": 0.0}


@pytest.mark.parametrize("sqrt_s, cuts", [(30.0, NO_CUTS), (91.188, NO_CUTS), (250.0, NO_CUTS), (30.0, {})])
def test_ee_to_mumu_cross_section_matches_closed_form(ee_mumu, tmp_path, sqrt_s, cuts):
    """Without cuts, and with MadGraph's default lepton cuts (ptl = 10 GeV, |eta_l| < 2.5),
    which for 2 -> 2 at fixed energy are a cut |cos(theta)| < min(tanh 2.5, sqrt(1 - (2 ptl/sqrt s)^2))."""
    result, _ = launch(ee_mumu, tmp_path, sqrt_s=sqrt_s, n_events=10, cuts=cuts)
    max_cos = 1.0 if cuts else min(math.tanh(2.5), math.sqrt(1 - (2 * 10.0 / sqrt_s) ** 2))
    expected = ee_to_mumu_cross_section(sqrt_s, ee_mumu.default_parameters(), max_cos)
    assert result.error_pb < 0.005 * result.cross_section_pb
    assert abs(result.cross_section_pb - expected) < 3 * result.error_pb, (result.cross_section_pb, expected)


@pytest.mark.parametrize("polbeam1, polbeam2", [(30.0, -80.0), (100.0, -100.0), (-100.0, 100.0)])
def test_polarised_beams_cross_section_and_event_helicities(ee_mumu, tmp_path, polbeam1, polbeam2):
    """MadGraph's polbeam1/2 (percent; beam 1 is the e+ of 'e+ e- > mu+ mu-'): sigma against the chiral
    closed form, and with fully polarised beams every event has the beams' helicities."""
    from test_matrix_elements import ee_to_mumu_polarised_closed_form

    sqrt_s = 250.0
    result, output = launch(ee_mumu, tmp_path, sqrt_s=sqrt_s, n_events=200, cuts=NO_CUTS,
                            polbeam1=polbeam1, polbeam2=polbeam2)
    nodes, weights = np.polynomial.legendre.leggauss(4)
    me2 = ee_to_mumu_polarised_closed_form(two_to_two_points(sqrt_s, nodes), ee_mumu.default_parameters(),
                                           polbeam1 / 100, polbeam2 / 100)
    expected = float(np.sum(weights * me2) / (16 * math.pi) / (2 * sqrt_s ** 2) * GEV2_TO_PB)
    assert abs(result.cross_section_pb - expected) < 3 * result.error_pb, (result.cross_section_pb, expected)
    helicities = np.array([[int(p.spin) for p in event.particles[:2]]
                           for event in pylhe.LHEFile.fromfile(str(output / "events.lhe")).events])
    if abs(polbeam1) == 100:
        assert np.all(helicities == [np.sign(polbeam1), np.sign(polbeam2)])
    else:  # e- mostly left-handed, so e+ mostly right-handed: both signs occur
        assert 0.5 < np.mean(helicities[:, 1] == -1) < 1 and np.all(helicities[:, 0] == -helicities[:, 1])
    assert f"polbeam1: {polbeam1}" in (output / "events.lhe").read_text()  # the run card in the header


def test_polarised_hadron_beams_are_refused(generate_package, tmp_path):
    proc = generate_package("sm", "u u~ > e+ e-", "uux_epem")
    with pytest.raises(RunCardError, match="polbeam2.*beam 2 is p.*particle beams"):
        launch(proc, tmp_path, sqrt_s=1000.0, beams=["p", "p"], polbeam2=50.0)


def test_angular_distribution_of_unweighted_events(ee_mumu, tmp_path):
    """cos(theta) of the mu- w.r.t. the e- beam against the analytic (1 + c)^2 / (1 - c)^2 mix.

    10 bins, chi^2 with 10 degrees of freedom (the expected shape is fixed, not fitted): the
    threshold 29.6 is its 99.9% quantile, so a correct generator fails 1 seed in 1000; the
    seed is fixed, so the test is deterministic. A wrong forward-backward asymmetry
    (A_FB ~ 0.02 at sqrt(s) = 91.188 GeV, larger off-peak) shows at 20000 events at 250 GeV.
    """
    sqrt_s, n_events = 250.0, 20000
    result, output = launch(ee_mumu, tmp_path, sqrt_s=sqrt_s, n_events=n_events, seed=3, cuts=NO_CUTS)
    data = np.load(output / "events.npz")
    momenta = data["momenta"]
    mu_minus, e_minus = momenta[:, 3], momenta[:, 1]
    cos_theta = np.sum(mu_minus[:, 1:] * e_minus[:, 1:], axis=1) / (
        np.linalg.norm(mu_minus[:, 1:], axis=1) * np.linalg.norm(e_minus[:, 1:], axis=1))
    edges = np.linspace(-1, 1, 11)
    observed, _ = np.histogram(cos_theta, edges)
    centres = np.linspace(-1, 1, 201)
    shape = ee_to_mumu_closed_form(two_to_two_points(sqrt_s, centres), ee_mumu.default_parameters())
    # the closed form is a quadratic in c: integrate it per bin exactly with a polynomial fit
    poly = np.polynomial.Polynomial.fit(centres, shape, 2).convert().integ()
    expected = np.diff(poly(edges))
    expected *= n_events / expected.sum()
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    assert chi2 < 29.6, (chi2, observed, expected.round())
    asymmetry = (observed[5:].sum() - observed[:5].sum()) / n_events
    assert asymmetry > 0.3  # mu- follows the e- direction well above the Z peak


def test_same_seed_same_events_other_seed_other_events(ee_mumu, tmp_path):
    first, out1 = launch(ee_mumu, tmp_path / "a", sqrt_s=91.188, n_events=200, seed=7)
    again, out2 = launch(ee_mumu, tmp_path / "b", sqrt_s=91.188, n_events=200, seed=7)
    other, out3 = launch(ee_mumu, tmp_path / "c", sqrt_s=91.188, n_events=200, seed=8)
    assert (out1 / "events.lhe").read_bytes() == (out2 / "events.lhe").read_bytes()
    assert first.cross_section_pb == again.cross_section_pb
    momenta = [np.load(o / "events.npz")["momenta"] for o in (out1, out2, out3)]
    np.testing.assert_array_equal(momenta[0], momenta[1])
    assert not np.allclose(momenta[0], momenta[2])


def test_results_json_and_lhe_read_back(generate_package, tmp_path):
    """g g > t t~ at fixed sqrt(s-hat): LHE through pylhe (counts, momentum conservation,
    masses, statuses, colour lines), results.json keys."""
    proc = generate_package("sm", "g g > t t~", "gg_ttx")
    result, output = launch(proc, tmp_path, sqrt_s=500.0, n_events=300, seed=2)
    summary = json.loads((output / "results.json").read_text())
    assert {"cross_section_pb", "error_pb", "n_events", "seed"} <= set(summary)
    assert summary["n_events"] == 300 and summary["seed"] == 2
    assert summary["parameters"] == proc.default_parameters()  # the run's point, as the LHE's <slha> has it
    lhe = pylhe.LHEFile.fromfile(str(output / "events.lhe"))
    assert (lhe.init.initInfo.beamA, lhe.init.initInfo.beamB) == (21, 21)
    # the run's param card as MadGraph's <slha> header block (what a shower reads masses and widths from)
    text = (output / "events.lhe").read_text()
    slha = text[text.index("<slha>\n") + 7:text.index("</slha>")]
    assert text.index("</slha>") < text.index("<MGGenerationInfo>") < text.index("</header>")
    card = read_param_card(slha)
    defaults = proc.default_parameters()
    assert card.get("MASS", (6,)) == defaults["MT"] and card.get("DECAY", (6,)) == defaults["WT"]
    assert slha == proc.param_card()
    assert lhe.init.procInfo[0].xSection == pytest.approx(result.cross_section_pb, rel=1e-9)
    events = list(lhe.events)
    assert len(events) == 300
    mt = proc.default_parameters()["MT"]
    for event in events:
        particles = event.particles
        assert [int(p.id) for p in particles] == [21, 21, 6, -6]
        assert [int(p.status) for p in particles] == [-1, -1, 1, 1]
        p = np.array([[q.e, q.px, q.py, q.pz] for q in particles])
        np.testing.assert_allclose(p[0] + p[1], p[2] + p[3], atol=1e-6)
        for q in particles[2:]:
            assert math.sqrt(max(q.e ** 2 - q.px ** 2 - q.py ** 2 - q.pz ** 2, 0)) == pytest.approx(mt, rel=1e-6)
        # colour flows through the event: incoming colour = outgoing colour, per tag
        incoming = [int(q.color1) for q in particles[:2]] + [int(q.color2) for q in particles[2:]]
        outgoing = [int(q.color2) for q in particles[:2]] + [int(q.color1) for q in particles[2:]]
        assert sorted(t for t in incoming if t) == sorted(t for t in outgoing if t)
        assert int(particles[2].color1) > 0 and int(particles[2].color2) == 0  # top: colour only
        assert int(particles[3].color2) > 0 and int(particles[3].color1) == 0  # anti-top: anticolour


def test_multichannel_and_rambo_agree_and_multichannel_wins_on_a_resonance(generate_package, tmp_path):
    """e+ e- > mu+ mu- a at 250 GeV: radiative return to the Z makes m(mu mu) peak at MZ; the
    per-diagram channels map that Breit-Wigner, flat RAMBO does not."""
    proc = generate_package("sm", "e+ e- > mu+ mu- a", "epem_mupmuma")
    run = {"sqrt_s": 250.0, "n_events": 10, "seed": 4, "iterations": 3, "warmup_iterations": 2,
           "points_per_iteration": 12000}
    multi, _ = launch(proc, tmp_path / "multi", channels="multichannel", **run)
    flat, _ = launch(proc, tmp_path / "flat", channels="rambo", **run)
    combined = math.hypot(multi.error_pb, flat.error_pb)
    assert abs(multi.cross_section_pb - flat.cross_section_pb) < 4 * combined
    # same number of points: the ratio of variances is the variance reduction factor
    reduction = (flat.error_pb / multi.error_pb) ** 2 * flat.n_points / multi.n_points
    print(f"multichannel variance reduction over RAMBO: {reduction:.1f}")
    assert reduction > 3


@pytest.mark.parametrize("bad, fragment", [
    ({"sqrt_s": 91.0, "n_evnets": 10}, "n_evnets"),
    ({"sqrt_s": -91.0}, "sqrt_s"),
    ({"beam_energies": [45.0, -1.0]}, "beam_energies"),
])
def test_bad_run_cards(ee_mumu, tmp_path, bad, fragment):
    with pytest.raises(RunCardError, match=fragment):
        madgen.api.launch(ee_mumu._dir, bad, output=tmp_path / "x", log=lambda *_: None, progress=False)
    assert not (tmp_path / "x").exists()


def test_cuts_leaving_no_phase_space_are_an_error(ee_mumu, tmp_path):
    with pytest.raises(MadgenError, match="cuts"):
        launch(ee_mumu, tmp_path, sqrt_s=91.188, cuts={"ptl": 100.0})


def test_divergent_process_without_cuts_is_an_error(generate_package, tmp_path):
    proc = generate_package("sm", "e+ e- > u u~ g", "epem_uuxg")
    with pytest.raises(RunCardError, match="ptj"):
        launch(proc, tmp_path, sqrt_s=91.188, cuts={"ptj": 0.0, "drjj": 0.0})


def test_launch_command_line(tmp_path):
    card = tmp_path / "ee.yaml"
    card.write_text("model: sm\nprocess: e+ e- > mu+ mu-\nname: ee\n")
    run = tmp_path / "run.yaml"
    run.write_text("sqrt_s: 91.188\nn_events: 100\nseed: 1\niterations: 3\nwarmup_iterations: 2\n"
                   "points_per_iteration: 10000\n")
    done = subprocess.run([sys.executable, "-m", "madgen", "launch", str(card), "--run", str(run),
                           "-o", str(tmp_path / "out"), "--no-progress"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "cross section:" in done.stdout and "pb" in done.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"events.lhe", "events.npz", "results.json", ".madgen.json"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("sqrt_s: 91.188\nnevents_typo: 3\n")
    failed = subprocess.run([sys.executable, "-m", "madgen", "launch", str(card), "--run", str(bad)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 2 and "nevents_typo" in failed.stderr and "Traceback" not in failed.stderr
    # MadGraph's `set` at launch: run-card keys (a cut given bare, as in MadGraph's run_card) and a model
    # parameter for this run only, in any case, without regenerating the package
    done = subprocess.run([sys.executable, "-m", "madgen", "launch", str(card), "--run", str(run), "-o",
                           str(tmp_path / "set"), "--no-progress", "--set", "n_events=40", "--set", "ptl=20",
                           "--set", "mz=90.5"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "40 unweighted events" in done.stdout and "parameters for this run: MZ = 90.5" in done.stdout
    header = (tmp_path / "set" / "events.lhe").read_text().split("</header>")[0]
    assert "n_events: 40" in header and "ptl: 20.0" in header and "9.050000e+01 # MZ" in header
    assert "9.118800e+01 # MZ" in (tmp_path / "generated" / "ee" / "param_card.dat").read_text()  # not regenerated
    assert json.loads((tmp_path / "set" / "results.json").read_text())["parameters"]["MZ"] == 90.5
    for item, words in [("xyz=1", "'xyz' is not an external parameter"), ("MZ=abc", "takes a number"),
                        ("n_events", "expected KEY=VALUE"), ("n_events=0", "with --set n_events, key 'n_events'"),
                        ("MZ=0", "at MZ = 0 the model's")]:  # not a nan cross section blamed on the cuts
        failed = subprocess.run([sys.executable, "-m", "madgen", "launch", str(card), "--run", str(run), "--set", item],
                                cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert failed.returncode == 2 and words in failed.stderr and "Traceback" not in failed.stderr, failed.stderr


def test_launch_parameters_take_madgraphs_set_spellings(generate_package, tmp_path):
    """A run's parameters may name param-card entries as MadGraph's `set` does (`mass 23`, `DECAY 23`, and
    `width 23`, which MadGraph reads as `decay 23`); one parameter under two spellings is refused."""
    from madgen import api
    from madgen.errors import MadgenError

    package = generate_package("sm", "e+ e- > mu+ mu-", "run_set_spellings")
    run = {"sqrt_s": 91.188, "n_events": 10, "seed": 1, "iterations": 1, "warmup_iterations": 1,
           "points_per_iteration": 2000, "lhe": False, "columnar": "none"}
    quiet = dict(log=lambda *a, **k: None, progress=False)
    result = api.launch(package._dir, run, output=tmp_path / "set", parameters={"mass 23": 90.5, "WIDTH 23": 2.5},
                        **quiet)
    point = json.loads((tmp_path / "set" / "results.json").read_text())["parameters"]
    assert (point["MZ"], point["WZ"]) == (90.5, 2.5)
    assert result.cross_section_pb > 0
    with pytest.raises(MadgenError, match=r"parameter 'MZ' is given twice \(mz, MASS 23\)"):
        api.launch(package._dir, run, output=tmp_path / "twice", parameters={"mz": 90.0, "MASS 23": 91.0}, **quiet)
    with pytest.raises(MadgenError, match=r"'MASS 24' \(MW\) is computed from the external parameters"):
        api.launch(package._dir, run, output=tmp_path / "mw", parameters={"MASS 24": 80.0}, **quiet)


def test_run_card_overrides_as_madgraph_set(tmp_path):
    from madgen.runtime.runcard import is_run_card_key, run_card_with

    path = tmp_path / "run.yaml"
    path.write_text("sqrt_s: 250\nn_events: 100\ncuts:\n  ptj: 30\n")
    card = run_card_with(path, {"n_events": 50, "ptl": 15, "cuts.etal": 2.0, "polbeam2": -80})
    assert (card.n_events, card.cuts["ptj"], card.cuts["ptl"], card.cuts["etal"], card.polbeam2) == \
        (50, 30, 15, 2.0, -80)
    assert run_card_with({"sqrt_s": 91.188}, {"seed": 4}).seed == 4
    # either spelling replaces the other, as MadGraph's set does (it clashed: "keys 'nevents' and 'n_events'")
    assert run_card_with({"sqrt_s": 91.188, "nevents": 10}, {"n_events": 50}).n_events == 50
    assert run_card_with({"sqrt_s": 91.188, "seed": 3}, {"iseed": 7}).seed == 7
    assert run_card_with({"sqrt_s": 91.188}, {"beam_energies": [30, 120]}).beam_energies == (30.0, 120.0)
    assert run_card_with({"beam_energies": [30, 120]}, {"sqrt_s": 200}).beam_energies == (100.0, 100.0)
    assert all(map(is_run_card_key, ["n_events", "nevents", "ptj", "cuts.ptj", "polbeam1", "lpp1", "xqcut"]))
    assert not any(map(is_run_card_key, ["MT", "mt", "cHW"]))
    with pytest.raises(RunCardError, match=r"run.yaml with --set n_events, key 'n_events'"):
        run_card_with(path, {"n_events": "many"})


def test_asymmetric_beams_boost_the_events_and_keep_the_cross_section(ee_mumu, tmp_path):
    """E1 = 60, E2 = 91.188^2 / (4 * 60) GeV has the same sqrt(s) as symmetric beams at the Z pole:
    the same sigma within errors, and every event carries total momentum (0, 0, E1 - E2)."""
    e1 = 60.0
    e2 = 91.188 ** 2 / (4 * e1)
    symmetric, _ = launch(ee_mumu, tmp_path / "sym", sqrt_s=91.188, n_events=200, cuts=NO_CUTS)
    boosted, output = launch(ee_mumu, tmp_path / "asym", beam_energies=[e1, e2], n_events=200, cuts=NO_CUTS)
    combined = math.hypot(symmetric.error_pb, boosted.error_pb)
    assert abs(symmetric.cross_section_pb - boosted.cross_section_pb) < 4 * combined
    momenta = np.load(output / "events.npz")["momenta"]
    np.testing.assert_allclose(momenta[:, 0], np.broadcast_to([e1, 0, 0, e1], (200, 4)), atol=1e-9)
    np.testing.assert_allclose(momenta[:, 1], np.broadcast_to([e2, 0, 0, -e2], (200, 4)), atol=1e-9)
    np.testing.assert_allclose(momenta[:, 2:].sum(axis=1), np.broadcast_to([e1 + e2, 0, 0, e1 - e2], (200, 4)),
                               atol=1e-9)


def test_robust_max_weight_truncates_at_most_the_tolerance():
    """W_max is the smallest sampled weight whose truncation loses at most the tolerance: an
    outlier carrying less than that fraction of sigma does not set it; one carrying more does."""
    from madgen.runtime.unweight import robust_max_weight

    rng = np.random.default_rng(0)
    bulk = np.concatenate([rng.exponential(1.0, 100_000), np.zeros(1000)])
    for outlier, tolerance in ((50.0, 1e-3), (50.0, 1e-2), (1e4, 1e-3)):
        weights = np.append(bulk, outlier)
        w_max = robust_max_weight(weights, tolerance)
        def loss(level):
            return np.clip(weights - level, 0, None).sum()
        assert loss(w_max) <= tolerance * weights.sum()
        assert loss(weights[weights < w_max].max()) > tolerance * weights.sum()  # the smallest such
        assert (w_max < outlier) == (outlier - bulk.max() < tolerance * weights.sum())
    assert robust_max_weight(bulk, 0.0) == bulk.max()
    assert robust_max_weight(np.zeros(5), 1e-3) == 0.0


def test_event_helicities_are_chosen_at_the_runs_parameters(ee_mumu):
    """The LHE helicities of a run are drawn from |M_h|^2 at the run's parameters (per event where given,
    as alpha_s(muR) with PDFs), in padded blocks, exactly as the process itself draws them; near the Z
    pole the point matters (MZ moves the left/right shares)."""
    from madgen.runtime.events import SELECTION_BATCH, select_helicity_and_colour

    rng = np.random.default_rng(5)
    n = SELECTION_BATCH + 7  # a full block and a padded one
    momenta = two_to_two_points(91.0, rng.uniform(-0.99, 0.99, n))
    uniforms = rng.uniform(size=(n, 2))
    for parameters in ({"MZ": 89.0}, {"aEWM1": np.linspace(120.0, 140.0, n)}):
        helicities, colour = select_helicity_and_colour(ee_mumu, momenta, uniforms, parameters)
        direct = ee_mumu.select_helicity_and_colour(momenta, uniforms, parameters)
        np.testing.assert_array_equal(helicities, np.asarray(direct[0]))
        np.testing.assert_array_equal(colour, np.asarray(direct[1]))
    at_defaults, _ = select_helicity_and_colour(ee_mumu, momenta, uniforms)
    at_mz_89, _ = select_helicity_and_colour(ee_mumu, momenta, uniforms, {"MZ": 89.0})
    assert 0 < np.mean(np.any(at_defaults != at_mz_89, axis=1)) < 0.5
