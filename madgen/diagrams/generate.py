"""Generate all tree-level diagrams of a subprocess from the model's vertices.

Method: for every subset S of the legs other than the root (the last leg), the
currents of S are all the ways a vertex can join currents of a partition of S into
as many blocks as it has other slots; a diagram is a vertex holding the root leg
whose other slots hold currents partitioning all the remaining legs. Each diagram
arises exactly once because a partition of a set into blocks is unordered and the
vertex slots holding identical particles are interchangeable.

Coupling orders: user upper bounds prune currents as they are built; with no
constraints, MadGraph's default keeps only the diagrams of minimal WEIGHTED order
(sum of order x hierarchy).
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass

from madgen.diagrams.types import Current, Diagram, Leg
from madgen.errors import ProcessError
from madgen.model.types import Model
from madgen.process.syntax import OrderConstraint


@dataclass(frozen=True)
class DiagramSet:
    """The diagrams of one subprocess, with the coupling orders actually used."""

    legs: tuple[Leg, ...]
    diagrams: tuple[Diagram, ...]
    orders: tuple[tuple[str, int], ...]  # orders of the kept diagrams (all equal for default orders)


def make_legs(model: Model, initial, final) -> tuple[Leg, ...]:
    legs = []
    for number, name in enumerate(list(initial) + list(final), start=1):
        is_initial = number <= len(initial)
        slot = model.particle(name).antiname if is_initial else name
        legs.append(Leg(number, name, is_initial, slot))
    return tuple(legs)


def generate_diagrams(model: Model, legs: tuple[Leg, ...], constraints: tuple[OrderConstraint, ...] = (),
                      excluded: tuple[str, ...] = (), forbidden_s_channel: tuple[str, ...] = (),
                      process_text: str = "") -> DiagramSet:
    """All diagrams for ``legs`` under the given constraints (see module docstring)."""
    excluded_names = _with_antiparticles(model, excluded)
    forbidden_names = _with_antiparticles(model, forbidden_s_channel)
    bounds = {c.name: c.value for c in constraints if c.op in ("<=", "==")}
    vertex_index = _vertex_index(model)
    vertex_by_name = {v.name: v for v in model.vertices}
    root = legs[-1]
    initial_legs = frozenset(leg.number for leg in legs if leg.initial)
    leaves = {leg.number: Current(legs=(leg.number,), offered=leg.slot_particle, leg=leg.number) for leg in legs}

    def allowed_line(particle: str, leg_set: frozenset) -> bool:
        if particle in excluded_names:
            return False
        if particle in forbidden_names and is_s_channel(leg_set, initial_legs):
            return False
        return model.particle(particle).propagating

    @functools.lru_cache(maxsize=None)
    def currents(leg_set: frozenset) -> tuple[Current, ...]:
        if len(leg_set) == 1:
            return (leaves[next(iter(leg_set))],)
        found = []
        for n_blocks in (2, 3):
            for blocks in set_partitions(sorted(leg_set), n_blocks):
                for children in itertools.product(*(currents(frozenset(b)) for b in blocks)):
                    key = tuple(sorted(c.offered for c in children))
                    for vertex_name, free_particle in vertex_index.get(key, ()):
                        line = free_particle
                        if not allowed_line(line, leg_set):
                            continue
                        vertex = vertex_by_name[vertex_name]
                        orders = _add_orders(children, vertex.orders)
                        if not _within(orders, bounds):
                            continue
                        slot, ordered = _assign_slots(vertex.particles, children, free_particle)
                        found.append(Current(
                            legs=tuple(sorted(leg_set)), offered=model.particle(line).antiname,
                            vertex=vertex_name, offshell_slot=slot, line_particle=line,
                            children=ordered, orders=orders))
        return tuple(found)

    diagrams = []
    rest = [leg.number for leg in legs[:-1]]
    for n_blocks in (2, 3):
        for blocks in set_partitions(rest, n_blocks):
            for children in itertools.product(*(currents(frozenset(b)) for b in blocks)):
                key = tuple(sorted(c.offered for c in children))
                for vertex_name, free_particle in vertex_index.get(key, ()):
                    if free_particle != root.slot_particle:
                        continue
                    vertex = vertex_by_name[vertex_name]
                    orders = _add_orders(children, vertex.orders)
                    if not _within(orders, bounds):
                        continue
                    slot, ordered = _assign_slots(vertex.particles, children, free_particle)
                    slots = list(ordered)
                    slots.insert(slot, leaves[root.number])
                    diagrams.append(Diagram(0, vertex_name, tuple(slots), orders))

    diagrams = _apply_order_selection(model, diagrams, constraints)
    if not diagrams:
        detail = f" with {' '.join(str(c) for c in constraints)}" if constraints else ""
        raise ProcessError(f"process '{process_text}': no tree-level diagrams in model '{model.name}'{detail}")
    diagrams = [Diagram(i + 1, d.vertex, d.slots, d.orders) for i, d in enumerate(diagrams)]
    orders = _common_orders(diagrams)
    return DiagramSet(legs, tuple(diagrams), orders)


def is_s_channel(leg_set, initial_legs: frozenset) -> bool:
    """A line is s-channel unless the legs on one side of it hold exactly one incoming particle
    (with two incoming particles); with one incoming particle every line is s-channel."""
    if len(initial_legs) < 2:
        return True
    return len(initial_legs.intersection(leg_set)) != 1


def set_partitions(items, n_blocks):
    """Partitions of ``items`` into ``n_blocks`` non-empty blocks, each once, deterministic order.

    >>> list(set_partitions([1, 2, 3], 2))
    [((1,), (2, 3)), ((1, 2), (3,)), ((1, 3), (2,))]
    """
    items = list(items)
    if n_blocks == 1:
        if items:
            yield (tuple(items),)
        return
    if len(items) < n_blocks:
        return
    first, rest = items[0], items[1:]
    # the block holding the first item: first + any subset of the rest, leaving enough for the others
    for size in range(0, len(rest) - n_blocks + 2):
        for companions in itertools.combinations(rest, size):
            block = (first,) + companions
            remaining = [x for x in rest if x not in companions]
            for others in set_partitions(remaining, n_blocks - 1):
                yield tuple(sorted((block,) + others))


def _vertex_index(model: Model) -> dict[tuple[str, ...], list[tuple[str, str]]]:
    """Map the sorted particles of all-but-one slot to (vertex, particle of the free slot)."""
    index: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
    for vertex in model.vertices:
        for free in dict.fromkeys(vertex.particles):
            others = list(vertex.particles)
            others.remove(free)
            index[tuple(sorted(others))].append((vertex.name, free))
    return dict(index)


def _assign_slots(particles, children, free_particle):
    """Put the free slot on the first slot holding ``free_particle`` and each child on the first
    free slot holding its particle; return (free slot, children in slot order)."""
    free_slot = particles.index(free_particle)
    remaining = list(children)
    ordered = []
    for slot, particle in enumerate(particles):
        if slot == free_slot:
            continue
        for i, child in enumerate(remaining):
            if child.offered == particle:
                ordered.append(remaining.pop(i))
                break
    assert not remaining
    return free_slot, tuple(ordered)


def _add_orders(children, vertex_orders) -> tuple[tuple[str, int], ...]:
    total: Counter = Counter(dict(vertex_orders))
    for child in children:
        total.update(dict(child.orders))
    return tuple(sorted((k, v) for k, v in total.items() if v))


def _within(orders, bounds) -> bool:
    return all(value <= bounds.get(name, value) for name, value in orders)


def _apply_order_selection(model: Model, diagrams, constraints):
    if constraints:
        return [d for d in diagrams
                if all(c.allows(d.order_dict.get(c.name, 0)) for c in constraints)]
    if not diagrams:
        return diagrams
    hierarchy = model.order_hierarchy()
    weights = [weighted_order(d.order_dict, hierarchy) for d in diagrams]
    minimum = min(weights)
    return [d for d, w in zip(diagrams, weights) if w == minimum]


def weighted_order(orders: dict[str, int], hierarchy: dict[str, int]) -> int:
    """MadGraph's WEIGHTED order: sum of each coupling order times its hierarchy."""
    return sum(value * hierarchy.get(name, 1) for name, value in orders.items())


def _common_orders(diagrams) -> tuple[tuple[str, int], ...]:
    maxima: Counter = Counter()
    for diagram in diagrams:
        for name, value in diagram.orders:
            maxima[name] = max(maxima[name], value)
    return tuple(sorted(maxima.items()))


def _with_antiparticles(model: Model, names) -> frozenset:
    found = set()
    for name in names:
        particle = model.particle(name)
        found.update((particle.name, particle.antiname))
    return frozenset(found)
