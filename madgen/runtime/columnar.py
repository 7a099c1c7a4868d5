"""Events as columns (numpy arrays), and their ``events.npz`` / ``events.h5`` files.

:class:`EventRecord` is the one event structure the runtime hands to every writer (LHE, npz,
HDF5).  Layout (N events, n legs, initial legs first), documented in ``docs/output_formats.md``:
``pdg_ids (N, n)``, ``momenta (N, n, 4)`` as (E, px, py, pz) in GeV, ``masses (N, n)``,
``helicities (N, n)`` (+-1, 0, or 9 = not known), ``colour (N, n, 2)`` (LHE colour / anticolour
tags, 0 = none, from 501 as MadGraph), ``weights (N,)`` in pb, ``scale``, ``aqed``, ``aqcd (N,)``,
``status``/``mothers`` (LHE), ``x1``, ``x2``, ``mu_r``, ``mu_f``, ``luminosity``, ``n_qcd``, ``process_id``.
Files are written to a temporary name in the target directory and moved in place when complete.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from madgen.errors import OutputError
from madgen.output import atomic_file, temporary_file

UNKNOWN_HELICITY = 9  # LHE's SPINUP for "no spin information"
COLUMNAR_VERSION = 3


@dataclass(frozen=True, eq=False)
class EventRecord:
    """A batch of events as arrays; build with :meth:`from_arrays`, which broadcasts and checks shapes.

    "Lines" are the LHE particle lines of an event: the process legs, plus status-2 resonances of
    decay chains when there are any (``status`` tells them apart)."""

    pdg_ids: np.ndarray  # (N, n) int
    momenta: np.ndarray  # (N, n, 4) float, (E, px, py, pz)
    masses: np.ndarray  # (N, n) float
    helicities: np.ndarray  # (N, n) float
    colour: np.ndarray  # (N, n, 2) int
    weights: np.ndarray  # (N,) float, pb
    scale: np.ndarray  # (N,) float, GeV: LHE's SCALUP (the factorisation scale)
    aqed: np.ndarray  # (N,) float
    aqcd: np.ndarray  # (N,) float
    status: np.ndarray  # (N, n) int: -1 incoming, 1 outgoing, 2 decayed resonance
    mothers: np.ndarray  # (N, n, 2) int: LHE MOTHUP (1-based lines, 0 for none)
    x1: np.ndarray  # (N,) momentum fraction of parton 1 (1 for a particle beam)
    x2: np.ndarray  # (N,)
    mu_r: np.ndarray  # (N,) GeV
    mu_f: np.ndarray  # (N,) GeV: the factorisation scale of beam 1
    luminosity: np.ndarray  # (N,) f_a(x1, muF1) f_b(x2, muF2) of the event's partons (1 without PDFs)
    n_qcd: np.ndarray  # (N,) int: power of alpha_s in |M|^2
    process_id: np.ndarray  # (N,) int: LHE IDPRUP (the kernel group, from 1)
    mu_f2: np.ndarray  # (N,) GeV: the factorisation scale of beam 2 (run cards may fix the two apart)
    lifetime: np.ndarray  # (N, n) float, mm: LHE's VTIMUP, a proper decay length c tau (0: none given)

    @classmethod
    def from_arrays(cls, *, pdg_ids, momenta, weights, masses=None, helicities=None, colour=None,
                    scale=91.188, aqed=-1.0, aqcd=-1.0, status=None, mothers=None, n_initial: int = 2,
                    x1=1.0, x2=1.0, mu_r=None, mu_f=None, luminosity=1.0, n_qcd=0, process_id=1,
                    mu_f2=None, lifetime=0.0) -> EventRecord:
        """Broadcast per-process values (``pdg_ids (n,)``, ``masses (n,)``, scalar scale/couplings).

        Missing masses come from the momenta, helicities default to 9 (unknown), colour to 0,
        status and mothers to ``n_initial`` incoming lines followed by outgoing ones (mothers 1..
        n_initial), mu_r and mu_f to ``scale``, mu_f2 to mu_f, lifetimes to 0. ``aqed``/``aqcd`` of -1 mean "not given" (LHE
        convention is a value; pass them when known).
        """
        momenta = np.asarray(momenta, dtype=float)
        if momenta.ndim != 3 or momenta.shape[-1] != 4:
            raise ValueError(f"momenta must have shape (N, n, 4), got {momenta.shape}")
        n_events, n_legs = momenta.shape[:2]
        legs = (n_events, n_legs)
        events = (n_events,)
        if masses is None:
            squared = momenta[..., 0] ** 2 - np.sum(momenta[..., 1:] ** 2, axis=-1)
            rounding = squared < 1e-12 * momenta[..., 0] ** 2  # massless up to rounding: exactly 0
            masses = np.where(rounding, 0.0, np.sqrt(np.maximum(squared, 0.0)))
        if status is None:
            status = [-1] * n_initial + [1] * (n_legs - n_initial)
        if mothers is None:
            mothers = [(0, 0)] * n_initial + [(1, n_initial)] * (n_legs - n_initial)
        return cls(
            pdg_ids=_broadcast("pdg_ids", pdg_ids, legs, int),
            momenta=momenta,
            masses=_broadcast("masses", masses, legs, float),
            helicities=_broadcast("helicities", UNKNOWN_HELICITY if helicities is None else helicities, legs, float),
            colour=_broadcast("colour", 0 if colour is None else colour, legs + (2,), int),
            weights=_broadcast("weights", weights, events, float),
            scale=_broadcast("scale", scale, events, float),
            aqed=_broadcast("aqed", aqed, events, float),
            aqcd=_broadcast("aqcd", aqcd, events, float),
            status=_broadcast("status", status, legs, int),
            mothers=_broadcast("mothers", mothers, legs + (2,), int),
            x1=_broadcast("x1", x1, events, float),
            x2=_broadcast("x2", x2, events, float),
            mu_r=_broadcast("mu_r", scale if mu_r is None else mu_r, events, float),
            mu_f=_broadcast("mu_f", scale if mu_f is None else mu_f, events, float),
            luminosity=_broadcast("luminosity", luminosity, events, float),
            n_qcd=_broadcast("n_qcd", n_qcd, events, int),
            process_id=_broadcast("process_id", process_id, events, int),
            mu_f2=_broadcast("mu_f2", (scale if mu_f is None else mu_f) if mu_f2 is None else mu_f2, events, float),
            lifetime=_broadcast("lifetime", lifetime, legs, float),
        )

    def __len__(self) -> int:
        return self.momenta.shape[0]

    @property
    def n_legs(self) -> int:
        return self.momenta.shape[1]

    def columns(self) -> dict[str, np.ndarray]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


def _broadcast(name: str, value, shape: tuple[int, ...], dtype) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    try:
        return np.ascontiguousarray(np.broadcast_to(array, shape))
    except ValueError:
        raise ValueError(f"{name} of shape {array.shape} does not fit events of shape {shape}") from None


def concatenate(records: Iterable[EventRecord]) -> EventRecord:
    """One record from several chunks with the same number of legs."""
    records = list(records)
    if not records:
        raise ValueError("no event records to concatenate")
    n_lines = max(r.n_legs for r in records)
    records = [pad_lines(r, n_lines) for r in records]
    columns = {name: np.concatenate([r.columns()[name] for r in records]) for name in records[0].columns()}
    return EventRecord(**columns)


NO_LINE = 0
"""``status`` of a padding line: events of processes with fewer particles than others of the same run
(``e+ e- > u u~`` beside ``e+ e- > u u~ g``) fill the record's width with lines of status 0, pdg 0 and
zero momenta; writers skip them (the LHE file has NUP lines per event)."""


LINE_COLUMNS = ("pdg_ids", "momenta", "masses", "helicities", "colour", "status", "mothers", "lifetime")
"""The columns with a line axis (N, n, ...)."""


def pad_lines(record: EventRecord, n_lines: int) -> EventRecord:
    """``record`` widened to ``n_lines`` lines with padding lines (``NO_LINE``: every value 0) after its own."""
    missing = n_lines - record.n_legs
    if missing <= 0:
        return record
    columns = record.columns()
    for name in LINE_COLUMNS:
        column = columns[name]
        columns[name] = np.pad(column, [(0, 0), (0, missing)] + [(0, 0)] * (column.ndim - 2))
    return EventRecord(**columns)


def _as_chunks(events: EventRecord | Iterable[EventRecord]) -> Iterator[EventRecord]:
    if isinstance(events, EventRecord):
        yield events
    else:
        yield from events


def write_columnar(path: str | Path, events: EventRecord | Iterable[EventRecord],
                   metadata: Mapping[str, Any] | None = None, format: str = "npz",
                   extra_columns: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write events (one record or an iterable of chunks, streamed) as ``npz`` or ``hdf5``; returns
    the path.

    ``metadata`` (process, cross section, error, seed, sqrt_s, ...) must be JSON-serialisable; it
    is stored as the JSON string ``metadata`` (npz) or as file attributes (HDF5). ``extra_columns``
    (name -> array with one row per event, e.g. reweighting weights) are stored beside the
    ``EventRecord`` columns; ``read_columns`` returns them.
    """
    with ColumnarWriter(path, format) as writer:
        for record in _as_chunks(events):
            writer.append(record)
        writer.finish(metadata, extra_columns)
    return Path(path)


