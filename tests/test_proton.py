"""Hadron collisions: p p > e+ e- (60 < m_ee < 120 GeV) and p p > t t~ at 13 TeV, p p~ > t t~ at
1.96 TeV, fixed and dynamical scales, against an independent quadrature (tests/hadronic.py: the
generated |M|^2 times the PDFs in (tau, y, cos theta), no runtime code); the LHE and columnar
files read back (beams, PDF id, x_i E_beam, momentum conservation, flavours, <mgrwt>); kernel groups
and mirrors; bad run cards. Monte Carlo results must lie within 3 standard errors of the quadrature
(whose own error, from doubling its nodes, is below 1e-4 relative) at <= 0.3% precision."""

import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pylhe
import pytest

import madgen
from hadronic import (breit_wigner_nodes, drell_yan_classes, hadronic_cross_section, threshold_nodes,
                      top_classes)
from madgen.errors import RunCardError
from madgen.pdf import load_pdf_label
from madgen.runtime.runcard import parse_run_card

DRELL_YAN_CUTS = {"ptl": 0.0, "etal": -1.0, "drll": 0.0, "mmll": 60.0, "mmllmax": 120.0}
QUICK = {"iterations": 5, "warmup_iterations": 3, "points_per_iteration": 20000, "seed": 1}


@pytest.fixture(scope="module")
def pp_ee(generate_package):
    return generate_package("sm", "p p > e+ e-", "pp_ee")


@pytest.fixture(scope="module")
def pp_tt(generate_package):
    return generate_package("sm", "p p > t t~", "pp_tt")


@pytest.fixture(scope="module")
def pdf():
    return load_pdf_label("nn23lo1")


def package_dir(process):
    return process.subprocesses[0]._dir


def launch(process, tmp_path, name, **run):
    output = tmp_path / name
    result = madgen.api.launch(package_dir(process), {**QUICK, **run}, output=output, log=lambda *_: None,
                               progress=False)
    return result, output


def assert_agrees(result, expected):
    assert result.error_pb <= 0.003 * result.cross_section_pb, result.error_pb / result.cross_section_pb
    pull = (result.cross_section_pb - expected) / result.error_pb
    assert abs(pull) < 3, (result.cross_section_pb, result.error_pb, expected, pull)


def drell_yan_reference(process, pdf, dynamical=None):
    mz, wz = 91.188, float(process.subprocesses[0].internal_parameters()["WZ"].real)
    return hadronic_cross_section(process, pdf, 13000.0, breit_wigner_nodes(64, 60.0 ** 2, 120.0 ** 2, mz, wz),
                                  drell_yan_classes, y_nodes=32, cos_nodes=4, dynamical=dynamical)[0]


def top_reference(process, pdf, sqrt_s, dynamical=None, antiproton_2=False):
    mt = float(np.asarray(process.subprocesses[0].masses())[2])
    return hadronic_cross_section(process, pdf, sqrt_s, threshold_nodes(64, 2 * mt, sqrt_s ** 2), top_classes,
                                  y_nodes=32, cos_nodes=12, dynamical=dynamical, antiproton_2=antiproton_2)


@pytest.fixture(scope="module")
def drell_yan_run(pp_ee, tmp_path_factory):
    return launch(pp_ee, tmp_path_factory.mktemp("dy"), "run", sqrt_s=13000.0, beams=["p", "p"], n_events=500,
                  cuts=DRELL_YAN_CUTS)


@pytest.fixture(scope="module")
def top_run(pp_tt, tmp_path_factory):
    """p p > t t~ at 13 TeV, muR = muF = sum of m_T / 2, 3000 events (MadGraph's lpp1/lpp2 spelling)."""
    return launch(pp_tt, tmp_path_factory.mktemp("tt"), "run", sqrt_s=13000.0, lpp1=1, lpp2=1, n_events=3000,
                  dynamical_scale_choice=3, points_per_iteration=30000)


@pytest.fixture(scope="module")
def top_reference_dynamic(pp_tt, pdf):
    return top_reference(pp_tt, pdf, 13000.0, dynamical=3)


# ----------------------------------------------------------------------------- cross sections


def test_drell_yan_fixed_scale_matches_quadrature(pp_ee, pdf, drell_yan_run):
    result, _ = drell_yan_run
    assert_agrees(result, drell_yan_reference(pp_ee, pdf))
    assert [len(g["subprocesses"]) for g in result.groups] == [4, 4]  # u-type and d-type, mirrors included


def test_top_pairs_dynamical_scale_match_quadrature(top_run, top_reference_dynamic):
    result, _ = top_run
    assert_agrees(result, top_reference_dynamic[0])
    assert [g["subprocesses"][0] for g in result.groups] == ["g g > t t~", "u u~ > t t~"]


