"""Squared-order constraints (MadGraph's ``NP^2==1``, ``QED^2==2``, ``QCD^2<=2``): which interference
terms enter |M|^2 (madgen.diagrams.orders, the split JAMP contraction of the generated code).

Checked against independent computations: on ``u u~ > d d~`` the QCD-EW interference from three
separately generated processes without any squared-order machinery (|A_QCD + A_EW|^2 - |A_QCD|^2 -
|A_EW|^2) and sum rules; on SMEFTsim ``e+ e- > z h`` the decomposition SM + linear + quadratic of
the ``NP<=1`` |M|^2, the linear term against jax.grad of the full |M|^2 at c = 0, and its scaling.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from madgen.diagrams.orders import OrderSelection, amplitude_constraints, squared_selection
from madgen.errors import ProcessError, UnsupportedFeature
from madgen.process.syntax import OrderConstraint, parse_process
from physics import collision_points

SHARED = Path(__file__).resolve().parents[2] / "shared"
SMEFT = f"{SHARED / 'models' / 'SMEFTsim_topU3l_MwScheme_UFO'}-massless"


# ------------------------------------------------------------------ syntax and selection rules


@pytest.mark.parametrize("text, expected", [
    ("e+ e- > z h NP^2==1", [OrderConstraint("NP", "==", 1)]),
    ("e+ e- > z h NP ^ 2 == 1", [OrderConstraint("NP", "==", 1)]),
    ("e+ e- > z h NP^2<=1", [OrderConstraint("NP", "<=", 1)]),
    ("e+ e- > z h NP^2=2", [OrderConstraint("NP", "<=", 2)]),  # '=' means 'at most', as for amplitudes
    ("u u~ > d d~ QED^2==2 QCD^2<=4", [OrderConstraint("QED", "==", 2), OrderConstraint("QCD", "<=", 4)]),
    ("u u~ > d d~ QED^2>=2", [OrderConstraint("QED", ">=", 2)]),
])
def test_parse_squared_orders(text, expected):
    spec = parse_process(text)
    assert list(spec.squared_orders) == expected
    assert spec.final[-1] in ("h", "d~") and not spec.orders


def test_parse_amplitude_and_squared_orders_together():
    spec = parse_process("e+ e- > z h NP<=1 NP^2==2")
    assert spec.orders == (OrderConstraint("NP", "<=", 1),)
    assert spec.squared_orders == (OrderConstraint("NP", "==", 2),)


@pytest.mark.parametrize("text, error, words", [
    ("u u~ > d d~ QED^2==2 QED^2<=4", ProcessError, ["constrained twice"]),
    ("u u~ > d d~ QED^3==2", ProcessError, ["QED^3==2"]),
    ("u u~ > d d~ QCD^2==-1", UnsupportedFeature, ["QCD^2==-1", "negative"]),
])
def test_malformed_squared_orders(text, error, words):
    with pytest.raises(error) as info:
        parse_process(text)
    for word in words:
        assert word in str(info.value)


def test_amplitude_orders_from_squared_orders_as_madgraph():
    """Only squared orders: each bounds its amplitude order (>= bounds nothing) and WEIGHTED is off."""
    squared = (OrderConstraint("NP", "==", 1), OrderConstraint("QED", "<=", 4), OrderConstraint("QCD", ">=", 2))
    assert amplitude_constraints((), squared) == ((OrderConstraint("NP", "<=", 1), OrderConstraint("QED", "<=", 4)),
                                                  False)
    given = (OrderConstraint("NP", "<=", 2),)
    assert amplitude_constraints(given, squared) == (given, False)
    assert amplitude_constraints((), ()) == ((), True)  # MadGraph's minimal-WEIGHTED default


def test_selection_pairs():
    """NP classes 0 and 1: NP^2==1 keeps (0, 1), (1, 0); NP^2<=1 also (0, 0); NP^2==2 keeps |A_1|^2 only."""
    diagrams = [{"QED": 2}, {"QED": 1, "NP": 1}, {"QED": 2}]
    keep, linear = squared_selection(diagrams, (OrderConstraint("NP", "==", 1),), {}, "test")
    assert keep == [True, True, True]
    assert linear.classes == ((("NP", 0),), (("NP", 1),)) and set(linear.allowed_pairs) == {(0, 1), (1, 0)}
    assert [linear.class_of(d) for d in diagrams] == [0, 1, 0]
    _, up_to_linear = squared_selection(diagrams, (OrderConstraint("NP", "<=", 1),), {}, "test")
    assert set(up_to_linear.allowed_pairs) == {(0, 0), (0, 1), (1, 0)}
    keep, quadratic = squared_selection(diagrams, (OrderConstraint("NP", "==", 2),), {}, "test")
    assert keep == [False, True, False]  # the SM diagrams enter no allowed pair: dropped, as MadGraph does
    assert quadratic.classes == ((),) and quadratic.allowed_pairs == ((0, 0),)  # the rest is the whole |A_1|^2
    keep, everything = squared_selection(diagrams, (OrderConstraint("NP", "<=", 2),), {}, "test")
    assert keep == [True] * 3 and everything == OrderSelection((OrderConstraint("NP", "<=", 2),))


def test_selection_with_weighted():
    hierarchy = {"QCD": 1, "QED": 2}
    diagrams = [{"QCD": 2}, {"QED": 2}]  # WEIGHTED 2 and 4
    keep, selection = squared_selection(diagrams, (OrderConstraint("WEIGHTED", "==", 6),), hierarchy, "test")
    assert keep == [True, True] and set(selection.allowed_pairs) == {(0, 1), (1, 0)}


def test_selection_that_leaves_nothing_says_so():
    with pytest.raises(ProcessError) as info:
        squared_selection([{"QED": 2}, {"QCD": 2}], (OrderConstraint("QED", "==", 1),), {}, "process 'u u~ > d d~'")
    message = str(info.value)
    assert "QED^2==1" in message and "leaves nothing" in message and "QED=0" in message and "QED=2" in message


# ------------------------------------------------------------------ SM: u u~ > d d~, QCD and EW


def _points(proc, n=6, seed=11, sqrt_s=500.0):
    masses = np.asarray(proc.masses())
    return collision_points(sqrt_s, masses[:2], masses[2:], np.random.default_rng(seed), n)


@pytest.fixture(scope="module")
def uudd(generate_package):
    """One package holding every selection (one subprocess each: different orders are different processes)."""
    processes = ["u u~ > d d~ QED=2", "u u~ > d d~ QED=0", "u u~ > d d~ QCD=0", "u u~ > d d~ QED^2==2",
                 "u u~ > d d~ QED^2==0", "u u~ > d d~ QED^2==4", "u u~ > d d~ QCD^2<=2"]
    group = generate_package("sm", processes, "sq_uudd")
    assert len(group.subprocesses) == len(processes)
    return dict(zip(processes, group.subprocesses))


def test_interference_against_separate_processes(uudd):
    """QED^2==2 is the QCD-EW interference: |A_QCD + A_EW|^2 - |A_QCD|^2 - |A_EW|^2 from three processes
    generated without squared orders."""
    p = _points(uudd["u u~ > d d~ QED=2"])
    full, qcd, ew = (np.asarray(uudd[k].matrix_element(p)) for k in
                     ("u u~ > d d~ QED=2", "u u~ > d d~ QED=0", "u u~ > d d~ QCD=0"))
    interference = np.asarray(uudd["u u~ > d d~ QED^2==2"].matrix_element(p))
    np.testing.assert_allclose(interference, full - qcd - ew, rtol=1e-10, atol=1e-12 * np.max(full))
    assert np.all(np.abs(interference) > 1e-6 * full)  # a real term (the t-channel W against the gluon)
    assert uudd["u u~ > d d~ QED^2==2"].process.endswith("QED^2==2")


def test_sm_sum_rules(uudd):
    p = _points(uudd["u u~ > d d~ QED=2"], seed=5)
    me = {k: np.asarray(v.matrix_element(p)) for k, v in uudd.items()}
    full = me["u u~ > d d~ QED=2"]
    pieces = me["u u~ > d d~ QED^2==0"] + me["u u~ > d d~ QED^2==2"] + me["u u~ > d d~ QED^2==4"]
    np.testing.assert_allclose(pieces, full, rtol=1e-12)
    np.testing.assert_allclose(me["u u~ > d d~ QED^2==0"], me["u u~ > d d~ QED=0"], rtol=1e-12)
    np.testing.assert_allclose(me["u u~ > d d~ QED^2==4"], me["u u~ > d d~ QCD=0"], rtol=1e-12)
    # QCD^2<=2: no amplitude order given, so QCD<=2 and QED free: all diagrams, all pairs but QCD x QCD
    np.testing.assert_allclose(me["u u~ > d d~ QCD^2<=2"], full - me["u u~ > d d~ QED=0"], rtol=1e-10)


def test_generated_selection_tables(uudd):
    proc = uudd["u u~ > d d~ QED^2==2"]
    module = proc._module
    assert module.SQUARED_ORDERS == "QED^2==2"
    assert module.ORDER_CLASSES == [{"QED": 0}, {"QED": 2}]
    np.testing.assert_array_equal(module.ALLOWED_ORDER_PAIRS, [[0, 1], [1, 0]])
    data = proc.diagrams
    assert data["squared_orders"] == "QED^2==2" and data["order_classes"] == [{"QED": 0}, {"QED": 2}]
    for diagram in data["diagrams"]:
        assert diagram["order_class"] == (0 if diagram["orders"].get("QED", 0) == 0 else 1)


def test_kernel_is_consistent_with_the_selected_terms(uudd):
    """Helicity weights are the signed per-helicity parts of the selected |M|^2 (they sum to it); flow
    weights are non-negative; helicity and colour can be chosen for events of either sign."""
    proc = uudd["u u~ > d d~ QED^2==2"]
    p = _points(proc, n=8, seed=2)
    data = proc.evaluate(p, diagrams=True, helicities=True, flows=True)
    np.testing.assert_allclose(data["me2"], proc.matrix_element(p), rtol=1e-12)
    np.testing.assert_allclose(np.sum(data["helicity_weights"], axis=-1), data["me2"], rtol=1e-10,
                               atol=1e-14 * np.max(np.abs(data["me2"])))
    assert np.all(data["flow_weights"] >= 0) and np.all(np.sum(data["flow_weights"], axis=(-1, -2)) > 0)
    assert data["diagram_weights"].shape == (len(p), proc.n_diagrams)
    helicities, colours = proc.select_helicity_and_colour(p, np.full((len(p), 2), 0.5))
    weights = np.asarray(data["helicity_weights"])
    for event, chosen in enumerate(np.asarray(helicities)):
        row = next(i for i, h in enumerate(proc.helicities) if np.array_equal(h, chosen))
        assert weights[event, row] != 0  # chosen in proportion to |contribution|, whatever its sign
    assert colours.shape == (len(p), 4, 2)


@pytest.mark.parametrize("process, words", [
    ("u u~ > d d~ QED^2==1", ["QED^2==1", "leaves nothing", "(QED=0)"]),  # QED<=1: the gluon only
    ("u u~ > d d~ FOO^2==2", ["FOO", "QCD", "QED"]),
    ("u u~ > d d~ FOO<=2", ["FOO", "does not have"]),
])
def test_bad_order_selection(process, words, tmp_path):
    import madgen

    card = tmp_path / "card.yaml"
    card.write_text(f"model: sm\nprocess: {process}\nname: bad\n")
    with pytest.raises(ProcessError) as info:
        madgen.generate(card, output=tmp_path / "bad")
    for word in words:
        assert word in str(info.value)
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------ SMEFTsim: linear and quadratic terms


@pytest.fixture(scope="module")
def zh(generate_package, tmp_path_factory):
    from madgen.model import load_model

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MADGEN_CACHE", str(tmp_path_factory.mktemp("smeft_cache")))
        processes = ["e+ e- > z h NP<=1", "e+ e- > z h NP=0", "e+ e- > z h NP^2==1", "e+ e- > z h NP<=1 NP^2==2"]
        group = generate_package(SMEFT, processes, "sq_smeft_zh")
        model = load_model(SMEFT)
    subprocesses = dict(zip(["full", "sm", "linear", "quadratic"], group.subprocesses))
    assert subprocesses["linear"].process.endswith("NP^2==1")
    wilson = sorted(p.name for p in model.external_parameters if (p.lhablock or "").upper() == "SMEFT")
    return subprocesses, wilson


def _theta(proc, wilson, coefficients, values):
    """The package's defaults with every Wilson coefficient 0 except ``coefficients``."""
    theta = proc.default_parameters()
    theta.update({name: 0.0 for name in wilson})
    theta.update(dict(zip(coefficients, values)))
    return theta


