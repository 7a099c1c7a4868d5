"""UFO expression strings (``'2*cmath.sqrt(aS)*cmath.sqrt(cmath.pi)'``) parsed into sympy.

UFO writes parameter and coupling values as Python source evaluated by MadGraph with
``cmath`` and the model's ``function_library`` in scope. We parse the same text with
sympy's parser into exact expressions: numeric literals become exact rationals
(``2.`` -> 2, ``1.16639e-5`` -> 116639/10**10), ``complex(a, b)`` becomes ``a + b*I``,
``cmath`` functions become sympy functions, and the usual UFO ``function_library``
functions become sympy expressions the JAX printer (``madgen.codegen.printer``) can
emit. Unknown names are errors (never silently new symbols).
"""

from __future__ import annotations

import re
import types
from typing import Callable, Iterable, Mapping

import sympy
from sympy.parsing.sympy_parser import auto_number, parse_expr, rationalize

from madgen.errors import ModelError

_TRANSFORMS = (auto_number, rationalize)

_GLOBALS = {
    "__builtins__": {},
    "Integer": sympy.Integer,
    "Float": sympy.Float,
    "Rational": sympy.Rational,
}


def _complex(re_part=0, im_part=0):
    return sympy.sympify(re_part) + sympy.I * sympy.sympify(im_part)


def _piecewise_if_zero(condition, if_zero, otherwise) -> sympy.Expr:
    """``if_zero if condition == 0 else otherwise`` (UFO ``cond``)."""
    return sympy.Piecewise((if_zero, sympy.Eq(condition, 0)), (otherwise, True))


def _reglog(z) -> sympy.Expr:
    """UFO ``reglog``: ``0 if z == 0 else log(z)``."""
    return sympy.Piecewise((0, sympy.Eq(z, 0)), (sympy.log(z), True))


def _reglog_shifted(z, sign: int) -> sympy.Expr:
    """UFO ``reglogp`` (sign=+1) / ``reglogm`` (sign=-1), MadGraph's definitions."""
    zero = sympy.And(sympy.Eq(sympy.re(z), 0), sympy.Eq(sympy.im(z), 0))
    im_cut = sympy.im(z) < 0 if sign > 0 else sympy.im(z) > 0
    return sympy.Piecewise(
        (0, zero),
        (sympy.log(z) + sign * 2 * sympy.pi * sympy.I, sympy.And(sympy.re(z) < 0, im_cut)),
        (sympy.log(z), True),
    )


def _arg(z) -> sympy.Expr:
    """UFO ``arg``: the phase of z, 0 at z == 0."""
    return sympy.Piecewise((0, sympy.Eq(sympy.Abs(z), 0)), (sympy.atan2(sympy.im(z), sympy.re(z)), True))


def _theta_function(x, y, z) -> sympy.Expr:
    """UFO ``theta_function``: ``y if x else z``."""
    return sympy.Piecewise((z, sympy.Eq(x, 0)), (y, True))


def _recms(cms, z) -> sympy.Expr:
    """UFO ``recms``: ``z`` in the complex-mass scheme, ``re(z)`` otherwise."""
    return sympy.Piecewise((sympy.re(z), sympy.Eq(cms, 0)), (z, True))


_CMATH_FUNCTIONS: dict[str, object] = {
    "sqrt": sympy.sqrt,
    "exp": sympy.exp,
    "log": sympy.log,
    "log10": lambda z: sympy.log(z) / sympy.log(10),
    "cos": sympy.cos,
    "sin": sympy.sin,
    "tan": sympy.tan,
    "acos": sympy.acos,
    "asin": sympy.asin,
    "atan": sympy.atan,
    "cosh": sympy.cosh,
    "sinh": sympy.sinh,
    "tanh": sympy.tanh,
    "acosh": sympy.acosh,
    "asinh": sympy.asinh,
    "atanh": sympy.atanh,
    "phase": _arg,
    "pi": sympy.pi,
    "e": sympy.E,
}

CMATH = types.SimpleNamespace(**_CMATH_FUNCTIONS)
"""Stand-in for the ``cmath`` (and ``math``) module inside UFO expressions."""

