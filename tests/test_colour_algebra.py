"""The algebraic colour stage (colour-flow expansion) against dense evaluation over all colour indices.

``colour_reference`` is the former production evaluator: every tensor evaluated numerically over
all index values (exact Gaussian integers in a rescaled SU(3) basis). For random colour strings
(every supported tensor: T, f, d, Identity, Epsilon, EpsilonBar, K6, K6Bar, T6) and for the
compiled terms of small processes, the exact inner products of all term tensors,
<v_s|v_t> = sum_kl conj(c_sk) C_kl c_tl from the algebraic basis, must equal the dense ones
exactly; this also proves v_t = sum_k c_tk B_k (|v_t - sum c B|^2 = 0).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest
import sympy

from colour_reference import basis_tensor, exact_gram, flow_tensor, term_tensor
from madgen.colour import ColourFactor, colour_basis, subprocess_colour_flows
from madgen.colour.algebra import expand_colour_factor, gram
from madgen.colour.tensors import string_monomials
from madgen.errors import UnsupportedFeature

CF = ColourFactor

CATALOGUE = {
    "T": ("T", (8, 3, 3)), "f": ("f", (8, 8, 8)), "d": ("d", (8, 8, 8)),
    "I3": ("Identity", (3, 3)), "I8": ("Identity", (8, 8)), "I6": ("Identity", (6, 6)),
    "K6": ("K6", (6, 3, 3)), "K6Bar": ("K6Bar", (6, 3, 3)), "T6": ("T6", (8, 6, 6)),
    "Epsilon": ("Epsilon", (3, 3, 3)), "EpsilonBar": ("EpsilonBar", (3, 3, 3)),
}
COEFFICIENTS = ["", "2*", "complex(0,1)*", "-1/3*", "complex(1,-2)*"]


def _assign(rng, tensors, external, nxt):
    """Labels for every slot: each external leg once (matching dimension), the other slots
    paired into internal labels, never two slots of one tensor; None if impossible."""
    slots = [(t, s, d) for t, (_, dims) in enumerate(tensors) for s, d in enumerate(dims)]
    labels, index_dims = {}, {}
    for dim in (3, 6, 8):
        here = [x for x in slots if x[2] == dim]
        legs = [leg for leg, d in external if d == dim]
        if len(here) < len(legs) or (len(here) - len(legs)) % 2:
            return None
        rng.shuffle(here)
        for (t, s, _), leg in zip(here, legs):
            labels[(t, s)] = leg
        rest = here[len(legs):]
        for a, b in zip(rest[::2], rest[1::2]):
            if a[0] == b[0]:
                return None
            lab = next(nxt)
            labels[a[:2]] = labels[b[:2]] = lab
            index_dims[lab] = dim
    return labels, index_dims


def _string(rng, group, tensors, labels):
    """A UFO colour string for the tensors ``group``: labels used twice inside it become dummies."""
    used = [labels[(t, s)] for t in group for s in range(len(tensors[t][1]))]
    dummies = {lab: -(i + 1) for i, lab in enumerate(sorted({x for x in used if used.count(x) == 2}, key=abs))}
    slot_of, slot_labels = {}, []
    for lab in used:
        if lab not in dummies and lab not in slot_of:
            slot_of[lab] = len(slot_labels) + 1
            slot_labels.append(lab)

    def monomial(order):
        return "*".join(f"{tensors[t][0]}({','.join(str(dummies.get(x, slot_of.get(x))) for x in args)})"
                        for t, args in order)

    args = [(t, [labels[(t, s)] for s in range(len(tensors[t][1]))]) for t in group]
    text = rng.choice(COEFFICIENTS) + monomial(args)
    if rng.random() < 0.3:  # a second monomial: two same-dimension indices of one tensor swapped
        t, a = rng.choice(args)
        dims = tensors[t][1]
        pairs = [(i, j) for i in range(len(a)) for j in range(i + 1, len(a)) if dims[i] == dims[j]]
        if pairs:
            i, j = rng.choice(pairs)
            b = list(a)
            b[i], b[j] = b[j], b[i]
            text += " + " + rng.choice(COEFFICIENTS) + monomial([(u, b if u == t else c) for u, c in args])
    return text, tuple(slot_labels)


def random_factor(rng, external, kinds, nxt):
    """A random colour factor over the external legs ((leg, dim), ...) made of 1-4 tensors."""
    while True:
        tensors = [CATALOGUE[rng.choice(kinds)] for _ in range(rng.randint(1, 4))]
        assigned = _assign(rng, tensors, external, nxt)
        if assigned is None:
            continue
        labels, index_dims = assigned
        order = list(range(len(tensors)))
        rng.shuffle(order)
        cut = sorted(rng.sample(range(1, len(order)), rng.randint(0, len(order) - 1))) if len(order) > 1 else []
        groups = [order[a:b] for a, b in zip([0] + cut, cut + [len(order)])]
        factors = tuple(_string(rng, g, tensors, labels) for g in groups)
        dims_of = {**index_dims, **dict(external)}
        if all(_inferable(s, labels, dims_of) for s, labels in factors):
            return CF(factors), index_dims


def _inferable(string, labels, dims_of) -> bool:
    """False for a string whose dummy Identity indices have no dimension (a closed Identity loop
    within one string, which the UFO format cannot express)."""
    try:
        string_monomials(string, tuple((k + 1, dims_of[lab]) for k, lab in enumerate(labels)))
    except UnsupportedFeature as exc:
        assert "cannot infer the dimension" in str(exc)
        return False
    return True


def assert_exact_agreement(external_dims, index_dims, terms):
    """The algebraic basis reproduces the dense Gram matrix of all terms exactly."""
    basis = colour_basis(external_dims, index_dims, terms)
    dense = [term_tensor(cf, external_dims, index_dims) for cf in terms]
    assert_gram_agrees(basis, range(len(terms)), exact_gram(dense, external_dims), terms)
    if basis.matrix:
        w = np.array([t.raw * float(t.scale) for t in dense])
        assert len(basis.matrix) == np.linalg.matrix_rank(w, tol=1e-9)  # a basis: independent, spanning
    return basis


def assert_gram_agrees(basis, sample, reference, terms):
    """sum_kl conj(c_sk) C_kl c_tl == reference[s][t] exactly, for s, t in ``sample``."""
    sample = list(sample)
    k = len(basis.matrix)
    if k == 0:
        assert all(re == 0 and im == 0 for row in reference for re, im in row)
        return
    c = [[_gaussian(x) for x in basis.coefficients[t]] for t in sample]
    matrix = [[_gaussian(x) for x in row] for row in basis.matrix]
    c_matrix = [[_dot(matrix[kk], row) for kk in range(k)] for row in c]  # (C c_t)_k
    for s, row in enumerate(reference):
        conj_s = [(re, -im) for re, im in c[s]]
        for t in range(s, len(sample)):
            assert _dot(conj_s, c_matrix[t]) == row[t], (sample[s], sample[t], terms[sample[s]], terms[sample[t]])


def _gaussian(x) -> tuple[Fraction, Fraction]:
    re, im = (sympy.Rational(v) for v in (sympy.re(x), sympy.im(x)))
    return Fraction(int(re.p), int(re.q)), Fraction(int(im.p), int(im.q))


def _dot(a, b) -> tuple[Fraction, Fraction]:
    """sum_k a_k b_k for Gaussian rationals as (re, im) pairs."""
    re = sum((x[0] * y[0] - x[1] * y[1] for x, y in zip(a, b)), Fraction(0))
    im = sum((x[0] * y[1] + x[1] * y[0] for x, y in zip(a, b)), Fraction(0))
    return re, im


EXTERNALS = {
    "quark line, two gluons": ((3, 8, 8, 3), ("T", "f", "d", "I3", "I8")),
    "three gluons": ((8, 8, 8), ("T", "f", "d", "I3", "I8")),
    "four quarks": ((3, 3, 3, 3), ("T", "f", "I3", "I8")),
    "epsilons": ((3, 3, 3, 8), ("T", "f", "I3", "Epsilon", "EpsilonBar")),
    "six epsilon legs": ((3, 3, 3, 3, 3, 3), ("T", "I3", "Epsilon", "EpsilonBar")),
    "sextets": ((6, 6, 8), ("T", "f", "I3", "I6", "K6", "K6Bar", "T6")),
    "sextet and quarks": ((6, 3, 3, 8), ("T", "f", "I3", "I6", "I8", "K6", "K6Bar", "T6", "Epsilon")),
    "colourless": ((1, 1), ("T", "f", "d", "I3", "I8", "Epsilon", "EpsilonBar", "K6", "T6")),
}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("case", sorted(EXTERNALS))
def test_random_colour_strings_match_dense_evaluation(case, seed):
    dims, kinds = EXTERNALS[case]
    rng = random.Random(f"{case}-{seed}")
    nxt = iter(range(-1, -10**6, -1))
    external = [(leg, d) for leg, d in enumerate(dims, start=1) if d != 1]
    terms, index_dims = [], {leg: d for leg, d in enumerate(dims, start=1)}
    for _ in range(rng.randint(1, 7)):
        cf, dims_of = random_factor(rng, external, kinds, nxt)
        terms.append(cf)
        index_dims.update(dims_of)
    assert_exact_agreement(list(dims), index_dims, terms)


SMALL_PROCESSES = [
    ("sm", "g g > t t~ g"), ("sm", "u u~ > d d~ g"), ("sm", "g g > g g g"), ("sm", "u u > u u"),
    ("sm", "u u~ > g g g"), ("ufo_mssm", "g g > go go g"), ("ufo_mssm", "u u~ > su3 su3~ g"),
]


@lru_cache(maxsize=None)
def _model(name: str):
    from madgen.model import load_model

    return load_model(name)


def compiled_terms(model_name: str, process: str):
    from madgen.diagrams.generate import generate_diagrams, make_legs
    from madgen.ir.build import build_wavefunction_graph, colour_index_dims
    from madgen.process.expand import expand_process, resolve_labels
    from madgen.process.syntax import parse_process

    model = _model(model_name)
    (sub,) = expand_process(model, parse_process(process), resolve_labels(model, {}))
    diagram_set = generate_diagrams(model, make_legs(model, sub.initial, sub.final), sub.spec.orders, (), (),
                                    sub.text)
    graph = build_wavefunction_graph(model, diagram_set)
    return graph.colour_dims, colour_index_dims(model, diagram_set), [amp.colour for amp in graph.amplitudes]


@pytest.mark.parametrize("model_name, process", SMALL_PROCESSES, ids=[p for _, p in SMALL_PROCESSES])
def test_compiled_processes_match_dense_evaluation(model_name, process):
    pytest.importorskip("ufo_mssm") if model_name == "ufo_mssm" else None
    dims, index_dims, terms = compiled_terms(model_name, process)
    assert_exact_agreement(dims, index_dims, terms)


def test_gg_ttxggg_sample_matches_dense_evaluation():
    """g g > t t~ g g g is beyond the dense evaluation of all terms at once, but not of a few: exact
    inner products of a sample of terms (294912 colour components each), and the flow
    decomposition of sampled basis tensors, against the algebraic results."""
    dims, index_dims, terms = compiled_terms("sm", "g g > t t~ g g g")
    basis = colour_basis(dims, index_dims, terms)
    rng = random.Random(11)
    others = [t for t in range(len(terms)) if t not in set(basis.basis_terms)]
    sample = sorted(rng.sample(others, 8) + rng.sample(list(basis.basis_terms), 4))
    dense = [term_tensor(terms[t], dims, index_dims) for t in sample]
    assert_gram_agrees(basis, sample, exact_gram(dense, dims), terms)

    reps, n_initial = (8, 8, 3, -3, 8, 8, 8), 2
    flows = subprocess_colour_flows(reps, n_initial, basis, terms, index_dims, "g g > t t~ g g g")
    assert len(flows.flows) == 120 and all(flows.leading)
    for k in rng.sample(range(len(basis.basis_terms)), 3):
        b = basis_tensor(term_tensor(terms[basis.basis_terms[k]], dims, index_dims))
        rec = sum(complex(m) * flow_tensor(reps, n_initial, f) for m, f in zip(flows.matrix[k], flows.flows)
                  if m != 0)
        assert np.max(np.abs(rec - b)) < 1e-12 * np.max(np.abs(b))


def test_network_gram_is_n_to_the_loops():
    """<F_s|F_t> of the two colour flows of q q~ g g (quark line through the gluons in either order)."""
    dims = (3, 3, 8, 8)
    flows = []
    for g1, g2 in ((3, 4), (4, 3)):  # (T^g1 T^g2)_{1 2}
        cf = CF((("T(1,2,3)", (g1, 1, -1)), ("T(1,2,3)", (g2, -1, 2))))
        values, den = expand_colour_factor(cf.factors, dims, {1: 3, 2: 3, 3: 8, 4: 8, -1: 3})
        assert den == 1 and list(values.values()) == [(1, 0)]
        flows.append(next(iter(values)))
    g, q = gram(flows, flows, dims)
    # 4 <T^aT^b T^bT^a>: N^3 - 2 N^2/N + N/N^2 = 64/3 diagonal; off-diagonal N - 2 N^2/N + N^3/N^2 = -8/3
    assert g.tolist() == [[64 * 3, -8 * 3], [-8 * 3, 64 * 3]] and q == 9


# ---------------------------------------------------------------------------
# Cost: the colour stage no longer grows as 8^(number of gluons).
# ---------------------------------------------------------------------------

_MEASURE = textwrap.dedent("""
    import json, resource, sys, time
    from madgen.colour import colour_basis, subprocess_colour_flows
    from madgen.diagrams.generate import generate_diagrams, make_legs
    from madgen.ir.build import build_wavefunction_graph, colour_index_dims
    from madgen.model import load_model
    from madgen.process.expand import expand_process, resolve_labels
    from madgen.process.syntax import parse_process

    out = {}
    model = load_model("sm")
    for process in sys.argv[1:]:
        (sub,) = expand_process(model, parse_process(process), resolve_labels(model, {}))
        diagram_set = generate_diagrams(model, make_legs(model, sub.initial, sub.final), sub.spec.orders, (), (),
                                        sub.text)
        graph = build_wavefunction_graph(model, diagram_set)
        index_dims = colour_index_dims(model, diagram_set)
        terms = [amp.colour for amp in graph.amplitudes]
        reps = tuple(model.particle(n).color for n in sub.particles)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        basis = colour_basis(graph.colour_dims, index_dims, terms)
        flows = subprocess_colour_flows(reps, len(sub.initial), basis, terms, index_dims, process)
        seconds = time.perf_counter() - start
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        out[process] = {"terms": len(terms), "basis": len(basis.matrix), "flows": len(flows.flows),
                        "seconds": seconds, "peak_growth_mb": grown / 1024}
    print(json.dumps(out))
