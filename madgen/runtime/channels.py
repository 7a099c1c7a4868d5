"""Build a run's integration channels and check, before anything runs, that the run can work.

Per subprocess: one channel per distinct diagram mapping (MadGraph's single-diagram enhancement)
or one flat RAMBO channel, each with its compiled weight function and an untrained VEGAS grid.
The checks refuse at once what would otherwise fail late or give a silently wrong number: a
collision energy below the final-state threshold, cuts that make the cross section divergent,
and a zero width on an s-channel resonance the phase space reaches on shell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from madgen.errors import MadgenError, RunCardError

MIN_BATCH = 1024


def batch_size(run, n_channels: int) -> int:
    """Points per compiled evaluation: the run card's batch_size, or less when an iteration
    gives each channel fewer points (a power of two, at least MIN_BATCH)."""
    per_channel = max(run.points_per_iteration // max(n_channels, 1), 1)
    return min(run.batch_size, max(MIN_BATCH, 1 << (per_channel - 1).bit_length()))


def subprocesses_of(process) -> tuple:
    """The subprocesses of a generated process; all must share the same two initial states."""
    subprocesses = tuple(process.subprocesses)
    initial = {tuple(p.pdg_ids[:p.n_initial]) for p in subprocesses}
    if len(initial) > 1 or any(p.n_initial != 2 for p in subprocesses):
        raise MadgenError(
            f"'{process.process}' has subprocesses with different initial states {sorted(initial)}: "
            "fixed-energy runs need one pair of beams (hadron beams with PDFs are not supported yet); "
            "write the process with explicit initial particles")
    return subprocesses


@dataclass(frozen=True)
class PhaseSpaceGenerator:
    """x -> (centre-of-mass momenta of all legs, phase-space weight), with its dimension."""

    ndim: int
    generate: object

    def __call__(self, x, sqrt_s, masses, parameters):
        return self.generate(x, sqrt_s, masses, parameters)


def rambo_generator(n_final: int) -> PhaseSpaceGenerator:
    from madgen.phasespace import rambo, rambo_ndim, with_incoming

    def generate(x, sqrt_s, masses, parameters):
        final, weight = rambo(x, sqrt_s, masses[2:])
        return with_incoming(final, sqrt_s, masses[0], masses[1]), weight

    return PhaseSpaceGenerator(rambo_ndim(n_final), generate)


def diagram_generators(process) -> list[tuple[tuple[int, ...], PhaseSpaceGenerator]]:
    """One generator per distinct diagram mapping, with the diagrams that share it."""
    from madgen.phasespace import duplicate_groups, multichannel_from_diagrams

    channels = multichannel_from_diagrams(process.channels)
    return [(tuple(channels[i].diagram for i in group), PhaseSpaceGenerator(channels[group[0]].ndim,
                                                                           channels[group[0]]))
            for group in duplicate_groups(channels)]


def build_channels(process, run, collision, cuts):
    """One TrainedChannel per distinct diagram mapping of every subprocess (multichannel), or
    per subprocess (RAMBO). ``cuts[i]`` is the cut function of subprocess i."""
    from madgen.runtime.integrate import Channel, TrainedChannel, channel_weight_functions, make_grid

    rng = np.random.default_rng(run.seed)
    channels = []
    for index, sub in enumerate(subprocesses_of(process)):
        n_final = sub.n_legs - sub.n_initial
        if run.channels == "rambo" or n_final == 1:
            generators = [((), rambo_generator(n_final))]
        else:
            generators = diagram_generators(sub)
        described = [Channel(index, diagrams, generator.ndim,
                             f"{sub.process}: " + (f"diagram(s) {', '.join(map(str, diagrams))}"
                                                   if diagrams else "RAMBO"))
                     for diagrams, generator in generators]
        functions = channel_weight_functions(sub, described, [g for _, g in generators], collision, cuts[index])
        channels.extend(TrainedChannel(channel, weights, make_grid(channel.ndim))
                        for channel, weights in zip(described, functions))
    return channels, rng


def check_run(process, run, parameters=None) -> None:
    """Everything that can be refused before integrating (each a ``RunCardError`` naming the card):
    final-state threshold, divergent cuts, zero-width reachable resonances."""
    from madgen.runtime.cuts import check_divergent
    from madgen.runtime.integrate import Collision

    collision = Collision(*run.beam_energies)
    problems = []
    for sub in subprocesses_of(process):
        masses = np.asarray(sub.masses(parameters), dtype=float)
        sqrt_s = collision.sqrt_s(*masses[:2])
        threshold = float(np.sum(masses[2:]))
        if sqrt_s <= threshold:
            problems.append(f"the collision energy sqrt(s) = {sqrt_s:.6g} GeV is below the threshold "
                            f"{threshold:.6g} GeV of '{sub.process}' (the sum of its final-state masses): "
                            "raise sqrt_s or beam_energies")
        problems += check_divergent(sub.pdg_ids, run.cuts, n_initial=sub.n_initial,
                                    maxjetflavor=run.maxjetflavor, masses=masses)
        problems += zero_width_resonances(sub, sqrt_s, parameters)
    if problems:
        raise RunCardError(f"{run.path}: " + "; ".join(dict.fromkeys(problems)))


def zero_width_resonances(process, sqrt_s: float, parameters=None) -> list[str]:
    """Why an s-channel propagator with mass M > 0 and width 0 can go on shell in ``process``
    (its decay products are lighter than M and sqrt(s) leaves room for it; a propagator carrying
    the whole final state is on shell only at sqrt(s) = M), one line per culprit.

    MadGraph requires widths for such propagators: at the pole |M|^2 is infinite and its gradient
    in the width is wrong (0 instead of the 1/width^2 growth)."""
    values = process.internal_parameters(parameters)
    masses = np.asarray(process.masses(parameters), dtype=float)
    data = process.channels
    legs = [int(leg["number"]) for leg in data["legs"]]
    initial = {int(leg["number"]) for leg in data["legs"] if leg["initial"]}
    final_mass = {leg: masses[i] for i, leg in enumerate(legs) if leg not in initial}
    found = []
    for diagram in data["diagrams"]:
        for prop in diagram["propagators"]:
            if not prop.get("s_channel", True):
                continue
            mass = 0.0 if prop["mass"] == "ZERO" else float(np.real(values[prop["mass"]]))
            width = 0.0 if prop["width"] == "ZERO" else float(np.real(values[prop["width"]]))
            if mass <= 0.0 or width > 0.0:
                continue
            side = set(int(leg) for leg in prop["legs"])
            products = side if not side & initial else set(final_mass) - side
            others = set(final_mass) - products
            lightest = sum(final_mass[leg] for leg in products)
            heaviest = sqrt_s - sum(final_mass[leg] for leg in others)
            if not others:  # the propagator carries the whole final state: its mass is sqrt(s)
                on_shell = abs(sqrt_s - mass) <= 1e-9 * mass
            else:
                on_shell = lightest < mass <= heaviest
            if on_shell:
                name = prop["width"] if prop["width"] != "ZERO" else f"the width of {prop['particle']}"
                found.append(f"'{process.process}' has an s-channel {prop['particle']} (mass {mass:g} GeV) with "
                             f"zero width {name}, which the phase space reaches on shell; give it a width "
                             "(param_card DECAY or 'parameters:' in the process card), as MadGraph requires")
    return list(dict.fromkeys(found))


def prepare_channels(process, run, parameters=None):
    """Check the run (``check_run``), then build its untrained channels.
    Returns (channels, the run's random generator, the Collision)."""
    from madgen.runtime.cuts import cut_function
    from madgen.runtime.integrate import Collision

    check_run(process, run, parameters)
    subprocesses = subprocesses_of(process)
    collision = Collision(*run.beam_energies)
    cuts = [cut_function(run.cuts, sub.pdg_ids, sub.n_initial, maxjetflavor=run.maxjetflavor,
                         masses=np.asarray(sub.masses())) for sub in subprocesses]
    channels, rng = build_channels(process, run, collision, cuts)
    return channels, rng, collision
