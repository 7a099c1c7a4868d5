"""Reweighting events to new parameters (madgen reweight): weights against an independent run at
the new point (total and bin by bin, chi^2 at its 99.9% quantile), identity at the reference point,
other generators' files (beam order, existing weights and blocks kept), clear errors."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pylhe
import pytest

import madgen
from madgen.api import launch, reweight
from madgen.errors import MadgenError
from madgen.inference.errors import InferenceError
from madgen.runtime.columnar import read_columns
from madgen.runtime.runcard import parse_run_card

RUN = ("sqrt_s: 100\nn_events: 8000\nseed: {seed}\nevent_norm: sum\niterations: 4\nwarmup_iterations: 2\n"
       "points_per_iteration: 20000\ncuts: {{ptl: 0, etal: -1, drll: 0}}\n")
CARD = "model: sm\nprocess: e+ e- > mu+ mu-\nname: {name}\noutput: packages/{name}\n"
MZ_NEW = 91.9


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Events at the default MZ, and an independent run at MZ_NEW (its own package)."""
    root = tmp_path_factory.mktemp("reweight")
    (root / "ref.yaml").write_text(CARD.format(name="ref"))
    (root / "new.yaml").write_text(CARD.format(name="new") + f"parameters: {{MZ: {MZ_NEW}}}\n")
    quiet = dict(log=lambda *a: None, progress=False)
    reference = launch(root / "ref.yaml", parse_run_card(RUN.format(seed=1)), output=root / "ref_run", **quiet)
    new = launch(root / "new.yaml", parse_run_card(RUN.format(seed=2)), output=root / "new_run", **quiet)
    return root, reference, new


def cos_theta(path):
    """cos(theta) of the mu- of every event, and the event weights (XWGTUP and the named ones)."""
    values, weights = [], []
    for event in pylhe.LHEFile.fromfile(str(path)).events:
        mu = next(p for p in event.particles if int(p.id) == 13)
        values.append(mu.pz / np.sqrt(mu.px ** 2 + mu.py ** 2 + mu.pz ** 2))
        weights.append({"xwgtup": event.eventinfo.weight, **event.weights})
    return np.array(values), weights


def test_reweighted_events_reproduce_an_independent_run(runs):
    root, reference, new = runs
    result = reweight(root / "ref_run" / "events.lhe", root / "ref.yaml", [{"MZ": MZ_NEW}], log=lambda *a: None)
    assert result.output == root / "ref_run" / "events_rwgt.lhe"
    angles, weights = cos_theta(result.output)
    w = np.array([item["rwgt_1"] for item in weights])
    ratios = w / np.array([item["xwgtup"] for item in weights])
    # total: the reweighted estimate against the independent integration, in units of their errors
    sigma = w.sum()
    error = np.hypot(reference.cross_section_pb * ratios.std(ddof=1) / np.sqrt(len(w)),
                     sigma * reference.error_pb / reference.cross_section_pb)
    assert sigma == pytest.approx(result.sums[0])
    # the cross section it reports: the file's <init> cross section times the ratio of the weights' sums
    assert result.reference_cross_section_pb == pytest.approx(reference.cross_section_pb, rel=1e-9)
    xwgtup = np.array([item["xwgtup"] for item in weights])
    assert result.cross_sections_pb[0] == pytest.approx(reference.cross_section_pb * w.sum() / xwgtup.sum(), rel=1e-9)
    assert abs(sigma - new.cross_section_pb) < 3 * np.hypot(error, new.error_pb), (sigma, error, new.cross_section_pb)
    # bin by bin: reweighted histogram against the independent events, chi^2 below its 99.9% quantile
    direct, _ = cos_theta(root / "new_run" / "events.lhe")
    edges = np.linspace(-1, 1, 11)
    h_rw, _ = np.histogram(angles, edges, weights=w)
    v_rw, _ = np.histogram(angles, edges, weights=w ** 2)
    n_direct, _ = np.histogram(direct, edges)
    scale = new.cross_section_pb / len(direct)
    chi2 = np.sum((h_rw - n_direct * scale) ** 2 / (v_rw + n_direct * scale ** 2))
    assert chi2 < 29.59, chi2  # chi^2, 10 dof, 99.9%
    # the columnar file beside the events gained the same weights
    np.testing.assert_allclose(read_columns(root / "ref_run" / "events.npz")["rwgt_1"], w, rtol=1e-9)


