"""A loaded PDF member: x f(x, Q) for every flavour and alpha_s(Q), in JAX.

>>> from madgen.pdf import load_pdf                                   # doctest: +SKIP
>>> pdf = load_pdf("NNPDF23_lo_as_0130_qed")                         # doctest: +SKIP
>>> pdf.xfx(x, q)                 # (..., n_flavours), columns in pdf.flavours order
>>> pdf.xfx(x, q, pdg_ids=(21, 2, -2))   # (..., 3), zeros for flavours the set lacks
>>> pdf.xfx_pdg(21, x, q), pdf.alphas(q), pdf.lhapdf_id

x and Q (GeV) broadcast against each other.  Everything is pure JAX (``jit``, ``vmap``, ``grad``
in x and Q); with concrete inputs the domain is checked (x in (0, x_max], Q > 0) and a
:class:`PDFRangeError` raised, inside ``jit`` such points give NaN.  Double precision needs
``jax_enable_x64`` (``madgen.load`` turns it on).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from madgen.errors import PDFFormatError, PDFRangeError, UnsupportedFeature
from madgen.pdf.alphas import make_alphas
from madgen.pdf.interpolation import EXTRAPOLATORS, GridTables, build_tables, evaluate
from madgen.pdf.lookup import find_pdf_set, lhapdf_id_of
from madgen.pdf.reader import GLUON, PDFGrid, PDFSetInfo, member_path, read_grid, read_info


@dataclass(frozen=True, eq=False)
class PDF:
    """One member of an LHAPDF6 set, ready to evaluate (build it with :func:`load_pdf`)."""

    info: PDFSetInfo
    member: int
    directory: Path
    grid: PDFGrid = field(repr=False)
    tables: GridTables = field(repr=False)
    extrapolator: str
    lhapdf_id: int | None  # for LHE's PDFSUP: SetIndex + member, or from pdfsets.index
    _alphas: Callable | None = field(default=None, repr=False)
    label: str | None = None  # MadGraph's pdlabel it was loaded by (load_pdf_label): alpha_s is MadGraph's running

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def flavours(self) -> tuple[int, ...]:
        """PDG ids of the columns of :meth:`xfx` (the .dat file's order; 0 read as 21)."""
        return self.grid.flavours

    @property
    def flavour_index(self) -> dict[int, int]:
        """PDG id -> column of :meth:`xfx`; 0 is accepted for the gluon as LHAPDF does."""
        index = {pdg: i for i, pdg in enumerate(self.flavours)}
        if GLUON in index:
            index[0] = index[GLUON]
        return index

    @property
    def x_range(self) -> tuple[float, float]:
        """First and last x knot (interpolation region; below x_min the PDF is extrapolated)."""
        return float(self.grid.subgrids[0].x[0]), float(self.grid.subgrids[0].x[-1])

    @property
    def q_range(self) -> tuple[float, float]:
        """First and last Q knot in GeV (outside, the PDF is extrapolated)."""
        return float(self.grid.subgrids[0].q[0]), float(self.grid.subgrids[-1].q[-1])

    def xfx(self, x, q, pdg_ids: Sequence[int] | None = None) -> jnp.ndarray:
        """x f(x, Q): shape broadcast(x, q).shape + (n,), n = len(flavours) or len(pdg_ids)."""
        _check_domain(x, q, self.x_range[1])
        values = _evaluate_bucketed(self.tables, x, q, self.extrapolator)
        if self.info.force_positive == 1:
            values = jnp.maximum(values, 0.0)
        elif self.info.force_positive == 2:
            values = jnp.maximum(values, 1e-10)
        if pdg_ids is None:
            return values
        index = self.flavour_index
        columns = np.array([index.get(pdg, 0) for pdg in pdg_ids], dtype=np.int32)
        present = np.array([pdg in index for pdg in pdg_ids])
        return jnp.where(present, values[..., columns], 0.0)

    def xfx_pdg(self, pdg: int, x, q) -> jnp.ndarray:
        """x f(x, Q) of one parton (PDG id; 0 = gluon); zero if the set does not have it."""
        return self.xfx(x, q, pdg_ids=(pdg,))[..., 0]

    def alphas(self, q) -> jnp.ndarray:
        """alpha_s(Q), Q in GeV: as the set defines it (``AlphaS_Type``), or MadGraph's running for a set
        loaded by its MadGraph label (``load_pdf_label``)."""
        _check_domain(None, q, 1.0)
        if self._alphas is None:  # the set's own alpha_s; a label's (load_pdf_label) is MadGraph's running
            object.__setattr__(self, "_alphas", make_alphas(self.info))
        return self._alphas(jnp.asarray(q))


def _evaluate_bucketed(tables: GridTables, x, q, extrapolator: str) -> jnp.ndarray:
    """``evaluate``, with small concrete batches padded to a power of two so that eager calls with
    varying sizes reuse a few compiled shapes (traced inputs are evaluated as they are)."""
    if isinstance(x, jax.core.Tracer) or isinstance(q, jax.core.Tracer):
        return evaluate(tables, x, q, extrapolator)
    x, q = jnp.broadcast_arrays(jnp.asarray(x, dtype=float), jnp.asarray(q, dtype=float))
    if x.size > _MAX_PADDED:
        return evaluate(tables, x, q, extrapolator)
    size = max(16, 1 << (x.size - 1).bit_length())
    pad = size - x.size
    middle_x = float(np.exp(0.5 * (tables.log_x[0] + tables.log_x[-1])))  # padding: a point inside the grid
    middle_q = float(np.exp(0.25 * (tables.log_q2[0] + tables.log_q2[-1])))
    flat_x = jnp.concatenate([x.ravel(), jnp.full(pad, middle_x)])
    flat_q = jnp.concatenate([q.ravel(), jnp.full(pad, middle_q)])
    return evaluate(tables, flat_x, flat_q, extrapolator)[: x.size].reshape(x.shape + (-1,))


_MAX_PADDED = 8192


def _check_domain(x, q, x_max: float) -> None:
    """Raise for concrete out-of-domain inputs; traced inputs are left to give NaN."""
    for name, value, low, high in (("x", x, 0.0, x_max), ("Q", q, 0.0, np.inf)):
        if value is None or isinstance(value, jax.core.Tracer):
            continue
        array = np.asarray(value, dtype=np.float64)
        bad = ~((array > low) & (array <= high))
        if np.any(bad):
            culprit = array[bad].flat[0]
            bound = f"(0, {x_max:g}]" if name == "x" else "> 0 GeV"
            raise PDFRangeError(f"{name} = {culprit!r} is outside the PDF's domain: {name} must be {bound}")


_CACHE: dict[tuple[str, int, str | None], PDF] = {}
_CACHE_LOCK = threading.Lock()


def load_pdf(name_or_path=None, member: int | None = None, extrapolator: str | None = None) -> PDF:
    """Load (once per process: later calls return the cached object) a PDF member.

    ``name_or_path``: a set directory, a set name (searched as :func:`find_pdf_set` says),
    ``"NAME/member"`` or an LHAPDF id; default ``DEFAULT_PDF``.  ``extrapolator`` overrides the
    set's ``Extrapolator`` key (``continuation`` by default, or ``nearest``, ``error``). One of MadGraph's
    labels (``nn23lo1``, what a run card's ``pdf`` may hold) is ``load_pdf_label``'s.
    """
    from madgen.pdf.lookup import DEFAULT_PDF, MADGRAPH_PDF_LABELS

    if isinstance(name_or_path, str) and name_or_path.lower() in MADGRAPH_PDF_LABELS and member is None \
            and extrapolator is None:
        return load_pdf_label(name_or_path)

    directory, found_member = find_pdf_set(DEFAULT_PDF if name_or_path is None else name_or_path)
    member = found_member if member is None else member
    key = (str(directory), member, extrapolator)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(directory, member, extrapolator)
        return _CACHE[key]


def load_pdf_label(label: str) -> PDF:
    """The set MadGraph's built-in PDF ``label`` (``nn23lo1``, ``cteq6l1``, ...: ``MADGRAPH_PDF_LABELS``)
    stands for, member 0, with alpha_s as MadGraph computes it for the label: its own running from the
    label's alpha_s(MZ) (``madgraph_alphas``), not the set's table, which MadGraph reads only with
    ``pdlabel = lhapdf``."""
    import dataclasses

    from madgen.pdf.alphas import MadGraphAlphaS
    from madgen.pdf.lookup import MADGRAPH_PDF_LABELS

    name, asmz, nloop = MADGRAPH_PDF_LABELS[label.lower()]
    key = ("label", label.lower())
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        cached = dataclasses.replace(load_pdf(name), _alphas=MadGraphAlphaS(asmz, nloop), label=label.lower())
        with _CACHE_LOCK:
            _CACHE[key] = cached
    return cached


def clear_pdf_cache() -> None:
    """Forget every loaded PDF (e.g. after editing a set's files)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _build(directory: Path, member: int, extrapolator: str | None) -> PDF:
    info = read_info(directory, member)
    if info.num_members is not None and not 0 <= member < info.num_members:
        raise PDFFormatError(f"{info.info_path}: member {member} requested but the set has NumMembers = "
                             f"{info.num_members} (members 0..{info.num_members - 1})")
    if info.interpolator != "logcubic":
        raise UnsupportedFeature(f"{info.key_line('Interpolator')}: Interpolator '{info.interpolator}' is not "
                                 "implemented; madgen reproduces LHAPDF's default 'logcubic'")
    extrapolator = (extrapolator or info.extrapolator).lower()
    if extrapolator not in EXTRAPOLATORS:
        raise UnsupportedFeature(f"{info.key_line('Extrapolator')}: Extrapolator '{extrapolator}' is unknown; "
                                 f"use one of {EXTRAPOLATORS}")
    grid = read_grid(member_path(directory, member), n_flavours=len(info.flavours))
    set_id = info.set_index + member if info.set_index is not None else lhapdf_id_of(info.name, member)
    return PDF(info=info, member=member, directory=directory, grid=grid, tables=build_tables(grid),
               extrapolator=extrapolator, lhapdf_id=set_id)
