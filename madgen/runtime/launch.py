"""``madgen launch``: a prepared run (``madgen.runtime.prepared``), then unweighted events
(LHE 3.0, a columnar file) and ``results.json`` in a run directory.

Stages: checks and integration (``prepare_run``) -> pilot sample and robust maximum weights ->
hit-or-miss unweighting on the device, the accepted events decorated (flavours, helicities, colour
flows, resonances) and streamed to the files -> the run directory renamed into place as a whole
(``madgen.output.staged_directory``): complete, or not there at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import jax
import numpy as np

from madgen.errors import MadgenError


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
    groups: tuple[dict, ...] = ()  # per kernel group: its subprocesses, cross section and error
    abs_cross_section_pb: float = 0.0  # sigma_abs, the integral of |f|: the events' weights are +- sigma_abs / N
    n_negative: int = 0  # events with a negative weight (an interference term, a PDF below zero)
    event_files: tuple[str, ...] = ()  # names of the event files written into output_dir
    parameters: Mapping[str, float] = field(default_factory=dict)  # the run's external parameters (UFO names)
    scale_variations: tuple[dict, ...] = ()  # use_syst: sigma at each (muR, muF) factor pair, from the events


def launch(process, run, output_dir, force: bool = False, log=print, progress=True, distribute=None,
           parameters=None) -> LaunchResult:
    """Integrate ``process`` (a loaded generated package) with run card ``run``; write events into
    ``output_dir`` (replaced only with ``force``, and only if it is a madgen run directory).
    ``distribute``: None, or the task runner factory of ``madgen.runtime.tasks.distribution`` (Dask);
    ``parameters``: external parameters for this run (the package's defaults elsewhere)."""
    from madgen.output import RUN, check_replaceable, staged_directory
    from madgen.runtime.events import RunFiles, check_disk_space
    from madgen.runtime.prepared import prepare_run, subprocesses_of

    output_dir = Path(output_dir)
    check_replaceable(output_dir, RUN, force)  # before hours of integration, not after
    check_disk_space(run, max(sub.n_legs for sub in subprocesses_of(process)), output_dir.parent)
    _check_param_card_for_decay_lengths(process, run)
    start = time.perf_counter()
    prepared = prepare_run(process, run, parameters, log=log, distribute=distribute)
    run = prepared.run  # with what it leaves to the process filled in (maxjetflavor), as the files record it
    timings = {"integration_s": time.perf_counter() - start}
    result = prepared.result
    if not abs(result.cross_section_pb) > 0:
        raise MadgenError(f"the cross section of '{process.process}' vanishes with these cuts "
                          f"({run.path}): no events can be generated; loosen the cuts")
    log(f"cross section: {result.cross_section_pb:.6g} +- {result.error_pb:.2g} pb "
        f"({100 * result.relative_error:.3g}%, {result.n_points} points)")
    systematics = None
    if run.use_syst:
        from madgen.runtime.systematics import ScaleWeights

        systematics = ScaleWeights(prepared.collider, run.sys_scalefact, dict(prepared.parameters).get("aS"))
    with staged_directory(output_dir, RUN, force=force) as staging, \
            RunFiles(staging, run, pdf_info=prepared.collider.has_pdf, systematics=systematics) as files:
        start = time.perf_counter()
        plan, n_kept, n_negative = _stream_events(files, prepared, progress)
        timings["unweighting_s"] = time.perf_counter() - start
        log(f"{n_kept} unweighted events (efficiency {plan.efficiency:.3g}"
            + (f"; {n_negative} with a negative weight)" if n_negative else ")"))
        launch_result = LaunchResult(
            result.cross_section_pb, result.error_pb, n_kept, run.seed, result.n_points, plan.efficiency,
            plan.max_weight, str(output_dir),
            tuple({"channel": c.channel.label, "cross_section_pb": c.cross_section_pb, "error_pb": c.error_pb,
                   "n_points": c.n_points, "chi2_dof": c.chi2_dof} for c in result.channels),
            timings, group_results(prepared), plan.abs_cross_section_pb, n_negative, files.event_files,
            run_parameters(prepared.parameters),
            tuple(systematics.results(result.cross_section_pb)) if systematics else ())
        if systematics is not None:
            _log_scale_variation(launch_result.scale_variations, log)
        files.finish(launch_result, prepared, event_weight(run, plan.abs_cross_section_pb))
    return launch_result


def _log_scale_variation(variations, log) -> None:
    """MadGraph's summary line: the envelope of the scale variations around the central sigma."""
    from madgen.runtime.systematics import envelope

    up, down = envelope(np.array([v["cross_section_pb"] for v in variations]))
    log(f"scale variation: +{100 * up:.3g}% -{100 * down:.3g}% (muR, muF x {sorted({v['mu_r_factor'] for v in variations})})")


def run_parameters(parameters: Mapping) -> dict[str, float]:
    """The run's external parameters as floats, for ``results.json`` (what ``--set`` or the process
    card's ``parameters`` would reproduce)."""
    return {name: float(np.real(np.asarray(value))) for name, value in parameters.items()}


def event_weight(run, abs_cross_section_pb: float) -> float:
    """The magnitude of every unweighted event's weight, by MadGraph's ``event_norm``: sigma_abs
    (average), sigma_abs / N (sum) or 1 (unity); an event carries it with the sign of its integrand,
    so the weights sum to sigma on average (sigma_abs = sigma when the integrand is never negative)."""
    return {"average": abs_cross_section_pb, "sum": abs_cross_section_pb / run.n_events,
            "unity": 1.0}[run.event_norm]


def group_results(prepared) -> tuple[dict, ...]:
    """Per kernel group (LHE process id): its subprocesses, cross section and error in pb."""
    import math

    groups = []
    for g, integrand in enumerate(prepared.integrands):
        rows = [r for r in prepared.result.channels if r.channel.group == g]
        groups.append({"process_id": g + 1,
                       "subprocesses": [prepared.process.subprocesses[m].process for m in integrand.members],
                       "cross_section_pb": sum(r.cross_section_pb for r in rows),
                       "error_pb": math.sqrt(sum(r.error_pb ** 2 for r in rows))})
    return tuple(groups)


def _check_param_card_for_decay_lengths(process, run) -> None:
    """``time_of_flight`` takes the widths from the package's param card: a package generated before packages
    carried one is refused before the integration, not after it."""
    from madgen.errors import RunCardError

    if run.time_of_flight < 0:
        return
    try:
        process.param_card()
    except FileNotFoundError:
        raise RunCardError(f"{run.path}, key 'time_of_flight': the package of '{process.process}' has no "
                           "param_card.dat to take the widths from (generated by an older madgen): regenerate it "
                           "with `madgen generate`, or set time_of_flight to -1") from None


def _stream_events(files, prepared, progress):
    """Unweight on the device, decorate and stream the events into the run's files in rounds;
    returns (the ``Unweighting`` plan, the number of events, the number with a negative weight)."""
    from madgen.runtime.events import (DECAY_LENGTH_STREAM, DECORATE_STREAM, DecayLengths, event_records,
                                       mean_decay_lengths)

    run = prepared.run
    plan = prepared.plan_unweighting(run.n_events)
    weight = event_weight(run, plan.abs_cross_section_pb)
    key = jax.random.fold_in(prepared.key, DECORATE_STREAM)
    decay_lengths = None
    if run.time_of_flight >= 0:
        decay_lengths = mean_decay_lengths(prepared.process.param_card(prepared.parameters))
        length_key = jax.random.fold_in(prepared.key, DECAY_LENGTH_STREAM)
    bar = _progress(run.n_events, progress)
    n_kept = n_negative = 0
    masses_and_widths = {}  # per kernel group, at the run's parameters: computed once, not per chunk
    try:
        for chunk, (group, accepted) in enumerate(prepared.events(run.n_events, plan)):
            lengths = None if decay_lengths is None else \
                DecayLengths(decay_lengths, run.time_of_flight, jax.random.fold_in(length_key, chunk), len(group))
            records = event_records(prepared, group, accepted, weight, jax.random.fold_in(key, chunk), lengths,
                                    masses_and_widths)
            files.append(records)
            n_kept += len(group)
            n_negative += int(np.sum(records.columnar.weights < 0))
            bar.update(len(group))
    finally:
        bar.close()
    return plan, n_kept, n_negative


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
