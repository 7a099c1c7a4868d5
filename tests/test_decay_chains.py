"""Decay chains and required s-channels (MadGraph's ``p p > t t~, t > b w+``, ``(t > b w+, w+ > l+ vl)``,
``e+ e- > z > mu+ mu-``): syntax, leg order, the structural diagram selection, MadGraph's value near
the top pole, the resonance table of CHANNELS, drawings and bad input.

The independent references: MadGraph's |M|^2 (``../shared/reference/mg5_decay_me2.json``), and the
full final-state process generated without any decay machinery, evaluated on only the diagrams that
the test itself picks from its diagram data (those with the resonances on the decay products).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from madgen.compiler import diagram_data
from madgen.contract import DECAY_KEYS
from madgen.diagrams.draw import draw_diagrams
from madgen.errors import ProcessError, UnsupportedFeature
from madgen.model import load_model
from madgen.process.card import parse_process_card
from madgen.process.expand import expand_process, resolve_labels
from madgen.process.syntax import parse_process
from physics import dot, rambo

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mg5_decay_me2.json"


@pytest.fixture(scope="module")
def sm():
    return load_model("sm")


def subprocesses(model, text):
    return expand_process(model, parse_process(text), resolve_labels(model, {}))


# ------------------------------------------------------------------ syntax and expansion


def test_parse_nested_chain():
    spec = parse_process("p p > t t~ QCD=2, (t > b w+, w+ > l+ vl), t~ > b~ w- / h")
    assert spec.final == ("t", "t~") and [str(o) for o in spec.orders] == ["QCD<=2"]
    top, antitop = spec.decays
    assert (top.particle, top.products, top.decays[0].text) == ("t", ("b", "w+"), "w+ > l+ vl")
    assert (antitop.particle, antitop.products, antitop.excluded) == ("t~", ("b~", "w-"), ("h",))
    assert top.chain_text() == "(t > b w+, w+ > l+ vl)"


def test_leg_order_is_madgraphs(sm):
    """The products replace the decaying particle in its place (MadGraph's reference: [-11, 11, 5, 24, -6])."""
    (sub,) = subprocesses(sm, "e+ e- > t t~, t > b w+")
    assert [sm.particle(n).pdg_code for n in sub.particles] == json.loads(REFERENCE.read_text())[0]["pdg_ids"]
    assert sub.text == "e+ e- > t t~, t > b W+" and sub.decays[0].legs == (3, 4)
    (sub,) = subprocesses(sm, "e+ e- > t t~, (t > b w+, w+ > e+ ve), t~ > b~ w-")
    assert sub.final == ("b", "e+", "ve", "b~", "W-")
    top, antitop = sub.decays
    assert (top.legs, top.decays[0].legs, antitop.legs) == ((3, 4, 5), (4, 5), (6, 7))


def test_multiparticle_labels_in_decays(sm):
    subs = subprocesses(sm, "p p > z h, z > l+ l-, h > b b~")
    finals = {sub.final for sub in subs}
    assert ("e+", "e-", "b", "b~") in finals and ("mu+", "mu-", "b", "b~") in finals
    assert {sub.initial for sub in subs} >= {("u", "u~"), ("g", "g")}
    assert all(sub.decays[0].legs == (3, 4) and sub.decays[1].legs == (5, 6) for sub in subs)


def test_identical_particles_get_each_decay(sm):
    """One decay for two Z applies to both; MadGraph's identical-particle factor counts the identical
    chains (2), not the final state's 2!2!; two different decays apply in order, factor 1."""
    (same,) = subprocesses(sm, "e+ e- > z z, z > e+ e-")
    assert same.final == ("e+", "e-", "e+", "e-") and [d.legs for d in same.decays] == [(3, 4), (5, 6)]
    assert same.identical_particle_factor == 2
    (mixed,) = subprocesses(sm, "e+ e- > z z, z > e+ e-, z > mu+ mu-")
    assert mixed.final == ("e+", "e-", "mu+", "mu-") and mixed.identical_particle_factor == 1
    labelled = subprocesses(sm, "e+ e- > z z, z > l+ l-")
    texts = sorted(sub.text for sub in labelled if sub.decays[0].products[0] == "e+")
    assert "e+ e- > Z Z, Z > e+ e-, Z > mu+ mu-" in texts  # one of the two equal assignments is kept
    assert sum(sub.final == ("mu+", "mu-", "e+", "e-") for sub in labelled) == 0
    (undecayed,) = subprocesses(sm, "e+ e- > z z z, z > e+ e-")
    assert undecayed.identical_particle_factor == 6  # three identical chains


@pytest.mark.parametrize("text, error, words", [
    ("e+ e- > t t~, t > b w-", ProcessError, ["'t > b w-'", "charge"]),
    ("e+ e- > mu+ mu-, mu+ > e+ ve vm~", ProcessError, ["'mu+'", "stable"]),
    ("e+ e- > t t~, z > e+ e-", ProcessError, ["decay of 'Z'", "t t~"]),
    ("e+ e- > t t~, (t > b w+, z > e+ e-)", ProcessError, ["decay of 'Z'", "b W+"]),
    ("p p > t t~, j > b w+", ProcessError, ["label 'j'"]),
    ("e+ e- > z z z, z > e+ e-, z > mu+ mu-", ProcessError, ["2 decays of 'Z' for 3"]),
    ("e+ e- > t t~, t > b w+ (", ProcessError, ["unbalanced"]),
    ("e+ e- > t t~, t > b w+)", ProcessError, ["unbalanced", "column"]),
    ("e+ e- > t t~, t >", ProcessError, ["'t >'", "no decay products"]),
    ("e+ e- > t t~, t > b", ProcessError, ["one decay product"]),
    ("e+ e- > t t~, , t > b w+", ProcessError, ["empty decay"]),
    ("e+ e- > t t~, t b w+", ProcessError, ["'t b w+'", "exactly one '>'"]),
    ("e+ e- > t t~, t > b (w+ > e+ ve)", ProcessError, ["(t > b w+, w+ > l+ vl)"]),
    ("e+ e- > t t~, t t~ > b w+", ProcessError, ["one decaying particle"]),
    ("e+ e- > t t~, t > w+ > b", ProcessError, ["required s-channel"]),
    ("e+ e- > t t~, t > b w+ QED^2==2", UnsupportedFeature, ["production process"]),
    ("(e+ e- > t t~), t > b w+", ProcessError, ["parentheses"]),
    ("e+ e- > t t~, t > b xx", ProcessError, ["unknown particle", "'xx'", "'t > b xx'"]),
])
def test_bad_chains(sm, text, error, words):
    with pytest.raises(error) as info:
        subprocesses(sm, text)
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("text, words", [
    ("e+ e- > t t~, t > b e+ vm", ["'t > b e+ vm'", "no tree-level diagram"]),  # conserves charge, no vertex
    # with several subprocesses (p p), the reason they share, once, not only "no subprocess has diagrams"
    ("p p > t t~, t > b e+ vm", ["no subprocess of", "the decay 't > b e+ vm' has no tree-level diagram"]),
    ("e+ e- > t t~, t > b e+ ve / w+", ["'t > b e+ ve'", "no tree-level diagram"]),
    ("e+ e- > t t~, t > b e+ ve $$ w+", ["'t > b e+ ve'"]),
    ("e+ e- > t t~, t > b w+ QCD=1 FOO=2", ["FOO", "does not have"]),
    ("e+ e- > z > e+ e- / z", ["no tree-level diagrams", "required s-channel"]),
])
def test_chains_without_diagrams(text, words, tmp_path):
    card = parse_process_card(f"model: sm\nprocess: {text}\n")
    with pytest.raises(ProcessError) as info:
        diagram_data(card)
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("text, particles", [
    ("e+ e- > t t~, t > b w+", [{"a", "t~"}, {"Z", "t~"}]),
    ("e+ e- > t t~ / z, t > b w+", [{"a", "t~"}]),  # '/' of the production: its lines only
    ("e+ e- > t t~ $$ a, t > b w+", [{"Z", "t~"}]),
    ("e+ e- > t t~, t > b w+ / z a", [{"a", "t~"}, {"Z", "t~"}]),  # '/' of the decay: nothing to remove there
    ("e+ e- > t t~ QED=0, t > b w+", None),  # the production's orders: not the decay's QED
    ("e+ e- > t t~, t > b w+ QED=0", None),
])
def test_orders_and_exclusions_of_each_piece(text, particles):
    card = parse_process_card(f"model: sm\nprocess: {text}\n")
    if particles is None:
        with pytest.raises(ProcessError):
            diagram_data(card)
        return
    (data,) = diagram_data(card).values()
    assert [{p["particle"] for p in d["propagators"]} for d in data["diagrams"]] == particles
    assert data["process"].startswith("e+ e- > t t~") and data["decays"][0]["legs"] == [3, 4]


# ------------------------------------------------------------------ kinematics near the poles


def _decay(parent, masses, rng):
    """Two-body decay of the momenta ``parent`` (n, 4) into ``masses``, isotropic in its rest frame."""
    m = np.sqrt(dot(parent, parent))
    m1, m2 = masses
    q = np.sqrt((m ** 2 - (m1 + m2) ** 2) * (m ** 2 - (m1 - m2) ** 2)) / (2 * m)
    cos, phi = 2 * rng.random(len(m)) - 1, 2 * np.pi * rng.random(len(m))
    sin = np.sqrt(1 - cos ** 2)
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=-1)
    first = np.concatenate([np.sqrt(m1 ** 2 + q ** 2)[:, None], q[:, None] * direction], axis=-1)
    second = np.concatenate([np.sqrt(m2 ** 2 + q ** 2)[:, None], -q[:, None] * direction], axis=-1)
    return _boost(first, parent), _boost(second, parent)