def test_smeft_terms_add_up_to_the_full_matrix_element(zh):
    """NP^2==1 + (NP<=1 NP^2==2) + SM (NP=0) = NP<=1, pointwise, with several coefficients non-zero."""
    zh, wilson = zh
    full = zh["full"]
    p = _points(full, n=4, seed=7, sqrt_s=600.0)
    assert {"cHW", "cHl3", "cHDD"} <= set(wilson)
    rng = np.random.default_rng(3)
    theta = _theta(full, wilson, wilson, rng.uniform(-2, 2, len(wilson)))
    me = {k: np.asarray(v.matrix_element(p, theta)) for k, v in zh.items()}
    np.testing.assert_allclose(me["sm"] + me["linear"] + me["quadratic"], me["full"], rtol=1e-12)
    assert np.all(np.abs(me["linear"]) > 1e-4 * me["sm"]) and np.all(me["quadratic"] > 0)


def test_linear_term_is_the_gradient_at_zero(zh):
    """NP^2==1 at c equals c . grad_c |M|^2(NP<=1) at c = 0 (jax.grad; summed over the points, which keeps
    one compiled batch shape), is linear in c, and vanishes at c = 0; the NP^2==2 term scales as c^2."""
    zh, wilson = zh
    full, linear, quadratic = zh["full"], zh["linear"], zh["quadratic"]
    p = _points(full, n=4, seed=7, sqrt_s=600.0)  # the batch shape of the test above: no new compilation
    zero = _theta(full, wilson, (), ())
    gradient = jax.grad(lambda w: full.matrix_element(p, {**zero, **w}).sum())({name: 0.0 for name in wilson})
    c = np.random.default_rng(4).uniform(-1, 1, len(wilson))
    expected = sum(float(gradient[name]) * value for name, value in zip(wilson, c))
    theta = _theta(full, wilson, wilson, c)
    assert float(np.sum(linear.matrix_element(p, theta))) == pytest.approx(expected, rel=1e-10)
    for name in ("cHW", "cHl3", "cHDD"):  # one coefficient at a time
        single = _theta(full, wilson, [name], [0.7])
        assert float(np.sum(linear.matrix_element(p, single))) == pytest.approx(0.7 * float(gradient[name]),
                                                                                rel=1e-10)
    np.testing.assert_allclose(linear.matrix_element(p, _theta(full, wilson, wilson, 3 * c)),
                               3 * np.asarray(linear.matrix_element(p, theta)), rtol=1e-11)
    np.testing.assert_allclose(quadratic.matrix_element(p, _theta(full, wilson, wilson, -2 * c)),
                               4 * np.asarray(quadratic.matrix_element(p, theta)), rtol=1e-11)
    assert np.all(np.asarray(linear.matrix_element(p, zero)) == 0)


