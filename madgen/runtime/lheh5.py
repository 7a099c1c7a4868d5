"""LHEH5 output (run card ``columnar: lheh5``) through pylhe.

LHEH5 (Hoeche, Prestel, Schulz, arXiv:1905.05120; v2 of Bothmann et al., arXiv:2309.13154) is the
HDF5 event format Pythia 8 and Sherpa read: datasets ``init``, ``procInfo``, ``events`` and
``particles`` (id, status, mothers, colours, momenta, mass, lifetime, spin per particle; process id,
weight, scale, alpha_QED, alpha_s per event). madgen writes it with pylhe (>= 2.1), from the LHE
file of the same run: pylhe reads that file event by event and its LHEH5 writer appends rows in
chunks, so memory stays bounded. The file is written under a temporary name beside the target and
renamed when complete (``madgen.output.atomic_file``), as every madgen output.

Why the LHE text file itself stays madgen's own writer (``madgen.runtime.lhe``): pylhe writes a
whole ``LesHouchesEvents`` object at once from an iterable, with the ``<init>`` block *before* the
events, while madgen knows the cross sections for ``<init>`` only after the events are streamed
(it streams the body into a scratch file and writes header and ``<init>`` last). pylhe also rewrites
every event in its own layout: MadGraph's per-event ``<mgrwt>`` block (PDF information that
MadGraph's reweighting reads) is not kept. So pylhe is used where it adds
a format madgen did not have (LHEH5) and to read files (``madgen reweight``, tests), not to replace
a writer that already keeps those guarantees.

What LHEH5 does not hold: the ``<mgrwt>`` blocks and the run card header (the LHE file's
``<header>`` becomes the LHEH5 header text when pylhe keeps it).
"""

from __future__ import annotations

from pathlib import Path

from madgen.errors import OutputError
from madgen.output import atomic_file


def write_lheh5_from_lhe(lhe_path: str | Path, target: str | Path, compression: str | None = None) -> Path:
    """Convert the complete LHE file ``lhe_path`` into the LHEH5 file ``target`` (atomically)."""
    try:
        import h5py
        import pylhe
    except ImportError:
        raise OutputError("columnar: lheh5 needs pylhe >= 2.1 and h5py (pip install 'pylhe>=2.1' h5py), or set "
                          "'columnar: npz' in the run card") from None
    if not hasattr(pylhe, "LHEHDF5Format"):
        raise OutputError(f"columnar: lheh5 needs pylhe >= 2.1 (installed: {getattr(pylhe, '__version__', '?')}); "
                          "upgrade it or set 'columnar: npz' in the run card")
    from pylhe import lheh5

    events = pylhe.LHEFile.fromfile(str(lhe_path))  # a generator of events: streamed
    lheformat = pylhe.LHEHDF5Format(compression=compression)
    target = Path(target)
    with atomic_file(target, "w+b") as stream, h5py.File(stream, "w") as h5:
        lheh5.write(events, h5, lheformat=lheformat)
    return target


def read_lheh5(path: str | Path):
    """The events of an LHEH5 file as pylhe reads them (a ``LesHouchesEvents`` with an event generator)."""
    import pylhe

    return pylhe.LHEFile.fromfile(str(path))
