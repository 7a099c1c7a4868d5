"""Colour stage: exact colour basis, per-term coefficients and colour matrix of a process.

    sum_colours |M|^2 = sum_{k,l} conj(J_k) C_{kl} J_l,   J_k = sum_t c_{t,k} A_t
"""

from madgen.colour.basis import ColourBasis, ColourFactor, ColourInternalError, colour_basis
from madgen.colour.flows import ColourFlows, colour_flows, subprocess_colour_flows

__all__ = ["ColourBasis", "ColourFactor", "ColourFlows", "ColourInternalError", "colour_basis", "colour_flows",
           "subprocess_colour_flows"]
