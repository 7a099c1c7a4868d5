"""Accepted events -> event records (flavours, helicities, colour flows, couplings) -> the run's
files, chunk by chunk, so that memory stays bounded whatever the number of events.

Helicities and leading-colour flows are chosen per event in proportion to their contributions to
|M|^2, as MadGraph does; the selection runs in fixed-size padded batches so it compiles once.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from madgen.errors import RunCardError

SELECTION_BATCH = 4096
"""Events per compiled helicity/colour selection (a fixed shape: one compilation per subprocess)."""

LHE_BYTES_PER_LEG = 140
"""Size of one particle line in an LHE file (plus an event header of about as much)."""


def event_record(subprocesses, channels, momenta, channel_index, weight, scale, uniforms):
    """The ``EventRecord`` of one chunk of accepted events (generation order kept)."""
    from madgen.runtime.columnar import EventRecord, concatenate

    sub_of_event = np.array([channels[i].channel.subprocess for i in channel_index], dtype=np.int64)
    records, order = [], []
    for index, sub in enumerate(subprocesses):
        rows = np.nonzero(sub_of_event == index)[0]
        if len(rows) == 0:
            continue
        helicities, colour = select_helicity_and_colour(sub, momenta[rows], uniforms[rows])
        alpha_ew, alpha_s = sub.alpha_couplings()
        records.append(EventRecord.from_arrays(
            pdg_ids=np.asarray(sub.pdg_ids), momenta=momenta[rows], weights=np.full(len(rows), weight),
            masses=np.asarray(sub.masses()), helicities=helicities, colour=colour,
            scale=scale, aqed=alpha_ew, aqcd=alpha_s))
        order.append(rows)
    record = concatenate(records)
    inverse = np.argsort(np.concatenate(order), kind="stable")
    return EventRecord(**{name: column[inverse] for name, column in record.columns().items()})


def select_helicity_and_colour(sub, momenta, uniforms):
    """``sub.select_helicity_and_colour`` in padded batches of SELECTION_BATCH events."""
    helicities, colour = [], []
    for start in range(0, len(momenta), SELECTION_BATCH):
        block, u = momenta[start:start + SELECTION_BATCH], uniforms[start:start + SELECTION_BATCH]
        filled = len(block)
        if filled < SELECTION_BATCH:
            block = np.concatenate([block, np.repeat(block[:1], SELECTION_BATCH - filled, axis=0)])
            u = np.concatenate([u, np.full((SELECTION_BATCH - filled, 2), 0.5)])
        h, c = sub.select_helicity_and_colour(block, u, check=False)
        helicities.append(np.asarray(h)[:filled])
        colour.append(np.asarray(c)[:filled])
    return np.concatenate(helicities), np.concatenate(colour)


def check_disk_space(run, n_legs: int, directory: Path) -> None:
    """Refuse a run whose files cannot fit on the disk (before integrating, not after hours)."""
    per_event = 0
    if run.lhe:
        per_event += LHE_BYTES_PER_LEG * (n_legs + 1)
    if run.columnar:
        per_event += 8 * n_legs * 8 + 8 * 4  # momenta, masses, helicities, colour, pdg ids + 4 scalars
    needed = 2 * per_event * run.n_events  # scratch files, then the final file beside them
    probe = directory
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise RunCardError(f"{run.path}, key 'n_events': {run.n_events} events need about {_bytes(needed)} on disk "
                           f"while writing ({_bytes(needed / 2)} of files), but {probe} has {_bytes(free)} free; "
                           "ask for fewer events or free some space")


def _bytes(n: float) -> str:
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    power = min(int(math.log(max(n, 1), 1000)), len(units) - 1)
    return f"{n / 1000 ** power:.3g} {units[power]}"


class RunFiles:
    """The files of one run, written into a (staging) directory: ``events.lhe``, ``events.npz`` or
    ``events.h5``, ``results.json``. Chunks stream in through ``append``; ``finish`` writes them."""

    def __init__(self, directory: Path, run, process):
        from madgen.runtime.columnar import ColumnarWriter
        from madgen.runtime.lhe import LHEWriter

        self.directory, self.run, self.process = Path(directory), run, process
        self._lhe = LHEWriter(self.directory / "events.lhe") if run.lhe else None
        suffix = {"npz": "events.npz", "hdf5": "events.h5"}.get(run.columnar)
        self._columnar = ColumnarWriter(self.directory / suffix, run.columnar) if suffix else None

    def __enter__(self) -> "RunFiles":
        for writer in (self._lhe, self._columnar):
            if writer is not None:
                writer.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for writer in (self._lhe, self._columnar):
            if writer is not None:
                writer.__exit__(*exc)

    def append(self, record) -> None:
        for writer in (self._lhe, self._columnar):
            if writer is not None:
                writer.append(record)

    def finish(self, result, collision) -> None:
        """Write every file complete (results.json last)."""
        from madgen.output import atomic_write_text
        from madgen.runtime.lhe import Beams

        process, run = self.process, self.run
        pdg_beams = process.subprocesses[0].pdg_ids[:2]
        if self._lhe is not None:
            info = {"process": str(process.process), "run_card": run.to_yaml(),
                    "cross_section": f"{result.cross_section_pb:.10e} +- {result.error_pb:.4e} pb"}
            self._lhe.finish(beams=Beams(pdg_beams[0], pdg_beams[1], collision.e1, collision.e2),
                             cross_section_pb=result.cross_section_pb, error_pb=result.error_pb, header_info=info)
        if self._columnar is not None:
            masses = [float(m) for m in np.asarray(process.subprocesses[0].masses())[:2]]
            self._columnar.finish({
                "process": str(process.process), "cross_section_pb": result.cross_section_pb,
                "error_pb": result.error_pb, "seed": run.seed, "sqrt_s": collision.sqrt_s(*masses),
                "beam_energies": [collision.e1, collision.e2]})
        atomic_write_text(self.directory / "results.json", json.dumps(asdict(result), indent=2, sort_keys=True) + "\n")
