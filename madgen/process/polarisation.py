"""Polarised particles, MadGraph's ``{X}`` (arXiv:1912.01725): what each label selects, and where.

* A final-state particle (an external leg) keeps only the helicity states of its label in the helicity
  sum: ``{0}`` helicity 0 of a massive vector, ``{T}`` helicities -1 and +1 of a vector, ``{L}`` / ``{R}``
  helicity -1 / +1 of a vector or a spin-1/2 particle. Helicities are those of the frame the momenta are
  given in: madgen's runtime evaluates |M|^2 in the partonic centre-of-mass frame (MadGraph's default
  ``me_frame``), a decay in the rest frame of the decaying particle.
* A decayed massive vector (``p p > w+{0} j, w+ > e+ ve``) has the numerator of its propagator replaced by
  eps(k, lambda) eps*(k, lambda) of its off-shell momentum k (polarisation vectors built with sqrt(k^2)),
  summed coherently over the helicities of the label; ``{A}`` keeps the rest of the unitary-gauge numerator,
  k k (1/M^2 - 1/k^2) (MadGraph's auxiliary part, zero for a current of massless fermions): {0}, {T} and {A}
  add up to the whole propagator. The interference between polarisations is left out, as in MadGraph.

Initial-state particles are polarised by the run card's ``polbeam1``/``polbeam2``, not by ``{X}``.
"""

from __future__ import annotations

from madgen.errors import ProcessError, UnsupportedFeature
from madgen.model.types import Model, Spin

EXTERNAL_HELICITIES = {"0": (0,), "T": (-1, 1), "L": (-1,), "R": (1,)}
"""The helicity states a polarisation label keeps on an external leg."""

PROPAGATOR_STATES = {"0": ("0",), "T": ("-1", "1"), "L": ("-1",), "R": ("1",), "A": ("A",)}
"""The terms of a polarised propagator's numerator: helicities of eps(k) eps*(k), and 'A' the auxiliary part."""


def check_external(model: Model, name: str, label: str, where: str) -> tuple[int, ...]:
    """The helicities a final-state ``name{label}`` keeps; a label the particle cannot have is named."""
    particle = model.particle(name)
    spin = particle.spin
    if label == "A":
        raise ProcessError(f"{where}: '{name}{{A}}' is a final-state particle; the auxiliary polarisation {{A}} "
                           "exists only for a decayed vector (its off-shell propagator), e.g. 'p p > w+{A} j, "
                           "w+ > e+ ve'")
    if spin is Spin.VECTOR:
        if label == "0" and particle.massless:
            raise ProcessError(f"{where}: '{name}{{0}}': a massless vector has no longitudinal polarisation; use "
                               f"{{T}}, {{L}} or {{R}}")
        return EXTERNAL_HELICITIES[label]
    if spin is Spin.FERMION:
        if label not in ("L", "R"):
            raise ProcessError(f"{where}: '{name}{{{label}}}': a spin-1/2 particle is polarised {{L}} (helicity "
                               "-1) or {R} (helicity +1)")
        return EXTERNAL_HELICITIES[label]
    raise UnsupportedFeature(f"{where}: '{name}{{{label}}}': madgen polarises particles of spin 1/2 and 1 only, "
                             f"'{name}' has spin {(spin.value - 1) / 2:g}")


def check_decayed(model: Model, name: str, label: str, where: str) -> tuple[str, ...]:
    """The numerator terms (``PROPAGATOR_STATES``) of a decayed ``name{label}``; only massive vectors."""
    particle = model.particle(name)
    if particle.spin is not Spin.VECTOR or particle.massless:
        raise UnsupportedFeature(f"{where}: '{name}{{{label}}}' is decayed: madgen polarises the propagator of a "
                                 f"decayed massive vector only (W, Z, ...); '{name}' has spin "
                                 f"{(particle.spin.value - 1) / 2:g}"
                                 + ("" if particle.spin is not Spin.FERMION else
                                    "; polarise its decay products instead, or generate it undecayed"))
    return PROPAGATOR_STATES[label]


def suffix(label: str) -> str:
    """How a label is written after a particle's name: ``{0}``, or nothing."""
    return f"{{{label}}}" if label else ""
