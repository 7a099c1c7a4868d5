"""UFO expression strings (``'2*cmath.sqrt(aS)*cmath.sqrt(cmath.pi)'``) parsed into sympy.

UFO writes parameter and coupling values as Python source evaluated by MadGraph with
``cmath`` and the model's ``function_library`` in scope. We parse the same text with
sympy's parser into exact expressions: numeric literals become exact rationals
(``2.`` -> 2, ``1.16639e-5`` -> 116639/10**10), ``complex(a, b)`` becomes ``a + b*I``,
``cmath`` functions become sympy functions, and the usual UFO ``function_library``
functions become sympy expressions (``Piecewise`` for the conditional ones) that later
stages print for JAX. Python constructs sympy cannot evaluate symbolically are rewritten
first: ``y if x else z`` becomes a ``Piecewise`` (``x`` a comparison, or "x != 0"),
comparisons become relations, ``and``/``or``/``not`` logical functions, ``z.real``/
``z.imag``/``z.conjugate()`` become ``re``/``im``/``conjugate``. Unknown names are errors
(never silently new symbols).
"""

from __future__ import annotations

import ast
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
    "acot": lambda z: sympy.atan(1 / z),
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


_CONDITIONS = (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanFunction,
               sympy.logic.boolalg.BooleanAtom)


def _truth(value):
    """A Python truth test of an expression as a sympy condition (``x`` -> ``x != 0``)."""
    if isinstance(value, (bool, *_CONDITIONS)):
        return value
    return sympy.Ne(value, 0)


def _if_expression(test, if_true, if_false) -> sympy.Expr:
    """Python's ``if_true if test else if_false`` with a symbolic ``test``."""
    test = _truth(test)
    if isinstance(test, bool):
        return if_true if test else if_false
    return sympy.Piecewise((if_true, test), (if_false, True))


_REWRITE_HELPERS = {
    "_madgen_if": _if_expression,
    "_madgen_and": lambda *args: sympy.And(*map(_truth, args)),
    "_madgen_or": lambda *args: sympy.Or(*map(_truth, args)),
    "_madgen_not": lambda arg: sympy.Not(_truth(arg)),
    "_madgen_eq": sympy.Eq, "_madgen_ne": sympy.Ne, "_madgen_lt": sympy.Lt,
    "_madgen_le": sympy.Le, "_madgen_gt": sympy.Gt, "_madgen_ge": sympy.Ge,
}
_COMPARISONS = {ast.Eq: "_madgen_eq", ast.NotEq: "_madgen_ne", ast.Lt: "_madgen_lt",
                ast.LtE: "_madgen_le", ast.Gt: "_madgen_gt", ast.GtE: "_madgen_ge"}
_NEEDS_REWRITE = re.compile(r"\bif\b|[=!<>]=|[<>]|\.(?:real|imag|conjugate)\b|\b(?:and|or|not)\b")


class _SympyFriendly(ast.NodeTransformer):
    """Rewrites the Python constructs of the module docstring into calls of ``_REWRITE_HELPERS``."""

    @staticmethod
    def _call(name: str, args) -> ast.Call:
        return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return self._call("_madgen_if", [node.test, node.body, node.orelse])

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        return self._call("_madgen_and" if isinstance(node.op, ast.And) else "_madgen_or", node.values)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return self._call("_madgen_not", [node.operand]) if isinstance(node.op, ast.Not) else node

    def visit_Compare(self, node):
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        pairs = []
        for op, left, right in zip(node.ops, operands, operands[1:]):
            if type(op) not in _COMPARISONS:
                raise ValueError(f"unsupported comparison {type(op).__name__}")
            pairs.append(self._call(_COMPARISONS[type(op)], [left, right]))
        return pairs[0] if len(pairs) == 1 else self._call("_madgen_and", pairs)

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr in ("real", "imag") and not (isinstance(node.value, ast.Name) and node.value.id in ("cmath", "math")):
            return self._call("re" if node.attr == "real" else "im", [node.value])
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "conjugate" and not node.args:
            return self._call("conjugate", [func.value])
        return node


def sympy_friendly(text: str) -> str:
    """``text`` with conditional expressions, comparisons, ``z.real``... rewritten (docstring)."""
    if not _NEEDS_REWRITE.search(text):
        return text
    tree = _SympyFriendly().visit(ast.parse(text.strip(), mode="eval"))
    return ast.unparse(ast.fix_missing_locations(tree))


def base_namespace() -> dict[str, object]:
    """Names available in every UFO expression: cmath, math, the builtins above, bare cmath names."""
    namespace: dict[str, object] = dict(_CMATH_FUNCTIONS)
    namespace.update(BUILTIN_FUNCTIONS)
    namespace["cmath"] = CMATH
    namespace["math"] = CMATH
    namespace["I"] = sympy.I
    namespace.update(_REWRITE_HELPERS)
    return namespace


def model_function(name: str, arguments: Iterable[str], body: str, *, where: str) -> Callable:
    """A sympy-valued Python function for a ``function_library`` entry madgen does not know.

    The body (Python source over the arguments) is parsed once with the arguments as
    placeholder symbols; calling the result substitutes the actual arguments.
    ``z.real``/``z.imag``/``z.conjugate()`` become ``re``/``im``/``conjugate``, conditional
    expressions ``Piecewise`` (see the module docstring).
    """
    args = tuple(arguments) if not isinstance(arguments, str) else (arguments,)
    placeholders = {a: sympy.Dummy(a) for a in args}
    expr = parse_expression(body, placeholders, what=f"function {name}", where=where)

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
        code = sympy_friendly(text)
    except (SyntaxError, ValueError) as exc:
        raise ModelError(f"{where}: cannot parse {what} = {text!r}: {exc}; fix the expression in the model file") from None
    try:
        expr = parse_expr(code, local_dict=namespace, global_dict=dict(_GLOBALS),
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
