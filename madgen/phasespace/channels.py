"""Single-diagram-enhanced multichannel phase space: one channel per Feynman diagram (MadGraph style).

A diagram's propagators are read as bipartitions of the external legs. Those with exactly one
incoming leg on a side are t-channel: they form a chain from incoming leg a (along +z in the CM
frame) to incoming leg b (along -z). The final-state legs hang off the chain in groups, each an
s-channel ``System`` (a tree of s-channel propagators, or a single leg). A diagram without t-channel
propagators is one system of mass sqrt_s.

This module reads the structure (frozen ``DiagramChannel`` values); ``generate.py`` turns a channel
and uniform numbers into momenta and weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import jax.numpy as jnp

from madgen.phasespace.generate import ZERO, generate_channel


class ChannelError(ValueError):
    """A diagram that cannot be read as a tree of s- and t-channel propagators."""


@dataclass(frozen=True)
class Propagator:
    """An internal line: its name, particle, and UFO mass and width parameter names ("ZERO" for 0)."""

    line: str
    particle: str
    mass: str
    width: str

    @property
    def resonant(self) -> bool:
        """True for a propagator with a mass and a width: Breit-Wigner sampled."""
        return self.mass != ZERO and self.width != ZERO


@dataclass(frozen=True)
class System:
    """An s-channel system of final-state legs: an external leg (no children) or a binary decay.

    ``propagator`` is None for an external leg, for a whole final state without propagator, and for
    the pseudo-systems that split the 3 children of a 4-point vertex into two decays (flat in s).
    """

    legs: tuple[int, ...]
    children: tuple["System", ...] = ()
    propagator: Propagator | None = None

    @property
    def external(self) -> bool:
        return not self.children

    def internal_nodes(self) -> int:
        """Number of binary decays in this system's tree."""
        return 0 if self.external else 1 + sum(c.internal_nodes() for c in self.children)

    def signature(self):
        """Hashable structure that fixes the mapping (leg sets, masses and widths), not particle names."""
        if self.external:
            return self.legs
        prop = (self.propagator.mass, self.propagator.width) if self.propagator else None
        return (self.legs, prop, tuple(c.signature() for c in self.children))


@dataclass(frozen=True)
class DiagramChannel:
    """The phase-space channel of one diagram; call it as ``channel(x, sqrt_s, masses, parameters)``.

    ``legs``: all leg numbers in process order; ``incoming``: (a, b), a along +z; ``t_chain``: t-channel
    propagators from a to b; ``systems``: the len(t_chain) + 1 systems hanging off the chain from a to
    b (without t-channel propagators: the single system of all final-state legs).
    """

    diagram: int
    legs: tuple[int, ...]
    incoming: tuple[int, int]
    t_chain: tuple[Propagator, ...]
    systems: tuple[System, ...]

    @property
    def n_final(self) -> int:
        return len(self.legs) - 2

    @property
    def ndim(self) -> int:
        """Random numbers per point: 3 n_final - 4 (2 per decay and t step, 1 per sampled mass)."""
        if not self.t_chain:
            nodes = self.systems[0].internal_nodes()
            return 2 * nodes + (nodes - 1)
        m = len(self.t_chain)
        composite = [s for s in self.systems if not s.external]
        return 2 * m + (m - 1) + sum(3 * s.internal_nodes() for s in composite)

    @property
    def signature(self):
        """Channels with equal signatures generate identical points and weights."""
        return (self.incoming, tuple((p.mass, p.width) for p in self.t_chain),
                tuple(s.signature() for s in self.systems))

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """UFO names of the masses and widths this channel needs at run time."""
        names = []

        def visit(system):
            if system.propagator is not None:
                names.extend([system.propagator.mass, system.propagator.width])
            for child in system.children:
                visit(child)

        for p in self.t_chain:
            names.append(p.mass)
        if self.t_chain:
            for s in self.systems:
                visit(s)
        else:  # the root's mass is sqrt_s: its propagator is not sampled
            for s in self.systems[0].children:
                visit(s)
        return tuple(dict.fromkeys(n for n in names if n != ZERO))

    @property
    def root_propagator(self) -> Propagator | None:
        """The s-channel propagator carrying the whole final state (its mass is sqrt(s-hat)), if any."""
        return None if self.t_chain else self.systems[0].propagator

    def __call__(self, x, sqrt_s, masses, parameters: Mapping | None = None, windows: Mapping | None = None,
                 jet_pt: Mapping | None = None):
        return generate_channel(self, x, sqrt_s, masses, parameters, windows, jet_pt)




def _leg_numbers(diagram_data) -> tuple[tuple[int, ...], tuple[int, int]]:
    legs = tuple(int(leg["number"]) for leg in diagram_data["legs"])
    incoming = tuple(int(leg["number"]) for leg in diagram_data["legs"] if leg["initial"])
    if len(incoming) != 2:
        raise ChannelError(f"phase-space channels need a 2 -> n process; legs {legs} have incoming {incoming}")
    if len(legs) < 4:
        raise ChannelError(f"phase-space channels need at least 2 final-state legs; got legs {legs}")
    return legs, incoming


