"""SU(3) colour tensors in an exact-friendly rational basis, and UFO colour-string evaluation.

Rescaled basis: every adjoint index carries s_a (s_a = 1, except s_8 = sqrt 3) and every
sextet index s_m (s_m = 1 on diagonal pairs, sqrt 2 on off-diagonal pairs):

    T'^a = s_a T^a,  f'^{abc} = s_a s_b s_c f^{abc},  K6'_m = s_m K6_m,  delta'_{ab} = s_a^2 delta_{ab}, ...

Contracting an index then carries the weight 1/s^2, so  sum_a X_a Y_a = sum_a X'_a Y'_a / s_a^2.
All entries are Gaussian rationals; we store each tensor as a Gaussian-*integer* array times
1/denominator (2T', 2f', 2d' are integral) so float64 arithmetic on them is exact.

Normalisation: Tr(T^a T^b) = delta^{ab}/2, f^{abc} = -2i Tr([T^a,T^b]T^c),
d^{abc} = 2 Tr({T^a,T^b}T^c), K6_m K6Bar_n (over i,j) = delta_mn,
T6^a_{mn} = 2 K6_m^{ij} T^a_{jk} K6Bar_n^{ki} (MadGraph's convention).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from sympy import QQ_I

from madgen.errors import UnsupportedFeature


# ---------------------------------------------------------------------------
# Index weights: integer weight vector w and denominator q, so 1/s^2 = w/q.
# ---------------------------------------------------------------------------

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


SLOT_DIMS: dict[str, tuple[int, ...]] = {
    "T": (8, 3, 3), "f": (8, 8, 8), "d": (8, 8, 8),
    "Epsilon": (3, 3, 3), "EpsilonBar": (3, 3, 3),
    "K6": (6, 3, 3), "K6Bar": (6, 3, 3), "T6": (8, 6, 6),
}
"""Dimension of each argument of the elementary colour tensors (Identity: from its labels)."""

# ---------------------------------------------------------------------------
# Parsing UFO colour strings into sums of monomials.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Monomial:
    """coeff * prod_k name_k(args_k); positive args are vertex slots, negative ones dummies."""

    coeff: object  # QQ_I element
    factors: tuple[tuple[str, tuple[int, ...]], ...]


def _bad(s: str, why: str) -> UnsupportedFeature:
    return UnsupportedFeature(f"colour string {s!r}: {why}")


def _mul(a: list[Monomial], b: list[Monomial]) -> list[Monomial]:
    return [Monomial(x.coeff * y.coeff, x.factors + y.factors) for x in a for y in b]


def _number(node: ast.AST, s: str):
    """Exact value (QQ_I) of a numeric sub-expression, or None if it is not numeric."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return QQ_I.convert(Fraction(str(node.value)) if isinstance(node.value, float) else node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "complex":
        re, im = (_number(a, s) for a in node.args)
        if re is None or im is None:
            raise _bad(s, "complex() needs numeric arguments")
        return re + im * QQ_I(0, 1)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(node.operand, s)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
        a, b = _number(node.left, s), _number(node.right, s)
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div):
            return a / b
        if b.y != 0 or b.x.denominator != 1:
            raise _bad(s, "only integer powers of numbers are supported")
        e = int(b.x)
        return a ** e if e >= 0 else QQ_I.one / a ** (-e)
    return None


def _monomials(node: ast.AST, s: str) -> list[Monomial]:
    num = _number(node, s)
    if num is not None:
        return [Monomial(num, ())]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _mul(_monomials(node.left, s), _monomials(node.right, s))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        den = _number(node.right, s)
        if den is None:
            raise _bad(s, "division by a colour tensor")
        return _mul(_monomials(node.left, s), [Monomial(QQ_I.one / den, ())])
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = _monomials(node.right, s)
        if isinstance(node.op, ast.Sub):
            right = [Monomial(-m.coeff, m.factors) for m in right]
        return _monomials(node.left, s) + right
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        return [Monomial(sign * m.coeff, m.factors) for m in _monomials(node.operand, s)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name != "Identity" and name not in SLOT_DIMS:
            raise _bad(s, f"colour tensor {name!r} is not supported")
        args = []
        for a in node.args:
            v = _number(a, s)
            if v is None or v.y != 0 or v.x.denominator != 1 or v.x == 0:
                raise _bad(s, f"bad index in {name}(...)")
            args.append(int(v.x))
        want = 2 if name == "Identity" else len(SLOT_DIMS[name])
        if len(args) != want:
            raise _bad(s, f"{name} takes {want} indices, got {len(args)}")
        return [Monomial(QQ_I.one, ((name, tuple(args)),))]
    raise _bad(s, "cannot parse this expression")


@lru_cache(maxsize=None)
def parse_colour(s: str) -> tuple[Monomial, ...]:
    """UFO colour string -> sum of monomials (zero-coefficient monomials dropped)."""
    try:
        tree = ast.parse(s.strip(), mode="eval")
    except SyntaxError as exc:
        raise _bad(s, f"syntax error ({exc.msg})") from None
    return tuple(m for m in _monomials(tree.body, s) if m.coeff != QQ_I.zero)


# ---------------------------------------------------------------------------
# Evaluating one colour string over its slots.
# ---------------------------------------------------------------------------


def _index_dims(s: str, mono: Monomial, slot_dims: dict[int, int]) -> dict[int, int]:
    """Dimension of every index (slot or dummy) of a monomial, checked for consistency."""
    dims = dict(slot_dims)
    pending = []
    for name, args in mono.factors:
        if name == "Identity":
            pending.append(args)
            continue
        for a, d in zip(args, SLOT_DIMS[name]):
            if dims.setdefault(a, d) != d:
                raise _bad(s, f"index {a} has dimension {dims[a]} but {name} needs {d} there")
    for _ in range(len(pending) + 1):  # propagate dimensions through Identity chains
        for a, b in pending:
            if a in dims and b not in dims:
                dims[b] = dims[a]
            elif b in dims and a not in dims:
                dims[a] = dims[b]
    for a, b in pending:
        if a not in dims or b not in dims:
            raise _bad(s, "cannot infer the dimension of an Identity index")
        if dims[a] != dims[b]:
            raise _bad(s, f"Identity({a},{b}) joins dimensions {dims[a]} and {dims[b]}")
    return dims


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
