"""Structural selections of diagrams: decay chains and required s-channels, as MadGraph has them.

**Decay chains** (``p p > t t~, t > b w+``). MadGraph builds the production and the decays as
separate amplitudes and glues every production diagram to every decay diagram. The glued
diagrams are exactly the diagrams of the whole process in which, for every decay ``X > D``,
one propagator carries ``X`` with the legs ``D`` (the products, decayed ones replaced by theirs)
on one side and everything else on the other. So madgen enumerates the whole process with that
structure imposed while currents are built (a current must not straddle a decay: its legs lie
inside ``D``, contain it, or avoid it), then splits every diagram into its *parts*, the
production and each decay (a vertex belongs to the innermost decay whose side it is on), and
applies each part's own coupling orders (MadGraph's default: minimal WEIGHTED per part), ``/``
and ``$``. The decay propagator is s-channel and keeps its width: a Breit–Wigner, as in
MadGraph. Squared-order constraints apply to the whole amplitude.

**Required s-channels** (``e+ e- > z > mu+ mu-``): only the diagrams with an s-channel
propagator of that particle, flowing from the initial to the final state, in the production.

Orientation: a current covering the legs ``L`` offers ``current.offered`` to the vertex above it
(UFO's outgoing convention); if ``L`` holds no initial-state leg, the particle that flows out to
the final-state legs ``L`` is ``offered``, otherwise (the final-state side is the other one) it is
``line_particle``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from madgen.diagrams.generate import (
    DiagramSet,
    Resonance,
    apply_squared_orders,
    enumerate_diagrams,
    generate_diagrams,
    is_s_channel,
    make_legs,
    model_names,
    with_antiparticles,
)
from madgen.diagrams.orders import (
    amplitude_constraints,
    check_order_names,
    order_value,
    weighted_order,
)
from madgen.diagrams.types import Current, Diagram, Leg
from madgen.errors import ProcessError
from madgen.model.types import Model
from madgen.process.decays import Decay, flatten, identical_particle_factor


def s_channel_particle(current: Current, initial_legs: frozenset) -> str | None:
    """The particle an s-channel line carries toward the final state (``toward_final_state``); None for a
    t-channel line."""
    legs = frozenset(current.legs)
    if not is_s_channel(legs, initial_legs):
        return None
    return current.line_particle if legs & initial_legs else current.offered


def final_side(current: Current, all_legs: frozenset, initial_legs: frozenset) -> tuple[int, ...]:
    """The final-state legs on the far side of an s-channel line."""
    legs = frozenset(current.legs)
    return tuple(sorted(all_legs - legs if legs & initial_legs else legs))


def with_required_s_channels(model: Model, diagrams, legs: tuple[Leg, ...], required) -> list[Diagram]:
    """The diagrams with, for each required entry, an s-channel propagator of one of its particles."""
    initial = frozenset(leg.number for leg in legs if leg.initial)
    return [d for d in diagrams if _has_required(d.currents(), initial, required)]


def _has_required(currents, initial: frozenset, required) -> bool:
    carried = {s_channel_particle(c, initial) for c in currents}
    return all(carried & set(names) for names in required)


def required_resonances(model: Model, diagrams, legs: tuple[Leg, ...], required,
                        lines_of=None) -> tuple[Resonance, ...]:
    """One ``Resonance`` per required s-channel: the particle of its first propagator and its
    final-state legs when every diagram has them the same (else None)."""
    initial = frozenset(leg.number for leg in legs if leg.initial)
    all_legs = frozenset(leg.number for leg in legs)
    found = []
    for names in required:
        particles, sides = [], set()
        for diagram in diagrams:
            currents = lines_of(diagram) if lines_of else diagram.currents()
            match = next(c for c in currents if s_channel_particle(c, initial) in names)
            particles.append(s_channel_particle(match, initial))
            sides.add(final_side(match, all_legs, initial))
        found.append(Resonance(particles[0], sides.pop() if len(sides) == 1 else None, None, True))
    return tuple(found)


@dataclass(frozen=True)
class _Split:
    """The line of a decay ``particle > legs``: ``side`` is its side that does not hold the root leg
    (a current covering exactly ``side`` is that line), ``root_inside`` whether the root is a product."""

    particle: str
    legs: frozenset
    side: frozenset
    root_inside: bool

    @classmethod
    def of(cls, decay: Decay, all_legs: frozenset, root: int) -> "_Split":
        legs = frozenset(decay.legs)
        inside = root in legs
        return cls(decay.particle, legs, all_legs - legs if inside else legs, inside)

    def compatible(self, leg_set: frozenset) -> bool:
        """A current must not straddle the decay."""
        return leg_set <= self.side or self.side <= leg_set or not (leg_set & self.side)

    def carries(self, model: Model, line_particle: str) -> bool:
        """Whether the line of ``line_particle`` covering ``side`` is the decaying particle."""
        offered = model.particle(line_particle).antiname
        return (line_particle if self.root_inside else offered) == self.particle

    def holds(self, leg_set) -> bool:
        """Whether the vertex of a current covering ``leg_set`` is on the decay's side."""
        leg_set = frozenset(leg_set)
        return leg_set <= self.legs if not self.root_inside else not leg_set <= self.side