@pytest.mark.slow
def test_drell_yan_dynamical_scale_matches_quadrature(pp_ee, pdf, tmp_path):
    result, _ = launch(pp_ee, tmp_path, "dyn", sqrt_s=13000.0, beams=["p", "p"], n_events=10, cuts=DRELL_YAN_CUTS,
                       dynamical_scale_choice=4)
    assert_agrees(result, drell_yan_reference(pp_ee, pdf, dynamical=4))


@pytest.mark.slow
def test_top_pairs_fixed_scale_match_quadrature(pp_tt, pdf, tmp_path):
    result, _ = launch(pp_tt, tmp_path, "fixed", sqrt_s=13000.0, beams=["p", "p"], n_events=10, scale=172.5,
                       dsqrt_q2fact1=172.5, dsqrt_q2fact2=172.5, points_per_iteration=30000)
    mt = float(np.asarray(pp_tt.subprocesses[0].masses())[2])
    expected = hadronic_cross_section(pp_tt, pdf, 13000.0, threshold_nodes(64, 2 * mt, 13000.0 ** 2), top_classes,
                                      y_nodes=32, cos_nodes=12, scale=172.5)[0]
    assert_agrees(result, expected)


@pytest.mark.slow
def test_tevatron_top_pairs_with_an_antiproton_beam(pp_tt, pdf, tmp_path):
    """p p~ at 1.96 TeV (MadGraph's lpp2 = -1; the process is written with p as in MadGraph): the
    q q~ luminosity dominates, as at the Tevatron."""
    result, _ = launch(pp_tt, tmp_path, "tev", sqrt_s=1960.0, beams=["p", "p~"], n_events=10,
                       dynamical_scale_choice=3, points_per_iteration=30000)
    expected, by_subprocess = top_reference(pp_tt, pdf, 1960.0, dynamical=3, antiproton_2=True)
    assert_agrees(result, expected)
    assert by_subprocess[0] / expected < 0.2  # g g is a minor channel at the Tevatron


MADGRAPH_LEPTON_CUTS = {"ptl": 10.0, "etal": 2.5, "drll": 0.4, "mmll": 60.0, "mmllmax": 120.0}


@pytest.mark.parametrize("energies", [(6500.0, 6500.0), (6500.0, 2000.0)], ids=["symmetric", "asymmetric"])
def test_drell_yan_with_madgraphs_lepton_cuts(pp_ee, pdf, tmp_path, energies):
    """MadGraph's default lepton cuts (pT > 10 GeV, |eta| < 2.5, Delta R > 0.4) on p p > e+ e-, against
    the quadrature over exactly the accepted region, with beams of equal and of unequal energy (the
    rapidity window moves with log(E1 / E2) / 2; mirror subprocesses are events of their own there).
    The partons' rapidity is sampled only where both leptons can pass |eta| < 2.5: the unweighting
    efficiency was 1 % with the rapidity over its whole range (VEGAS cannot follow the corner of
    (y, lepton angle) the cut leaves), well above 20 % with the window. Every event: x_i E_i and the cuts."""
    result, output = launch(pp_ee, tmp_path, "cuts", beam_energies=list(energies), beams=["p", "p"], n_events=300,
                            cuts=MADGRAPH_LEPTON_CUTS)
    wz = float(pp_ee.subprocesses[0].internal_parameters()["WZ"].real)
    expected = hadronic_cross_section(pp_ee, pdf, None, breit_wigner_nodes(64, 60.0 ** 2, 120.0 ** 2, 91.188, wz),
                                      drell_yan_classes, y_nodes=32, cos_nodes=16, beam_energies=energies,
                                      massless_cuts=(10.0, 2.5))[0]
    assert_agrees(result, expected)
    assert result.unweighting_efficiency > 0.2
    _, events = read_lhe(output)
    blocks = (output / "events.lhe").read_text().split("<event>")[1:]
    assert len(events) == 300
    for event, block in zip(events, blocks):
        p = np.array([[q.e, q.px, q.py, q.pz] for q in event.particles if int(q.status) != 2])  # Z lines aside
        x1, x2 = mgrwt_fractions(block, n_qcd=0)
        np.testing.assert_allclose(p[:2, [0, 3]], [[x1 * energies[0], x1 * energies[0]],
                                                   [x2 * energies[1], -x2 * energies[1]]], rtol=1e-7)
        np.testing.assert_allclose(p[0] + p[1], p[2:].sum(axis=0), atol=1e-6 * p[0, 0])
        pt = np.hypot(p[2:, 1], p[2:, 2])
        assert np.all(pt > 10.0) and np.all(np.abs(np.arcsinh(p[2:, 3] / pt)) < 2.5)


