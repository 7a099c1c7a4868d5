"""Colour basis, decomposition and colour matrix of a process, computed exactly.

Each amplitude term t has a colour tensor v_t over the external colour indices. We pick a
basis {B_k} greedily among the v_t (term order), write v_t = sum_k c_{t,k} B_k and return

    C_{kl} = sum_{colours} conj(B_k) B_l,   so   sum_colours |M|^2 = sum_{kl} conj(J_k) C_{kl} J_l,
    J_k = sum_t c_{t,k} A_t.

Tensors are evaluated numerically in the rescaled basis of ``tensors`` (Gaussian-integer
arrays times an exact rational scale, so float64 sums are exact); Gram and projection
inner products are rounded to integers, and c is solved for exactly over Q(i).
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

from madgen.colour.tensors import index_weight, string_tensor

_EXACT_LIMIT = 2.0 ** 52
"""Integer-valued float64 results are exact while every partial sum stays below this."""


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


class ColourInternalError(RuntimeError):
    """An exactness or consistency check of the colour computation failed (a madgen bug)."""


@dataclass(frozen=True)
class _TermTensor:
    """Colour tensor of a term: ``raw * scale``, raw a flat Gaussian-integer-valued array."""

    raw: np.ndarray
    scale: Fraction


def _label_dim(label: int, index_dims: Mapping[int, int], external_dims: Sequence[int]) -> int:
    """|dimension| of a global label (1 = colourless, no index; also for labels not in index_dims)."""
    if label in index_dims:
        return abs(int(index_dims[label]))
    if 1 <= label <= len(external_dims):
        return abs(int(external_dims[label - 1]))
    return 1


def _round_integral(x: np.ndarray, what: str) -> np.ndarray:
    """Round an integer-valued complex array, checking it was integral and exactly representable."""
    r = np.round(x.real) + 1j * np.round(x.imag)
    if x.size and (np.max(np.abs(x - r)) > 1e-6 or np.max(np.abs(r)) >= _EXACT_LIMIT):
        raise ColourInternalError(f"madgen.colour: {what} is not an exact Gaussian integer")
    return r


def _gcd_reduce(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """(raw/g, g) with g the gcd of all real and imaginary parts (1 for a zero array)."""
    ints = np.concatenate([raw.real.ravel(), raw.imag.ravel()]).astype(np.int64)
    g = int(np.gcd.reduce(np.abs(ints))) if ints.size else 0
    return (raw / g, g) if g > 1 else (raw, 1)


def term_tensor(
    cf: ColourFactor, external_dims: Sequence[int], index_dims: Mapping[int, int]
) -> _TermTensor:
    """Evaluate one term's colour tensor over the coloured external legs (leg order), flattened."""
    operands: list = []
    ids: dict[int, int] = {}
    counts: dict[int, int] = {}
    den = 1
    for string, labels in cf.factors:
        slot_dims = tuple(
            (k + 1, d) for k, lab in enumerate(labels)
            if (d := _label_dim(lab, index_dims, external_dims)) != 1
        )
        arr, q, slots = string_tensor(string, slot_dims)
        glabels = [labels[k - 1] for k in slots]
        for lab in glabels:
            ids.setdefault(lab, len(ids))
            counts[lab] = counts.get(lab, 0) + 1
        operands += [arr, [ids[lab] for lab in glabels]]
        den *= q
    n = len(external_dims)
    ext = [leg for leg in range(1, n + 1) if abs(int(external_dims[leg - 1])) != 1]
    for lab, c in counts.items():
        want = 1 if 1 <= lab <= n else 2
        if c != want:
            raise ValueError(f"colour label {lab} appears {c} times in {cf.factors}, expected {want}")
        if lab > n or lab == 0:
            raise ValueError(f"colour label {lab} is neither an external leg nor negative")
    missing = [leg for leg in ext if leg not in counts]
    if missing:
        raise ValueError(f"external coloured legs {missing} carry no colour index in {cf.factors}")
    for lab in sorted(counts):
        if lab < 0:
            w, q = index_weight(_label_dim(lab, index_dims, external_dims))
            if q != 1:  # fold the weight 1/s^2 = w/q into the first tensor carrying lab
                i = next(i for i in range(1, len(operands), 2) if ids[lab] in operands[i])
                axis = operands[i].index(ids[lab])
                shape = [1] * operands[i - 1].ndim
                shape[axis] = len(w)
                operands[i - 1] = operands[i - 1] * w.reshape(shape)
                den *= q
    if len(ids) > 52:
        raise ColourInternalError("madgen.colour: more than 52 colour indices in one term")
    shape = tuple(abs(int(external_dims[leg - 1])) for leg in ext)
    pairs = [(operands[i], tuple(operands[i + 1])) for i in range(0, len(operands), 2)]
    val = _contract(pairs, tuple(ids[leg] for leg in ext)) if pairs else np.ones(shape, complex)
    raw = _round_integral(np.asarray(val, dtype=complex).reshape(-1), "a term colour tensor")
    raw, g = _gcd_reduce(raw)
    return _TermTensor(raw, Fraction(g, den))


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
    local = tuple(sorted((new, _label_dim(old, index_dims, external_dims)) for old, new in rename.items()))
    return factors, local


