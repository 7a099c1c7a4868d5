"""Reader of LHAPDF6 parton-distribution sets (``lhagrid1`` format).

A set is a directory ``<name>/`` holding ``<name>.info`` (YAML metadata of the whole set) and
one ``<name>_<member:04d>.dat`` per member.  A member file is a YAML header, then one block per
Q subgrid, each block terminated by a line ``---`` (LHAPDF6 paper, arXiv:1412.7420, sec. 3):

    <YAML header: PdfType, Format, ...>
    ---
    x_1 ... x_nx                       x knots (strictly increasing)
    Q_1 ... Q_nq                       Q knots in GeV (strictly increasing)
    pid_1 ... pid_nf                   PDG ids of the columns (0 = gluon, as 21)
    xf(x_1, Q_1, pid_1) ... xf(x_1, Q_1, pid_nf)
    xf(x_1, Q_2, pid_1) ...            nx * nq lines, x outer loop, Q inner loop
    ---

Values are x f(x, Q).  Consecutive subgrids share their boundary Q knot (a flavour threshold).
Lines starting with ``#`` are comments.  Everything is returned as frozen dataclasses holding
read-only numpy arrays; malformed input raises :class:`PDFFormatError` naming file and line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import yaml

from madgen.errors import PDFFormatError

QUARK_NAMES = ("Down", "Up", "Strange", "Charm", "Bottom", "Top")  # PDG ids 1..6, LHAPDF's key suffixes
GLUON = 21


@dataclass(frozen=True)
class PDFSetInfo:
    """Metadata of a set and member (LHAPDF's ``.info`` keys, the member header overriding them).

    Every LHAPDF key is kept in ``entries``; the ones madgen uses are typed attributes.  Optional
    keys absent from the files are ``None`` (or empty tuples).  Masses and thresholds map the
    quark PDG id (1..6) to GeV; they are filled only when all six keys are present, as LHAPDF's
    alpha_s factory requires.
    """

    name: str
    info_path: Path
    flavours: tuple[int, ...]
    format: str
    num_members: int | None
    set_index: int | None  # LHAPDF id of member 0 (``SetIndex``)
    x_min: float | None
    x_max: float | None
    q_min: float | None
    q_max: float | None
    mz: float | None
    alphas_type: str | None
    alphas_qs: tuple[float, ...]
    alphas_vals: tuple[float, ...]
    alphas_mz: float | None
    alphas_order_qcd: int | None
    alphas_lambdas: Mapping[int, float]  # nf -> Lambda_QCD^(nf) from AlphaS_Lambda3/4/5
    quark_masses: Mapping[int, float]
    quark_thresholds: Mapping[int, float]
    interpolator: str  # LHAPDF default "logcubic"
    extrapolator: str  # LHAPDF default "continuation"
    force_positive: int  # LHAPDF ForcePositive: 0 none, 1 clamp at 0, 2 clamp at 1e-10
    entries: Mapping[str, Any] = field(compare=False, repr=False)

    def key_line(self, key: str) -> str:
        """``file:line`` where ``key`` is written (the .info file if not found), for messages."""
        return _key_location(self.info_path, key)


@dataclass(frozen=True)
class Subgrid:
    """One Q subgrid: knots and values x f(x, Q) of shape (n_x, n_q, n_flavours)."""

    x: np.ndarray
    q: np.ndarray
    xf: np.ndarray
    first_line: int  # line of the x-knot row in the .dat file (1-based)


@dataclass(frozen=True)
class PDFGrid:
    """The grid of one member: its flavour columns (PDG ids, 0 mapped to 21) and Q subgrids."""

    path: Path
    flavours: tuple[int, ...]
    subgrids: tuple[Subgrid, ...]
    header: Mapping[str, Any] = field(compare=False, repr=False)


# --------------------------------------------------------------------------- info files


def read_info(set_dir: Path | str, member: int = 0) -> PDFSetInfo:
    """Read ``<set_dir>/<name>.info`` merged with the YAML header of member ``member``'s .dat file."""
    set_dir = Path(set_dir)
    name = set_dir.name
    info_path = set_dir / f"{name}.info"
    if not info_path.is_file():
        raise PDFFormatError(f"{info_path}: no such file; an LHAPDF set directory must hold <name>.info")
    entries = dict(_load_yaml(info_path, info_path.read_text(errors="replace"), first_line=1))
    dat_path = member_path(set_dir, member)
    if dat_path.is_file():
        header_text, header_lines = _dat_header(dat_path)
        entries.update(_load_yaml(dat_path, header_text, first_line=1) if header_lines else {})
    return _info_from_entries(name, info_path, entries)


def member_path(set_dir: Path | str, member: int) -> Path:
    """Path of member ``member``'s grid file, ``<set_dir>/<name>_<member:04d>.dat``."""
    set_dir = Path(set_dir)
    return set_dir / f"{set_dir.name}_{member:04d}.dat"


def _load_yaml(path: Path, text: str, first_line: int) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + first_line}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PDFFormatError(f"{where}: not valid YAML ({problem}); LHAPDF metadata is 'Key: value' lines") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PDFFormatError(f"{path}:{first_line}: metadata must be 'Key: value' lines, got {type(data).__name__}")
    return data


