"""Renormalisation and factorisation scales per event, as MadGraph's run_card and ``setscales.f``
define them.

* fixed: muR = ``scale`` (``fixed_ren_scale``), muF1 = ``dsqrt_q2fact1``, muF2 = ``dsqrt_q2fact2``
  (``fixed_fac_scale``);
* dynamical (``dynamical_scale_choice``), from the final-state momenta p_i of the event in the
  partonic centre-of-mass frame (the frame of MadGraph's matrix-element momenta), times ``scalefact``:

  ====  ====================================================================================
  1     sum of the transverse energies, E_T = E pT / |p|  (MadGraph's ``et``)
  2     sum of the transverse masses, m_T = sqrt((E + pz)(E - pz)) = sqrt(m² + pT²)
  3     half the sum of the transverse masses
  4     sqrt(s-hat), the partonic energy
  ====  ====================================================================================

  and, as in ``set_fac_scale``, muF1 = muF2 = muR when the factorisation scale is not fixed.
MadGraph's -1 (CKKW clustering) and 0 (a user's Fortran function) have no equivalent here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp

from madgen.phasespace.kinematics import safe_sqrt

DYNAMICAL_SCALE_CHOICES = {1: "sum of the transverse energies", 2: "sum of the transverse masses",
                           3: "half the sum of the transverse masses", 4: "the partonic energy sqrt(s-hat)"}


class ScaleValues(NamedTuple):
    """The scale settings as JAX values: an argument of compiled functions, so that runs with other
    scales reuse the compiled code."""

    scale: jnp.ndarray
    dsqrt_q2fact1: jnp.ndarray
    dsqrt_q2fact2: jnp.ndarray
    fixed_ren_scale: jnp.ndarray
    fixed_fac_scale: jnp.ndarray
    dynamical_scale_choice: jnp.ndarray
    scalefact: jnp.ndarray


@dataclass(frozen=True)
class ScaleChoice:
    """The scale settings of a run card (MadGraph's names)."""

    scale: float = 91.188
    dsqrt_q2fact1: float = 91.188
    dsqrt_q2fact2: float = 91.188
    fixed_ren_scale: bool = True
    fixed_fac_scale: bool = True
    dynamical_scale_choice: int = 3
    scalefact: float = 1.0

    @property
    def fixed(self) -> bool:
        return self.fixed_ren_scale and self.fixed_fac_scale

    def values(self) -> ScaleValues:
        return ScaleValues(*(jnp.asarray(v, dtype=dtype) for v, dtype in zip(
            (self.scale, self.dsqrt_q2fact1, self.dsqrt_q2fact2, self.fixed_ren_scale, self.fixed_fac_scale,
             self.dynamical_scale_choice, self.scalefact),
            (jnp.float64, jnp.float64, jnp.float64, bool, bool, jnp.int32, jnp.float64))))

    def describe(self) -> str:
        dynamic = f"{self.scalefact:g} x {DYNAMICAL_SCALE_CHOICES[self.dynamical_scale_choice]}"
        ren = f"{self.scale:g} GeV" if self.fixed_ren_scale else dynamic
        fac = (f"{self.dsqrt_q2fact1:g}, {self.dsqrt_q2fact2:g} GeV" if self.fixed_fac_scale else dynamic)
        return f"muR = {ren}, muF = {fac}"


def dynamical_scales(momenta, n_initial: int):
    """MadGraph's dynamical scales 1-4 of momenta (batch, n_legs, 4) in the partonic CM frame,
    stacked (4, batch)."""
    final = momenta[..., n_initial:, :]
    energy, pz = final[..., 0], final[..., 3]
    pt = jnp.hypot(final[..., 1], final[..., 2])
    size = safe_sqrt(pt**2 + pz**2)
    transverse_energy = jnp.sum(jnp.where(pt > 0, energy * pt / jnp.where(size > 0, size, 1.0), 0.0), axis=-1)
    transverse_mass = jnp.sum(safe_sqrt((energy + pz) * (energy - pz)), axis=-1)
    total = jnp.sum(momenta[..., :n_initial, :], axis=-2)
    sqrt_s_hat = safe_sqrt(total[..., 0] ** 2 - jnp.sum(total[..., 1:] ** 2, axis=-1))
    return jnp.stack([transverse_energy, transverse_mass, transverse_mass / 2.0, sqrt_s_hat])


def dynamical_scale(momenta, n_initial: int, choice: int):
    """MadGraph's dynamical scale ``choice`` (1-4) of momenta (batch, n_legs, 4), partonic CM frame."""
    if choice not in DYNAMICAL_SCALE_CHOICES:
        raise ValueError(f"dynamical_scale_choice {choice} is not one of {sorted(DYNAMICAL_SCALE_CHOICES)}")
    return dynamical_scales(momenta, n_initial)[choice - 1]


def event_scales(values: ScaleValues, momenta, n_initial: int = 2):
    """(muR, muF1, muF2) per event (batch,) in GeV for the settings ``values`` (``ScaleChoice.values()``)."""
    dynamic = values.scalefact * dynamical_scales(momenta, n_initial)[values.dynamical_scale_choice - 1]
    mu_r = jnp.where(values.fixed_ren_scale, values.scale, dynamic)
    mu_f1 = jnp.where(values.fixed_fac_scale, values.dsqrt_q2fact1, dynamic)
    mu_f2 = jnp.where(values.fixed_fac_scale, values.dsqrt_q2fact2, dynamic)
    return mu_r, mu_f1, mu_f2
