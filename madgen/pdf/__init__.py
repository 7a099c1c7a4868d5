"""Parton distribution functions for hadron beams: LHAPDF6 sets evaluated in JAX.

Public API (see ``docs/pdfs.md``):

* :func:`load_pdf` -> :class:`PDF` with ``xfx(x, q, pdg_ids=None)``, ``xfx_pdg(pdg, x, q)``,
  ``alphas(q)``, ``flavours``, ``flavour_index``, ``lhapdf_id``; loaded sets are cached.
* :func:`find_pdf_set`, :func:`pdf_search_paths`: where sets are found (LHAPDF's search rules).
* :data:`DEFAULT_PDF`: MadGraph's default LO set (``nn23lo1``), shipped with madgen;
  :func:`load_pdf_label`: a set by MadGraph's ``pdlabel`` (``nn23lo1``), with the alpha_s MadGraph
  runs for it (:data:`MADGRAPH_PDF_LABELS`, :func:`madgraph_alphas`).
* :func:`read_info`, :func:`read_grid`: the LHAPDF6 reader (frozen :class:`PDFSetInfo`,
  :class:`PDFGrid`, :class:`Subgrid`).
* :func:`evaluate` with :class:`GridTables` (``PDF.tables``): the pure function behind ``xfx``,
  for passing the tables through ``jit`` explicitly.
"""

from madgen.pdf.alphas import make_alphas as make_alphas
from madgen.pdf.alphas import madgraph_alphas as madgraph_alphas
from madgen.pdf.distribution import load_pdf_label as load_pdf_label
from madgen.pdf.distribution import PDF as PDF
from madgen.pdf.distribution import clear_pdf_cache as clear_pdf_cache
from madgen.pdf.distribution import load_pdf as load_pdf
from madgen.pdf.interpolation import GridTables as GridTables
from madgen.pdf.interpolation import evaluate as evaluate
from madgen.pdf.lookup import DEFAULT_PDF as DEFAULT_PDF
from madgen.pdf.lookup import MADGRAPH_PDF_LABELS as MADGRAPH_PDF_LABELS
from madgen.pdf.lookup import find_pdf_set as find_pdf_set
from madgen.pdf.lookup import pdf_search_paths as pdf_search_paths
from madgen.pdf.reader import PDFGrid as PDFGrid
from madgen.pdf.reader import PDFSetInfo as PDFSetInfo
from madgen.pdf.reader import Subgrid as Subgrid
from madgen.pdf.reader import read_grid as read_grid
from madgen.pdf.reader import read_info as read_info

__all__ = [
    "DEFAULT_PDF", "PDF", "GridTables", "PDFGrid", "PDFSetInfo", "Subgrid", "clear_pdf_cache", "evaluate",
    "find_pdf_set", "load_pdf", "make_alphas", "pdf_search_paths", "read_grid", "read_info",
]