def _boost(p, frame):
    """Boost ``p`` from the rest frame of ``frame`` to the frame where ``frame`` has its momentum."""
    m = np.sqrt(dot(frame, frame))
    beta = frame[:, 1:] / frame[:, :1]
    gamma = frame[:, 0] / m
    bp = np.sum(beta * p[:, 1:], axis=-1)
    b2 = np.sum(beta ** 2, axis=-1)
    energy = gamma * (p[:, 0] + bp)
    space = p[:, 1:] + ((gamma - 1) * bp / np.where(b2 > 0, b2, 1) + gamma * p[:, 0])[:, None] * beta
    return np.concatenate([energy[:, None], space], axis=-1)


def _near_pole(mass, width, n, rng, spread=3.0):
    return mass + width * rng.uniform(-spread, spread, n)


def _ttbar_points(sqrt_s, mt, wt, mb, mw, n, rng, w_width=None):
    """e+ e- > t t~ with both tops near their pole, t > b W+, t~ > b~ W- (W+ > e+ ve when ``w_width``)."""
    rows = []
    for m1, m2 in zip(_near_pole(mt, wt, n, rng), _near_pole(mt, wt, n, rng)):
        top, antitop = rambo(sqrt_s, [m1, m2], rng)[0]
        rows.append((top, antitop))
    tops, antitops = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    beams = np.array([[sqrt_s / 2, 0, 0, sqrt_s / 2], [sqrt_s / 2, 0, 0, -sqrt_s / 2]])
    beams = np.broadcast_to(beams, (n, 2, 4))
    bbar, w_minus = _decay(antitops, (mb, mw), rng)
    if w_width is None:
        b, w_plus = _decay(tops, (mb, mw), rng)
        return np.concatenate([beams, np.stack([b, w_plus, bbar, w_minus], axis=1)], axis=1)
    b, w_plus = _decay_to(tops, mb, _near_pole(mw, w_width, n, rng), rng)  # an off-shell W+ near its pole
    positron, neutrino = _decay(w_plus, (0.0, 0.0), rng)
    return np.concatenate([beams, np.stack([b, positron, neutrino, bbar, w_minus], axis=1)], axis=1)


