"""Helicity routines (:class:`~madgen.lorentz.routines.RoutineSpec`) printed as JAX source."""

from __future__ import annotations

import textwrap
from typing import Iterable

from madgen.codegen.emit import ROUTINE_DECORATOR
from madgen.codegen.printer import jax_code
from madgen.lorentz.routines import RoutineSpec

_SPIN_WORDS = {0: "amplitude, shape batch", 1: "scalar, a tuple of 1 component array",
               2: "spinor, a tuple of 4 component arrays", 3: "vector, a tuple of 4 component arrays (upper index)",
               5: "spin-2 tensor, a tuple of 16 component arrays (upper indices, T^{mu nu} at 4 mu + nu)"}


def render_routine(spec: RoutineSpec) -> str:
    """One ``def NAME(args):`` returning the amplitude, or the current as a tuple of component arrays,
    decorated ``@jax.jit``: inside a grid-layout kernel compiled with madgen's options on CPU each routine
    stays an XLA call of its own (``madgen.contract.GRID_KERNEL_COMPILER_OPTIONS``: faster and quicker to
    compile there); elsewhere XLA inlines it.

    Components stay separate arrays (no stacking): XLA then fuses each component's arithmetic
    without concatenations, which keeps the value and, above all, its reverse-mode gradient cheap.
    """
    doc = textwrap.fill(spec.doc or spec.name, width=84, subsequent_indent="    ")
    lines = [
        ROUTINE_DECORATOR,
        f"def {spec.name}({', '.join(spec.arguments)}):",
        f'    """{doc}',
        "",
        f"    Returns: {spec.returns or _SPIN_WORDS.get(spec.output_spin, str(spec.output_spin))}.",
        '    """',
    ]
    for name, expr in spec.statements:
        lines.append(f"    {name} = {jax_code(expr)}")
    if spec.output_spin == 0:
        (res,) = spec.result
        lines.append(f"    return {jax_code(res)}")
    else:
        comps = ", ".join(jax_code(e) for e in spec.result)
        lines.append(f"    return tuple(jnp.broadcast_arrays({comps}))")
    return "\n".join(lines) + "\n"


def render_routines(specs: Iterable[RoutineSpec]) -> str:
    """All routines, sorted by name, separated by two blank lines."""
    return "\n\n".join(render_routine(s) for s in sorted(specs, key=lambda s: s.name))
