"""Tests of the colour stage: exact colour sums, bases, dependence and speed."""

from __future__ import annotations

import random
import time

import pytest
import sympy
from sympy import I, Rational

from madgen.colour import ColourBasis, ColourFactor, colour_basis
from madgen.colour.tensors import parse_colour
from madgen.errors import UnsupportedFeature
from colour_reference import string_tensor

CF = ColourFactor


def single(string: str, dims: list[int]) -> ColourBasis:
    """Basis for one term made of one string whose slots are the external legs."""
    n = len(dims)
    return colour_basis(dims, {i + 1: d for i, d in enumerate(dims)}, [CF(((string, tuple(range(1, n + 1))),))])


@pytest.mark.parametrize(
    "string, dims, value",
    [
        ("Identity(1,2)", [3, -3], 3),
        ("Identity(1,2)", [8, 8], 8),
        ("Identity(1,2)", [6, -6], 6),
        ("T(1,2,3)", [8, 3, -3], 4),
        ("f(1,2,3)", [8, 8, 8], 24),
        ("d(1,2,3)", [8, 8, 8], Rational(40, 3)),
        ("Epsilon(1,2,3)", [3, 3, 3], 6),
        ("EpsilonBar(1,2,3)", [-3, -3, -3], 6),
        ("K6(1,2,3)", [6, -3, -3], 6),
        ("K6Bar(1,2,3)", [-6, 3, 3], 6),
        ("T6(1,2,3)", [8, 6, -6], 20),  # Tr(T6^a T6^b) = 5/2 delta^ab
        ("2*complex(0,1)*T(1,2,3)", [8, 3, -3], 16),
        ("1", [1, 1], 1),
    ],
)
def test_colour_summed_squares(string, dims, value):
    b = single(string, dims)
    assert b.matrix == ((value,),)
    assert b.coefficients == ((1,),)
    assert b.basis_terms == (0,)


def gg_ttx_terms():
    """g(1) g(2) > t(3) t~(4) with UFO vertex strings 'f(1,2,3)' (g g g) and 'T(3,2,1)' (t~ t g)."""
    s = CF((("f(1,2,3)", (1, 2, -1)), ("T(3,2,1)", (4, 3, -1))))
    t = CF((("T(3,2,1)", (-2, 3, 1)), ("T(3,2,1)", (4, -2, 2))))
    u = CF((("T(3,2,1)", (-3, 3, 2)), ("T(3,2,1)", (4, -3, 1))))
    dims = {1: 8, 2: 8, 3: 3, 4: -3, -1: 8, -2: 3, -3: -3}
    return s, t, u, dims


def test_gg_ttx_flow_basis_matrix():
    s, t, u, dims = gg_ttx_terms()
    b = colour_basis([8, 8, 3, -3], dims, [t, u, s])
    assert b.dims == (8, 8, 3, 3)
    assert b.basis_terms == (0, 1)
    assert b.matrix == ((Rational(16, 3), Rational(-2, 3)), (Rational(-2, 3), Rational(16, 3)))
    # f^{abx} T^x = -i [T^a, T^b]
    assert b.coefficients == ((1, 0), (0, 1), (-I, I))


def test_gg_ttx_s_channel_first():
    s, t, u, dims = gg_ttx_terms()
    b = colour_basis([8, 8, 3, -3], dims, [s, t, u, s])
    assert b.basis_terms == (0, 1)
    assert b.matrix == ((12, 6 * I), (-6 * I, Rational(16, 3)))
    assert b.coefficients == ((1, 0), (0, 1), (-I, 1), (1, 0))
    m = sympy.Matrix(b.matrix)
    assert m == m.H


def test_total_colour_sum_of_gg_ttx_amplitude():
    """sum |t + u|^2 over colours = conj(c) C c with c = (1, 1): 16/3*2 - 4/3 = 28/3."""
    s, t, u, dims = gg_ttx_terms()
    b = colour_basis([8, 8, 3, -3], dims, [t, u])
    c = sympy.Matrix([1, 1])
    assert (c.H * sympy.Matrix(b.matrix) * c)[0] == Rational(28, 3)


def test_f_as_t_strings_is_dependent():
    f_term = CF((("f(1,2,-1)*T(-1,3,4)", (1, 2, 3, 4)),))
    combo = CF((("complex(0,-1)*T(1,3,-1)*T(2,-1,4) + complex(0,1)*T(2,3,-1)*T(1,-1,4)", (1, 2, 3, 4)),))
    dims = {1: 8, 2: 8, 3: 3, 4: -3}
    b = colour_basis([8, 8, 3, -3], dims, [f_term, combo])
    assert b.basis_terms == (0,)
    assert b.coefficients == ((1,), (1,))
    assert b.matrix == ((12,),)