def _maximal(sets, inside):
    """The maximal sets of ``sets`` strictly inside ``inside``, plus singletons of the legs they leave."""
    candidates = [s for s in sets if s < inside]
    maximal = [s for s in candidates if not any(s < t for t in candidates)]
    covered = frozenset()
    for s in maximal:
        if covered & s:
            raise ChannelError(f"overlapping s-channel propagators {sorted(covered)} and {sorted(s)}")
        covered |= s
    return sorted(maximal + [frozenset([leg]) for leg in inside - covered], key=min)


def _binary(children: list[System]) -> tuple[System, System]:
    """Split k >= 2 children into two: extra children (4-point vertices) go into flat pseudo-systems."""
    if len(children) == 2:
        return tuple(children)
    head = children[:-1]
    legs = tuple(sorted(leg for c in head for leg in c.legs))
    return System(legs, _binary(head), None), children[-1]


def _system(legs: frozenset, clusters: Mapping, context: str) -> System:
    """The s-channel tree of ``legs`` from the clusters (leg sets) of the diagram's propagators."""
    if len(legs) == 1:
        return System(tuple(legs))
    children = [_system(c, clusters, context) for c in _maximal(clusters, legs)]
    if len(children) < 2:
        raise ChannelError(f"{context}: s-channel system {sorted(legs)} has fewer than two children")
    return System(tuple(sorted(legs)), _binary(children), clusters.get(legs))


def channel_from_diagram(diagram: Mapping, diagram_data: Mapping) -> DiagramChannel:
    """Build the ``DiagramChannel`` of one diagram (an entry of ``diagram_data["diagrams"]``)."""
    legs, (a, b) = _leg_numbers(diagram_data)
    context = f"diagram {diagram.get('number', '?')}"
    finals = frozenset(legs) - {a, b}
    clusters: dict[frozenset, Propagator] = {}
    t_props: list[tuple[frozenset, Propagator]] = []
    for prop in diagram["propagators"]:
        side = frozenset(int(leg) for leg in prop["legs"])
        line = prop.get("line", "_".join(map(str, sorted(side))))
        if not side or not side <= frozenset(legs):
            raise ChannelError(f"{context}: propagator {line} has legs {sorted(side)} outside the process legs {legs}")
        p = Propagator(line, str(prop.get("particle", "?")), str(prop.get("mass", ZERO)), str(prop.get("width", ZERO)))
        t_channel = (a in side) != (b in side)
        if "s_channel" in prop and bool(prop["s_channel"]) == t_channel:
            raise ChannelError(f"{context}: propagator {line} is marked s_channel={prop['s_channel']} but its "
                               f"legs {sorted(side)} make it {'t' if t_channel else 's'}-channel")
        if t_channel:
            t_props.append(((side - {a}) if a in side else (finals - side), p))
            continue
        cluster = (finals - side) if a in side else side
        if len(cluster) < 2 or cluster in clusters:
            raise ChannelError(f"{context}: s-channel propagator {line} spans final legs {sorted(cluster)}")
        clusters[cluster] = p
    if not t_props:
        return DiagramChannel(int(diagram.get("number", 0)), legs, (a, b), (), (_system(finals, clusters, context),))
    t_props.sort(key=lambda item: len(item[0]))
    groups, previous = [], frozenset()
    for f1, p in t_props:
        if not previous < f1 or f1 == finals:
            raise ChannelError(f"{context}: t-channel propagators do not form a chain at {p.line}")
        groups.append(f1 - previous)
        previous = f1
    groups.append(finals - previous)
    for cluster in clusters:
        if not any(cluster <= g for g in groups):
            raise ChannelError(f"{context}: s-channel legs {sorted(cluster)} straddle the t-channel chain")
    systems = tuple(_system(g, clusters, context) for g in groups)
    return DiagramChannel(int(diagram.get("number", 0)), legs, (a, b), tuple(p for _, p in t_props), systems)


def multichannel_from_diagrams(diagram_data: Mapping) -> tuple[DiagramChannel, ...]:
    """One ``DiagramChannel`` per diagram of a process (``process.diagrams``), in diagram order."""
    return tuple(channel_from_diagram(d, diagram_data) for d in diagram_data["diagrams"])


def duplicate_groups(channels) -> tuple[tuple[int, ...], ...]:
    """Indices of channels grouped by identical mapping (same signature), in first-seen order."""
    groups: dict = {}
    for i, channel in enumerate(channels):
        groups.setdefault(channel.signature, []).append(i)
    return tuple(tuple(g) for g in groups.values())


def propagator_parameters(process, parameters: Mapping | None = None) -> dict:
    """Real values of the model's internal parameters (masses, widths, ...) of a loaded process.

    ``parameters`` overrides external parameters (may be traced JAX values, so gradients flow).
    """
    internal = process.internal_parameters(parameters)
    return {name: jnp.real(jnp.asarray(value)) for name, value in internal.items()}
