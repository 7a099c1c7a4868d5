"""Gradients and gold for simulation-based inference ("Mining gold from implicit models",
Brehmer, Louppe, Pavez, Cranmer, PNAS 2020):

* per-event derivatives of |M|^2 (``gradients``),
* a differentiable cross section sigma(theta) on frozen VEGAS grids (``cross_section``),
* unweighted events with joint likelihood ratios and joint scores, written to HDF5 (``mining``),
* the expected Fisher information (``fisher``).

Names are imported lazily, so that ``madgen.inference.cli`` (the ``madgen mine`` parser) loads
without JAX.
"""

import importlib

_EXPORTS = {
    "CrossSectionEstimate": "cross_section", "DifferentiableCrossSection": "cross_section",
    "differentiable_cross_section": "cross_section",
    "InferenceError": "errors",
    "FisherInformation": "fisher", "fisher_information": "fisher", "total_fisher_information": "fisher",
    "momentum_gradient": "gradients", "momentum_hessian": "gradients", "parameter_gradient": "gradients",
    "parameter_hessian": "gradients", "parameter_value_and_gradient": "gradients", "matrix_element_values": "gradients",
    "unit_cube_gradient": "gradients", "unit_cube_hessian": "gradients",
    "GoldSample": "goldfile", "mine": "mining", "read_gold": "goldfile", "write_gold": "goldfile",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"madgen.inference.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'madgen.inference' has no attribute {name!r}")
