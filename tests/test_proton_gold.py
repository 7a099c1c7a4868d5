"""Gold for hadron collisions: p p > e+ e- with theta = (MZ, WZ) (the momenta do not move: the PDFs and
scales drop out of r and t) and p p > t t~ with theta = MT (the tops' mass shell moves: latent
variables x1, x2, cos theta*, phi*), E[t] = 0 and E[1/r] = 1 within Monte Carlo errors; d sigma / d MT
with a dynamical scale (alpha_s(muR) and the PDFs move with m_T) against finite differences of the
independent quadrature (tests/hadronic.py)."""

import math

import numpy as np
import pytest

from hadronic import hadronic_cross_section, threshold_nodes, top_classes
from madgen.inference import differentiable_cross_section, mine
from madgen.pdf import load_pdf_label
from madgen.runtime.runcard import RunCard

DRELL_YAN = {"sqrt_s": 13000.0, "beams": ["p", "p"], "seed": 2, "warmup_iterations": 2, "iterations": 3,
             "points_per_iteration": 16384, "batch_size": 8192, "lhe": False,
             "cuts": {"ptl": 0.0, "etal": -1.0, "drll": 0.0, "mmll": 60.0, "mmllmax": 120.0}}
TOPS = {"sqrt_s": 13000.0, "beams": ["p", "p"], "seed": 3, "warmup_iterations": 2, "iterations": 3,
        "points_per_iteration": 16384, "batch_size": 8192, "lhe": False, "scale": 172.5, "dsqrt_q2fact1": 172.5,
        "dsqrt_q2fact2": 172.5}


@pytest.fixture(scope="module")
def pp_ee(generate_package):
    """Drell-Yan from up quarks only (MadGraph's ``define p = u u~``): u u~ and its mirror u~ u,
    one kernel, so that the default suite stays fast; the PDFs are still the proton's."""
    return generate_package("sm", "p p > e+ e-", "pp_ee_up", multiparticles={"p": "u u~"})


@pytest.fixture(scope="module")
def pp_tt(generate_package):
    return generate_package("sm", "p p > t t~", "pp_tt")


def assert_expectations(gold):
    """E[t] = 0 and E[1/r] = 1 within 4 combined standard errors (events, and the fixed-sample
    d log sigma and log sigma ratios)."""
    n = len(gold)
    statistical = gold.score.std(axis=0, ddof=1) / np.sqrt(n)
    systematic = gold.sigma_gradient_error_pb / gold.sigma_ref_pb
    assert np.all(np.abs(gold.score.mean(axis=0)) < 4 * np.hypot(statistical, systematic)), \
        (gold.score.mean(axis=0), statistical, systematic)
    inverse = np.exp(-gold.log_r)
    statistical = inverse.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(inverse.mean(axis=0) - 1) < 4 * np.hypot(statistical, gold.log_sigma_ratio_error)), \
        (inverse.mean(axis=0), statistical, gold.log_sigma_ratio_error)
    assert np.all(inverse.std(axis=0) > 1e-6) and np.all(gold.score.std(axis=0) > 0)


def test_drell_yan_gold(pp_ee):
    gold = mine(pp_ee.subprocesses[0]._dir, {**DRELL_YAN, "n_events": 2000}, ["MZ", "WZ"],
                thetas=[{"MZ": 91.5}, {"WZ": 2.7}], log=lambda *a: None)
    assert_expectations(gold)
    assert gold.metadata["beams"] == ["p", "p"] and gold.metadata["latent"] == "momenta"
    # log |M|^2 of each event from its own subprocess's generated code: mirror events (u~ u) included
    for s in np.unique(gold.subprocess):
        rows = np.nonzero(gold.subprocess == s)[0][:3]
        sub = pp_ee.subprocesses[int(s)]
        np.testing.assert_allclose(gold.log_me2[rows], np.log(np.asarray(sub.matrix_element(gold.momenta[rows]))),
                                   rtol=1e-10)
    assert {tuple(pp_ee.subprocesses[int(s)].pdg_ids[:2]) for s in np.unique(gold.subprocess)} == {(2, -2), (-2, 2)}
    # the incoming energies come from the boost of the partonic frame, which loses a few digits
    # when x1 and x2 are very unequal: equal to x1 E_beam at the 1e-10 of the rest of the suite
    np.testing.assert_allclose(gold.momenta[:, 0, 0], gold.fractions[:, 0] * 6500.0, rtol=1e-10)


@pytest.mark.slow  # ~3 min: the latent density's derivative for two kernels, 2000 events
def test_top_mass_gold_with_latent_variables(pp_tt):
    """theta = MT moves the tops' mass shell: gold from p(x1, x2, cos theta*, phi* | MT). MT_i above
    MT_ref keeps the support inside theta_ref's, so E[1/r] = 1 exactly."""
    gold = mine(pp_tt.subprocesses[0]._dir, {**TOPS, "n_events": 2000}, ["MT"], thetas=[{"MT": 174.0}],
                log=lambda *a: None)
    assert gold.metadata["latent"].startswith("x1, x2, cos_theta, phi") and gold.latent.shape == (2000, 4)
    assert_expectations(gold)
    # the latent variables give back the events' momenta at MT_ref
    from madgen.inference.latent import two_body_momenta

    s_hat = gold.latent[:, 0] * gold.latent[:, 1] * 13000.0 ** 2
    cm = np.asarray(two_body_momenta(s_hat, gold.latent[:, 2], gold.latent[:, 3], 173.0, 173.0))
    mass = np.sqrt(np.maximum(cm[:, 2, 0] ** 2 - np.sum(cm[:, 2, 1:] ** 2, axis=1), 0))
    np.testing.assert_allclose(mass, 173.0, rtol=1e-9)
    np.testing.assert_allclose(cm[:, 2:, 0].sum(axis=1), np.sqrt(s_hat), rtol=1e-12)


@pytest.mark.slow  # ~1.5 min; the fixed-sample derivative in a mass is checked fast in test_inference
def test_top_mass_gradient_of_sigma_with_a_dynamical_scale(pp_tt):
    """d sigma / d MT on the fixed sample (alpha_s(muR) and the PDFs at muF = sum m_T / 2 move with MT)
    against central differences of the quadrature at MT +- 1 GeV."""
    run = RunCard.from_mapping({**TOPS, "dynamical_scale_choice": 3, "points_per_iteration": 20000,
                                "n_events": 10})
    sigma, _ = differentiable_cross_section(pp_tt, run, ["MT"], n_points=60000, log=lambda *a: None)
    estimate = sigma.estimate()
    pdf = load_pdf_label("nn23lo1")
    values = [hadronic_cross_section(pp_tt, pdf, 13000.0, threshold_nodes(64, 2 * mt, 13000.0 ** 2), top_classes,
                                     y_nodes=32, cos_nodes=12, dynamical=3, parameters={"MT": mt})[0]
              for mt in (174.0, 172.0)]
    numeric = (values[0] - values[1]) / 2.0
    truncation = 1e-3 * abs(numeric)  # O(delta^2) of the central difference on a smooth sigma(MT)
    assert estimate.gradient[0] < 0
    assert abs(estimate.gradient[0] - numeric) < 4 * estimate.gradient_error[0] + truncation, \
        (estimate.gradient[0], estimate.gradient_error[0], numeric)
    assert estimate.gradient_error[0] < 0.05 * abs(numeric)
