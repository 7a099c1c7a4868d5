"""MadGraph process syntax: ``"p p > t t~ QED<=2 / h $$ z, (t > b w+, w+ > l+ vl)"`` → ``ProcessSpec``.

Supported, as in MadGraph:

* particles and multiparticle labels by name, ``>`` between initial and final state;
* required s-channel propagators between two ``>``: ``e+ e- > z > mu+ mu-`` keeps only the
  diagrams with an s-channel Z;
* coupling-order constraints on the amplitude (``QCD=2`` meaning ``<= 2``, ``QED<=4``,
  ``QED==2``, ``QCD>=1``) and on the squared amplitude (``NP^2==1``, ``NP^2<=1``, ``QED^2==2``:
  the interference terms whose orders add up as asked; see ``madgen.diagrams.orders``);
* ``/ x y`` (never on an internal line), ``$$ x y`` (never an s-channel propagator: the
  diagrams with one are removed) and ``$ x y`` (MadGraph's on-shell veto: every diagram kept, the
  events where an s-channel x would be within bwcutoff widths of its mass removed by the runtime;
  production process only);
* decay chains: ``p p > t t~, t > b w+, t~ > b~ w-`` (each decay after a comma), nested in
  parentheses ``(t > b w+, w+ > l+ vl)``, each decay with its own orders, ``/`` and ``$$``.

Squared orders are written in the production process and apply to the whole amplitude (with
its decays); MadGraph's ``$`` inside a decay, negative squared orders (``QCD^2==-1``), NLO and
loop-induced brackets
(``[QCD]``, ``[noborn=QCD]``) are not supported and are refused by name.

Polarised particles (MadGraph 2.7's syntax, arXiv:1912.01725) are read after a final-state particle or a
decay product: ``e+ e- > w+{0} w-{T}``, ``p p > w+{0} j, w+ > e+ ve``. ``{0}``, ``{T}`` (the two transverse
states, coherently), ``{L}``/``{R}`` (helicity -1/+1) and ``{A}`` (the auxiliary, off-shell part of a
decayed vector's propagator); ``{L}``/``{R}`` of a spin-1/2 particle; ``madgen.process.polarisation`` says
what each means and where it is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from madgen.errors import ProcessError, UnsupportedFeature

_ORDER_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\^2)?(<=|>=|==|=|<|>)(-?\d+)$")
_STRICT_LOWER_RE = re.compile(r"^[A-Z][A-Z0-9_]*(\^2)?$")


@dataclass(frozen=True)
class OrderConstraint:
    """A coupling-order constraint ``name op value``; ``op`` is one of ``<=``, ``==``, ``>=``.

    On an amplitude it bounds the diagram's order; as a squared-order constraint it bounds the
    sum of the orders of the two amplitudes of an interference term."""

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

    def squared_str(self) -> str:
        """The squared-order spelling, ``NP^2==1``."""
        return f"{self.name}^2{self.op}{self.value}"


@dataclass(frozen=True)
class DecaySpec:
    """One decay of a decay chain as written, labels not yet expanded: ``t > b w+`` with its own
    orders, ``/`` and ``$``, and the decays of its products (written inside its parentheses)."""

    text: str
    particle: str
    products: tuple[str, ...]
    orders: tuple[OrderConstraint, ...] = ()
    excluded: tuple[str, ...] = ()
    forbidden_s_channel: tuple[str, ...] = ()
    decays: tuple["DecaySpec", ...] = ()
    onshell_veto: tuple[str, ...] = ()  # "$ x" of this decay: its own on-shell s-channel x vetoed
    product_polarisations: tuple[str, ...] = ()  # "w+{0}": per product, '' where none (empty: none at all)

    def chain_text(self) -> str:
        """MadGraph's spelling: ``t > b w+`` or ``(t > b w+, w+ > l+ vl)`` with nested decays."""
        if not self.decays:
            return self.text
        return "(" + ", ".join([self.text] + [d.chain_text() for d in self.decays]) + ")"