def test_fierz_identity():
    """T^a_{ij} T^a_{kl} = 1/2 (delta_il delta_kj - 1/3 delta_ij delta_kl)."""
    dims = {1: 3, 2: -3, 3: 3, 4: -3, -1: 8}
    tt = CF((("T(3,1,2)", (1, 2, -1)), ("T(3,1,2)", (3, 4, -1))))
    d14 = CF((("Identity(1,2)", (1, 4)), ("Identity(1,2)", (3, 2))))
    d12 = CF((("Identity(1,2)", (1, 2)), ("Identity(1,2)", (3, 4))))
    b = colour_basis([3, -3, 3, -3], dims, [d14, d12, tt])
    assert b.coefficients[2] == (Rational(1, 2), Rational(-1, 6))
    assert b.matrix == ((9, 3), (3, 9))


def test_sextet_lie_algebra():
    """[T6^a, T6^b] = i f^{abc} T6^c (recognised as a dependence)."""
    dims = {1: 8, 2: 8, 3: 6, 4: -6}
    comm = CF((("T6(1,3,-1)*T6(2,-1,4) - T6(2,3,-1)*T6(1,-1,4)", (1, 2, 3, 4)),))
    ft = CF((("f(1,2,-1)*T6(-1,3,4)", (1, 2, 3, 4)),))
    b = colour_basis([8, 8, 6, -6], dims, [ft, comm])
    assert b.basis_terms == (0,)
    assert b.coefficients[1] == (I,)  # same sign as for the triplet
    assert b.matrix == ((60,),)  # f f Tr(T6 T6) = 3 * 8 * 5/2


def test_sextet_clebsch_completeness():
    """sum_m K6_m^{ij} K6Bar_m^{kl} = 1/2 (delta_ik delta_jl + delta_il delta_jk)."""
    kk = CF((("K6(-1,1,2)*K6Bar(-1,3,4)", (1, 2, 3, 4)),))
    d13 = CF((("Identity(1,2)*Identity(3,4)", (1, 3, 2, 4)),))
    d14 = CF((("Identity(1,2)*Identity(3,4)", (1, 4, 2, 3)),))
    b = colour_basis([-3, -3, 3, 3], {1: -3, 2: -3, 3: 3, 4: 3}, [d13, d14, kk])
    assert b.coefficients[2] == (Rational(1, 2), Rational(1, 2))


def test_colourless_process():
    b = colour_basis([1, 1, 1, 1], {}, [CF((("1", (1, 2, -1)), ("1", (-1, 3, 4)))), CF(())])
    assert b == ColourBasis((1, 1, 1, 1), ((1,), (1,)), ((1,),), (0,))


def test_vanishing_colour():
    """A closed quark loop with one gluon: Tr(T^a) = 0, so K = 0."""
    loop = CF((("T(1,2,3)", (1, -1, -2)), ("Identity(1,2)", (-2, -1))))
    b = colour_basis([8], {1: 8, -1: 3, -2: -3}, [loop])
    assert b == ColourBasis((8,), ((),), (), ())


def test_unsupported_and_malformed():
    with pytest.raises(UnsupportedFeature, match="Tr"):
        parse_colour("Tr(1,2)")
    with pytest.raises(UnsupportedFeature, match="T\\(1,2\\)"):
        string_tensor("T(1,2)", ((1, 8), (2, 3)))
    with pytest.raises(ValueError):
        colour_basis([8, 8], {1: 8, 2: 8, -1: 8}, [CF((("f(1,2,3)", (1, 2, -1)),))])


def test_all_ufo_vertex_strings_evaluate():
    """Every colour string of every SM and MSSM vertex: the algebra's colour sums of the vertex's
    strings (all pairs) agree exactly with the dense evaluation, and each string is non-zero."""
    from test_colour_algebra import assert_exact_agreement

    ufo_sm = pytest.importorskip("ufo_sm")
    ufo_mssm = pytest.importorskip("ufo_mssm")
    checked = 0
    for model in (ufo_sm, ufo_mssm):
        for v in model.all_vertices:
            if all(s.strip() == "1" for s in v.color):
                continue
            dims = [int(p.color) for p in v.particles]
            slots = tuple(range(1, len(dims) + 1))
            terms = [CF(((s, slots),)) for s in v.color]
            basis = assert_exact_agreement(dims, {k: d for k, d in zip(slots, dims)}, terms)
            assert all(any(c != 0 for c in row) for row in basis.coefficients), v.name
            checked += 1
    assert checked > 50


def random_gg_ttxgg_term(rng: random.Random, nxt) -> ColourFactor:
    """A random tree colour factor for g1 g2 > t3 t~4 g5 g6: f/4-gluon trees hung on a T chain.

    ``nxt`` yields fresh internal labels (unique over all terms, as index_dims is shared).
    """
    gluons = [1, 2, 5, 6]
    factors = []
    rng.shuffle(gluons)
    while len(gluons) > 1 and rng.random() < 0.6:
        if len(gluons) >= 3 and rng.random() < 0.3:
            a, b, c = gluons[:3]
            x = next(nxt)
            four = rng.choice(["f(-1,1,2)*f(3,4,-1)", "f(-1,1,3)*f(2,4,-1)", "f(-1,1,4)*f(2,3,-1)"])
            factors.append((four, (a, b, c, x)))
            gluons = gluons[3:] + [x]
        else:
            a, b = gluons[:2]
            x = next(nxt)
            factors.append(("f(1,2,3)", (a, b, x)))
            gluons = gluons[2:] + [x]
    rng.shuffle(gluons)
    row = 3
    for i, g in enumerate(gluons):
        col = 4 if i == len(gluons) - 1 else next(nxt)
        factors.append(("T(3,2,1)", (col, row, g)))
        row = col
    return CF(tuple(factors))


