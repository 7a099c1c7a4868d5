"""``madgen launch``: integrate a generated process at fixed beam energies, then write unweighted
events (LHE 3.0, a columnar file) and ``results.json`` into a run directory.

Stages: checks (threshold, cuts, widths, disk space) -> channels -> VEGAS integration -> pilot
sample and robust maximum weight -> hit-or-miss unweighting in bounded batches, each batch
decorated (helicities, colour flows) and streamed to the files -> the run directory renamed into
place as a whole (``madgen.output.staged_directory``): complete, or not there at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

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


def launch(process, run, output_dir, force: bool = False, log=print, progress=True) -> LaunchResult:
    """Integrate ``process`` (a loaded generated package) with run card ``run``; write events into
    ``output_dir`` (replaced only with ``force``, and only if it is a madgen run directory)."""
    from madgen.output import RUN, check_replaceable, staged_directory
    from madgen.runtime.channels import batch_size, prepare_channels, subprocesses_of
    from madgen.runtime.events import RunFiles, check_disk_space
    from madgen.runtime.integrate import integrate_channels

    output_dir = Path(output_dir)
    check_replaceable(output_dir, RUN, force)  # before hours of integration, not after
    subprocesses = subprocesses_of(process)
    check_disk_space(run, max(sub.n_legs for sub in subprocesses), output_dir.parent)
    timings = {}
    start = time.perf_counter()
    channels, rng, collision = prepare_channels(process, run)
    with staged_directory(output_dir, RUN, force=force) as staging, RunFiles(staging, run, process) as files:
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
        plan, n_kept = _stream_events(files, subprocesses, channels, run, result.cross_section_pb, rng, chunk,
                                      progress)
        timings["unweighting_s"] = time.perf_counter() - start
        log(f"{n_kept} unweighted events (efficiency {plan.efficiency:.3g})")
        launch_result = LaunchResult(
            result.cross_section_pb, result.error_pb, n_kept, run.seed, result.n_points, plan.efficiency,
            plan.max_weight, str(output_dir),
            tuple({"channel": c.channel.label, "cross_section_pb": c.cross_section_pb, "error_pb": c.error_pb,
                   "n_points": c.n_points, "chi2_dof": c.chi2_dof} for c in result.channels),
            timings)
        files.finish(launch_result, collision)
    return launch_result


def _stream_events(files, subprocesses, channels, run, cross_section_pb, rng, chunk, progress):
    """Unweight batch by batch, each batch decorated and streamed into the run's files; returns
    (the ``Unweighting`` plan, the number of events)."""
    from madgen.runtime.events import event_record
    from madgen.runtime.unweight import accepted_batches, plan_unweighting

    plan = plan_unweighting(channels, run.n_events, rng, chunk, run.max_weight_tolerance)
    weight = cross_section_pb / run.n_events
    bar = _progress(run.n_events, progress)
    n_kept = 0
    try:
        for momenta, channel_index in accepted_batches(channels, plan, run.n_events, rng, chunk):
            uniforms = rng.random((len(momenta), 2))
            files.append(event_record(subprocesses, channels, momenta, channel_index, weight, run.scale, uniforms))
            n_kept += len(momenta)
            bar.update(len(momenta))
    finally:
        bar.close()
    return plan, n_kept


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
