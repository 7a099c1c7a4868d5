"""Batched, jit-able, differentiable phase-space generators in JAX.

Every generator maps uniform numbers x of shape (batch, ndim) in [0, 1) to momenta (E, px, py, pz)
in GeV and a weight with E_x[f(p(x)) w(x)] = ∫ dΦ_n f, where dΦ_n = (2π)^(4-3n) Π d³p/(2E) δ⁴(P - Σp)
(PDG normalisation, no flux factor). Masses and sqrt_s are JAX values, so everything can be traced,
jitted, vmapped and differentiated with respect to x, the masses, the widths and sqrt_s.

* ``rambo(x, sqrt_s, masses)``: flat n-body phase space, ndim = 4n, final-state momenta only.
* ``multichannel_from_diagrams(process.channels)``: one ``DiagramChannel`` per diagram, ndim = 3n - 4,
  ``channel(x, sqrt_s, masses, parameters)`` gives the momenta of all legs (incoming included);
  sqrt_s may differ per point (hadron collisions).
* ``sample_fractions``: parton momentum fractions (x1, x2) in hadron beams, with maps for s-channel
  resonances and thresholds in s-hat.
* ``cm_to_lab``, ``beams_cm``, ``beam_momenta``, ``with_incoming``, ``to_frame``: frames and incoming momenta.
"""

from madgen.phasespace.channels import (ChannelError, DiagramChannel, Propagator, System, channel_from_diagram,
                                        duplicate_groups, multichannel_from_diagrams, propagator_parameters)
from madgen.phasespace.fractions import (FractionMap, fractions_at, one_body_fractions, parton_momenta,
                                         sample_fractions, sample_rapidity, sample_tau)
from madgen.phasespace.generate import generate_channel
from madgen.phasespace.kinematics import (beam_momenta, beams_cm, boost, boost_to_rest, cm_to_lab, kallen,
                                          mass_squared, minkowski_dot, sqrt_s_of, to_frame, with_incoming)
from madgen.phasespace.rambo import massless_volume, rambo, rambo_ndim

__all__ = [
    "ChannelError", "DiagramChannel", "FractionMap", "Propagator", "System", "beam_momenta", "beams_cm", "boost",
    "boost_to_rest", "channel_from_diagram", "cm_to_lab", "duplicate_groups", "fractions_at", "generate_channel",
    "kallen",
    "mass_squared", "massless_volume", "minkowski_dot", "multichannel_from_diagrams", "one_body_fractions",
    "parton_momenta",
    "propagator_parameters", "rambo", "rambo_ndim", "sample_fractions", "sample_rapidity", "sample_tau", "sqrt_s_of",
    "to_frame",
    "with_incoming",
]
