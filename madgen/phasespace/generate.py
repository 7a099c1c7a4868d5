"""Momenta and weights of one diagram's phase-space channel (a ``DiagramChannel``), in JAX.

For 2 -> n at a centre-of-mass energy sqrt_s (a scalar, or one value per point) with
ndim = 3n - 4 random numbers per point:

* invariant masses of s-channel systems top-down, each within the range its parent's mass and its
  siblings' (chosen or minimal) masses leave: a Breit-Wigner (arctan) map for a propagator with mass
  and width, a 1/(s - s_min + ε S) map for a massive propagator whose pole lies at the lower edge of
  its range (radiation off a massive line: t* -> t g), a 1/(s + ε S) map for a massless one, flat
  otherwise (pseudo-systems of 4-point vertices); when the system's sibling is a massless leg, also
  a factor 1/(s_max - s + δ) for that leg's soft region at the upper edge (``two_sided_map``);
* the t-channel chain as sequential 2 -> 2 steps (q_j + p_b -> k_j + R_{j+1}) with t_j = (q_j - k_j)²
  sampled with density ∝ 1/(A - t), A = max(M², t_max) + ε S, and a flat azimuth; the masses of the
  remaining systems R_j flat in s, or ∝ 1/(s_max - s + δ) after a massless leg k_j (its soft region);
* isotropic two-body decays in the rest frame of every system.

``jet_pt`` (leg number -> minimum pT of a massless final-state leg from the generation cuts; massless
incoming legs listed with 0) tells the maps where the soft and collinear regions are cut:
δ = 2 M pT_min for soft emission from a system of mass M, and |t| >= pT_min² for a massless leg
emitted at either end of the t-channel chain (t = (p_a - k)² with p_a, k massless and E_k <= E_a
gives pT(k)² <= |t| in the centre-of-mass frame; the region excluded can only hold points the cut
removes, so the maps stay exact inverse densities of what they cover). Where such a leg comes out
of the first two-body step in the centre-of-mass frame (the first t-channel step, or the decay of
the one s-channel system), its pT is |k| sin(theta) with theta the polar angle from the beam, so
the angle (or t) is sampled only where pT >= pT_min: near threshold that range shrinks to nothing,
and sampling the whole of it leaves VEGAS a corner of (s-hat, angle) it cannot follow.

The weight is the exact inverse density: E_x[f(p(x)) w(x)] = ∫ dΦ_n f with
dΦ_n = (2π)^(4-3n) Π d³p/(2E) δ⁴(P - Σp). The flux factor is not included.

``windows`` restricts the invariant mass of chosen systems (decay-chain resonances with MadGraph's
``bwcutoff``: |m - M| <= bwcutoff Γ): their masses are sampled only inside the window, and points
whose window is closed get weight 0.
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp

from madgen.phasespace.kinematics import (beams_cm, boost, boost_to_rest, decay_two_body, from_angles, kallen,
                                          mass_squared, rotate_z_to, safe_sqrt, two_body_momentum)
from madgen.phasespace.mappings import breit_wigner_map, flat_map, log_map, two_sided_map

REGULATOR = 1e-4
"""ε: 1/(s + ε S) and 1/(A - t) maps of massless propagators are regulated at the scale ε S, S = sqrt_s²."""

THRESHOLD_WIDTHS = 5.0
"""A massive propagator whose pole lies within this many widths of the lower edge of its mass range
(M - m_min < 5 Γ: soft radiation off a massive line) is sampled with 1/(s - s_min + ε S), not a
Breit-Wigner: its peak is the soft region at the edge, not a resonance."""

ZERO = "ZERO"


def parameter_value(parameters, name: str, context: str):
    """The real value of a UFO parameter (0 for "ZERO"); a clear error when it is missing."""
    if name == ZERO:
        return jnp.asarray(0.0)
    if parameters is None or name not in parameters:
        raise KeyError(f"{context} needs parameter '{name}'; pass parameters with it "
                       "(e.g. madgen.phasespace.propagator_parameters(process))")
    return jnp.real(jnp.asarray(parameters[name]))


class _Builder:
    """The state of one generation: random columns handed out in order, the running weight, the
    chosen system masses and the momenta of the legs."""

    def __init__(self, channel, x, sqrt_s, masses, parameters, windows, jet_pt=None):
        self.channel, self.x, self.used = channel, x, 0
        self.context = f"phase-space channel of diagram {channel.diagram}"
        self.batch = x.shape[:-1]
        self.sqrt_s = sqrt_s
        self.s_total = sqrt_s**2
        self.leg_mass = {leg: masses[..., i] for i, leg in enumerate(channel.legs)}
        self.parameters = parameters
        self.windows = windows or {}
        self.jet_pt = dict(jet_pt or {})
        self.weight = jnp.ones(self.batch)
        self.open = jnp.ones(self.batch, dtype=bool)
        self.masses_of: dict[tuple[int, ...], jnp.ndarray] = {}
        self.momenta: dict[int, jnp.ndarray] = {}

    def column(self):
        if self.used >= self.x.shape[-1]:
            raise ValueError(f"{self.context}: ran out of random numbers after {self.used}")
        self.used += 1
        return self.x[..., self.used - 1]

    def value(self, name):
        return parameter_value(self.parameters, name, self.context)

    def min_mass(self, system):
        return sum(self.leg_mass[leg] for leg in system.legs)

    def soft_leg(self, system):
        """The minimum pT (GeV) of a system that is one massless leg with a pT cut (``jet_pt``), else None."""
        return self.jet_pt.get(system.legs[0]) if system.external else None

    def soft_shift(self, mass, pt):
        """δ of a soft map for a massless leg emitted from a system of mass ``mass``: 2 M pT_min, at least ε S."""
        return jnp.maximum(2.0 * mass * pt, REGULATOR * self.s_total)


def _window(builder: _Builder, legs, lo, hi):
    """[lo, hi] (squared masses) intersected with the system's bwcutoff window, if it has one."""
    if legs not in builder.windows:
        return lo, hi
    mass_name, width_name, cutoff = builder.windows[legs]
    mass, width = builder.value(mass_name), builder.value(width_name)
    low, high = jnp.maximum(mass - cutoff * width, 0.0) ** 2, (mass + cutoff * width) ** 2
    new_lo, new_hi = jnp.maximum(lo, low), jnp.minimum(hi, high)
    builder.open = builder.open & (new_hi > new_lo)
    return new_lo, jnp.maximum(new_hi, new_lo)


