"""Fermion flow through a diagram: chains, orientation, flipped vertices and the sign.

Each vertex pairs its fermion slots as UFO does: consecutive fermion slots form a
pair (ket, bra) — the first of a pair is the *ket* slot (the flow enters the vertex
there), the second the *bra* slot (the flow leaves). A chain is the path of fermion
lines linked through vertex pairs, from an external *ket end* (where the flow
starts) to an external *bra end*.

Orientation (Denner et al., Nucl. Phys. B387 (1992) 467): a chain follows fermion
number if it holds any Dirac fermion (the first Dirac pair met decides); a chain of
Majorana fermions only flows from its lower-numbered external leg to the higher.
Where the flow enters a pair through its bra slot, that vertex pair is *flipped*
(its structure is replaced by the charge-conjugated one). The diagram's sign is the
parity of the permutation taking (bra end, ket end) of every chain to leg order.
"""

from __future__ import annotations

from dataclasses import dataclass

from madgen.diagrams.types import Current, Diagram
from madgen.model.types import Model, Spin


@dataclass(frozen=True)
class FermionFlow:
    """Fermion-flow facts of one diagram.

    ``flips`` maps a vertex occurrence (the ``Current`` it makes, or ``None`` for the
    root) to the 1-based numbers of its flipped fermion pairs; ``ket_ends`` and
    ``bra_ends`` are the external legs where chains start and end.
    """

    sign: int
    ket_ends: frozenset[int]
    bra_ends: frozenset[int]
    flips: tuple[tuple[object, tuple[int, ...]], ...]

    def flipped_pairs(self, occurrence) -> tuple[int, ...]:
        for key, pairs in self.flips:
            if key == occurrence:
                return pairs
        return ()


def fermion_pairs(model: Model, vertex_name: str) -> tuple[tuple[int, int], ...]:
    """(ket slot, bra slot) pairs of a vertex, 0-based, in UFO order."""
    vertex = model.vertex(vertex_name)
    slots = [i for i, name in enumerate(vertex.particles) if model.particle(name).spin is Spin.FERMION]
    return tuple((slots[i], slots[i + 1]) for i in range(0, len(slots) - 1, 2))


def analyse_fermion_flow(model: Model, diagram: Diagram) -> FermionFlow:
    """Chains, orientation, flips and sign of ``diagram`` (see module docstring)."""
    # Graph: vertex occurrences (a Current for internal vertices, None for the root) and the
    # lines in each slot: ('leg', n) for external legs, ('line', current) for internal lines.
    occurrences = [(current, current.vertex, _slot_lines(current)) for current in diagram.currents()]
    occurrences.append((None, diagram.vertex, tuple(_line_of(c) for c in diagram.slots)))
    # each internal line joins the vertex that makes it (its current) and the vertex above it
    line_ends: dict = {}
    for occ, vertex_name, lines in occurrences:
        for slot, line in enumerate(lines):
            line_ends.setdefault(line, []).append((occ, slot))
    pair_of: dict = {}  # (occurrence, slot) -> (other slot, pair number, is_ket_slot)
    is_dirac_pair: dict = {}
    for occ, vertex_name, lines in occurrences:
        vertex = model.vertex(vertex_name)
        for number, (ket, bra) in enumerate(fermion_pairs(model, vertex_name), start=1):
            pair_of[(occ, ket)] = (bra, number, True)
            pair_of[(occ, bra)] = (ket, number, False)
            dirac = not (model.particle(vertex.particles[ket]).majorana
                         and model.particle(vertex.particles[bra]).majorana)
            is_dirac_pair[(occ, number)] = dirac
    lines_of = {occ: lines for occ, _, lines in occurrences}

    visited_legs: set[int] = set()
    chains = []  # list of (ket_end, bra_end, [(occ, pair number, entered_via_ket)])
    for start_leg in sorted(n for (kind, n) in line_ends if kind == "leg"):
        line = ("leg", start_leg)
        if start_leg in visited_legs or (line_ends[line][0][0], line_ends[line][0][1]) not in pair_of:
            continue
        path = []
        occ, slot = line_ends[line][0]
        while True:
            other, number, via_ket = pair_of[(occ, slot)]
            path.append((occ, number, via_ket))
            next_line = lines_of[occ][other]
            if next_line[0] == "leg":
                end_leg = next_line[1]
                break
            occ, slot = next(end for end in line_ends[next_line] if end != (occ, other))
        visited_legs.update((start_leg, end_leg))
        chains.append(_orient(start_leg, end_leg, path, is_dirac_pair))

    sequence = []
    flips: dict = {}
    for ket_end, bra_end, oriented in chains:
        sequence.extend((bra_end, ket_end))
        for occ, number, via_ket in oriented:
            if not via_ket:
                flips.setdefault(occ, []).append(number)
    flip_items = tuple((occ, tuple(sorted(pairs))) for occ, pairs in flips.items())
    return FermionFlow(
        sign=_parity(sequence),
        ket_ends=frozenset(k for k, _, _ in chains),
        bra_ends=frozenset(b for _, b, _ in chains),
        flips=flip_items,
    )


def _orient(start_leg, end_leg, path, is_dirac_pair):
    """Orient a chain walked from ``start_leg``: returns (ket end, bra end, path in flow order)
    with each step's ``via_ket`` telling whether the flow enters that pair through its ket slot."""
    forward = None
    for occ, number, via_ket in path:
        if is_dirac_pair[(occ, number)]:
            forward = via_ket
            break
    if forward is None:  # pure Majorana chain: flow from the lower-numbered leg
        forward = start_leg < end_leg
    if forward:
        return start_leg, end_leg, path
    return end_leg, start_leg, [(occ, number, not via_ket) for occ, number, via_ket in reversed(path)]


def _slot_lines(current: Current):
    lines = []
    for slot, child in current.slot_children():
        lines.append((slot, _line_of(child)))
    lines.append((current.offshell_slot, ("line", current)))
    return tuple(line for _, line in sorted(lines, key=lambda item: item[0]))


def _line_of(current: Current):
    return ("leg", current.leg) if current.is_leaf else ("line", current)


def _parity(sequence) -> int:
    sign = 1
    items = list(sequence)
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if items[i] > items[j]:
                sign = -sign
    return sign
