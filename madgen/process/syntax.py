"""MadGraph process syntax: ``"e+ e- > mu+ mu- QED<=2 / h $ z"`` → ``ProcessSpec``.

Supported: particles and multiparticle labels by name, ``>`` separating initial
and final states, coupling-order constraints (``QCD=2`` meaning ``<= 2`` as in
MadGraph, ``QED<=4``, ``QED==2``, ``QCD>=1``), ``/ x y`` (remove from internal lines)
and ``$ x y`` (forbid as s-channel propagators). Decay chains (``,`` and
parentheses) and squared orders (``QED^2``) are reported as unsupported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from madgen.errors import ProcessError, UnsupportedFeature

_ORDER_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\^2)?(<=|>=|==|=|<|>)(-?\d+)$")


@dataclass(frozen=True)
class OrderConstraint:
    """A coupling-order constraint ``name op value``; ``op`` is one of ``<=``, ``==``, ``>=``."""

    name: str
    op: str
    value: int

    def allows(self, order: int) -> bool:
        if self.op == "<=":
            return order <= self.value
        if self.op == ">=":
            return order >= self.value
        return order == self.value

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


@dataclass(frozen=True)
class ProcessSpec:
    """A parsed process string, labels not yet expanded into particles."""

    text: str
    initial: tuple[str, ...]
    final: tuple[str, ...]
    orders: tuple[OrderConstraint, ...] = ()
    excluded: tuple[str, ...] = ()  # "/ x": never on an internal line
    forbidden_s_channel: tuple[str, ...] = ()  # "$ x": never an s-channel propagator


def parse_process(text: str) -> ProcessSpec:
    """Parse one MadGraph process string.

    >>> parse_process("e+ e- > mu+ mu- QED=2").orders[0]
    OrderConstraint(name='QED', op='<=', value=2)
    """
    source = text.strip()
    if not source:
        raise ProcessError("empty process string: write it as in MadGraph, e.g. 'e+ e- > mu+ mu-'")
    if "," in source or "(" in source or ")" in source:
        raise UnsupportedFeature(
            f"process '{source}': decay chains (',' and parentheses) are not supported yet; "
            "generate the full final state instead")
    if "@" in source:
        # MadGraph's process tag "@N" (anywhere after the final state) only numbers the process
        tags = re.findall(r"@\s*(\S*)", source)
        bad = [t for t in tags if not re.fullmatch(r"\d+", t)]
        if bad or len(tags) > 1:
            raise ProcessError(f"process '{source}': cannot read the process tag; write it as '@1' "
                               "(one '@' followed by a number)")
        source = " ".join(re.sub(r"@\s*\d+", " ", source).split())
    tokens = _tokenize(source)
    if tokens.count(">") != 1:
        hint = ""
        if tokens.count(">") > 1:
            strict = [f"{tokens[i - 1]}>={int(tokens[i + 1]) + 1}" for i, t in enumerate(tokens[1:-1], start=1)
                      if t == ">" and re.fullmatch(r"[A-Z][A-Z0-9_]*", tokens[i - 1])
                      and re.fullmatch(r"-?\d+", tokens[i + 1])]
            if strict:
                hint = f" (for a lower bound on a coupling order write e.g. '{strict[0]}')"
            else:
                hint = " (decay chains and multi-step processes are not supported)"
        raise ProcessError(
            f"process '{source}': expected exactly one '>' between initial and final state, "
            f"found {tokens.count('>')}{hint}")
    arrow = tokens.index(">")
    initial = tuple(tokens[:arrow])
    rest = tokens[arrow + 1:]
    final: list[str] = []
    orders: list[OrderConstraint] = []
    excluded: list[str] = []
    forbidden: list[str] = []
    mode = "final"
    for token in rest:
        if token == "/":
            mode = "excluded"
            continue
        if token == "$":
            mode = "forbidden"
            continue
        if token == "$$":
            raise UnsupportedFeature(f"process '{source}': '$$' is not supported; use '$' or '/'")
        order = _parse_order(token, source)
        if order is not None:
            orders.append(order)
            continue
        if mode == "final":
            final.append(token)
        elif mode == "excluded":
            excluded.append(token)
        else:
            forbidden.append(token)
    if not initial:
        raise ProcessError(f"process '{source}': no initial-state particles before '>'")
    if len(initial) > 2:
        raise ProcessError(f"process '{source}': at most two initial-state particles, got {len(initial)}")
    if not final:
        raise ProcessError(f"process '{source}': no final-state particles after '>'")
    names = [o.name for o in orders]
    if len(set(names)) != len(names):
        raise ProcessError(f"process '{source}': a coupling order is constrained twice")
    return ProcessSpec(source, initial, tuple(final), tuple(orders), tuple(excluded), tuple(forbidden))


def _tokenize(source: str) -> list[str]:
    spaced = source.replace(">", " > ").replace("/", " / ")
    spaced = re.sub(r"\${1,2}", lambda m: f" {m.group(0)} ", spaced)
    # re-join order constraints split by the '>' padding ("QCD > = 1" cannot occur: '>=' handled here)
    spaced = re.sub(r"\s*(<|>|=)\s*=\s*", lambda m: m.group(1) + "=", spaced)
    spaced = re.sub(r"\s*(<=|>=|==|=)\s*", lambda m: m.group(1), spaced)
    spaced = re.sub(r"\s*<(?!=)\s*", "<", spaced)  # 'QED < 3'; '<' has no other use
    tokens = spaced.split()
    return tokens


def _parse_order(token: str, source: str) -> OrderConstraint | None:
    match = _ORDER_RE.match(token)
    if not match:
        if any(op in token for op in ("=", "<")):
            raise ProcessError(f"process '{source}': cannot read coupling-order constraint '{token}' "
                               "(write e.g. QCD=2, QED<=4, QED==2)")
        return None
    name, squared, op, value = match.groups()
    if squared:
        raise UnsupportedFeature(f"process '{source}': squared-order constraint '{token}' is not supported")
    value = int(value)
    if op == "<":  # strict bounds on integers
        op, value = "<=", value - 1
    elif op == ">":
        op, value = ">=", value + 1
    elif op == "=":  # MadGraph: QCD=2 means at most 2
        op = "<="
    return OrderConstraint(name, op, value)
