"""Colour basis, decomposition and colour matrix of a process, computed exactly.

Each amplitude term t has a colour tensor v_t over the external colour indices. We pick a
basis {B_k} greedily among the v_t (term order), write v_t = sum_k c_{t,k} B_k and return

    C_{kl} = sum_{colours} conj(B_k) B_l,   so   sum_colours |M|^2 = sum_{kl} conj(J_k) C_{kl} J_l,
    J_k = sum_t c_{t,k} A_t.

The tensors are never evaluated over index values: ``algebra`` expands each term into colour
flows (products of Kronecker deltas, exact Gaussian-rational coefficients), whose inner products
are N^(closed loops). An independent subset of the flows that occur (chosen greedily, proven
independent modulo a prime) gives every term exact, unique coordinates; the basis, the
coefficients c (proven as identities of Gaussian integers) and C follow from them, so the cost
grows with the numbers of terms and flows, not with 8^(number of gluons).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np
import sympy
from sympy import QQ_I
from sympy.polys.matrices import DomainMatrix

from madgen.colour.algebra import expand_colour_factor, gram, label_dim
from madgen.colour.exact import (
    EXACT_LIMIT,
    ColourInternalError,
    Span,
    gaussian,
    gaussian_entry,
    greedy_independent_rows,
    hermitian_product,
    integer_rows,
    prove_full_rank,
    rationalise,
    span_of,
    to_sympy,
)

__all__ = ["ColourBasis", "ColourFactor", "ColourInternalError", "colour_basis", "factor_expansion",
           "network_coordinates"]


@dataclass(frozen=True)
class ColourFactor:
    """One amplitude term's colour: a product of vertex colour strings."""

    factors: tuple[tuple[str, tuple[int, ...]], ...]  # (UFO colour string, labels): slot k -> labels[k-1]


@dataclass(frozen=True)
class ColourBasis:
    """Colour basis of a process: |M|^2 = sum_kl conj(J_k) matrix[k][l] J_l, J_k = sum_t c_{t,k} A_t."""

    dims: tuple[int, ...]  # colour dimension of each external leg (1, 3, 6, 8), leg order
    coefficients: tuple[tuple[sympy.Expr, ...], ...]  # per term t: c_{t,k}, k < K
    matrix: tuple[tuple[sympy.Expr, ...], ...]  # K x K Hermitian colour matrix
    basis_terms: tuple[int, ...]  # term index whose colour tensor is basis vector k


def _canonical(cf: ColourFactor, external_dims: Sequence[int], index_dims: Mapping[int, int]):
    """(factors, dims of internal labels) with internal labels renamed -1, -2, ... by first use.

    Terms whose colour factors differ only in the names of internal lines share one key.
    """
    n = len(external_dims)
    rename: dict[int, int] = {}
    for _, labels in cf.factors:
        for lab in labels:
            if not 1 <= lab <= n and lab not in rename:
                rename[lab] = -1 - len(rename)
    factors = tuple((s, tuple(rename.get(lab, lab) for lab in labels)) for s, labels in cf.factors)
    local = tuple(sorted((new, label_dim(old, index_dims, external_dims)) for old, new in rename.items()))
    return factors, local


@lru_cache(maxsize=4096)
def _expansion(key: tuple, dims: tuple[int, ...]):
    return expand_colour_factor(key[0], dims, dict(key[1]))


def factor_expansion(cf: ColourFactor, dims: Sequence[int], index_dims: Mapping[int, int]):
    """``algebra.expand_colour_factor`` of a term's colour factor, cached on its canonical form
    (internal labels renamed), which the basis and the flow stages share."""
    dims = tuple(abs(int(d)) for d in dims)
    return _expansion(_canonical(cf, dims, index_dims), dims)


