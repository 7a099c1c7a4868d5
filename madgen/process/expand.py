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
from madgen.model.types import Model, Particle
from madgen.process.syntax import ProcessSpec


@dataclass(frozen=True)
class Subprocess:
    """One process with every label resolved to a particle name, legs in process order."""

    spec: ProcessSpec
    initial: tuple[str, ...]
    final: tuple[str, ...]

    @property
    def particles(self) -> tuple[str, ...]:
        return self.initial + self.final

    @property
    def text(self) -> str:
        return " ".join(self.initial) + " > " + " ".join(self.final)


def default_multiparticles(model: Model) -> dict[str, tuple[str, ...]]:
    """MadGraph's default labels, built from the model's particle content."""

    def massless(pdgs):
        found = []
        for pdg in pdgs:
            for particle in model.particles:
                if particle.pdg_code == pdg and particle.massless:
                    found.append(particle.name)
        return tuple(found)

    quarks = massless([2, 4, 1, 3, 5])
    antiquarks = massless([-2, -4, -1, -3, -5])
    gluon = massless([21])
    labels = {
        "p": gluon + quarks + antiquarks,
        "j": gluon + quarks + antiquarks,
        "l+": massless([-11, -13, -15]),
        "l-": massless([11, 13, 15]),
        "vl": massless([12, 14, 16]),
        "vl~": massless([-12, -14, -16]),
    }
    return {name: members for name, members in labels.items() if members}


def resolve_labels(model: Model, defines: Mapping[str, object] | None) -> dict[str, tuple[str, ...]]:
    """Default labels plus the card's ``multiparticles`` (a list or a space-separated string)."""
    labels = default_multiparticles(model)
    for name, members in (defines or {}).items():
        if isinstance(members, str):
            members = members.split()
        if not isinstance(members, (list, tuple)) or not members:
            raise ProcessError(f"multiparticle '{name}': expected a list of particle names, got {members!r}")
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
    that are permutations of an earlier one are dropped (MadGraph keeps one).
    Raises ``ProcessError`` if a label is unknown or nothing conserves charge and colour.
    """
    choices = [_members(model, token, labels, spec) for token in spec.initial + spec.final]
    for token in spec.excluded + spec.forbidden_s_channel:
        _members(model, token, labels, spec)
    n_initial = len(spec.initial)
    seen: set[tuple] = set()
    subprocesses: list[Subprocess] = []
    first_violation = None
    for combination in itertools.product(*choices):
        initial, final = combination[:n_initial], combination[n_initial:]
        key = (initial, tuple(sorted(final)))
        if key in seen:
            continue
        seen.add(key)
        violation = conservation_violation(model, initial, final)
        if violation:
            first_violation = first_violation or violation
            continue
        subprocesses.append(Subprocess(spec, tuple(initial), tuple(final)))
    if not subprocesses:
        raise ProcessError(f"process '{spec.text}': {first_violation}")
    return subprocesses


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
        if not _model_has_majorana(model):
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


def _members(model: Model, token: str, labels, spec: ProcessSpec) -> tuple[str, ...]:
    if token in labels:
        return labels[token]
    name = canonical_particle_name(model, token)
    if name is not None:
        return (name,)
    raise ProcessError(f"process '{spec.text}': unknown particle or label '{token}' in model "
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


def _model_has_majorana(model: Model) -> bool:
    return any(p.majorana for p in model.particles)


def _fmt(charge: float) -> str:
    return f"{charge:+.3g}"
