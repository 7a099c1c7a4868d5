"""Decay chains of a subprocess, labels resolved: the tree of decays, the final state it gives
and MadGraph's identical-particle factor.

MadGraph's conventions (``Process.get_legs_with_decays``, ``HelasMatrixElement.
identical_decay_chain_factor``):

* **leg order**: the products of a decay replace the decaying particle in its place, in the
  order written, recursively: ``e+ e- > t t~, t > b w+`` has legs ``e+ e- b w+ t~``;
* **identical particles**: a decay written once for a particle that appears several times
  applies to each; of the identical final-state particles only one assignment of the legs to
  the decays is kept (no interference between pairings), and the identical-particle factor is
  the product of ``n!`` over the undecayed identical particles of each (sub)process, ``k!`` over
  each group of ``k`` identical decay chains, and the factors of the decays themselves. So
  ``p p > z z, z > e+ e-`` divides by 2 (two identical chains), not by the 2!·2! of its final
  state, and integrates to σ(ZZ)·BR², as the narrow-width approximation says.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from madgen.process.syntax import DecaySpec


@dataclass(frozen=True)
class Decay:
    """One decay ``particle > products`` of a subprocess's chain, labels resolved.

    ``position`` is the index of the decaying particle among its parent's products (or the core
    process's final state); ``decays`` are the decays of its products, in the order written;
    ``legs`` are the 1-based numbers of the final-state legs its products end up in;
    ``excluded``/``forbidden_s_channel``/``onshell_veto`` the resolved ``/``, ``$$`` and ``$`` lists of the
    decay."""

    spec: DecaySpec
    particle: str
    position: int
    products: tuple[str, ...]
    decays: tuple["Decay", ...] = ()
    excluded: tuple[str, ...] = ()
    forbidden_s_channel: tuple[str, ...] = ()
    legs: tuple[int, ...] = ()
    onshell_veto: tuple[str, ...] = ()
    polarisation: str = ""  # of the decaying particle, as its parent wrote it ('0' for 'w+{0}')
    product_polarisations: tuple[str, ...] = ()  # per product, '' where none (empty: none)

    @property
    def signature(self) -> tuple:
        """What makes two decay chains identical (MadGraph's ``check_equal_decay_processes``)."""
        return (self.particle, self.polarisation, self.products, self.product_polarisations,
                tuple(sorted(d.signature for d in self.decays)))

    def text(self) -> str:
        """``t > b w+``, or ``(t > b w+, w+ > e+ ve)`` with the decays of its products."""
        own = f"{self.particle} > {' '.join(polarised_names(self.products, self.product_polarisations))}"
        written = constraints_text(self.spec.orders, (), self.spec.excluded, self.spec.forbidden_s_channel,
                                   self.spec.onshell_veto)
        own += f" {written}" if written else ""
        if not self.decays:
            return own
        return "(" + ", ".join([own] + [d.text() for d in self.decays]) + ")"


def number_legs(core_final: tuple[str, ...], decays: tuple[Decay, ...], n_initial: int):
    """The final state with every decayed particle replaced by its products in its place, and the
    decays with their ``legs`` filled in: ``(final names, decays)``."""
    final: list[str] = []

    def expand(particles, children):
        by_position = {d.position: d for d in children}
        numbered = {}
        for position, name in enumerate(particles):
            if position in by_position:
                decay = by_position[position]
                first = n_initial + len(final) + 1
                nested = expand(decay.products, decay.decays)
                legs = tuple(range(first, n_initial + len(final) + 1))
                numbered[position] = replace(decay, decays=tuple(nested[d.position] for d in decay.decays), legs=legs)
            else:
                final.append(name)
        return numbered

    top = expand(core_final, decays)
    return tuple(final), tuple(top[d.position] for d in decays)


def final_polarisations(core_polarisations: tuple[str, ...], core_final: tuple[str, ...],
                        decays: tuple[Decay, ...]) -> tuple[str, ...]:
    """The polarisation label of every final-state leg (as ``number_legs`` orders them; '' where none),
    from the production's labels and each decay's ``product_polarisations``."""
    labels: list[str] = []

    def expand(particles, polarisations, children):
        by_position = {d.position: d for d in children}
        for position in range(len(particles)):
            if position in by_position:
                decay = by_position[position]
                expand(decay.products, decay.product_polarisations, decay.decays)
            else:
                labels.append(polarisations[position] if polarisations else "")

    expand(core_final, core_polarisations, decays)
    return tuple(labels)


def constraints_text(orders, squared_orders, excluded=(), forbidden_s_channel=(), onshell_veto=()) -> str:
    """What follows the particles of a process or decay as MadGraph writes it: ``QCD<=2 NP^2==1 / h $$ z``."""
    words = [str(o) for o in orders] + [o.squared_str() for o in squared_orders]
    for mark, names in (("/", excluded), ("$$", forbidden_s_channel), ("$", onshell_veto)):
        if names:
            words += [mark, *names]
    return " ".join(words)


def polarised_names(names, polarisations) -> list[str]:
    """``names`` with their polarisation labels written after them (``w+{0}``)."""
    if not polarisations:
        return list(names)
    return [name + (f"{{{label}}}" if label else "") for name, label in zip(names, polarisations)]


def flatten(decays: tuple[Decay, ...]) -> list[tuple[Decay, int | None]]:
    """Every decay of the chain in the order written (a decay before the decays of its products),
    each with the index of its parent decay in this list (None for a decay of the core process)."""
    found: list[tuple[Decay, int | None]] = []

    def walk(children, parent):
        for decay in children:
            found.append((decay, parent))
            walk(decay.decays, len(found) - 1)

    walk(decays, None)
    return found


def identical_particle_factor(products: tuple[str, ...], decays: tuple[Decay, ...],
                              polarisations: tuple[str, ...] = ()) -> int:
    """MadGraph's denominator for identical particles of a (sub)process with decays (module docstring);
    particles of different polarisations (``polarisations``, per product) are not identical."""
    decayed = {d.position for d in decays}
    labels = polarisations or ("",) * len(products)
    undecayed = Counter((name, labels[position]) for position, name in enumerate(products) if position not in decayed)
    factor = math.prod(math.factorial(count) for count in undecayed.values())
    for count in Counter(d.signature for d in decays).values():
        factor *= math.factorial(count)
    for decay in decays:
        factor *= identical_particle_factor(decay.products, decay.decays, decay.product_polarisations)
    return factor


def chain_text(initial, s_channels, core_final, decays: tuple[Decay, ...], polarisations: tuple[str, ...] = ()) -> str:
    """MadGraph's spelling of the whole process: ``e+ e- > t t~, t > b w+`` (``w+{0}`` with the production's
    ``polarisations``, per particle of ``core_final``)."""
    text = " ".join(initial) + " > "
    if s_channels:
        text += " ".join(s_channels) + " > "
    text += " ".join(polarised_names(core_final, polarisations))
    return ", ".join([text] + [d.text() for d in _merged(decays)])


def _merged(decays: tuple[Decay, ...]) -> list[Decay]:
    """One entry per distinct decay written once and applied to several identical particles."""
    seen, kept = set(), []
    for decay in decays:
        if decay.signature not in seen:
            seen.add(decay.signature)
            kept.append(decay)
    return kept