class ColumnarWriter:
    """Streams event chunks into scratch files beside ``path`` (bounded memory); ``finish`` writes
    the complete ``npz`` or HDF5 file atomically. Leaving the ``with`` block without ``finish``
    writes nothing."""

    def __init__(self, path: str | Path, format: str = "npz"):
        if format not in ("npz", "hdf5"):
            raise ValueError(f"unknown columnar format {format!r}; use 'npz' or 'hdf5'")
        self.path, self.format = Path(path), format
        self.n_events = 0
        self._scratch = contextlib.ExitStack()
        self._columns: dict[str, tuple] = {}  # name -> (stream, dtype, per-event shape)

    def __enter__(self) -> "ColumnarWriter":
        self._scratch.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._scratch.__exit__(*exc)

    def append(self, record: EventRecord) -> None:
        """Stream one chunk: each column's raw bytes go to its own scratch file."""
        for name, column in record.columns().items():
            self.append_column(name, column)
        self.n_events += len(record)

    def append_column(self, name: str, column: np.ndarray) -> None:
        """Stream rows of one column (every column must end up with one row per event)."""
        column = np.ascontiguousarray(column)
        if name not in self._columns:
            stream, _ = self._scratch.enter_context(
                temporary_file(self.path.parent, f"{self.path.name}.{name}", "w+b"))
            self._columns[name] = (stream, column.dtype, column.shape[1:])
        stream, dtype, shape = self._columns[name]
        if column.dtype != dtype or column.shape[1:] != shape:
            raise ValueError(f"column {name}: chunk of dtype {column.dtype} and shape {column.shape} does not "
                             f"continue {dtype} {shape}")
        stream.write(column.tobytes())

    def finish(self, metadata: Mapping[str, Any] | None = None,
               extra_columns: Mapping[str, np.ndarray] | None = None) -> Path:
        """Write the complete file (columns in EventRecord order, then ``extra_columns``)."""
        import json

        metadata = {"columnar_version": COLUMNAR_VERSION, "n_events": self.n_events, **(metadata or {})}
        if not self._columns:
            raise ValueError("no event records were written")
        for name, column in (extra_columns or {}).items():
            if name in self._columns:
                raise ValueError(f"extra column {name!r} clashes with an event column")
            self.append_column(name, np.asarray(column))
        for stream, _, _ in self._columns.values():
            stream.flush()
        writer = _finish_npz if self.format == "npz" else _finish_hdf5
        with atomic_file(self.path, "wb") as output:
            writer(output, self._columns, self.n_events, json.dumps(metadata), metadata)
        return self.path