def _key_location(path: Path, key: str) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return str(path)
    match = re.search(rf"^\s*{re.escape(key)}\s*:", text, flags=re.MULTILINE)
    return f"{path}:{text.count(chr(10), 0, match.start()) + 1}" if match else str(path)


def _info_from_entries(name: str, info_path: Path, entries: dict[str, Any]) -> PDFSetInfo:
    def where(key: str) -> str:
        return _key_location(info_path, key)

    def required(key: str) -> Any:
        if key not in entries:
            raise PDFFormatError(f"{info_path}: required key '{key}' is missing (LHAPDF6 sets define it in <name>.info)")
        return entries[key]

    def number(key: str, kind=float) -> Any:
        if key not in entries or entries[key] is None:
            return None
        value = entries[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise PDFFormatError(f"{where(key)}: key '{key}' must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        return kind(value)

    def numbers(key: str) -> tuple[float, ...]:
        value = entries.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise PDFFormatError(f"{where(key)}: key '{key}' must be a list of numbers, got {value!r}")
        return tuple(float(v) for v in value)

    flavours_raw = required("Flavors")
    if not isinstance(flavours_raw, list) or not flavours_raw or not all(
        isinstance(f, int) and not isinstance(f, bool) for f in flavours_raw
    ):
        raise PDFFormatError(f"{where('Flavors')}: 'Flavors' must be a non-empty list of PDG ids, got {flavours_raw!r}")
    fmt = str(required("Format"))
    if fmt != "lhagrid1":
        raise PDFFormatError(f"{where('Format')}: Format '{fmt}' is not supported; only LHAPDF6 'lhagrid1' grids are")
    qs, vals = numbers("AlphaS_Qs"), numbers("AlphaS_Vals")
    lambdas = {nf: number(f"AlphaS_Lambda{nf}") for nf in (3, 4, 5) if number(f"AlphaS_Lambda{nf}") is not None}
    return PDFSetInfo(
        name=name,
        info_path=info_path,
        flavours=tuple(GLUON if f == 0 else f for f in flavours_raw),
        format=fmt,
        num_members=number("NumMembers", int),
        set_index=number("SetIndex", int),
        x_min=number("XMin"),
        x_max=number("XMax"),
        q_min=number("QMin"),
        q_max=number("QMax"),
        mz=number("MZ"),
        alphas_type=str(entries["AlphaS_Type"]).lower() if entries.get("AlphaS_Type") is not None else None,
        alphas_qs=qs,
        alphas_vals=vals,
        alphas_mz=number("AlphaS_MZ"),
        alphas_order_qcd=number("AlphaS_OrderQCD", int),
        alphas_lambdas=MappingProxyType(lambdas),
        quark_masses=MappingProxyType(_quark_table(entries, ("AlphaS_M", "M"), number)),
        quark_thresholds=MappingProxyType(_quark_table(entries, ("AlphaS_Threshold", "Threshold"), number)),
        interpolator=str(entries.get("Interpolator", "logcubic")).lower(),
        extrapolator=str(entries.get("Extrapolator", "continuation")).lower(),
        force_positive=number("ForcePositive", int) or 0,
        entries=MappingProxyType(entries),
    )


def _quark_table(entries: Mapping[str, Any], prefixes: tuple[str, ...], number) -> dict[int, float]:
    """PDG id -> value from the first prefix with all six keys (LHAPDF: AlphaS_MQ before MQ)."""
    for prefix in prefixes:
        keys = [prefix + q for q in QUARK_NAMES]
        if all(entries.get(k) is not None for k in keys):
            return {pid: number(k) for pid, k in enumerate(keys, start=1)}
    return {}


# --------------------------------------------------------------------------- grid files


def read_grid(dat_path: Path | str, n_flavours: int | None = None) -> PDFGrid:
    """Parse a ``lhagrid1`` member file; ``n_flavours`` (from the .info) is checked if given."""
    dat_path = Path(dat_path)
    if not dat_path.is_file():
        raise PDFFormatError(f"{dat_path}: no such member file")
    lines = dat_path.read_text(errors="replace").splitlines()
    blocks = _split_blocks(dat_path, lines)
    header_lines = blocks[0]
    header = _load_yaml(dat_path, "\n".join(text for _, text in header_lines), first_line=1) if header_lines else {}
    subgrids = []
    flavours: tuple[int, ...] | None = None
    for block in blocks[1:]:
        if not block:
            continue
        subgrid, block_flavours = _parse_subgrid(dat_path, block)
        if flavours is None:
            flavours = block_flavours
        elif block_flavours != flavours:
            raise PDFFormatError(f"{dat_path}:{block[2][0]}: flavour ids {block_flavours} differ from the first subgrid's {flavours}")
        if subgrids and not np.array_equal(subgrid.x, subgrids[0].x):
            raise PDFFormatError(
                f"{dat_path}:{block[0][0]}: x knots differ from the first subgrid's; all subgrids must share "
                "their x knots (as LHAPDF >= 6.4 requires)")
        if subgrids and subgrid.q[0] < subgrids[-1].q[-1]:
            raise PDFFormatError(
                f"{dat_path}:{block[1][0]}: subgrid starts at Q = {subgrid.q[0]:g} below the end of the previous "
                f"one (Q = {subgrids[-1].q[-1]:g}); subgrids must be in increasing Q")
        subgrids.append(subgrid)
    if not subgrids:
        raise PDFFormatError(f"{dat_path}: no grid block after the header (expected x, Q, flavour lines and values)")
    if n_flavours is not None and len(flavours) != n_flavours:
        raise PDFFormatError(
            f"{dat_path}:{subgrids[0].first_line + 2}: {len(flavours)} flavour columns but the .info 'Flavors' "
            f"lists {n_flavours}")
    return PDFGrid(path=dat_path, flavours=flavours, subgrids=tuple(subgrids), header=MappingProxyType(dict(header)))


def _dat_header(dat_path: Path) -> tuple[str, list]:
    """The YAML header of a .dat file (text before the first ``---``) without parsing the grid."""
    header = []
    with dat_path.open(errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip() == "---":
                break
            if not line.lstrip().startswith("#"):
                header.append((number, line.rstrip("\n")))
    return "\n".join(text for _, text in header), header


def _split_blocks(path: Path, lines: list[str]) -> list[list[tuple[int, str]]]:
    """(line number, text) per block, split at ``---`` lines; comments dropped."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped == "---":
            blocks.append([])
        elif not stripped.startswith("#") and (stripped or len(blocks) == 1):
            blocks[-1].append((number, stripped))
    if blocks[-1]:
        raise PDFFormatError(
            f"{path}:{len(lines)}: file does not end with a '---' line; LHAPDF6 .dat files must close every block with ---")
    return blocks


def _parse_knots(path: Path, number: int, text: str, what: str) -> np.ndarray:
    try:
        knots = np.array([float(token) for token in text.split()], dtype=np.float64)
    except ValueError:
        bad = next(t for t in text.split() if not _is_float(t))
        raise PDFFormatError(f"{path}:{number}: {what} knot '{bad}' is not a number") from None
    if knots.size < 2:
        raise PDFFormatError(f"{path}:{number}: {knots.size} {what} knot(s); a subgrid needs at least 2")
    if not np.all(np.isfinite(knots)) or np.any(knots <= 0):
        raise PDFFormatError(f"{path}:{number}: {what} knots must be finite and > 0")
    if np.any(np.diff(knots) <= 0):
        raise PDFFormatError(f"{path}:{number}: {what} knots must be strictly increasing")
    return knots


def _parse_subgrid(path: Path, block: list[tuple[int, str]]) -> tuple[Subgrid, tuple[int, ...]]:
    if len(block) < 4:
        raise PDFFormatError(
            f"{path}:{block[0][0]}: incomplete subgrid block ({len(block)} lines); expected x knots, Q knots, "
            "flavour ids and the values")
    x = _parse_knots(path, *block[0], "x")
    if x[-1] > 1.0:
        raise PDFFormatError(f"{path}:{block[0][0]}: x knots must lie in (0, 1], the last is {x[-1]:g}")
    q = _parse_knots(path, *block[1], "Q")
    number, text = block[2]
    try:
        flavours = tuple(GLUON if int(t) == 0 else int(t) for t in text.split())
    except ValueError:
        raise PDFFormatError(f"{path}:{number}: flavour ids must be integers (PDG codes), got '{text}'") from None
    if not flavours or len(set(flavours)) != len(flavours):
        raise PDFFormatError(f"{path}:{number}: flavour ids must be non-empty and distinct, got '{text}'")
    rows = block[3:]
    if len(rows) != x.size * q.size:
        raise PDFFormatError(
            f"{path}:{rows[-1][0]}: subgrid has {len(rows)} value lines but {x.size} x knots * {q.size} Q knots "
            f"= {x.size * q.size} are expected")
    values = _parse_values(path, rows, len(flavours))
    xf = values.reshape(x.size, q.size, len(flavours))
    for array in (x, q, xf):
        array.setflags(write=False)
    return Subgrid(x=x, q=q, xf=xf, first_line=block[0][0]), flavours


def _parse_values(path: Path, rows: list[tuple[int, str]], n_flavours: int) -> np.ndarray:
    """Fast path: numpy's C parser; on failure find the offending line for the message."""
    try:
        values = np.loadtxt([text for _, text in rows], dtype=np.float64, ndmin=2)
        if values.shape[1] == n_flavours and np.all(np.isfinite(values)):
            return values
    except ValueError:
        pass
    for number, text in rows:
        tokens = text.split()
        if len(tokens) != n_flavours:
            raise PDFFormatError(f"{path}:{number}: {len(tokens)} values but {n_flavours} flavour columns")
        for token in tokens:
            if not _is_float(token) or not math.isfinite(float(token)):
                raise PDFFormatError(f"{path}:{number}: value '{token}' is not a finite number")
    raise PDFFormatError(f"{path}:{rows[0][0]}: value lines could not be read as {n_flavours} numbers each")


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