""")


def measure_colour_stage(*processes: str) -> dict:
    """Colour stage (basis and flows) of each process in a fresh interpreter, after building its
    diagrams and IR: its time and the growth of the peak resident memory (KiB on Linux)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", _MEASURE, *processes], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_colour_stage_of_gg_ttxggg_fits_in_memory():
    """The colour stage no longer grows as 8^(number of gluons). Dense evaluation, peak memory
    growth: g g > t t~ g 11 MB, g g > t t~ g g 375 MB, g g > t t~ g g g killed at 24 GB (1890
    terms, an array of 1890 x 294912 complex numbers); the algebra needs a few MB, ~0.1 GB."""
    stats = measure_colour_stage("g g > t t~ g", "g g > t t~ g g", "g g > t t~ g g g")
    shapes = {process: (s["terms"], s["basis"], s["flows"]) for process, s in stats.items()}
    assert shapes == {"g g > t t~ g": (18, 6, 6), "g g > t t~ g g": (159, 24, 24),
                      "g g > t t~ g g g": (1890, 120, 120)}
    assert stats["g g > t t~ g"]["peak_growth_mb"] < 48, stats
    assert stats["g g > t t~ g g"]["peak_growth_mb"] < 48, stats
    assert stats["g g > t t~ g g g"]["peak_growth_mb"] < 512, stats
    assert stats["g g > t t~ g g g"]["seconds"] < 120, stats


