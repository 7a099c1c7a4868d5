"""Coupling orders: amplitude-level selection and MadGraph's squared-order constraints.

A diagram has a coupling order per UFO ``CouplingOrder`` (the sum over its vertices) and the
derived ``WEIGHTED`` order (each order times its ``hierarchy``). |M|^2 is a sum of interference
terms Re(A_i^* A_j); a squared-order constraint ``NP^2==1`` bounds the *sum* of the orders of the
two amplitudes of a term (MadGraph's ``pass_squared_order_constraints``): with amplitudes of
``NP`` order 0 (SM) and 1 (one insertion), ``NP^2==1`` keeps only 2 Re(A_0^* A_1), the term
linear in the Wilson coefficients; ``NP^2==2`` keeps |A_1|^2 (and A_0^* A_2 if ``NP=2``
amplitudes were generated); ``NP^2<=1`` keeps |A_0|^2 + 2 Re(A_0^* A_1).

The diagrams are grouped into *order classes* (their values of the orders the squared
constraints name); |M|^2 = sum over the allowed pairs (a, b) of classes of Re(JAMP_a^H C JAMP_b).

Amplitude-level orders, as MadGraph chooses them (``extract_process``,
``find_optimal_process_orders``):

* amplitude constraints given: they apply as written (``QCD=2`` means ``QCD<=2``);
* only squared constraints given: each ``X^2<=n`` or ``X^2==n`` becomes the amplitude bound
  ``X<=n`` (a ``>=`` squared constraint bounds nothing), and the WEIGHTED default is off;
* nothing given: only the diagrams of minimal WEIGHTED order are kept.

Diagrams that enter no allowed pair are dropped (MadGraph's ``apply_positive_sq_orders``); a
selection that leaves no pair is an error that says which order classes there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from madgen.errors import ProcessError
from madgen.model.types import Model
from madgen.process.syntax import OrderConstraint

WEIGHTED = "WEIGHTED"

OrderKey = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class OrderSelection:
    """Which interference terms enter |M|^2: the squared-order ``constraints``, the order
    ``classes`` (each the values of the constrained orders, sorted), and the ``allowed_pairs``
    (a, b) of class indices. No constraint (or one that keeps every pair): one class, one pair."""

    constraints: tuple[OrderConstraint, ...] = ()
    classes: tuple[OrderKey, ...] = ((),)
    allowed_pairs: tuple[tuple[int, int], ...] = ((0, 0),)
    hierarchy: tuple[tuple[str, int], ...] = ()  # for WEIGHTED in a constraint

    def __post_init__(self):
        n = len(self.classes)
        assert self.classes and all(0 <= a < n and 0 <= b < n for a, b in self.allowed_pairs)
        assert set(self.allowed_pairs) == {(b, a) for a, b in self.allowed_pairs}, "pairs must be symmetric"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.name for c in self.constraints))

    def class_of(self, orders: Mapping[str, int] | tuple) -> int:
        """Index of the order class of a diagram (or amplitude term) with coupling ``orders``."""
        if len(self.classes) == 1:
            return 0
        return self.classes.index(class_key(dict(orders), self.names, dict(self.hierarchy)))

    def describe(self) -> str:
        """``NP^2==1`` etc., for comments and messages."""
        return " ".join(c.squared_str() for c in self.constraints)


def order_value(orders: Mapping[str, int], name: str, hierarchy: Mapping[str, int]) -> int:
    """The value of coupling order ``name`` (``WEIGHTED``: sum of order x hierarchy) of a diagram."""
    if name == WEIGHTED:
        return weighted_order(orders, hierarchy)
    return orders.get(name, 0)


def weighted_order(orders: Mapping[str, int], hierarchy: Mapping[str, int]) -> int:
    """MadGraph's WEIGHTED order: sum of each coupling order times its hierarchy."""
    return sum(value * hierarchy.get(name, 1) for name, value in orders.items())


def class_key(orders: Mapping[str, int], names, hierarchy: Mapping[str, int]) -> OrderKey:
    return tuple((name, order_value(orders, name, hierarchy)) for name in names)