def test_integration_is_unbiased_where_a_channel_is_rarely_sampled(generate_package, tmp_path):
    """g u > e+ e- u at 13 TeV with MadGraph's default cuts: the photon channels hold a quarter of sigma
    in corners (low m_ee with Delta R(ee) > 0.4) that their grids sample rarely. A launch's sigma (VEGAS
    grids, channel shares, iterations averaged by their points) against plain Monte Carlo of the same
    integrand without grids (uniform points, 200000 per channel): within 3 standard errors, at 4000
    points per iteration (the default 10 iterations after 5 to train), where each channel's share is a
    few hundred points. Before iterations were averaged by points and grids adapted only from enough
    points: 23.41 +- 0.40 pb (seeds 2 and 3: 24.65 +- 0.27, 24.84 +- 0.29) against 26.15 +- 0.03."""
    from madgen.runtime.prepared import prepare_run
    from madgen.runtime.runcard import as_run_card

    process = generate_package("sm", "g u > e+ e- u", "gu_epemu")
    run = {"sqrt_s": 13000.0, "beams": ["p", "p"], "n_events": 10}
    result, _ = launch(process, tmp_path, "run", **run, iterations=10, warmup_iterations=5, points_per_iteration=4000)
    prepared = prepare_run(process, as_run_card({**run, "iterations": 1, "warmup_iterations": 1,
                                                 "points_per_iteration": 1000}), log=lambda *_: None)
    sigma, variance = 0.0, 0.0
    for channel in range(len(prepared.channels)):
        weight = jax.jit(lambda x, channel=channel: prepared.weight(x, channel).weight)
        ndim = prepared.group_ndim(channel)
        w = np.concatenate([np.asarray(weight(jax.random.uniform(jax.random.PRNGKey(k), (100000, ndim),
                                                                 dtype=jnp.float64))) for k in range(2)])
        sigma, variance = sigma + w.mean(), variance + w.var() / len(w)
    pull = (result.cross_section_pb - sigma) / math.hypot(result.error_pb, math.sqrt(variance))
    assert abs(pull) < 3, (result.cross_section_pb, result.error_pb, sigma, math.sqrt(variance))


# ----------------------------------------------------------------------------- events


def read_lhe(output):
    lhe = pylhe.LHEFile.fromfile(str(output / "events.lhe"))
    return lhe, list(lhe.events)


def test_lhe_init_and_events_of_a_hadron_collision(pp_tt, top_run, top_reference_dynamic):
    result, output = top_run
    lhe, events = read_lhe(output)
    info = lhe.init.initInfo
    assert (info.beamA, info.beamB, info.energyA, info.energyB) == (2212, 2212, 6500.0, 6500.0)
    assert (info.PDFgroupA, info.PDFgroupB, info.PDFsetA, info.PDFsetB) == (0, 0, 247000, 247000)
    assert info.weightingStrategy == -4 and info.numProcesses == len(result.groups)
    assert len(events) == 3000
    allowed = {tuple(s.pdg_ids) for s in pp_tt.subprocesses}
    text = (output / "events.lhe").read_text()
    blocks = text.split("<event>")[1:]
    gluons = 0
    for event, block in zip(events, blocks):
        particles = event.particles
        ids = tuple(int(p.id) for p in particles)
        assert ids in allowed
        p = np.array([[q.e, q.px, q.py, q.pz] for q in particles])
        np.testing.assert_allclose(p[0] + p[1], p[2:].sum(axis=0), atol=1e-6 * p[0, 0] + 1e-6)
        x1, x2 = mgrwt_fractions(block)
        assert p[0, 0] == pytest.approx(x1 * 6500.0, rel=1e-7) and p[0, 3] == pytest.approx(x1 * 6500.0, rel=1e-7)
        assert p[1, 0] == pytest.approx(x2 * 6500.0, rel=1e-7) and p[1, 3] == pytest.approx(-x2 * 6500.0, rel=1e-7)
        assert event.eventinfo.weight == pytest.approx(result.cross_section_pb, rel=1e-9)  # event_norm = average
        gluons += ids[:2] == (21, 21)
    # the g g fraction against the quadrature's sigma_gg / sigma, within its binomial error
    expected, by_subprocess = top_reference_dynamic
    fraction = by_subprocess[0] / expected
    assert abs(gluons / len(events) - fraction) < 3 * math.sqrt(fraction * (1 - fraction) / len(events)) + 0.003


