"""Custom propagators (UFO ``propagators.py``) evaluated into component tensors.

A propagator's ``numerator`` and ``denominator`` are strings over ``P('mu', id)``,
``Mass(id)``, ``Width(id)``, ``Metric``, ``Gamma``, ``Identity``, ... and model
parameters, where ``id`` is the propagating line, index 1 the vertex side and index 2
the output of the current (ALOHA's convention). The off-shell current of slot k is then::

    COUP * i * N(1 -> vertex, 2 -> output) . J / D,      J = dA/dW_k

with, for a fermion, the output on index 1 and ``P -> -P`` when the current is a bra
(row) spinor, as ALOHA does ("outgoing" spinor propagators). ``P('mu', id)`` is the
propagating line's momentum as the Lorentz structures define ``P`` (``madgen.lorentz
.structures``): with that, the UFO's standard ``V1``/``F``/``S`` propagators reproduce
madgen's built-in currents. ``Mass(id)``/``Width(id)`` are the routine's ``M``/``W``;
each model parameter becomes an argument ``par_<name>`` (restriction-fixed ones are
substituted by their values).
"""

from __future__ import annotations

from functools import lru_cache

import sympy

from madgen.errors import UnsupportedFeature
from madgen.lorentz.structures import IndexKind, Tensor, _Builder, _prune, as_tensor, momentum_symbol, slot_indices
from madgen.model.types import Propagator, Spin

MASS = sympy.Symbol("M", real=True)
WIDTH = sympy.Symbol("W", real=True)


def parameter_argument(name: str) -> str:
    """Name of the routine argument carrying model parameter ``name``."""
    return f"par_{name}"


class _PropagatorBuilder(_Builder):
    """The Lorentz objects of a propagator string: slots 1 and 2 are the two ends of the line."""

    def __init__(self, propagator: Propagator, kind: Spin, line: int, momentum_sign: int):
        super().__init__(f"propagator {propagator.name}", (kind, kind))
        self.propagator = propagator
        self.line = line
        self.momentum_sign = momentum_sign
        self.dummies: dict[str, int] = {}

    def index(self, label, kind: IndexKind):
        if isinstance(label, str):  # named summed index such as 'mu'
            label = self.dummies.setdefault(label, -1000 - len(self.dummies))
        return super().index(label, kind)

    def _line(self, n, what: str) -> None:
        if n != self.line:
            raise UnsupportedFeature(f"{self.name}: {what}({n!r}) does not name the propagating line (id)")

    def namespace(self) -> dict:
        namespace = super().namespace()

        def P(mu, n):
            self._line(n, "P(.., n)")
            sign = -self.momentum_sign
            return Tensor((self.L(mu),), _prune({(m,): sign * momentum_symbol(self.line, m) for m in range(4)}))

        def Mass(n):
            self._line(n, "Mass")
            return as_tensor(MASS)

        def Width(n):
            self._line(n, "Width")
            return as_tensor(WIDTH)

        namespace.update(P=P, Mass=Mass, Width=Width, id=self.line)
        fixed = dict(self.propagator.fixed)
        for name in self.propagator.parameters:
            namespace[name] = as_tensor(sympy.Symbol(parameter_argument(name)))
        for name, value in fixed.items():
            namespace[name] = as_tensor(sympy.nsimplify(value))
        return namespace

    def evaluate(self, text: str, what: str) -> Tensor:
        try:
            value = eval(text, {"__builtins__": {}}, self.namespace())  # noqa: S307 (UFO is Python)
        except UnsupportedFeature:
            raise
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedFeature(f"{self.name}: cannot evaluate its {what} {text!r}: {exc}") from exc
        return as_tensor(value)


@lru_cache(maxsize=None)
def propagator_tensors(propagator: Propagator, kind: Spin, line: int, flip_momentum: bool) -> tuple[Tensor, sympy.Expr]:
    """(numerator over indices (1, 2) of ``kind`` -- none for a scalar, (1001, 2001, 1002, 2002) for spin 2
    --, denominator).

    ``flip_momentum``: ``P -> -P`` (a fermion current that is a bra spinor).
    """
    builder = _PropagatorBuilder(propagator, kind, line, -1 if flip_momentum else 1)
    numerator = builder.evaluate(propagator.numerator, "numerator")
    expected = slot_indices(1, kind) + slot_indices(2, kind)
    if sorted(numerator.indices, key=lambda i: i[0]) != sorted(expected, key=lambda i: i[0]):
        raise UnsupportedFeature(
            f"propagator {propagator.name}: its numerator {propagator.numerator!r} has free indices "
            f"{[i for i, _ in numerator.indices]}; a {kind.name.lower()} propagator needs {[i for i, _ in expected]}")
    order = [numerator.indices.index(i) for i in expected]
    numerator = Tensor(expected, {tuple(k[p] for p in order): v for k, v in numerator.data.items()})
    if propagator.denominator is None:
        return numerator, sympy.Integer(1)
    denominator = builder.evaluate(propagator.denominator, "denominator")
    if denominator.indices:
        raise UnsupportedFeature(f"propagator {propagator.name}: its denominator {propagator.denominator!r} "
                                 f"has free indices")
    return numerator, denominator.data.get((), sympy.Integer(0))
