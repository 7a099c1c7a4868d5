"""Exact linear algebra for the colour stage: spans of colour networks, proven with integers.

Decisions (which vectors are independent, which rational numbers the coefficients are) may be
guided by float64 numerics, but every result is then proven in exact arithmetic:

* independence of a chosen set: its integer Gram matrix (or coordinate matrix) has full rank
  modulo a prime, hence over Q(i) (a vanishing minor would vanish mod p too);
* a dependence v = sum_k c_k b_k: checked as an identity of Gaussian integers (coordinates) or
  as a vanishing squared norm |v - sum c b|^2 = 0 (Gram entries), in Python integers or in
  float64 while every partial sum of integers stays below 2^52.
When a numerical guess fails its proof, the exact fallback solves over Q(i) with sympy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

import numpy as np
import sympy
from sympy import QQ, QQ_I
from sympy.polys.matrices import DomainMatrix

EXACT_LIMIT = 2.0 ** 52
"""Integer-valued float64 results are exact while every partial sum stays below this."""

_PRIMES = (2147483629, 2147483549)
"""Primes below 2^31 (so products of residues fit in int64), both = 1 mod 4 (i exists mod p)."""


class ColourInternalError(RuntimeError):
    """An exactness or consistency check of the colour computation failed (a madgen bug)."""


# ---------------------------------------------------------------------------
# Gaussian rationals.
# ---------------------------------------------------------------------------

Gaussian = tuple[Fraction, Fraction]


def gaussian(z) -> Gaussian:
    """A QQ_I element (or a pair) as (real, imaginary) Fractions."""
    if isinstance(z, tuple):
        return Fraction(z[0]), Fraction(z[1])
    return (Fraction(int(z.x.numerator), int(z.x.denominator)), Fraction(int(z.y.numerator), int(z.y.denominator)))


def to_sympy(re: Fraction, im: Fraction) -> sympy.Expr:
    """Gaussian rational re + i im as a sympy number."""
    return _sympy_gaussian(re.numerator, re.denominator, im.numerator, im.denominator)


@lru_cache(maxsize=None)
def _sympy_gaussian(re_num: int, re_den: int, im_num: int, im_den: int) -> sympy.Expr:
    r = sympy.Rational(re_num, re_den)
    if im_num == 0:
        return r
    return r + sympy.I * sympy.Rational(im_num, im_den)


def rationalise(z: complex, max_den: int = 10**6) -> Gaussian:
    """Nearest Gaussian rational with small denominators (to be proven exactly afterwards)."""
    re, im = round(z.real), round(z.imag)
    if abs(z.real - re) < 1e-12 and abs(z.imag - im) < 1e-12:
        return Fraction(re), Fraction(im)
    return Fraction(z.real).limit_denominator(max_den), Fraction(z.imag).limit_denominator(max_den)


def integer_rows(rows: Sequence[tuple[dict, int]], width: int) -> tuple[np.ndarray, list[Fraction]]:
    """Sparse rows ({column: (re, im) integers}, denominator) as (Gaussian-integer array R, scales
    s): row u = s_u R_u with the entries of R_u coprime. Entries of R beyond 2^52 raise
    ``ColourInternalError`` (float64 would round them)."""
    raw = np.zeros((len(rows), width), dtype=complex)
    scales = []
    for u, (entries, den) in enumerate(rows):
        g = 0
        for re, im in entries.values():
            g = math.gcd(g, re, im)
        g = g or 1
        for k, (re, im) in entries.items():
            if max(abs(re), abs(im)) // g >= EXACT_LIMIT:
                raise ColourInternalError("madgen.colour: colour coordinates too large for exact float64")
            raw[u, k] = complex(re // g, im // g)
        scales.append(Fraction(g, den))
    return raw, scales


# ---------------------------------------------------------------------------
# Exact products of integer matrices.
# ---------------------------------------------------------------------------


def _as_object(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary parts of an integer-valued array as Python-integer object arrays."""
    if a.dtype == object:
        return a, np.zeros(a.shape, dtype=object)
    re = np.vectorize(int, otypes=[object])(np.real(a)) if a.size else np.zeros(a.shape, dtype=object)
    im = np.vectorize(int, otypes=[object])(np.imag(a)) if a.size else np.zeros(a.shape, dtype=object)
    return re, im


