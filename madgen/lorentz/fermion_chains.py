"""Spinor chains of a Lorentz structure with more than two fermions, and their sign.

The diagram stage (``madgen.diagrams.fermions``) computes a diagram's Fermi sign as if
every vertex joined its fermion slots in UFO pairs (1 -> 2), (3 -> 4), ... (ket slot
2k-1, bra slot 2k). A four-fermion structure may contract its spinor indices
differently, e.g. ``Gamma(-1,2,-2)*Gamma(-1,4,-3)*ProjM(-2,3)*ProjM(-3,1)`` joins
(3 -> 2) and (1 -> 4). Its value then carries the sign of the permutation taking
(ket, bra, ket, bra...) of its actual chains, kets ascending, to slot order -- as
MadGraph does, which puts that sign on the coupling of the vertex term
(``import_ufo.get_sign_flow`` with ALOHA's ``get_fermion_flow``).
"""

from __future__ import annotations

from functools import lru_cache

from madgen.errors import UnsupportedFeature

_SPINOR_OBJECTS = {"Gamma": 1, "Gamma5": 0, "ProjM": 0, "ProjP": 0, "Identity": 0, "Sigma": 2, "C": 0}
"""Spinor objects: number of Lorentz arguments before their (row, column) spinor indices."""


class _Terms:
    """A sum of products, each product reduced to its spinor links {(row, column), ...}."""

    def __init__(self, terms=(frozenset(),)):
        self.terms = tuple(terms)

    def __add__(self, other):
        return _Terms(self.terms + _as_terms(other).terms)

    __radd__ = __add__

    def __sub__(self, other):
        return self + other

    __rsub__ = __sub__

    def __mul__(self, other):
        return _Terms(a | b for a in self.terms for b in _as_terms(other).terms)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self

    def __rtruediv__(self, other):
        return _as_terms(other)

    def __pow__(self, other):
        return self

    def __neg__(self):
        return self

    def __pos__(self):
        return self


def _as_terms(value) -> _Terms:
    return value if isinstance(value, _Terms) else _Terms()


def _namespace(fermion_slots: set[int]) -> dict:
    def spinor_object(name, n_lorentz):
        def make(*args):
            row, column = args[n_lorentz], args[n_lorentz + 1]
            if name == "Identity" and not ({row, column} <= fermion_slots or row < 0 or column < 0):
                return _Terms()  # Identity between vector slots is the metric
            return _Terms((frozenset({(row, column)}),))
        return make

    namespace = {name: spinor_object(name, n) for name, n in _SPINOR_OBJECTS.items()}
    neutral = lambda *args: _Terms()  # noqa: E731 - P, Metric, Epsilon, numbers carry no spinor index
    namespace.update({name: neutral for name in ("P", "Metric", "Epsilon", "IdentityL", "complex", "sqrt")})

    class _Math:
        sqrt = staticmethod(neutral)
        pi = 1

    namespace.update(cmath=_Math, math=_Math)
    return namespace


def _flow(links: frozenset, fermion_slots: set[int], name: str) -> dict[int, int] | None:
    """{ket slot: bra slot} of one product (None when a chain does not run ket -> bra)."""
    forward = {}
    for row, column in links:
        if row in forward:
            return None
        forward[row] = column
    flow = {}
    for start in sorted(s for s in fermion_slots if s in forward):
        position, seen = start, {start}
        while position in forward:
            position = forward[position]
            if position in seen:
                return None
            seen.add(position)
        if position not in fermion_slots or position == start:
            return None
        flow[position] = start  # the chain's column end is the ket, its row end the bra
    return flow if len(flow) * 2 == len(fermion_slots) else None


def _permutation_sign(sequence: list[int]) -> int:
    inversions = sum(1 for i in range(len(sequence)) for j in range(i + 1, len(sequence))
                     if sequence[j] < sequence[i])
    return -1 if inversions % 2 else 1


@lru_cache(maxsize=None)
def fermion_flow_sign(name: str, spins: tuple[int, ...], structure: str) -> int:
    """+1 or -1 (module docstring); +1 for structures with at most two fermions or no clear flow."""
    fermion_slots = {n for n, s in enumerate(spins, start=1) if s == 2}
    if len(fermion_slots) <= 2:
        return 1
    try:
        value = eval(structure, {"__builtins__": {}}, _namespace(fermion_slots))  # noqa: S307 (UFO is Python)
    except Exception:  # noqa: BLE001 - the structure evaluator reports malformed structures
        return 1
    signs = set()
    for links in _as_terms(value).terms:
        flow = _flow(links, fermion_slots, name)
        if flow is None:
            return 1
        sequence = [slot for ket in sorted(flow) for slot in (ket, flow[ket])]
        signs.add(_permutation_sign(sequence))
    if len(signs) > 1:
        raise UnsupportedFeature(f"Lorentz structure {name} ({structure!r}) sums terms whose spinor chains join "
                                 f"the fermions differently; split it into one structure per chain pattern")
    return signs.pop() if signs else 1
