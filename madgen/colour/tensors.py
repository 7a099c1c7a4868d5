"""UFO colour strings: parsing into monomials of elementary tensors, and their index dimensions.

A colour string (UFO ``Vertex.color`` entry) such as ``'f(-1,1,2)*T(-1,3,4)'`` is a sum of
monomials coeff * prod_k name_k(args_k): positive arguments are the vertex's slots, negative
ones dummy indices summed within the monomial. Supported tensors (MadGraph's normalisation):
T(a,i,j), f(a,b,c), d(a,b,c), Identity(x,y) (triplet, adjoint or sextet), Epsilon(i,j,k),
EpsilonBar(i,j,k), K6(m,i,j), K6Bar(m,i,j), T6(a,m,n).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from sympy import QQ_I

from madgen.errors import UnsupportedFeature

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


@lru_cache(maxsize=4096)
def string_monomials(s: str, slot_dims: tuple[tuple[int, int], ...]):
    """(slots, monomials) of colour string ``s`` at a vertex whose coloured slots have the
    dimensions ``slot_dims`` ((slot, dimension), ...): slots used by the string (ascending) and,
    per monomial, (QQ_I coefficient, factors, {index: dimension}) for its slots and dummies.

    Checks that every slot is coloured, every monomial uses every slot once and every dummy
    twice, and that the dimensions agree (``UnsupportedFeature`` naming the string otherwise).
    """
    sd = dict(slot_dims)
    monos = parse_colour(s)
    slots = tuple(sorted({a for m in monos for _, args in m.factors for a in args if a > 0}))
    for a in slots:
        if a not in sd:
            raise _bad(s, f"slot {a} is not a coloured leg of the vertex")
    out = []
    for mono in monos:
        dims = _index_dims(s, mono, {a: sd[a] for a in slots})
        counts: dict[int, int] = {}
        for name, args in mono.factors:
            if len(set(args)) != len(args):
                raise _bad(s, f"an index is repeated within {name}{args}")
            for a in args:
                counts[a] = counts.get(a, 0) + 1
        for a, c in counts.items():
            if (a > 0 and c != 1) or (a < 0 and c != 2):
                raise _bad(s, f"index {a} appears {c} times")
        missing = set(slots) - {a for a in counts if a > 0}
        if missing:  # a slot of the string absent from this monomial: a sum like 'T(1,2,3) + 0'
            raise _bad(s, f"slots {sorted(missing)} are missing from one of its terms")
        for name, args in mono.factors:
            if name == "Identity" and dims[args[0]] not in (3, 6, 8):
                raise UnsupportedFeature(f"colour string {s!r}: Identity of dimension {dims[args[0]]} "
                                         "is not supported (only 3, 6, 8)")
        out.append((mono.coeff, mono.factors, dims))
    return slots, tuple(out)