def _sample_invariant(builder: _Builder, system, u, lo, hi, soft_shift=None):
    """s of a composite system in [lo, hi] and the Jacobian ds/du, with the map its propagator asks for;
    ``soft_shift``: δ of a soft massless sibling (its soft region is s -> hi), or None."""
    prop = system.propagator
    lo, hi = _window(builder, system.legs, lo, hi)
    if prop is None or (prop.mass != ZERO and prop.width == ZERO):
        if soft_shift is None:
            return flat_map(u, lo, hi)
        v, jac = log_map(u, jnp.zeros_like(lo), hi - lo, soft_shift)
        return hi - v, jac
    if prop.mass == ZERO:
        if soft_shift is None:
            return log_map(u, lo, hi, REGULATOR * builder.s_total)
        return two_sided_map(u, lo, hi, lo + REGULATOR * builder.s_total, soft_shift)
    mass, width = builder.value(prop.mass), builder.value(prop.width)
    s_bw, jac_bw = breit_wigner_map(u, lo, hi, mass, width)
    at_edge = mass - safe_sqrt(lo) < THRESHOLD_WIDTHS * width
    shift = REGULATOR * builder.s_total if soft_shift is None else soft_shift
    v, jac_edge = log_map(u, jnp.zeros_like(lo), hi - lo, shift)
    return jnp.where(at_edge, lo + v, s_bw), jnp.where(at_edge, jac_edge, jac_bw)