SIGNED_RUN = {"sqrt_s": 500.0, "seed": 4, "warmup_iterations": 2, "iterations": 3, "points_per_iteration": 8000,
              "cuts": {"ptj": 50.0}, "event_norm": "sum", "columnar": "npz"}


def _launch_signed(tmp_path, name, processes, n_events):
    from madgen.api import launch, load

    card = tmp_path / f"{name}.yaml"
    lines = "".join(f"  - {p}\n" for p in processes)
    card.write_text(f"model: sm\nprocess:\n{lines}name: {name}\noutput: {tmp_path / name}\n")
    result = launch(card, {**SIGNED_RUN, "n_events": n_events}, output=tmp_path / f"run_{name}",
                    log=lambda *a: None, progress=False)
    return result, np.load(tmp_path / f"run_{name}" / "events.npz"), load(tmp_path / name)


def test_a_negative_interference_gives_negative_weight_events(tmp_path):
    """The QCD x EW interference of u u~ > d d~ is negative at 500 GeV: launch writes unweighted events
    carrying the sign of their integrand (MadGraph's unweighting on |w|), each of magnitude sigma_abs / N
    (sigma_abs = |sigma| for an integrand of one sign), whose signed weights sum to sigma."""
    result, events, _ = _launch_signed(tmp_path, "sq_int", ["u u~ > d d~ QCD<=2 QED<=2 QED^2==2"], 400)
    weights = events["weights"]
    assert result.cross_section_pb < 0 and result.n_events == len(weights) == 400
    assert result.n_negative == np.sum(weights < 0) == 400
    assert result.abs_cross_section_pb == pytest.approx(-result.cross_section_pb, rel=1e-12)
    np.testing.assert_allclose(weights, result.cross_section_pb / 400, rtol=1e-12)
    import pylhe  # the LHE file: the signed weights, IDWTUP -4, XMAXUP their magnitude, XSECUP sigma

    lhe = pylhe.LHEFile.fromfile(str(tmp_path / "run_sq_int" / "events.lhe"))
    assert lhe.init.initInfo.weightingStrategy == -4
    assert lhe.init.procInfo[0].unitWeight == pytest.approx(-result.cross_section_pb / 400, rel=1e-9)
    assert lhe.init.procInfo[0].xSection == pytest.approx(result.cross_section_pb, rel=1e-9)
    np.testing.assert_allclose([event.eventinfo.weight for event in lhe.events], weights, rtol=1e-9)


