"""Events as columns (numpy arrays), and their ``events.npz`` / ``events.h5`` files.

:class:`EventRecord` is the one event structure the runtime hands to every writer (LHE, npz,
HDF5).  Layout (N events, n legs, initial legs first), documented in ``docs/output_formats.md``:
``pdg_ids (N, n)``, ``momenta (N, n, 4)`` as (E, px, py, pz) in GeV, ``masses (N, n)``,
``helicities (N, n)`` (+-1, 0, or 9 = not known), ``colour (N, n, 2)`` (LHE colour / anticolour
tags, 0 = none, from 501 as MadGraph), ``weights (N,)`` in pb, ``scale``, ``aqed``, ``aqcd (N,)``.
Files are written to a temporary name in the target directory and moved in place when complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from madgen.errors import OutputError

UNKNOWN_HELICITY = 9  # LHE's SPINUP for "no spin information"
COLUMNAR_VERSION = 1


@dataclass(frozen=True, eq=False)
class EventRecord:
    """A batch of events as arrays; build with :meth:`from_arrays`, which broadcasts and checks shapes."""

    pdg_ids: np.ndarray  # (N, n) int
    momenta: np.ndarray  # (N, n, 4) float, (E, px, py, pz)
    masses: np.ndarray  # (N, n) float
    helicities: np.ndarray  # (N, n) float
    colour: np.ndarray  # (N, n, 2) int
    weights: np.ndarray  # (N,) float, pb
    scale: np.ndarray  # (N,) float, GeV
    aqed: np.ndarray  # (N,) float
    aqcd: np.ndarray  # (N,) float

    @classmethod
    def from_arrays(cls, *, pdg_ids, momenta, weights, masses=None, helicities=None, colour=None,
                    scale=91.188, aqed=-1.0, aqcd=-1.0) -> EventRecord:
        """Broadcast per-process values (``pdg_ids (n,)``, ``masses (n,)``, scalar scale/couplings).

        Missing masses come from the momenta, helicities default to 9 (unknown), colour to 0.
        ``aqed``/``aqcd`` of -1 mean "not given" (LHE convention is a value; pass them when known).
        """
        momenta = np.asarray(momenta, dtype=float)
        if momenta.ndim != 3 or momenta.shape[-1] != 4:
            raise ValueError(f"momenta must have shape (N, n, 4), got {momenta.shape}")
        n_events, n_legs = momenta.shape[:2]
        legs = (n_events, n_legs)
        if masses is None:
            squared = momenta[..., 0] ** 2 - np.sum(momenta[..., 1:] ** 2, axis=-1)
            rounding = squared < 1e-12 * momenta[..., 0] ** 2  # massless up to rounding: exactly 0
            masses = np.where(rounding, 0.0, np.sqrt(np.maximum(squared, 0.0)))
        if helicities is None:
            helicities = UNKNOWN_HELICITY
        if colour is None:
            colour = 0
        return cls(
            pdg_ids=_broadcast("pdg_ids", pdg_ids, legs, int),
            momenta=momenta,
            masses=_broadcast("masses", masses, legs, float),
            helicities=_broadcast("helicities", helicities, legs, float),
            colour=_broadcast("colour", colour, legs + (2,), int),
            weights=_broadcast("weights", weights, (n_events,), float),
            scale=_broadcast("scale", scale, (n_events,), float),
            aqed=_broadcast("aqed", aqed, (n_events,), float),
            aqcd=_broadcast("aqcd", aqcd, (n_events,), float),
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
    columns = {name: np.concatenate([r.columns()[name] for r in records]) for name in records[0].columns()}
    return EventRecord(**columns)


def _as_chunks(events: EventRecord | Iterable[EventRecord]) -> Iterator[EventRecord]:
    if isinstance(events, EventRecord):
        yield events
    else:
        yield from events


def _default_file_mode() -> int:
    """The mode open() would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_output(path: str | Path, mode: str = "wb"):
    """Open a temporary file beside ``path``; move it onto ``path`` only if the block completes.

    On any exception, KeyboardInterrupt included, the temporary file is removed and ``path`` is
    left as it was.
    """
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}; check that the directory "
                          "exists and is writable") from None
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
        os.chmod(temporary, _default_file_mode())  # mkstemp makes 0600; give the usual umask mode
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def write_columnar(path: str | Path, events: EventRecord | Iterable[EventRecord],
                   metadata: Mapping[str, Any] | None = None, format: str = "npz") -> Path:
    """Write events (one record or an iterable of chunks) as ``npz`` or ``hdf5``; returns the path.

    ``metadata`` (process, cross section, error, seed, sqrt_s, ...) must be JSON-serialisable; it
    is stored as the JSON string ``metadata`` (npz) or as file attributes (HDF5).
    """
    record = concatenate(_as_chunks(events))
    metadata = {"columnar_version": COLUMNAR_VERSION, "n_events": len(record), **(metadata or {})}
    if format == "npz":
        return _write_npz(Path(path), record, metadata)
    if format == "hdf5":
        return _write_hdf5(Path(path), record, metadata)
    raise ValueError(f"unknown columnar format {format!r}; use 'npz' or 'hdf5'")


def _write_npz(path: Path, record: EventRecord, metadata: Mapping[str, Any]) -> Path:
    with atomic_output(path) as stream:
        np.savez(stream, metadata=np.array(json.dumps(metadata)), **record.columns())
    return path


def _write_hdf5(path: Path, record: EventRecord, metadata: Mapping[str, Any]) -> Path:
    try:
        import h5py
    except ImportError:
        raise OutputError("columnar: hdf5 needs h5py (pip install h5py), or set 'columnar: npz' in the "
                          "run card") from None
    with atomic_output(path) as stream:
        with h5py.File(stream, "w") as h5:
            events = h5.create_group("events")
            for name, column in record.columns().items():
                events.create_dataset(name, data=column, compression="gzip")
            for key, value in metadata.items():
                h5.attrs[key] = value if isinstance(value, (int, float, str)) else json.dumps(value)
            h5.attrs["metadata"] = json.dumps(metadata)
    return path


def read_columnar(path: str | Path) -> tuple[EventRecord, dict[str, Any]]:
    """Read back a file written by :func:`write_columnar` (npz or HDF5, by suffix)."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as h5:
            columns = {name: h5["events"][name][()] for name in h5["events"]}
            metadata = json.loads(h5.attrs["metadata"])
    else:
        with np.load(path) as data:
            columns = {name: data[name] for name in data.files if name != "metadata"}
            metadata = json.loads(str(data["metadata"]))
    return EventRecord(**columns), metadata