def _sample_masses(builder: _Builder, parent_mass, children, binary: bool = True) -> None:
    """Masses of composite children, resonances first, each within what the others leave
    (``binary``: the children are the two products of a decay, so a massless one can be soft)."""
    for child in children:
        if child.external:
            builder.masses_of[child.legs] = builder.leg_mass[child.legs[0]]
    composite = [c for c in children if not c.external]
    order = sorted(composite, key=lambda c: not (c.propagator and c.propagator.resonant))
    for child in order:
        others = sum(builder.masses_of[c.legs] if c.legs in builder.masses_of else builder.min_mass(c)
                     for c in children if c is not child)
        lo = builder.min_mass(child)
        hi = jnp.maximum(parent_mass - others, lo)
        siblings = [c for c in children if c is not child]
        soft = builder.soft_leg(siblings[0]) if binary and len(siblings) == 1 else None
        shift = None if soft is None else builder.soft_shift(parent_mass, soft)
        s, jac = _sample_invariant(builder, child, builder.column(), lo**2, hi**2, shift)
        builder.masses_of[child.legs] = safe_sqrt(s)
        builder.weight = builder.weight * jac / (2 * jnp.pi)
    for child in order:
        _sample_masses(builder, builder.masses_of[child.legs], child.children)


def _pt_reach(builder: _Builder, pt_min, momentum):
    """|cos(theta)| <= reach keeps pT = |k| sin(theta) >= ``pt_min`` for a product of momentum |k| at
    polar angle theta from the beam (None without a cut); closes points where |k| <= pT_min."""
    if not pt_min:
        return None
    builder.open = builder.open & (momentum > pt_min)
    return safe_sqrt(1.0 - (pt_min / jnp.where(momentum > 0, momentum, 1.0)) ** 2)


def _cut_pt(builder: _Builder, systems) -> float:
    """The largest pT_min of the massless cut legs among ``systems`` (0 without one)."""
    return max((builder.soft_leg(s) or 0.0 for s in systems), default=0.0)


def _decay(builder: _Builder, system, momentum, pt_min: float = 0.0) -> None:
    """Isotropic two-body decays down the system's tree; ``pt_min``: the products' minimum pT when
    ``momentum`` is at rest with the beam along z (the angle then only where pT >= pt_min)."""
    if system.external:
        builder.momenta[system.legs[0]] = momentum
        return
    c1, c2 = system.children
    m0, m1, m2 = builder.masses_of[system.legs], builder.masses_of[c1.legs], builder.masses_of[c2.legs]
    reach = _pt_reach(builder, pt_min, two_body_momentum(m0, m1, m2)) if pt_min else None
    cos_theta = 2.0 * builder.column() - 1.0
    if reach is not None:
        cos_theta = reach * cos_theta
        builder.weight = builder.weight * reach
    phi = 2.0 * jnp.pi * builder.column()
    p1, p2 = decay_two_body(momentum, m1, m2, cos_theta, phi)
    safe_m0 = jnp.where(m0 > 0, m0, 1.0)
    builder.weight = builder.weight * safe_sqrt(kallen(m0**2, m1**2, m2**2)) / (8.0 * jnp.pi * safe_m0**2)
    _decay(builder, c1, p1)
    _decay(builder, c2, p2)


def _s_channel_event(builder: _Builder, total) -> None:
    """A diagram without t-channel propagators: one system of mass sqrt_s."""
    root = builder.channel.systems[0]
    builder.masses_of[root.legs] = builder.sqrt_s * jnp.ones(builder.batch)
    _window(builder, root.legs, builder.s_total, builder.s_total)
    _sample_masses(builder, builder.sqrt_s, root.children)
    _decay(builder, root, total, _cut_pt(builder, root.children))


def _remaining_masses(builder: _Builder, system_masses):
    """Masses of R_j = S_j + ... + S_m (R_0 = the whole final state), top-down: flat in s, or after a
    massless leg S_(j-1) with density 1/(s_max - s + δ) (that leg soft at s -> s_max)."""
    channel = builder.channel
    m = len(channel.t_chain)
    rest = [builder.sqrt_s * jnp.ones(builder.batch)]
    for j in range(1, m):
        lo = sum(system_masses[j:])
        hi = jnp.maximum(rest[j - 1] - system_masses[j - 1], lo)
        soft = builder.soft_leg(channel.systems[j - 1])
        if soft is None:
            s, jac = flat_map(builder.column(), lo**2, hi**2)
        else:
            v, jac = log_map(builder.column(), jnp.zeros_like(lo), hi**2 - lo**2, builder.soft_shift(rest[j - 1], soft))
            s = hi**2 - v
        rest.append(safe_sqrt(s))
        builder.weight = builder.weight * jac / (2 * jnp.pi)
    rest.append(system_masses[m])
    return rest


