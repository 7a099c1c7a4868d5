"""The one place that spells JAX: sympy expressions printed as ``jnp`` code."""

from __future__ import annotations

import sympy
from sympy.printing.numpy import JaxPrinter


class MadgenJaxPrinter(JaxPrinter):
    """Prints sympy expressions as JAX source using the ``jnp`` alias.

    Rationals print as exact float literals, the imaginary unit as ``1j``;
    ``conjugate``/``re``/``im``/``Abs`` map to their ``jnp`` versions.
    """

    _module = "jnp"

    def __init__(self, settings=None):
        super().__init__(settings)
        # route every jax.numpy.* name through the short alias ``jnp``
        self._module = "jnp"

    def _module_format(self, fqn, register=True):
        if fqn.startswith("jax.numpy."):
            return "jnp." + fqn[len("jax.numpy."):]
        return super()._module_format(fqn, register)

    def _print_Rational(self, expr):
        return repr(float(expr.p) / float(expr.q)) if expr.q != 1 else f"{expr.p}.0"

    def _print_Integer(self, expr):
        return f"{int(expr)}"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_conjugate(self, expr):
        return f"jnp.conj({self._print(expr.args[0])})"

    def _print_re(self, expr):
        return f"jnp.real({self._print(expr.args[0])})"

    def _print_im(self, expr):
        return f"jnp.imag({self._print(expr.args[0])})"

    def _print_Abs(self, expr):
        return f"jnp.abs({self._print(expr.args[0])})"

    def _print_ImaginaryUnit(self, expr):
        return "1j"


def jax_code(expr: sympy.Expr) -> str:
    """Print one sympy expression as a JAX (``jnp``) Python expression."""
    return MadgenJaxPrinter().doprint(expr)
