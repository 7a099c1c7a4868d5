"""The colliding beams of a run: hadrons with parton densities, or particles at fixed energy.

A beam is a proton (``p``, PDG 2212), an antiproton (``p~``, -2212; its densities are the
proton's with quarks and antiquarks exchanged) or a particle of the process taken at the full
beam energy (``e-``, or the process's own initial particle when the run card gives no ``beams``).
Hadron beams carry partons with momentum fractions x and densities f(x, muF) from an LHAPDF set
(``madgen.pdf``): the parton luminosity of a subprocess a b is f_a(x1, muF1) f_b(x2, muF2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from madgen.errors import RunCardError

HADRONS = {"p": 2212, "p~": -2212}
"""Hadron beams madgen knows, by run-card name."""

HADRON_NAMES = {pdg: name for name, pdg in HADRONS.items()}

PROTON_PARTONS = frozenset((*range(-5, 0), *range(1, 6), 21))
"""The quarks (d to b) and the gluon: a beam whose subprocesses bring several of them and that the run
card leaves unnamed is a proton beam, as MadGraph's run card makes it (lpp = 1)."""


@dataclass(frozen=True)
class Beam:
    """One beam: its PDG id (2212, -2212, or the particle's) and energy in GeV; beam 1 runs along +z."""

    pdg: int
    energy: float

    @property
    def hadron(self) -> bool:
        return abs(self.pdg) == 2212

    @property
    def name(self) -> str:
        return HADRON_NAMES.get(self.pdg, str(self.pdg))


@dataclass(frozen=True, eq=False)
class Collider:
    """Two beams and, when one is a hadron, the PDF member that describes it."""

    beams: tuple[Beam, Beam]
    pdf: object | None = None  # madgen.pdf.PDF
    polarisations: tuple[float, float] = (0.0, 0.0)  # per particle beam, -1 (helicity -) to 1 (helicity +)

    @property
    def polarised(self) -> bool:
        return any(self.polarisations)

    @property
    def hadrons(self) -> tuple[bool, bool]:
        return (self.beams[0].hadron, self.beams[1].hadron)

    @property
    def has_pdf(self) -> bool:
        return any(self.hadrons)

    @property
    def energies(self) -> tuple[float, float]:
        return (self.beams[0].energy, self.beams[1].energy)

    @property
    def s(self) -> float:
        """s of massless beams, 4 E1 E2 (s-hat = x1 x2 s for partons carrying x_i E_i)."""
        return 4.0 * self.beams[0].energy * self.beams[1].energy

    def fixed_sqrt_s(self, m1: float = 0.0, m2: float = 0.0) -> float:
        """Centre-of-mass energy of particle beams with masses m1, m2 (no PDFs)."""
        e1, e2 = self.energies
        p1 = math.sqrt(max(e1 ** 2 - m1 ** 2, 0.0))
        p2 = math.sqrt(max(e2 ** 2 - m2 ** 2, 0.0))
        return math.sqrt(m1 ** 2 + m2 ** 2 + 2 * (e1 * e2 + p1 * p2))

    def parton_pdg(self, side: int, parton: int) -> int:
        """The flavour to look up in the proton PDF for ``parton`` in beam ``side`` (antiproton: the
        charge conjugate quark; gluons and photons are their own)."""
        if self.beams[side].pdg > 0 or parton in (21, 22):
            return parton
        return -parton

    def densities(self, side: int, partons: Sequence[int], x, q):
        """f(x, Q) = xf(x, Q) / x of each parton (PDG ids, one per subprocess) in beam ``side``:
        shape (..., len(partons)); 1 for a particle beam (it is the parton, at x = 1)."""
        return self.pick(side, self.density_table(side, x, q), partons)

    def density_table(self, side: int, x, q):
        """f(x, Q) of every flavour of the PDF in beam ``side`` (..., n_flavours); None for a particle beam."""
        if not self.beams[side].hadron:
            return None
        return self.pdf.xfx(x, q) / x[..., None]

    def pick(self, side: int, table, partons: Sequence[int]):
        """The columns of ``density_table`` for ``partons`` of beam ``side`` (1 for a particle beam)."""
        if table is None:
            return jnp.ones((1, len(partons)))
        index = self.pdf.flavour_index
        columns = np.array([index[self.parton_pdg(side, p)] for p in partons], dtype=np.int32)
        return table[..., columns]


