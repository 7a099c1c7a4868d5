"""Stacked routine calls (process card ``routine_calls``, madgen.codegen.stacking): the same |M|^2 and
gradients as one call per current, for every kind of vertex and helicity layout; the groups are sound;
the card key and the automatic choice."""

import re

import jax
import numpy as np
import pytest

import madgen
from madgen.codegen import stacking
from madgen.compiler import compile_card, generate_card_diagrams
from madgen.errors import CardError
from madgen.ir.build import build_wavefunction_graph
from madgen.process.card import parse_process_card
from physics import collision_points

# Processes with several currents of one routine at one depth, or several amplitude terms of one routine
# (so that groups form), chosen to span the vertex kinds and both helicity layouts: QCD vertices and
# massive quarks (grid), Z/photon currents summing two couplings (multi-call currents), Yukawa scalars,
# triple gauge vertices, Majorana neutralinos (rows). (g g > t t~ forms no group: no two of its calls
# share a routine, a depth and the legs of their inputs.)
CASES = [
    ("sm", "g g > t t~ h"),
    ("sm", "u u~ > e+ e- g"),
    ("sm", "e+ e- > t t~ h"),
    ("sm", "d d~ > w+ w- z"),
    ("ufo_mssm", "e+ e- > n1 n1 a"),
]

QCD_CASES = ("g g > t t~ h", "u u~ > e+ e- g")
"""The cases whose |M|^2 depends on alpha_s."""

VALUE_TOLERANCE = 1e-13
"""Stacking changes which array an element sits in, not the arithmetic on it: the values agree to
rounding (measured: bit for bit on g g > t t~ g g)."""


def _pair(generate_package, model, process):
    stacked = generate_package(model, process, f"st_{_short(process)}", routine_calls="stacked")
    return stacked, _separate(generate_package, model, process)


def _separate(generate_package, model, process):
    return generate_package(model, process, f"se_{_short(process)}", routine_calls="separate")


def _short(process):
    return "".join(ch for ch in process if ch.isalnum())[:24]


def _points(proc, n=8, seed=3, sqrt_s=1500.0):
    masses = np.asarray(proc.masses())
    return collision_points(sqrt_s, masses[:2], masses[2:], np.random.default_rng(seed), n)


@pytest.mark.parametrize("model, process", CASES)
def test_stacked_calls_give_the_same_values(generate_package, model, process):
    stacked, separate = _pair(generate_package, model, process)
    assert stacked._module.ROUTINE_CALLS == "stacked" and separate._module.ROUTINE_CALLS == "separate"
    source = open(stacked._module.__file__).read()
    assert source.count("= _unstack(") >= 1, "no group of two or more calls: the comparison would be vacuous"
    p = _points(stacked)
    value_stacked, value_separate = np.asarray(stacked.matrix_element(p)), np.asarray(separate.matrix_element(p))
    assert np.all(value_separate > 0)
    np.testing.assert_allclose(value_stacked, value_separate, rtol=VALUE_TOLERANCE, atol=0)
    if process not in QCD_CASES:
        return  # alpha_s enters nowhere: a per-event alpha_s would only compile the kernels once more
    # alpha_s per event (the runtime's running scale): a stacked call's couplings then mix values per
    # event with values shared by all events (GC_11 beside GC_2 in one FFV1 call, say)
    alpha_s = {"aS": np.linspace(0.10, 0.13, len(p))}
    per_event = np.asarray(stacked.matrix_element(p, alpha_s))
    np.testing.assert_allclose(per_event, np.asarray(separate.matrix_element(p, alpha_s)), rtol=VALUE_TOLERANCE,
                               atol=0)


def test_couplings_per_event_and_shared_in_one_stacked_call(generate_package):
    """u u~ > d d~ a with QED=3: FFV1 calls stack a gluon's coupling (GC_11, per event when alpha_s runs)
    with a photon's and a Z's (shared); per-event alpha_s gives what one event at a time gives."""
    stacked = generate_package("sm", "u u~ > d d~ a QED=3", "st_uuddxa", routine_calls="stacked")
    source = open(stacked._module.__file__).read()
    assert re.search(r'_scalars\(p, [^)]*"GC_11"[^)]*"GC_[12]"|_scalars\(p, [^)]*"GC_[12]"[^)]*"GC_11"', source)
    p = _points(stacked, n=5)
    alpha_s = np.linspace(0.10, 0.13, len(p))
    per_event = np.asarray(stacked.matrix_element(p, {"aS": alpha_s}))
    one_by_one = [float(stacked.matrix_element(p[i:i + 1], {"aS": a})[0]) for i, a in enumerate(alpha_s)]
    np.testing.assert_allclose(per_event, one_by_one, rtol=VALUE_TOLERANCE, atol=0)
    assert not np.allclose(per_event, np.asarray(stacked.matrix_element(p)), rtol=1e-3)


@pytest.mark.parametrize("model, process", [pytest.param(*CASES[1]), pytest.param(*CASES[0], marks=pytest.mark.slow),
                                            pytest.param(*CASES[2], marks=pytest.mark.slow)])