def _decay_to(parent, m1, m2_values, rng):
    firsts, seconds = [], []
    for i, m2 in enumerate(m2_values):
        first, second = _decay(parent[i:i + 1], (m1, m2), rng)
        firsts.append(first[0])
        seconds.append(second[0])
    return np.array(firsts), np.array(seconds)


def _restricted(proc, momenta, keep):
    """|M|^2 of ``proc`` from only the diagrams ``keep`` (numbers), computed here from the generated
    module's amplitudes, colour matrix and averaging factor (no decay machinery)."""
    module = proc._module
    theta = proc.default_parameters()
    internal = proc._parameters.compute_parameters(theta)
    p = np.transpose(np.asarray(momenta, dtype=float), (1, 2, 0))
    amps = np.asarray(module.amplitudes(p, internal))
    selected = np.isin(module.DIAGRAM_OF_TERM, list(keep))
    jamp = np.einsum("kt,thb->khb", module.JAMP_COEFFICIENTS[:, selected], amps[selected])
    return np.real(np.einsum("khb,kl,lhb->b", np.conj(jamp), module.COLOUR_MATRIX, jamp)) / module.AVERAGING_FACTOR


def _diagrams_with(data, resonances):
    """Numbers of the diagrams having, for each (|pdg|, final legs), a propagator of that particle that
    separates those legs from the rest."""
    all_legs = {leg["number"] for leg in data["legs"]}
    kept = []
    for diagram in data["diagrams"]:
        splits = set()
        for prop in diagram["propagators"]:
            legs = set(prop["legs"])
            side = legs if not any(leg["initial"] for leg in data["legs"] if leg["number"] in legs) else all_legs - legs
            splits.add((abs(prop["pdg"]), frozenset(side)))
        if all((pdg, frozenset(legs)) in splits for pdg, legs in resonances):
            kept.append(diagram["number"])
    return kept


