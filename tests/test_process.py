"""The process front end: MadGraph process syntax, label expansion, conservation checks,
diagram counts against MadGraph, and process cards (madgen.process)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from madgen.diagrams.generate import generate_diagrams, make_legs
from madgen.errors import CardError, ProcessError, UnsupportedFeature
from madgen.model import load_model
from madgen.process.card import parse_process_card, process_tag, read_process_card
from madgen.process.expand import (
    canonical_particle_name,
    conservation_violation,
    default_multiparticles,
    expand_process,
    resolve_labels,
    resolve_tokens,
)
from madgen.process.syntax import OrderConstraint, parse_process


@pytest.fixture(scope="module")
def sm():
    return load_model("sm")


@pytest.fixture(scope="module")
def sm_labels(sm):
    return resolve_labels(sm, {})


def n_diagrams(model, text, defines=None):
    """Diagrams of each subprocess of ``text``, as the compiler generates them."""
    labels = resolve_labels(model, defines or {})
    spec = parse_process(text)
    counts = {}
    subprocesses = expand_process(model, spec, labels)
    for sub in subprocesses:
        legs = make_legs(model, sub.initial, sub.final)
        try:
            diagram_set = generate_diagrams(model, legs, spec.orders,
                                            resolve_tokens(model, spec, spec.excluded, labels),
                                            resolve_tokens(model, spec, spec.forbidden_s_channel, labels), sub.text)
        except ProcessError:
            if len(subprocesses) > 1:  # the compiler skips subprocesses without diagrams, as MadGraph does
                continue
            raise
        counts[sub.text] = len(diagram_set.diagrams)
    return counts


# ------------------------------------------------------------------ syntax


def test_parse_basic():
    spec = parse_process("e+ e- > mu+ mu-")
    assert spec.initial == ("e+", "e-")
    assert spec.final == ("mu+", "mu-")
    assert spec.orders == spec.excluded == spec.forbidden_s_channel == ()


@pytest.mark.parametrize("text, expected", [
    ("g g > t t~ QCD=2", [OrderConstraint("QCD", "<=", 2)]),  # MadGraph: '=' means 'at most'
    ("g g > t t~ QCD = 2", [OrderConstraint("QCD", "<=", 2)]),
    ("g g > t t~ QED<=4", [OrderConstraint("QED", "<=", 4)]),
    ("g g > t t~ QED <= 4", [OrderConstraint("QED", "<=", 4)]),
    ("g g > t t~ QED==2", [OrderConstraint("QED", "==", 2)]),
    ("g g > t t~ QED == 2", [OrderConstraint("QED", "==", 2)]),
    ("g g > t t~ QED>=1", [OrderConstraint("QED", ">=", 1)]),
    ("g g > t t~ QED<3", [OrderConstraint("QED", "<=", 2)]),
    ("g g > t t~ QED < 3", [OrderConstraint("QED", "<=", 2)]),
    ("g g > t t~ QCD=2 QED=0", [OrderConstraint("QCD", "<=", 2), OrderConstraint("QED", "<=", 0)]),
])
def test_parse_orders(text, expected):
    spec = parse_process(text)
    assert list(spec.orders) == expected
    assert spec.initial == ("g", "g") and spec.final == ("t", "t~")


def test_order_constraint_allows():
    assert OrderConstraint("QED", "<=", 2).allows(2) and not OrderConstraint("QED", "<=", 2).allows(3)
    assert OrderConstraint("QED", "==", 2).allows(2) and not OrderConstraint("QED", "==", 2).allows(0)
    assert OrderConstraint("QED", ">=", 1).allows(4) and not OrderConstraint("QED", ">=", 1).allows(0)


def test_parse_excluded_and_forbidden():
    spec = parse_process("e+ e- > mu+ mu- / z h $$ a")
    assert spec.excluded == ("z", "h")
    assert spec.forbidden_s_channel == ("a",)
    assert parse_process("e+ e- > mu+ mu-/z").excluded == ("z",)
    assert parse_process("e+ e- > mu+ mu- $$z").forbidden_s_channel == ("z",)
    spec = parse_process("e+ e- > mu+ mu- QED=2 / z")
    assert spec.excluded == ("z",) and spec.orders == (OrderConstraint("QED", "<=", 2),)


@pytest.mark.parametrize("text", ["p p > t t~ @1", "p p > t t~ @ 12", "p p > t t~ QCD=2 @2", "p p > t t~ @2 QCD=2"])
def test_process_tag_is_ignored(text):
    spec = parse_process(text)
    assert spec.initial == ("p", "p") and spec.final == ("t", "t~")
    assert "@" not in spec.text
    if "QCD" in text:  # orders on either side of the tag are kept
        assert spec.orders == (OrderConstraint("QCD", "<=", 2),)


@pytest.mark.parametrize("text", [
    "e+ e- > z | a > mu+ mu-",  # MadGraph's either-of s-channels: a multiparticle label does it
    "p p > t t~ QCD^2==-1",  # MadGraph's negative squared orders (N^kLO)
    "p p > t t~ NP<=1, t > b w+ NP^2==1",  # squared orders belong to the production process
])
def test_unsupported_syntax(text):
    with pytest.raises(UnsupportedFeature) as info:
        parse_process(text)
    assert text.split(",")[0].split()[0] in str(info.value)  # names the process


@pytest.mark.parametrize("text, culprit, words", [
    ("p p > t t~ [QCD]", "[QCD]", ["NLO", "tree-level"]),
    ("g g > h [noborn=QCD]", "[noborn=QCD]", ["loop-induced", "tree-level"]),
    ("p p > e+ e- [virt=QCD] QED=2", "[virt=QCD]", ["tree-level"]),
])
def test_madgraph_syntax_beyond_tree_level_is_named(text, culprit, words):
    """NLO and loop-induced brackets are MadGraph syntax madgen does not read: the error
    quotes the construct, not an 'unknown particle' made of it."""
    with pytest.raises(UnsupportedFeature) as info:
        parse_process(text)
    message = str(info.value)
    assert f"'{culprit}'" in message and "unknown particle" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("text, command, process", [
    ("generate p p > t t~", "generate", "p p > t t~"),
    ("add process p p > t t~ j", "add process", "p p > t t~ j"),
    ("Generate e+ e- > mu+ mu-", "generate", "e+ e- > mu+ mu-"),
])
def test_a_pasted_madgraph_command_says_what_to_write(text, command, process):
    with pytest.raises(ProcessError) as info:
        parse_process(text)
    assert f"'{command}' is a MadGraph command" in str(info.value) and repr(process) in str(info.value)


@pytest.mark.parametrize("text, words", [
    ("e+ e- mu+ mu-", ["exactly one '>'", "found 0"]),
    ("e+ e- > z > mu+ > mu-", ["exactly one '>'", "found 3"]),
    ("", ["empty process"]),
    ("> mu+ mu-", ["no initial-state"]),
    ("e+ e- >", ["no final-state"]),
    ("e+ e- > mu+ mu- QED", []),  # 'QED' looks like a particle: rejected later as unknown
    ("u u~ d > t t~", ["at most two initial-state"]),
    ("e+ e- > mu+ mu- QED=", ["coupling-order constraint 'QED='"]),
    ("e+ e- > mu+ mu- QED<=2 QED=4", ["constrained twice"]),
    ("p p > t t~ @x", ["process tag"]),
])
def test_malformed_process(text, words):
    if not words:
        parse_process(text)
        return
    with pytest.raises(ProcessError) as info:
        parse_process(text)
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------ labels and expansion


def test_default_multiparticles_sm(sm):
    labels = default_multiparticles(sm)
    # sm's default restriction has a massive b: MadGraph's p and j are the 4-flavour ones
    assert set(labels["p"]) == {"g", "u", "c", "d", "s", "u~", "c~", "d~", "s~"}
    assert labels["j"] == labels["p"]
    assert set(labels["l+"]) == {"e+", "mu+"} and set(labels["l-"]) == {"e-", "mu-"}
    assert set(labels["vl"]) == {"ve", "vm", "vt"} and set(labels["vl~"]) == {"ve~", "vm~", "vt~"}


def test_default_multiparticles_no_b_mass():
    labels = default_multiparticles(load_model("sm-no_b_mass"))
    assert "b" in labels["p"] and "b~" in labels["p"] and "b" in labels["j"]
    assert len(labels["p"]) == 11


def test_expand_pp_ttx(sm, sm_labels):
    subs = [s.text for s in expand_process(sm, parse_process("p p > t t~"), sm_labels)]
    assert len(subs) == len(set(subs))
    for text in ["g g > t t~", "u u~ > t t~", "u~ u > t t~", "c c~ > t t~", "d d~ > t t~", "s~ s > t t~"]:
        assert text in subs
    assert not any(" b" in s.split(">")[0] for s in subs)  # no b in sm's proton
    assert "g u > t t~" not in subs  # colour/charge-violating assignments are dropped
    assert subs[0] == "g g > t t~"


def test_expand_pp_ttx_diagrams(sm):
    counts = n_diagrams(sm, "p p > t t~")
    assert counts["g g > t t~"] == 3
    assert counts["u u~ > t t~"] == 1 and counts["u~ u > t t~"] == 1
    assert "u c~ > t t~" not in counts  # no CKM mixing in sm: no diagrams, dropped like MadGraph
    assert len(counts) == 9  # MadGraph: gg, uu~, cc~, dd~, ss~ and the four q~ q


def test_expand_pp_ttx_no_b_mass():
    model = load_model("sm-no_b_mass")
    subs = [s.text for s in expand_process(model, parse_process("p p > t t~"), resolve_labels(model, {}))]
    assert "b b~ > t t~" in subs and "b~ b > t t~" in subs


def test_expand_drops_final_state_permutations(sm, sm_labels):
    subs = [s.text for s in expand_process(sm, parse_process("e+ e- > l+ l-"), sm_labels)]
    assert "e+ e- > e+ e-" in subs and "e+ e- > mu+ mu-" in subs
    # MadGraph keeps one ordering of each final state
    subs = [s.text for s in expand_process(sm, parse_process("u u~ > j j"), sm_labels)]
    finals = [tuple(sorted(s.split(" > ")[1].split())) for s in subs]
    assert len(finals) == len(set(finals))


@pytest.mark.parametrize("token, name", [("w+", "W+"), ("W-", "W-"), ("Z", "Z"), ("z", "Z"), ("H", "H"), ("h", "H"),
                                         ("A", "a"), ("G", "g")])
def test_case_insensitive_names(sm, token, name):
    assert canonical_particle_name(sm, token) == name


def test_case_insensitive_process(sm, sm_labels):
    subs = expand_process(sm, parse_process("e+ e- > w+ w-"), sm_labels)
    assert [s.text for s in subs] == ["e+ e- > W+ W-"]
    assert n_diagrams(sm, "E+ E- > MU+ MU-") == {"e+ e- > mu+ mu-": 2}


def test_unknown_particle_suggests(sm, sm_labels):
    with pytest.raises(ProcessError) as info:
        expand_process(sm, parse_process("e+ e- > mu+ muu-"), sm_labels)
    message = str(info.value)
    assert "'muu-'" in message and "'sm'" in message and "did you mean" in message and "'mu-'" in message


def test_unknown_in_excluded_list(sm, sm_labels):
    with pytest.raises(ProcessError, match="'zprime'"):
        expand_process(sm, parse_process("e+ e- > mu+ mu- / zprime"), sm_labels)


def test_multiparticles(sm):
    labels = resolve_labels(sm, {"lep": ["e-", "mu-"], "alep": "e+ mu+", "ll": ["lep", "alep"], "V": "w+ w-"})
    assert labels["lep"] == ("e-", "mu-") and labels["alep"] == ("e+", "mu+")
    assert set(labels["ll"]) == {"e-", "mu-", "e+", "mu+"}  # labels may use labels
    assert labels["V"] == ("W+", "W-")
    subs = [s.text for s in expand_process(sm, parse_process("alep lep > mu+ mu-"), labels)]
    assert subs == ["e+ e- > mu+ mu-", "e+ mu- > mu+ mu-", "mu+ e- > mu+ mu-", "mu+ mu- > mu+ mu-"]
    assert n_diagrams(sm, "alep lep > mu+ mu-", {"alep": "e+ mu+", "lep": "e- mu-"}) == {
        "e+ e- > mu+ mu-": 2, "mu+ mu- > mu+ mu-": 4}
    labels = resolve_labels(sm, {"p": ["g", "u", "u~"]})  # a define overrides a default label
    assert labels["p"] == ("g", "u", "u~")


def test_a_label_may_not_be_a_particle_name(sm):
    """'z = e+ e-' would make 'e+ e- > z' mean two things: refused, naming the label."""
    for label in ("z", "Z", "e+"):
        with pytest.raises(ProcessError, match=f"multiparticle '{re.escape(label)}': the label is the name of a "
                                               "particle of model 'sm'.*choose another label"):
            resolve_labels(sm, {label: ["e+", "e-"]})


def test_multiparticles_unknown_member(sm):
    with pytest.raises(ProcessError) as info:
        resolve_labels(sm, {"lep": ["e-", "muon"]})
    assert "'lep'" in str(info.value) and "'muon'" in str(info.value)


# ------------------------------------------------------------------ conservation


@pytest.mark.parametrize("text, word", [
    ("e+ e- > mu+ mu+", "charge"),
    ("u u > u g", "charge"),
    ("e+ e- > mu+ mu- e-", "charge"),
    ("u u~ > g", None),  # allowed by charge and colour (no diagrams, but that is later)
    ("u d > u u", "charge"),
    ("g g > u u", "charge"),
    ("u u~ > u", "charge"),
    ("g g > t g", "charge"),
    ("e+ e- > ve ve", "fermion number"),
    # (in the SM a quark's charge is 2/3 mod 1, so charge conservation implies triality conservation)
    ("e- ve~ > W- a", None),
    ("e+ e- > e+ ve", "charge"),
    ("W+ W- > e+ e- e+", "charge"),
    ("Z Z > e+ e- e+ e- ve", "fermion number"),
])
def test_conservation(sm, text, word):
    spec = parse_process(text)
    initial = [canonical_particle_name(sm, t) for t in spec.initial]
    final = [canonical_particle_name(sm, t) for t in spec.final]
    violation = conservation_violation(sm, initial, final)
    if word is None:
        assert violation is None
    else:
        assert violation is not None and word in violation


def test_charge_violation_error(sm, sm_labels):
    with pytest.raises(ProcessError) as info:
        expand_process(sm, parse_process("e+ e- > mu+ mu+"), sm_labels)
    message = str(info.value)
    assert "e+ e- > mu+ mu+" in message and "charge" in message


def test_odd_fermion_number_error(sm, sm_labels):
    with pytest.raises(ProcessError, match="fermion"):
        expand_process(sm, parse_process("Z Z > e+ e- e+ e- ve"), sm_labels)


# ------------------------------------------------------------------ diagram counts (MadGraph 5)


@pytest.mark.parametrize("text, expected", [
    ("e+ e- > mu+ mu-", 2),
    ("e+ e- > w+ w-", 3),
    ("u u~ > d d~", 1),  # default orders: minimal WEIGHTED, the gluon only
    ("u u~ > d d~ QED=2", 4),  # g, a, Z s-channel and W t-channel
    ("u u~ > d d~ QED==2", 3),
    ("u u~ > d d~ QED=2 / a", 3),
    ("g g > g g", 4),
    ("u u~ > g g", 3),
    ("g g > t t~", 3),
    ("e+ e- > t t~", 2),
    ("e+ e- > mu+ mu- / z", 1),
    ("e+ e- > mu+ mu- $$ a", 1),
    ("e+ e- > e+ e-", 4),
    ("e+ e- > e+ e- / z", 2),
    ("e+ e- > e+ e- $$ z", 3),  # the t-channel Z stays
    ("e+ e- > e+ e- $$ a z", 2),
    ("u d~ > w+ g", 2),
    ("e+ e- > z h", 1),
])
def test_diagram_counts(sm, text, expected):
    counts = n_diagrams(sm, text)
    assert list(counts.values()) == [expected], counts


def test_no_diagrams_under_orders(sm):
    with pytest.raises(ProcessError) as info:
        n_diagrams(sm, "g g > t t~ QCD=0")
    message = str(info.value)
    assert "g g > t t~" in message and "no tree-level diagrams" in message and "QCD<=0" in message


def test_no_diagrams_at_all(sm):
    with pytest.raises(ProcessError, match="no tree-level diagrams"):
        n_diagrams(sm, "e+ e- > mu+ e-")  # lepton flavour: charge is fine, no vertex


# ------------------------------------------------------------------ process cards


def test_card_minimal():
    card = parse_process_card("model: sm\nprocess: e+ e- > mu+ mu-\n")
    assert card.model == "sm" and card.processes == ("e+ e- > mu+ mu-",)
    assert card.package_name == "epem_mupmum"


def test_card_full(tmp_path):
    (tmp_path / "cards").mkdir()
    path = tmp_path / "cards" / "process.yaml"
    path.write_text("model: sm-no_b_mass\n"
                    "process:\n  - p p > t t~\n  - g g > t t~ g\n"
                    "multiparticles:\n  lep: [e-, mu-]\n  alep: e+ mu+\n"
                    "name: tt\n"
                    "param_card: param_card.dat\n"
                    "parameters: {MT: 172.5, aS: 0.118}\n")
    card = read_process_card(path)
    assert card.model == "sm-no_b_mass"
    assert card.processes == ("p p > t t~", "g g > t t~ g")
    assert dict(card.multiparticles) == {"lep": ("e-", "mu-"), "alep": ("e+", "mu+")}
    assert card.package_name == "tt"
    assert card.param_card == str((tmp_path / "cards" / "param_card.dat").resolve())  # relative to the card
    assert dict(card.parameters) == {"MT": 172.5, "aS": 0.118}


def test_card_model_path_relative_to_card(tmp_path):
    (tmp_path / "cards").mkdir()
    path = tmp_path / "cards" / "process.yaml"
    path.write_text("model: ../models/my_ufo-no_masses\nprocess: e+ e- > mu+ mu-\n")
    assert read_process_card(path).model == str((tmp_path / "models" / "my_ufo-no_masses").resolve())


@pytest.mark.parametrize("process, tag", [
    ("g g > t t~", "gg_ttx"), ("e+ e- > mu+ mu- QED=2", "epem_mupmum"), ("p p > t t~ @1", "pp_ttx"),
    ("e+ e- > mu+ mu- / z", "epem_mupmum"), ("u u~ > w+ w- $$ a", "uux_wpwm"),
    # whatever follows the particles, written close or spaced, the tag stays an identifier
    ("e+ e- > mu+ mu-/z", "epem_mupmum"), ("e+ e- > mu+ mu-$$z", "epem_mupmum"), ("u u~ > d d~ QED<1", "uux_ddx"),
    ("e+ e- > mu+ mu- QED = 2", "epem_mupmum"), ("e+ e- > z h NPcHl3^2==1", "epem_zh"),
    ("e+ e- > z > mu+ mu-", "epem_z_mupmum"),
])
def test_process_tag(process, tag):
    assert process_tag(process) == tag


@pytest.mark.parametrize("text, words", [
    ("model: sm\n", ["missing required key 'process'"]),
    ("process: e+ e- > mu+ mu-\n", ["missing required key 'model'"]),
    ("model: sm\nprocess:\n", ["missing required key 'process'"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nprocesses: x\n", ["unknown key", "'processes'"]),
    ("model: sm\nprocess: [e+ e- > mu+ mu-\n", ["process.yaml:3", "malformed YAML", "line 2"]),
    ("model: sm\n  process: x\n", ["process.yaml:2", "malformed YAML"]),
    ("model: sm\nprocess: a > b\nmodel: heft\n", ["process.yaml:3", "'model'", "twice", "first at line 1"]),
    ("- model: sm\n", ["expected a mapping"]),
    ("model: [sm]\nprocess: e+ e- > mu+ mu-\n", ["'model'"]),
    ("model: sm\nprocess: {a: b}\n", ["'process'"]),
    ("model: sm\nprocess: [1, 2]\n", ["'process'"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nname: 2fast\n", ["'name'", "2fast"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nname: my-proc\n", ["'name'"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nparameters: [MT]\n", ["'parameters'"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nparameters: {MT: heavy}\n", ["parameters.MT", "heavy"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nparameters: {MT: true}\n", ["parameters.MT"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nmultiparticles: [a, b]\n", ["'multiparticles'"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nmultiparticles: {lep: []}\n", ["multiparticles.lep"]),
    ("model: sm\nprocess: e+ e- > mu+ mu-\nparam_card: 3\n", ["'param_card'"]),
])
def test_card_errors(text, words):
    with pytest.raises(CardError) as info:
        parse_process_card(text, "cards/process.yaml")
    message = str(info.value)
    assert message.startswith("cards/process.yaml")
    for word in words:
        assert word in message, message


def test_card_missing_file(tmp_path):
    with pytest.raises(CardError, match="no such file"):
        read_process_card(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, words", [
    ("e+ e- > mu+ mu- / a z", "on internal lines (/)"),
    ("e+ e- > mu+ mu- $$ a z", "in s-channels ($$)"),
])
def test_no_diagrams_names_the_exclusions(sm, text, words):
    spec = parse_process(text)
    labels = resolve_labels(sm, {})
    (sub,) = expand_process(sm, spec, labels)
    with pytest.raises(ProcessError) as info:
        generate_diagrams(sm, make_legs(sm, sub.initial, sub.final), spec.orders,
                          resolve_tokens(sm, spec, spec.excluded, labels),
                          resolve_tokens(sm, spec, spec.forbidden_s_channel, labels), sub.text)
    message = str(info.value)
    assert "no tree-level diagrams" in message and words in message
    assert "without 'a', 'Z'" in message  # quoted: "without a Z" read as one particle


@pytest.mark.parametrize("process, spelled", [
    ("p p > e+ e- QEDD=2", "'QEDD<=2'"),
    ("p p > e+ e- NP^2==1", "'NP^2==1'"),  # quoted as written, not as the amplitude order 'NP==1'
    ("p p > t t~, t > b w+ QEDX=1", "decay 't > b w+ QEDX=1'"),
])
def test_an_order_the_model_lacks_is_named_for_a_multiparticle_process(process, spelled):
    """Each subprocess of p p > ... would find no diagrams under an unknown order and be skipped; the error
    names the order and the process as written instead of 'no subprocess has tree-level diagrams'."""
    from madgen.compiler import generate_card_diagrams

    card = parse_process_card(f"model: sm\nprocess: {process}\n")
    with pytest.raises(ProcessError) as info:
        generate_card_diagrams(card)
    message = str(info.value)
    assert f"process '{process}'" in message and spelled in message and "which model 'sm' does not have" in message


@pytest.mark.parametrize("processes, kept", [
    (["e+ e- > mu+ mu-", "e+ e- > mu- mu+"], ["e+ e- > mu+ mu-"]),
    (["e+ e- > mu+ mu- / Z", "e+ e- > mu- mu+ / z"], ["e+ e- > mu+ mu-"]),  # the same exclusion, spelled twice
    (["p p > e+ e-", "u u~ > e- e+"], None),  # u u~ > e- e+ is a subprocess of p p > e+ e-
    (["e+ e- > mu+ mu-", "e+ e- > mu+ mu- / z"], ["e+ e- > mu+ mu-", "e+ e- > mu+ mu-"]),  # another |M|^2
])
def test_a_subprocess_given_twice_is_generated_once(processes, kept):
    """Two lines that give one subprocess, whatever the order of its final state, make one subprocess:
    generating it twice would count its cross section twice."""
    from madgen.compiler import generate_card_diagrams
    from madgen.process.card import parse_process_card

    card = parse_process_card("model: sm\nprocess:\n" + "".join(f"  - {p}\n" for p in processes))
    _, found = generate_card_diagrams(card)
    texts = [item.subprocess.flat_text for item in found]
    if kept is None:
        finals = [(t.split(" > ")[0], tuple(sorted(t.split(" > ")[1].split()))) for t in texts]
        assert finals.count(("u u~", ("e+", "e-"))) == 1 and len(finals) == len(set(finals))
    else:
        assert texts == kept


def test_madgraph_onshell_veto_keeps_every_diagram():
    """Since MadGraph 1.4.3 '$ z' keeps every diagram and vetoes the events with an on-shell s-channel Z
    (gauge invariance of p p > w+ w- needs its s-channel Z); '$$ z' removes the diagrams."""
    from madgen.compiler import diagram_data

    spec = parse_process("e+ e- > mu+ mu- $ z")
    assert spec.onshell_veto == ("z",) and spec.forbidden_s_channel == ()
    (data,) = diagram_data(parse_process_card("model: sm\nprocess: e+ e- > mu+ mu- $ z\n")).values()
    assert len(data["diagrams"]) == 2 and data["onshell_vetoes"] == [["1_2", "Z"]]
    (removed,) = diagram_data(parse_process_card("model: sm\nprocess: e+ e- > mu+ mu- $$ z\n")).values()
    assert len(removed["diagrams"]) == 1 and "onshell_vetoes" not in removed
    with pytest.raises(ProcessError, match=r"'\$' names no particle"):
        parse_process("e+ e- > mu+ mu- $")


def test_onshell_vetoes_are_the_final_legs_of_each_vetoed_s_channel():
    """The runtime's windows for '$ z': the final-state legs of every s-channel Z (written with its initial
    legs or its final legs in the channel table), once each; t-channel Z lines are not vetoed."""
    from types import SimpleNamespace

    from madgen.runtime.channels import onshell_vetoes
    from madgen.runtime.integrand import ResonanceWindow

    legs = [{"number": n, "pdg": 0, "initial": n <= 2} for n in (1, 2, 3, 4, 5)]
    z = {"particle": "Z", "mass": "MZ", "width": "WZ"}
    diagrams = [{"propagators": [{**z, "line": "1_2", "legs": [1, 2], "s_channel": True}]},
                {"propagators": [{**z, "line": "4_5", "legs": [4, 5], "s_channel": True},
                                 {**z, "line": "1_3", "legs": [1, 3], "s_channel": False}]},
                {"propagators": [{**z, "line": "3_4_5", "legs": [3, 4, 5], "s_channel": True}]}]
    vetoed = [["1_2", "Z"], ["4_5", "Z"], ["3_4_5", "Z"]]
    kernel = SimpleNamespace(channels={"legs": legs, "diagrams": diagrams, "onshell_vetoes": vetoed})
    assert onshell_vetoes(kernel, 15.0) == (ResonanceWindow((2, 3, 4), "MZ", "WZ", 15.0),
                                            ResonanceWindow((3, 4), "MZ", "WZ", 15.0))
    assert onshell_vetoes(SimpleNamespace(channels={"legs": legs, "diagrams": diagrams}), 15.0) == ()


def test_s_channel_vetoes_are_signed_as_madgraphs():
    """MadGraph matches '$$ x' and '$ x' against the particle an s-channel carries toward the final state
    (its signed s-channel id): in u d~ > e+ ve that is a W+, so '$$ w-' and '$ w-' leave it alone; in
    u u~ > e+ ve e- ve~ the W+ toward e+ ve is vetoed by '$ w+', whichever side its line is written from."""
    from madgen.compiler import diagram_data

    def data(process):
        (found,) = diagram_data(parse_process_card(f"model: sm\nprocess: {process}\n")).values()
        return found

    assert len(data("u d~ > e+ ve")["diagrams"]) == 1
    assert len(data("u d~ > e+ ve $$ w-")["diagrams"]) == 1
    with pytest.raises(ProcessError, match=r"no tree-level diagrams .* without 'W\+' in s-channels"):
        data("u d~ > e+ ve $$ w+")
    assert data("u d~ > e+ ve $ w+")["onshell_vetoes"] == [["1_2", "W+"]]
    assert "onshell_vetoes" not in data("u d~ > e+ ve $ w-")
    four = data("u u~ > e+ ve e- ve~ $ w+")
    for line, particle in four["onshell_vetoes"]:
        prop = next(p for d in four["diagrams"] for p in d["propagators"]
                    if p["line"] == line and p["particle"] == particle)
        legs = set(prop["legs"])
        final_side = {3, 4, 5, 6} - legs if legs & {1, 2} else legs
        assert prop["s_channel"] and final_side == {3, 4}, (line, particle)  # the e+ ve pair, nothing else
    assert {tuple(v) for v in four["onshell_vetoes"]} >= {("3_4", "W-")}  # written from e+ ve: the line is a W-
    assert len(data("u u~ > e+ ve e- ve~ $$ w+")["diagrams"]) < len(four["diagrams"])
    assert len(data("u u~ > e+ ve e- ve~ $$ w+ w-")["diagrams"]) < len(data("u u~ > e+ ve e- ve~ $$ w+")["diagrams"])


def test_each_onshell_veto_applies_to_its_own_piece_of_a_decay_chain(caplog):
    """As MadGraph applies each '$' to its own process of a chain: the production's '$ z' never vetoes the
    decaying Z itself (that removed every event of e+ e- > z h $ z, z > mu+ mu-), and a decay's '$' vetoes
    the s-channels inside that decay only; one that matches nothing is a warning naming the decay."""
    from madgen.compiler import diagram_data

    def vetoes(process):
        (found,) = diagram_data(parse_process_card(f"model: sm\nprocess: {process}\n")).values()
        return found.get("onshell_vetoes")

    assert parse_process("e+ e- > t t~, t > b e+ ve $ w+").decays[0].onshell_veto == ("w+",)
    assert vetoes("e+ e- > z h $ z, z > mu+ mu-") == [["1_2", "Z"]]  # the s-channel Z*, not the decaying Z
    assert vetoes("e+ e- > t t~, t > b e+ ve $ w+") == [["4_5", "W-"]]  # its e+ ve pair (legs 4, 5)
    assert vetoes("e+ e- > t t~, t > b e+ ve, t~ > b~ e- ve~ $ w-") == [["1_2_3_4_5_6", "W-"]]  # toward e- ve~
    with caplog.at_level("WARNING", logger="madgen"):
        assert vetoes("e+ e- > t t~, t > b e+ ve $ w-") is None
    assert "decay 't > b e+ ve $ w-': '$ W-' matches no s-channel line" in caplog.text


def test_package_names_are_python_identifiers(tmp_path):
    """A package named after its output directory gets an identifier (``my-pkg.v2`` -> ``my_pkg_v2``), a
    ``name`` that is a keyword is refused, and a package in a directory whose name is no identifier loads."""
    import numpy as np

    import madgen
    from madgen.process.card import python_identifier

    assert [python_identifier(t) for t in ("my-pkg.v2", "2mu", "import", "--", "ok")] == \
        ["my_pkg_v2", "package_2mu", "package_import", "package", "ok"]
    card = tmp_path / "card.yaml"
    card.write_text(f"model: sm\nprocess: e+ e- > mu+ mu-\noutput: {tmp_path / 'my-pkg.v2'}\n")
    assert read_process_card(card).package_name == "my_pkg_v2"
    with pytest.raises(CardError, match="'import' is not a valid Python package name"):
        parse_process_card("model: sm\nprocess: e+ e- > mu+ mu-\nname: import\n")
    madgen.generate(card)
    assert "import my_pkg_v2" in (tmp_path / "my-pkg.v2" / "__init__.py").read_text()
    p = np.array([[50.0, 0, 0, 50], [50, 0, 0, -50], [50, 30, 0, 40], [50, -30, 0, -40]])
    assert float(madgen.load(tmp_path / "my-pkg.v2").matrix_element(p)) > 0


@pytest.mark.parametrize("text, words", [
    ("e+ e- -> mu+ mu-", ["'->' is not MadGraph's arrow", "'>'"]),
    ("e+ e- => mu+ mu-", ["'=>' is not MadGraph's arrow"]),
    ("e+ e- > mu+ mu- --no_warning=duplicate", ["'--no_warning=duplicate' is an option of MadGraph's generate"]),
])
def test_near_madgraph_spellings_are_named(text, words):
    """Mistakes a MadGraph user makes are named for what they are (they read as 'three initial particles',
    'no >' or 'cannot read coupling-order constraint'), while 'e+ e->mu+ mu-' stays e- then '>'."""
    with pytest.raises(ProcessError) as info:
        parse_process(text)
    assert all(word in str(info.value) for word in words), str(info.value)
    assert parse_process("e+ e->mu+ mu-").initial == ("e+", "e-")


def test_yaml_exponent_without_a_dot_is_explained():
    """YAML 1.1 reads 1e-5 as text: the error says how to write it (as the run card's does)."""
    with pytest.raises(CardError, match=r"parameters.Gf': expected a number, got '1e-5' \(YAML reads .* write 1.0e-5\)"):
        parse_process_card("model: sm\nprocess: e+ e- > mu+ mu-\nparameters: {Gf: 1e-5}\n")
    assert parse_process_card("model: sm\nprocess: e+ e- > mu+ mu-\nparameters: {Gf: 1.0e-5}\n").parameters == \
        (("Gf", 1e-5),)


@pytest.mark.parametrize("model, words", [("smx", "unknown model 'smx'"), ("sm-nonexist", "no restriction card")])
def test_an_unknown_model_or_restriction_names_the_card_key(tmp_path, model, words):
    from madgen.compiler import generate_card_diagrams
    from madgen.errors import ModelError

    path = tmp_path / "card.yaml"
    path.write_text(f"model: {model}\nprocess: e+ e- > mu+ mu-\n")
    with pytest.raises(ModelError, match=rf"card\.yaml, key 'model': .*{words}"):
        generate_card_diagrams(read_process_card(path))


def test_madgraphs_strict_squared_order_lower_bound():
    """'QCD^2>2' (MadGraph's squared-order '>') is QCD^2>=3; the legs' '>' stays the arrow."""
    spec = parse_process("u u~ > d d~ QED<=2 QCD^2>2")
    assert spec.final == ("d", "d~") and [str(o) for o in spec.squared_orders] == ["QCD>=3"]
    assert parse_process("u u~ > d d~ QCD^2 > 2").squared_orders == spec.squared_orders


MADGRAPH_PROC_CARD = """\
#************************************************************
#*  the commands MadGraph ran (its proc_card_mg5.dat)        *
#************************************************************
set group_subprocesses Auto
set complex_mass_scheme False
set gauge unitary
set zerowidth_tchannel True
set default_unset_couplings 99
import model sm-no_b_mass --modelname
define p = p b b~   # five flavours
define lep = e+ e- mu+ mu-
generate p p > t t~ @0
add process p p > t t~ j QCD<=3 @1
output madevent pptt_5f -f
"""


def test_a_madgraph_proc_card_reads_as_the_process_card_it_means(tmp_path, monkeypatch):
    """MadGraph's proc_card_mg5.dat: import model (restriction kept, options dropped), define (self-reference
    as in MadGraph), generate and add process (comments dropped), output after its format, where madgen runs
    (as MadGraph writes it; not beside the card); the packages of the two cards are the same process."""
    (tmp_path / "cards").mkdir()
    path = tmp_path / "cards" / "proc_card_mg5.dat"
    path.write_text(MADGRAPH_PROC_CARD)
    monkeypatch.chdir(tmp_path)
    card = read_process_card(path)
    assert card.model == "sm-no_b_mass"
    assert card.processes == ("p p > t t~ @0", "p p > t t~ j QCD<=3 @1")
    assert dict(card.multiparticles) == {"p": ("p", "b", "b~"), "lep": ("e+", "e-", "mu+", "mu-")}
    assert Path(card.output).resolve() == (tmp_path / "pptt_5f").resolve()
    assert Path(parse_process_card("import model ./MyUFO-massless\ngenerate e+ e- > mu+ mu-\n",
                                   str(path)).model) == Path.cwd() / "MyUFO-massless"
    same = parse_process_card("model: sm-no_b_mass\nprocess: [p p > t t~ @0, p p > t t~ j QCD<=3 @1]\n"
                              "multiparticles: {p: p b b~, lep: e+ e- mu+ mu-}\n")
    assert (card.model, card.processes, card.multiparticles) == (same.model, same.processes, same.multiparticles)
    assert parse_process_card("generate e+ e- > mu+ mu-\n").model == "sm"  # MadGraph starts with the sm
    with pytest.raises(CardError, match=r"proc_card.dat:3: 'import model mssm': a model imported after 'generate'"):
        parse_process_card("import model sm\ngenerate e+ e- > mu+ mu-\nimport model mssm\n", "proc_card.dat")


def test_a_madgraph_proc_card_as_madgraph_writes_it_for_another_model():
    """MadGraph writes its sm preamble (import model sm and its default defines) before the user's own import:
    the last import wins and the written defaults give way to the model's own (5 flavours where its b is
    massless); defines are read in order (a redefinition sees the earlier one); a command wrapped with '\\'
    is one command."""
    text = ("import model sm\ndefine p = g u c d s u~ c~ d~ s~\ndefine j = g u c d s u~ c~ d~ s~\n"
            "define l+ = e+ mu+\nimport model sm-no_b_mass\ndefine q = g u d u~ d~\ndefine r = q\n"
            "define q = q c c~\ngenerate p p > t t~, (t > b w+, w+ > \\\n  l+ vl) @1\n")
    card = parse_process_card(text, "proc_card_mg5.dat")
    assert card.model == "sm-no_b_mass"
    assert dict(card.multiparticles) == {"q": ("g", "u", "d", "u~", "d~", "c", "c~"), "r": ("g", "u", "d", "u~", "d~")}
    assert card.processes == ("p p > t t~, (t > b w+, w+ >   l+ vl) @1",)
    with pytest.raises(CardError, match="without a 'generate' line"):
        parse_process_card("import model sm\noutput ee\n")


@pytest.mark.parametrize("line, culprit", [
    ("set gauge Feynman", r"proc_card.dat:2: 'set gauge Feynman': madgen generates with gauge unitary"),
    ("set complex_mass_scheme True", r"complex_mass_scheme false"),
    ("set zerowidth_tchannel False", r"zerowidth_tchannel true"),
    ("set frobnicate 1", r"'set frobnicate' is not an option"),
    ("launch", r"proc_card.dat:2: 'launch': 'launch' is not a command .*madgen launch"),
    ("import events.lhe", r"'import model NAME' only"),
    ("generate e+ e- > z h", r"a second 'generate' replaces the processes in MadGraph; use 'add process'"),
    ("define = e+ e-", r"expected 'define LABEL = particle"),
])
def test_a_madgraph_proc_card_names_what_madgen_does_not_read(line, culprit):
    text = f"import model sm\n{line}\ngenerate e+ e- > mu+ mu-\n" if not line.startswith("generate") \
        else f"import model sm\ngenerate e+ e- > mu+ mu-\n{line}\n"
    if line.startswith("generate"):
        culprit = culprit.replace("proc_card.dat:2", "proc_card.dat:3")
    with pytest.raises(CardError, match=culprit):
        parse_process_card(text, "proc_card.dat")


def test_default_orders_hold_for_the_whole_process_definition():
    """MadGraph finds one minimal WEIGHTED order per process definition (find_optimal_process_orders) and
    applies it to every subprocess: p p > j j keeps the QCD subprocesses and drops those only a W makes
    (u s > c d, WEIGHTED = 4 against 2). Explicit orders, or a definition of its own, keep them."""
    from madgen.compiler import generate_card_diagrams

    def subprocesses(text):
        _, found = generate_card_diagrams(parse_process_card(text))
        return [item.subprocess.text for item in found], [item.module for item in found]

    default, modules = subprocesses("model: sm\nprocess: p p > j j\n")
    assert "u u~ > g g" in default and "u s > c d" not in default and "u d~ > c s~" not in default
    assert modules == [f"P{k + 1}_{m.split('_', 1)[1]}" for k, m in enumerate(modules)]  # numbered without gaps
    explicit, _ = subprocesses("model: sm\nprocess: p p > j j QCD<=2 QED<=2\n")
    assert "u s > c d QCD<=2 QED<=2" in explicit and len(explicit) > len(default)  # its orders as written
    separate, _ = subprocesses("model: sm\nprocess: [p p > j j, u s > c d]\n")
    assert separate == default + ["u s > c d"]


@pytest.mark.parametrize("restriction, five_flavour", [("sm-no_masses", True), ("sm-full", False),
                                                       ("sm-lepton_masses", False)])
def test_default_multiparticles_are_madgraphs_lists_whatever_the_masses(restriction, five_flavour):
    """MadGraph's defaults are fixed lists (l+ = e+ mu+, vl = ve vm vt, p = j = g u c d s and antiquarks), with
    the b added where it is massless: the tau is not a l+ in sm-no_masses (p p > l+ l- was 1.5 times
    MadGraph's), l+ exists in sm-full (massive leptons: it was unknown), and the charm stays in sm-full's p."""
    labels = default_multiparticles(load_model(restriction))
    assert labels["l+"] == ("e+", "mu+") and labels["l-"] == ("e-", "mu-") and labels["vl"] == ("ve", "vm", "vt")
    four = ("g", "u", "c", "d", "s", "u~", "c~", "d~", "s~")
    assert labels["p"] == labels["j"] == (("g", "u", "c", "d", "s", "b", "u~", "c~", "d~", "s~", "b~") if five_flavour
                                          else four)


def test_a_strict_lower_bound_on_an_order_reads_as_madgraph():
    """MadGraph's 'QED>1' (its amplitude operators are =, <=, == and >): at least QED 2, though '>' also
    separates the legs; 'QED > 1' and squared 'QCD^2>2' too."""
    for text, expected in [("u u~ > d d~ QED>1", ("QED", ">=", 2)), ("u u~ > d d~ QED > 1", ("QED", ">=", 2))]:
        spec = parse_process(text)
        assert [(c.name, c.op, c.value) for c in spec.orders] == [expected] and spec.final == ("d", "d~")
    assert [(c.name, c.op, c.value) for c in parse_process("g g > t t~ QCD^2>2").squared_orders] == [("QCD", ">=", 3)]


def test_orders_after_the_tag_of_a_decay_chain_are_named_as_madgraphs_overall_orders():
    """MadGraph reads 'QED=2' after '@N' at the end of a decay chain as overall orders of the whole chain; madgen
    bound it to the last decay without a word. It is now refused by name; without decays it is the process's."""
    with pytest.raises(UnsupportedFeature, match=r"'QED=2' after '@' is MadGraph's overall coupling orders"):
        parse_process("p p > t t~, t > b w+ @1 QED=2")
    assert [(c.name, c.value) for c in parse_process("p p > t t~ @1 QED=2").orders] == [("QED", 2)]
    assert parse_process("p p > t t~, t > b w+ @1").decays


@pytest.mark.parametrize("text, expected", [
    ("e+ e- > z h QED<=2 QED^2==4", "e+ e- > Z H QED<=2 QED^2==4"),
    ("e+ e- > z h QED^2==4", "e+ e- > Z H QED^2==4"),  # another selection, another label
    ("e+ e- > z h QED=2", "e+ e- > Z H QED<=2"),
    ("e+ e- > mu+ mu- / h $$ z", "e+ e- > mu+ mu- / h $$ z"),
    ("e+ e- > t t~ QCD=0, t > b w+ QED=1 $$ a, t~ > b~ w- $ z", "e+ e- > t t~ QCD<=0, t > b W+ QED<=1 $$ a, t~ > b~ W- $ z"),
])
def test_the_subprocess_text_keeps_what_selects_its_amplitude(sm, sm_labels, text, expected):
    """Every order, '/', '$$' and '$' as written (MadGraph keeps them in the process string): two cards that
    select different terms of |M|^2 (NP<=1 NP^2==2 and NP^2==2) no longer print the same process."""
    (sub,) = expand_process(sm, parse_process(text), sm_labels)
    assert sub.text == expected