@dataclass(frozen=True)
class _Part:
    """The production process (index 0) or one decay: its own constraints, '/' and '$$'."""

    text: str
    constraints: tuple
    excluded: frozenset
    forbidden: frozenset
    squared: tuple = ()


def chain_diagrams(model: Model, legs: tuple[Leg, ...], constraints, excluded, forbidden_s_channel,
                   process_text: str, squared_orders, required_s_channels, decays: tuple[Decay, ...],
                   core_final: tuple[str, ...], core_polarisations: tuple[str, ...] = ()) -> DiagramSet:
    """The diagrams of a process with a decay chain (module docstring)."""
    where = f"process '{process_text}'"
    nodes = flatten(decays)
    for decay, _ in nodes:
        check_order_names(model, decay.spec.orders, f"{where}, decay '{decay.spec.text}'")
        _check_decay_alone(model, decay, where)
    all_legs = frozenset(leg.number for leg in legs)
    initial = frozenset(leg.number for leg in legs if leg.initial)
    splits = [_Split.of(decay, all_legs, legs[-1].number) for decay, _ in nodes]
    parts = [_Part(process_text, tuple(constraints), with_antiparticles(model, excluded),
                   model_names(model, forbidden_s_channel), tuple(squared_orders))]
    parts += [_Part(decay.spec.text, decay.spec.orders, with_antiparticles(model, decay.excluded),
                    model_names(model, decay.forbidden_s_channel)) for decay, _ in nodes]

    def allowed_set(leg_set: frozenset) -> bool:
        return all(split.compatible(leg_set) for split in splits)

    def allowed_line(particle: str, leg_set: frozenset) -> bool:
        for split in splits:
            if leg_set == split.side:
                return split.carries(model, particle)
        return model.particle(particle).propagating

    candidates = enumerate_diagrams(model, legs, {}, allowed_line, allowed_set)
    diagrams = []
    part_orders = []
    for diagram in candidates:
        analysed = _analyse(model, diagram, splits, parts, initial, required_s_channels)
        if analysed is not None:
            diagrams.append(diagram)
            part_orders.append(analysed)
    for index, part in enumerate(parts):
        diagrams, part_orders = _select_part(model, diagrams, part_orders, index, part)
    if not diagrams:
        raise ProcessError(f"{where}: no tree-level diagrams in model '{model.name}' for the production "
                           f"'{process_text.split(',')[0]}' with its decays{_constraints_text(parts)}")
    diagrams, selection = apply_squared_orders(model, diagrams, squared_orders, where)
    resonances = ()
    if required_s_channels:
        resonances = required_resonances(model, diagrams, legs, required_s_channels,
                                         lambda d: _core_lines(d, splits))
    offset = len(resonances)
    resonances += tuple(Resonance(decay.particle, decay.legs, None if parent is None else parent + offset,
                                  polarisation=decay.polarisation) for decay, parent in nodes)
    orders = _max_orders(diagrams)
    return DiagramSet(legs, tuple(diagrams), orders, selection, resonances,
                      identical_particle_factor(core_final, decays, core_polarisations))