def test_madgraph_reference_near_the_top_pole(generate_package):
    entry = json.loads(REFERENCE.read_text())[0]
    proc = generate_package("sm", entry["process"], "dc_ref")
    assert list(proc.pdg_ids) == entry["pdg_ids"] and proc.n_diagrams == entry["n_diagrams"]
    momenta = np.array([point["momenta"] for point in entry["points"]])
    np.testing.assert_allclose(proc.matrix_element(momenta), [p["me2"] for p in entry["points"]], rtol=1e-10)
    assert proc.channels["decays"] == [{"particle": "t", "pdg": 6, "mass": "MT", "width": "WT", "legs": [3, 4],
                                        "parent": None}]
    assert proc.process == "e+ e- > t t~, t > b W+"
    # the decaying top's propagator keeps its width: a Breit-Wigner, finite on the pole
    top_lines = [p for d in proc.channels["diagrams"] for p in d["propagators"] if abs(p["pdg"]) == 6]
    assert top_lines and all(p["width"] == "WT" and p["s_channel"] for p in top_lines)


@pytest.fixture(scope="module")
def ttbar(generate_package):
    chain = generate_package("sm", "e+ e- > t t~, t > b w+, t~ > b~ w-", "dc_ttbar")
    full = generate_package("sm", "e+ e- > b w+ b~ w-", "dc_bwbw")
    return chain, full


def test_chain_equals_the_doubly_resonant_diagrams(ttbar):
    chain, full = ttbar
    assert chain.pdg_ids == full.pdg_ids == (-11, 11, 5, 24, -5, -24)
    keep = _diagrams_with(full.diagrams, [(6, {3, 4}), (6, {5, 6})])
    assert len(keep) == chain.n_diagrams == 2 and full.n_diagrams > 2
    masses = np.asarray(chain.masses())
    theta = chain.default_parameters()
    p = _ttbar_points(500.0, theta["MT"], theta["WT"], masses[2], masses[3], 6, np.random.default_rng(1))
    me = np.asarray(chain.matrix_element(p))
    np.testing.assert_allclose(me, _restricted(full, p, keep), rtol=1e-10)
    assert chain.channels["decays"] == [
        {"particle": "t", "pdg": 6, "mass": "MT", "width": "WT", "legs": [3, 4], "parent": None},
        {"particle": "t~", "pdg": -6, "mass": "MT", "width": "WT", "legs": [5, 6], "parent": None}]
    assert all(sum("resonance" in p for p in d["propagators"]) == 2 for d in chain.diagrams["diagrams"])