@dataclass(frozen=True)
class ProcessSpec:
    """A parsed process string, labels not yet expanded."""

    text: str
    initial: tuple[str, ...]
    final: tuple[str, ...]
    orders: tuple[OrderConstraint, ...] = ()
    excluded: tuple[str, ...] = ()  # "/ x": never on an internal line
    forbidden_s_channel: tuple[str, ...] = ()  # "$$ x": never an s-channel propagator
    squared_orders: tuple[OrderConstraint, ...] = ()  # "NP^2==1": which interference terms enter |M|^2
    required_s_channels: tuple[str, ...] = ()  # "a b > z > c d": an s-channel z in every diagram
    decays: tuple[DecaySpec, ...] = ()  # ", t > b w+": decays of final-state particles, in the order written
    onshell_veto: tuple[str, ...] = ()  # "$ x": every diagram kept, events with an on-shell s-channel x vetoed
    final_polarisations: tuple[str, ...] = ()  # "w+{0}": per final-state particle, '' where none (empty: none)


def parse_process(text: str) -> ProcessSpec:
    """Parse one MadGraph process string.

    >>> parse_process("e+ e- > mu+ mu- QED=2").orders[0]
    OrderConstraint(name='QED', op='<=', value=2)
    >>> parse_process("e+ e- > z h NP^2==1").squared_orders[0]
    OrderConstraint(name='NP', op='==', value=1)
    >>> [d.text for d in parse_process("e+ e- > t t~, t > b w+").decays]
    ['t > b w+']
    """
    source = text.strip()
    if not source:
        raise ProcessError("empty process string: write it as in MadGraph, e.g. 'e+ e- > mu+ mu-'")
    source = _strip_process_tag(source)
    _refuse_unsupported_syntax(source)
    _check_parentheses(source)
    items = _split_top_level(source)
    if "(" in items[0] or ")" in items[0]:
        raise ProcessError(f"process '{source}': the production process '{items[0].strip()}' cannot hold "
                           "parentheses; write decays after a comma, e.g. 'p p > t t~, (t > b w+, w+ > l+ vl)'")
    core = _parse_simple(items[0].strip(), source, decay=False)
    decays = tuple(_parse_decay_item(item, source) for item in items[1:])
    return ProcessSpec(source, core.initial, core.final, core.orders, core.excluded, core.forbidden,
                       core.squared, core.s_channels, decays, core.onshell, core.polarisations)


@dataclass(frozen=True)
class _Simple:
    initial: tuple[str, ...]
    s_channels: tuple[str, ...]
    final: tuple[str, ...]
    orders: tuple[OrderConstraint, ...]
    squared: tuple[OrderConstraint, ...]
    excluded: tuple[str, ...]
    forbidden: tuple[str, ...]
    onshell: tuple[str, ...] = ()
    polarisations: tuple[str, ...] = ()  # per final-state particle, '' where none; empty when none is polarised


def _strip_process_tag(source: str) -> str:
    if "@" not in source:
        return source
    # MadGraph's process tag "@N" (anywhere after the final state) only numbers the process
    tags = re.findall(r"@\s*(\S*)", source)
    bad = [t for t in tags if not re.fullmatch(r"\d+", t)]
    if bad or len(tags) > 1:
        raise ProcessError(f"process '{source}': cannot read the process tag; write it as '@1' "
                           "(one '@' followed by a number)")
    after = source.split("@", 1)[1]
    overall = re.sub(r"^\s*\d+", "", after).strip()
    if "," in source.split("@", 1)[0] and overall:
        raise UnsupportedFeature(
            f"process '{source}': '{overall}' after '@' is MadGraph's overall coupling orders of the whole decay "
            "chain, which madgen does not read; give the orders to the production and to each decay instead "
            "(e.g. 'p p > t t~ QCD=2, t > b w+ QED=1')")
    return " ".join(re.sub(r"@\s*\d+", " ", source).split())


_MADGRAPH_COMMANDS = ("generate", "add process", "import model", "output", "launch", "define")