def check_order_names(model: Model, constraints, where: str, squared: bool = False) -> None:
    """A constraint on an order the model does not have is an error (MadGraph refuses it too); ``squared``:
    the constraints are squared orders, quoted as written (``NP^2==1``)."""
    known = model_order_names(model)
    for constraint in constraints:
        if constraint.name not in known and constraint.name != WEIGHTED:
            spelled = constraint.squared_str() if squared else str(constraint)
            raise ProcessError(
                f"{where}: '{spelled}' constrains the coupling order '{constraint.name}', which model "
                f"'{model.name}' does not have; its orders are {', '.join(sorted(known))} (and WEIGHTED)")


def check_process_orders(model: Model, spec) -> None:
    """Every coupling order a parsed process (``madgen.process.syntax.ProcessSpec``) names, in its production
    process and in each decay, exists in the model: checked once against the process as written, before it
    is split into subprocesses (which would otherwise each find no diagrams and be skipped)."""
    where = f"process '{spec.text}'"
    check_order_names(model, spec.orders, where)
    check_order_names(model, spec.squared_orders, where, squared=True)
    pending = list(spec.decays)
    while pending:
        decay = pending.pop(0)
        check_order_names(model, decay.orders, f"{where}, decay '{decay.text}'")
        pending.extend(decay.decays)


def model_order_names(model: Model) -> set[str]:
    """The coupling orders the model declares or its vertices carry."""
    names = {order.name for order in model.orders}
    for vertex in model.vertices:
        names.update(name for name, _ in vertex.orders)
    return names


def amplitude_constraints(orders: tuple[OrderConstraint, ...], squared: tuple[OrderConstraint, ...]):
    """(amplitude constraints, whether MadGraph's minimal-WEIGHTED default applies); see the module
    docstring: squared constraints alone bound the amplitude orders they name."""
    if orders:
        return orders, False
    if not squared:
        return (), True
    derived = tuple(OrderConstraint(c.name, "<=", c.value) for c in squared if c.op in ("<=", "=="))
    return derived, False


def squared_selection(orders_of_diagrams, squared: tuple[OrderConstraint, ...], hierarchy: Mapping[str, int],
                      where: str) -> tuple[list[bool], OrderSelection]:
    """Apply squared-order constraints to diagrams with the given coupling orders (dicts).

    Returns (keep flag per diagram, the ``OrderSelection`` of the kept ones). Raises
    ``ProcessError`` when no pair of diagrams satisfies every constraint."""
    if not squared:
        return [True] * len(orders_of_diagrams), OrderSelection()
    names = tuple(dict.fromkeys(c.name for c in squared))
    keys = [class_key(orders, names, hierarchy) for orders in orders_of_diagrams]
    classes = sorted(set(keys))

    def allowed(a: OrderKey, b: OrderKey) -> bool:
        return all(c.allows(dict(a)[c.name] + dict(b)[c.name]) for c in squared)

    kept = [a for a in classes if any(allowed(a, b) for b in classes)]
    if not kept:
        present = "; ".join(", ".join(f"{n}={v}" for n, v in key) for key in classes)
        raise ProcessError(
            f"{where}: the squared-order selection {' '.join(c.squared_str() for c in squared)} leaves nothing: "
            f"the amplitudes have orders ({present}) and no pair of them adds up as asked; change the "
            "selection or the amplitude orders")
    pairs = tuple((i, j) for i, a in enumerate(kept) for j, b in enumerate(kept) if allowed(a, b))
    weights = tuple(sorted(hierarchy.items())) if WEIGHTED in names else ()
    if len(pairs) == len(kept) ** 2:  # every pair allowed: one class, the whole |M|^2 of the kept diagrams
        selection = OrderSelection(tuple(squared), ((),), ((0, 0),), weights)
    else:
        selection = OrderSelection(tuple(squared), tuple(kept), pairs, weights)
    return [key in kept for key in keys], selection
