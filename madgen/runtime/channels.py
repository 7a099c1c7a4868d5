"""Build a run's kernel groups and integration channels.

Subprocesses with the same generated matrix element (recorded by the compiler in the package
metadata, ``kernel_groups``) and the same cuts form one kernel group, integrated with one compiled
|M|^2. Each group has one integration channel per distinct diagram mapping (MadGraph's
single-diagram enhancement) or one flat RAMBO channel.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from madgen.runtime.integrand import ChannelMap, GroupIntegrand, ResonanceWindow


@dataclass(frozen=True)
class IntegrationChannel:
    """One channel of a run: its kernel group, its index among the group's maps, its dimension
    (momentum fractions included) and a label for logs and results."""

    group: int
    local: int
    ndim: int
    label: str


def package_kernel_groups(process) -> tuple[tuple[int, ...], ...]:
    """Indices of subprocesses whose generated |M|^2 modules are identical (package metadata
    ``kernel_groups``; each subprocess alone for packages that do not record them)."""
    subprocesses = tuple(process.subprocesses)
    recorded = []
    try:
        recorded = subprocesses[0].metadata.get("kernel_groups") or []
    except (OSError, ValueError, AttributeError):
        recorded = []
    grouped = {i for group in recorded for i in group}
    groups = [tuple(int(i) for i in group) for group in recorded
              if all(0 <= int(i) < len(subprocesses) for i in group)]
    groups += [(i,) for i in range(len(subprocesses)) if i not in grouped]
    return tuple(sorted(groups, key=min))


def refine_groups(process, groups, cut_plans) -> tuple[tuple[int, ...], ...]:
    """Split kernel groups whose members differ in what the runtime does with them: external
    masses or the cuts that act on them (e.g. a d jet and a b quark with the same |M|^2)."""
    subprocesses = process.subprocesses
    refined = []
    for group in groups:
        parts: dict = {}
        for index in group:
            key = (tuple(np.asarray(subprocesses[index].masses(), dtype=float).tolist()), cut_plans[index])
            parts.setdefault(key, []).append(index)
        refined += [tuple(part) for part in parts.values()]
    return tuple(sorted(refined, key=min))


def merge_mirrors(process, groups) -> tuple[tuple[tuple[int, ...], tuple[bool, ...]], ...]:
    """Groups with their mirror groups merged in: (members, mirrored flags) per group.

    A subprocess b a > X is the mirror of a b > X: its |M|^2 is the same function with the initial
    legs exchanged, M_ba(p1, p2, k) = M_ab(p2, p1, k). So the kernel of a b > X serves it too: a
    kernel point with a along +z is, rotated by pi about the x axis, an event with b from beam 1
    (MadGraph's mirror processes). A group all of whose members mirror members of another group
    joins that group, flagged. Only for beams of equal energy: otherwise the rotated event has the
    wrong boost (its cuts in eta and its momenta would be those of another event)."""
    subprocesses = process.subprocesses

    def mirror_key(index):
        pdg = subprocesses[index].pdg_ids
        return (pdg[1], pdg[0]) + tuple(pdg[2:])

    position = {tuple(subprocesses[i].pdg_ids): g for g, group in enumerate(groups) for i in group}
    merged, absorbed = [], set()
    for g, group in enumerate(groups):
        if g in absorbed:
            continue
        members, flags = list(group), [False] * len(group)
        partners = {position.get(mirror_key(i)) for i in group}
        if len(partners) == 1 and None not in partners and (partner := partners.pop()) not in (g, *absorbed) \
                and all(position.get(mirror_key(i)) == g for i in groups[partner]) \
                and len(groups[partner]) == len(group):
            members += list(groups[partner])
            flags += [True] * len(groups[partner])
            absorbed.add(partner)
        merged.append((tuple(members), tuple(flags)))
    return tuple(merged)


def channel_maps(kernel, run) -> tuple[ChannelMap, ...]:
    """The phase-space maps of a kernel: one per distinct diagram mapping, or flat RAMBO."""
    from madgen.phasespace import duplicate_groups, multichannel_from_diagrams, rambo, rambo_ndim, with_incoming

    n_final = kernel.n_legs - kernel.n_initial
    if n_final == 1:
        return (one_body_map(kernel),)
    if run.channels == "rambo":
        def flat(x, sqrt_s, masses, parameters, windows):
            final, weight = rambo(x, sqrt_s, masses[2:])
            return with_incoming(final, sqrt_s, masses[0], masses[1]), weight

        return (ChannelMap(flat, rambo_ndim(n_final), (), None, f"{kernel.process}: RAMBO"),)
    channels = multichannel_from_diagrams(kernel.channels)
    jet_pt = soft_regions(kernel, run)
    maps = []
    for group in duplicate_groups(channels):
        channel = channels[group[0]]
        diagrams = tuple(channels[i].diagram for i in group)
        root = channel.root_propagator
        resonance = (root.mass, root.width) if root is not None and root.mass != "ZERO" else None
        generate = functools.partial(channel, jet_pt=jet_pt) if jet_pt else channel
        maps.append(ChannelMap(generate, channel.ndim, diagrams, resonance,
                               f"{kernel.process}: diagram(s) {', '.join(map(str, diagrams))}"))
    return tuple(maps)


def one_body_map(kernel) -> ChannelMap:
    """The phase space of a 2 -> 1 process: the particle at rest in the CM frame, sqrt(s-hat) = its mass
    (the beams' fractions put s-hat there), weight 2 pi, the one-body phase space without its delta
    function (which ``madgen.phasespace.one_body_fractions`` takes); no random numbers."""
    from madgen.phasespace import with_incoming

    def at_rest(x, sqrt_s, masses, parameters, windows):
        zero = jnp.zeros_like(sqrt_s)
        final = jnp.stack([sqrt_s, zero, zero, zero], axis=-1)[..., None, :]
        return with_incoming(final, sqrt_s, masses[0], masses[1]), 2.0 * math.pi * jnp.ones_like(sqrt_s)

    return ChannelMap(at_rest, 0, (), None, f"{kernel.process}: one body at s-hat = M^2")


def soft_regions(kernel, run) -> dict:
    """``generate_channel``'s ``jet_pt`` for a kernel: {leg number: pT_min} of its massless final-state
    legs that the run's cuts give a minimum pT (where soft and collinear emission is cut), with its
    massless incoming legs at 0; {} when no such cut acts."""
    from madgen.runtime.cuts import plan_cuts, run_cut_arguments

    masses = np.asarray(kernel.masses(), dtype=float)
    plan = plan_cuts(*run_cut_arguments(run, kernel, masses))
    numbers = [int(leg["number"]) for leg in kernel.channels["legs"]]
    cut = {numbers[leg]: float(pt_min) for leg, pt_min, *_ in plan.singles if masses[leg] == 0 and pt_min > 0}
    if not cut:
        return {}
    return {**{numbers[i]: 0.0 for i in range(kernel.n_initial) if masses[i] == 0}, **cut}


def decay_windows(kernel, bwcutoff: float) -> tuple[ResonanceWindow, ...]:
    """MadGraph's bwcutoff windows of the kernel's decay-chain resonances (the channel table's
    ``decays``; a required s-channel resonance, ``a > z > b``, has none)."""
    table = kernel.channels
    legs = [int(leg["number"]) for leg in table["legs"]]
    windows = []
    for decay in table.get("decays") or ():
        if decay.get("required") or decay.get("width", "ZERO") == "ZERO":
            continue
        indices = tuple(sorted(legs.index(int(leg)) for leg in decay["legs"]))
        windows.append(ResonanceWindow(indices, str(decay["mass"]), str(decay["width"]), float(bwcutoff)))
    return tuple(windows)


def decay_energy_floor(kernel, masses, internal, bwcutoff: float) -> float:
    """A floor under the partonic energy (GeV) that the kernel's bwcutoff windows guarantee: each outermost
    decay-chain resonance at half its window's lower edge, (M - bwcutoff Gamma) / 2, or its products'
    masses, every other final-state particle at its mass. p p > z, z > e+ e- has massless products but
    never reaches s-hat = 0 (no cut needed); half the edge, so that a cross section on the run's grids at
    another theta (``madgen.inference.cross_section``: a pole moved by up to half its value) loses
    nothing below it."""
    windows = decay_windows(kernel, bwcutoff)
    outermost = [w for w in windows if not any(set(w.legs) < set(o.legs) for o in windows)]
    covered = {leg for w in outermost for leg in w.legs}
    floor = sum(float(m) for leg, m in enumerate(masses) if leg >= kernel.n_initial and leg not in covered)
    for window in outermost:
        pole, width = float(np.real(internal[window.mass])), float(np.real(internal[window.width]))
        floor += max((pole - window.cutoff * width) / 2, sum(float(masses[leg]) for leg in window.legs))
    return floor


def onshell_vetoes(kernel, bwcutoff: float) -> tuple[ResonanceWindow, ...]:
    """MadGraph's '$ x': for every s-channel propagator of a vetoed particle in the kernel's diagrams (the
    channel table's ``onshell_vetoes``), the final-state legs whose invariant mass must stay more than
    bwcutoff widths from its mass; the table names each vetoed propagator by its line and particle. Every
    diagram is kept; only those events are removed."""
    table = kernel.channels
    vetoed = {tuple(entry) for entry in table.get("onshell_vetoes") or ()}
    if not vetoed:
        return ()
    legs = [int(leg["number"]) for leg in table["legs"]]
    initial = {int(leg["number"]) for leg in table["legs"] if leg["initial"]}
    final = [n for n in legs if n not in initial]
    found = {}
    for diagram in table["diagrams"]:
        for prop in diagram["propagators"]:
            if (prop["line"], prop["particle"]) not in vetoed or prop.get("width", "ZERO") == "ZERO":
                continue
            numbers = {int(n) for n in prop["legs"]}
            products = [n for n in final if n not in numbers] if numbers & initial else sorted(numbers)
            indices = tuple(sorted(legs.index(n) for n in products))
            found[(indices, str(prop["mass"]), str(prop["width"]))] = None
    return tuple(ResonanceWindow(indices, mass, width, float(bwcutoff)) for indices, mass, width in found)


def build_integrands(process, run, collider, cut_functions, energy_bounds) -> tuple[GroupIntegrand, ...]:
    """One ``GroupIntegrand`` per kernel group of the process (``cut_functions[i]``, ``energy_bounds[i]``:
    the cut function and s-hat bounds of subprocess i)."""
    from madgen.runtime.cuts import plan_cuts, run_cut_arguments

    subprocesses = process.subprocesses
    plans = [plan_cuts(*run_cut_arguments(run, s, np.asarray(s.masses()))) for s in subprocesses]
    groups = refine_groups(process, package_kernel_groups(process), plans)
    symmetric = collider.energies[0] == collider.energies[1]  # a rotated event is then its mirror's event
    groups = merge_mirrors(process, groups) if collider.has_pdf and symmetric \
        else tuple((g, (False,) * len(g)) for g in groups)
    integrands = []
    for group, mirrored in groups:
        kernel = kernel_in_precision(subprocesses[group[0]], run)
        alpha_s = float(kernel.alpha_couplings()[1])
        integrands.append(GroupIntegrand(
            kernel=kernel, members=group, mirrored=mirrored,
            partons=tuple(tuple(subprocesses[i].pdg_ids[:2]) for i in group),
            maps=channel_maps(kernel, run), collider=collider, cut=cut_functions[group[0]], scales=run.scales,
            energy_bounds=energy_bounds[group[0]], windows=decay_windows(kernel, run.bwcutoff),
            fixed_alpha_s=alpha_s, rapidity_limits=plans[group[0]].rapidity_limits,
            vetoes=onshell_vetoes(kernel, run.bwcutoff)))
    return tuple(integrands)


def kernel_in_precision(kernel, run):
    """The kernel evaluating |M|^2 in the run card's ``precision`` (the package's own when the card
    gives none); phase space, weights and VEGAS sums stay in double (docs/precision.md)."""
    from madgen.errors import MadgenError

    wanted = getattr(run, "precision", None)
    if wanted is None or wanted == getattr(kernel, "precision", "double"):
        return kernel
    if not hasattr(kernel, "with_precision"):
        raise MadgenError(f"run card key 'precision: {wanted}': the package of '{kernel.process}' was generated "
                          "before madgen offered a choice of precision; regenerate it (madgen generate --force)")
    return kernel.with_precision(wanted)


def integration_channels(integrands) -> tuple[IntegrationChannel, ...]:
    """Every channel of every group, in group order."""
    return tuple(IntegrationChannel(g, k, integrand.channel_ndim(k), m.label)
                 for g, integrand in enumerate(integrands) for k, m in enumerate(integrand.maps))