def hermitian_product(a: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """conj(a) @ g @ b.T exactly, for Gaussian-integer a, b and a real integer g (int64 or object).

    float64 when the bound allows, else Python integers; returns a complex (or object) array
    whose entries are exact Gaussian integers.
    """
    if g.dtype != object:
        bound = float(np.max(np.abs(a), initial=0.0)) * float(np.max(np.abs(b), initial=0.0)) \
            * float(np.sum(np.abs(g.astype(float))))
        if bound * 2 < EXACT_LIMIT:
            return a.conj() @ g.astype(float) @ b.T
    g_obj = g.astype(object)
    ar, ai = _as_object(a)
    br, bi = _as_object(b)
    gb_r, gb_i = g_obj @ br.T, g_obj @ bi.T
    re = ar @ gb_r + ai @ gb_i
    im = ar @ gb_i - ai @ gb_r
    out = np.empty(re.shape, dtype=object)
    for idx in np.ndindex(re.shape):
        out[idx] = complex(re[idx], im[idx]) if max(abs(re[idx]), abs(im[idx])) < EXACT_LIMIT else (re[idx], im[idx])
    return out


def gaussian_entry(value) -> tuple[int, int]:
    """(re, im) Python integers of one entry of ``hermitian_product``."""
    if isinstance(value, tuple):
        return int(value[0]), int(value[1])
    return int(value.real), int(value.imag)


# ---------------------------------------------------------------------------
# Independence: greedy choice (float64), proof (rank modulo a prime).
# ---------------------------------------------------------------------------


def greedy_independent(gram: np.ndarray, tol: float = 1e-10) -> list[int]:
    """Indices of a maximal independent subset, chosen greedily in order.

    Gram-Schmidt in order on the normalised Gram matrix: vector i joins the basis when its
    squared distance to the span of those chosen, r_i^2 = 1 - sum_k |<q_k|v_i>|^2, exceeds
    ``tol`` (q_k: the chosen vectors orthonormalised). The overlaps <q_k|v_u> of all vectors are
    updated once per chosen vector, so the cost is O(K n) per choice, K chosen of n.
    """
    n = len(gram)
    diag = np.real(np.diag(gram)).astype(float)
    norm = np.sqrt(np.where(diag > 0, diag, 1.0))
    overlaps = np.zeros((min(n, 64), n), dtype=complex)  # <q_k|v_u>, rows grown on demand
    chosen: list[int] = []
    for i in range(n):
        if diag[i] <= 0.0:
            continue
        k = len(chosen)
        column = overlaps[:k, i]
        r2 = 1.0 - float(np.sum(column.real ** 2 + column.imag ** 2))
        if r2 > tol:
            if k == len(overlaps):
                overlaps = np.vstack([overlaps, np.zeros_like(overlaps)])
            normalised_row = gram[i, :] / (norm[i] * norm)
            # elementwise rather than BLAS: tiny products, where threaded BLAS only adds overhead
            projection = np.sum(column.conj()[:, None] * overlaps[:k], axis=0)
            overlaps[k] = (normalised_row - projection) / np.sqrt(r2)
            chosen.append(i)
    return chosen


def greedy_independent_rows(z: np.ndarray, tol: float = 1e-10) -> list[int]:
    """``greedy_independent`` for vectors given by coordinates in an orthonormal frame (rows of
    ``z``, <v_u|v_w> = conj(z_u) . z_w), without forming their n x n Gram matrix: the overlaps
    <q_k|v_u> of all vectors are computed once per chosen vector, O(n d) each."""
    n = len(z)
    norms = np.sqrt(np.sum(z.real ** 2 + z.imag ** 2, axis=1))
    unit = z / np.where(norms > 0, norms, 1.0)[:, None]
    overlaps = np.zeros((min(n, 64), n), dtype=complex)  # <q_k|v_u>, rows grown on demand
    frame = []  # the chosen vectors orthonormalised
    chosen: list[int] = []
    for i in range(n):
        if norms[i] <= 0.0:
            continue
        k = len(chosen)
        column = overlaps[:k, i]
        r2 = 1.0 - float(np.sum(column.real ** 2 + column.imag ** 2))
        if r2 > tol:
            if k == len(overlaps):
                overlaps = np.vstack([overlaps, np.zeros_like(overlaps)])
            q = unit[i] - (np.sum(column[:, None] * np.array(frame), axis=0) if frame else 0.0)
            q = q / np.sqrt(r2)
            frame.append(q)
            overlaps[k] = np.sum(unit * q.conj()[None, :], axis=1)
            chosen.append(i)
    return chosen


def _sqrt_minus_one(p: int) -> int:
    for base in range(2, 200):
        r = pow(base, (p - 1) // 4, p)
        if r * r % p == p - 1:
            return r
    raise AssertionError(p)  # pragma: no cover


def _residues(matrix, p: int) -> np.ndarray:
    """Gaussian-integer matrix (complex, int or object array) mod p, with i -> sqrt(-1) mod p."""
    r = _sqrt_minus_one(p)
    if matrix.dtype == object:
        return np.array([[(int(x) if not isinstance(x, complex) else int(x.real) + r * int(x.imag)) % p
                          for x in row] for row in matrix], dtype=np.int64).reshape(matrix.shape)
    if np.issubdtype(matrix.dtype, np.integer):
        return np.mod(matrix.astype(np.int64), p)
    # integer-valued floats below 2^53 (as every array here): fmod is exact
    re = np.mod(np.real(matrix), p).astype(np.int64)
    im = np.mod(np.imag(matrix), p).astype(np.int64) if np.iscomplexobj(matrix) else 0
    return (re + r * im % p) % p


def rank_mod_p(matrix, p: int) -> int:
    """Rank of a Gaussian-integer matrix over F_p (Gaussian elimination on int64 residues)."""
    a = _residues(np.asarray(matrix), p).copy()
    rows, cols = a.shape
    rank = 0
    for col in range(cols):
        if rank == rows:
            break
        nonzero = np.flatnonzero(a[rank:, col])
        if not len(nonzero):
            continue
        pivot = rank + nonzero[0]
        a[[rank, pivot]] = a[[pivot, rank]]
        a[rank] = a[rank] * pow(int(a[rank, col]), p - 2, p) % p
        factors = a[:, col].copy()
        factors[rank] = 0
        a = (a - np.outer(factors, a[rank]) % p) % p
        rank += 1
    return rank


def prove_full_rank(matrix, what: str) -> None:
    """Prove that the rows of a Gaussian-integer matrix are linearly independent over Q(i).

    Full rank modulo a prime implies full rank over Q(i). If two primes both lose rank, the rank
    is computed exactly; a deficient rank raises ``ColourInternalError``.
    """
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    if n == 0 or any(rank_mod_p(matrix, p) == n for p in _PRIMES):
        return
    entries = [[QQ_I(*gaussian_entry(x)) if not isinstance(x, int) else QQ_I(x, 0) for x in row] for row in matrix]
    if DomainMatrix(entries, matrix.shape, QQ_I).rank() != n:
        raise ColourInternalError(f"madgen.colour: {what} are not linearly independent")


# ---------------------------------------------------------------------------
# Spans of networks: an independent subset, and the others expressed in it.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Independent vectors ``chosen`` (indices into the candidates) with their exact integer Gram
    matrix ``gram`` (inner product = gram / den), and each dependent needed candidate j as
    relations[j] = (z_k) with v_j = sum_k z_k v_chosen[k] exactly."""

    chosen: tuple[int, ...]
    gram: np.ndarray
    den: int
    relations: dict


def span_of(gram_full: np.ndarray, den: int, needed: Sequence[int]) -> Span:
    """Greedy independent subset of the candidates (in order) and exact relations for the
    ``needed`` candidates that depend on it; ``gram_full`` is their exact integer Gram matrix."""
    g_float = gram_full.astype(float)
    chosen = greedy_independent(g_float)
    g_chosen = gram_full[np.ix_(chosen, chosen)]
    prove_full_rank(g_chosen, "the chosen colour flows")
    chosen_set = set(chosen)
    dependent = [j for j in needed if j not in chosen_set]
    relations = {}
    if dependent:
        z_num = np.linalg.solve(g_float[np.ix_(chosen, chosen)], g_float[np.ix_(chosen, dependent)]).T
        for j, row in zip(dependent, z_num):
            z = [rationalise(complex(x))[0] for x in row]
            if not _is_combination(gram_full, chosen, j, z):
                z = _solve_rational(gram_full, chosen, j)
                if not _is_combination(gram_full, chosen, j, z):
                    raise ColourInternalError("madgen.colour: a colour network is not in the span of the chosen ones")
            relations[j] = z
    return Span(tuple(chosen), g_chosen, den, relations)


def _is_combination(g: np.ndarray, chosen: list[int], j: int, z: list[Fraction]) -> bool:
    """|v_j - sum_k z_k v_chosen[k]|^2 == 0 exactly (real Gram matrix, real z), in Python integers."""
    d = 1
    for x in z:
        d = math.lcm(d, x.denominator)
    zi = np.array([int(x * d) for x in z], dtype=object)
    g_cc = g[np.ix_(chosen, chosen)].astype(object)
    g_cj = g[chosen, j].astype(object)
    norm = d * d * int(g[j, j]) - 2 * d * int(zi @ g_cj) + int(zi @ g_cc @ zi)
    return norm == 0


def _solve_rational(g: np.ndarray, chosen: list[int], j: int) -> list[Fraction]:
    """Exact solution of G_cc z = G_cj over Q."""
    a = DomainMatrix([[QQ(int(g[r, c])) for c in chosen] for r in chosen], (len(chosen), len(chosen)), QQ)
    b = DomainMatrix([[QQ(int(g[r, j]))] for r in chosen], (len(chosen), 1), QQ)
    sol = a.lu_solve(b).to_list()
    return [Fraction(int(x[0].numerator), int(x[0].denominator)) for x in sol]
