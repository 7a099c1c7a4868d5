"""Multiparticle labels and the expansion of a process into subprocesses.

MadGraph's default labels are defined from the model as MadGraph does: ``p`` and
``j`` hold the gluon and the massless quarks with |PDG| <= 5 and their
antiquarks, ``l+``/``l-`` the massless charged leptons, ``vl``/``vl~`` the
neutrinos. ``define`` entries of the card add or override labels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping

from madgen.errors import ProcessError
from madgen.model.types import ZERO, Model, Particle
from madgen.process.decays import (Decay, chain_text, constraints_text, final_polarisations, flatten,
                                   identical_particle_factor, number_legs, polarised_names)
from madgen.process.syntax import DecaySpec, ProcessSpec


@dataclass(frozen=True)
class Subprocess:
    """One process with every label resolved to a particle name, legs in process order.

    With a decay chain, ``final`` is the whole final state (each decayed particle replaced by its
    products in its place, MadGraph's leg order), ``core_final`` the production process's final
    state and ``decays`` the decays of its particles (``madgen.process.decays``).
    ``required_s_channels``: for each particle written between two '>', the particles it stands
    for (several for a label); every diagram has an s-channel propagator of one of each.
    ``core_polarisations``: the polarisation label of each particle of the production's final state
    (``core_final``, or ``final`` without decays; '' where none, empty when nothing is polarised)."""

    spec: ProcessSpec
    initial: tuple[str, ...]
    final: tuple[str, ...]
    core_final: tuple[str, ...] = ()
    decays: tuple[Decay, ...] = ()
    required_s_channels: tuple[tuple[str, ...], ...] = ()
    core_polarisations: tuple[str, ...] = ()

    @property
    def particles(self) -> tuple[str, ...]:
        return self.initial + self.final

    @property
    def polarisations(self) -> tuple[str, ...]:
        """The polarisation label of every external leg in process order ('' where none; empty when no
        particle of the process, decayed or not, is polarised)."""
        if not self.polarised:
            return ()
        return ("",) * len(self.initial) + final_polarisations(self.core_polarisations, self.core_final or self.final,
                                                                self.decays)

    @property
    def labelled_final(self) -> tuple[tuple[str, str], ...]:
        """(particle, polarisation label) of each final-state leg: what tells identical particles apart."""
        return tuple(zip(self.final, self.polarisations[len(self.initial):] or ("",) * len(self.final)))

    @property
    def polarised(self) -> bool:
        return bool(self.core_polarisations) or any(d.product_polarisations for d, _ in flatten(self.decays))

    @property
    def flat_text(self) -> str:
        """``initial > final`` with the whole final state (what a module name is made of)."""
        final = polarised_names(self.final, self.polarisations[len(self.initial):])
        return " ".join(self.initial) + " > " + " ".join(final)

    @property
    def text(self) -> str:
        """The process as MadGraph writes it: ``e+ e- > t t~, t > b w+``, ``e+ e- > z > mu+ mu-``, with its
        coupling orders, squared orders and '/', '$$', '$' lists as written (``e+ e- > z h NP<=1 NP^2==1``:
        |M|^2 is only those terms), each decay with its own."""
        text = self.flat_text
        if self.decays or self.required_s_channels:
            s_channels = tuple(names[0] if len(names) == 1 else token
                               for token, names in zip(self.spec.required_s_channels, self.required_s_channels))
            text = chain_text(self.initial, s_channels, self.core_final or self.final, self.decays,
                              self.core_polarisations)
        written = constraints_text(self.spec.orders, self.spec.squared_orders, self.spec.excluded,
                                   self.spec.forbidden_s_channel, self.spec.onshell_veto)
        if written:
            core, comma, rest = text.partition(",")
            text = f"{core} {written}{comma}{rest}"
        return text

    @property
    def identical_particle_factor(self) -> int:
        """The identical-particle denominator of |M|^2 (MadGraph's, decay chains included)."""
        return identical_particle_factor(self.core_final or self.final, self.decays, self.core_polarisations)


DEFAULT_LABELS = {
    "p": (21, 2, 4, 1, 3, -2, -4, -1, -3), "j": (21, 2, 4, 1, 3, -2, -4, -1, -3),
    "l+": (-11, -13), "l-": (11, 13), "vl": (12, 14, 16), "vl~": (-12, -14, -16),
}
"""MadGraph's default multiparticles (its input/multiparticles_default.txt), by PDG id: p = j = g u c d s and
their antiquarks, l+ = e+ mu+, l- = e- mu-, vl = ve vm vt, whatever the masses of the restricted model."""


def default_multiparticles(model: Model) -> dict[str, tuple[str, ...]]:
    """MadGraph's default labels (``DEFAULT_LABELS``) in the model's names; as MadGraph, p and j take the b and
    b~ where the restricted model's b is massless (the 5-flavour scheme: 'Pass the definition of 'j' and 'p'
    to 5 flavour scheme'), and a label with a particle the model lacks is not defined."""
    by_pdg = {particle.pdg_code: particle for particle in model.particles}
    labels = {}
    for label, pdgs in DEFAULT_LABELS.items():
        if all(pdg in by_pdg for pdg in pdgs):
            labels[label] = tuple(by_pdg[pdg].name for pdg in pdgs)
    bottom = by_pdg.get(5), by_pdg.get(-5)
    if all(b is not None and b.massless for b in bottom):
        for label in ("p", "j"):
            if label in labels:
                quarks = labels[label]
                labels[label] = quarks[:5] + (bottom[0].name,) + quarks[5:] + (bottom[1].name,)
    return labels


def resolve_labels(model: Model, defines: Mapping[str, object] | None) -> dict[str, tuple[str, ...]]:
    """Default labels plus the card's ``multiparticles`` (a list or a space-separated string)."""
    labels = default_multiparticles(model)
    for name, members in (defines or {}).items():
        if isinstance(members, str):
            members = members.split()
        if not isinstance(members, (list, tuple)) or not members:
            raise ProcessError(f"multiparticle '{name}': expected a list of particle names, got {members!r}")
        if canonical_particle_name(model, str(name)) is not None:
            raise ProcessError(f"multiparticle '{name}': the label is the name of a particle of model "
                               f"'{model.name}', so a process could not tell them apart; choose another label")
        resolved: list[str] = []
        for member in members:
            if member in labels:
                resolved.extend(labels[member])
            elif canonical_particle_name(model, str(member)) is not None:
                resolved.append(canonical_particle_name(model, str(member)))
            else:
                raise ProcessError(f"multiparticle '{name}': unknown particle '{member}' in model "
                                   f"'{model.name}'{_suggest(model, str(member))}")
        labels[str(name)] = tuple(dict.fromkeys(resolved))
    return labels


def expand_process(model: Model, spec: ProcessSpec, labels: Mapping[str, tuple[str, ...]]) -> list[Subprocess]:
    """All subprocesses of ``spec``: one per distinct assignment of particles to labels.

    Assignments that violate charge or colour conservation are dropped; final states
    that are permutations of an earlier one are dropped (MadGraph keeps one). Decays are
    attached to the final-state particles they name (``_attach_decays``).
    Raises ``ProcessError`` if a label is unknown or nothing conserves charge and colour.
    """
    choices = [_members(model, token, labels, spec) for token in spec.initial + spec.final]
    for token in spec.excluded + spec.forbidden_s_channel + spec.onshell_veto:
        _members(model, token, labels, spec)
    required = tuple(_members(model, token, labels, spec) for token in spec.required_s_channels)
    for names in required:
        for name in names:
            if not model.particle(name).propagating:
                raise ProcessError(f"process '{spec.text}': required s-channel '{name}' is not a propagating "
                                   f"particle of model '{model.name}'")
    n_initial = len(spec.initial)
    seen: set[tuple] = set()
    subprocesses: list[Subprocess] = []
    first_violation = None
    absent: dict[str, str] = {}  # decaying particle -> the final state that lacks it
    polarisations = spec.final_polarisations
    for combination in itertools.product(*choices):
        initial, core_final = tuple(combination[:n_initial]), tuple(combination[n_initial:])
        key = (initial, tuple(sorted(zip(core_final, polarisations or ("",) * len(core_final)))))
        if key in seen:
            continue
        seen.add(key)
        violation = conservation_violation(model, initial, core_final)
        if violation:
            first_violation = first_violation or violation
            continue
        if not spec.decays:
            subprocesses.append(_checked(model, Subprocess(spec, initial, core_final, required_s_channels=required,
                                                           core_polarisations=polarisations)))
            continue
        for decays in _attach_decays(model, spec, spec.decays, core_final, labels, absent, polarisations):
            final, numbered = number_legs(core_final, decays, n_initial)
            subprocesses.append(_checked(model, Subprocess(spec, initial, final, core_final, numbered, required,
                                                           polarisations)))
    if not subprocesses:
        if absent:
            missing = sorted(absent)[0]
            raise ProcessError(f"process '{spec.text}': the decay of '{missing}' names no particle of "
                               f"'{absent[missing]}'; decay a particle of the final state it follows")
        raise ProcessError(f"process '{spec.text}': {first_violation}")
    return _distinct(subprocesses)


def _checked(model: Model, sub: Subprocess) -> Subprocess:
    """``sub`` after checking that each polarised particle can have its polarisation
    (``madgen.process.polarisation``): a final-state one on its leg, a decayed one on its propagator."""
    from madgen.process.polarisation import check_decayed, check_external

    if not sub.polarised:
        return sub
    where = f"process '{sub.spec.text}'"
    alone = len(sub.initial) == 2 and len(sub.core_final or sub.final) == 1  # at rest in the partonic frame
    for name, label in zip(sub.particles, sub.polarisations):
        if label:
            check_external(model, name, label, where)
    if alone and sub.core_polarisations and sub.core_polarisations[0] in ("L", "R"):
        raise ProcessError(f"{where}: '{(sub.core_final or sub.final)[0]}{{{sub.core_polarisations[0]}}}' is produced "
                           "alone, at rest in the partonic centre-of-mass frame, where a helicity has no direction to "
                           "refer to ({L} and {R} would follow the sign of its vanishing momentum); {0} and {T} are "
                           "defined there (along the beams); or produce it with a recoiling particle ('p p > w+{L} j')")
    for decay, _ in flatten(sub.decays):
        if decay.polarisation:
            check_decayed(model, decay.particle, decay.polarisation, where)
    return sub


def _distinct(subprocesses: list[Subprocess]) -> list[Subprocess]:
    """Drop subprocesses equal to an earlier one up to the order of identical final-state particles
    and of identical decays (``p p > z z, z > l+ l-``: Z to e+e- and to mu+mu- is one subprocess)."""
    seen, kept = set(), []
    for sub in subprocesses:
        key = (sub.initial, tuple(sorted(sub.labelled_final)), tuple(sorted(d.signature for d in sub.decays)))
        if key not in seen:
            seen.add(key)
            kept.append(sub)
    return kept


def _attach_decays(model: Model, spec: ProcessSpec, decay_specs, products, labels, absent: dict,
                   polarisations: tuple[str, ...] = ()) -> list:
    """Every way to decay ``products`` (a final state, with the ``polarisations`` of its particles) by
    ``decay_specs``, each a tuple of ``Decay`` in the order written. A decay written once applies to every
    copy of its particle; written as many times as the particle appears, the decays apply to the copies
    in order (MadGraph)."""
    by_parent: dict[str, list[DecaySpec]] = {}
    for decay_spec in decay_specs:
        parent = _decaying_particle(model, spec, decay_spec, labels)
        by_parent.setdefault(parent, []).append(decay_spec)
    applications = []  # (spec, parent, position) in the order written
    for decay_spec in decay_specs:
        parent = _decaying_particle(model, spec, decay_spec, labels)
        positions = [i for i, name in enumerate(products) if name == parent]
        if not positions:
            absent[parent] = " ".join(products)
            return []
        written = by_parent[parent]
        if len(written) == 1:
            applications.extend((decay_spec, parent, position) for position in positions)
        elif len(written) == len(positions):
            applications.append((decay_spec, parent, positions[written.index(decay_spec)]))
        else:
            raise ProcessError(
                f"process '{spec.text}': {len(written)} decays of '{parent}' for {len(positions)} '{parent}' in "
                f"'{' '.join(products)}'; write one decay for all of them or one for each, in order")
    alternatives = [_decay_alternatives(model, spec, decay_spec, parent, position, labels, absent,
                                        polarisations[position] if polarisations else "")
                    for decay_spec, parent, position in applications]
    return [tuple(choice) for choice in itertools.product(*alternatives)]


def _decay_alternatives(model: Model, spec: ProcessSpec, decay_spec: DecaySpec, parent: str, position: int,
                        labels, absent: dict, polarisation: str = "") -> list[Decay]:
    """The decay ``decay_spec`` of the particle at ``position``, one ``Decay`` per assignment of its
    labels that conserves charge, colour and fermion number (products' decays attached)."""
    where = f"process '{spec.text}', decay '{decay_spec.text}'"
    particle = model.particle(parent)
    if particle.width == ZERO:
        raise ProcessError(f"{where}: '{parent}' is stable in model '{model.name}' (its width is ZERO), it has no "
                           "decay to chain; generate it as a final-state particle")
    choices = [_members(model, token, labels, spec, where) for token in decay_spec.products]
    excluded = resolve_tokens(model, spec, decay_spec.excluded, labels)
    forbidden = resolve_tokens(model, spec, decay_spec.forbidden_s_channel, labels)
    vetoed = resolve_tokens(model, spec, decay_spec.onshell_veto, labels)
    found, seen, first_violation = [], set(), None
    for combination in itertools.product(*choices):
        if tuple(sorted(combination)) in seen:
            continue
        seen.add(tuple(sorted(combination)))
        violation = conservation_violation(model, (parent,), combination)
        if violation:
            first_violation = first_violation or violation
            continue
        for nested in _attach_decays(model, spec, decay_spec.decays, combination, labels, absent,
                                     decay_spec.product_polarisations):
            found.append(Decay(decay_spec, parent, position, tuple(combination), nested, excluded, forbidden,
                               onshell_veto=vetoed, polarisation=polarisation,
                               product_polarisations=decay_spec.product_polarisations))
    if not found and first_violation:
        raise ProcessError(f"{where}: {first_violation}")
    return found


def _decaying_particle(model: Model, spec: ProcessSpec, decay_spec: DecaySpec, labels) -> str:
    where = f"process '{spec.text}', decay '{decay_spec.text}'"
    name = canonical_particle_name(model, decay_spec.particle)
    if name is None:
        if decay_spec.particle in labels:
            raise ProcessError(f"{where}: the decaying particle must be a particle, not the label "
                               f"'{decay_spec.particle}'; write one decay per particle")
        raise ProcessError(f"{where}: unknown particle '{decay_spec.particle}' in model "
                           f"'{model.name}'{_suggest(model, decay_spec.particle)}")
    return name


def conservation_violation(model: Model, initial, final) -> str | None:
    """Why ``initial > final`` cannot happen at tree level (charge, colour triality, fermion number), or None."""
    incoming = [model.particle(name) for name in initial]
    outgoing = [model.particle(name) for name in final]
    charge_in = sum(p.charge for p in incoming)
    charge_out = sum(p.charge for p in outgoing)
    if abs(charge_in - charge_out) > 1e-6:
        return f"electric charge is not conserved ({_fmt(charge_in)} in, {_fmt(charge_out)} out)"
    triality = sum(_triality(p) for p in incoming) - sum(_triality(p) for p in outgoing)
    if triality % 3:
        return "colour cannot be conserved (the triplets and antitriplets do not balance)"
    n_fermions = sum(1 for p in incoming + outgoing if p.spin.value % 2 == 0)
    if n_fermions % 2:
        return "fermion number cannot be conserved (odd number of fermions)"
    dirac_in = sum(_fermion_number(p) for p in incoming)
    dirac_out = sum(_fermion_number(p) for p in outgoing)
    if dirac_in != dirac_out and not any(p.majorana for p in incoming + outgoing):
        if not model_violates_fermion_number(model):
            return "fermion number is not conserved"
    return None


def resolve_tokens(model: Model, spec: ProcessSpec, tokens, labels) -> tuple[str, ...]:
    """Particle names for ``tokens`` (labels expanded), e.g. for ``/`` and ``$`` lists."""
    names: list[str] = []
    for token in tokens:
        names.extend(_members(model, token, labels, spec))
    return tuple(dict.fromkeys(names))


def canonical_particle_name(model: Model, token: str) -> str | None:
    """The model's name for ``token``; like MadGraph, names match case-insensitively
    (``w+`` is the SM UFO's ``W+``) when that is unambiguous."""
    if model.has_particle(token):
        return token
    matches = [p.name for p in model.particles if p.name.lower() == token.lower()]
    return matches[0] if len(matches) == 1 else None


def _members(model: Model, token: str, labels, spec: ProcessSpec, where: str = "") -> tuple[str, ...]:
    if token in labels:
        return labels[token]
    name = canonical_particle_name(model, token)
    if name is not None:
        return (name,)
    raise ProcessError(f"{where or 'process ' + repr(spec.text)}: unknown particle or label '{token}' in model "
                       f"'{model.name}'{_suggest(model, token)}")


def _suggest(model: Model, token: str) -> str:
    import difflib

    names = [p.name for p in model.particles] + ["p", "j", "l+", "l-", "vl", "vl~"]
    close = difflib.get_close_matches(token, names, n=3)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _triality(particle: Particle) -> int:
    return {3: 1, -3: -1, 6: 2, -6: -2}.get(particle.color, 0)


def _fermion_number(particle: Particle) -> int:
    if particle.spin.value % 2 or particle.majorana:
        return 0
    return 1 if particle.pdg_code > 0 else -1


def model_violates_fermion_number(model: Model) -> bool:
    """Whether the model's interactions can change the number of fermions minus antifermions, as MadGraph's
    ``check_majoranas`` decides: it has a Majorana fermion, or a vertex joins two fermions of the same kind
    (both particles or both antiparticles in one pair of its fermion slots, e.g. a diquark's ``u u S``)."""
    if any(p.majorana for p in model.particles):
        return True
    for vertex in model.vertices:
        numbers = [_fermion_number(model.particle(name)) for name in vertex.particles
                   if model.particle(name).spin.value % 2 == 0]
        if any(a == b != 0 for a, b in zip(numbers[0::2], numbers[1::2])):
            return True
    return False


def _fmt(charge: float) -> str:
    return f"{charge:+.3g}"
