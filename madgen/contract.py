"""The contract between a generated package and madgen's runtime and inference.

A generated package (``madgen.load(path)`` or ``import <package>``) offers one ``Process`` per
subprocess; the runtime (integration, events) and inference (gradients, gold) use it only through
the members below: nothing else of the package, no private attribute. ``tests/test_contract.py``
pins these names and signatures, and checks that every generated ``Process`` satisfies
:class:`GeneratedProcess`.

Conventions: momenta are arrays (..., n_legs, 4) of (E, px, py, pz) in GeV, legs in process order,
initial legs first; ``parameters`` maps external UFO parameter names to values (defaults for those
not given; traced JAX values allowed, so ``jax.grad`` works w.r.t. them); everything returned is
batch-first and pure JAX.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

KERNEL_OUTPUTS = ("me2", "diagram_weights", "helicity_weights", "flow_weights")
"""Keys of :meth:`GeneratedProcess.evaluate`'s result: |M|^2 (...,), per-diagram channel weights
(..., n_diagrams), per-helicity weights (..., n_helicities) summing to |M|^2, and leading-colour
flow weights (..., n_helicities, n_flows). With a squared-order selection (``NP^2==1``) |M|^2 and the
helicity weights are the selected interference terms and can be negative (choose helicities in
proportion to |weight|); flow weights are never negative (docs/squared_orders.md)."""

CHANNEL_KEYS = ("line", "particle", "pdg", "mass", "width", "legs", "s_channel")
"""Keys of each propagator in :attr:`GeneratedProcess.channels` (``"diagrams"[i]["propagators"]``)."""

DECAY_KEYS = ("particle", "pdg", "mass", "width", "legs", "parent")
"""Keys of each entry of ``channels["decays"]``: the resonances the process string asks for, in the order
written -- each decaying particle of a decay chain (``legs``: the final-state legs of its products,
1-based; ``parent``: index of the decay it comes from, None for a decay of the production process)
and each required s-channel (``e+ e- > z > mu+ mu-``, with the extra key ``"required": True``; its
``legs`` None when the diagrams put it on different legs). Empty without either. The runtime uses it
for MadGraph's ``bwcutoff`` and writes the resonances into LHE files with status 2
(docs/decay_chains.md)."""


@runtime_checkable
class GeneratedProcess(Protocol):
    """One subprocess of a generated package."""

    process: str  # e.g. "g g > t t~"
    pdg_ids: tuple[int, ...]
    n_legs: int
    n_initial: int
    n_diagrams: int

    def default_parameters(self) -> dict[str, float]:
        """External parameters (UFO names) with the package's default values."""

    def complete_parameters(self, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``parameters``; bad names or (outside jit) values are errors."""

    def internal_parameters(self, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Masses, widths, internal parameters and couplings the process uses, by UFO name."""

    def masses(self, parameters: Mapping[str, Any] | None = None) -> Any:
        """External masses (n_legs,) in GeV."""

    def alpha_couplings(self, parameters: Mapping[str, Any] | None = None) -> tuple[float, float]:
        """(alpha_EW, alpha_s) for LHE events."""

    def matrix_element(self, momenta, parameters=None, check: bool = True) -> Any:
        """|M|^2 (...,), MadGraph's SMATRIX normalisation."""

    def evaluate(self, momenta, parameters=None, *, diagrams: bool = False, helicities: bool = False,
                 flows: bool = False, check: bool = True) -> dict[str, Any]:
        """The kernel: everything a phase-space point needs from one amplitude evaluation
        (keys: ``KERNEL_OUTPUTS``, the optional ones when asked)."""

    def select_helicity_and_colour(self, momenta, key_or_uniforms, parameters=None, check: bool = True):
        """Per event, a helicity configuration and a leading-colour flow, chosen in proportion to
        their contributions: (helicities (..., n_legs), colour (..., n_legs, 2))."""

    @property
    def channels(self) -> Mapping[str, Any]:
        """The channel table: ``{"legs": [...], "diagrams": [{"number", "propagators"}], "decays": [...]}``
        (``CHANNEL_KEYS``, ``DECAY_KEYS``)."""

    @property
    def helicities(self) -> Any:
        """Helicity combinations (n_helicities, n_legs)."""

    @property
    def colour_flows(self) -> Any:
        """Colour flows (n_flows, n_legs, 2) as LHE colour tags."""
