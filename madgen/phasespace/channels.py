"""Single-diagram-enhanced multichannel phase space: one generator per Feynman diagram (MadGraph style).

A diagram's propagators are read as bipartitions of the external legs. Those with exactly one
incoming leg on a side are t-channel: they form a chain from incoming leg a (along +z in the CM
frame) to incoming leg b (along -z). The final-state legs hang off the chain in groups, each an
s-channel ``System`` (a tree of s-channel propagators, or a single leg). A diagram without t-channel
propagators is one system of mass sqrt_s.

Generation, for 2 -> n at fixed sqrt_s with ndim = 3n - 4 random numbers:

* invariant masses of s-channel systems top-down, each within the range its parent's mass and its
  siblings' (chosen or minimal) masses leave: Breit-Wigner (arctan) map for a propagator with mass
  and width, a 1/(s + ε S) map for a massless one, flat otherwise (pseudo-systems of 4-point vertices);
* the t-channel chain as sequential 2 -> 2 steps (q_j + p_b -> k_j + R_{j+1}) with t_j = (q_j - k_j)²
  sampled with density ∝ 1/(A - t), A = max(M², t_max) + ε S, and a flat azimuth; the masses of the
  remaining systems R_j flat in s;
* isotropic two-body decays in the rest frame of every system.

The weight is the exact inverse density: E_x[f(p(x)) w(x)] = ∫ dΦ_n f with
dΦ_n = (2π)^(4-3n) Π d³p/(2E) δ⁴(P - Σp), for every channel. The flux factor is not included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import jax.numpy as jnp

from madgen.phasespace.kinematics import (beams_cm, boost, boost_to_rest, decay_two_body, from_angles, kallen,
                                          mass_squared, rotate_z_to, safe_sqrt)
from madgen.phasespace.mappings import breit_wigner_map, flat_map, log_map

REGULATOR = 1e-4
"""ε: 1/(s + ε S) and 1/(A - t) maps of massless propagators are regulated at the scale ε S, S = sqrt_s²."""

ZERO = "ZERO"


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
class Channel:
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

    def __call__(self, x, sqrt_s, masses, parameters: Mapping | None = None):
        return generate_channel(self, x, sqrt_s, masses, parameters)


# --------------------------------------------------------------------------- diagram -> Channel


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


def channel_from_diagram(diagram: Mapping, diagram_data: Mapping) -> Channel:
    """Build the ``Channel`` of one diagram (an entry of ``diagram_data["diagrams"]``)."""
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
        return Channel(int(diagram.get("number", 0)), legs, (a, b), (), (_system(finals, clusters, context),))
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
    return Channel(int(diagram.get("number", 0)), legs, (a, b), tuple(p for _, p in t_props), systems)


def multichannel_from_diagrams(diagram_data: Mapping) -> tuple[Channel, ...]:
    """One ``Channel`` per diagram of a process (``process.diagrams``), in diagram order."""
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


# --------------------------------------------------------------------------- generation


class _Columns:
    """Hands out the columns of x in order and checks that all were used."""

    def __init__(self, x, context):
        self.x, self.used, self.context = x, 0, context

    def next(self):
        if self.used >= self.x.shape[-1]:
            raise ValueError(f"{self.context}: ran out of random numbers after {self.used}")
        self.used += 1
        return self.x[..., self.used - 1]


def _value(parameters, name, context):
    if name == ZERO:
        return jnp.asarray(0.0)
    if parameters is None or name not in parameters:
        raise KeyError(f"{context} needs parameter '{name}'; pass parameters with it "
                       "(e.g. madgen.phasespace.propagator_parameters(process))")
    return jnp.real(jnp.asarray(parameters[name]))


def generate_channel(channel: Channel, x, sqrt_s, masses, parameters: Mapping | None = None):
    """Momenta (batch, n_legs, 4) of all legs in process order in the CM frame, and weights (batch,).

    ``x``: (batch, channel.ndim) in [0, 1); ``sqrt_s``: scalar; ``masses``: (n_legs,) masses of all legs
    in process order (e.g. ``process.masses()``); ``parameters``: UFO name -> value for the propagator
    masses and widths (``propagator_parameters(process)``), JAX values welcome.
    """
    context = f"phase-space channel of diagram {channel.diagram}"
    x = jnp.asarray(x, dtype=jnp.float64)
    if x.shape[-1] != channel.ndim:
        raise ValueError(f"{context}: x has {x.shape[-1]} random numbers per point, the channel needs {channel.ndim}")
    masses = jnp.asarray(masses, dtype=jnp.float64)
    if masses.shape[-1] != len(channel.legs):
        raise ValueError(f"{context}: got {masses.shape[-1]} masses for {len(channel.legs)} legs")
    sqrt_s = jnp.asarray(sqrt_s, dtype=jnp.float64)
    batch = x.shape[:-1]
    s_total = sqrt_s**2
    leg_mass = {leg: masses[..., i] for i, leg in enumerate(channel.legs)}
    columns = _Columns(x, context)
    weight = jnp.ones(batch)
    masses_of: dict[tuple[int, ...], jnp.ndarray] = {}

    def min_mass(system):
        return sum(leg_mass[leg] for leg in system.legs)

    def sample_s(system, u, lo, hi):
        prop = system.propagator
        if prop is None or (prop.mass != ZERO and prop.width == ZERO):
            return flat_map(u, lo, hi)
        if prop.mass == ZERO:
            return log_map(u, lo, hi, REGULATOR * s_total)
        mass, width = _value(parameters, prop.mass, context), _value(parameters, prop.width, context)
        return breit_wigner_map(u, lo, hi, mass, width)

    def sample_masses(parent_mass, children):
        """Masses of composite children, resonances first, each within what the others leave."""
        nonlocal weight
        for child in children:
            if child.external:
                masses_of[child.legs] = leg_mass[child.legs[0]]
        composite = [c for c in children if not c.external]
        order = sorted(composite, key=lambda c: not (c.propagator and c.propagator.resonant))
        for child in order:
            others = sum(masses_of[c.legs] if c.legs in masses_of else min_mass(c) for c in children if c is not child)
            lo = min_mass(child)
            hi = jnp.maximum(parent_mass - others, lo)
            s, jac = sample_s(child, columns.next(), lo**2, hi**2)
            masses_of[child.legs] = safe_sqrt(s)
            weight = weight * jac / (2 * jnp.pi)
        for child in order:
            sample_masses(masses_of[child.legs], child.children)

    momenta: dict[int, jnp.ndarray] = {}

    def decay(system, momentum):
        """Isotropic two-body decays down the system's tree."""
        nonlocal weight
        if system.external:
            momenta[system.legs[0]] = momentum
            return
        c1, c2 = system.children
        m0, m1, m2 = masses_of[system.legs], masses_of[c1.legs], masses_of[c2.legs]
        cos_theta = 2.0 * columns.next() - 1.0
        phi = 2.0 * jnp.pi * columns.next()
        p1, p2 = decay_two_body(momentum, m1, m2, cos_theta, phi)
        safe_m0 = jnp.where(m0 > 0, m0, 1.0)
        weight = weight * safe_sqrt(kallen(m0**2, m1**2, m2**2)) / (8.0 * jnp.pi * safe_m0**2)
        decay(c1, p1)
        decay(c2, p2)

    ia, ib = channel.legs.index(channel.incoming[0]), channel.legs.index(channel.incoming[1])
    beams = beams_cm(sqrt_s, masses[..., ia], masses[..., ib])
    p_a = jnp.broadcast_to(beams[..., 0, :], batch + (4,))
    p_b = jnp.broadcast_to(beams[..., 1, :], batch + (4,))
    momenta[channel.incoming[0]], momenta[channel.incoming[1]] = p_a, p_b
    total = p_a + p_b
    final_mass = sum(leg_mass[leg] for leg in channel.legs if leg not in channel.incoming)
    valid = (sqrt_s > final_mass) & (sqrt_s >= masses[..., ia] + masses[..., ib])

    if not channel.t_chain:
        root = channel.systems[0]
        masses_of[root.legs] = sqrt_s * jnp.ones(batch)
        sample_masses(sqrt_s, root.children)
        decay(root, total)
    else:
        systems = channel.systems
        sample_masses(sqrt_s, systems)
        m_sys = [masses_of[s.legs] for s in systems]
        m = len(channel.t_chain)
        # masses of the remaining systems R_j = S_j + ... + S_m, top-down, flat in s
        m_rest = [sqrt_s * jnp.ones(batch)]
        for j in range(1, m):
            lo = sum(m_sys[j:])
            hi = jnp.maximum(m_rest[j - 1] - m_sys[j - 1], lo)
            s, jac = flat_map(columns.next(), lo**2, hi**2)
            m_rest.append(safe_sqrt(s))
            weight = weight * jac / (2 * jnp.pi)
        m_rest.append(m_sys[m])
        rest, q2 = total, masses[..., ia] ** 2
        mb2 = masses[..., ib] ** 2
        for j, prop in enumerate(channel.t_chain):
            # the mass of R_j as its momentum has it, so that k + R_(j+1) = R_j holds to rounding
            big_m = safe_sqrt(mass_squared(rest)) if j else m_rest[0]
            big_m2 = big_m**2
            safe_m = jnp.where(big_m > 0, big_m, 1.0)
            mk, mr = m_sys[j], m_rest[j + 1]
            lam_q = kallen(big_m2, q2, mb2)
            e_q = (big_m2 + q2 - mb2) / (2 * safe_m)
            abs_q = safe_sqrt(lam_q) / (2 * safe_m)
            e_k = (big_m2 + mk**2 - mr**2) / (2 * safe_m)
            abs_k = safe_sqrt(kallen(big_m2, mk**2, mr**2)) / (2 * safe_m)
            t_mid = q2 + mk**2 - 2 * e_q * e_k
            t_lo, t_hi = t_mid - 2 * abs_q * abs_k, t_mid + 2 * abs_q * abs_k
            shift = jnp.maximum(_value(parameters, prop.mass, context) ** 2, t_hi) + REGULATOR * s_total
            v, jac = log_map(columns.next(), -t_hi, -t_lo, shift)
            t = -v
            denominator = 2 * abs_q * abs_k
            cos_theta = jnp.clip((t - t_mid) / jnp.where(denominator > 0, denominator, 1.0), -1.0, 1.0)
            phi = 2.0 * jnp.pi * columns.next()
            weight = weight * jac / (8.0 * jnp.pi * jnp.where(lam_q > 0, safe_sqrt(lam_q), 1.0))
            # angles measured from q's direction in the rest frame of R_j (opposite to p_b's)
            axis = -boost_to_rest(p_b, rest)[..., 1:]
            axis = axis / jnp.maximum(safe_sqrt(jnp.sum(axis**2, axis=-1, keepdims=True)), 1e-300)
            k_vec = rotate_z_to(from_angles(mk, abs_k, cos_theta, phi)[..., 1:], axis)
            k_rest = jnp.concatenate([safe_sqrt(mk**2 + abs_k**2)[..., None], k_vec], axis=-1)
            r_rest = jnp.concatenate([safe_sqrt(mr**2 + abs_k**2)[..., None], -k_vec], axis=-1)
            k = boost(k_rest, rest)
            decay(systems[j], k)
            rest, q2 = boost(r_rest, rest), t
        decay(systems[m], rest)

    if columns.used != channel.ndim:
        raise AssertionError(f"{context}: used {columns.used} random numbers, ndim says {channel.ndim}")
    weight = jnp.where(valid, weight, 0.0)
    return jnp.stack([momenta[leg] for leg in channel.legs], axis=-2), weight