def _t_step(builder: _Builder, prop, rest, q2, mb2, p_b, mk, mr, first: bool, t_max_cut=None, pt_min=0.0):
    """One 2 -> 2 step q + p_b -> k + R of the t-channel chain, in the rest frame of ``rest``:
    returns (k, R) in the frame of ``rest`` and t = (q - k)². ``t_max_cut``: an upper bound on t
    that the cuts imply (-pT_min² of a massless leg at an end of the chain); ``pt_min``: the minimum
    pT of k (and R) in the first step, whose frame is the centre of mass with q along the beam."""
    big_m = builder.sqrt_s * jnp.ones(builder.batch) if first else safe_sqrt(mass_squared(rest))
    big_m2 = big_m**2
    safe_m = jnp.where(big_m > 0, big_m, 1.0)
    lam_q = kallen(big_m2, q2, mb2)
    e_q = (big_m2 + q2 - mb2) / (2 * safe_m)
    abs_q = safe_sqrt(lam_q) / (2 * safe_m)
    e_k = (big_m2 + mk**2 - mr**2) / (2 * safe_m)
    abs_k = safe_sqrt(kallen(big_m2, mk**2, mr**2)) / (2 * safe_m)
    t_mid = q2 + mk**2 - 2 * e_q * e_k
    reach = _pt_reach(builder, pt_min, abs_k) if first else None
    half_range = 2 * abs_q * abs_k if reach is None else 2 * abs_q * abs_k * reach
    t_lo, t_hi = t_mid - half_range, t_mid + half_range
    if t_max_cut is not None:
        builder.open = builder.open & (t_max_cut > t_lo)
        t_hi = jnp.maximum(jnp.minimum(t_hi, t_max_cut), t_lo)
    shift = jnp.maximum(builder.value(prop.mass) ** 2, t_hi) + REGULATOR * builder.s_total
    v, jac = log_map(builder.column(), -t_hi, -t_lo, shift)
    t = -v
    denominator = 2 * abs_q * abs_k
    cos_theta = jnp.clip((t - t_mid) / jnp.where(denominator > 0, denominator, 1.0), -1.0, 1.0)
    phi = 2.0 * jnp.pi * builder.column()
    builder.weight = builder.weight * jac / (8.0 * jnp.pi * jnp.where(lam_q > 0, safe_sqrt(lam_q), 1.0))
    # angles measured from q's direction in the rest frame of R_j (opposite to p_b's)
    axis = -boost_to_rest(p_b, rest)[..., 1:]
    axis = axis / jnp.maximum(safe_sqrt(jnp.sum(axis**2, axis=-1, keepdims=True)), 1e-300)
    k_vec = rotate_z_to(from_angles(mk, abs_k, cos_theta, phi)[..., 1:], axis)
    k_rest = jnp.concatenate([safe_sqrt(mk**2 + abs_k**2)[..., None], k_vec], axis=-1)
    r_rest = jnp.concatenate([safe_sqrt(mr**2 + abs_k**2)[..., None], -k_vec], axis=-1)
    return boost(k_rest, rest), boost(r_rest, rest), t