@pytest.mark.parametrize("processes", [
    ["u u~ > d d~ QCD<=2 QED<=2 QED^2<=2"],  # one kernel: positive backwards, negative forwards
    ["u u~ > d d~ QED=0", "u u~ > d d~ QCD<=2 QED<=2 QED^2==2"],  # two kernel groups, one of each sign
], ids=["one-kernel", "two-groups"])
def test_events_of_both_signs_follow_the_signed_distribution(tmp_path, processes):
    """u u~ > d d~ at 500 GeV: QCD alone (positive) plus its QCD x EW interference (negative, larger than
    QCD in the forward region), as one kernel whose integrand changes sign or as two kernel groups that share
    the events in proportion to their integrals of |f|. The signed weights histogrammed in cos(theta) of the
    d against the u beam match the differential cross section from the |M|^2 integrated per bin
    (Gauss-Legendre; dPhi_2 = dcos(theta) / (16 pi), flux 1 / (2 s)). 8 bins, chi^2 with 8 degrees of freedom
    against a fixed expectation: 26.1 is its 99.9% quantile. The same events without their signs (what
    keeping positive weights alone amounts to) fail it by far."""
    result, events, package = _launch_signed(tmp_path, "sq_signed", processes, 4000)
    weights, momenta = events["weights"], events["momenta"]
    assert 1000 < result.n_negative < 3000 and abs(result.cross_section_pb) < 0.5 * result.abs_cross_section_pb
    np.testing.assert_allclose(np.abs(weights), result.abs_cross_section_pb / 4000, rtol=1e-12)
    cos_theta = momenta[:, 2, 3] / np.linalg.norm(momenta[:, 2, 1:], axis=1)
    edges = SIGNED_EDGES
    observed = np.histogram(cos_theta, edges, weights=weights)[0]
    variance = np.histogram(cos_theta, edges, weights=weights ** 2)[0]
    expected = _expected_histogram(package, edges)
    assert expected[0] > 0 > expected[-1]
    chi2 = float(np.sum((observed - expected) ** 2 / variance))
    assert chi2 < 26.1, (chi2, observed, expected)
    unsigned = np.histogram(cos_theta, edges, weights=np.abs(weights))[0]
    assert float(np.sum((unsigned - expected) ** 2 / variance)) > 1000