def _refuse_unsupported_syntax(source: str) -> None:
    """MadGraph syntax that madgen does not read, named before the tokens are taken for particles: a pasted
    command ('generate p p > t t~'), another arrow ('->'), a command option ('--no_warning=duplicate'), NLO
    or loop-induced brackets ('[QCD]', '[noborn=QCD]') and polarised bosons ('w+{0}')."""
    where = f"process '{source}'"
    for command in _MADGRAPH_COMMANDS:
        if re.match(rf"{command}\b", source, flags=re.IGNORECASE):
            rest = source[len(command):].strip()
            raise ProcessError(f"{where}: '{command}' is a MadGraph command; the card's 'process' is the process "
                               f"alone{f', e.g. {rest!r}' if command in ('generate', 'add process') else ''} "
                               "(several processes: a list under 'process')")
    arrow = re.search(r"(?:^|\s)(-->|->|=>)", source)  # 'e+ e->mu+ mu-' is e- then '>'
    if arrow:
        raise ProcessError(f"{where}: '{arrow.group(1)}' is not MadGraph's arrow; separate the initial and final "
                           "state with '>', e.g. 'e+ e- > mu+ mu-'")
    option = re.search(r"(?:^|\s)(--\S+)", source)
    if option:
        raise ProcessError(f"{where}: '{option.group(1)}' is an option of MadGraph's generate command, not part of "
                           "the process; leave it out")
    if "|" in source:
        raise UnsupportedFeature(f"{where}: MadGraph's '|' (one of several required s-channels) is not supported; "
                                 "define a multiparticle label for them (card key 'multiparticles', e.g. "
                                 "{'za': [z, a]}) and write 'e+ e- > za > mu+ mu-'")
    bracket = re.search(r"\[[^\]]*\]?", source)
    if bracket:
        raise UnsupportedFeature(f"{where}: '{bracket.group(0)}' asks MadGraph for NLO corrections or a "
                                 "loop-induced process; madgen computes tree-level (LO) matrix elements only: "
                                 "leave out the brackets for the LO process")


def _check_parentheses(source: str) -> None:
    depth = 0
    for column, char in enumerate(source, start=1):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ProcessError(f"process '{source}': unbalanced parentheses: ')' at column {column} closes "
                                   "nothing; nested decays are written '(t > b w+, w+ > l+ vl)'")
    if depth:
        raise ProcessError(f"process '{source}': unbalanced parentheses: {depth} '(' not closed; nested "
                           "decays are written '(t > b w+, w+ > l+ vl)'")


