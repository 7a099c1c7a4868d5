"""Dense colour evaluation: an independent cross-check of ``madgen.colour`` (tests only).

This is madgen's former production colour evaluator. It evaluates every colour tensor over all
values of its indices, with SU(3) generators in an exact-friendly rescaled basis: every adjoint
index carries s_a (s_a = 1, except s_8 = sqrt 3) and every sextet index s_m (1 on diagonal pairs,
sqrt 2 on off-diagonal pairs), T'^a = s_a T^a, f'^{abc} = s_a s_b s_c f^{abc}, ... Contracting an
index then carries the weight 1/s^2. Entries are Gaussian integers over small denominators, so
float64 sums of them are exact. Cost grows as 8^(number of gluons): use it on small processes.

Normalisation: Tr(T^a T^b) = delta^{ab}/2, f^{abc} = -2i Tr([T^a,T^b]T^c),
d^{abc} = 2 Tr({T^a,T^b}T^c), K6_m K6Bar_n (over i,j) = delta_mn,
T6^a_{mn} = 2 K6_m^{ij} T^a_{jk} K6Bar_n^{ki} (MadGraph's convention).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
from sympy import QQ_I

from madgen.colour.basis import ColourFactor
from madgen.colour.tensors import _bad, _index_dims, parse_colour
from madgen.errors import UnsupportedFeature

_EXACT_LIMIT = 2.0 ** 52

SEXTET_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
"""Sextet basis m -> symmetric pair (i, j); off-diagonal pairs carry s_m = sqrt 2."""


@lru_cache(maxsize=None)
def index_weight(dim: int) -> tuple[np.ndarray, int]:
    """(w, q) with 1/s_x^2 = w[x]/q for an index of dimension ``dim`` (3, 8 or 6)."""
    if dim == 3:
        return np.ones(3), 1
    if dim == 8:
        return np.array([3.0] * 7 + [1.0]), 3
    if dim == 6:
        return np.array([2.0 if i == j else 1.0 for i, j in SEXTET_PAIRS]), 2
    raise UnsupportedFeature(f"colour index of dimension {dim} is not supported (only 1, 3, 6, 8)")


# ---------------------------------------------------------------------------
# Elementary tensors, as (integer-valued complex array, denominator).
# ---------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _t_prime() -> np.ndarray:
    """T'^a = s_a lambda^a / 2, shape (8, 3, 3); all entries in Q(i)."""
    lam = np.zeros((8, 3, 3), dtype=complex)
    lam[0][0, 1] = lam[0][1, 0] = 1
    lam[1][0, 1], lam[1][1, 0] = -1j, 1j
    lam[2][0, 0], lam[2][1, 1] = 1, -1
    lam[3][0, 2] = lam[3][2, 0] = 1
    lam[4][0, 2], lam[4][2, 0] = -1j, 1j
    lam[5][1, 2] = lam[5][2, 1] = 1
    lam[6][1, 2], lam[6][2, 1] = -1j, 1j
    lam[7] = np.diag([1.0, 1.0, -2.0])  # = sqrt3 * lambda^8
    return lam / 2


def _integral(x: np.ndarray, scale: int) -> np.ndarray:
    """scale*x rounded to Gaussian integers (asserting it was integral)."""
    y = x * scale
    r = np.round(y.real) + 1j * np.round(y.imag)
    if np.max(np.abs(y - r), initial=0.0) > 1e-12:
        raise RuntimeError("madgen.colour: elementary tensor is not integral (internal error)")
    return r