SIGNED_EDGES = np.linspace(-0.96, 0.96, 9)  # in cos(theta); ptj > 50 GeV at 500 GeV: |cos| < 0.9798


def _expected_histogram(package, edges, parameters=None):
    """Per bin of cos(theta) at 500 GeV, the cross section (pb) of the package's |M|^2 (its subprocesses
    summed), by Gauss-Legendre: dPhi_2 = dcos(theta) / (16 pi), flux 1 / (2 s)."""
    from madgen.runtime.integrand import GEV2_TO_PB

    nodes, gauss = np.polynomial.legendre.leggauss(12)
    expected = []
    for low, high in zip(edges[:-1], edges[1:]):
        points = _two_to_two(500.0, low + (high - low) * (nodes + 1) / 2)
        me2 = sum(np.asarray(sub.matrix_element(points, parameters)) for sub in package.subprocesses)
        expected.append((high - low) / 2 * np.sum(gauss * me2) / (16 * np.pi) / (2 * 500.0 ** 2) * GEV2_TO_PB)
    return np.array(expected)


def test_reweighted_events_of_both_signs_follow_the_new_distribution(tmp_path):
    """Reweighting keeps an event's sign where |M|^2 is negative: events of the one-kernel u u~ > d d~
    (QCD and its QCD x EW interference) reweighted to alpha_EW 1.33 times larger (the interference grows
    with it, QCD does not) give the signed histogram of the |M|^2 there (chi^2 < 26.1 as above); at the
    reference point every weight is its own."""
    from madgen.api import reweight

    _, events, package = _launch_signed(tmp_path, "sq_rw", ["u u~ > d d~ QCD<=2 QED<=2 QED^2<=2"], 4000)
    theta = {"aEWM1": 100.0}
    result = reweight(tmp_path / "run_sq_rw" / "events.lhe", tmp_path / "sq_rw", [theta, {}], log=lambda *a: None)
    columns = np.load(tmp_path / "run_sq_rw" / "events.npz")
    new, same = (columns[point.weight_id] for point in result.points)
    np.testing.assert_allclose(same, events["weights"], rtol=1e-10, atol=0)  # XWGTUP has 11 digits in the LHE file
    momenta = events["momenta"]
    cos_theta = momenta[:, 2, 3] / np.linalg.norm(momenta[:, 2, 1:], axis=1)
    observed = np.histogram(cos_theta, SIGNED_EDGES, weights=new)[0]
    variance = np.histogram(cos_theta, SIGNED_EDGES, weights=new ** 2)[0]
    expected = _expected_histogram(package, SIGNED_EDGES, theta)
    assert not np.allclose(expected, _expected_histogram(package, SIGNED_EDGES), rtol=0.05)
    chi2 = float(np.sum((observed - expected) ** 2 / variance))
    assert chi2 < 26.1, (chi2, observed, expected)