def _split_top_level(text: str) -> list[str]:
    """Split at the commas outside parentheses."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _parse_decay_item(item: str, source: str) -> DecaySpec:
    """``t > b w+`` or ``(t > b w+, w+ > l+ vl, ...)``."""
    text = item.strip()
    if not text:
        raise ProcessError(f"process '{source}': an empty decay between commas; write each decay as "
                           "'particle > products', e.g. 't > b w+'")
    if text.startswith("(") and text.endswith(")") and _closing_of(text, 0) == len(text) - 1:
        inner = _split_top_level(text[1:-1])
        first = inner[0].strip()
        if not first or "(" in first or ")" in first:
            raise ProcessError(f"process '{source}': '{text}' must start with the decay itself, e.g. "
                               "'(t > b w+, w+ > l+ vl)'")
        decay = _parse_decay(first, source)
        nested = tuple(_parse_decay_item(part, source) for part in inner[1:])
        return replace(decay, decays=nested)
    if "(" in text or ")" in text:
        raise ProcessError(f"process '{source}': cannot read the decay '{text}'; a decay with decays of its "
                           "products is written in parentheses, the decay first: '(t > b w+, w+ > l+ vl)'")
    return _parse_decay(text, source)


def _closing_of(text: str, opening: int) -> int:
    depth = 0
    for i in range(opening, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def _parse_decay(text: str, source: str) -> DecaySpec:
    simple = _parse_simple(text, source, decay=True)
    if len(simple.initial) != 1:
        raise ProcessError(f"process '{source}', decay '{text}': one decaying particle goes before '>', "
                           f"got {len(simple.initial)} ({' '.join(simple.initial) or 'none'})")
    if len(simple.final) < 2:
        what = "no decay products" if not simple.final else f"one decay product ('{simple.final[0]}')"
        raise ProcessError(f"process '{source}', decay '{text}': {what}; a decay has at least two products "
                           "after '>', e.g. 't > b w+'")
    return DecaySpec(text, simple.initial[0], simple.final, simple.orders, simple.excluded, simple.forbidden,
                     onshell_veto=simple.onshell, product_polarisations=simple.polarisations)


def _parse_simple(text: str, source: str, decay: bool) -> _Simple:
    """One process or decay without commas: particles, '>', orders, '/' and '$$' lists."""
    where = f"process '{source}'" + (f", decay '{text}'" if decay else "")
    if not text:
        raise ProcessError(f"{where}: no process before the first comma; write e.g. 'p p > t t~, t > b w+'")
    tokens = _join_lower_bounds(tokenize(text))
    arrows = [i for i, t in enumerate(tokens) if t == ">"]
    if not arrows or len(arrows) > (1 if decay else 2):
        hint = ""
        if decay and len(arrows) > 1:
            hint = " (a decay has no required s-channel; decay the intermediate particle instead)"
        elif len(arrows) > 2:
            hint = " (at most one group of required s-channel particles, as in 'e+ e- > z > mu+ mu-')"
        expected = "exactly one '>'" if decay else ("exactly one '>' between initial and final state (or two "
                                                    "around required s-channel particles, 'e+ e- > z > mu+ mu-')")
        raise ProcessError(f"{where}: expected {expected}, found {len(arrows)}{hint}")
    initial = tuple(tokens[:arrows[0]])
    s_channels = tuple(tokens[arrows[0] + 1:arrows[1]]) if len(arrows) == 2 else ()
    if len(arrows) == 2 and not s_channels:
        raise ProcessError(f"{where}: nothing between the two '>'; write the required s-channel particle there, "
                           "e.g. 'e+ e- > z > mu+ mu-'")
    for token in initial + s_channels:
        if _parse_order(token, where) is not None:
            raise ProcessError(f"{where}: coupling-order constraint '{token}' must follow the final state")
    for token in initial + s_channels:
        _refuse_polarisation(token, where, "a decaying particle" if decay else
                             ("an initial-state particle" if token in initial else "a required s-channel"))
    final: list[str] = []
    orders: list[OrderConstraint] = []
    squared: list[OrderConstraint] = []
    excluded: list[str] = []
    forbidden: list[str] = []
    onshell: list[str] = []
    mode = "final"
    for token in tokens[arrows[-1] + 1:]:
        if token == "/":
            mode = "excluded"
            continue
        if token == "$$":
            mode = "forbidden"
            continue
        if token == "$":
            mode = "onshell"
            continue
        parsed = _parse_order(token, where)
        if parsed is not None:
            constraint, is_squared = parsed
            (squared if is_squared else orders).append(constraint)
            continue
        {"final": final, "excluded": excluded, "forbidden": forbidden, "onshell": onshell}[mode].append(token)
    for token in excluded + forbidden + onshell:
        _refuse_polarisation(token, where, "a particle after '/', '$' or '$$'")
    final, polarisations = split_polarisations(final, where)
    if mode == "onshell" and not onshell:
        raise ProcessError(f"{where}: '$' names no particle; write e.g. '$ z' (events with an on-shell s-channel Z "
                           "vetoed, every diagram kept) or '$$ z' (diagrams with an s-channel Z removed)")
    if not initial:
        raise ProcessError(f"{where}: no {'decaying particle' if decay else 'initial-state particles'} before '>'")
    if len(initial) > 2:
        raise ProcessError(f"{where}: at most two initial-state particles, got {len(initial)}")
    if not final and not decay:
        raise ProcessError(f"{where}: no final-state particles after '>'")
    for kind, constraints in (("coupling order", orders), ("squared coupling order", squared)):
        names = [o.name for o in constraints]
        if len(set(names)) != len(names):
            raise ProcessError(f"{where}: a {kind} is constrained twice")
    if decay and squared:
        raise UnsupportedFeature(
            f"{where}: squared-order constraint '{squared[0].squared_str()}' inside a decay; write squared orders "
            "in the production process (before the first comma): they apply to the whole amplitude")
    return _Simple(initial, s_channels, tuple(final), tuple(orders), tuple(squared), tuple(excluded),
                   tuple(forbidden), tuple(onshell), polarisations)


POLARISATIONS = {"0": "longitudinal", "T": "transverse (helicities -1 and +1, coherently)", "L": "helicity -1",
                 "R": "helicity +1", "A": "auxiliary (the off-shell part of a decayed vector's propagator)"}
"""MadGraph's polarisation labels (``w+{0}``) as madgen reads them; ``madgen.process.polarisation`` checks
them against each particle."""

_POLARISED_RE = re.compile(r"^([^{}]+)\{([^{}]*)\}$")


def split_polarisations(tokens, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Final-state tokens without their ``{X}`` and the labels X ('' where none; an empty tuple when no
    token has one)."""
    names, labels = [], []
    for token in tokens:
        match = _POLARISED_RE.match(token)
        if match is None:
            if "{" in token or "}" in token:
                raise ProcessError(f"{where}: cannot read '{token}'; a polarised particle is written with its "
                                   "polarisation in braces right after its name, e.g. 'w+{0}'")
            names.append(token)
            labels.append("")
            continue
        name, label = match.group(1), match.group(2).strip()
        if label not in POLARISATIONS:
            known = ", ".join(f"{{{k}}} ({v})" for k, v in POLARISATIONS.items())
            raise ProcessError(f"{where}: unknown polarisation '{{{label}}}' of '{name}'; madgen reads {known}")
        names.append(name)
        labels.append(label)
    return tuple(names), (tuple(labels) if any(labels) else ())