def test_reweighting_to_the_reference_point_is_the_identity(runs):
    root, _, _ = runs
    out = root / "same.lhe"
    reweight(root / "ref_run" / "events.lhe", root / "ref.yaml", [{"MZ": 91.188}, {}, {"mz": 91.188}], output=out,
             log=lambda *a: None)  # names in any case, as MadGraph's `set mz 91.188`
    _, weights = cos_theta(out)
    for item in weights:
        assert item["rwgt_1"] == pytest.approx(item["xwgtup"], rel=1e-12)
        assert item["rwgt_2"] == pytest.approx(item["xwgtup"], rel=1e-12)
        assert item["rwgt_3"] == pytest.approx(item["xwgtup"], rel=1e-12)
    with pytest.raises(MadgenError, match=r"--theta: parameter 'MZ' is given twice \(mz, MZ\)"):
        reweight(root / "ref_run" / "events.lhe", root / "ref.yaml", [{"mz": 91.0, "MZ": 92.0}], output=out,
                 log=lambda *a: None)


MADGRAPH_STYLE = """<LesHouchesEvents version="3.0">
<header>
<MGVersion>
3.5.7
</MGVersion>
<initrwgt>
<weightgroup name='mg_reweighting' weight_name_strategy='includeIdInWeightName'>
<weight id='rwgt_1'> set param_card mass 23 92.0 </weight>
</weightgroup>
</initrwgt>
</header>
<init>
    11    -11 5.0000000e+01 5.0000000e+01     0     0     0     0     3     1
 1.2000000e+03 1.0000000e+00 1.2000000e+03     1
</init>
<event>
 4      1 +1.2000000e+03 5.0000000e+01 7.5467711e-03 1.1800000e-01
       11 -1    0    0    0    0 +0.0000000000e+00 +0.0000000000e+00 +5.0000000000e+01 5.0000000000e+01 0.0000000000e+00 0.0000e+00 -1.0000e+00
      -11 -1    0    0    0    0 +0.0000000000e+00 +0.0000000000e+00 -5.0000000000e+01 5.0000000000e+01 0.0000000000e+00 0.0000e+00 1.0000e+00
       13  1    1    2    0    0 +3.0000000000e+01 +0.0000000000e+00 +4.0000000000e+01 5.0000000000e+01 0.0000000000e+00 0.0000e+00 -1.0000e+00
      -13  1    1    2    0    0 -3.0000000000e+01 -0.0000000000e+00 -4.0000000000e+01 5.0000000000e+01 0.0000000000e+00 0.0000e+00 1.0000e+00
<mgrwt>
<rscale>  0 0.50000000E+02</rscale>
</mgrwt>
<rwgt>
<wgt id='rwgt_1'> +1.1000000000e+03 </wgt>
</rwgt>
</event>
</LesHouchesEvents>
"""


def test_another_generators_file_keeps_its_blocks_and_beam_order(runs):
    """A MadGraph-style file: beams e- e+ (the package has e+ e-), a <mgrwt> block and an earlier
    weight: the new weight is rwgt_2, everything else is kept line for line."""
    root, _, _ = runs
    source = root / "madgraph.lhe"
    source.write_text(MADGRAPH_STYLE)
    result = reweight(source, root / "ref.yaml", [{"MZ": MZ_NEW}], log=lambda *a: None)
    text = re.sub(r"<wgt id='rwgt_2'> \S+ </wgt>", "<wgt id='rwgt_2'> W </wgt>", result.output.read_text())
    expected = MADGRAPH_STYLE.replace("</initrwgt>", (
        "<weightgroup name='madgen_reweighting' weight_name_strategy='includeIdInWeightName'>\n"
        f"<weight id='rwgt_2'> MZ={MZ_NEW!r} </weight>\n</weightgroup>\n</initrwgt>")).replace(
        "</rwgt>", "<wgt id='rwgt_2'> W </wgt>\n</rwgt>")
    assert text == expected
    event = next(iter(pylhe.LHEFile.fromfile(str(result.output)).events))
    proc = madgen.load(root / "packages" / "ref")
    p = np.array([[[50.0, 0, 0, -50.0], [50.0, 0, 0, 50.0], [50.0, -30.0, 0, -40.0], [50.0, 30.0, 0, 40.0]]])
    expected = 1200.0 * float(proc.matrix_element(p, {"MZ": MZ_NEW})[0] / proc.matrix_element(p)[0])
    assert event.weights["rwgt_2"] == pytest.approx(expected, rel=1e-9)
    assert event.weights["rwgt_1"] == 1100.0