def _column_chunks(stream, dtype, shape, rows_per_chunk=65536):
    """Arrays of at most ``rows_per_chunk`` events read back from a column's scratch file."""
    row_bytes = int(np.dtype(dtype).itemsize * np.prod(shape, dtype=np.int64))
    stream.seek(0)
    while True:
        data = stream.read(row_bytes * rows_per_chunk)
        if not data:
            return
        yield np.frombuffer(data, dtype=dtype).reshape((-1,) + tuple(shape))


def _finish_npz(output, columns, n_events, metadata_json, _):
    """An ``.npz`` (a zip of ``.npy`` members, as ``np.savez`` writes) streamed member by member."""
    import zipfile

    with zipfile.ZipFile(output, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("metadata.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.array(metadata_json))
        for name, (stream, dtype, shape) in columns.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                          "shape": (n_events,) + tuple(shape)}
                np.lib.format.write_array_header_2_0(member, header)
                for chunk in _column_chunks(stream, dtype, shape):
                    member.write(chunk.tobytes())


def _finish_hdf5(output, columns, n_events, metadata_json, metadata):
    try:
        import h5py
    except ImportError:
        raise OutputError("columnar: hdf5 needs h5py (pip install h5py), or set 'columnar: npz' in the "
                          "run card") from None
    import json

    with h5py.File(output, "w") as h5:
        events = h5.create_group("events")
        for name, (stream, dtype, shape) in columns.items():
            dataset = events.create_dataset(name, shape=(n_events,) + tuple(shape), dtype=dtype,
                                            compression="gzip", chunks=True if n_events else None)
            start = 0
            for chunk in _column_chunks(stream, dtype, shape):
                dataset[start:start + len(chunk)] = chunk
                start += len(chunk)
        for key, value in metadata.items():
            h5.attrs[key] = value if isinstance(value, (int, float, str)) else json.dumps(value)
        h5.attrs["metadata"] = metadata_json


def read_columns(path: str | Path) -> dict[str, np.ndarray]:
    """Every column of a file written by :func:`write_columnar`, extra columns included."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as h5:
            return {name: h5["events"][name][()] for name in h5["events"]}
    with np.load(path) as data:
        return {name: data[name] for name in data.files if name != "metadata"}


def read_columnar(path: str | Path) -> tuple[EventRecord, dict[str, Any]]:
    """Read back a file written by :func:`write_columnar` (npz or HDF5, by suffix): the events
    and the metadata (extra columns: :func:`read_columns`)."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as h5:
            metadata = json.loads(h5.attrs["metadata"])
    else:
        with np.load(path) as data:
            metadata = json.loads(str(data["metadata"]))
    columns = read_columns(path)
    known = {item.name for item in fields(EventRecord)}
    columns.setdefault("mu_f2", columns["mu_f"])  # files written before beam 2's scale had a column
    columns.setdefault("lifetime", np.zeros(columns["masses"].shape))  # layout 2: no decay lengths
    return EventRecord(**{name: columns[name] for name in known}), metadata
