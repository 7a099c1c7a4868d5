"""Render a model's parameters and couplings as a straight-line JAX Python module.

The generated module defines ``EXTERNAL_DEFAULTS`` (every external parameter of the
restricted model, card order) and ``compute_parameters(external) -> dict``, which
computes, one assignment per line, just the internal parameters and couplings needed to
reach the requested names. It is pure ``jnp`` arithmetic, so it works on traced values
and is differentiable with ``jax.grad`` w.r.t. the external values.

Auto widths (``widths: auto``, docs/widths.md) are not inputs: they are left out of
``EXTERNAL_DEFAULTS`` and assigned from ``compute_widths`` (the generated ``widths.py``) after
everything the decays need and before anything that depends on them, so every later value and
|M|^2 see Γ(θ).

Real parameters use real arithmetic (MadGraph's Fortran does the same; UFO's Python
reference uses ``cmath``): e.g. a square root of a negative real gives nan, not a
complex number. Couplings are always returned complex.
"""

from __future__ import annotations

import keyword
from typing import Iterable, Mapping

import sympy

from madgen.codegen.printer import jax_code
from madgen.errors import ModelError, UnsupportedFeature
from madgen.model.types import ZERO, Coupling, Model, Parameter

_RESERVED = {"jnp", "external", "_as_complex", "_missing", "EXTERNAL_DEFAULTS", "EXTERNAL_KINDS",
             "compute_parameters", "alpha_couplings", "internal"}
_RESERVED |= {"AUTO_WIDTHS", "compute_widths", "partial_widths", "_widths"}  # auto widths


def _identifier(name: str) -> str:
    """A Python variable name for a parameter (MadGraph's ``mdl_`` prefix on clashes)."""
    if name in _RESERVED or keyword.iskeyword(name) or not name.isidentifier():
        safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
        return "mdl_" + safe
    return name


def _items_by_name(model: Model) -> dict[str, Parameter | Coupling]:
    items: dict[str, Parameter | Coupling] = {p.name: p for p in model.parameters}
    items.update({c.name: c for c in model.couplings})
    return items


def _dependencies(item: Parameter | Coupling) -> set[str]:
    if isinstance(item, Parameter) and item.external:
        return set()
    return {s.name for s in item.value.free_symbols}


def needed_closure(model: Model, needed: Iterable[str]) -> list[str]:
    """The requested names plus everything they depend on, in model order.

    ``ZERO`` is ignored; an unknown name raises ``ModelError``.
    """
    items = _items_by_name(model)
    requested = [n for n in dict.fromkeys(needed) if n != ZERO]
    unknown = [n for n in requested if n not in items]
    if unknown:
        raise ModelError(f"model {model.name} has no parameter or coupling named {unknown}; "
                         f"was it removed by the restriction {model.restriction}? "
                         f"Try the unrestricted model ({model.full_name}).")
    closure: set[str] = set()
    stack = list(requested)
    while stack:
        name = stack.pop()
        if name in closure:
            continue
        if name not in items:
            raise ModelError(f"model {model.name}: {name} is used but not defined")
        closure.add(name)
        stack.extend(_dependencies(items[name]) - closure)
    return [n for n in items if n in closure]


def external_kinds(model: Model) -> dict[str, str]:
    """'mass' or 'width' for the external parameters that are a particle's mass or width, else the
    UFO type ('real' or 'complex'); in card order. Majorana masses may be negative (SLHA spectra
    carry the sign of a neutralino mass there), so they are plain 'real'."""
    masses = {p.mass for p in model.particles if not p.majorana}
    widths = {p.width for p in model.particles}
    return {p.name: "mass" if p.name in masses else "width" if p.name in widths else str(p.type)
            for p in model.external_parameters}


def _comment(text: str) -> str:
    text = " ".join(str(text).split())
    return f"  # {text}" if text else ""


ALPHA_SOURCES = (("ee", "aEW"), ("G", "aS"))
"""Where alpha_EW and alpha_s come from, in order of preference: the electric charge ee and the
strong coupling G (alpha = g^2 / 4 pi, as MadGraph writes AQEDUP/AQCDUP), else aEW / aS."""