@lru_cache(maxsize=None)
def elementary(name: str) -> tuple[np.ndarray, int]:
    """Elementary tensor ``name`` in the rescaled basis as (integer array A, q): tensor = A/q."""
    t = _t_prime()
    if name == "T":
        return _integral(t, 2), 2
    if name in ("f", "d"):
        comm = np.einsum("aij,bjk->abik", t, t)
        if name == "f":  # f' = -2i Tr([T'^a,T'^b] T'^c)
            val = -2j * np.einsum("abik,cki->abc", comm - comm.transpose(1, 0, 2, 3), t)
        else:  # d' = 2 Tr({T'^a,T'^b} T'^c)
            val = 2 * np.einsum("abik,cki->abc", comm + comm.transpose(1, 0, 2, 3), t)
        return _integral(val, 2), 2
    if name in ("Epsilon", "EpsilonBar"):
        eps = np.zeros((3, 3, 3), dtype=complex)
        for (i, j, k), s in (((0, 1, 2), 1), ((1, 2, 0), 1), ((2, 0, 1), 1),
                             ((0, 2, 1), -1), ((2, 1, 0), -1), ((1, 0, 2), -1)):
            eps[i, j, k] = s
        return eps, 1
    if name in ("K6", "K6Bar"):  # K6'_m^{ij} = 1 for {i,j} = pair m
        k6 = np.zeros((6, 3, 3), dtype=complex)
        for m, (i, j) in enumerate(SEXTET_PAIRS):
            k6[m, i, j] = k6[m, j, i] = 1
        return k6, 1
    if name == "T6":  # T6'^a_{mn} = 2 K6'_m^{ij} T'^a_{jk} K6Bar'_n^{ki}
        k6, _ = elementary("K6")
        return _integral(2 * np.einsum("mij,ajk,nki->amn", k6, t, k6), 1), 1
    raise UnsupportedFeature(f"colour tensor {name!r} is not supported")


@lru_cache(maxsize=None)
def identity(dim: int) -> tuple[np.ndarray, int]:
    """delta'_{xy} = s_x^2 delta_{xy} as (integer array, q)."""
    w, q = index_weight(dim)
    return np.diag(q / w).astype(complex), 1


def _lcm(values) -> int:
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v)
    return out


@lru_cache(maxsize=4096)
def string_tensor(s: str, slot_dims: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, int, tuple[int, ...]]:
    """Colour string ``s`` as (A, q, slots): tensor over its slots (ascending) = A/q, A Gaussian-integer.

    ``slot_dims`` gives (slot, dimension) for the slots of the vertex; dummies (negative
    indices) are summed with their weights 1/s^2.
    """
    sd = dict(slot_dims)
    monos = parse_colour(s)
    slots = tuple(sorted({a for m in monos for _, args in m.factors for a in args if a > 0}))
    for a in slots:
        if a not in sd:
            raise _bad(s, f"slot {a} is not a coloured leg of the vertex")
    shape = tuple(sd[a] for a in slots)
    parts = []
    for mono in monos:
        dims = _index_dims(s, mono, {a: sd[a] for a in slots})
        counts: dict[int, int] = {}
        for _, args in mono.factors:
            for a in args:
                counts[a] = counts.get(a, 0) + 1
        for a, c in counts.items():
            if (a > 0 and c != 1) or (a < 0 and c != 2):
                raise _bad(s, f"index {a} appears {c} times")
        missing = set(slots) - {a for a in counts if a > 0}
        operands, q = [], 1
        ids = {a: i for i, a in enumerate(sorted(counts))}
        for name, args in mono.factors:
            arr, qq = identity(dims[args[0]]) if name == "Identity" else elementary(name)
            operands += [arr, [ids[a] for a in args]]
            q *= qq
        for a in sorted(counts):
            if a < 0:
                w, qq = index_weight(dims[a])
                if qq != 1:
                    operands += [w, [ids[a]]]
                    q *= qq
        if missing:  # a slot of the string absent from this monomial: a sum like 'T(1,2,3) + 0'
            raise _bad(s, f"slots {sorted(missing)} are missing from one of its terms")
        out = [ids[a] for a in slots]
        val = np.einsum(*operands, out, optimize="greedy") if operands else np.ones((), complex)
        parts.append((mono.coeff, np.asarray(val, dtype=complex), q))
    if not parts:
        return _frozen(np.zeros(shape, complex)), 1, slots
    # common denominator L: sum_m c_m A_m / q_m = (sum_m (c_m L / q_m) A_m) / L
    den = _lcm(q * int(c.x.denominator) * int(c.y.denominator) for c, _, q in parts)
    total = np.zeros(shape, complex)
    for c, arr, q in parts:
        g = c * QQ_I.convert(den) / QQ_I.convert(q)
        total = total + complex(int(g.x), int(g.y)) * arr
    return _frozen(total), den, slots