def network_coordinates(expansions: Sequence[tuple[dict, int]], span: Span, networks: Sequence) -> list:
    """Exact coordinates of each expansion (``algebra.expand_colour_factor``) over the span's
    chosen networks, as sparse rows ({k: (re, im)}, den): a chosen network is its own coordinate,
    a dependent one is replaced by its relation."""
    position = {net: i for i, net in enumerate(networks)}
    chosen_at = {j: k for k, j in enumerate(span.chosen)}
    rows = []
    for values, den in expansions:
        dependent = [net for net in values if position[net] not in chosen_at]
        if not dependent:
            rows.append(({chosen_at[position[net]]: v for net, v in values.items()}, den))
            continue
        row: dict = {}
        for net, (re, im) in values.items():
            j = position[net]
            terms = [(chosen_at[j], Fraction(1))] if j in chosen_at else \
                [(k, z) for k, z in enumerate(span.relations[j]) if z]
            for k, z in terms:
                old = row.get(k, (Fraction(0), Fraction(0)))
                row[k] = (old[0] + z * re / den, old[1] + z * im / den)
        common = 1
        for re, im in row.values():
            common = math.lcm(common, re.denominator, im.denominator)
        rows.append(({k: (int(re * common), int(im * common)) for k, (re, im) in row.items()
                      if re or im}, common))
    return rows


def _exact_coefficients(raw: np.ndarray, scales: Sequence[Fraction], basis: list[int], c_num: np.ndarray):
    """Rationalise c_num (v_u = sum_k c_{u,k} v_{B_k}, v_u = s_u raw_u) and prove each row as an
    identity of Gaussian integers, d_u raw_u = sum_k m_{u,k} raw_{B_k} (coordinates are unique,
    so this is the tensor identity); then c_{u,k} = m_{u,k} s_u / (d_u s_{B_k}).

    Returns sparse rows {k: (re, im)} (Fractions), or None if a candidate fails its proof (or the
    integers are too large for exact float64).
    """
    s = np.array([float(x) for x in scales])
    raw_coeffs = c_num * s[basis][None, :] / s[:, None]  # raw_u = sum_k c'_{u,k} raw_{B_k}
    others = [u for u in range(len(raw)) if u not in set(basis)]
    dens = np.ones(len(raw), dtype=float)
    for u in others:
        den = 1
        for z in raw_coeffs[u][np.abs(raw_coeffs[u]) > 1e-9]:
            re, im = rationalise(complex(z))
            den = math.lcm(den, re.denominator, im.denominator)
        dens[u] = den
    m = raw_coeffs * dens[:, None]
    m_int = np.round(m.real) + 1j * np.round(m.imag)
    if others:
        amax = float(np.max(np.abs(raw), initial=0.0))
        if (np.max(np.abs(m - m_int)[others]) > 1e-6
                or np.max(np.sum(np.abs(m_int[others]), axis=1)) * amax * 2 >= EXACT_LIMIT
                or np.max(dens) * amax >= EXACT_LIMIT):
            return None
        if not np.array_equal(raw[others] * dens[others, None], m_int[others] @ raw[basis]):
            return None
    rows = [dict() for _ in range(len(raw))]
    for k, b in enumerate(basis):  # basis vectors are their own decomposition
        rows[b] = {k: (Fraction(1), Fraction(0))}
    for u in others:
        for k in np.flatnonzero(m_int[u]):
            su, sb = scales[u], scales[basis[k]]
            num, q = su.numerator * sb.denominator, su.denominator * sb.numerator * int(dens[u])
            rows[u][int(k)] = (Fraction(int(m_int[u, k].real) * num, q), Fraction(int(m_int[u, k].imag) * num, q))
    return rows


def _solve_exact(raw: np.ndarray, scales: Sequence[Fraction], basis: list[int]):
    """Exact fallback: solve raw_u s_u = sum_k c_{u,k} s_{B_k} raw_{B_k} over Q(i) on the
    coordinates (pivot columns of the basis rows), then check every coordinate."""
    k_dim = len(basis)
    b_rows = DomainMatrix([[QQ_I(*gaussian_entry(x)) * QQ_I.convert(scales[b]) for x in raw[b]] for b in basis],
                          (k_dim, raw.shape[1]), QQ_I)
    v_rows = DomainMatrix([[QQ_I(*gaussian_entry(x)) * QQ_I.convert(scales[u]) for x in raw[u]]
                           for u in range(len(raw))], (len(raw), raw.shape[1]), QQ_I)
    _, pivots = b_rows.rref()
    a = b_rows.extract(list(range(k_dim)), list(pivots)).transpose()  # (K pivots) x K
    rhs = v_rows.extract(list(range(len(raw))), list(pivots)).transpose()
    sol = a.lu_solve(rhs)  # K x U
    if sol.transpose() * b_rows != v_rows:
        raise ColourInternalError("madgen.colour: a term is not reproduced by the colour basis")
    return [{k: gaussian(x) for k, x in enumerate(row) if x != QQ_I.zero} for row in sol.transpose().to_list()]


