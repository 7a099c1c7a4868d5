"""Colour flows: exact decomposition of the colour basis, LHE colour tags, helicity and colour selection."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from madgen.colour import ColourFactor, ColourFlows, colour_basis, colour_flows
from madgen.colour.flows import infer_index_dims, subprocess_colour_flows
from madgen.errors import UnsupportedFeature
from colour_reference import _external_weights, basis_tensor, flow_tensor, term_tensor
from physics import collision_points

CF = ColourFactor

# name, process, expected number of flows
CASES = [
    ("epem_mupmum", "e+ e- > mu+ mu-", 1),
    ("epem_uux", "e+ e- > u u~", 1),
    ("gg_ttx", "g g > t t~", 2),
    ("uux_ddx", "u u~ > d d~", 2),
    ("gg_gg", "g g > g g", 6),
    ("gg_ttxg", "g g > t t~ g", 6),
]


def compiled_colour(process: str):
    """(signed reps, n_initial, colour basis, term colour factors, index dims) as the compiler builds them."""
    from madgen.diagrams.generate import generate_diagrams, make_legs
    from madgen.ir.build import build_wavefunction_graph, colour_index_dims
    from madgen.model import load_model
    from madgen.process.expand import expand_process, resolve_labels
    from madgen.process.syntax import parse_process

    model = load_model("sm")
    (sub,) = expand_process(model, parse_process(process), resolve_labels(model, {}))
    legs = make_legs(model, sub.initial, sub.final)
    diagram_set = generate_diagrams(model, legs, sub.spec.orders, (), (), sub.text)
    graph = build_wavefunction_graph(model, diagram_set)
    index_dims = colour_index_dims(model, diagram_set)
    terms = [amp.colour for amp in graph.amplitudes]
    basis = colour_basis(graph.colour_dims, index_dims, terms)
    reps = tuple(model.particle(n).color for n in sub.particles)
    return reps, len(sub.initial), basis, terms, index_dims


@pytest.mark.parametrize("name, process, n_flows", CASES, ids=[c[0] for c in CASES])
def test_exact_reconstruction(name, process, n_flows):
    reps, n_initial, basis, terms, index_dims = compiled_colour(process)
    flows = subprocess_colour_flows(reps, n_initial, basis, terms, index_dims, process)
    assert isinstance(flows, ColourFlows)
    assert len(flows.flows) == n_flows
    assert len(flows.matrix) == len(basis.matrix)
    assert all(len(row) == n_flows for row in flows.matrix)
    # inferred label dimensions (what codegen uses) give the same answer
    assert subprocess_colour_flows(reps, n_initial, basis, terms, None, process) == flows
    dims = tuple(abs(r) for r in reps)
    for k, t in enumerate(basis.basis_terms):
        b = basis_tensor(term_tensor(terms[t], dims, index_dims))
        rec = sum(complex(m) * flow_tensor(reps, n_initial, f) for m, f in zip(flows.matrix[k], flows.flows))
        assert np.max(np.abs(rec - b)) < 1e-12 * max(1.0, np.max(np.abs(b)))
    # conj(M) G M^T is the exact colour matrix (G: Gram matrix of the flow tensors)
    w, q = _external_weights(dims)
    f = np.array([flow_tensor(reps, n_initial, fl) for fl in flows.flows])
    gram = f.conj() @ (f * w / q).T
    m = np.array([[complex(x) for x in row] for row in flows.matrix])
    colour = np.array([[complex(x) for x in row] for row in basis.matrix])
    assert np.allclose(m.conj() @ gram @ m.T, colour, rtol=1e-12, atol=1e-12)


def _check_lhe_colour(flows, reps, n_initial):
    for flow in flows:
        crossed_colour, crossed_anticolour = [], []
        for leg, ((c, a), rep) in enumerate(zip(flow, reps)):
            initial = leg < n_initial
            if rep == 1:
                assert (c, a) == (0, 0)
            elif rep == 8:
                assert c and a and c != a
            elif rep == 3:  # quark: colour only, incoming or outgoing
                assert c and not a
            else:  # antiquark: anticolour only
                assert a and not c
            (crossed_anticolour if initial else crossed_colour).extend([c] if c else [])
            (crossed_colour if initial else crossed_anticolour).extend([a] if a else [])
        tags = sorted(crossed_colour)
        assert tags == sorted(crossed_anticolour)
        assert len(set(tags)) == len(tags)
        assert tags == list(range(501, 501 + len(tags)))


@pytest.mark.parametrize("name, process, n_flows", CASES, ids=[c[0] for c in CASES])
def test_generated_flows_and_helicity_weights(generate_package, name, process, n_flows):
    proc = generate_package("sm", process, name)
    reps, n_initial, *_ = compiled_colour(process)
    flows = proc.colour_flows
    assert flows.shape == (n_flows, proc.n_legs, 2) and flows.dtype == np.int64
    _check_lhe_colour(flows.tolist(), reps, n_initial)
    assert proc.helicities.shape == (len(proc._module.HELICITIES), proc.n_legs)
    # the module functions, evaluated eagerly (the Process methods are jitted wrappers of them)
    module = proc._module
    internal = proc._parameters.compute_parameters(proc.complete_parameters())
    masses = np.asarray(proc.masses())
    momenta = collision_points(1000.0, masses[:n_initial], masses[n_initial:], np.random.default_rng(7), 6)
    p = np.transpose(momenta, (1, 2, 0))
    me = np.asarray(module.matrix_element(p, internal))
    hw = np.asarray(module.helicity_weights(p, internal))
    assert hw.shape == (len(proc.helicities), 6)
    assert np.all(hw >= -1e-12 * me)
    np.testing.assert_allclose(hw.sum(0), me, rtol=1e-12)
    fw = np.asarray(module.helicity_flow_weights(p, internal))
    assert fw.shape == (len(proc.helicities), n_flows, 6)
    assert np.all(fw >= 0) and np.all(fw.sum((0, 1)) > 0)
    hw2, fw2 = module.helicity_and_flow_weights(p, internal)
    np.testing.assert_array_equal(np.asarray(hw2), hw)
    np.testing.assert_array_equal(np.asarray(fw2), fw)
    # JAMPFLOW through FLOW_COEFFICIENTS and the flows' Gram matrix give |M|^2 back
    jamp = np.einsum("kt,thb->khb", module.JAMP_COEFFICIENTS, np.asarray(module.amplitudes(p, internal)))
    flow_amp = np.einsum("kf,khb->fhb", module.FLOW_COEFFICIENTS, jamp)
    dims = tuple(abs(r) for r in reps)
    w, q = _external_weights(dims)
    f = np.array([flow_tensor(reps, n_initial, fl) for fl in flows.tolist()])
    gram = f.conj() @ (f * w / q).T
    total = np.einsum("fhb,fg,ghb->b", flow_amp.conj(), gram, flow_amp).real / module.AVERAGING_FACTOR
    np.testing.assert_allclose(total, me, rtol=1e-10)
    leading = module.LEADING_FLOWS
    np.testing.assert_allclose(fw[:, leading], np.abs(flow_amp.transpose(1, 0, 2)[:, leading]) ** 2, rtol=1e-12)
    assert np.all(fw[:, ~leading] == 0)


def test_simple_flows(generate_package):
    assert generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum").colour_flows.tolist() == [[[0, 0]] * 4]
    assert generate_package("sm", "e+ e- > u u~", "epem_uux").colour_flows.tolist() == [
        [[0, 0], [0, 0], [501, 0], [0, 501]]]
    uux = generate_package("sm", "u u~ > d d~", "uux_ddx")
    # s-channel gluon: colour passes u -> d (leading) and the 1/N flow u-u~, d-d~ (never chosen)
    assert uux.colour_flows.tolist() == [[[501, 0], [0, 501], [502, 0], [0, 502]],
                                         [[501, 0], [0, 502], [501, 0], [0, 502]]]
    assert uux._module.LEADING_FLOWS.tolist() == [False, True]
    np.testing.assert_allclose(uux._module.FLOW_COEFFICIENTS, [[-1 / 6, 1 / 2]])


def test_gg_ttx_leading_colour_ratio(generate_package):
    """Leading-colour partial amplitudes of g g > Q Q~: |A(1,2)|^2 / |A(2,1)|^2 = (p2.p3 / p1.p3)^2."""
    proc = generate_package("sm", "g g > t t~", "gg_ttx")
    masses = np.asarray(proc.masses())
    momenta = collision_points(800.0, masses[:2], masses[2:], np.random.default_rng(3), 5)
    fw = np.asarray(proc.helicity_flow_weights(momenta)).sum(-2)
    # flow 0: g1's colour goes to the top (t-channel in p1.p3), flow 1: g2's does
    assert proc.colour_flows[0, 2, 0] == proc.colour_flows[0, 0, 0]
    assert proc.colour_flows[1, 2, 0] == proc.colour_flows[1, 1, 0]

    def dot(a, b):
        return a[..., 0] * b[..., 0] - np.sum(a[..., 1:] * b[..., 1:], -1)

    ratio = (dot(momenta[:, 1], momenta[:, 2]) / dot(momenta[:, 0], momenta[:, 2])) ** 2
    np.testing.assert_allclose(fw[:, 0] / fw[:, 1], ratio, rtol=1e-10)


def test_selection_frequencies(generate_package):
    import jax

    proc = generate_package("sm", "g g > t t~", "gg_ttx")
    masses = np.asarray(proc.masses())
    point = collision_points(800.0, masses[:2], masses[2:], np.random.default_rng(5), 1)
    n = 40000
    momenta = np.broadcast_to(point, (n,) + point.shape[1:])
    uniforms = np.random.default_rng(11).random((n, 2))
    hel, col = proc.select_helicity_and_colour(momenta, uniforms)
    hel, col = np.asarray(hel), np.asarray(col)
    assert hel.shape == (n, 4) and col.shape == (n, 4, 2)
    assert hel.dtype == np.int64 and col.dtype == np.int64
    h_index = np.array([np.flatnonzero((proc.helicities == row).all(1))[0] for row in hel])
    f_index = np.array([np.flatnonzero((proc.colour_flows == c).all((1, 2)))[0] for c in col])
    hw = np.asarray(proc.helicity_weights(point))[0]
    fw = np.asarray(proc.helicity_flow_weights(point))[0]
    np.testing.assert_allclose(hw.sum(), np.asarray(proc.matrix_element(point))[0], rtol=1e-12)
    p_h = hw / hw.sum()
    counts = np.bincount(h_index, minlength=len(p_h))
    assert np.all(counts[p_h == 0] == 0)
    sigma = np.sqrt(n * p_h * (1 - p_h)) + 1
    assert np.all(np.abs(counts - n * p_h) < 5 * sigma)
    joint = np.zeros_like(fw)
    np.add.at(joint, (h_index, f_index), 1)
    expected = n * p_h[:, None] * fw / np.where(fw.sum(1, keepdims=True) > 0, fw.sum(1, keepdims=True), 1)
    assert np.all(np.abs(joint - expected) < 5 * np.sqrt(expected + 1))
    # deterministic given the uniforms, jit-able, and a PRNG key works too (same shapes: no recompilation)
    again = jax.jit(lambda m, u: proc.select_helicity_and_colour(m, u))(momenta, uniforms)
    np.testing.assert_array_equal(np.asarray(again[0]), hel)
    np.testing.assert_array_equal(np.asarray(again[1]), col)
    keyed = proc.select_helicity_and_colour(momenta, jax.random.key(0))
    assert keyed[0].shape == (n, 4) and keyed[1].shape == (n, 4, 2)
    legacy = proc.select_helicity_and_colour(momenta, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(keyed[1]), np.asarray(legacy[1]))
    # batch shapes pass through
    shaped = proc.helicity_flow_weights(np.broadcast_to(point, (2, 3) + point.shape[1:]))
    assert shaped.shape == (2, 3, len(proc.helicities), 2)
    np.testing.assert_allclose(np.asarray(shaped)[1, 2], fw, rtol=1e-14)


def test_regeneration_is_byte_identical(tmp_path):
    import madgen

    card = tmp_path / "card.yaml"
    card.write_text("model: sm\nprocess: g g > t t~ g\nname: gg_ttxg_det\n")
    out = []
    for i in range(2):
        target = tmp_path / f"out{i}"
        madgen.generate(card, output=target, force=True)
        out.append({p.name: p.read_bytes() for p in sorted(target.iterdir()) if p.is_file()})
    assert out[0] == out[1]
    assert b"COLOUR_FLOWS = np.array(" in out[0]["P1_gg_ttxg.py"]


# ---------------------------------------------------------------------------
# Colour module level.
# ---------------------------------------------------------------------------


def test_colourless_single_trivial_flow():
    basis = colour_basis([1, 1, 1, 1], {}, [CF(())])
    flows = subprocess_colour_flows((1, 1, 1, 1), 2, basis, [CF(())])
    assert flows.flows == (((0, 0),) * 4,)
    assert flows.matrix == ((1,),)


def test_fierz_decomposition_is_exact():
    """T^a_{ij} T^a_{kl} = 1/2 (delta_il delta_kj - 1/3 delta_ij delta_kl) for q(1) q~(2) > q(3) q~(4) crossed."""
    tt = CF((("T(3,1,2)", (3, 4, -1)), ("T(3,1,2)", (2, 1, -1))))  # u u~ > d d~, s-channel gluon
    index_dims = {1: 3, 2: 3, 3: 3, 4: 3, -1: 8}
    flows = colour_flows((3, -3, 3, -3), 2, [tt], index_dims, "u u~ > d d~")
    assert flows.matrix == ((sympy.Rational(-1, 6), sympy.Rational(1, 2)),)
    assert flows.leading == (False, True)
    assert infer_index_dims([tt], (3, 3, 3, 3)) == index_dims


def test_odd_gluon_number_has_sqrt2():
    qqg = CF((("T(3,2,1)", (1, 2, 3)),))  # u u~ > g: slot 1 (u~) holds the incoming u
    flows = colour_flows((3, -3, 8), 2, [qqg], {1: 3, 2: 3, 3: 8})
    assert flows.flows == (((501, 0), (0, 502), (501, 502)),)
    assert flows.matrix == ((sympy.sqrt(2) / 2,),)


def test_unsupported_representations():
    with pytest.raises(UnsupportedFeature, match="q q > sextet"):
        colour_flows((3, 3, 6), 2, [], {}, "q q > sextet")
    with pytest.raises(UnsupportedFeature, match="'u u > d~'.*cannot be paired"):
        colour_flows((3, 3, 3), 2, [], {}, "u u > d~")


def test_unsupported_colour_still_generates_matrix_element(tmp_path, monkeypatch):
    """Sextets have no colour flows: the module still has |M|^2, and selection says why it cannot."""
    import dataclasses
    import shutil

    import madgen
    import madgen.codegen.emit as emit

    original = emit.render_subprocess

    def sextet_render(code, header):  # pretend the tops were sextets
        return original(dataclasses.replace(code, colour_reps=(8, 8, 6, -6)), header)

    monkeypatch.setattr(emit, "render_subprocess", sextet_render)
    card = tmp_path / "card.yaml"
    card.write_text("model: sm\nprocess: g g > t t~\nname: gg_ttx_sextet\n")
    madgen.generate(card, output=tmp_path / "out", force=True)
    proc = madgen.load(tmp_path / "out")
    assert proc.colour_flows.shape == (0, 4, 2)
    assert "representation 6" in proc._module.COLOUR_FLOWS_UNSUPPORTED
    with pytest.raises(NotImplementedError, match="'g g > t t~'.*sextets are not"):
        proc.select_helicity_and_colour(np.zeros((1, 4, 4)), np.zeros((1, 2)), check=False)
    shutil.rmtree(tmp_path / "out")