def collider_for_run(run, initial_states: Sequence[tuple[int, int]], names: Sequence[tuple[str, str]]) -> Collider:
    """The collider of a run card for subprocesses with the given initial PDG ids (and particle
    names, for messages); checks that every subprocess's initial partons can come from the beams."""
    specs = run.beams if run.beams is not None else (None, None)
    beams = []
    for side, spec in enumerate(specs):
        beams.append(Beam(_beam_pdg(run, side, spec, initial_states, names), run.beam_energies[side]))
    pdf = _load_pdf(run) if any(b.hadron for b in beams) else None
    polarisations = (run.polbeam1 / 100.0, run.polbeam2 / 100.0)
    for side, (beam, value) in enumerate(zip(beams, polarisations)):
        if value and beam.hadron:
            raise RunCardError(f"{run.path}, key 'polbeam{side + 1}': beam {side + 1} is {beam.name}; polarised "
                               "beams are particle beams (e+ e-, as in MadGraph), not hadrons")
    collider = Collider((beams[0], beams[1]), pdf, polarisations)
    _check_partons(run, collider, initial_states, names)
    return collider


def _beam_pdg(run, side: int, spec, initial_states, names) -> int:
    """The PDG id of beam ``side`` (0, 1): a hadron, or the particle every subprocess has there."""
    if spec in HADRONS:
        return HADRONS[spec]
    on_side = {state[side] for state in initial_states}
    if spec is None:
        if len(on_side) > 1 and on_side <= PROTON_PARTONS:
            return HADRONS["p"]  # MadGraph's default lpp = 1 for a beam of several partons ('p p > t t~')
        if len(on_side) > 1:
            raise RunCardError(
                f"{run.path}: the subprocesses have different initial particles {sorted(on_side)} in beam "
                f"{side + 1}; give hadron beams ('beams: [p, p]', or MadGraph's lpp1/lpp2 = 1) or write the "
                "process with explicit initial particles")
        return next(iter(on_side))
    wanted = {pdg for pdg, name in ((s[side], n[side]) for s, n in zip(initial_states, names))
              if str(spec) in (name, str(pdg))}
    if not wanted:
        present = sorted({n[side] for n in names})
        raise RunCardError(f"{run.path}, key 'beams': beam {side + 1} is '{spec}', but the process has "
                           f"{', '.join(present)} there; use p or p~ for hadron beams, or the process's particle")
    return next(iter(wanted))


def _check_partons(run, collider: Collider, initial_states, names) -> None:
    """Every initial parton must be in its beam: the beam particle itself, or a PDF flavour."""
    for state, name in zip(initial_states, names):
        for side in (0, 1):
            beam = collider.beams[side]
            if beam.hadron:
                flavour = collider.parton_pdg(side, state[side])
                if flavour not in collider.pdf.flavour_index:
                    raise RunCardError(
                        f"{run.path}, key 'beams': beam {side + 1} is {beam.name}, but '{name[side]}' (PDG "
                        f"{state[side]}) of subprocess '{' '.join(name)} > ...' is not a parton of the PDF set "
                        f"{collider.pdf.name} (flavours {list(collider.pdf.flavours)})")
            elif state[side] != beam.pdg:
                raise RunCardError(
                    f"{run.path}, key 'beams': beam {side + 1} is the particle {beam.pdg}, but a subprocess has "
                    f"'{name[side]}' (PDG {state[side]}) there; a lepton beam cannot supply it (use p for partons)")


def _load_pdf(run):
    """The run card's PDF set (``pdf:``, member 0 unless named): an LHAPDF set with its own alpha_s, or one of
    MadGraph's built-in labels (``nn23lo1``, the default) with the alpha_s MadGraph runs for it."""
    from madgen.errors import PDFError
    from madgen.pdf import load_pdf
    from madgen.pdf.lookup import DEFAULT_LABEL

    try:
        pdf = load_pdf(run.pdf if run.pdf is not None else DEFAULT_LABEL)  # a label: load_pdf_label's
    except PDFError as error:
        raise RunCardError(f"{run.path}, key 'pdf': {error}") from None
    pdf.alphas(pdf.q_range[0] * 2.0)  # builds its alpha_s tables now, outside any jit trace
    return pdf


def tau_bounds(collider: Collider, final_masses, cut_bounds: tuple[float, float]) -> tuple[float, float]:
    """The range of tau = s-hat / s a run can reach: the final-state threshold (or a larger lower
    bound the cuts imply, ``cut_bounds[0]`` in GeV), up to 1 (or the cuts' upper bound)."""
    lower = max(float(np.sum(final_masses)), cut_bounds[0])
    upper = cut_bounds[1]
    tau_min = lower ** 2 / collider.s
    tau_max = min(1.0, upper ** 2 / collider.s)
    return tau_min, tau_max
