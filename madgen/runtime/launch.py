"""``madgen launch``: integrate a generated process at fixed beam energies, then write
unweighted events (LHE 3.0, a columnar file) and ``results.json`` into a run directory.

Stages: channels (per subprocess: one per diagram, or flat RAMBO) -> VEGAS integration ->
pilot sample and robust maximum weight -> hit-or-miss unweighting in batches -> helicity and
colour-flow selection per event -> output files (each written to a temporary name, then renamed).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from madgen.errors import MadgenError, RunCardError

MIN_BATCH = 1024


def batch_size(run, n_channels: int) -> int:
    """Points per compiled evaluation: the run card's batch_size, or less when an iteration
    gives each channel fewer points (a power of two, at least MIN_BATCH)."""
    per_channel = max(run.points_per_iteration // max(n_channels, 1), 1)
    return min(run.batch_size, max(MIN_BATCH, 1 << (per_channel - 1).bit_length()))


@dataclass(frozen=True)
class LaunchResult:
    cross_section_pb: float
    error_pb: float
    n_events: int
    seed: int
    n_points: int
    unweighting_efficiency: float
    max_weight_pb: float
    output_dir: str
    channels: tuple[dict, ...]
    timings: dict


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

    channels = multichannel_from_diagrams(process.diagrams)
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


def prepare_channels(process, run):
    """Check the cuts make every subprocess finite, then build its untrained channels.
    Returns (channels, the run's random generator, the Collision)."""
    from madgen.runtime.cuts import check_divergent, cut_function
    from madgen.runtime.integrate import Collision

    subprocesses = subprocesses_of(process)
    problems = [p for sub in subprocesses
                for p in check_divergent(sub.pdg_ids, run.cuts, n_initial=sub.n_initial,
                                         maxjetflavor=run.maxjetflavor, masses=np.asarray(sub.masses()))]
    if problems:
        raise RunCardError(f"{run.path}: " + "; ".join(dict.fromkeys(problems)))
    collision = Collision(*run.beam_energies)
    cuts = [cut_function(run.cuts, sub.pdg_ids, sub.n_initial, maxjetflavor=run.maxjetflavor,
                         masses=np.asarray(sub.masses())) for sub in subprocesses]
    channels, rng = build_channels(process, run, collision, cuts)
    return channels, rng, collision


def launch(process, run, output_dir, log=print, progress=True) -> LaunchResult:
    """Integrate ``process`` (a loaded generated package) with run card ``run``; write events."""
    from madgen.runtime.integrate import integrate_channels
    from madgen.runtime.unweight import unweighted_events

    timings = {}
    start = time.perf_counter()
    subprocesses = subprocesses_of(process)
    channels, rng, collision = prepare_channels(process, run)
    chunk = batch_size(run, len(channels))
    log(f"integrating {process.process} at beam energies {collision.e1:g} x {collision.e2:g} GeV: "
        f"{len(channels)} channel(s), {run.iterations} iterations")
    result = integrate_channels(channels, run, chunk, rng, log=log)
    timings["integration_s"] = time.perf_counter() - start
    if not result.cross_section_pb > 0:
        raise MadgenError(f"the cross section of '{process.process}' vanishes with these cuts "
                          f"({run.path}): no events can be generated; loosen the cuts")
    log(f"cross section: {result.cross_section_pb:.6g} +- {result.error_pb:.2g} pb "
        f"({100 * result.relative_error:.3g}%, {result.n_points} points)")

    start = time.perf_counter()
    bar = _progress(run.n_events, progress)
    try:
        momenta, channel_index, efficiency, max_weight = unweighted_events(
            channels, run.n_events, rng, chunk, run.max_weight_tolerance, bar)
    finally:
        bar.close()
    n_kept = len(momenta)
    timings["unweighting_s"] = time.perf_counter() - start
    log(f"{n_kept} unweighted events (efficiency {efficiency:.3g})")

    events, _ = _decorate_events(subprocesses, channels, momenta, channel_index, run,
                                 result.cross_section_pb, rng)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    launch_result = LaunchResult(
        result.cross_section_pb, result.error_pb, n_kept, run.seed, result.n_points, efficiency, max_weight,
        str(output_dir),
        tuple({"channel": c.channel.label, "cross_section_pb": c.cross_section_pb, "error_pb": c.error_pb,
               "n_points": c.n_points, "chi2_dof": c.chi2_dof} for c in result.channels),
        timings)
    _write_outputs(process, run, collision, launch_result, events, output_dir)
    return launch_result


def _decorate_events(subprocesses, channels, momenta, channel_index, run, cross_section_pb, rng):
    """Columnar events: PDG ids, masses, a helicity configuration and a leading-colour flow
    per event (chosen in proportion to their contributions, as MadGraph does), weight sigma/N."""
    from madgen.runtime.columnar import EventRecord, concatenate

    sub_of_event = np.array([channels[i].channel.subprocess for i in channel_index], dtype=np.int64)
    uniforms = rng.random((len(momenta), 2))
    weight = cross_section_pb / len(momenta)
    records, order = [], []
    for index, sub in enumerate(subprocesses):
        rows = np.nonzero(sub_of_event == index)[0]
        if len(rows) == 0:
            continue
        helicities, colour = sub.select_helicity_and_colour(momenta[rows], uniforms[rows])
        couplings = _couplings(sub)
        records.append(EventRecord.from_arrays(
            pdg_ids=np.asarray(sub.pdg_ids), momenta=momenta[rows], weights=np.full(len(rows), weight),
            masses=np.asarray(sub.masses()), helicities=np.asarray(helicities), colour=np.asarray(colour),
            scale=run.scale, aqed=couplings.get("aEW", -1.0), aqcd=couplings.get("aS", -1.0)))
        order.append(rows)
    record = concatenate(records)
    # back to generation order, so events of different subprocesses stay mixed as sampled
    inverse = np.argsort(np.concatenate(order), kind="stable")
    return EventRecord(**{name: column[inverse] for name, column in record.columns().items()}), sub_of_event


def _couplings(process) -> dict:
    """alpha_EW and alpha_S at the default parameters (for the LHE event lines)."""
    internal = process._parameters.compute_parameters(process.complete_parameters(None))
    return {name: float(np.real(internal[name])) for name in ("aEW", "aS") if name in internal}


def _write_outputs(process, run, collision, result: LaunchResult, events, output_dir: Path):
    """events.lhe, events.npz/.h5 and results.json, each complete or absent."""
    from madgen.runtime.columnar import atomic_output, write_columnar
    from madgen.runtime.lhe import Beams, write_lhe

    pdg_beams = process.subprocesses[0].pdg_ids[:2]
    info = {"process": str(process.process), "run_card": run.to_yaml(),
            "cross_section": f"{result.cross_section_pb:.10e} +- {result.error_pb:.4e} pb"}
    if run.lhe:
        write_lhe(output_dir / "events.lhe", beams=Beams(pdg_beams[0], pdg_beams[1], collision.e1, collision.e2),
                  cross_section_pb=result.cross_section_pb, error_pb=result.error_pb, events=events,
                  header_info=info)
    if run.columnar:
        suffix = {"npz": "events.npz", "hdf5": "events.h5"}[run.columnar]
        write_columnar(output_dir / suffix, events, metadata={
            "process": str(process.process), "cross_section_pb": result.cross_section_pb,
            "error_pb": result.error_pb, "seed": run.seed, "sqrt_s": collision.sqrt_s(*map(float, process.subprocesses[0].masses()[:2])),
            "beam_energies": [collision.e1, collision.e2]}, format=run.columnar)
    with atomic_output(output_dir / "results.json", "w") as handle:
        json.dump(asdict(result), handle, indent=2, sort_keys=True)
        handle.write("\n")


class _NoProgress:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    """A tqdm progress bar over accepted events (or nothing when disabled or tqdm is missing)."""
    if not enabled:
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, unit="evt", desc="unweighting", leave=False)