def _two_to_two(sqrt_s, cos_theta):
    """Massless 2 -> 2 momenta at fixed energy, leg 1 along +z, leg 3 at angle theta to it."""
    e, sin = sqrt_s / 2, np.sqrt(1 - cos_theta ** 2)
    points = np.zeros((len(cos_theta), 4, 4))
    points[:, 0], points[:, 1] = [e, 0, 0, e], [e, 0, 0, -e]
    points[:, 2] = np.stack([np.full_like(sin, e), e * sin, 0 * sin, e * cos_theta], axis=1)
    points[:, 3] = np.stack([np.full_like(sin, e), -e * sin, 0 * sin, -e * cos_theta], axis=1)
    return points


def test_the_integral_of_the_magnitude_adds_twice_the_smaller_part():
    """sigma_abs = sigma + 2 N or -sigma + 2 P per channel (N, P: the pilot's negative and positive parts,
    the smaller one): exactly |sigma| for a channel of one sign; the pilot's mean |w| where statistics leave
    the sum at or below zero."""
    from madgen.runtime.unweight import absolute_cross_sections

    sigma_abs = absolute_cross_sections(
        [60.0, 40.0, -38.0, -0.001, 0.0],
        [[0.0, 500.0], [0.2, 100.0], [37.9, 0.0], [0.1, 0.4], [0.0, 0.0]],
        [1000, 1000, 1000, 1000, 0])
    assert sigma_abs[0] == 60.0 and sigma_abs[2] == 38.0 and sigma_abs[4] == 0.0
    assert sigma_abs[1] == pytest.approx(40.0004, rel=1e-14)
    assert sigma_abs[3] == pytest.approx(0.0005, rel=1e-12)  # -0.001 + 2 x 0.0001 < 0