def _frozen(a: np.ndarray) -> np.ndarray:
    """Read-only view, so cached arrays cannot be mutated by callers."""
    a.setflags(write=False)
    return a


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
        raise AssertionError(f"madgen.colour: {what} is not an exact Gaussian integer")
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
        raise AssertionError("madgen.colour: more than 52 colour indices in one term")
    shape = tuple(abs(int(external_dims[leg - 1])) for leg in ext)
    pairs = [(operands[i], tuple(operands[i + 1])) for i in range(0, len(operands), 2)]
    val = _contract(pairs, tuple(ids[leg] for leg in ext)) if pairs else np.ones(shape, complex)
    raw = _round_integral(np.asarray(val, dtype=complex).reshape(-1), "a term colour tensor")
    raw, g = _gcd_reduce(raw)
    return _TermTensor(raw, Fraction(g, den))


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


def _lines_from_tags(tags, reps, n_initial: int) -> tuple[tuple[int, int], ...]:
    """Inverse of ``_lhe_tags``: the lines of a flow given as per-leg LHE tags."""
    colour_leg, anticolour_leg = {}, {}
    for leg, (c, a) in enumerate(tags):
        crossed_c, crossed_a = (a, c) if leg < n_initial else (c, a)
        if crossed_c:
            colour_leg[int(crossed_c)] = leg
        if crossed_a:
            anticolour_leg[int(crossed_a)] = leg
    if set(colour_leg) != set(anticolour_leg):
        raise ValueError(f"colour tags {tags} do not form closed colour lines")
    return tuple(sorted((colour_leg[t], anticolour_leg[t]) for t in colour_leg))


# ---------------------------------------------------------------------------
# Flow tensors (rescaled basis of madgen.colour.tensors).
# ---------------------------------------------------------------------------


def _flow_raw(lines, reps) -> np.ndarray:
    """Flow tensor without the sqrt(2) per gluon and in the rescaled basis, times 2^{n_gluons}:
    a flat Gaussian-integer array over the coloured legs (leg order)."""
    two_t, _ = elementary("T")  # 2 T'^a_{ij}
    eye = np.eye(3, dtype=complex)
    ids = itertools.count()
    ext, colour_var, anticolour_var, ops = {}, {}, {}, []
    for leg, rep in enumerate(reps):
        rep = int(rep)
        if rep == 1:
            continue
        ext[leg] = next(ids)
        if rep == 8:  # sqrt2 T^a_{l k}: l the gluon's anticolour, k its colour
            colour_var[leg], anticolour_var[leg] = next(ids), next(ids)
            ops.append((two_t, (ext[leg], anticolour_var[leg], colour_var[leg])))
        else:
            colour_var[leg] = anticolour_var[leg] = ext[leg]
    for c, a in lines:
        ops.append((eye, (colour_var[c], anticolour_var[a])))
    out = tuple(ext[leg] for leg in sorted(ext))
    if not ops:
        return np.ones(1, complex)
    return np.asarray(_contract(ops, out), dtype=complex).reshape(-1)


def flow_tensor(reps: Sequence[int], n_initial: int, tags) -> np.ndarray:
    """F of a flow given by its per-leg LHE tags, as a float array in the rescaled basis of
    ``madgen.colour.tensors`` (flat over the coloured legs), comparable with ``basis_tensor``."""
    n_gluons = sum(1 for r in reps if int(r) == 8)
    return _flow_raw(_lines_from_tags(tags, reps, n_initial), reps) / 2.0 ** (n_gluons / 2)


def basis_tensor(tensor: _TermTensor) -> np.ndarray:
    """A term tensor (``madgen.colour.basis.term_tensor``) as a float array."""
    return tensor.raw * float(tensor.scale)




def exact_gram(tensors: Sequence[_TermTensor], external_dims: Sequence[int]) -> list[list[tuple[Fraction, Fraction]]]:
    """Exact inner products sum_colours conj(v_s) v_t of dense term tensors, as (re, im) Fractions."""
    w, q = _external_weights(external_dims)
    raw = np.array([t.raw for t in tensors])
    prod = _round_integral(raw.conj() @ (raw * w).T, "a dense colour inner product")
    return [[(Fraction(int(prod[s, t].real)) * tensors[s].scale * tensors[t].scale / q,
              Fraction(int(prod[s, t].imag)) * tensors[s].scale * tensors[t].scale / q)
             for t in range(len(tensors))] for s in range(len(tensors))]
