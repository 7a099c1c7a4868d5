"""Numerical values of a model's internal parameters and couplings (the model stage's own
evaluator; the code generator's printers are a later stage and are not used here).

Expressions are printed once as straight-line Python over NumPy scalars and executed with
every value a ``numpy.complex128``: complex arithmetic throughout, like MadGraph's
evaluation of UFO expressions with ``cmath`` (``sqrt(-1) == 1j``, ``log(-1) == i pi``).
Invalid operations give nan or inf rather than raising, so that a restriction can still
judge the other parameters.
"""

from __future__ import annotations

import functools
import warnings
from typing import Iterable, Mapping

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from madgen.errors import ModelError
from madgen.model.types import Coupling, Parameter


class _NumericPrinter(NumPyPrinter):
    """sympy -> Python source over ``np`` (NumPy), terms left in sympy's order (fast)."""

    def __init__(self):
        super().__init__({"order": "none", "fully_qualified_modules": True, "allow_unknown_functions": False})

    def _module_format(self, fqn, register=True):
        text = super()._module_format(fqn, register)
        return "np." + text[len("numpy."):] if text.startswith("numpy.") else text

    def _print_Rational(self, expr):
        return repr(float(expr.p) / float(expr.q)) if expr.q != 1 else f"{expr.p}.0"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_ImaginaryUnit(self, expr):
        return "1j"

    def _print_conjugate(self, expr):
        return f"np.conj({self._print(expr.args[0])})"

    def _print_re(self, expr):
        return f"np.real({self._print(expr.args[0])})"

    def _print_im(self, expr):
        return f"np.imag({self._print(expr.args[0])})"

    def _print_Abs(self, expr):
        return f"np.abs({self._print(expr.args[0])})"

    # an expression a restriction made infinite (1/MZ with MZ = 0) evaluates to nan, not a printer error;
    # the restriction stage then names it (madgen.model.restrict)
    def _print_ComplexInfinity(self, expr):
        return "np.nan"

    def _print_NaN(self, expr):
        return "np.nan"

    def _print_Infinity(self, expr):
        return "np.inf"

    def _print_NegativeInfinity(self, expr):
        return "(-np.inf)"


_PRINTER = _NumericPrinter()


@functools.lru_cache(maxsize=16384)
def numeric_code(expr: sympy.Expr) -> str:
    """``expr`` as a Python expression over ``np`` and the parameter names (memoised)."""
    return _PRINTER.doprint(expr)


def _assignments(items: Iterable[Parameter | Coupling]) -> str:
    lines = []
    for item in items:
        if isinstance(item, Parameter) and item.external:
            continue
        lines.append(f"{item.name} = np.complex128({numeric_code(item.value)})")
    return "\n".join(lines)


def numeric_values(
    parameters: Iterable[Parameter],
    couplings: Iterable[Coupling],
    external: Mapping[str, complex],
) -> dict[str, complex]:
    """Values of the internal ``parameters`` (in order), then ``couplings``, from ``external``.

    Returns every name (externals included) -> complex value; nan/inf where the arithmetic
    is invalid (a division by zero...). A name an expression needs but nothing defines
    raises ``ModelError``.
    """
    code = compile(_assignments(list(parameters) + list(couplings)), "<madgen model evaluation>", "exec")
    namespace: dict[str, object] = {name: np.complex128(value) for name, value in external.items()}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec(code, {"np": np, "__builtins__": {}}, namespace)  # noqa: S102 - our own printed code
        except NameError as exc:
            raise ModelError(f"cannot evaluate the model's parameters: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"cannot evaluate the model's parameters numerically: "
                             f"{type(exc).__name__}: {exc}") from None
    return {name: complex(np.asarray(value).item()) for name, value in namespace.items()}
