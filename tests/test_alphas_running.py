"""alpha_s as MadGraph runs it (madgen.pdf.alphas.madgraph_alphas): with particle beams from the model's aS,
and for MadGraph's built-in PDF labels (nn23lo1, MadGraph's default: 0.130 at two loops), where MadGraph
does not use the LHAPDF set's own table.

The independent reference is the two-loop renormalisation-group equation itself,
d a / d ln Q^2 = -b0 a^2 (1 + c1 a) (b0 = (33 - 2 nf)/(12 pi), c1 = (153 - 19 nf)/(2 pi (33 - 2 nf))),
integrated numerically across the b and c thresholds (4.7 and 1.42 GeV, a continuous there), and at one
loop its closed form.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from madgen.pdf import MADGRAPH_PDF_LABELS, load_pdf, load_pdf_label, madgraph_alphas
from madgen.runtime.runcard import parse_run_card


def _b0(nf):
    return (33 - 2 * nf) / (12 * math.pi)


def _c1(nf):
    return (153 - 19 * nf) / (2 * math.pi * (33 - 2 * nf))


def ode_alphas(q, asmz, loops=2):
    """alpha_s(q) from alpha_s(91.188) by integrating the RGE in ln Q^2, flavour by flavour."""
    edges = [(91.188, 4.7, 5), (4.7, 1.42, 4), (1.42, 0.0, 3)]
    a, start = asmz, 91.188
    for high, low, nf in edges:
        if q >= low:
            target = q
        else:
            target = low
        if start != target:
            solution = solve_ivp(lambda t, y: -_b0(nf) * y ** 2 * (1 + (_c1(nf) if loops == 2 else 0.0) * y),
                                 (2 * math.log(start), 2 * math.log(target)), [a], rtol=1e-12, atol=1e-14)
            a = float(solution.y[0, -1])
        if q >= low:
            return a
        start = low
    return a


@pytest.mark.parametrize("asmz", [0.118, 0.130])
@pytest.mark.parametrize("q", [1.0, 3.0, 10.0, 91.188, 173.0, 500.0, 5000.0])
def test_two_loop_running_solves_the_rge(q, asmz):
    assert float(madgraph_alphas(q, asmz)) == pytest.approx(ode_alphas(q, asmz), rel=1e-9)


def test_one_loop_closed_form_and_the_mz_point():
    for q in (2.0, 50.0, 1000.0):
        assert float(madgraph_alphas(q, 0.130, nloop=1)) == pytest.approx(ode_alphas(q, 0.130, loops=1), rel=1e-9)
    assert float(madgraph_alphas(500.0, 0.130, nloop=1)) == pytest.approx(
        0.130 / (1 + 0.130 * _b0(5) * 2 * math.log(500.0 / 91.188)), rel=1e-14)
    assert float(madgraph_alphas(91.188, 0.1234)) == 0.1234


def test_gradient_in_alpha_s_at_mz():
    step = 1e-6
    numeric = (float(madgraph_alphas(500.0, 0.118 + step)) - float(madgraph_alphas(500.0, 0.118 - step))) / (2 * step)
    assert float(jax.grad(lambda a: madgraph_alphas(500.0, a))(0.118)) == pytest.approx(numeric, rel=1e-7)


def test_madgraph_labels_carry_madgraphs_alpha_s():
    """nn23lo1 (MadGraph's default) is the NNPDF2.3 LO set with MadGraph's two-loop running from 0.130; the
    same set named as an LHAPDF set keeps the set's own alpha_s table (MadGraph with pdlabel = lhapdf)."""
    label = load_pdf_label("nn23lo1")
    table = load_pdf("NNPDF23_lo_as_0130_qed")
    q = np.array([5.0, 91.188, 346.0, 1000.0])
    np.testing.assert_allclose(np.asarray(label.alphas(q)), np.asarray(madgraph_alphas(q, 0.130)), rtol=1e-14)
    assert label.label == "nn23lo1" and table.label is None and label.lhapdf_id == table.lhapdf_id
    np.testing.assert_array_equal(np.asarray(label.xfx(0.1, 100.0)), np.asarray(table.xfx(0.1, 100.0)))
    assert abs(float(table.alphas(1000.0)) / float(label.alphas(1000.0)) - 1) > 0.02  # the two differ
    assert MADGRAPH_PDF_LABELS["cteq6l1"][1:] == (0.130, 1)
    assert load_pdf("nn23lo1") is label  # a run card's pdf value, as load_pdf takes it


def test_the_default_pdf_is_madgraphs_label(tmp_path):
    from madgen.runtime.beams import collider_for_run

    def collider(text):
        return collider_for_run(parse_run_card(f"sqrt_s: 13000\nbeams: [p, p]{text}"), [(21, 21)], [("g", "g")])

    default, named = collider(""), collider("\npdf: NNPDF23_lo_as_0130_qed")
    assert default.pdf.label == "nn23lo1" and named.pdf.label is None
    assert float(default.pdf.alphas(500.0)) == pytest.approx(float(madgraph_alphas(500.0, 0.130)), rel=1e-14)


def test_particle_beams_run_alpha_s_from_the_models_as(tmp_path):
    """e+ e- > u u~ g: O(alpha_s), so at a fixed scale Q the cross section is alpha_s(Q)/aS times the one at
    MZ, exactly (same seed, same points), and every event's AQCDUP is alpha_s(Q) (MadGraph: setrun.f runs
    alpha_s at two loops from the param card's aS when no beam has a PDF)."""
    import pylhe

    from madgen.api import launch

    card = tmp_path / "eeuug.yaml"
    card.write_text("model: sm\nprocess: e+ e- > u u~ g\n")
    runs = {}
    for scale in (91.188, 500.0):
        run = {"sqrt_s": 500.0, "n_events": 50, "seed": 3, "iterations": 3, "points_per_iteration": 2000,
               "scale": scale, "columnar": "none"}
        runs[scale] = launch(card, run, output=tmp_path / f"run_{scale:g}", progress=False, log=lambda *a: None)
    alpha_500 = float(madgraph_alphas(500.0, 0.118))
    assert runs[500.0].cross_section_pb / runs[91.188].cross_section_pb == pytest.approx(alpha_500 / 0.118, rel=1e-9)
    events = list(pylhe.LHEFile.fromfile(str(tmp_path / "run_500" / "events.lhe")).events)
    assert {round(e.eventinfo.aqcd, 9) for e in events} == {round(alpha_500, 9)}
    # reweighting the same events to another aS runs it to their scale as the run did
    from madgen.api import reweight

    result = reweight(tmp_path / "run_500" / "events.lhe", card, [{"aS": 0.130}], output=tmp_path / "rw.lhe",
                      log=lambda *a: None)
    ratio = float(madgraph_alphas(500.0, 0.130) / madgraph_alphas(500.0, 0.118))
    assert result.sums[0] / result.reference_sum == pytest.approx(ratio, rel=1e-10)