def alpha_sources(model: Model) -> tuple[str | None, str | None]:
    """The parameters giving alpha_EW and alpha_s for LHE events (None: the model has neither)."""
    names = {p.name for p in model.parameters}
    return tuple(next((n for n in pair if n in names), None) for pair in ALPHA_SOURCES)


def _alpha_function(sources: tuple[str | None, str | None]) -> list[str]:
    def alpha(name):
        if name is None:
            return "-1.0"
        if name in ("ee", "G"):
            return f"jnp.real(internal[{name!r}]) ** 2 / (4 * jnp.pi)"
        return f"jnp.real(internal[{name!r}])"

    return [
        "",
        "",
        "def alpha_couplings(internal: dict) -> tuple:",
        '    """(alpha_EW, alpha_s) from ``compute_parameters``\'s result, as MadGraph writes them in LHE',
        '    events (AQEDUP, AQCDUP); -1 where the model has no such coupling."""',
        f"    return ({alpha(sources[0])}, {alpha(sources[1])})",
    ]


def render_parameter_module(model: Model, needed: Iterable[str], auto_widths: Mapping[str, str] | None = None,
                            width_inputs: Iterable[str] = ()) -> str:
    """Python source of the parameter module for ``model`` (deterministic).

    ``auto_widths`` maps the width parameters computed from decays to their particles and
    ``width_inputs`` names what the generated ``compute_widths`` reads (docs/widths.md).
    """
    auto = dict(auto_widths or {})
    inputs = [n for n in dict.fromkeys(width_inputs) if n != ZERO and n not in auto]
    sources = alpha_sources(model)
    needed = [n for n in dict.fromkeys([*needed, *auto, *inputs, *(s for s in sources if s)]) if n != ZERO]
    names = needed_closure(model, needed)
    items = _items_by_name(model)
    late = _after_widths(model, names, auto, inputs)
    in_closure = set(names)
    rename = {n: _identifier(n) for n in items}
    symbol_map = {}
    for item in items.values():
        if rename[item.name] != item.name:
            for symbol in (sympy.Symbol(item.name), sympy.Symbol(item.name, real=True)):
                symbol_map[symbol] = sympy.Symbol(rename[item.name])

    def code(expr: sympy.Expr) -> str:
        return jax_code(expr.xreplace(symbol_map) if symbol_map else expr)

    restriction = model.restriction or "none"
    out = [
        f'"""Parameters and couplings of UFO model {model.name} (restriction: {restriction}).',
        "",
        f"Generated by madgen from {model.source}"
        + (f" (model sha256 {model.fingerprint[:16]})" if model.fingerprint else "")
        + "; do not edit.",
        '"""',
        "",
        "import jax.numpy as jnp",
        "",
        *_widths_import(auto),
        "EXTERNAL_DEFAULTS: dict[str, float] = {",
    ]
    for p in model.external_parameters:
        if p.name in auto:
            continue
        where = f"{p.lhablock} {' '.join(map(str, p.lhacode))}"
        out.append(f"    {p.name!r}: {float(p.value)!r},  # {where}")
    out += [
        "}",
        '"""Default values of the external parameters (the restricted model\'s card), card order."""',
        "",
        "EXTERNAL_KINDS: dict[str, str] = {",
    ]
    kinds = {name: kind for name, kind in external_kinds(model).items() if name not in auto}
    out += [f"    {name!r}: {kind!r}," for name, kind in kinds.items()]
    out += [
        "}",
        '"""What each external parameter is: \'mass\' and \'width\' (real, >= 0), \'real\' or \'complex\'."""',
        "",
        *_auto_widths_table(auto),
        "",
        "def _as_complex(x):",
        '    """Promote a real JAX value to complex of the same precision (couplings are complex)."""',
        "    return jnp.asarray(x) + 0j",
        "",
        "",
        "def compute_parameters(external: dict) -> dict:",
        '    """Needed internal parameters and couplings from the external parameter values.',
        "",
        "    ``external`` maps the names of ``EXTERNAL_DEFAULTS`` to floats or (traced) JAX",
        "    scalars/arrays; returns the requested masses, widths, parameters and couplings.",
        '    """',
    ]
    externals = [n for n in names if isinstance(items[n], Parameter) and items[n].external and n not in auto]
    if externals:
        out += [
            f"    _missing = [n for n in {externals!r} if n not in external]",
            "    if _missing:",
            '        raise KeyError(f"compute_parameters: external parameters {_missing} are missing; '
            'start from EXTERNAL_DEFAULTS")',
            "    # external parameters",
        ]
        out += [f"    {rename[n]} = jnp.asarray(external[{n!r}])" for n in externals]
    internals = [n for n in names if isinstance(items[n], Parameter) and not items[n].external and n not in late]
    if internals:
        out.append("    # internal parameters")
        out += [_internal_line(items[n], rename, code) for n in internals]
    couplings = [n for n in names if isinstance(items[n], Coupling) and n not in late]
    if couplings:
        out.append("    # couplings")
        out += [_coupling_line(items[n], rename, code) for n in couplings]
    if auto:
        out += _width_lines(auto, [n for n in names if n in set(inputs)], [items[n] for n in names if n in late],
                            rename, code)
    returned = [n for n in names if n in set(needed)]
    out.append("    return {")
    out += [f"        {n!r}: {rename[n]}," for n in returned]
    out += ["    }"]
    out += _alpha_function(sources) + [""]
    assert in_closure >= set(returned)
    return "\n".join(out)