def test_nested_chain(generate_package):
    """(t > b w+, w+ > e+ ve) equals the three-body decay t > b e+ ve (only through the W at tree level),
    and its resonance table has the W under the top."""
    nested = generate_package("sm", "e+ e- > t t~, (t > b w+, w+ > e+ ve), t~ > b~ w-", "dc_nested")
    three_body = generate_package("sm", "e+ e- > t t~, t > b e+ ve, t~ > b~ w-", "dc_three_body")
    assert nested.pdg_ids == three_body.pdg_ids == (-11, 11, 5, -11, 12, -5, -24)
    theta = nested.default_parameters()
    masses = np.asarray(nested.masses())
    p = _ttbar_points(500.0, theta["MT"], theta["WT"], masses[2], masses[6], 5, np.random.default_rng(2),
                      w_width=float(theta["WW"]))
    np.testing.assert_allclose(nested.matrix_element(p), three_body.matrix_element(p), rtol=1e-10)
    assert nested.channels["decays"] == [
        {"particle": "t", "pdg": 6, "mass": "MT", "width": "WT", "legs": [3, 4, 5], "parent": None},
        {"particle": "W+", "pdg": 24, "mass": "MW", "width": "WW", "legs": [4, 5], "parent": 0},
        {"particle": "t~", "pdg": -6, "mass": "MT", "width": "WT", "legs": [6, 7], "parent": None}]
    assert [e["legs"] for e in three_body.channels["decays"]] == [[3, 4, 5], [6, 7]]
    assert all(tuple(entry) == DECAY_KEYS for entry in nested.channels["decays"])


@pytest.mark.slow  # 64 s of the default suite (a 244-diagram compile); the doubly resonant chain stays in it
def test_nested_chain_equals_the_triply_resonant_diagrams(generate_package):
    """The full e+ e- > b e+ ve b~ w- (244 diagrams, ~25 s to compile) on its two diagrams with t, W+ and t~."""
    nested = generate_package("sm", "e+ e- > t t~, (t > b w+, w+ > e+ ve), t~ > b~ w-", "dc_nested")
    full = generate_package("sm", "e+ e- > b e+ ve b~ w-", "dc_full_nested")
    keep = _diagrams_with(full.diagrams, [(6, {3, 4, 5}), (24, {4, 5}), (6, {6, 7})])
    assert len(keep) == nested.n_diagrams == 2
    theta = nested.default_parameters()
    masses = np.asarray(nested.masses())
    p = _ttbar_points(500.0, theta["MT"], theta["WT"], masses[2], masses[6], 4, np.random.default_rng(12),
                      w_width=float(theta["WW"]))
    np.testing.assert_allclose(nested.matrix_element(p), _restricted(full, p, keep), rtol=1e-10)


def test_identical_decays_use_madgraphs_factor(generate_package):
    """Z Z > (e+ e-)(e+ e-) with one pairing and factor 2 is half of Z Z > (e+ e-)(mu+ mu-) at the same
    momenta (massless leptons, universal couplings): so both integrate to sigma(ZZ) BR BR."""
    same = generate_package("sm", "e+ e- > z z, z > e+ e-", "dc_zz_ee")
    mixed = generate_package("sm", "e+ e- > z z, z > e+ e-, z > mu+ mu-", "dc_zz_emu")
    assert same._module.AVERAGING_FACTOR == 4 * 2 and mixed._module.AVERAGING_FACTOR == 4
    rng = np.random.default_rng(6)
    theta = same.default_parameters()
    zs = np.array([rambo(400.0, list(_near_pole(theta["MZ"], 2.4414, 2, rng)), rng)[0] for _ in range(4)])
    l1, l2 = _decay(zs[:, 0], (0.0, 0.0), rng)
    l3, l4 = _decay(zs[:, 1], (0.0, 0.0), rng)
    beams = np.broadcast_to(np.array([[200.0, 0, 0, 200.0], [200.0, 0, 0, -200.0]]), (4, 2, 4))
    p = np.concatenate([beams, np.stack([l1, l2, l3, l4], axis=1)], axis=1)
    np.testing.assert_allclose(2 * np.asarray(same.matrix_element(p)), mixed.matrix_element(p), rtol=1e-12)
    assert [e["legs"] for e in same.channels["decays"]] == [[3, 4], [5, 6]]