def _refuse_polarisation(token: str, where: str, role: str) -> None:
    if "{" in token or "}" in token:
        hint = {"an initial-state particle": "polarise the beams with the run card's polbeam1/polbeam2",
                "a decaying particle": "polarise the particle where it is produced, e.g. 'p p > w+{0} j, w+ > e+ ve'",
                }.get(role, "write the particle there without braces")
        raise UnsupportedFeature(f"{where}: '{token}' is {role} with a polarisation; madgen polarises final-state "
                                 f"particles and decay products only ({hint})")


def tokenize(source: str) -> list[str]:
    """The tokens of one process or decay as the parser reads them: particles and labels, '>', '/', '$',
    '$$' and order constraints joined into one token each ('QED = 2' -> 'QED=2')."""
    spaced = source.replace(">", " > ").replace("/", " / ")
    spaced = re.sub(r"\${1,2}", lambda m: f" {m.group(0)} ", spaced)
    # re-join order constraints split by the '>' padding ("QCD > = 1" cannot occur: '>=' handled here)
    spaced = re.sub(r"\s*(<|>|=)\s*=\s*", lambda m: m.group(1) + "=", spaced)
    spaced = re.sub(r"\s*(<=|>=|==|=)\s*", lambda m: m.group(1), spaced)
    spaced = re.sub(r"\s*<(?!=)\s*", "<", spaced)  # 'QED < 3'; '<' has no other use
    spaced = re.sub(r"\s*\^\s*2", "^2", spaced)  # 'NP ^ 2 == 1'
    return spaced.split()


def _join_lower_bounds(tokens: list[str]) -> list[str]:
    """MadGraph's lower bounds 'QED>1' and 'QCD^2>2' (tokenized as 'QED > 1': '>' also separates the legs) as
    one token: an upper-case name followed by '>' and an integer is an order constraint, since no particle
    is an integer."""
    joined, i = [], 0
    while i < len(tokens):
        if i + 2 < len(tokens) and tokens[i + 1] == ">" and _STRICT_LOWER_RE.fullmatch(tokens[i]) \
                and re.fullmatch(r"-?\d+", tokens[i + 2]):
            joined.append(f"{tokens[i]}>{tokens[i + 2]}")
            i += 3
            continue
        joined.append(tokens[i])
        i += 1
    return joined


def _parse_order(token: str, where: str) -> tuple[OrderConstraint, bool] | None:
    match = _ORDER_RE.match(token)
    if not match:
        if any(op in token for op in ("=", "<")) or "^" in token:
            raise ProcessError(f"{where}: cannot read coupling-order constraint '{token}' "
                               "(write e.g. QCD=2, QED<=4, QED==2, or squared orders NP^2==1, QED^2<=4)")
        return None
    name, squared, op, value = match.groups()
    value = int(value)
    if squared and value < 0:
        raise UnsupportedFeature(f"{where}: negative squared-order constraint '{token}' (MadGraph's 'N^kLO "
                                 "in this order') is not supported; give the squared order explicitly, "
                                 "e.g. QCD^2==4")
    if op == "<":  # strict bounds on integers
        op, value = "<=", value - 1
    elif op == ">":
        op, value = ">=", value + 1
    elif op == "=":  # MadGraph: QCD=2 means at most 2
        op = "<="
    return OrderConstraint(name, op, value), bool(squared)