def _internal_line(p: Parameter, rename, code) -> str:
    comment = _comment(p.texname if p.texname and p.texname != p.name else "")
    return f"    {rename[p.name]} = {code(p.value)}{comment}"


def _coupling_line(c: Coupling, rename, code) -> str:
    orders = ", ".join(f"{k}={v}" for k, v in c.orders)
    return f"    {rename[c.name]} = _as_complex({code(c.value)}){_comment(orders)}"


# --------------------------------------------------------------------------- auto widths


def dependents_of(model: Model, names: Iterable[str], sources: Iterable[str]) -> set[str]:
    """The names among ``names`` whose value depends, directly or not, on one of ``sources``."""
    items = _items_by_name(model)
    sources = set(sources)
    depends: dict[str, bool] = {}

    def visit(name: str) -> bool:
        if name not in depends:
            depends[name] = False
            item = items.get(name)
            deps = _dependencies(item) if item is not None else set()
            depends[name] = bool(deps & sources) or any(visit(d) for d in deps)
        return depends[name]

    return {n for n in names if n not in sources and visit(n)}


def _after_widths(model: Model, names, auto, inputs) -> set[str]:
    """Internal parameters and couplings that depend on an auto width: computed after the widths.
    The decays' own inputs cannot be among them (they are needed to compute the widths)."""
    late = dependents_of(model, names, auto)
    entangled = sorted(set(inputs) & late)
    if entangled:
        raise UnsupportedFeature(
            f"model {model.name}: the decays that give the auto widths {sorted(auto)} need {entangled}, which "
            "depend on those widths themselves (complex-mass scheme?); give these widths fixed values instead")
    return late


def _widths_import(auto) -> list[str]:
    return ["from .widths import compute_widths, partial_widths  # noqa: F401 (partial_widths: public)", ""] if auto else []


def _auto_widths_table(auto) -> list[str]:
    if not auto:
        return []
    return ["AUTO_WIDTHS: dict[str, str] = {", *[f"    {name!r}: {particle!r}," for name, particle in auto.items()], "}",
            '"""Width parameter -> particle: widths computed at tree level from the other parameters',
            '(widths.py), not inputs (they are not in EXTERNAL_DEFAULTS)."""', ""]


def _width_lines(auto, inputs, late, rename, code) -> list[str]:
    """The call of ``compute_widths`` and the parameters and couplings that depend on its result."""
    arguments = ", ".join(f"{n!r}: {rename[n]}" for n in inputs)
    out = ["    # widths computed from the model's decays (widths.py), replacing the card's values",
           f"    _widths = compute_widths({{{arguments}}})"]
    out += [f"    {rename[name]} = _widths[{name!r}]  # {particle}" for name, particle in auto.items()]
    internals = [p for p in late if isinstance(p, Parameter)]
    if internals:
        out.append("    # internal parameters that depend on the computed widths")
        out += [_internal_line(p, rename, code) for p in internals]
    couplings = [c for c in late if isinstance(c, Coupling)]
    if couplings:
        out.append("    # couplings that depend on the computed widths")
        out += [_coupling_line(c, rename, code) for c in couplings]
    return out
