"""Where PDF sets are found: a path, else a set name (or LHAPDF id) searched as LHAPDF does.

Search order for a name:
1. each entry of ``$LHAPDF_DATA_PATH`` (colon-separated), then of ``$LHAPATH`` (LHAPDF5's variable);
2. the data directory of an installed LHAPDF: ``lhapdf-config --datadir`` if that program exists,
   else the ``lhapdf`` Python module's ``paths()``; skipped when ``$LHAPDF_DATA_PATH`` ends with
   ``::`` (LHAPDF's rule for "only these directories");
3. the sets shipped with madgen (``madgen/pdf/sets``: MadGraph's default ``NNPDF23_lo_as_0130_qed``).

A numeric LHAPDF id is mapped to (set name, member) through the ``pdfsets.index`` files of
these directories (lines ``<id of member 0> <name> <number of members>``), as ``lhapdf::lookupPDF``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping

from madgen.errors import PDFSetNotFound

DEFAULT_PDF = "NNPDF23_lo_as_0130_qed"  # MadGraph5_aMC@NLO's default LO PDF, 'nn23lo1'
DEFAULT_LABEL = "nn23lo1"  # what a run without a PDF set named gets: MadGraph's default run_card's pdlabel

MADGRAPH_PDF_LABELS = {
    "nn23lo1": ("NNPDF23_lo_as_0130_qed", 0.130, 2), "nn23lo": (246800, 0.119, 2), "nn23nlo": (244800, 0.119, 2),
    "cteq6l1": (10042, 0.130, 1), "cteq6_l": (10041, 0.118, 2), "cteq6_m": (10000, 0.118, 2),
    "cteq6_d": (10050, 0.118, 2),
}
"""MadGraph's built-in PDF labels (its run card's ``pdlabel``): the LHAPDF set of the same fit, and the
alpha_s(MZ) and loops MadGraph runs alpha_s with for the label (pdfwrap.f; ``madgen.pdf.alphas.madgraph_alphas``)
instead of the set's own alpha_s, which MadGraph uses only with ``pdlabel = lhapdf``."""
SHIPPED_SETS = Path(__file__).resolve().parent / "sets"
INDEX_FILE = "pdfsets.index"


def pdf_search_paths(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Directories searched for set names, in order (module docstring); duplicates removed."""
    environ = os.environ if environ is None else environ
    data_path = environ.get("LHAPDF_DATA_PATH", "")
    entries = [p for var in ("LHAPDF_DATA_PATH", "LHAPATH") for p in environ.get(var, "").split(":") if p]
    if not data_path.endswith("::"):
        entries += list(_installed_lhapdf_dirs())
    entries.append(str(SHIPPED_SETS))
    seen, paths = set(), []
    for entry in entries:
        path = Path(entry).expanduser()
        if str(path) not in seen:
            seen.add(str(path))
            paths.append(path)
    return tuple(paths)


@functools.lru_cache(maxsize=1)
def _installed_lhapdf_dirs() -> tuple[str, ...]:
    """Data directories of an installed LHAPDF (looked up once per process)."""
    program = shutil.which("lhapdf-config")
    if program:
        try:
            out = subprocess.run([program, "--datadir"], capture_output=True, text=True, timeout=10, check=True)
            return tuple(line.strip() for line in out.stdout.splitlines() if line.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        import lhapdf  # type: ignore[import-not-found]

        return tuple(str(p) for p in lhapdf.paths())
    except Exception:  # any failure of an optional third-party module means "not installed"
        return ()


def find_pdf_set(name_or_path: str | os.PathLike | int, environ: Mapping[str, str] | None = None) -> tuple[Path, int]:
    """(set directory, member) for a set directory path, a set name, ``name/member`` or an LHAPDF id.

    Raises :class:`PDFSetNotFound` listing every place it looked.
    """
    if isinstance(name_or_path, int) or (isinstance(name_or_path, str) and name_or_path.strip().isdigit()):
        return _find_by_id(int(name_or_path), environ)
    text = os.fspath(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.is_dir():
        if (candidate / f"{candidate.name}.info").is_file():
            return candidate.resolve(), 0
        raise PDFSetNotFound(f"'{text}' is a directory but not an LHAPDF set: it must hold "
                             f"{candidate.name}.info and {candidate.name}_0000.dat")
    name, member = text, 0
    head, slash, tail = text.rpartition("/")
    if slash and tail.isdigit():  # LHAPDF's "NAME/member" syntax
        name, member = head, int(tail)
    if "/" in name or os.sep in name:
        raise PDFSetNotFound(f"PDF set directory '{text}' does not exist")
    paths = pdf_search_paths(environ)
    for directory in paths:
        if (directory / name / f"{name}.info").is_file():
            return (directory / name).resolve(), member
    looked = "\n  ".join(str(p / name) for p in paths)
    raise PDFSetNotFound(
        f"PDF set '{name}' not found; looked in:\n  {looked}\n"
        "Install it in one of these directories (e.g. `lhapdf install NAME`, or unpack it under a directory "
        "named in LHAPDF_DATA_PATH) or give the set directory's path.")


def lhapdf_id_of(name: str, member: int = 0, environ: Mapping[str, str] | None = None) -> int | None:
    """LHAPDF id of a set member from the first ``pdfsets.index`` listing the name, else None."""
    for set_id, set_name, _ in _index_entries(environ):
        if set_name == name:
            return set_id + member
    return None


def _find_by_id(lhapdf_id: int, environ: Mapping[str, str] | None) -> tuple[Path, int]:
    entries = _index_entries(environ)
    best = max((e for e in entries if e[0] <= lhapdf_id), key=lambda e: e[0], default=None)
    if best is not None and lhapdf_id - best[0] < best[2]:
        directory, _ = find_pdf_set(best[1], environ)
        return directory, lhapdf_id - best[0]
    looked = "\n  ".join(str(p / INDEX_FILE) for p in pdf_search_paths(environ))
    raise PDFSetNotFound(f"LHAPDF id {lhapdf_id} is not listed in any pdfsets.index; looked in:\n  {looked}\n"
                         "Give the set by name, or install LHAPDF's pdfsets.index in one of these directories.")


def _index_entries(environ: Mapping[str, str] | None) -> list[tuple[int, str, int]]:
    """(id, name, number of members) from every readable pdfsets.index, first occurrence of a name wins."""
    entries, names = [], set()
    for directory in pdf_search_paths(environ):
        path = directory / INDEX_FILE
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0].isdigit() and fields[2].isdigit() and fields[1] not in names:
                names.add(fields[1])
                entries.append((int(fields[0]), fields[1], int(fields[2])))
    return entries
