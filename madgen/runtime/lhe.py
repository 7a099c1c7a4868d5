"""Les Houches Event file writer (LHE 3.0: hep-ph/0609017, arXiv:1405.1067), MadGraph-style.

The caller gives the beams (IDBMUP, EBMUP, and PDFGUP/PDFSUP: the LHAPDF id of hadron beams, 0
otherwise), the weighting strategy IDWTUP (launch: -4, as MadGraph, for unweighted events of either
sign) and each XWGTUP (launch: sigma, sigma / N or 1 in pb, by the run card's event_norm);
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
from typing import Iterable, Mapping, Sequence

import numpy as np

from madgen.output import atomic_file, temporary_file
from madgen.runtime.columnar import NO_LINE, EventRecord, _as_chunks

INITIAL, FINAL, RESONANCE = -1, 1, 2  # ISTUP
_INIT_BEAMS = " {:8d} {:8d} {:+.10e} {:+.10e} {:d} {:d} {:d} {:d} {:d} {:d}\n"
_INIT_PROCESS = " {:+.10e} {:+.10e} {:+.10e} {:d}\n"
_EVENT = " {:d} {:6d} {:+.10e} {:.10e} {:.10e} {:.10e}\n"
_PARTICLE = (" {:8d} {:2d} {:4d} {:4d} {:4d} {:4d} {:+.10e} {:+.10e} {:+.10e} {:.10e} {:.10e}"
             " {:.4e} {:.4e}\n")


@dataclass(frozen=True)
class Beams:
    """Beam particles (PDG ids: 2212 for protons, else the initial particles), energies in GeV
    (beam 1 along +z) and the LHAPDF ids of their PDF sets (0: none)."""

    pdg1: int
    pdg2: int
    energy1: float
    energy2: float
    pdf1: int = 0
    pdf2: int = 0


@dataclass(frozen=True)
class ProcessLine:
    """One process of ``<init>``: cross section and error in pb, XMAXUP, and its id (LPRUP)."""

    cross_section_pb: float
    error_pb: float
    max_weight: float
    process_id: int


def write_lhe(path: str | Path, *, beams: Beams | tuple[int, int, float, float], process_id: int = 1,
              cross_section_pb: float, error_pb: float, max_weight: float | None = None,
              events: EventRecord | Iterable[EventRecord], header_info: Mapping[str, str] | None = None,
              n_initial: int = 2, weighting_strategy: int = 3, generator: str = "madgen",
              mgrwt: bool = False) -> Path:
    """Write ``events`` (one record or an iterable of chunks, streamed) as an LHE 3.0 file with one
    process ``process_id`` (every event's IDPRUP).

    ``header_info`` entries become elements of ``<header><madgen>`` (e.g. ``run_card``,
    ``process``, ``param_card`` text), wrapped in CDATA.  ``max_weight`` (XMAXUP) defaults to the
    largest |weight| written; ``mgrwt`` adds MadGraph's per-event ``<mgrwt>`` block.  Returns ``path``.
    """
    path = Path(path)
    _generator_block(header_info, generator)  # checked before any event is formatted
    with LHEWriter(path, process_id=process_id, n_initial=n_initial, mgrwt=mgrwt) as writer:
        for record in _as_chunks(events):
            writer.append(record)
        writer.finish(beams=beams, cross_section_pb=cross_section_pb, error_pb=error_pb,
                      max_weight=max_weight, header_info=header_info,
                      weighting_strategy=weighting_strategy, generator=generator)
    return path


class LHEWriter:
    """Streams event chunks into a locked scratch file beside ``path``; ``finish`` writes the
    complete file atomically (header and ``<init>`` need the totals, so they come last). Leaving
    the ``with`` block without ``finish`` (an error, Ctrl-C) writes nothing. ``process_id``: the
    IDPRUP of every event (None: each record's ``process_id`` column)."""

    def __init__(self, path: str | Path, process_id: int | None = None, n_initial: int = 2, mgrwt: bool = False):
        self.path = Path(path)
        self.process_id, self.n_initial, self.mgrwt = process_id, n_initial, mgrwt
        self.n_events, self.largest = 0, 0.0
        self._scratch = None
        self._body = None

    def __enter__(self) -> "LHEWriter":
        self._scratch = temporary_file(self.path.parent, f"{self.path.name}.body")
        self._body, _ = self._scratch.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._scratch.__exit__(*exc)

    def append(self, record: EventRecord, named_weights: tuple[Sequence[str], np.ndarray] | None = None) -> None:
        """Format and stream one chunk of events; ``named_weights`` (ids, (N, k) values) become each
        event's LHE 3.0 ``<rwgt>`` weights (declared by ``finish``'s ``weight_group``)."""
        _check_legs(record, self.n_initial)
        self._body.write(format_events(record, self.process_id, mgrwt=self.mgrwt, named_weights=named_weights))
        self.n_events += len(record)
        if len(record):
            self.largest = max(self.largest, float(np.max(np.abs(record.weights))))

    def finish(self, *, beams: Beams | tuple, cross_section_pb: float, error_pb: float,
               max_weight: float | None = None, header_info: Mapping[str, str] | None = None,
               weighting_strategy: int = 3, generator: str = "madgen",
               processes: Sequence[ProcessLine] | None = None, slha: str | None = None,
               weight_group: str | None = None) -> Path:
        """Write the complete file: header (with the param card ``slha`` as MadGraph's ``<slha>`` block,
        which showers read masses and widths from, and ``weight_group``, a ``<weightgroup>`` declaring
        the events' named weights, in ``<initrwgt>``), ``<init>`` (``processes``, or one process with
        XMAXUP ``max_weight`` or the largest |weight| streamed) and the events."""
        beams = beams if isinstance(beams, Beams) else Beams(*beams)
        generator_block = _generator_block(header_info, generator)
        if processes is None:
            processes = [ProcessLine(cross_section_pb, error_pb, self.largest if max_weight is None else max_weight,
                                     1 if self.process_id is None else self.process_id)]
        self._body.flush()
        self._body.seek(0)
        with atomic_file(self.path, "w") as stream:
            stream.write(_header(self.n_events, cross_section_pb, generator_block, slha, weight_group))
            stream.write(_init_block(beams, processes, weighting_strategy))
            shutil.copyfileobj(self._body, stream)
            stream.write("</LesHouchesEvents>\n")
        return self.path


def _check_legs(record: EventRecord, n_initial: int) -> None:
    if n_initial not in (1, 2) or record.n_legs <= n_initial:
        raise ValueError(f"events have {record.n_legs} legs; need more than n_initial = {n_initial} (1 or 2)")


def fortran_e(value: float, digits: int = 8, width: int = 15) -> str:
    """``value`` as Fortran's E<width>.<digits> writes it (0.12345678E+03), as in MadGraph's blocks."""
    if value == 0 or not np.isfinite(value):
        mantissa, exponent = (0.0, 0) if value == 0 else (value, 0)
    else:
        exponent = int(np.floor(np.log10(abs(value)))) + 1
        mantissa = value / 10.0 ** exponent
        if round(abs(mantissa), digits) >= 1.0:
            mantissa, exponent = mantissa / 10.0, exponent + 1
    text = f"{mantissa:.{digits}f}".replace("0.", "0.", 1) + f"E{exponent:+03d}"
    if text.startswith("-0."):
        text = "-0." + text[3:]
    return text.rjust(width)


def mgrwt_block(n_qcd: int, mu_r: float, partons: tuple[int, int], x: tuple[float, float],
                mu_f: tuple[float, float], factor: float) -> str:
    """MadGraph's ``<mgrwt>`` block of one event (``unwgt.f``: formats (a,I3,E15.8,a) and
    (a,I3,I9,2E15.8,a)), for a leading-order event without merging; ``mu_f`` one scale per beam."""
    lines = ["<mgrwt>\n", f"<rscale>{n_qcd:3d}{fortran_e(mu_r)}</rscale>\n", "<asrwt>0</asrwt>\n"]
    for beam in (0, 1):
        lines.append(f'<pdfrwt beam="{beam + 1}">{1:3d}{partons[beam]:9d}{fortran_e(x[beam])}'
                     f"{fortran_e(mu_f[beam])}</pdfrwt>\n")
    lines += [f"<totfact>{fortran_e(factor)}</totfact>\n", "</mgrwt>\n"]
    return "".join(lines)


def format_events(record: EventRecord, process_id: int | None = None, n_initial: int = 2,
                  mgrwt: bool = False, named_weights: tuple[Sequence[str], np.ndarray] | None = None) -> str:
    """The ``<event>`` blocks of a record (its statuses and mothers; ``n_initial`` is not needed
    and kept for callers of the older signature). ``process_id`` overrides the record's IDPRUP;
    ``named_weights`` (ids, (N, k) values) are written as each event's ``<rwgt>``."""
    n_lines = record.n_legs
    pdg, momenta = record.pdg_ids.tolist(), record.momenta.tolist()
    masses, helicities, colour = record.masses.tolist(), record.helicities.tolist(), record.colour.tolist()
    lifetimes = record.lifetime.tolist()
    status, mothers = record.status.tolist(), record.mothers.tolist()
    ids = record.process_id.tolist() if process_id is None else [process_id] * len(record)
    info = zip(record.weights.tolist(), record.scale.tolist(), record.aqed.tolist(), record.aqcd.tolist(), ids)
    lines = []
    for event, (weight, scale, aqed, aqcd, pid) in enumerate(info):
        present = [line for line in range(n_lines) if status[event][line] != NO_LINE]  # padding lines skipped
        lines.append("<event>\n")
        lines.append(_EVENT.format(len(present), pid, weight, scale, aqed, aqcd))
        for line in present:
            energy, px, py, pz = momenta[event][line]  # + 0.0 below: no "-0.0000000000e+00" in the file
            colour1, colour2 = colour[event][line]
            lines.append(_PARTICLE.format(pdg[event][line], status[event][line], *mothers[event][line], colour1,
                                          colour2, px + 0.0, py + 0.0, pz + 0.0, energy, masses[event][line],
                                          lifetimes[event][line], helicities[event][line]))
        if mgrwt:
            factor = float(record.luminosity[event] * record.aqcd[event] ** record.n_qcd[event])
            lines.append(mgrwt_block(int(record.n_qcd[event]), float(record.mu_r[event]),
                                     (pdg[event][0], pdg[event][1]), (float(record.x1[event]), float(record.x2[event])),
                                     (float(record.mu_f[event]), float(record.mu_f2[event])), factor))
        if named_weights is not None:
            lines.append("<rwgt>\n" + "".join(f"<wgt id='{name}'> {value:+.10e} </wgt>\n" for name, value
                                               in zip(named_weights[0], named_weights[1][event].tolist())) + "</rwgt>\n")
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


def _header(n_events: int, cross_section_pb: float, generator_block: str, slha: str | None = None,
            weight_group: str | None = None) -> str:
    weights = f"<initrwgt>\n{weight_group}</initrwgt>\n" if weight_group else ""
    return ('<LesHouchesEvents version="3.0">\n<header>\n' + _slha_block(slha) + "<MGGenerationInfo>\n"
            f"#  Number of Events        :  {n_events:d}\n"
            f"#  Integrated weight (pb)  :  {cross_section_pb:.10e}\n"
            "</MGGenerationInfo>\n" + generator_block + weights + "</header>\n")


def _slha_block(slha: str | None) -> str:
    """``<slha>`` with the param card as plain lines, as MadGraph writes it (a shower's SLHA reader takes
    the lines between the tags); '&' and '<' (only possible in comments) escaped for XML readers."""
    if not slha:
        return ""
    text = slha.replace("&", "&amp;").replace("<", "&lt;")
    return "<slha>\n" + text + ("" if text.endswith("\n") else "\n") + "</slha>\n"


def _init_block(beams: Beams, processes: Sequence[ProcessLine], weighting_strategy: int) -> str:
    lines = ["<init>\n", _INIT_BEAMS.format(beams.pdg1, beams.pdg2, beams.energy1, beams.energy2, 0, 0,
                                            beams.pdf1, beams.pdf2, weighting_strategy, len(processes))]
    lines += [_INIT_PROCESS.format(p.cross_section_pb, p.error_pb, p.max_weight, p.process_id) for p in processes]
    return "".join(lines) + "</init>\n"