def dims_for(terms):
    dims = {1: 8, 2: 8, 3: 3, 4: -3, 5: 8, 6: 8}
    for cf in terms:
        for s, labels in cf.factors:
            for k, lab in enumerate(labels):
                if lab < 0:
                    dims[lab] = 8 if (s.startswith("f") or k == 2) else 3
    return dims


def test_gg_ttxgg_performance_and_determinism():
    rng = random.Random(1)
    nxt = iter(range(-1, -10**6, -1))
    terms = [random_gg_ttxgg_term(rng, nxt) for _ in range(150)]
    dims = dims_for(terms)
    t0 = time.perf_counter()
    b = colour_basis([8, 8, 3, -3, 8, 8], dims, terms)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, elapsed
    assert 1 <= len(b.basis_terms) <= 24  # spanned by the 4! orderings of T's
    assert len(b.coefficients) == 150
    m = sympy.Matrix(b.matrix)
    assert m == m.H
    assert all(sympy.re(x).is_rational and sympy.im(x).is_rational for x in m)
    assert colour_basis([8, 8, 3, -3, 8, 8], dict(dims), list(terms)) == b


# ---------------------------------------------------------------------------
# Independent floating-point reference: standard Gell-Mann generators, plain einsum.
# ---------------------------------------------------------------------------


def _reference_tensors():
    import numpy as np

    lam = np.zeros((8, 3, 3), complex)
    lam[0][0, 1] = lam[0][1, 0] = 1
    lam[1][0, 1], lam[1][1, 0] = -1j, 1j
    lam[2][0, 0], lam[2][1, 1] = 1, -1
    lam[3][0, 2] = lam[3][2, 0] = 1
    lam[4][0, 2], lam[4][2, 0] = -1j, 1j
    lam[5][1, 2] = lam[5][2, 1] = 1
    lam[6][1, 2], lam[6][2, 1] = -1j, 1j
    lam[7] = np.diag([1, 1, -2]) / np.sqrt(3)
    t = lam / 2
    tt = np.einsum("aij,bjk->abik", t, t)
    f = -2j * np.einsum("abik,cki->abc", tt - tt.transpose(1, 0, 2, 3), t)
    return {"T": t, "f": f.real}


def _reference_term(cf: ColourFactor, ext: list[int]):
    import re

    import numpy as np

    ref = _reference_tensors()
    operands, ids = [], {}
    for n, (string, labels) in enumerate(cf.factors):
        for name, args in re.findall(r"(\w+)\(([-\d,]+)\)", string):
            idx = []
            for a in map(int, args.split(",")):
                key = labels[a - 1] if a > 0 else ("dummy", n, a)
                idx.append(ids.setdefault(key, len(ids)))
            operands += [ref[name], idx]
    return np.einsum(*operands, [ids[e] for e in ext], optimize="greedy")


def test_against_floating_point_reference():
    """sum_colours |sum_t a_t v_t|^2 = J^H C J for random a_t, vs an independent computation."""
    import numpy as np

    rng = random.Random(7)
    nxt = iter(range(-1, -10**6, -1))
    terms = [random_gg_ttxgg_term(rng, nxt) for _ in range(40)]
    b = colour_basis([8, 8, 3, -3, 8, 8], dims_for(terms), terms)
    gen = np.random.default_rng(3)
    amps = gen.normal(size=len(terms)) + 1j * gen.normal(size=len(terms))
    total = sum(a * _reference_term(cf, [1, 2, 3, 4, 5, 6]) for a, cf in zip(amps, terms))
    direct = np.sum(np.abs(total) ** 2)
    coeff = np.array([[complex(c) for c in row] for row in b.coefficients])
    jamp = amps @ coeff
    cmat = np.array([[complex(c) for c in row] for row in b.matrix])
    assert np.vdot(jamp, cmat @ jamp) == pytest.approx(direct, rel=1e-10)


def test_fallback_paths_agree(monkeypatch):
    """Coefficients whose float guess fails its integer proof come from the exact solve over Q(i)."""
    import madgen.colour.basis as cb

    rng = random.Random(5)
    nxt = iter(range(-1, -10**6, -1))
    terms = [random_gg_ttxgg_term(rng, nxt) for _ in range(30)]
    dims = dims_for(terms)
    good = colour_basis([8, 8, 3, -3, 8, 8], dims, terms)
    calls = []
    monkeypatch.setattr(cb, "_exact_coefficients", lambda *a: None)
    original = cb._solve_exact
    monkeypatch.setattr(cb, "_solve_exact", lambda *a: calls.append(1) or original(*a))
    assert colour_basis([8, 8, 3, -3, 8, 8], dims, terms) == good
    assert calls