# ---------------------------------------------------------------------------
# Exact linear algebra: the proofs and their fallbacks.
# ---------------------------------------------------------------------------


def test_four_gluon_flows_are_dependent_at_n_equals_3(monkeypatch):
    """The nine flows of four gluons (six single, three double traces) span eight dimensions for
    SU(3): one double trace is an exact combination of the others, also when the float guess
    of its coefficients is wrong and the exact solve has to find them."""
    import madgen.colour.exact as exact
    from madgen.colour.flows import _candidate_lines, _line_network

    reps = (8, 8, 8, 8)
    networks = [_line_network(lines, reps) for lines in _candidate_lines(reps, 2, "g g > g g")]
    g, den = gram(networks, networks, reps)
    span = exact.span_of(g, den, range(len(networks)))
    assert len(networks) == 9 and len(span.chosen) == 8
    (dependent,) = span.relations
    assert dependent == 8  # the last double trace
    monkeypatch.setattr(exact, "rationalise", lambda z, max_den=0: (Fraction(1, 7), Fraction(0)))
    assert exact.span_of(g, den, range(len(networks))).relations == span.relations


def test_full_rank_proof():
    from madgen.colour.exact import _PRIMES, ColourInternalError, prove_full_rank

    prove_full_rank(np.array([[_PRIMES[0] * _PRIMES[1], 0], [0, 1]]), "rows")  # singular mod both primes
    with pytest.raises(ColourInternalError, match="not linearly independent"):
        prove_full_rank(np.array([[1, 2j], [2, 4j]]), "rows")
