"""MadGraph model restriction (``restrict_<name>.dat``) applied to a converted ``Model``.

Semantics follow MadGraph's ``RestrictModel.restrict_model``:

* external parameters get the card's value as their new default (entries missing from
  the card keep the UFO default, as older MadGraph versions did);
* every parameter whose value is exactly 0 is fixed to 0, and every parameter whose
  value is exactly 1 is fixed to 1 -- except masses and widths of particles, which MG
  never fixes to 1. "Every parameter" includes internal ones (after substitution,
  e.g. ``CKM1x1 = 1 - lamWS**2/2`` with ``lamWS = 0``), judged numerically like MG.
  Fixed parameters are substituted into all expressions; fixed externals leave the
  external list (they no longer appear in the param card); fixed internals stay in the
  list with their constant value;
* MadGraph's stand-ins 9.999999e-01 and 0.000001e-99 keep a parameter free (they are neither 0 nor 1)
  and become its default 1 and 0 after the restriction;
* external parameters of one block (DECAY excepted) with the same value, or opposite values, that is not
  0, 1 or a stand-in are merged (``detect_identical_parameters``): the first in the model's order stays
  an input, the others become internal parameters equal to it (or to minus it), so that they move
  together and leave the param card (a dependent mass or width stays there as a computed entry);
* masses/widths fixed to 0 become ``ZERO`` on their particles;
* couplings that vanish with the restricted defaults (exactly after substitution, or
  numerically ``|g| < 1e-13`` as MG, unless some coupling lies in ``[1e-13, 1e-10)``,
  in which case only exact zeros count) are removed, with the vertex terms using them;
  vertices left without terms are removed.

MadGraph additionally merges numerically identical couplings; madgen does not (it
changes names only, never values).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import sympy

from madgen.errors import ModelError
from madgen.model.evaluate import numeric_values
from madgen.model.param_card import ParamCard
from madgen.model.propagators import fix_propagator_parameters
from madgen.model.types import ZERO, Coupling, FixedEntry, Model, TiedEntry

__all__ = ["restrict_model", "card_values", "fixed_parameters", "numeric_values"]

KEPT_ONE, KEPT_ZERO = 9.999999e-1, 0.000001e-99
"""MadGraph's restriction-card values for a free parameter whose default is 1 or 0 (exactly 1 or 0 would fix it)."""

ZERO_COUPLING = 1e-13
"""|coupling| below which MadGraph treats a coupling as vanishing."""

_AMBIGUOUS_COUPLING = 1e-10


def card_values(model: Model, card: ParamCard) -> dict[str, float]:
    """External name -> value: from the card where present, else the model default."""
    values = {}
    for p in model.external_parameters:
        value = card.get(p.lhablock, p.lhacode)
        values[p.name] = float(p.value if value is None else value)
    return values


def _special_value(value: complex) -> int | None:
    """0 or 1 when ``value`` is exactly that (MadGraph's test), else None."""
    if value == 0:
        return 0
    if value == 1:
        return 1
    return None


def fixed_parameters(model: Model, values: Mapping[str, float]) -> dict[str, int]:
    """Parameters the restriction fixes (name -> 0 or 1), externals and internals."""
    protected = {p.mass for p in model.particles} | {p.width for p in model.particles}
    fixed: dict[str, int] = {}
    for p in model.external_parameters:
        special = _special_value(values[p.name])
        if special == 0 or (special == 1 and p.name not in protected):
            fixed[p.name] = special
    internals = list(model.internal_parameters)
    # iterate: fixing a parameter can make others exactly 0/1 (MG judges numerically)
    while True:
        subs = {model.parameter(n).symbol: sympy.Integer(v) for n, v in fixed.items()}
        current = [dataclasses.replace(p, value=p.value.xreplace(subs)) for p in internals]
        numbers = numeric_values(current, (), values)
        newly = {}
        for p in current:
            if p.name in fixed:
                continue
            special = _special_value(numbers[p.name])
            if special == 0 or (special == 1 and p.name not in protected):
                newly[p.name] = special
        if not newly:
            return fixed
        fixed.update(newly)


def identical_parameters(model: Model, values: Mapping[str, float],
                         fixed: Mapping[str, int]) -> list[list[tuple[str, int]]]:
    """Groups of free external parameters a restriction merges, as MadGraph's ``detect_identical_parameters``:
    one block (not DECAY), the same value up to sign, not 0, 1 or a stand-in; each group lists
    (name, sign relative to the first), the first in the model's order first."""
    groups: dict[tuple[str, float], list[tuple[str, int]]] = {}
    for p in model.external_parameters:
        value = values[p.name]
        block = (p.lhablock or "").upper()
        if p.name in fixed or value in (0, 1, KEPT_ZERO, KEPT_ONE) or block == "DECAY":
            continue
        if (block, -value) in groups:
            groups[(block, -value)].append((p.name, -1))
        else:
            groups.setdefault((block, value), []).append((p.name, 1))
    return [group for group in groups.values() if len(group) > 1]