def _t_channel_event(builder: _Builder, total, p_b, q2, mb2) -> None:
    """Systems hanging off the t-channel chain from a to b, generated step by step."""
    channel = builder.channel
    _sample_masses(builder, builder.sqrt_s, channel.systems, binary=False)
    system_masses = [builder.masses_of[s.legs] for s in channel.systems]
    rest_masses = _remaining_masses(builder, system_masses)
    bounds = _chain_end_bounds(builder)
    rest = total
    # in the first step pT(k) = pT(R_1); R_1 is the last system when the chain has one propagator
    first_pt = _cut_pt(builder, channel.systems[:1] if len(channel.t_chain) > 1 else channel.systems)
    for j, prop in enumerate(channel.t_chain):
        k, rest, q2 = _t_step(builder, prop, rest, q2, mb2, p_b, system_masses[j], rest_masses[j + 1], j == 0,
                              bounds.get(j), first_pt)
        _decay(builder, channel.systems[j], k)
    _decay(builder, channel.systems[-1], rest)


def _chain_end_bounds(builder: _Builder) -> dict:
    """Upper bounds -pT_min² on t of the first step (a massless leg emitted by a massless incoming a) and
    of the last step (a massless last system next to a massless incoming b), where the cuts set them;
    incoming legs count as massless when ``jet_pt`` lists them (with 0)."""
    channel = builder.channel
    m = len(channel.t_chain)
    a, b = channel.incoming
    bounds = {}
    first, last = builder.soft_leg(channel.systems[0]), builder.soft_leg(channel.systems[-1])
    if first and a in builder.jet_pt:
        bounds[0] = -first**2
    if last and b in builder.jet_pt:
        bounds[m - 1] = min(bounds.get(m - 1, 0.0), -last**2)
    return bounds


def generate_channel(channel, x, sqrt_s, masses, parameters: Mapping | None = None,
                     windows: Mapping | None = None, jet_pt: Mapping | None = None):
    """Momenta (batch, n_legs, 4) of all legs in process order in the CM frame, and weights (batch,).

    ``x``: (batch, channel.ndim) in [0, 1); ``sqrt_s``: a scalar or (batch,); ``masses``: (n_legs,)
    masses of all legs in process order (e.g. ``process.masses()``); ``parameters``: UFO name -> value
    for the propagator masses and widths (``propagator_parameters(process)``), JAX values welcome;
    ``windows``: {legs of a system: (mass name, width name, bwcutoff)} mass windows; ``jet_pt``: {leg
    number: minimum pT in GeV} of massless final-state legs the cuts act on, and massless incoming legs
    with 0 (module docstring).
    """
    context = f"phase-space channel of diagram {channel.diagram}"
    x = jnp.asarray(x, dtype=jnp.float64)
    if x.shape[-1] != channel.ndim:
        raise ValueError(f"{context}: x has {x.shape[-1]} random numbers per point, the channel needs {channel.ndim}")
    masses = jnp.asarray(masses, dtype=jnp.float64)
    if masses.shape[-1] != len(channel.legs):
        raise ValueError(f"{context}: got {masses.shape[-1]} masses for {len(channel.legs)} legs")
    sqrt_s = jnp.asarray(sqrt_s, dtype=jnp.float64)
    builder = _Builder(channel, x, sqrt_s, masses, parameters, windows, jet_pt)
    ia, ib = channel.legs.index(channel.incoming[0]), channel.legs.index(channel.incoming[1])
    beams = beams_cm(sqrt_s, masses[..., ia], masses[..., ib])
    p_a = jnp.broadcast_to(beams[..., 0, :], builder.batch + (4,))
    p_b = jnp.broadcast_to(beams[..., 1, :], builder.batch + (4,))
    builder.momenta[channel.incoming[0]], builder.momenta[channel.incoming[1]] = p_a, p_b
    final_mass = sum(builder.leg_mass[leg] for leg in channel.legs if leg not in channel.incoming)
    valid = (sqrt_s > final_mass) & (sqrt_s >= masses[..., ia] + masses[..., ib])
    if channel.t_chain:
        _t_channel_event(builder, p_a + p_b, p_b, masses[..., ia] ** 2, masses[..., ib] ** 2)
    else:
        _s_channel_event(builder, p_a + p_b)
    if builder.used != channel.ndim:
        raise AssertionError(f"{context}: used {builder.used} random numbers, ndim says {channel.ndim}")
    weight = jnp.where(valid & builder.open, builder.weight, 0.0)
    return jnp.stack([builder.momenta[leg] for leg in channel.legs], axis=-2), weight
