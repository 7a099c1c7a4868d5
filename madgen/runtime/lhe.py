"""Les Houches Event file writer (LHE 3.0: hep-ph/0609017, arXiv:1405.1067), MadGraph-style.

No PDFs: the beams (IDBMUP, EBMUP) are the initial-state particles of the process and PDFGUP =
PDFSUP = 0.  Weighting: IDWTUP = 3 by default (unweighted events, every XWGTUP equal), with
XWGTUP = sigma / N in pb, so that the weights sum to the cross section as in MadGraph's files;
XSECUP / XERRUP are the integrated cross section and its error in pb and XMAXUP the largest
|XWGTUP|.  Events are streamed into a temporary file and the finished file is moved onto ``path``
only when complete: an exception or KeyboardInterrupt leaves neither a partial file nor a
temporary one.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from madgen.output import atomic_file, temporary_file
from madgen.runtime.columnar import EventRecord, _as_chunks

INITIAL, FINAL = -1, 1  # ISTUP
_INIT_BEAMS = " {:8d} {:8d} {:+.10e} {:+.10e} {:d} {:d} {:d} {:d} {:d} {:d}\n"
_INIT_PROCESS = " {:+.10e} {:+.10e} {:+.10e} {:d}\n"
_EVENT = " {:d} {:6d} {:+.10e} {:.10e} {:.10e} {:.10e}\n"
_PARTICLE = (" {:8d} {:2d} {:4d} {:4d} {:4d} {:4d} {:+.10e} {:+.10e} {:+.10e} {:.10e} {:.10e}"
             " {:.4e} {:.4e}\n")


@dataclass(frozen=True)
class Beams:
    """Beam particles (PDG ids of the initial state) and energies in GeV; beam 1 along +z."""

    pdg1: int
    pdg2: int
    energy1: float
    energy2: float


def write_lhe(path: str | Path, *, beams: Beams | tuple[int, int, float, float], process_id: int = 1,
              cross_section_pb: float, error_pb: float, max_weight: float | None = None,
              events: EventRecord | Iterable[EventRecord], header_info: Mapping[str, str] | None = None,
              n_initial: int = 2, weighting_strategy: int = 3, generator: str = "madgen") -> Path:
    """Write ``events`` (one record or an iterable of chunks, streamed) as an LHE 3.0 file.

    ``header_info`` entries become elements of ``<header><madgen>`` (e.g. ``run_card``,
    ``process``, ``param_card`` text), wrapped in CDATA.  ``max_weight`` (XMAXUP) defaults to the
    largest |weight| written.  Returns ``path``.
    """
    path = Path(path)
    _generator_block(header_info, generator)  # checked before any event is formatted
    with LHEWriter(path, process_id=process_id, n_initial=n_initial) as writer:
        for record in _as_chunks(events):
            writer.append(record)
        writer.finish(beams=beams, cross_section_pb=cross_section_pb, error_pb=error_pb,
                      max_weight=max_weight, header_info=header_info,
                      weighting_strategy=weighting_strategy, generator=generator)
    return path


class LHEWriter:
    """Streams event chunks into a locked scratch file beside ``path``; ``finish`` writes the
    complete file atomically (header and ``<init>`` need the totals, so they come last). Leaving
    the ``with`` block without ``finish`` (an error, Ctrl-C) writes nothing."""

    def __init__(self, path: str | Path, process_id: int = 1, n_initial: int = 2):
        self.path = Path(path)
        self.process_id, self.n_initial = process_id, n_initial
        self.n_events, self.largest = 0, 0.0
        self._scratch = None
        self._body = None

    def __enter__(self) -> "LHEWriter":
        self._scratch = temporary_file(self.path.parent, f"{self.path.name}.body")
        self._body, _ = self._scratch.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._scratch.__exit__(*exc)

    def append(self, record: EventRecord) -> None:
        """Format and stream one chunk of events."""
        _check_legs(record, self.n_initial)
        self._body.write(format_events(record, self.process_id, self.n_initial))
        self.n_events += len(record)
        if len(record):
            self.largest = max(self.largest, float(np.max(np.abs(record.weights))))

    def finish(self, *, beams: Beams | tuple, cross_section_pb: float, error_pb: float,
               max_weight: float | None = None, header_info: Mapping[str, str] | None = None,
               weighting_strategy: int = 3, generator: str = "madgen") -> Path:
        """Write the complete file: header, ``<init>`` (XMAXUP: ``max_weight`` or the largest
        |weight| streamed) and the events."""
        beams = beams if isinstance(beams, Beams) else Beams(*beams)
        generator_block = _generator_block(header_info, generator)
        self._body.flush()
        self._body.seek(0)
        with atomic_file(self.path, "w") as stream:
            stream.write(_header(self.n_events, cross_section_pb, generator_block))
            stream.write(_init_block(beams, self.process_id, cross_section_pb, error_pb,
                                     self.largest if max_weight is None else max_weight, weighting_strategy))
            shutil.copyfileobj(self._body, stream)
            stream.write("</LesHouchesEvents>\n")
        return self.path


def _check_legs(record: EventRecord, n_initial: int) -> None:
    if n_initial not in (1, 2) or record.n_legs <= n_initial:
        raise ValueError(f"events have {record.n_legs} legs; need more than n_initial = {n_initial} (1 or 2)")


def format_events(record: EventRecord, process_id: int = 1, n_initial: int = 2) -> str:
    """The ``<event>`` blocks of a record: status -1 for initial legs, +1 for final ones."""
    n_legs = record.n_legs
    status = [INITIAL] * n_initial + [FINAL] * (n_legs - n_initial)
    mothers = [(0, 0)] * n_initial + [(1, n_initial)] * (n_legs - n_initial)
    pdg, momenta = record.pdg_ids.tolist(), record.momenta.tolist()
    masses, helicities, colour = record.masses.tolist(), record.helicities.tolist(), record.colour.tolist()
    info = zip(record.weights.tolist(), record.scale.tolist(), record.aqed.tolist(), record.aqcd.tolist())
    lines = []
    for event, (weight, scale, aqed, aqcd) in enumerate(info):
        lines.append("<event>\n")
        lines.append(_EVENT.format(n_legs, process_id, weight, scale, aqed, aqcd))
        for leg in range(n_legs):
            energy, px, py, pz = momenta[event][leg]
            colour1, colour2 = colour[event][leg]
            lines.append(_PARTICLE.format(pdg[event][leg], status[leg], *mothers[leg], colour1, colour2,
                                          px, py, pz, energy, masses[event][leg], 0.0, helicities[event][leg]))
        lines.append("</event>\n")
    return "".join(lines)


def _cdata(text: str) -> str:
    return "<![CDATA[\n" + text.replace("]]>", "]]]]><![CDATA[>") + "\n]]>"


def _generator_block(header_info: Mapping[str, str] | None, generator: str) -> str:
    """``<madgen version=...>`` with one CDATA element per ``header_info`` entry."""
    from madgen.version import __version__ as version

    lines = [f'<{generator} version="{version}">\n']
    for key, text in (header_info or {}).items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", str(key)):
            raise ValueError(f"header_info key {key!r} is not an XML element name (letters, digits, _ . -)")
        lines.append(f"<{key}>{_cdata(str(text))}</{key}>\n")
    lines.append(f"</{generator}>\n")
    return "".join(lines)


def _header(n_events: int, cross_section_pb: float, generator_block: str) -> str:
    return ('<LesHouchesEvents version="3.0">\n<header>\n<MGGenerationInfo>\n'
            f"#  Number of Events        :  {n_events:d}\n"
            f"#  Integrated weight (pb)  :  {cross_section_pb:.10e}\n"
            "</MGGenerationInfo>\n" + generator_block + "</header>\n")


def _init_block(beams: Beams, process_id: int, cross_section_pb: float, error_pb: float,
                max_weight: float, weighting_strategy: int) -> str:
    return ("<init>\n"
            + _INIT_BEAMS.format(beams.pdg1, beams.pdg2, beams.energy1, beams.energy2, 0, 0, 0, 0,
                                 weighting_strategy, 1)
            + _INIT_PROCESS.format(cross_section_pb, error_pb, max_weight, process_id)
            + "</init>\n")