def mgrwt_fractions(block, n_qcd=2):
    """(x1, x2) of an event's <mgrwt> block, after checking its MadGraph layout (``n_qcd``: the
    power of alpha_s in |M|^2)."""
    lines = block[block.index("<mgrwt>"):block.index("</mgrwt>")].splitlines()
    assert lines[1].startswith(f"<rscale>  {n_qcd} ") and lines[2] == "<asrwt>0</asrwt>"
    xs = []
    for beam, line in zip((1, 2), lines[3:5]):
        assert line.startswith(f'<pdfrwt beam="{beam}">  1 ') and line.endswith("</pdfrwt>")
        fields = line[len(f'<pdfrwt beam="{beam}">'):-len("</pdfrwt>")].split()
        assert len(fields) == 4 and 0 < float(fields[2]) <= 1
        xs.append(float(fields[2]))
    assert lines[5].startswith("<totfact>")
    return xs


def test_columnar_file_and_results_of_a_hadron_collision(top_run):
    result, output = top_run
    data = np.load(output / "events.npz")
    x1, x2, mu_f, mu_r = data["x1"], data["x2"], data["mu_f"], data["mu_r"]
    momenta = data["momenta"]
    np.testing.assert_allclose(momenta[:, 0, 0], x1 * 6500.0, rtol=1e-12)
    np.testing.assert_allclose(momenta[:, 1, 0], x2 * 6500.0, rtol=1e-12)
    # muR = muF = sum of m_T / 2 of the tops, boost invariant: recomputed in the lab frame
    tops = momenta[:, 2:]
    mt = np.sqrt((tops[..., 0] + tops[..., 3]) * (tops[..., 0] - tops[..., 3])).sum(axis=1) / 2
    np.testing.assert_allclose(mu_r, mt, rtol=1e-9)
    np.testing.assert_allclose(mu_f, mt, rtol=1e-9)
    np.testing.assert_allclose(data["scale"], mu_f)
    pdf = load_pdf_label("nn23lo1")
    np.testing.assert_allclose(data["aqcd"], np.asarray(pdf.alphas(mu_r)), rtol=1e-12)
    summary = json.loads((output / "results.json").read_text())
    assert sum(g["cross_section_pb"] for g in summary["groups"]) == pytest.approx(summary["cross_section_pb"])
    metadata = json.loads(str(data["metadata"]))
    assert metadata["beams"] == ["p", "p"] and metadata["lhapdf_id"] == 247000


@pytest.fixture(scope="module")
def pp_z(generate_package):
    return generate_package("sm", "p p > z", "pp_z")


def one_body_reference(process, pdf, sqrt_s, scale=91.188, y_nodes=128, parameters=None):
    """sigma (pb) of a 2 -> 1 process a b > X: with dPhi_1 = 2 pi delta(s-hat - M^2) and dx1 dx2 = dtau dy,
    sigma = sum_ab |M_ab|^2 2 pi / s / (2 M^2) (hbar c)^2 int dy f_a(sqrt(tau) e^y) f_b(sqrt(tau) e^-y) at
    tau = M^2 / s, by Gauss-Legendre in y (the generated |M|^2 and the PDF evaluator, no runtime code)."""
    from hadronic import HBARC2_PB, gauss

    s = sqrt_s ** 2
    parameters = dict(parameters or {})
    mass = float(np.asarray(process.subprocesses[0].masses(parameters))[2])
    tau = mass ** 2 / s
    y, weights = gauss(y_nodes, 0.5 * math.log(tau), -0.5 * math.log(tau))
    x1, x2 = math.sqrt(tau) * np.exp(y), math.sqrt(tau) * np.exp(-y)
    mu = np.full_like(y, scale)
    f1, f2 = (np.asarray(pdf.xfx(x, mu)) / x[:, None] for x in (x1, x2))
    point = np.array([[[mass / 2, 0, 0, mass / 2], [mass / 2, 0, 0, -mass / 2], [mass, 0, 0, 0]]])
    alpha_s = float(np.asarray(pdf.alphas(np.array([scale])))[0])
    total = 0.0
    for sub in process.subprocesses:
        a, b = sub.pdg_ids[:2]
        me2 = float(np.asarray(sub.matrix_element(point, {**parameters, "aS": alpha_s}))[0])
        total += me2 * float(np.sum(weights * f1[:, pdf.flavour_index[a]] * f2[:, pdf.flavour_index[b]]))
    return total * 2 * math.pi / s / (2 * mass ** 2) * HBARC2_PB


