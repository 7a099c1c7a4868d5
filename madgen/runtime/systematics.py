"""Scale-variation weights of unweighted events (MadGraph's ``use_syst``, its ``systematics`` module for
the renormalisation and factorisation scales).

An event generated at (muR, muF1, muF2) with |M|^2 proportional to alpha_s(muR)^n (MadGraph's nqcd) and
parton densities f_a(x1, muF1) f_b(x2, muF2) weighs, at the scales (kR muR, kF muF1, kF muF2),

    w(kR, kF) = w  [alpha_s(kR muR) / alpha_s(muR)]^n  f_a(x1, kF muF1) f_b(x2, kF muF2) / (f_a(x1, muF1) f_b(x2, muF2))

exactly at leading order: the same phase-space point and |M|^2 with other couplings and densities, so
the sum of w(kR, kF) over the events estimates sigma at those scales with the events' own statistics.
alpha_s and the densities are the run's PDF set's; with particle beams alpha_s runs from the model's aS
(``madgraph_alphas``, as the run's own alpha_s does) and there are no densities (their ratio is 1, so
muF varies nothing), as MadGraph's systematics does without PDFs. PDF member variations are not written
(madgen ships the set's central member only).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_FACTORS = (0.5, 1.0, 2.0)
"""MadGraph's default factors of muR and muF (``sys_scalefact``; systematics ``--mur``, ``--muf``)."""


@dataclass(frozen=True)
class ScaleVariation:
    """One weight: muR and muF multiplied by ``mu_r_factor`` and ``mu_f_factor``; ``weight_id`` is its id
    in the LHE file (MadGraph's systematics numbers its weights from 1, the central one first)."""

    weight_id: str
    mu_r_factor: float
    mu_f_factor: float

    def describe(self) -> str:
        return f"MUR={self.mu_r_factor:g} MUF={self.mu_f_factor:g}"


def scale_variations(factors: Sequence[float] = DEFAULT_FACTORS) -> tuple[ScaleVariation, ...]:
    """Every (kR, kF) of ``factors``, the central (1, 1) first, then kF outer and kR inner as written."""
    pairs = [(1.0, 1.0)] + [(r, f) for f, r in itertools.product(factors, factors) if (r, f) != (1.0, 1.0)]
    return tuple(ScaleVariation(str(k + 1), float(r), float(f)) for k, (r, f) in enumerate(pairs))


def scale_variation_weights(record, collider, variations: Sequence[ScaleVariation], alpha_s_mz=None) -> np.ndarray:
    """(N, len(variations)) weights of the events of ``record`` (``madgen.runtime.columnar.EventRecord``
    with ``x1``, ``x2``, ``mu_r``, ``mu_f``, ``mu_f2``, ``aqcd``, ``n_qcd``) at each variation (module
    docstring); ``alpha_s_mz``: the model's aS, alpha_s runs from it without a PDF set (None: a model
    without alpha_s, whose events have n_qcd = 0)."""
    from madgen.pdf.alphas import madgraph_alphas

    pdf = collider.pdf
    if pdf is not None:
        alphas = pdf.alphas
    elif alpha_s_mz is not None:
        def alphas(q):
            return madgraph_alphas(q, alpha_s_mz)
    else:
        def alphas(q):
            return np.ones_like(q)
    n = len(record)
    weights = np.asarray(record.weights, dtype=np.float64)
    if n == 0:
        return np.zeros((0, len(variations)))
    mu_r = np.asarray(record.mu_r, dtype=np.float64)
    mu_f = (np.asarray(record.mu_f, dtype=np.float64), np.asarray(record.mu_f2, dtype=np.float64))  # per lab beam
    x = (np.asarray(record.x1, dtype=np.float64), np.asarray(record.x2, dtype=np.float64))
    partons = np.asarray(record.pdg_ids)[:, :2]
    n_qcd = np.asarray(record.n_qcd, dtype=np.float64)
    alpha_s = np.asarray(record.aqcd, dtype=np.float64)

    def densities(factor):
        product = np.ones(n)
        for side in (0, 1):
            if not collider.beams[side].hadron:
                continue
            flavours = [pdf.flavour_index[collider.parton_pdg(side, int(p))] for p in partons[:, side]]
            table = np.asarray(pdf.xfx(x[side], factor * mu_f[side]))
            product = product * table[np.arange(n), flavours]
        return product

    by_factor = {f: densities(f) for f in sorted({1.0} | {v.mu_f_factor for v in variations})}
    central = by_factor[1.0]
    running = {r: np.asarray(alphas(r * mu_r)) for r in sorted({v.mu_r_factor for v in variations})}
    columns = []
    for v in variations:
        coupling = (running[v.mu_r_factor] / alpha_s) ** n_qcd
        ratio = np.divide(by_factor[v.mu_f_factor], central, out=np.zeros(n), where=central != 0)
        columns.append(weights * coupling * ratio)
    return np.stack(columns, axis=-1)


def envelope(sums: np.ndarray) -> tuple[float, float]:
    """(+, -) relative deviations of the largest and smallest of ``sums`` from the first (the central)."""
    central = float(sums[0])
    if central == 0:
        return 0.0, 0.0
    return float(np.max(sums) / central - 1.0), float(1.0 - np.min(sums) / central)


class ScaleWeights:
    """The scale-variation weights of a run's events, chunk by chunk, with their sums (for results.json)."""

    def __init__(self, collider, factors: Sequence[float] = DEFAULT_FACTORS, alpha_s_mz=None):
        self.collider = collider
        self.variations = scale_variations(factors)
        self.sums = np.zeros(len(self.variations))
        self.alpha_s_mz = alpha_s_mz  # the model's aS (particle beams: alpha_s runs from it)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(v.weight_id for v in self.variations)

    def __call__(self, record) -> np.ndarray:
        weights = scale_variation_weights(record, self.collider, self.variations, self.alpha_s_mz)
        self.sums += weights.sum(axis=0)
        return weights

    def weight_group(self) -> str:
        """The ``<weightgroup>`` of LHE 3.0's ``<initrwgt>``, as MadGraph's systematics writes it."""
        pdf = self.collider.pdf
        pdf_id = f' PDF="{pdf.lhapdf_id}"' if pdf is not None and pdf.lhapdf_id else ""
        lines = ['<weightgroup name="Central scale variation" combine="envelope">']
        lines += [f'<weight id="{v.weight_id}" MUR="{v.mu_r_factor:g}" MUF="{v.mu_f_factor:g}"{pdf_id}> '
                  f"{v.describe()} </weight>" for v in self.variations]
        return "\n".join(lines + ["</weightgroup>"]) + "\n"

    def results(self, cross_section_pb: float) -> list[dict]:
        """sigma at each variation: the run's sigma times the ratio of the weights' sums to the central
        one's (the central weight is the event's own)."""
        ratio = self.sums / self.sums[0] if self.sums[0] else np.zeros_like(self.sums)
        return [{"weight_id": v.weight_id, "mu_r_factor": v.mu_r_factor, "mu_f_factor": v.mu_f_factor,
                 "cross_section_pb": float(cross_section_pb * r)} for v, r in zip(self.variations, ratio)]
