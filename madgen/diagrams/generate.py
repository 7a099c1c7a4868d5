"""Generate all tree-level diagrams of a subprocess from the model's vertices.

Method: for every subset S of the legs other than the root (the last leg), the
currents of S are all the ways a vertex can join currents of a partition of S into
as many blocks as it has other slots; a diagram is a vertex holding the root leg
whose other slots hold currents partitioning all the remaining legs. Each diagram
arises exactly once because a partition of a set into blocks is unordered and the
vertex slots holding identical particles are interchangeable.

Coupling orders (``madgen.diagrams.orders``): user upper bounds prune currents as they are built;
with no constraints, MadGraph's default keeps only the diagrams of minimal WEIGHTED order (sum of
order x hierarchy); squared-order constraints then choose which interference terms enter |M|^2.
Required s-channels (``e+ e- > z > mu+ mu-``) and decay chains are structural selections
(``madgen.diagrams.chains``).
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable

from madgen.diagrams.orders import (
    OrderSelection,
    amplitude_constraints,
    check_order_names,
    order_value,
    squared_selection,
    weighted_order,
)
from madgen.diagrams.types import Current, Diagram, Leg
from madgen.errors import ProcessError
from madgen.model.types import Model
from madgen.process.syntax import OrderConstraint


@dataclass(frozen=True)
class Resonance:
    """A resonance the process string asks for: a decaying particle of a decay chain (``legs``: the
    final-state legs of its products, ``parent``: index of the decay it comes from) or a required
    s-channel (``required``; ``legs`` None when the diagrams put it on different legs)."""

    particle: str
    legs: tuple[int, ...] | None
    parent: int | None = None
    required: bool = False
    polarisation: str = ""  # a decayed particle's MadGraph label ('0' for 'w+{0}'), else ''


@dataclass(frozen=True)
class DiagramSet:
    """The diagrams of one subprocess, with the coupling orders actually used.

    ``selection``: the squared-order classes and the pairs of them that enter |M|^2;
    ``resonances``: the decay-chain resonances and required s-channels, in the order written;
    ``identical_factor``: the identical-particle denominator when it is not the final state's
    (decay chains, MadGraph's convention; ``madgen.process.decays``)."""

    legs: tuple[Leg, ...]
    diagrams: tuple[Diagram, ...]
    orders: tuple[tuple[str, int], ...]  # orders of the kept diagrams (all equal for default orders)
    selection: OrderSelection = OrderSelection()
    resonances: tuple[Resonance, ...] = ()
    identical_factor: int | None = None


def make_legs(model: Model, initial, final, polarisations: tuple[str, ...] = ()) -> tuple[Leg, ...]:
    """The legs of ``initial > final``, with the ``polarisations`` of the legs (per leg; empty: none)."""
    legs = []
    for number, name in enumerate(list(initial) + list(final), start=1):
        is_initial = number <= len(initial)
        slot = model.particle(name).antiname if is_initial else name
        legs.append(Leg(number, name, is_initial, slot, polarisations[number - 1] if polarisations else ""))
    return tuple(legs)


def generate_diagrams(model: Model, legs: tuple[Leg, ...], constraints: tuple[OrderConstraint, ...] = (),
                      excluded: tuple[str, ...] = (), forbidden_s_channel: tuple[str, ...] = (),
                      process_text: str = "", *, squared_orders: tuple[OrderConstraint, ...] = (),
                      required_s_channels: tuple[tuple[str, ...], ...] = (), decays=(),
                      core_final: tuple[str, ...] = (), core_polarisations: tuple[str, ...] = ()) -> DiagramSet:
    """All diagrams for ``legs`` under the given constraints (see module docstring).

    ``required_s_channels``: per required propagator, the particles that may fill it;
    ``decays``/``core_final``: the decay chain (``madgen.process.decays.Decay``) and the production
    process's final state (with the ``core_polarisations`` of its particles), for a process with decays."""
    where = f"process '{process_text}'"
    check_order_names(model, constraints, where)
    check_order_names(model, squared_orders, where, squared=True)
    if decays:
        from madgen.diagrams.chains import chain_diagrams

        return chain_diagrams(model, legs, constraints, excluded, forbidden_s_channel, process_text,
                              squared_orders, required_s_channels, decays, core_final, core_polarisations)
    amplitude, weighted_default = amplitude_constraints(tuple(constraints), tuple(squared_orders))
    excluded_names = with_antiparticles(model, excluded)
    forbidden_names = model_names(model, forbidden_s_channel)  # '$$' is signed: no antiparticles
    initial_legs = frozenset(leg.number for leg in legs if leg.initial)

    def allowed_line(particle: str, leg_set: frozenset) -> bool:
        if particle in excluded_names:
            return False
        if is_s_channel(leg_set, initial_legs) and \
                toward_final_state(model, particle, leg_set, initial_legs) in forbidden_names:
            return False
        return model.particle(particle).propagating

    diagrams = enumerate_diagrams(model, legs, upper_bounds(amplitude), allowed_line)
    resonances = ()
    if required_s_channels:
        from madgen.diagrams.chains import required_resonances, with_required_s_channels

        diagrams = with_required_s_channels(model, diagrams, legs, required_s_channels)
    diagrams = select_amplitude_orders(model, diagrams, amplitude, weighted_default)
    if not diagrams:
        detail = f" with {' '.join(str(c) for c in constraints)}" if constraints else ""
        if required_s_channels:
            detail += " with the required s-channel " + " and ".join("/".join(n) for n in required_s_channels)
        if excluded:
            detail += " without " + ", ".join(map(repr, excluded)) + " on internal lines (/)"
        if forbidden_s_channel:
            detail += " without " + ", ".join(map(repr, forbidden_s_channel)) + " in s-channels ($$)"
        raise ProcessError(f"{where}: no tree-level diagrams in model '{model.name}'{detail}")
    diagrams, selection = apply_squared_orders(model, diagrams, squared_orders, where)
    if required_s_channels:
        resonances = required_resonances(model, diagrams, legs, required_s_channels)
    return DiagramSet(legs, tuple(diagrams), _common_orders(diagrams), selection, resonances)


def enumerate_diagrams(model: Model, legs: tuple[Leg, ...], bounds: dict[str, int],
                       allowed_line: Callable[[str, frozenset], bool],
                       allowed_set: Callable[[frozenset], bool] = lambda leg_set: True) -> list[Diagram]:
    """Every tree diagram whose lines pass ``allowed_line(particle, legs on its far side)`` and whose
    currents all cover leg sets passing ``allowed_set``, pruned by the upper ``bounds`` on orders
    (numbered 0; ``renumber`` numbers them)."""
    hierarchy = model.order_hierarchy()
    vertex_index = _vertex_index(model)
    vertex_by_name = {v.name: v for v in model.vertices}
    root = legs[-1]
    leaves = {leg.number: Current(legs=(leg.number,), offered=leg.slot_particle, leg=leg.number) for leg in legs}

    @functools.lru_cache(maxsize=None)
    def currents(leg_set: frozenset) -> tuple[Current, ...]:
        if len(leg_set) == 1:
            return (leaves[next(iter(leg_set))],)
        if not allowed_set(leg_set):
            return ()
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
                        if not _within(orders, bounds, hierarchy):
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
                    if not _within(orders, bounds, hierarchy):
                        continue
                    slot, ordered = _assign_slots(vertex.particles, children, free_particle)
                    slots = list(ordered)
                    slots.insert(slot, leaves[root.number])
                    diagrams.append(Diagram(0, vertex_name, tuple(slots), orders))
    return diagrams


def upper_bounds(constraints) -> dict[str, int]:
    """Upper bounds on orders that can prune currents while they are built (orders only grow)."""
    return {c.name: c.value for c in constraints if c.op in ("<=", "==")}


def select_amplitude_orders(model: Model, diagrams, constraints, weighted_default: bool) -> list[Diagram]:
    """The amplitude-level order selection: the constraints, else (MadGraph's default) the diagrams
    of minimal WEIGHTED order."""
    hierarchy = model.order_hierarchy()
    if constraints:
        return [d for d in diagrams
                if all(c.allows(order_value(d.order_dict, c.name, hierarchy)) for c in constraints)]
    if not diagrams or not weighted_default:
        return list(diagrams)
    weights = [weighted_order(d.order_dict, hierarchy) for d in diagrams]
    minimum = min(weights)
    return [d for d, w in zip(diagrams, weights) if w == minimum]


def apply_squared_orders(model: Model, diagrams, squared, where: str) -> tuple[list[Diagram], OrderSelection]:
    """Keep the diagrams that enter an allowed interference term; number them from 1."""
    keep, selection = squared_selection([d.order_dict for d in diagrams], tuple(squared),
                                        model.order_hierarchy(), where)
    kept = [d for d, flag in zip(diagrams, keep) if flag]
    return [Diagram(i + 1, d.vertex, d.slots, d.orders) for i, d in enumerate(kept)], selection


def is_s_channel(leg_set, initial_legs: frozenset) -> bool:
    """A line is s-channel unless the legs on one side of it hold exactly one incoming particle
    (with two incoming particles); with one incoming particle every line is s-channel."""
    if len(initial_legs) < 2:
        return True
    return len(initial_legs.intersection(leg_set)) != 1


def toward_final_state(model: Model, line_particle: str, leg_set: frozenset, initial_legs: frozenset) -> str:
    """The particle an s-channel line carries toward the final state (MadGraph's signed s-channel id,
    which '$$', '$' and '> x >' match): the line's own particle when its legs hold the incoming ones,
    else its antiparticle (the line then flows from the final-state legs ``leg_set`` toward the rest)."""
    return line_particle if leg_set & initial_legs else model.particle(line_particle).antiname


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


def _within(orders, bounds, hierarchy) -> bool:
    if not bounds:
        return True
    values = dict(orders)
    return all(order_value(values, name, hierarchy) <= bound for name, bound in bounds.items())


def _common_orders(diagrams) -> tuple[tuple[str, int], ...]:
    maxima: Counter = Counter()
    for diagram in diagrams:
        for name, value in diagram.orders:
            maxima[name] = max(maxima[name], value)
    return tuple(sorted(maxima.items()))


def model_names(model: Model, names) -> frozenset:
    """The model's own names of ``names`` (a particle as written may be an alias)."""
    return frozenset(model.particle(name).name for name in names)


def with_antiparticles(model: Model, names) -> frozenset:
    found = set()
    for name in names:
        particle = model.particle(name)
        found.update((particle.name, particle.antiname))
    return frozenset(found)