def test_a_two_to_one_process_integrates_the_rapidity_at_the_mass(pp_z, pdf, tmp_path):
    """p p > z at 13 TeV (MadGraph integrates 2 -> 1 processes this way): sigma against the rapidity
    quadrature (its own error, 128 against 256 nodes, below 1e-5: a hundredth of the Monte Carlo's); every event's Z is on its mass shell,
    carries the partons' momenta (x1 E, x2 E along the beams) and has no transverse momentum."""
    result, output = launch(pp_z, tmp_path, "z", sqrt_s=13000.0, beams=["p", "p"], n_events=200)
    expected = one_body_reference(pp_z, pdf, 13000.0, y_nodes=256)
    assert abs(one_body_reference(pp_z, pdf, 13000.0, y_nodes=128) / expected - 1) < 1e-5
    assert_agrees(result, expected)
    momenta = np.load(output / "events.npz")["momenta"]
    assert momenta.shape == (200, 3, 4)
    z = momenta[:, 2]
    np.testing.assert_allclose(np.sqrt(z[:, 0] ** 2 - np.sum(z[:, 1:] ** 2, axis=1)), 91.188, rtol=1e-9)
    np.testing.assert_allclose(z, momenta[:, 0] + momenta[:, 1], rtol=0, atol=1e-9 * 6500)
    assert np.all(z[:, 1:3] == 0) and np.all(momenta[:, 0, 3] > 0) and np.all(momenta[:, 1, 3] < 0)


def test_two_to_one_cross_section_is_differentiable_in_the_mass(pp_z, pdf):
    """d sigma / d MZ of p p > z moves tau = MZ^2 / s itself: the gradient of the fixed-sample estimate
    agrees with the rapidity quadrature's central difference within its statistical error."""
    from madgen.inference import differentiable_cross_section
    from madgen.runtime.runcard import RunCard

    run = RunCard.from_mapping({**QUICK, "sqrt_s": 13000.0, "beams": ["p", "p"], "n_events": 10})
    sigma, _ = differentiable_cross_section(pp_z, run, ["MZ"], n_points=20000, log=lambda *_: None)
    estimate = sigma.estimate()
    h = 0.01
    expected = (one_body_reference(pp_z, pdf, 13000.0, parameters={"MZ": 91.188 + h})
                - one_body_reference(pp_z, pdf, 13000.0, parameters={"MZ": 91.188 - h})) / (2 * h)
    assert expected < 0 and abs(estimate.gradient[0] - expected) < 4 * estimate.gradient_error[0], \
        (estimate.gradient[0], estimate.gradient_error[0], expected)


