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

import jax.numpy as jnp

from madgen.phasespace.kinematics import safe_sqrt

DYNAMICAL_SCALE_CHOICES = {1: "sum of the transverse energies", 2: "sum of the transverse masses",
                           3: "half the sum of the transverse masses", 4: "the partonic energy sqrt(s-hat)"}


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

    def describe(self) -> str:
        dynamic = f"{self.scalefact:g} x {DYNAMICAL_SCALE_CHOICES[self.dynamical_scale_choice]}"
        ren = f"{self.scale:g} GeV" if self.fixed_ren_scale else dynamic
        fac = (f"{self.dsqrt_q2fact1:g}, {self.dsqrt_q2fact2:g} GeV" if self.fixed_fac_scale else dynamic)
        return f"muR = {ren}, muF = {fac}"


def dynamical_scale(momenta, n_initial: int, choice: int):
    """MadGraph's dynamical scale ``choice`` (1-4) of momenta (batch, n_legs, 4), partonic CM frame."""
    final = momenta[..., n_initial:, :]
    energy, pz = final[..., 0], final[..., 3]
    if choice == 1:
        pt = jnp.hypot(final[..., 1], final[..., 2])
        size = safe_sqrt(pt**2 + pz**2)
        et = jnp.where(pt > 0, energy * pt / jnp.where(size > 0, size, 1.0), 0.0)
        return jnp.sum(et, axis=-1)
    if choice in (2, 3):
        mt = jnp.sum(safe_sqrt((energy + pz) * (energy - pz)), axis=-1)
        return mt if choice == 2 else mt / 2.0
    if choice == 4:
        total = jnp.sum(momenta[..., :n_initial, :], axis=-2)
        return safe_sqrt(total[..., 0] ** 2 - jnp.sum(total[..., 1:] ** 2, axis=-1))
    raise ValueError(f"dynamical_scale_choice {choice} is not one of {sorted(DYNAMICAL_SCALE_CHOICES)}")


def event_scales(choice: ScaleChoice, momenta, n_initial: int = 2):
    """(muR, muF1, muF2) per event (batch,) in GeV."""
    ones = jnp.ones(momenta.shape[:-2])
    dynamic = None
    if not choice.fixed:
        dynamic = choice.scalefact * dynamical_scale(momenta, n_initial, choice.dynamical_scale_choice)
    mu_r = choice.scale * ones if choice.fixed_ren_scale else dynamic
    if choice.fixed_fac_scale:
        return mu_r, choice.dsqrt_q2fact1 * ones, choice.dsqrt_q2fact2 * ones
    return mu_r, dynamic, dynamic