def test_bad_inputs_are_clear_errors(runs, tmp_path):
    root, _, _ = runs
    foreign = (root / "ref_run" / "events.lhe").read_text().replace("      -13  1", "      -11  1", 1)
    foreign = foreign.replace("       13  1", "       11  1", 1)
    (tmp_path / "foreign.lhe").write_text(foreign)
    with pytest.raises(MadgenError, match=r"event 1: -11 11 > .* is not a subprocess of 'e\+ e- > mu\+ mu-'"):
        reweight(tmp_path / "foreign.lhe", root / "ref.yaml", [{"MZ": 92.0}], log=lambda *a: None)
    assert not (tmp_path / "foreign_rwgt.lhe").exists()
    with pytest.raises(MadgenError, match="'MQ' is not an external parameter"):
        reweight(root / "ref_run" / "events.lhe", root / "ref.yaml", [{"MQ": 1.0}], log=lambda *a: None)
    (tmp_path / "junk.lhe").write_text("not an event file\n")
    with pytest.raises(MadgenError, match="junk.lhe"):
        reweight(tmp_path / "junk.lhe", root / "ref.yaml", [{"MZ": 92.0}], log=lambda *a: None)
    with pytest.raises(MadgenError, match="no such LHE file"):
        reweight(tmp_path / "missing.lhe", root / "ref.yaml", [{"MZ": 92.0}], log=lambda *a: None)
    text = (root / "ref_run" / "events.lhe").read_text()
    for polarised in (text.replace("polbeam2: 0.0", "polbeam2: -80.0", 1),  # madgen's run card in the header
                      text.replace("<header>", "<header>\n<MGRunCard>\n  30.0 = polbeam1 ! beam polarization\n"
                                               "</MGRunCard>", 1)):  # MadGraph's run_card.dat
        (tmp_path / "polarised.lhe").write_text(polarised)
        with pytest.raises(MadgenError, match=r"polbeam[12] = (-80.0|30.0).*unpolarised \|M\|\^2"):
            reweight(tmp_path / "polarised.lhe", root / "ref.yaml", [{"MZ": 92.0}], log=lambda *a: None)
        assert not (tmp_path / "polarised_rwgt.lhe").exists()
    result = subprocess.run([sys.executable, "-m", "madgen", "reweight", str(tmp_path / "missing.lhe"), "--card",
                             str(root / "ref.yaml"), "--theta", "MZ=92"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no such LHE file" in result.stderr and "Traceback" not in result.stderr


def test_a_point_that_sets_alpha_s_is_compared_with_the_events_own(tmp_path):
    """Reweighting to aS = 0.13: the reference |M|^2 is at each event's AQCDUP (not the model's 0.118), so
    for u u~ > d d~ (|M|^2 proportional to alpha_s^2) the ratio is (0.13 / AQCDUP)^2 event by event."""
    from madgen.inference.reweight import ReweightPoint, _Evaluator

    (tmp_path / "card.yaml").write_text(f"model: sm\nprocess: u u~ > d d~\noutput: {tmp_path / 'uudd'}\n")
    madgen.generate(tmp_path / "card.yaml")
    process = madgen.load(tmp_path / "uudd")
    p = np.array([[[50.0, 0, 0, 50.0], [50.0, 0, 0, -50.0], [50.0, 30.0, 0, 40.0], [50.0, -30.0, 0, -40.0]]] * 3)
    alpha_s = np.array([0.10, 0.118, 0.125])
    scale = np.full(3, 100.0)  # hadron events' alpha_s is the PDF set's at their scale: a point's aS is taken as it is
    ratios, reference = _Evaluator(process, {}, [ReweightPoint("a", (("aS", 0.13),))])(p, alpha_s, scale)
    np.testing.assert_allclose(ratios[:, 0], (0.13 / alpha_s) ** 2, rtol=1e-12)
    np.testing.assert_allclose(reference, [float(process.matrix_element(p[i], {"aS": a})) for i, a in enumerate(alpha_s)],
                               rtol=1e-13)


def test_a_truncated_file_is_refused_and_nothing_is_written(runs, tmp_path):
    root, _, _ = runs
    text = (root / "ref_run" / "events.lhe").read_text()
    cut = tmp_path / "cut.lhe"
    cut.write_text(text[: text.index("</event>", len(text) // 2) - 20])  # inside an event
    with pytest.raises(InferenceError, match=r"cut.lhe: the file ends after \d+ complete events without "
                                             r"</LesHouchesEvents> \(truncated\?\); nothing was written"):
        reweight(cut, root / "ref.yaml", [{"MZ": MZ_NEW}], log=lambda *a: None)
    assert not (tmp_path / "cut_rwgt.lhe").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cut.lhe"]


def test_one_name_per_point():
    from madgen.inference.reweight import parse_points

    with pytest.raises(InferenceError, match=r"2 weight name\(s\) \['a', 'b'\] for 1 parameter point\(s\): give one "
                                             r"--name per --theta, or none"):
        parse_points([{"MZ": 92.0}], ["a", "b"], set())
    with pytest.raises(InferenceError, match="must be distinct"):
        parse_points([{"MZ": 92.0}, {"MZ": 93.0}], ["a", "a"], set())


def test_the_reference_point_is_read_from_the_files_slha_block(runs):
    """Events generated at MZ = MZ_NEW (their <slha> says so), reweighted with a package whose default is
    91.188: theta_0 is the file's point, as MadGraph's reweighting takes it from the run's param card, so
    reweighting to MZ_NEW is the identity and back to 91.188 is not."""
    root, _, new = runs
    said = []
    out = root / "from_slha.lhe"  # another directory: the run's events.npz is left alone
    reweight(root / "new_run" / "events.lhe", root / "ref.yaml", [{"MZ": MZ_NEW}, {"MZ": 91.188}], output=out,
             log=said.append)
    assert any(f"MZ = {MZ_NEW:g}" in line and "<slha>" in line for line in said), said
    _, weights = cos_theta(out)
    assert all(item["rwgt_1"] == pytest.approx(item["xwgtup"], rel=1e-12) for item in weights)
    assert not all(item["rwgt_2"] == pytest.approx(item["xwgtup"], rel=1e-6) for item in weights)
    # --theta-ref still decides where it is given
    reweight(root / "new_run" / "events.lhe", root / "ref.yaml", [{"MZ": 91.188}], theta_ref={"MZ": 91.188},
             output=out, log=lambda *a: None)
    assert all(item["rwgt_1"] == pytest.approx(item["xwgtup"], rel=1e-12) for item in cos_theta(out)[1])


def test_the_columnar_file_gains_weights_only_for_its_own_events(runs, tmp_path):
    """The events.npz beside the input gains the weights when the output stays in its run directory, with
    ids numbered after its own columns; written elsewhere, or beside an npz of other events, it is left."""
    import shutil

    root, _, _ = runs
    run = tmp_path / "run"
    run.mkdir()
    for name in ("events.lhe", "events.npz"):
        shutil.copy(root / "ref_run" / name, run / name)
    before = set(read_columns(run / "events.npz"))
    (tmp_path / "elsewhere").mkdir()
    reweight(run / "events.lhe", root / "ref.yaml", [{"MZ": 92.0}], output=tmp_path / "elsewhere" / "a.lhe",
             log=lambda *a: None)
    assert set(read_columns(run / "events.npz")) == before
    reweight(run / "events.lhe", root / "ref.yaml", [{"MZ": 92.0}], output=run / "b.lhe", log=lambda *a: None)
    (first,) = set(read_columns(run / "events.npz")) - before
    reweight(run / "events.lhe", root / "ref.yaml", [{"MZ": 93.0}], output=run / "c.lhe", log=lambda *a: None)
    (second,) = set(read_columns(run / "events.npz")) - before - {first}  # a new column: none overwritten
    assert second in {w for event in cos_theta(run / "c.lhe")[1] for w in event}
    shutil.copy(root / "new_run" / "events.npz", run / "events.npz")  # another run's events, as many
    said = []
    reweight(run / "events.lhe", root / "ref.yaml", [{"MZ": 92.0}], output=run / "d.lhe", log=said.append)
    assert any("does not hold the events" in line for line in said), said


def test_outputs_and_inputs_madgen_must_not_touch(runs, tmp_path):
    import gzip

    root, _, _ = runs
    events = root / "ref_run" / "events.lhe"
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(InferenceError, match="notes.txt exists and is not a madgen LHE file"):
        reweight(events, root / "ref.yaml", [{"MZ": 92.0}], output=tmp_path / "notes.txt", log=lambda *a: None)
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    with pytest.raises(InferenceError, match="is a directory"):
        reweight(events, root / "ref.yaml", [{"MZ": 92.0}], output=tmp_path, log=lambda *a: None)
    with pytest.raises(InferenceError, match="does not exist"):
        reweight(events, root / "ref.yaml", [{"MZ": 92.0}], output=tmp_path / "no" / "x.lhe", log=lambda *a: None)
    (tmp_path / "packed.lhe").write_bytes(gzip.compress(events.read_bytes()))
    with pytest.raises(InferenceError, match="gzip-compressed but not named '.gz'"):
        reweight(tmp_path / "packed.lhe", root / "ref.yaml", [{"MZ": 92.0}], log=lambda *a: None)
    # a file madgen wrote may be replaced
    reweight(events, root / "ref.yaml", [{"MZ": 92.0}], output=tmp_path / "r.lhe", log=lambda *a: None)
    reweight(events, root / "ref.yaml", [{"MZ": 93.0}], output=tmp_path / "r.lhe", log=lambda *a: None)


def test_a_point_that_moves_an_external_mass_is_refused(generate_package):
    """Events keep their momenta on the old mass shell: reweighting e+ e- > t t~ to another MT is refused (as
    MadGraph's reweighting refuses it), its width is fine."""
    from madgen.inference.reweight import _refuse_moving_masses, parse_points

    proc = generate_package("sm", "e+ e- > t t~", "epem_ttx")
    with pytest.raises(InferenceError, match=r"MT=175.0: moves the mass of external particles .*leg 3: 173 -> 175 GeV"):
        _refuse_moving_masses(proc.subprocesses, {}, parse_points([{"MT": 175.0}]))
    _refuse_moving_masses(proc.subprocesses, {}, parse_points([{"WT": 1.6}]))


def test_events_off_the_packages_mass_shells_are_refused(runs, tmp_path):
    """A file whose muons are massive (a model with MM = 2.83 GeV) cannot be reweighted by a package with
    massless muons: the error names the event, the particle and both masses, and nothing is written."""
    root, _, _ = runs
    massive = MADGRAPH_STYLE.replace("+4.0000000000e+01 5.0000000000e+01", "+3.9899749373e+01 5.0000000000e+01")
    massive = massive.replace("-4.0000000000e+01 5.0000000000e+01", "-3.9899749373e+01 5.0000000000e+01")
    (tmp_path / "massive.lhe").write_text(massive)
    with pytest.raises(InferenceError, match=r"massive.lhe, event 1: particle -13 \(leg 3 of 'e\+ e- > mu\+ mu-'\) "
                                             r"has mass 2.830\d* GeV from its momentum, the package's is 0 GeV"):
        reweight(tmp_path / "massive.lhe", root / "ref.yaml", [{"MZ": MZ_NEW}], log=lambda *a: None)
    assert not (tmp_path / "massive_rwgt.lhe").exists()


def test_a_point_where_the_model_is_undefined_is_refused_before_the_work(runs, tmp_path):
    """MZ = 0 makes the SM's sw2 = 1 - MW^2/MZ^2 nan: named before any event is read, no file written
    (it wrote nan weights before)."""
    from madgen.errors import MadgenError

    root, _, _ = runs
    with pytest.raises(MadgenError, match=r"--theta MZ=0\.0: at MZ = 0 the model's .* \(not finite\)"):
        reweight(root / "ref_run" / "events.lhe", root / "ref.yaml", [{"MZ": 0.0}], output=tmp_path / "z.lhe",
                 log=lambda *a: None)
    assert not (tmp_path / "z.lhe").exists()


def test_a_package_of_another_process_is_named(runs, generate_package, tmp_path):
    """Events of 'e+ e- > mu+ mu-' reweighted with a package of 'e+ e- > z > mu+ mu-': allowed (SM events
    with an EFT package is the usual case) but said, since the weights assume the package's |M|^2 at
    theta_0 is the events' density."""
    root, _, _ = runs
    other = generate_package("sm", "e+ e- > z > mu+ mu-", "rw_other_process")
    said = []
    reweight(root / "ref_run" / "events.lhe", other._dir, [{"MZ": 92.0}], output=tmp_path / "o.lhe", log=said.append)
    assert any("generated for 'e+ e- > mu+ mu-' and are reweighted with 'e+ e- > Z > mu+ mu-'" in line
               for line in said), said
    said.clear()
    reweight(root / "ref_run" / "events.lhe", root / "ref.yaml", [{"MZ": 92.0}], output=tmp_path / "s.lhe",
             log=said.append)
    assert not any("generated for" in line for line in said)


def test_a_second_reweighting_adds_to_madgens_weight_group(runs, tmp_path):
    root, _, _ = runs
    source = tmp_path / "madgraph.lhe"
    source.write_text(MADGRAPH_STYLE)
    first = reweight(source, root / "ref.yaml", [{"MZ": MZ_NEW}], output=tmp_path / "once.lhe", log=lambda *a: None)
    second = reweight(first.output, root / "ref.yaml", [{"MZ": 90.0}], output=tmp_path / "twice.lhe",
                      log=lambda *a: None)
    header = second.output.read_text().split("<init>")[0]
    assert header.count("<weightgroup name='madgen_reweighting'") == 1
    group = header.split("<weightgroup name='madgen_reweighting'")[1].split("</weightgroup>")[0]
    assert "id='rwgt_2'" in group and "id='rwgt_3'" in group
    assert set(next(iter(pylhe.LHEFile.fromfile(str(second.output)).events)).weights) == {"rwgt_1", "rwgt_2",
                                                                                          "rwgt_3"}


def test_points_spelled_as_param_card_entries(runs, tmp_path):
    """--theta takes what launch --set takes: 'MASS 23' is MZ (MadGraph's reweight card writes 'set MASS 23 92'),
    and a parameter the restriction removed (sm's Me) is named as such, not as a misspelling."""
    root, _, _ = runs
    events = root / "ref_run" / "events.lhe"
    by_entry = reweight(events, root / "ref.yaml", [{"MASS 23": 92.0}], output=tmp_path / "a.lhe", log=lambda *a: None)
    by_name = reweight(events, root / "ref.yaml", [{"mz": 92.0}], output=tmp_path / "b.lhe", log=lambda *a: None)
    assert by_entry.sums == by_name.sums
    with pytest.raises(MadgenError, match=r"--theta: 'Me': the restriction restrict_default.dat .* fixes Me \(MASS 11\)"
                                          r" to 0 .*'sm-full'"):
        reweight(events, root / "ref.yaml", [{"Me": 0.1}], log=lambda *a: None)
    with pytest.raises(MadgenError, match=r"--theta: 'mass 11': the restriction"):
        reweight(events, root / "ref.yaml", [{"mass 11": 0.1}], log=lambda *a: None)
    with pytest.raises(MadgenError, match=r"--theta-ref: parameter 'MZ' is given twice"):
        reweight(events, root / "ref.yaml", [{"MZ": 92.0}], theta_ref={"MZ": 91.0, "MASS 23": 91.0},
                 log=lambda *a: None)