def test_kernel_groups_are_recorded_at_generation(pp_tt, pp_ee):
    assert pp_tt.subprocesses[0].metadata["kernel_groups"] == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    assert pp_ee.subprocesses[0].metadata["kernel_groups"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    # identical code really is identical |M|^2
    from physics import collision_points

    momenta = collision_points(500.0, (0, 0), (173.0, 173.0), np.random.default_rng(1), 3)
    values = [np.asarray(pp_tt.subprocesses[i].matrix_element(momenta)) for i in (1, 2, 3, 4)]
    for other in values[1:]:
        np.testing.assert_allclose(other, values[0], rtol=1e-14)


def test_mirror_members_share_the_kernel(pp_ee):
    from madgen.runtime.channels import merge_mirrors, package_kernel_groups

    groups = merge_mirrors(pp_ee, package_kernel_groups(pp_ee))
    assert groups == (((0, 1, 4, 5), (False, False, True, True)), ((2, 3, 6, 7), (False, False, True, True)))
    from physics import collision_points

    momenta = collision_points(150.0, (0, 0), (0, 0), np.random.default_rng(2), 3)
    swapped = momenta[:, [1, 0, 2, 3]]
    np.testing.assert_allclose(np.asarray(pp_ee.subprocesses[4].matrix_element(swapped)),
                               np.asarray(pp_ee.subprocesses[0].matrix_element(momenta)), rtol=1e-12)


# ----------------------------------------------------------------------------- bad run cards


@pytest.mark.parametrize("run, message", [
    ({"beams": ["p", "p"], "pdf": "NoSuchSet_nlo"}, "key 'pdf'.*NoSuchSet_nlo"),
    ({"beams": ["p", "p"], "scale": 1e7, "dsqrt_q2fact1": 1e7, "dsqrt_q2fact2": 1e7}, "outside the Q range"),
    ({"beams": ["e-", "p"]}, "beam 1 is 'e-'"),
    ({"beams": ["p", "p"], "dynamical_scale_choice": 7}, "dynamical_scale_choice"),
    ({"lpp1": 2, "lpp2": 1}, "lpp1"),
    ({"beams": ["p", "p"], "cuts": {"mmll": 0.0, "ptl": 0.0}}, "not bounded away from 0"),
])
def test_bad_hadron_run_cards_are_refused(pp_ee, tmp_path, run, message):
    with pytest.raises(RunCardError, match=message):
        madgen.api.launch(package_dir(pp_ee), {"sqrt_s": 13000.0, **run}, output=tmp_path / "x",
                          log=lambda *_: None, progress=False)
    assert not (tmp_path / "x").exists()


def test_a_beam_of_several_partons_is_a_proton_unless_the_card_says_otherwise(pp_ee, drell_yan_run, tmp_path):
    """As MadGraph's run card (lpp = 1 for 'p p > ...'): with no 'beams', a side where the subprocesses bring
    several quarks or gluons is a proton beam, and p p > e+ e- runs exactly as with 'beams: [p, p]'. A side
    with one particle stays that particle (e- j: an electron on a proton); several leptons are still refused."""
    from madgen.runtime.beams import collider_for_run

    result, _ = launch(pp_ee, tmp_path, "run", sqrt_s=13000.0, n_events=500, cuts=DRELL_YAN_CUTS)
    assert result.cross_section_pb == drell_yan_run[0].cross_section_pb
    run = parse_run_card("sqrt_s: 300")
    electron_proton = collider_for_run(run, [(11, 2), (11, -1), (11, 21)], [("e-", "u"), ("e-", "d~"), ("e-", "g")])
    assert [beam.pdg for beam in electron_proton.beams] == [11, 2212]
    with pytest.raises(RunCardError, match="different initial particles"):
        collider_for_run(run, [(11, -11), (13, -13)], [("e-", "e+"), ("mu-", "mu+")])


def test_a_lepton_beam_cannot_supply_a_gluon(pp_tt, tmp_path):
    with pytest.raises(RunCardError, match=r"beam 2 is 'e-', but the process has .*\bg\b"):
        madgen.api.launch(package_dir(pp_tt), {"sqrt_s": 13000.0, "beams": ["p", "e-"]}, output=tmp_path / "x",
                          log=lambda *_: None, progress=False)


def test_bad_pdf_on_the_command_line_exits_with_2_and_writes_nothing(tmp_path):
    (tmp_path / "pp.yaml").write_text("model: sm\nprocess: p p > e+ e-\nname: pp\n")
    (tmp_path / "run.yaml").write_text("sqrt_s: 13000\nbeams: [p, p]\npdf: NoSuchSet_nlo\n")
    done = subprocess.run([sys.executable, "-m", "madgen", "launch", "pp.yaml", "--run", "run.yaml", "-o", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "NoSuchSet_nlo" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_onshell_veto_removes_exactly_the_window(tmp_path):
    """MadGraph's '$ z' on Drell-Yan: every diagram kept, the events with |m(e+ e-) - MZ| <= bwcutoff WZ
    removed. So sigma(u u~ > e+ e- $ z, mll > 20) = sigma(20 < mll < MZ - 15 WZ) + sigma(mll > MZ + 15 WZ)
    of the process without the veto, two independent integrations with mass cuts (within 4 sigma)."""
    from madgen.api import launch
    from madgen.runtime.runcard import parse_run_card

    mz, wz = 91.188, 2.441404
    low, high = mz - 15 * wz, mz + 15 * wz
    (tmp_path / "veto.yaml").write_text(f"model: sm\nprocess: u u~ > e+ e- $ z\noutput: {tmp_path / 'veto'}\n")
    (tmp_path / "full.yaml").write_text(f"model: sm\nprocess: u u~ > e+ e-\noutput: {tmp_path / 'full'}\n")
    run = ("sqrt_s: 13000\nbeams: [p, p]\nn_events: 50\nseed: 3\nscale: 91.188\npoints_per_iteration: 40000\n"
           "iterations: 5\ncuts: {{ptl: 0, etal: -1, drll: 0, {cuts}}}\n")
    quiet = dict(log=lambda *a: None, progress=False)
    vetoed = launch(tmp_path / "veto.yaml", parse_run_card(run.format(cuts="mmll: 20")), output=tmp_path / "a", **quiet)
    below = launch(tmp_path / "full.yaml", parse_run_card(run.format(cuts=f"mmll: 20, mmllmax: {low}")),
                   output=tmp_path / "b", **quiet)
    above = launch(tmp_path / "full.yaml", parse_run_card(run.format(cuts=f"mmll: {high}")), output=tmp_path / "c",
                   **quiet)
    expected = below.cross_section_pb + above.cross_section_pb
    error = math.sqrt(vetoed.error_pb ** 2 + below.error_pb ** 2 + above.error_pb ** 2)
    assert abs(vetoed.cross_section_pb - expected) < 4 * error, (vetoed.cross_section_pb, expected, error)
    masses = [math.sqrt(max((p[2][0] + p[3][0]) ** 2 - sum((p[2][k] + p[3][k]) ** 2 for k in (1, 2, 3)), 0.0))
              for p in ([[q.e, q.px, q.py, q.pz] for q in event.particles]
                        for event in pylhe.LHEFile.fromfile(str(tmp_path / "a" / "events.lhe")).events)]
    assert all(abs(m - mz) > 15 * wz for m in masses) and len(masses) == 50


def test_which_beam_brings_the_quark_is_a_fair_coin(pp_ee, tmp_path):
    """p p > e+ e- (symmetric beams): the quark comes from beam 1 in half the events, per flavour, with
    binomial scatter over seeds (chi^2 below its 99.9 % quantile): the beam orientation of mirrored
    subprocesses is drawn per event, independently of the other events, of the other groups and of the
    seed (a shared or reused random stream would show as overdispersion). Measured: 6 seeds of 5000
    events, chi^2 16.0 for 24."""
    chi2, dof = 0.0, 0
    for seed in (1, 2, 3, 4):
        _, output = launch(pp_ee, tmp_path, f"seed{seed}", sqrt_s=13000.0, beams=["p", "p"], n_events=4000,
                           seed=seed, cuts=DRELL_YAN_CUTS)
        ids = np.array([int(e.particles[0].id) for e in pylhe.LHEFile.fromfile(str(output / "events.lhe")).events])
        assert len(ids) == 4000
        for flavour in (1, 2, 3, 4):
            first, n = np.sum(ids == flavour), np.sum(np.abs(ids) == flavour)
            chi2, dof = chi2 + (first - n / 2) ** 2 / (n / 4), dof + 1
    assert chi2 < 39.25, (chi2, dof)  # chi^2 at 99.9 % for 16 degrees of freedom


# ----------------------------------------------------------------------------- scale variations


def test_scale_variation_weights_match_quadrature_at_the_varied_scales(pp_tt, pdf, tmp_path):
    """use_syst (MadGraph's systematics): the events' weight sums at (kR muR, kF muF) over their central sum
    equal sigma(kR, kF) / sigma(1, 1) of the quadrature computed at those scales, for p p > t t~ (alpha_s^2:
    the muR variations test the coupling's power, the muF ones the densities) with muR = muF = H_T / 2;
    the central weight is the event's own; LHE 3.0 weights as MadGraph's systematics writes them, read back
    by pylhe; the columnar file gets the same weights."""
    from madgen.runtime.columnar import read_columns

    result, output = launch(pp_tt, tmp_path, "syst", sqrt_s=13000.0, beams=["p", "p"], n_events=2000,
                            dynamical_scale_choice=3, use_syst=True)
    lhe = pylhe.LHEFile.fromfile(str(output / "events.lhe"))
    (group,) = [g for g in lhe.header.initrwgt.entries if getattr(g, "name", None) == "Central scale variation"]
    factors = {w.id: (float(w.extra_attributes["MUR"]), float(w.extra_attributes["MUF"])) for w in group.weights}
    assert factors["1"] == (1.0, 1.0) and len(factors) == 9
    events = list(lhe.events)
    weights = np.array([[e.weights[k] for k in factors] for e in events])
    np.testing.assert_allclose(weights[:, 0], [e.eventinfo.weight for e in events], rtol=1e-10)
    sums = weights.sum(axis=0) / weights[:, 0].sum()
    errors = weights.std(axis=0) / weights[:, 0].mean() / math.sqrt(len(events))  # of a sum of event ratios
    central = top_reference(pp_tt, pdf, 13000.0, dynamical=3)[0]
    for k in ("4", "7"):  # (kR, kF) = (2, 0.5) and (0.5, 2): both factors, in both directions
        mt = float(np.asarray(pp_tt.subprocesses[0].masses())[2])
        r, f = factors[k]
        varied = hadronic_cross_section(pp_tt, pdf, 13000.0, threshold_nodes(64, 2 * mt, 13000.0 ** 2), top_classes,
                                        y_nodes=32, cos_nodes=12, dynamical=3, mu_r_factor=r, mu_f_factor=f)[0]
        pull = (sums[int(k) - 1] - varied / central) / errors[int(k) - 1]
        assert abs(pull) < 4, (k, sums[int(k) - 1], varied / central, errors[int(k) - 1])
    saved = {v["weight_id"]: v["cross_section_pb"] for v in result.scale_variations}
    assert saved["1"] == pytest.approx(result.cross_section_pb, rel=1e-12)
    assert saved["9"] == pytest.approx(result.cross_section_pb * sums[8], rel=1e-9)
    np.testing.assert_allclose(read_columns(output / "events.npz")["scale_weights"], weights, rtol=1e-9)


def test_scale_variation_weights_with_particle_beams(tmp_path):
    """use_syst with particle beams (MadGraph's systematics without PDFs): alpha_s runs from aS, so at a fixed
    scale every event of e+ e- > u u~ g (O(alpha_s)) has the weight ratio alpha_s(kR muR) / alpha_s(muR), and a
    muF factor changes nothing; sys_scalefact must hold 1."""
    from madgen.pdf import madgraph_alphas
    from madgen.runtime.runcard import parse_run_card

    with pytest.raises(RunCardError, match="sys_scalefact"):
        parse_run_card("sqrt_s: 100\nuse_syst: true\nsys_scalefact: [0.5, 2]\n")
    assert parse_run_card("sqrt_s: 100\nsys_scalefact: '0.5 1 2 4'\n").sys_scalefact == (0.5, 1.0, 2.0, 4.0)
    card = tmp_path / "ee.yaml"
    card.write_text("model: sm\nprocess: e+ e- > u u~ g\n")
    run = {"sqrt_s": 500.0, "n_events": 40, "seed": 2, "iterations": 2, "points_per_iteration": 2000, "scale": 250.0,
           "use_syst": True, "columnar": "npz"}
    from madgen.api import launch
    from madgen.runtime.columnar import read_columns

    result = launch(card, run, output=tmp_path / "run", log=lambda *_: None, progress=False)
    weights = read_columns(tmp_path / "run" / "events.npz")["scale_weights"]
    central = weights[:, 0]
    for variation, column in zip(result.scale_variations, weights.T):
        expected = float(madgraph_alphas(250.0 * variation["mu_r_factor"], 0.118) / madgraph_alphas(250.0, 0.118))
        np.testing.assert_allclose(column / central, expected, rtol=1e-12)
    assert {v["mu_f_factor"] for v in result.scale_variations} == {0.5, 1.0, 2.0}


def test_an_inclusive_resonance_chain_needs_no_cut(generate_package, tmp_path):
    """p p > z, z > e+ e- without lepton cuts: bwcutoff bounds s-hat (it was refused as divergent); its
    sigma is that of p p > e+ e- / a (the same s-channel Z diagrams) with m(ee) cut to the same window."""
    chain = generate_package("sm", "p p > z, z > e+ e-", "ppz_ee")
    full = generate_package("sm", "p p > e+ e- / a", "ppee_noa")
    internal = chain.subprocesses[0].internal_parameters()
    mz, wz = float(internal["MZ"].real), float(internal["WZ"].real)
    bare = {"ptl": 0.0, "etal": -1.0, "drll": 0.0}
    run = dict(sqrt_s=13000.0, beams=["p", "p"], n_events=10)
    resonant, _ = launch(chain, tmp_path, "chain", cuts=bare, **run)
    window, _ = launch(full, tmp_path, "full", cuts={**bare, "mmll": mz - 15 * wz, "mmllmax": mz + 15 * wz}, **run)
    pull = (resonant.cross_section_pb - window.cross_section_pb) / math.hypot(resonant.error_pb, window.error_pb)
    assert abs(pull) < 4, (resonant.cross_section_pb, resonant.error_pb, window.cross_section_pb, window.error_pb)


def test_each_beam_keeps_its_own_fixed_factorisation_scale(pp_tt, pdf, tmp_path):
    """dsqrt_q2fact1 = 100, dsqrt_q2fact2 = 300 GeV: every event's luminosity is f(x1, 100) f(x2, 300) of
    its partons in beam order (mirrored subprocesses too), the columnar file holds each beam's muF and the
    LHE's <pdfrwt> each beam's own (both were the larger one)."""
    from madgen.runtime.columnar import read_columnar

    _, output = launch(pp_tt, tmp_path, "fixed", sqrt_s=13000.0, beams=["p", "p"], n_events=300, scale=200.0,
                       dsqrt_q2fact1=100.0, dsqrt_q2fact2=300.0, fixed_ren_scale=True, fixed_fac_scale=True)
    record, _ = read_columnar(output / "events.npz")
    assert np.all(record.mu_f == 100.0) and np.all(record.mu_f2 == 300.0)
    index = pdf.flavour_index
    f1 = np.asarray(pdf.xfx(record.x1, 100.0))[np.arange(len(record)), [index[int(p)] for p in record.pdg_ids[:, 0]]]
    f2 = np.asarray(pdf.xfx(record.x2, 300.0))[np.arange(len(record)), [index[int(p)] for p in record.pdg_ids[:, 1]]]
    np.testing.assert_allclose(record.luminosity, f1 * f2 / (record.x1 * record.x2), rtol=1e-10)
    assert len({int(p) for p in record.pdg_ids[:, 0]}) > 2  # quarks and antiquarks in beam 1: mirrors included
    text = (output / "events.lhe").read_text()
    assert text.count('<pdfrwt beam="1">') == 300 and text.count(" 0.10000000E+03</pdfrwt>") == 300
    assert text.count(" 0.30000000E+03</pdfrwt>") == 300
