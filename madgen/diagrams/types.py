"""Tree-level Feynman diagrams as plain, hashable values.

A diagram is stored as a tree rooted at the vertex that holds the last external
leg. Every other line is a ``Current``: a subtree that covers a set of external
legs and offers one particle to the vertex above it.

Slot conventions follow UFO: slot ``k`` of a vertex holds an *outgoing* particle
``vertex.particles[k]``; an external leg fills the slot of its outgoing-convention
particle (itself if final state, its antiparticle if initial state). A line between
vertices A and B holds particle X in A's slot and X's antiparticle in B's slot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Leg:
    """An external leg. ``number`` is 1-based in process order; ``slot_particle`` is
    the particle it puts into a vertex slot (outgoing convention)."""

    number: int
    particle: str
    initial: bool
    slot_particle: str
    polarisation: str = ""  # MadGraph's label of a polarised final-state leg ('0' for 'w+{0}'), else ''


@dataclass(frozen=True)
class Current:
    """A subtree ending in a line toward the root.

    A leaf (``vertex is None``) is external leg ``leg``. Otherwise ``vertex`` joins
    ``children`` (in slot order, skipping ``offshell_slot``) and the line leaves
    through ``offshell_slot`` (0-based), carrying ``line_particle`` =
    ``vertex.particles[offshell_slot]`` away from the vertex. ``offered`` is the
    particle the slot above sees (the antiparticle of ``line_particle``; for a leaf,
    the leg's slot particle).
    """

    legs: tuple[int, ...]
    offered: str
    vertex: str | None = None
    offshell_slot: int = -1
    line_particle: str | None = None
    children: tuple["Current", ...] = ()
    orders: tuple[tuple[str, int], ...] = ()
    leg: int = 0

    @property
    def is_leaf(self) -> bool:
        return self.vertex is None

    def slot_children(self) -> tuple[tuple[int, "Current"], ...]:
        """(slot, child) pairs in slot order."""
        slots = []
        children = iter(self.children)
        for slot in range(len(self.children) + 1):
            if slot != self.offshell_slot:
                slots.append((slot, next(children)))
        return tuple(slots)

    def internal_currents(self):
        """This subtree's internal currents, children before parents."""
        for child in self.children:
            yield from child.internal_currents()
        if not self.is_leaf:
            yield self


@dataclass(frozen=True)
class Diagram:
    """One Feynman diagram: the root vertex and the subtree in each of its slots."""

    number: int  # 1-based, in generation order
    vertex: str
    slots: tuple[Current, ...]
    orders: tuple[tuple[str, int], ...]

    @property
    def order_dict(self) -> dict[str, int]:
        return dict(self.orders)

    def currents(self) -> tuple[Current, ...]:
        """Internal currents (propagators), children before parents."""
        found = []
        for child in self.slots:
            found.extend(child.internal_currents())
        return tuple(found)

    def vertices(self) -> tuple[tuple[str, tuple[Current, ...]], ...]:
        """Every vertex with the subtrees meeting there (root last)."""
        found = [(c.vertex, c.children) for c in self.currents()]
        found.append((self.vertex, self.slots))
        return tuple(found)