def test_gold_mining_refuses_an_integrand_of_both_signs(tmp_path):
    """Gold (joint likelihood ratios and scores) needs a probability density: an integrand negative in
    much of the phase space (QCD beside its QCD x EW interference) is refused, naming why and the way out."""
    from madgen.api import mine
    from madgen.inference.errors import InferenceError

    card = tmp_path / "mine.yaml"
    card.write_text(f"model: sm\nprocess: u u~ > d d~ QCD<=2 QED<=2 QED^2<=2\nname: sq_mine\n"
                    f"output: {tmp_path / 'sq_mine'}\n")
    with pytest.raises(InferenceError, match=r"needs a probability density.*negative in part of the phase space "
                                             r"\(0\.[0-9]+ of the integral of its magnitude.*squared-order selection"):
        mine(card, {**SIGNED_RUN, "n_events": 200}, ["WW"], output=tmp_path / "gold.h5", log=lambda *a: None)
    assert not (tmp_path / "gold.h5").exists()


def test_gold_mining_refuses_a_theta_where_the_integrand_turns_negative(tmp_path):
    """QCD beside its QCD x EW interference is positive everywhere at aS = 2 (the reference), negative in
    about a quarter of the phase space at aS = 0.118: log r there is undefined and is refused, not written
    as nan."""
    from madgen.api import mine
    from madgen.inference.errors import InferenceError

    card = tmp_path / "mine.yaml"
    card.write_text(f"model: sm\nprocess: u u~ > d d~ QCD<=2 QED<=2 QED^2<=2\nname: sq_mine_theta\n"
                    f"output: {tmp_path / 'sq_mine_theta'}\n")
    with pytest.raises(InferenceError, match=r"theta \(aS=0\.118\): \|M\|\^2 of .* is negative \(or not a number\) "
                                             r"for [0-9]+ of the 200 events.*nothing was written"):
        mine(card, {**SIGNED_RUN, "n_events": 200}, ["aS"], theta_ref={"aS": 2.0}, thetas=[{"aS": 0.118}],
             output=tmp_path / "gold.h5", log=lambda *a: None)
    assert not (tmp_path / "gold.h5").exists()