def test_stacked_calls_give_the_same_gradients(generate_package, model, process):
    """Momenta and every parameter: u u~ > e+ e- g (rows layout, currents summing two couplings) in the
    default suite; g g > t t~ h (grid layout, the chunked checkpointed kernel) and e+ e- > t t~ h compile
    their two gradients in about 2 minutes each: marked slow."""
    stacked, separate = _pair(generate_package, model, process)
    p, theta = _points(stacked, n=4), separate.default_parameters()

    def gradient(proc):
        return jax.grad(lambda q, t: proc.matrix_element(q, t).sum(), argnums=(0, 1))(p, theta)

    (dp_a, dtheta_a), (dp_b, dtheta_b) = gradient(stacked), gradient(separate)
    scale = max(abs(float(v)) for v in dtheta_b.values())
    for key in dtheta_b:
        assert abs(float(dtheta_a[key]) - float(dtheta_b[key])) <= 1e-12 * scale, key
    np.testing.assert_allclose(np.asarray(dp_a), np.asarray(dp_b), rtol=0, atol=1e-12 * np.abs(dp_b).max())


def _graph(model, process):
    card = parse_process_card(f"model: {model}\nprocess: {process}\n")
    built, found = generate_card_diagrams(card)
    return build_wavefunction_graph(built, found[0].diagram_set)


@pytest.mark.parametrize("model, process", CASES[:3])
def test_groups_cover_every_call_once_and_respect_dependencies(model, process):
    graph = _graph(model, process)
    groups = stacking.call_groups(graph)
    names = [name for group in groups for name in group.names]
    expected = [wf.name for wf in graph.currents] + [amp.name for amp in graph.amplitudes]
    assert sorted(names) == sorted(expected) and len(names) == len(set(names))
    nodes = {node.name: node for node in (*graph.currents, *graph.amplitudes)}
    ready = {wf.name for wf in graph.externals}
    legs = {wf.name: {wf.leg} for wf in graph.externals}
    for group in groups:
        assert 1 <= len(group.names) <= stacking.MAX_GROUP_SIZE
        members = [nodes[name] for name in group.names]
        assert len({tuple(call.routine for call in m.calls) for m in members}) == 1
        for member in members:
            assert set(member.inputs) <= ready, f"{member.name} reads a wavefunction not computed before its group"
        input_legs = {tuple(frozenset(legs[name]) for name in m.inputs) for m in members}
        assert len(input_legs) == 1, "a group mixes inputs on different legs (stacking would pad them)"
        if group.kind == "current":
            for m in members:
                legs[m.name] = set().union(*(legs[name] for name in m.inputs))
        ready.update(group.names)
    assert [g.kind for g in groups] == sorted((g.kind for g in groups), key=lambda k: k == "amplitude")


def test_groups_larger_than_the_maximum_are_cut_in_graph_order(generate_package, monkeypatch):
    model, process = "sm", "d d~ > w+ w- z"
    graph = _graph(model, process)
    whole = stacking.call_groups(graph)
    assert max(len(group.names) for group in whole) > 2
    monkeypatch.setattr(stacking, "MAX_GROUP_SIZE", 2)
    cut = stacking.call_groups(graph)
    assert all(len(group.names) <= 2 for group in cut)
    assert [name for group in cut for name in group.names] == [name for group in whole for name in group.names]
    stacked = generate_package(model, process, "st_cut_ddwwz", routine_calls="stacked")
    separate = _separate(generate_package, model, process)  # the same package as the values test's
    source = open(stacked._module.__file__).read()
    assert re.search(r", 2\)  # ", source) and not re.search(r", [3-9]\)  # ", source), "groups not cut to 2"
    p = _points(stacked)
    np.testing.assert_allclose(np.asarray(stacked.matrix_element(p)), np.asarray(separate.matrix_element(p)),
                               rtol=VALUE_TOLERANCE, atol=0)


def test_generated_code_is_deterministic_with_stacked_calls():
    card = parse_process_card("model: sm\nprocess: g g > t t~ g\nroutine_calls: stacked\n")
    first, second = compile_card(card), compile_card(card)
    assert first.files == second.files
    assert "_unstack(" in dict(first.files)["P1_gg_ttxg.py"]


def test_auto_stacks_large_kernels_only(monkeypatch):
    card = parse_process_card("model: sm\nprocess: g g > t t~ g\n")
    assert card.routine_calls == "auto"
    assert "ROUTINE_CALLS = 'separate'" in dict(compile_card(card, filter_helicities=False).files)["P1_gg_ttxg.py"]
    graph = _graph("sm", "g g > t t~ g")
    n_calls = len(graph.currents) + len(graph.amplitudes)
    assert n_calls < stacking.STACKED_FROM_CALLS
    monkeypatch.setattr(stacking, "STACKED_FROM_CALLS", n_calls)
    assert "ROUTINE_CALLS = 'stacked'" in dict(compile_card(card, filter_helicities=False).files)["P1_gg_ttxg.py"]


def test_routine_calls_card_key():
    base = "model: sm\nprocess: e+ e- > mu+ mu-\n"
    assert parse_process_card(base + "routine_calls: stacked\n").routine_calls == "stacked"
    assert parse_process_card(base + "routine_calls: separate\n").routine_calls == "separate"
    with pytest.raises(CardError, match=r"card\.yaml, key 'routine_calls': expected one of auto, separate, "
                                        r"stacked.*'batched'"):
        parse_process_card(base + "routine_calls: batched\n", "card.yaml")
    with pytest.raises(ValueError, match="routine_calls"):
        stacking.stacks(_graph("sm", "e+ e- > mu+ mu-"), "sometimes")