def test_zh_with_decays(generate_package, sm):
    """u u~ > z h, z > e+ e-, h > b b~ equals u u~ > e+ e- b b~ (EW) on its diagrams with the Z and the H."""
    chain = generate_package("sm", "u u~ > z h, z > e+ e-, h > b b~", "dc_zh")
    full = generate_package("sm", "u u~ > e+ e- b b~ QCD=0", "dc_eebb")
    keep = _diagrams_with(full.diagrams, [(23, {3, 4}), (25, {5, 6})])
    assert len(keep) == chain.n_diagrams >= 1
    theta = chain.default_parameters()
    rng = np.random.default_rng(8)
    n = 4
    bosons = np.array([rambo(600.0, [mz, mh], rng)[0] for mz, mh in
                       zip(_near_pole(theta["MZ"], 2.4414, n, rng), _near_pole(theta["MH"], 0.00638, n, rng))])
    e_plus, e_minus = _decay(bosons[:, 0], (0.0, 0.0), rng)
    b, bbar = _decay(bosons[:, 1], (theta["MB"], theta["MB"]), rng)
    beams = np.broadcast_to(np.array([[300.0, 0, 0, 300.0], [300.0, 0, 0, -300.0]]), (n, 2, 4))
    p = np.concatenate([beams, np.stack([e_plus, e_minus, b, bbar], axis=1)], axis=1)
    np.testing.assert_allclose(chain.matrix_element(p), _restricted(full, p, keep), rtol=1e-10)
    # the hadron-collider card: labels in the decays, MadGraph's leg order, one table entry per decay
    data = diagram_data(parse_process_card("model: sm\nprocess: p p > z h, z > l+ l-, h > b b~\n"))
    assert all([leg["pdg"] for leg in d["legs"]][4:] == [5, -5] for d in data.values())
    assert all([e["particle"] for e in d["decays"]] == ["Z", "H"] for d in data.values())


def test_required_s_channel(generate_package):
    """e+ e- > z > mu+ mu- keeps the s-channel Z only: e+ e- > mu+ mu- / a."""
    required = generate_package("sm", "e+ e- > z > mu+ mu-", "dc_required")
    no_photon = generate_package("sm", "e+ e- > mu+ mu- / a", "dc_no_photon")
    assert required.n_diagrams == 1 and required.process == "e+ e- > Z > mu+ mu-"
    p = np.array([[[45.0, 0, 0, 45.0], [45.0, 0, 0, -45.0], [45.0, 45.0 * np.sin(a), 0, 45.0 * np.cos(a)],
                   [45.0, -45.0 * np.sin(a), 0, -45.0 * np.cos(a)]] for a in (0.3, 1.1, 2.5)])
    np.testing.assert_allclose(required.matrix_element(p), no_photon.matrix_element(p), rtol=1e-12)
    assert required.channels["decays"] == [{"particle": "Z", "pdg": 23, "mass": "MZ", "width": "WZ",
                                            "legs": [3, 4], "parent": None, "required": True}]


def test_no_decays_in_an_ordinary_channel_table(generate_package):
    proc = generate_package("sm", "e+ e- > mu+ mu-", "dc_plain")
    assert proc.channels["decays"] == [] and "decays" not in proc.diagrams


def test_drawings_show_the_chain(ttbar):
    chain, _ = ttbar
    drawings = draw_diagrams({"P1": chain.diagrams})
    assert len(drawings) == chain.n_diagrams
    for svg in drawings.values():
        assert "e+ e- &gt; t t~, t &gt; b W+, t~ &gt; b~ W-" in svg
        assert svg.count('class="resonance-band"') == 2 and "t (decay)" in svg and "t~ (decay)" in svg