def _contract(ops: list[tuple[np.ndarray, tuple[int, ...]]], out: tuple[int, ...]) -> np.ndarray:
    """Contract tensors (array, index ids) pairwise; every id not in ``out`` occurs exactly twice.

    Greedy order: always the connected pair with the smallest result (ties: first pair),
    so the cost stays near the size of the output for tree-like colour factors.
    """
    ops = list(ops)
    while len(ops) > 1:
        best = None
        for i in range(len(ops)):
            for j in range(i + 1, len(ops)):
                (a, la), (b, lb) = ops[i], ops[j]
                shared = set(la) & set(lb)
                if not shared and best is not None and best[0]:
                    continue
                size = math.prod(n for x, n in zip(la + lb, a.shape + b.shape) if x not in shared)
                key = (bool(shared), -size)
                if best is None or key > best[:2]:
                    best = (bool(shared), -size, i, j)
        _, _, i, j = best
        (a, la), (b, lb) = ops[i], ops[j]
        keep = tuple(x for x in la + lb if x not in (set(la) & set(lb)))
        ops[j] = (np.einsum(a, list(la), b, list(lb), list(keep)), keep)
        del ops[i]
    arr, labels = ops[0]
    return np.einsum(arr, list(labels), list(out))


def _external_weights(external_dims: Sequence[int]) -> tuple[np.ndarray, int]:
    """Flat integer weight W and denominator q with prod_legs 1/s^2 = W/q."""
    w, q = np.ones(()), 1
    for d in external_dims:
        if abs(int(d)) != 1:
            wd, qd = index_weight(abs(int(d)))
            w, q = np.multiply.outer(w, wd), q * qd
    return w.reshape(-1), q


def _greedy_basis(gram: np.ndarray, tol: float = 1e-10) -> list[int]:
    """Indices of a maximal independent subset, chosen greedily in order.

    Incremental Cholesky of the normalised Gram matrix: vector i joins the basis when its
    squared distance to the span of those chosen, r_i^2 = 1 - |L^{-1} g_i|^2, exceeds ``tol``.
    """
    diag = np.real(np.diag(gram))
    chosen: list[int] = []
    chol = np.zeros((0, 0), complex)
    for i in range(len(gram)):
        if diag[i] <= 0.0:
            continue
        g = gram[chosen, i] / np.sqrt(diag[chosen] * diag[i])
        y = np.linalg.solve(chol, g) if chosen else g
        r2 = 1.0 - float(np.real(np.vdot(y, y)))
        if r2 > tol:
            k = len(chosen)
            new = np.zeros((k + 1, k + 1), complex)
            new[:k, :k] = chol
            new[k, :k] = y.conj()
            new[k, k] = np.sqrt(r2)
            chol = new
            chosen.append(i)
    return chosen


def _gauss(re, im, scale: Fraction):
    """Exact QQ_I element (re + i im) * scale from integer-valued floats."""
    return QQ_I(Fraction(int(re)) * scale, Fraction(int(im)) * scale)


@lru_cache(maxsize=None)
def _to_sympy(re: Fraction, im: Fraction) -> sympy.Expr:
    """Gaussian rational re + i im as a sympy number."""
    r = sympy.Rational(re.numerator, re.denominator)
    if im == 0:
        return r
    return r + sympy.I * sympy.Rational(im.numerator, im.denominator)


def _rationalise(z: complex, max_den: int = 10**6) -> tuple[Fraction, Fraction]:
    """Nearest Gaussian rational with small denominators (checked exactly afterwards)."""
    re, im = round(z.real), round(z.imag)
    if abs(z.real - re) < 1e-12 and abs(z.imag - im) < 1e-12:
        return Fraction(re), Fraction(im)
    return (Fraction(z.real).limit_denominator(max_den), Fraction(z.imag).limit_denominator(max_den))


def _exact_coefficients(
    raw_all: np.ndarray, scales: Sequence[Fraction], basis: list[int], c_num: np.ndarray
) -> list[list[tuple[Fraction, Fraction]]] | None:
    """Rationalise c_num[u, k] and prove raw_u s_u = sum_k c_{u,k} s_{B_k} raw_{B_k} in integers.

    Returns None if a candidate fails (or the integers are too large for exact float64).
    """
    zero, one = Fraction(0), Fraction(1)
    cands = [[_rationalise(complex(z)) for z in row] for row in c_num]
    for k, b in enumerate(basis):  # basis vectors are their own decomposition
        cands[b] = [(one if j == k else zero, zero) for j in range(len(basis))]
    others = [u for u in range(len(cands)) if u not in set(basis)]
    if not others:
        return cands
    lhs_scale, mat = [], []
    for u in others:
        row = cands[u]
        a = [(re * scales[b] / scales[u], im * scales[b] / scales[u]) for (re, im), b in zip(row, basis)]
        den = 1
        for re, im in a:
            den = math.lcm(den, re.denominator, im.denominator)
        lhs_scale.append(den)
        mat.append([complex(int(re * den), int(im * den)) for re, im in a])
    mat_arr, den_arr = np.array(mat), np.array(lhs_scale, dtype=float)
    raw_b = raw_all[basis]
    amax = float(np.max(np.abs(raw_all)))
    if (np.max(np.sum(np.abs(mat_arr), axis=1)) * amax * 2 >= _EXACT_LIMIT
            or np.max(den_arr) * amax >= _EXACT_LIMIT):
        return None
    if not np.array_equal(raw_all[others] * den_arr[:, None], mat_arr @ raw_b):
        return None
    return cands


