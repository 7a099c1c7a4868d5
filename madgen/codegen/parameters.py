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

_RESERVED = {"jnp", "external", "_as_complex", "_missing", "EXTERNAL_DEFAULTS", "compute_parameters",
             "AUTO_WIDTHS", "compute_widths", "partial_widths", "_widths"}


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
                         f"Try the unrestricted model ({model.name.split('-')[0]}-full).")
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


def _comment(text: str) -> str:
    text = " ".join(str(text).split())
    return f"  # {text}" if text else ""


def dependents_of(model: Model, names: Iterable[str], sources: Iterable[str]) -> set[str]:
    """The names among ``names`` whose value depends, directly or not, on one of ``sources``."""
    items = _items_by_name(model)
    sources = set(sources)
    depends: dict[str, bool] = {}

    def visit(name: str) -> bool:
        if name not in depends:
            depends[name] = False  # no cycles in a valid model; guards against one anyway
            item = items.get(name)
            deps = _dependencies(item) if item is not None else set()
            depends[name] = bool(deps & sources) or any(visit(d) for d in deps)
        return depends[name]

    return {n for n in names if n not in sources and visit(n)}


def render_parameter_module(model: Model, needed: Iterable[str], auto_widths: Mapping[str, str] | None = None,
                            width_inputs: Iterable[str] = ()) -> str:
    """Python source of the parameter module for ``model`` (deterministic).

    ``auto_widths`` maps width parameters computed from the decays to their particles;
    ``width_inputs`` are the values the generated ``compute_widths`` needs (masses, couplings).
    """
    auto = dict(auto_widths or {})
    inputs = [n for n in dict.fromkeys(width_inputs) if n != ZERO and n not in auto]
    needed = [n for n in dict.fromkeys(list(needed) + list(auto) + inputs) if n != ZERO]
    names = needed_closure(model, needed)
    items = _items_by_name(model)
    late = dependents_of(model, names, auto)  # computed after the widths
    entangled = sorted(set(inputs) & late)
    if entangled:
        raise UnsupportedFeature(
            f"model {model.name}: the decays that give the auto widths {sorted(auto)} need {entangled}, which "
            "depend on those widths themselves (complex-mass scheme?); give these widths fixed values instead")
    in_closure = set(names)
    rename = {n: _identifier(n) for n in items}
    symbol_map = {}
    for item in items.values():
        if rename[item.name] != item.name:
            for symbol in (sympy.Symbol(item.name), sympy.Symbol(item.name, real=True)):
                symbol_map[symbol] = sympy.Symbol(rename[item.name])

    def code(expr: sympy.Expr) -> str:
        return jax_code(expr.xreplace(symbol_map) if symbol_map else expr)

    def assignments(selected: list[str], note: str = "") -> list[str]:
        lines = []
        internals = [n for n in selected if isinstance(items[n], Parameter)]
        if internals:
            lines.append("    # internal parameters" + note)
            for n in internals:
                p = items[n]
                comment = _comment(p.texname if p.texname and p.texname != p.name else "")
                lines.append(f"    {rename[n]} = {code(p.value)}{comment}")
        couplings = [n for n in selected if isinstance(items[n], Coupling)]
        if couplings:
            lines.append("    # couplings" + note)
            for n in couplings:
                c = items[n]
                orders = ", ".join(f"{k}={v}" for k, v in c.orders)
                lines.append(f"    {rename[n]} = _as_complex({code(c.value)}){_comment(orders)}")
        return lines

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
    ]
    if auto:
        out += ["from .widths import compute_widths, partial_widths  # noqa: F401 (partial_widths: public)", ""]
    out += ["EXTERNAL_DEFAULTS: dict[str, float] = {"]
    for p in model.external_parameters:
        if p.name in auto:
            continue
        where = f"{p.lhablock} {' '.join(map(str, p.lhacode))}"
        out.append(f"    {p.name!r}: {float(p.value)!r},  # {where}")
    out += [
        "}",
        '"""Default values of the external parameters (the restricted model\'s card), card order."""',
        "",
    ]
    if auto:
        out += [
            "AUTO_WIDTHS: dict[str, str] = {",
            *[f"    {name!r}: {particle!r}," for name, particle in auto.items()],
            "}",
            '"""Width parameter -> particle: widths computed at tree level from the other parameters',
            '(widths.py), not inputs (they are not in EXTERNAL_DEFAULTS)."""',
            "",
        ]
    out += [
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
    derived = [n for n in names if not (isinstance(items[n], Parameter) and items[n].external)]
    out += assignments([n for n in derived if n not in late])
    if auto:
        arguments = ", ".join(f"{n!r}: {rename[n]}" for n in names if n in set(inputs))
        out.append("    # widths computed from the model's decays (widths.py), replacing the card's values")
        out.append(f"    _widths = compute_widths({{{arguments}}})")
        out += [f"    {rename[n]} = _widths[{n!r}]  # {auto[n]}" for n in names if n in auto]
        out += assignments([n for n in derived if n in late], " that depend on the computed widths")
    returned = [n for n in names if n in set(needed)]
    out.append("    return {")
    out += [f"        {n!r}: {rename[n]}," for n in returned]
    out += ["    }", ""]
    assert in_closure >= set(returned)
    return "\n".join(out)