def _analyse(model: Model, diagram: Diagram, splits, parts, initial: frozenset, required):
    """Orders of each part of ``diagram``, or None when it lacks a decay line or a part's ``/``, ``$``
    or the required s-channels exclude it."""
    currents = diagram.currents()
    sides = {frozenset(c.legs) for c in currents}
    if not all(split.side in sides for split in splits):
        return None
    orders = [Counter() for _ in parts]
    core_lines = []
    for current in currents:
        part = _part_of(current.legs, splits)
        orders[part].update(dict(model.vertex(current.vertex).orders))
        if frozenset(current.legs) in {split.side for split in splits}:
            continue  # a decaying particle's own line
        particle = current.line_particle
        if particle in parts[part].excluded:
            return None
        if s_channel_particle(current, initial) in parts[part].forbidden:  # '$$' is signed, as MadGraph's
            return None
        if part == 0:
            core_lines.append(current)
    root_part = _innermost([i for i, split in enumerate(splits) if split.root_inside], splits)
    orders[root_part].update(dict(model.vertex(diagram.vertex).orders))
    if required and not _has_required(core_lines, initial, required):
        return None
    return tuple(dict(counter) for counter in orders)


def _part_of(leg_set, splits) -> int:
    return _innermost([i for i, split in enumerate(splits) if split.holds(leg_set)], splits)


def _innermost(indices, splits) -> int:
    """Part index (0: production, i + 1: decay i) of the innermost of the decays ``indices``."""
    if not indices:
        return 0
    return min(indices, key=lambda i: len(splits[i].legs)) + 1


def _core_lines(diagram: Diagram, splits) -> list[Current]:
    sides = {split.side for split in splits}
    return [c for c in diagram.currents() if frozenset(c.legs) not in sides and _part_of(c.legs, splits) == 0]


def _select_part(model: Model, diagrams, part_orders, index: int, part: _Part):
    """The amplitude-order selection of one part (its constraints, else its minimal WEIGHTED)."""
    amplitude, weighted_default = amplitude_constraints(part.constraints, part.squared)
    hierarchy = model.order_hierarchy()
    if amplitude:
        keep = [all(c.allows(order_value(orders[index], c.name, hierarchy)) for c in amplitude)
                for orders in part_orders]
    elif weighted_default and diagrams:
        weights = [weighted_order(orders[index], hierarchy) for orders in part_orders]
        keep = [w == min(weights) for w in weights]
    else:
        keep = [True] * len(diagrams)
    return ([d for d, k in zip(diagrams, keep) if k], [o for o, k in zip(part_orders, keep) if k])


def _check_decay_alone(model: Model, decay: Decay, where: str) -> None:
    """A decay with no diagram of its own is an error naming it (before the whole process is built)."""
    legs = make_legs(model, (decay.particle,), decay.products)
    text = f"{decay.particle} > {' '.join(decay.products)}"
    try:
        generate_diagrams(model, legs, decay.spec.orders, decay.excluded, decay.forbidden_s_channel, text)
    except ProcessError:
        orders = f" with {' '.join(str(c) for c in decay.spec.orders)}" if decay.spec.orders else ""
        raise ProcessError(f"{where}: the decay '{text}' has no tree-level diagram in model '{model.name}'"
                           f"{orders} (no vertex joins them); check the decay products") from None


def _constraints_text(parts) -> str:
    texts = [f"'{p.text}': {' '.join(str(c) for c in p.constraints)}" for p in parts if p.constraints]
    return f" (orders {'; '.join(texts)})" if texts else ""


def _max_orders(diagrams) -> tuple[tuple[str, int], ...]:
    maxima: Counter = Counter()
    for diagram in diagrams:
        for name, value in diagram.orders:
            maxima[name] = max(maxima[name], value)
    return tuple(sorted(maxima.items()))
