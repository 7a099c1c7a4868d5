"""UFO pieces beyond particles, vertices and couplings: custom propagators and form factors.

Custom propagators (``propagators.py``) are attached to particles by ``particle.propagator``,
a ``{gauge: Propagator}`` dict in UFO (0: unitary, 1: Feynman gauge; madgen works in unitary
gauge, as MadGraph by default) or a single ``Propagator``. MadGraph reads the attribute from
the particle of each pair it keeps (UFO's ``anti()`` does not copy it), so a particle and its
antiparticle share the propagator. The expression strings stay strings here; the Lorentz stage
evaluates them (``madgen.lorentz.propagators``).

Form factors (``form_factors.py``, momentum-dependent couplings) are not supported: a model
whose vertices use one is refused with ``UnsupportedFeature`` naming it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterable, Mapping

from madgen.errors import ModelError, UnsupportedFeature
from madgen.model.types import Propagator

PROPAGATOR_VOCABULARY = frozenset({
    "P", "Mass", "Width", "Metric", "Gamma", "Gamma5", "Identity", "IdentityL", "ProjM", "ProjP",
    "Sigma", "C", "Epsilon", "complex", "cmath", "math", "sqrt", "id",
})
"""Names a propagator string may use besides model parameters (see ``madgen.lorentz``)."""


def _gauge_choice(value):
    """The unitary-gauge entry of UFO's ``{0: P, 1: P}``, or the value itself."""
    if isinstance(value, dict):
        if 0 in value:
            return value[0]
        return next(iter(value.values()), None) if value else None
    return value


def particle_propagators(ufo_particles) -> dict[str, object]:
    """particle name -> UFO Propagator object, for both members of each pair that has one."""
    chosen: dict[str, object] = {}
    for p in ufo_particles:
        propagator = _gauge_choice(getattr(p, "propagator", None))
        if propagator is None or propagator == "":
            continue
        chosen[str(p.name)] = propagator
    for p in ufo_particles:  # antiparticles made by anti() lose the attribute: share the partner's
        if str(p.name) not in chosen and str(p.antiname) in chosen:
            chosen[str(p.name)] = chosen[str(p.antiname)]
    return chosen


def _names_in(text: str, what: str, where: str) -> set[str]:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ModelError(f"{where}: cannot parse {what} = {text!r}: {exc.msg}; fix the model file") from None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def convert_propagator(ufo_propagator, parameter_names: Iterable[str], where: str) -> Propagator:
    """A UFO Propagator object as a frozen ``Propagator`` (strings kept, parameters found)."""
    name = str(getattr(ufo_propagator, "name", ufo_propagator))
    numerator = getattr(ufo_propagator, "numerator", None)
    denominator = getattr(ufo_propagator, "denominator", None)
    if not isinstance(numerator, str) or not (denominator is None or isinstance(denominator, str)):
        raise ModelError(f"{where}: propagator {name} needs string numerator and denominator, got "
                         f"{numerator!r} / {denominator!r}")
    if not name.isidentifier():
        raise ModelError(f"{where}: propagator name {name!r} is not an identifier")
    known = set(parameter_names)
    used = _names_in(numerator, f"propagator {name} numerator", where)
    if denominator:
        used |= _names_in(denominator, f"propagator {name} denominator", where)
    unknown = sorted(used - PROPAGATOR_VOCABULARY - known)
    if unknown:
        raise ModelError(f"{where}: propagator {name} uses {unknown}, which are neither model parameters "
                         f"nor propagator objects ({', '.join(sorted(PROPAGATOR_VOCABULARY))})")
    parameters = tuple(sorted(used & known - PROPAGATOR_VOCABULARY))
    return Propagator(name, numerator, denominator or None, parameters)


def convert_propagators(module, kept: set[str], parameter_names, directory: Path
                        ) -> tuple[dict[str, str], tuple[Propagator, ...]]:
    """(particle name -> propagator name, the propagators used) for the kept particles."""
    where = str(directory / "propagators.py")
    declared = {str(p.name): p for p in getattr(module, "all_propagators", None) or []}
    by_particle = {n: p for n, p in particle_propagators(module.all_particles).items() if n in kept}
    for particle, value in by_particle.items():
        if isinstance(value, str):
            if value not in declared:
                raise ModelError(f"{where}: particle {particle} uses propagator {value!r}, which "
                                 f"all_propagators does not define")
            by_particle[particle] = declared[value]
    propagators: dict[str, Propagator] = {}
    names: dict[str, str] = {}
    for particle, ufo_propagator in by_particle.items():
        converted = convert_propagator(ufo_propagator, parameter_names, where)
        previous = propagators.setdefault(converted.name, converted)
        if previous != converted:
            raise ModelError(f"{where}: two different propagators are called {converted.name}")
        names[particle] = converted.name
    return names, tuple(propagators[n] for n in sorted(propagators))


def fix_propagator_parameters(propagator: Propagator, fixed: Mapping[str, float]) -> Propagator:
    """``propagator`` with the parameters a restriction fixed moved to ``fixed`` (their values)."""
    moved = tuple((n, float(fixed[n])) for n in propagator.parameters if n in fixed)
    if not moved:
        return propagator
    kept = tuple(n for n in propagator.parameters if n not in fixed)
    return Propagator(propagator.name, propagator.numerator, propagator.denominator, kept,
                      tuple(sorted(propagator.fixed + moved)))


def check_form_factors(module, vertices, couplings, directory: Path) -> None:
    """Refuse a model whose kept vertices use a form factor (``UnsupportedFeature``)."""
    form_factors = {str(getattr(f, "name", f)) for f in getattr(module, "all_form_factors", None) or []}
    if not form_factors:
        return
    where = directory / "form_factors.py"
    for v in vertices:
        for lorentz in v.lorentz:
            used = {str(getattr(f, "name", f)) for f in getattr(lorentz, "formfactors", None) or []}
            used |= {n for n in form_factors if n in _identifiers(str(lorentz.structure))}
            if used & form_factors:
                raise UnsupportedFeature(
                    f"{directory / 'lorentz.py'}: Lorentz structure {lorentz.name} of vertex {v.name} uses the "
                    f"form factor(s) {sorted(used & form_factors)} of {where}; madgen does not support "
                    f"form factors (momentum-dependent couplings). Use a model without them.")
    for c in couplings:
        used = {n for n in form_factors if n in _identifiers(str(c.value))}
        if used:
            raise UnsupportedFeature(
                f"{directory / 'couplings.py'}: coupling {c.name} uses the form factor(s) {sorted(used)} of "
                f"{where}; madgen does not support form factors. Use a model without them.")


def _identifiers(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", text))