def _solve_exact(prod: np.ndarray, scales: Sequence[Fraction], basis: list[int]) -> list[list[tuple[Fraction, Fraction]]]:
    """Slow exact fallback: solve sum_l <B_k|B_l> c_{u,l} = <B_k|v_u> over Q(i)."""
    k_dim, n_u = len(basis), len(scales)
    gram = DomainMatrix([[_gauss(prod[bk, b].real, prod[bk, b].imag, scales[b]) for b in basis]
                         for bk in basis], (k_dim, k_dim), QQ_I)
    rhs = DomainMatrix([[_gauss(prod[bk, u].real, prod[bk, u].imag, scales[u]) for u in range(n_u)]
                        for bk in basis], (k_dim, n_u), QQ_I)
    sol = gram.lu_solve(rhs).to_list()
    return [[(Fraction(int(sol[k][u].x.numerator), int(sol[k][u].x.denominator)),
              Fraction(int(sol[k][u].y.numerator), int(sol[k][u].y.denominator))) for k in range(k_dim)]
            for u in range(n_u)]


def _sketch_rows(raw_all: np.ndarray, size: int) -> np.ndarray:
    """Deterministic pseudo-random subset of the coordinates where some tensor is non-zero."""
    support = np.flatnonzero(np.any(raw_all != 0, axis=0))
    if len(support) <= size:
        return support
    return np.sort(np.random.default_rng(12345).choice(support, size=size, replace=False))


def _select_and_solve(raw_all, w, scales, rows):
    """Greedy basis and exact coefficients using only coordinates ``rows`` for the numerics.

    Independence on a subset of coordinates implies independence; the coefficients are then
    proven exactly on all coordinates, so a subset that loses rank only makes this return None.
    """
    sub = raw_all[:, rows]
    prod = _round_integral(sub.conj() @ (sub * w[rows]).T, "a colour inner product")
    sc = np.array([float(x) for x in scales])
    gram = prod * np.outer(sc, sc)
    basis = _greedy_basis(gram)
    if not basis:
        return basis, []
    c_num = np.linalg.solve(gram[np.ix_(basis, basis)], gram[basis, :]).T  # (U, K)
    coeffs = _exact_coefficients(raw_all, scales, basis, c_num)
    if coeffs is None and len(rows) == raw_all.shape[1]:
        coeffs = _solve_exact(prod, scales, basis)
        phys = raw_all * sc[:, None]
        cc = np.array([[complex(float(re), float(im)) for re, im in row] for row in coeffs])
        err = np.linalg.norm(cc @ phys[basis] - phys, axis=1)
        if np.any(err > 1e-9 * np.maximum(1.0, np.linalg.norm(phys, axis=1))):
            raise ColourInternalError("madgen.colour: a term is not reproduced by the colour basis")
    return basis, coeffs


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
    tensors = [term_tensor(ColourFactor(key[0]), dims, dict(key[1])) for key in unique]
    if not tensors:
        return ColourBasis(dims, (), (), ())
    w, wden = _external_weights(dims)
    raw_all = np.array([t.raw for t in tensors])  # (U, N), Gaussian integers
    scales = [t.scale for t in tensors]
    amax = float(np.max(np.abs(raw_all)))
    if 2.0 * amax * amax * float(np.sum(w)) >= _EXACT_LIMIT:
        raise ColourInternalError("madgen.colour: colour inner products too large for exact float64")

    rows = _sketch_rows(raw_all, 1024 + 8 * len(tensors))
    basis, coeffs = _select_and_solve(raw_all, w, scales, rows)
    if coeffs is None:  # the sketch lost rank: redo on all coordinates
        basis, coeffs = _select_and_solve(raw_all, w, scales, np.arange(raw_all.shape[1]))
    if not basis:
        return ColourBasis(dims, tuple(() for _ in terms), (), ())

    raw_b = raw_all[basis]
    prod = _round_integral(raw_b.conj() @ (raw_b * w).T, "a colour inner product")  # exact Gram

    def entry(k: int, l: int) -> sympy.Expr:
        f = scales[basis[k]] * scales[basis[l]] / wden
        return _to_sympy(Fraction(int(prod[k, l].real)) * f, Fraction(int(prod[k, l].imag)) * f)

    k_dim = len(basis)
    matrix = tuple(tuple(entry(k, l) for l in range(k_dim)) for k in range(k_dim))
    per_unique = [tuple(_to_sympy(re, im) for re, im in row) for row in coeffs]
    return ColourBasis(
        dims=dims,
        coefficients=tuple(per_unique[u] for u in term_u),
        matrix=matrix,
        basis_terms=tuple(term_of[b] for b in basis),
    )