def colour_basis(
    external_dims: Sequence[int], index_dims: Mapping[int, int], terms: Sequence[ColourFactor]
) -> ColourBasis:
    """Colour basis, per-term coefficients c_{t,k} and colour matrix C_{kl} (all exact).

    Pure and deterministic. K = 0 only if there are no terms or every colour factor vanishes.
    """
    dims = tuple(abs(int(d)) for d in external_dims)
    unique: dict[tuple, int] = {}  # canonical colour factor -> unique tensor index
    term_of: dict[int, int] = {}  # unique tensor -> first term index using it
    term_u: list[int] = []
    for t, cf in enumerate(terms):
        u = unique.setdefault(_canonical(cf, dims, index_dims), len(unique))
        term_of.setdefault(u, t)
        term_u.append(u)
    if not unique:
        return ColourBasis(dims, (), (), ())
    expansions = [_expansion(key, dims) for key in unique]
    networks = sorted({net for values, _ in expansions for net in values})
    if not networks:
        return ColourBasis(dims, tuple(() for _ in terms), (), ())
    g_full, den = gram(networks, networks, dims)
    span = span_of(g_full, den, range(len(networks)))
    raw, scales = integer_rows(network_coordinates(expansions, span, networks), len(span.chosen))

    sc = np.array([float(s) for s in scales])
    # numerics only (which terms to keep, coefficient guesses): coordinates in an orthonormal
    # frame, z_u = s_u raw_u L with span.gram = L L^T, so that <v_u|v_w> = conj(z_u) . z_w / den
    frame = raw * sc[:, None] @ np.linalg.cholesky(span.gram.astype(float))
    basis = greedy_independent_rows(frame)
    if not basis:
        return ColourBasis(dims, tuple(() for _ in terms), (), ())
    prove_full_rank(raw[basis], "the colour basis tensors")
    in_basis = frame[basis]
    c_num = np.linalg.solve(in_basis.conj() @ in_basis.T, in_basis.conj() @ frame.T).T  # (U, K)
    coeffs = _exact_coefficients(raw, scales, basis, c_num)
    if coeffs is None:
        coeffs = _solve_exact(raw, scales, basis)

    # C_kl = <B_k|B_l> = 2^{-n_gluons} s_k s_l prod_kl / den (1/sqrt2 per external gluon, see algebra)
    n_gluons = sum(1 for d in dims if d == 8)
    wden = den * 2 ** n_gluons
    prod = hermitian_product(raw[basis], span.gram, raw[basis])  # exact Gaussian integers

    def entry(k: int, l: int) -> sympy.Expr:
        sk, sl = scales[basis[k]], scales[basis[l]]
        num, q = sk.numerator * sl.numerator, sk.denominator * sl.denominator * wden
        re, im = gaussian_entry(prod[k, l])
        return to_sympy(Fraction(re * num, q), Fraction(im * num, q))

    k_dim = len(basis)
    matrix = tuple(tuple(entry(k, l) for l in range(k_dim)) for k in range(k_dim))
    zero = to_sympy(Fraction(0), Fraction(0))
    per_unique = []
    for row in coeffs:
        dense = [zero] * k_dim
        for k, (re, im) in row.items():
            dense[k] = to_sympy(re, im)
        per_unique.append(tuple(dense))
    return ColourBasis(
        dims=dims,
        coefficients=tuple(per_unique[u] for u in term_u),
        matrix=matrix,
        basis_terms=tuple(term_of[b] for b in basis),
    )
