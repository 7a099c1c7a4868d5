"""The user-facing API of a generated madgen process (copied verbatim into each package).

A ``Process`` wraps one generated matrix-element module; a ``ProcessGroup`` holds
the subprocesses of a multiparticle process. Both are plain Python objects around
pure JAX functions, so ``jax.jit``, ``jax.vmap`` and ``jax.grad`` apply to
``matrix_element`` with respect to the momenta and to the parameter dict.
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp


class InputShapeError(ValueError):
    """Momenta or parameters of the wrong shape or with unknown names."""


def _require_double_precision():
    if not jax.config.jax_enable_x64:
        raise RuntimeError(
            "madgen matrix elements are computed in double precision: call "
            "jax.config.update('jax_enable_x64', True) before using them "
            "(madgen.load() does this for you)")


class Process:
    """One generated subprocess: |M|^2 and its metadata."""

    def __init__(self, module, parameters_module, package_dir):
        self._module = module
        self._parameters = parameters_module
        self._dir = Path(package_dir)
        self.process = module.PROCESS
        self.pdg_ids = tuple(module.PDG_IDS)
        self.n_legs = len(self.pdg_ids)
        self.n_initial = module.N_INITIAL
        self.n_diagrams = module.N_DIAGRAMS
        self.subprocesses = (self,)
        self._evaluate = jax.jit(self._matrix_element_unchecked)

    def __repr__(self):
        return f"<madgen process '{self.process}' ({self.n_diagrams} diagrams)>"

    def default_parameters(self):
        """External parameters of the (restricted) model, keyed by UFO name, as in the param card."""
        return dict(self._parameters.EXTERNAL_DEFAULTS)

    def complete_parameters(self, parameters=None):
        """Defaults overridden by ``parameters``; unknown names are an error."""
        values = self.default_parameters()
        if parameters:
            unknown = sorted(set(parameters) - set(values))
            if unknown:
                raise InputShapeError(
                    f"unknown parameter(s) {unknown} for '{self.process}'; known: {sorted(values)}")
            values.update(parameters)
        return values

    def masses(self, parameters=None):
        """Masses of the external legs in process order (GeV), as a JAX array."""
        internal = self._parameters.compute_parameters(self.complete_parameters(parameters))
        return jnp.stack([jnp.asarray(0.0 if name == "ZERO" else internal[name], dtype=jnp.float64).real
                          for name in self._module.MASSES])

    def matrix_element(self, momenta, parameters=None):
        """|M|^2 summed over final and averaged over initial helicities and colours.

        ``momenta``: array of shape (..., n_legs, 4), components (E, px, py, pz) in GeV,
        legs in the order of the process string (initial first). Returns shape (...).
        """
        _require_double_precision()
        momenta = jnp.asarray(momenta)
        if momenta.ndim < 2 or momenta.shape[-2:] != (self.n_legs, 4):
            raise InputShapeError(
                f"momenta for '{self.process}' must have shape (..., {self.n_legs}, 4) "
                f"[(E, px, py, pz) for each leg], got {tuple(momenta.shape)}")
        return self._evaluate(momenta, self.complete_parameters(parameters))

    def _matrix_element_unchecked(self, momenta, parameters):
        batch_shape = momenta.shape[:-2]
        flat = jnp.reshape(momenta, (-1, self.n_legs, 4)).astype(jnp.float64)
        legs_first = jnp.transpose(flat, (1, 2, 0))  # (n_legs, 4, batch)
        internal = self._parameters.compute_parameters(parameters)
        values = self._module.matrix_element(legs_first, internal)
        return jnp.reshape(values, batch_shape)

    def diagram_weights(self, momenta, parameters=None):
        """|amplitude|^2 of every diagram, summed over helicities, shape (..., n_diagrams):
        the single-diagram-enhancement channel weights."""
        _require_double_precision()
        momenta = jnp.asarray(momenta)
        batch_shape = momenta.shape[:-2]
        flat = jnp.reshape(momenta, (-1, self.n_legs, 4)).astype(jnp.float64)
        internal = self._parameters.compute_parameters(self.complete_parameters(parameters))
        weights = self._module.diagram_weights(jnp.transpose(flat, (1, 2, 0)), internal)
        return jnp.reshape(weights.T, batch_shape + (self.n_diagrams,))

    @property
    def diagrams(self):
        """The diagrams as data (list of dicts), as exported to diagrams.json."""
        return json.loads((self._dir / self._module.DIAGRAMS_FILE).read_text())

    @property
    def metadata(self):
        return json.loads((self._dir / "metadata.json").read_text())


class ProcessGroup:
    """The subprocesses of a multiparticle process, each a ``Process``."""

    def __init__(self, name, process, subprocesses, parameters_module):
        self.name = name
        self.process = process
        self.subprocesses = tuple(subprocesses)
        self._parameters = parameters_module
        self.pdg_ids = tuple(p.pdg_ids for p in self.subprocesses)

    def __repr__(self):
        return f"<madgen process group '{self.process}' ({len(self.subprocesses)} subprocesses)>"

    def default_parameters(self):
        return dict(self._parameters.EXTERNAL_DEFAULTS)

    def masses(self, parameters=None):
        return [p.masses(parameters) for p in self.subprocesses]

    def matrix_element(self, momenta, parameters=None):
        raise TypeError(f"'{self.process}' has {len(self.subprocesses)} subprocesses: call "
                        "matrix_element on one of .subprocesses")
