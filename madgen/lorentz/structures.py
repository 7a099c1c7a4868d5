"""UFO Lorentz structure strings evaluated into explicit component tensors.

A structure such as ``Gamma(3,2,-1)*ProjM(-1,1)`` is evaluated with Python operators
over :class:`Tensor` objects carrying labelled indices. Each index is a pair
``(label, kind)``: ``label`` is the UFO index (positive = slot number, negative =
summed dummy) and ``kind`` is :class:`IndexKind` (Lorentz or spinor).

Conventions (HELAS chiral representation)::

    gamma^0 = [[0, 1], [1, 0]],  gamma^k = [[0, sigma^k], [-sigma^k, 0]],
    gamma5 = diag(-1, -1, 1, 1),  C = i gamma^2 gamma^0,  g = diag(1, -1, -1, -1).

A spin-2 (tensor) slot n carries two Lorentz indices, labelled ``1000 + n`` and ``2000 + n`` as in
UFO (``Metric(1003,2003)``); its wavefunction is T^{mu nu} at component ``4 mu + nu``.

Every Lorentz index of every object is *upper* (``P(mu,n)`` = -P_n^mu, the outgoing
momentum of slot n, where routines receive P_n flowing in; ``Metric`` =
g^{mu nu}, ``Gamma(mu,i,j)`` = (gamma^mu)_ij, ``Epsilon`` = eps^{mu nu rho sigma} with
eps_{0123} = +1, i.e. eps^{0123} = -1); a repeated Lorentz label is contracted with
g_{mu nu}, a repeated spinor label is a plain matrix sum.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import sympy

from madgen.errors import UnsupportedFeature
from madgen.model.types import Spin


class IndexKind(enum.Enum):
    LORENTZ = "lorentz"
    SPINOR = "spinor"


SUPPORTED_SPINS = (Spin.SCALAR, Spin.FERMION, Spin.VECTOR, Spin.TENSOR)
"""The spins madgen has wavefunctions and propagators for (0, 1/2, 1, 2)."""

TENSOR_INDEX_OFFSETS = (1000, 2000)
"""A spin-2 slot n carries the Lorentz indices 1000 + n and 2000 + n (UFO's convention)."""


def index_kind(spin: Spin) -> IndexKind | None:
    """The kind of index a slot of this spin carries in a structure (none for scalars)."""
    return {Spin.FERMION: IndexKind.SPINOR, Spin.VECTOR: IndexKind.LORENTZ,
            Spin.TENSOR: IndexKind.LORENTZ}.get(spin)


def slot_indices(slot: int, spin: Spin) -> tuple[tuple[int, IndexKind], ...]:
    """The free indices a structure carries for ``slot``: none (scalar), one, or two (spin 2)."""
    kind = index_kind(spin)
    if kind is None:
        return ()
    if spin is Spin.TENSOR:
        return tuple((offset + slot, kind) for offset in TENSOR_INDEX_OFFSETS)
    return ((slot, kind),)


def index_slot(label: int) -> int:
    """The slot a positive index label belongs to (``1003`` and ``2003`` belong to slot 3)."""
    return label % 1000 if label > 1000 else label


METRIC = (1, -1, -1, -1)
"""Diagonal of g_{mu nu} = g^{mu nu}."""


# --------------------------------------------------------------------------- matrices

def _m(rows) -> sympy.Matrix:
    return sympy.Matrix(rows)


I = sympy.I
GAMMA = (
    _m([[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]),
    _m([[0, 0, 0, 1], [0, 0, 1, 0], [0, -1, 0, 0], [-1, 0, 0, 0]]),
    _m([[0, 0, 0, -I], [0, 0, I, 0], [0, I, 0, 0], [-I, 0, 0, 0]]),
    _m([[0, 0, 1, 0], [0, 0, 0, -1], [-1, 0, 0, 0], [0, 1, 0, 0]]),
)
"""gamma^mu in the chiral representation: gamma^k = [[0, sigma^k], [-sigma^k, 0]]."""
GAMMA5 = sympy.diag(-1, -1, 1, 1)
IDENTITY4 = sympy.eye(4)
PROJ_M = (IDENTITY4 - GAMMA5) / 2
PROJ_P = (IDENTITY4 + GAMMA5) / 2
CMATRIX = I * GAMMA[2] * GAMMA[0]
"""Charge conjugation matrix C = i gamma^2 gamma^0 (C gamma^mu^T C^-1 = -gamma^mu)."""
CMATRIX_INV = CMATRIX.inv()


def slash(p) -> sympy.Matrix:
    """p-slash = gamma^mu p_mu for upper components p^mu."""
    return sum((GAMMA[mu] * METRIC[mu] * p[mu] for mu in range(4)), sympy.zeros(4, 4))


# --------------------------------------------------------------------------- tensors

Index = tuple[int, IndexKind]


@dataclass(frozen=True)
class Tensor:
    """Sparse tensor: ``indices`` labels its axes, ``data`` maps component tuples to values."""

    indices: tuple[Index, ...]
    data: Mapping[tuple[int, ...], sympy.Expr]

    # arithmetic -------------------------------------------------------------
    def __add__(self, other):
        other = as_tensor(other)
        if sorted(self.indices, key=_ikey) != sorted(other.indices, key=_ikey):
            raise UnsupportedFeature(
                f"Lorentz structure adds terms with different free indices "
                f"{_fmt(self.indices)} and {_fmt(other.indices)}"
            )
        perm = [other.indices.index(ix) for ix in self.indices]
        data = dict(self.data)
        for comp, val in other.data.items():
            key = tuple(comp[p] for p in perm)
            data[key] = data.get(key, 0) + val
        return Tensor(self.indices, _prune(data))

    __radd__ = __add__

    def __neg__(self):
        return Tensor(self.indices, {k: -v for k, v in self.data.items()})

    def __sub__(self, other):
        return self + (-as_tensor(other))

    def __rsub__(self, other):
        return as_tensor(other) + (-self)

    def __mul__(self, other):
        return contract(self, as_tensor(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, Tensor):
            if other.indices:
                raise UnsupportedFeature("Lorentz structure divides by an indexed object")
            other = other.data.get((), 0)
        return self * (1 / _number(other))

    def __rtruediv__(self, other):
        if self.indices:
            raise UnsupportedFeature("Lorentz structure divides by an indexed object")
        return as_tensor(_number(other) / self.data.get((), 0))

    def __pow__(self, n):
        if not isinstance(n, int) or n < 1:
            raise UnsupportedFeature(f"Lorentz structure uses power {n!r}")
        if self.indices:
            if n != 2:
                raise UnsupportedFeature("Lorentz structure raises an indexed object to a power > 2")
            return self * self
        return as_tensor(self.data.get((), 0) ** n)


def _ikey(ix: Index):
    return (ix[0], ix[1].value)


def _fmt(indices) -> str:
    return "(" + ", ".join(str(lab) for lab, _ in indices) + ")"


def _prune(data: dict) -> dict:
    out = {}
    for k, v in data.items():
        v = sympy.expand(v)
        if v != 0:
            out[k] = v
    return out


def _number(x) -> sympy.Expr:
    """A Python/sympy number as an exact sympy number (floats become simple rationals)."""
    if isinstance(x, sympy.Basic):
        return x
    if isinstance(x, bool):
        return sympy.Integer(int(x))
    if isinstance(x, int):
        return sympy.Integer(x)
    if isinstance(x, float):
        return sympy.nsimplify(x, rational=False)
    if isinstance(x, complex):
        return _number(x.real) + sympy.I * _number(x.imag)
    raise UnsupportedFeature(f"Lorentz structure uses unsupported value {x!r}")


def as_tensor(x) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return Tensor((), _prune({(): _number(x)}))


def contract(a: Tensor, b: Tensor) -> Tensor:
    """Product of two tensors, summing over labels present in both (metric for Lorentz)."""
    shared = [ix for ix in a.indices if ix in b.indices]
    for lab, kind in a.indices + b.indices:
        if (lab, kind) not in shared and any(l2 == lab and k2 != kind for l2, k2 in a.indices + b.indices):
            raise UnsupportedFeature(f"Lorentz structure uses index {lab} both as Lorentz and spinor index")
    a_pos = [a.indices.index(ix) for ix in shared]
    b_pos = [b.indices.index(ix) for ix in shared]
    a_free = [i for i in range(len(a.indices)) if i not in a_pos]
    b_free = [i for i in range(len(b.indices)) if i not in b_pos]
    out_indices = tuple(a.indices[i] for i in a_free) + tuple(b.indices[i] for i in b_free)
    if len(set(out_indices)) != len(out_indices):
        repeated = sorted({lab for lab, _ in out_indices if [l for l, _ in out_indices].count(lab) > 1})
        raise UnsupportedFeature(f"Lorentz structure repeats index {', '.join(map(str, repeated))} more than twice, "
                                 f"or twice in one factor (free indices {_fmt(out_indices)})")
    data: dict = {}
    for ka, va in a.data.items():
        for kb, vb in b.data.items():
            if any(ka[i] != kb[j] for i, j in zip(a_pos, b_pos)):
                continue
            sign = 1
            for i, ix in zip(a_pos, shared):
                if ix[1] is IndexKind.LORENTZ:
                    sign *= METRIC[ka[i]]
            key = tuple(ka[i] for i in a_free) + tuple(kb[j] for j in b_free)
            data[key] = data.get(key, 0) + sign * va * vb
    return Tensor(out_indices, _prune(data))


def from_matrix(mat: sympy.Matrix, i: Index, j: Index) -> Tensor:
    return Tensor((i, j), _prune({(r, c): mat[r, c] for r in range(4) for c in range(4)}))


# --------------------------------------------------------------------------- UFO objects

def momentum_symbol(slot: int, mu: int) -> sympy.Symbol:
    """P<slot>[mu]: component mu of the momentum flowing into the vertex through ``slot``."""
    return sympy.Symbol(f"P{slot}[{mu}]", real=True)


class _Builder:
    """Namespace of UFO Lorentz objects for ``eval`` of a structure string."""

    def __init__(self, name: str, slots: tuple[Spin, ...]):
        self.name = name
        self.slots = slots

    def index(self, label: int, kind: IndexKind) -> Index:
        if not isinstance(label, int) or label == 0:
            raise UnsupportedFeature(f"Lorentz structure {self.name}: bad index {label!r}")
        if label > 0:
            slot = index_slot(label)
            if not 1 <= slot <= len(self.slots) or (label > 1000 and label // 1000 not in (1, 2)):
                raise UnsupportedFeature(f"Lorentz structure {self.name}: index {label} names no slot")
            spin = self.slots[slot - 1]
            if (label > 1000) != (spin is Spin.TENSOR):
                raise UnsupportedFeature(
                    f"Lorentz structure {self.name}: index {label} does not fit slot {slot}, which is "
                    f"{spin.name.lower()}: a spin-2 slot n carries the indices {1000 + slot} and "
                    f"{2000 + slot}, any other slot n the index n")
            have = index_kind(spin)
            if have is not kind:
                raise UnsupportedFeature(
                    f"Lorentz structure {self.name}: index {label} used as {kind.value} index "
                    f"but slot {slot} is {spin.name.lower()}"
                )
        return (label, kind)

    def L(self, x):
        return self.index(x, IndexKind.LORENTZ)

    def S(self, x):
        return self.index(x, IndexKind.SPINOR)

    def namespace(self) -> dict:
        b = self

        def P(mu, n):
            if not isinstance(n, int) or not 1 <= n <= len(b.slots):
                raise UnsupportedFeature(f"Lorentz structure {b.name}: P(.., {n!r}) names no slot")
            # UFO's P(mu, n) is the momentum of slot n's particle in the all-outgoing convention
            # (as the slot's particle identity): minus the momentum flowing in through slot n.
            return Tensor((b.L(mu),), _prune({(m,): -momentum_symbol(n, m) for m in range(4)}))

        def Metric(mu, nu):
            return Tensor((b.L(mu), b.L(nu)), {(m, m): sympy.Integer(METRIC[m]) for m in range(4)})

        def Gamma(mu, i, j):
            data = {}
            for m in range(4):
                for r in range(4):
                    for c in range(4):
                        if GAMMA[m][r, c] != 0:
                            data[(m, r, c)] = GAMMA[m][r, c]
            return Tensor((b.L(mu), b.S(i), b.S(j)), data)

        def Sigma(mu, nu, i, j):
            data = {}
            for m in range(4):
                for n in range(4):
                    sig = I / 2 * (GAMMA[m] * GAMMA[n] - GAMMA[n] * GAMMA[m])
                    for r in range(4):
                        for c in range(4):
                            if sig[r, c] != 0:
                                data[(m, n, r, c)] = sympy.expand(sig[r, c])
            return Tensor((b.L(mu), b.L(nu), b.S(i), b.S(j)), data)

        def Identity(i, j):
            lor = any(
                isinstance(x, int) and 0 < index_slot(x) <= len(b.slots)
                and b.slots[index_slot(x) - 1] in (Spin.VECTOR, Spin.TENSOR)
                for x in (i, j)
            )
            if lor:
                return Metric(i, j)
            return from_matrix(IDENTITY4, b.S(i), b.S(j))

        def Epsilon(mu, nu, rho, sig):
            data = {}
            for perm in itertools.permutations(range(4)):
                data[perm] = -sympy.Integer(_perm_sign(perm))  # eps^{0123} = -1
            return Tensor(tuple(b.L(x) for x in (mu, nu, rho, sig)), data)

        class _CMath:
            sqrt = staticmethod(lambda x: sympy.sqrt(_number(x)))
            pi = sympy.pi

        return {
            "P": P,
            "Metric": Metric,
            "Gamma": Gamma,
            "Gamma5": lambda i, j: from_matrix(GAMMA5, b.S(i), b.S(j)),
            "ProjM": lambda i, j: from_matrix(PROJ_M, b.S(i), b.S(j)),
            "ProjP": lambda i, j: from_matrix(PROJ_P, b.S(i), b.S(j)),
            "Identity": Identity,
            "IdentityL": Metric,
            "Sigma": Sigma,
            "C": lambda i, j: from_matrix(CMATRIX, b.S(i), b.S(j)),
            "Epsilon": Epsilon,
            "complex": lambda re, im: _number(re) + sympy.I * _number(im),
            "cmath": _CMath,
            "math": _CMath,
            "sqrt": _CMath.sqrt,
        }


def _perm_sign(perm) -> int:
    sign, p = 1, list(perm)
    for i in range(len(p)):
        while p[i] != i:
            j = p[i]
            p[i], p[j] = p[j], p[i]
            sign = -sign
    return sign


def slot_kinds(name: str, spins: tuple[int, ...]) -> tuple[Spin, ...]:
    """UFO spin codes as slot kinds; fermions must come in (2k-1, 2k) pairs."""
    kinds = []
    for n, s in enumerate(spins, start=1):
        try:
            spin = Spin(s)
        except ValueError:
            spin = None
        if spin not in SUPPORTED_SPINS:
            raise UnsupportedFeature(
                f"Lorentz structure {name}: slot {n} has spin code {s} "
                "(madgen supports scalars 1, fermions 2, vectors 3 and spin-2 tensors 5; "
                "ghosts have negative codes)"
            )
        kinds.append(spin)
    for n, k in enumerate(kinds, start=1):
        partner = n + 1 if n % 2 else n - 1
        if k is Spin.FERMION and (partner > len(kinds) or kinds[partner - 1] is not Spin.FERMION):
            raise UnsupportedFeature(
                f"Lorentz structure {name}: fermion slot {n} is not paired with slot {partner}"
            )
    return tuple(kinds)


def _naming(error: UnsupportedFeature, name: str, structure: str) -> UnsupportedFeature:
    """``error`` from the tensor algebra (which does not know the structure) naming the structure."""
    message = str(error)
    if message.startswith(f"Lorentz structure {name}"):
        return error
    detail = message.removeprefix("Lorentz structure ")
    return UnsupportedFeature(f"Lorentz structure {name} ({structure!r}) {detail}")


@lru_cache(maxsize=None)
def evaluate_structure(name: str, spins: tuple[int, ...], structure: str) -> Tensor:
    """The structure string as a tensor whose free indices are exactly the slots' indices.

    Axes are ordered by slot number; scalar slots carry no index, spin-2 slots two (1000 + n, 2000 + n).
    """
    kinds = slot_kinds(name, spins)
    builder = _Builder(name, kinds)
    try:
        value = eval(structure, {"__builtins__": {}}, builder.namespace())  # noqa: S307 (UFO is Python)
    except UnsupportedFeature as exc:
        raise _naming(exc, name, structure) from exc
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedFeature(f"Lorentz structure {name}: cannot evaluate {structure!r}: {exc}") from exc
    tensor = as_tensor(value)
    expected = tuple(ix for n, k in enumerate(kinds, start=1) for ix in slot_indices(n, k))
    if sorted(tensor.indices, key=_ikey) != sorted(expected, key=_ikey):
        raise UnsupportedFeature(
            f"Lorentz structure {name} ({structure!r}) has free indices {_fmt(tensor.indices)}; "
            f"its slots need {_fmt(expected)}"
        )
    perm = [tensor.indices.index(ix) for ix in expected]
    return Tensor(expected, {tuple(k[p] for p in perm): v for k, v in tensor.data.items()})