BUILTIN_FUNCTIONS: dict[str, object] = {
    "complexconjugate": sympy.conjugate,
    "conjugate": sympy.conjugate,
    "re": sympy.re,
    "im": sympy.im,
    "abs": sympy.Abs,
    "complex": _complex,
    "float": lambda x: x,
    "sec": lambda z: 1 / sympy.cos(z),
    "csc": lambda z: 1 / sympy.sin(z),
    "cot": lambda z: 1 / sympy.tan(z),
    "asec": lambda z: sympy.acos(1 / z),
    "acsc": lambda z: sympy.asin(1 / z),
    "cond": _piecewise_if_zero,
    "reglog": _reglog,
    "reglogp": lambda z: _reglog_shifted(z, +1),
    "reglogm": lambda z: _reglog_shifted(z, -1),
    "arg": _arg,
    "theta_function": _theta_function,
    "recms": _recms,
}
"""sympy meanings of the functions every UFO ``function_library`` defines (MadGraph's
definitions). ``reglog`` & co. are Piecewise expressions: ``jnp`` has no such function."""


def base_namespace() -> dict[str, object]:
    """Names available in every UFO expression: cmath, math, the builtins above, bare cmath names."""
    namespace: dict[str, object] = dict(_CMATH_FUNCTIONS)
    namespace.update(BUILTIN_FUNCTIONS)
    namespace["cmath"] = CMATH
    namespace["math"] = CMATH
    namespace["I"] = sympy.I
    return namespace


_ATTRIBUTE_REWRITES = (
    (re.compile(r"(\b\w+)\.conjugate\(\)"), r"conjugate(\1)"),
    (re.compile(r"(\b\w+)\.real\b"), r"re(\1)"),
    (re.compile(r"(\b\w+)\.imag\b"), r"im(\1)"),
)


def model_function(name: str, arguments: Iterable[str], body: str, *, where: str) -> Callable:
    """A sympy-valued Python function for a ``function_library`` entry madgen does not know.

    The body (Python source over the arguments) is parsed once with the arguments as
    placeholder symbols; calling the result substitutes the actual arguments.
    ``z.real``/``z.imag``/``z.conjugate()`` are rewritten to ``re``/``im``/``conjugate``.
    Python conditional expressions are not supported (madgen knows MadGraph's ones).
    """
    args = tuple(arguments) if not isinstance(arguments, str) else (arguments,)
    placeholders = {a: sympy.Dummy(a) for a in args}
    text = body
    for pattern, replacement in _ATTRIBUTE_REWRITES:
        text = pattern.sub(replacement, text)
    expr = parse_expression(text, placeholders, what=f"function {name}", where=where)

    def call(*values):
        if len(values) != len(args):
            raise ModelError(
                f"{where}: function {name} takes {len(args)} argument(s), got {len(values)}"
            )
        return expr.xreplace({placeholders[a]: sympy.sympify(v) for a, v in zip(args, values)})

    call.__name__ = name
    return call


def parse_expression(
    text: str,
    symbols: Mapping[str, object],
    *,
    what: str,
    where: str,
    functions: Mapping[str, object] | None = None,
) -> sympy.Expr:
    """Parse one UFO expression string into an exact sympy expression.

    ``symbols`` maps parameter names to their sympy symbols (they shadow function names);
    ``functions`` adds model-specific functions. ``what`` (e.g. ``"coupling GC_3"``) and
    ``where`` (the file) name the culprit in the ``ModelError`` raised on failure.
    """
    if isinstance(text, (int, float)):
        return sympy.Rational(repr(text)) if isinstance(text, float) else sympy.Integer(text)
    if not isinstance(text, str):
        raise ModelError(f"{where}: {what} has value {text!r}, expected an expression string")
    namespace = base_namespace()
    if functions:
        namespace.update(functions)
    namespace.update(symbols)
    try:
        expr = parse_expr(text, local_dict=namespace, global_dict=dict(_GLOBALS),
                          transformations=_TRANSFORMS, evaluate=True)
    except NameError as exc:
        missing = re.search(r"name '(\w+)' is not defined", str(exc))
        name = missing.group(1) if missing else str(exc)
        raise ModelError(
            f"{where}: {what} = {text!r} uses unknown name {name!r}; define it as a parameter "
            f"or function of the model"
        ) from None
    except Exception as exc:  # SyntaxError, TypeError, sympy errors
        raise ModelError(
            f"{where}: cannot parse {what} = {text!r}: {type(exc).__name__}: {exc}; "
            f"fix the expression in the model file"
        ) from None
    expr = sympy.sympify(expr)
    if not isinstance(expr, sympy.Expr):
        raise ModelError(f"{where}: {what} = {text!r} is not a number-valued expression")
    return expr