def _default(value: float) -> float:
    """A free parameter's default: MadGraph's stand-ins for 1 and 0 read as 1 and 0."""
    return 1.0 if value == KEPT_ONE else 0.0 if value == KEPT_ZERO else value


def _vanishing_couplings(couplings: Sequence[Coupling], numbers: Mapping[str, complex]) -> set[str]:
    magnitudes = {c.name: abs(numbers[c.name]) for c in couplings}
    strict = any(ZERO_COUPLING <= m < _AMBIGUOUS_COUPLING for m in magnitudes.values())
    zero = set()
    for c in couplings:
        m = magnitudes[c.name]
        if c.value == 0 or m == 0 or (not strict and m < ZERO_COUPLING):
            zero.add(c.name)
    return zero


def _refuse_infinite_expressions(model: Model, items, fixed: Mapping[str, int], restriction: str) -> None:
    """A restriction that fixes a parameter some expression divides by (``MZ`` to 0 in ``MW``'s) would leave
    an infinite expression for the code printer: name it, its expression and what the restriction fixed."""
    infinite = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)
    for item in items:
        if item.value.has(*infinite):
            original = next((p for p in (*model.parameters, *model.couplings) if p.name == item.name), item)
            zeros = sorted(n for n, v in fixed.items() if v == 0)
            direct = [n for n in zeros if original.value.has(model.parameter(n).symbol)] or zeros
            raise ModelError(f"restriction {restriction} of model '{model.name}': with {', '.join(direct)} set to 0, "
                             f"{item.name} = {original.value} is infinite; the restriction cannot apply to this "
                             "model (keep those parameters non-zero in the restriction card)")


def restrict_model(model: Model, card: ParamCard, restriction: str, name: str | None = None) -> Model:
    """Apply a restriction card to an unrestricted model (see module docstring)."""
    values = card_values(model, card)
    fixed = fixed_parameters(model, values)
    subs = {model.parameter(n).symbol: sympy.Integer(v) for n, v in fixed.items()}

    merged = {name: (group[0][0], sign) for group in identical_parameters(model, values, fixed)
              for name, sign in group[1:]}
    externals = tuple(dataclasses.replace(p, value=_default(values[p.name]))
                      for p in model.external_parameters if p.name not in fixed and p.name not in merged)
    tied = tuple(dataclasses.replace(p, nature="internal", value=sign * model.parameter(first).symbol)
                 for p in model.external_parameters if p.name in merged for first, sign in [merged[p.name]])
    internals = tied + tuple(
        dataclasses.replace(p, value=sympy.Integer(fixed[p.name]) if p.name in fixed
                            else p.value.xreplace(subs))
        for p in model.internal_parameters
    )
    couplings = tuple(dataclasses.replace(c, value=c.value.xreplace(subs)) for c in model.couplings)
    _refuse_infinite_expressions(model, internals + couplings, fixed, restriction)
    numbers = numeric_values(internals, couplings, values)
    zero = _vanishing_couplings(couplings, numbers)
    couplings = tuple(c for c in couplings if c.name not in zero)

    vertices = []
    for v in model.vertices:
        terms = tuple(t for t in v.terms if t.coupling not in zero)
        if terms:
            vertices.append(dataclasses.replace(v, terms=terms))
    zero_params = {n for n, v in fixed.items() if v == 0}
    particles = tuple(
        dataclasses.replace(
            p,
            mass=ZERO if p.mass in zero_params else p.mass,
            width=ZERO if p.width in zero_params else p.width,
        )
        for p in model.particles
    )
    used = {t.lorentz for v in vertices for t in v.terms}
    fixed_values = {name: float(value) for name, value in fixed.items()}
    fixed_entries = tuple(FixedEntry(p.name, p.lhablock, tuple(p.lhacode), fixed_values[p.name])
                          for p in model.external_parameters if p.name in fixed)
    tied_entries = tuple(TiedEntry(p.name, p.lhablock, tuple(p.lhacode), *merged[p.name])
                         for p in model.external_parameters if p.name in merged)
    return dataclasses.replace(
        model,
        fixed_entries=fixed_entries,
        tied_entries=tied_entries,
        propagators=tuple(fix_propagator_parameters(p, fixed_values) for p in model.propagators),
        name=name or model.name,
        restriction=restriction,
        particles=particles,
        parameters=externals + internals,
        couplings=couplings,
        lorentz=tuple(lz for lz in model.lorentz if lz.name in used),
        vertices=tuple(vertices),
    )
