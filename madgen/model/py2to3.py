"""Python-2 UFO source rewritten as Python 3, token by token, line numbers kept.

Most FeynRules exports (and so most published UFO models) are Python 2. MadGraph loads
them by converting a copy; madgen does the same with this small rewriter of the
constructs such files use (no lib2to3, which Python 3.13 no longer ships):

* implicit relative imports of the model's own modules made explicit
  (``import particles as P`` -> ``from . import particles as P``,
  ``from object_library import X`` -> ``from .object_library import X``);
* ``print x, y`` / ``print >>f, x`` / ``print x,`` statements -> ``print(...)`` calls,
  ``exec code in ns`` -> ``exec(code, ns)``;
* ``raise E, msg`` -> ``raise E(msg)``, ``raise E, msg, tb`` -> ``raise E(msg).with_traceback(tb)``,
  ``except E, e:`` -> ``except E as e:``;
* ``d.iteritems()``/``itervalues()``/``iterkeys()`` -> ``items()``/``values()``/``keys()``,
  ``d.has_key(k)`` -> ``(k in d)``, ``d.keys()[0]`` (and ``values``/``items``, ``map``/``filter``/
  ``zip``/``range`` results indexed, concatenated or sorted in place) wrapped in ``list(...)``;
* ``basestring``/``unicode`` -> ``str``, ``long`` -> ``int``, ``xrange`` -> ``range``,
  ``raw_input`` -> ``input``, ``unichr`` -> ``chr``, ``sys.maxint`` -> ``sys.maxsize``;
* ``<>`` -> ``!=``, backticks -> ``repr(...)``, ``0777`` -> ``0o777``, ``10L`` -> ``10``,
  ``ur'...'`` -> ``r'...'``, tabs in indentation expanded to Python 2's 8-column stops.

Every rewrite stays on its line, so a line number in the converted file is the line
number in the original (errors are reported against the original file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONVERTER_VERSION = "2"
"""Changes whenever the rewriting changes, so cached conversions are redone."""

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\f]+|\\\r?\n)
  | (?P<nl>\r?\n|\r)
  | (?P<comment>\#[^\r\n]*)
  | (?P<string>(?:[uUbB][rR]?|[rR][bB]?)?(?:'''(?:[^\\]|\\.)*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\"
                |'(?:[^'\\\r\n]|\\.)*'|"(?:[^"\\\r\n]|\\.)*"))
  | (?P<number>0[xX][0-9a-fA-F]+[lL]?|0[oO][0-7]+|0[bB][01]+[lL]?
                |(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?[jJlL]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=?|//=?|>>=?|<<=?|<>|!=|==|<=|>=|->|[-+*/%&|^=<>]=?|[~()\[\]{},:;.`@])
  | (?P<error>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_OPENING = {"(": ")", "[": "]", "{": "}"}
_CLOSING = {v: k for k, v in _OPENING.items()}
_COMPOUND = {"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class"}
_RENAMED_BUILTINS = {"basestring": "str", "unicode": "str", "long": "int", "xrange": "range",
                     "raw_input": "input", "unichr": "chr"}
_ITER_METHODS = {"iteritems": "items", "itervalues": "values", "iterkeys": "keys"}
_LIST_RESULTS = {"keys", "values", "items"}
_LIST_FUNCTIONS = {"map", "filter", "zip", "range"}
_KEYWORDS = {"and", "as", "assert", "break", "class", "continue", "def", "del", "elif", "else", "except", "exec",
             "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "not", "or", "pass", "print",
             "raise", "return", "try", "while", "with", "yield"}

STRONG_RULES = frozenset({
    "implicit relative import", "print statement", "exec statement", "raise E, msg",
    "except E, e", "iteritems/itervalues/iterkeys", "has_key", "<>", "backticks",
    "octal literal", "long literal", "ur'' string",
})
"""Rewrites that only Python-2 source needs (a Python-3 file never triggers them)."""


@dataclass
class _Token:
    kind: str
    text: str  # current text (rewrites edit it)
    original: str = ""  # the source text: brackets and separators are read from it

    def __post_init__(self):
        self.original = self.original or self.text


@dataclass(frozen=True)
class Conversion:
    """The converted text and the names of the rewrites applied (empty: nothing changed)."""

    text: str
    rules: frozenset[str]


def tokenize(source: str) -> list[_Token]:
    """Python-2 (and 3) source as tokens whose texts concatenate back to ``source``."""
    return [_Token(m.lastgroup, m.group()) for m in _TOKEN.finditer(source)]


class _Rewriter:
    """Token-level rewrites of one file; ``self.tokens[i].text`` is edited in place."""

    def __init__(self, source: str, local_modules: frozenset[str]):
        self.tokens = tokenize(source)
        self.local = local_modules
        self.rules: set[str] = set()
        self.code = [i for i, t in enumerate(self.tokens) if t.kind not in ("ws", "nl", "comment")]
        self.position = {index: n for n, index in enumerate(self.code)}
        self.partner = self._match_brackets()
        self.future = {"print_function": self._has_future("print_function")}

    # ---------------------------------------------------------------- structure
    def _match_brackets(self) -> dict[int, int]:
        partner: dict[int, int] = {}
        stack: list[int] = []
        for i in self.code:
            text = self.tokens[i].original
            if text in _OPENING:
                stack.append(i)
            elif text in _CLOSING and stack and self.tokens[stack[-1]].original == _CLOSING[text]:
                j = stack.pop()
                partner[i], partner[j] = j, i
        return partner

    def _has_future(self, feature: str) -> bool:
        texts = [self.tokens[i].text for i in self.code]
        for n in range(len(texts) - 3):
            if texts[n] == "from" and texts[n + 1] == "__future__" and texts[n + 2] == "import":
                for m in range(n + 3, len(texts)):
                    if texts[m] == feature:
                        return True
                    if texts[m] not in (",", "(", ")", "as") and not texts[m].isidentifier():
                        break
        return False

    def statements(self) -> list[list[int]]:
        """Simple statements as lists of code-token indices (split at newlines, ``;`` and the
        ``:`` of a one-line compound statement, all outside brackets)."""
        result: list[list[int]] = []
        current: list[int] = []
        depth = 0
        compound_head = False
        for i, token in enumerate(self.tokens):
            if token.kind == "nl" and depth == 0:
                if current:
                    result.append(current)
                current, compound_head = [], False
                continue
            if token.kind in ("ws", "nl", "comment"):
                continue
            text = token.original
            if not current and text in _COMPOUND:
                compound_head = True
            if depth == 0 and (text == ";" or (text == ":" and compound_head)):
                if current:
                    result.append(current + [i])
                current, compound_head = [], False
                continue
            if text in _OPENING:
                depth += 1
            elif text in _CLOSING:
                depth = max(depth - 1, 0)
            current.append(i)
        if current:
            result.append(current)
        return result

    def text_of(self, first: int, last: int) -> str:
        return "".join(t.text for t in self.tokens[first:last + 1])

    def replace_range(self, first: int, last: int, text: str) -> None:
        """Tokens first..last become ``text``, keeping the line count: newlines inside the range
        move before the final ')' of ``text`` or, for a statement, become line continuations."""
        newlines = sum(t.text.count("\n") for t in self.tokens[first:last + 1])
        for t in self.tokens[first:last + 1]:
            t.text = ""
        if newlines and text.endswith(")"):
            text = text[:-1] + "\n" * newlines + ")"
        elif newlines:
            text += " \\\n" * newlines
        self.tokens[first].text = text

    def top_level(self, statement: list[int], start: int, symbol: str) -> list[int]:
        """Positions (in ``statement``) of ``symbol`` outside brackets, from ``start`` on."""
        found, depth = [], 0
        for n in range(start, len(statement)):
            text = self.tokens[statement[n]].original
            if text in _OPENING:
                depth += 1
            elif text in _CLOSING:
                depth -= 1
            elif depth == 0 and text == symbol:
                found.append(n)
        return found

    def previous_code(self, i: int) -> _Token | None:
        n = self.position[i]
        return self.tokens[self.code[n - 1]] if n > 0 else None

    def next_code(self, i: int, step: int = 1) -> _Token | None:
        n = self.position[i] + step
        return self.tokens[self.code[n]] if n < len(self.code) else None

    # ---------------------------------------------------------------- statements
    def convert_statements(self) -> None:
        for statement in self.statements():
            head = self.tokens[statement[0]].text
            if head == "print" and not self.future["print_function"]:
                self._print(statement)
            elif head == "exec":
                self._exec(statement)
            elif head == "raise":
                self._raise(statement)
            elif head == "except":
                self._except(statement)
            elif head == "import":
                self._import(statement)
            elif head == "from":
                self._from_import(statement)

    def _wrapped_call(self, statement: list[int]) -> bool:
        """``name(...)`` spanning the whole statement (already a call)."""
        second = statement[1] if len(statement) > 1 else None
        return second is not None and self.tokens[second].original == "(" and self.partner.get(second) == statement[-1]

    def _print(self, statement: list[int]) -> None:
        if len(statement) > 1 and self.tokens[statement[1]].original in ("=", ".", ")", "]", ","):
            return  # 'print' used as a name
        if self._wrapped_call(statement):
            return
        self.rules.add("print statement")
        first, last = statement[0], statement[-1]
        items = statement[1:]
        extra = []
        if items and self.tokens[items[0]].original == ">>":
            commas = self.top_level(items, 1, ",")
            stop = commas[0] if commas else len(items)
            stream = self.text_of(items[1], items[stop - 1]).strip()
            last_raw = items[min(stop, len(items) - 1)]
            for token in self.tokens[items[0]:last_raw + 1]:
                token.text = ""
            if stop < len(items) and self.tokens[last_raw + 1].kind == "ws":
                self.tokens[last_raw + 1].text = ""
            extra.append(f"file={stream}")
            items = items[stop + 1:]
        if items and self.tokens[items[-1]].original == "," and self.top_level(items, 0, ",")[-1:] == [len(items) - 1]:
            self.tokens[items[-1]].text = ""
            extra.append('end=" "')
        separator = ", " if items and extra else ""
        self.tokens[first].text = "print("
        if statement[1:] and self.tokens[statement[0] + 1].kind == "ws":
            self.tokens[statement[0] + 1].text = ""
        tail = separator + ", ".join(extra) + ")"
        self.tokens[last].text = self.tokens[last].text + tail if last != first else "print()"

    def _exec(self, statement: list[int]) -> None:
        if len(statement) < 2 or self._wrapped_call(statement):
            return
        self.rules.add("exec statement")
        for n in self.top_level(statement, 1, "in"):
            self.tokens[statement[n]].text = ","
            if self.tokens[statement[n] - 1].kind == "ws":
                self.tokens[statement[n] - 1].text = ""
        self.tokens[statement[0]].text = "exec("
        if self.tokens[statement[0] + 1].kind == "ws":
            self.tokens[statement[0] + 1].text = ""
        self.tokens[statement[-1]].text += ")"

    def _raise(self, statement: list[int]) -> None:
        commas = self.top_level(statement, 1, ",")
        if not commas or self.top_level(statement, 1, "from"):
            return
        self.rules.add("raise E, msg")
        self.tokens[statement[commas[0]]].text = "("
        if len(commas) == 1:
            self.tokens[statement[-1]].text += ")"
        else:
            self.tokens[statement[commas[1]]].text = ").with_traceback("
            self.tokens[statement[-1]].text += ")"

    def _except(self, statement: list[int]) -> None:
        colon = self.top_level(statement, 1, ":")
        stop = colon[0] if colon else len(statement)
        commas = [n for n in self.top_level(statement, 1, ",") if n < stop]
        if len(commas) == 1 and stop - commas[0] == 2:
            self.rules.add("except E, e")
            self.tokens[statement[commas[0]]].text = " as"

    def _dotted_items(self, statement: list[int], start: int) -> list[tuple[str, str | None]]:
        """``a.b as c, d`` -> [("a.b", "c"), ("d", None)] from code tokens (parentheses skipped)."""
        items, name, alias, expecting_alias = [], "", None, False
        for i in statement[start:]:
            text = self.tokens[i].text
            if text in ("(", ")"):
                continue
            if text == ",":
                items.append((name, alias))
                name, alias, expecting_alias = "", None, False
            elif text == "as":
                expecting_alias = True
            elif expecting_alias:
                alias = text
            else:
                name += text
        if name:
            items.append((name, alias))
        return items

    def _import(self, statement: list[int]) -> None:
        items = self._dotted_items(statement, 1)
        if not any(name.split(".")[0] in self.local for name, _ in items):
            return
        self.rules.add("implicit relative import")
        absolute, relative = [], []
        for name, alias in items:
            as_alias = f" as {alias}" if alias else ""
            head, _, rest = name.partition(".")
            if head not in self.local:
                absolute.append(name + as_alias)
            elif not rest:
                relative.append(f"from . import {name}{as_alias}")
            elif alias:
                parent, _, leaf = name.rpartition(".")
                relative.append(f"from .{parent} import {leaf}{as_alias}")
            else:
                parent, _, leaf = name.rpartition(".")
                relative += [f"from . import {head}", f"from .{parent} import {leaf}"]
        parts = ([f"import {', '.join(absolute)}"] if absolute else []) + relative
        self.replace_range(statement[0], statement[-1], "; ".join(parts))

    def _from_import(self, statement: list[int]) -> None:
        if len(statement) < 2:
            return
        module = self.tokens[statement[1]]
        if module.kind == "name" and module.text in self.local:
            self.rules.add("implicit relative import")
            module.text = "." + module.text

    # ---------------------------------------------------------------- expressions
    def convert_expressions(self) -> None:
        for i in self.code:
            token = self.tokens[i]
            if token.kind == "op" and token.text == "<>":
                self.rules.add("<>")
                token.text = "!="
            elif token.kind == "number":
                self._number(token)
            elif token.kind == "string":
                self._string(token)
            elif token.kind == "name":
                self._name(i, token)
        self._backticks()

    def _number(self, token: _Token) -> None:
        text = token.text
        if text[-1] in "lL":
            self.rules.add("long literal")
            text = text[:-1]
        if re.fullmatch(r"0\d+", text):
            self.rules.add("octal literal")
            text = "0o" + (text.lstrip("0") or "0")
        token.text = text

    def _string(self, token: _Token) -> None:
        if token.text[:2].lower() == "ur":
            self.rules.add("ur'' string")
            token.text = token.text[1:]

    def _name(self, i: int, token: _Token) -> None:
        before, after = self.previous_code(i), self.next_code(i)
        attribute = before is not None and before.text == "."
        if attribute and token.text in _ITER_METHODS:
            self.rules.add("iteritems/itervalues/iterkeys")
            token.text = _ITER_METHODS[token.text]
        elif attribute and token.text == "maxint" and self.tokens[self.code[self.position[i] - 2]].text == "sys":
            token.text = "maxsize"
        elif (not attribute and token.text in _RENAMED_BUILTINS
              and (after is None or after.text != "=") and (before is None or before.text not in ("def", "class"))):
            token.text = _RENAMED_BUILTINS[token.text]

    def _backticks(self) -> None:
        ticks = [i for i in self.code if self.tokens[i].text == "`"]
        for opening, closing in zip(ticks[::2], ticks[1::2]):
            self.rules.add("backticks")
            self.tokens[opening].text = "repr("
            self.tokens[closing].text = ")"

    def _primary_end(self, i: int) -> bool:
        token = self.tokens[i]
        if token.original in _CLOSING:
            return True
        return token.kind in ("name", "number", "string") and token.original not in _KEYWORDS

    def receiver_start(self, dot: int) -> int | None:
        """Index of the first token of the primary expression (``a.b[1](c)``) ending before ``dot``."""
        n = self.position[dot] - 1
        start = None
        while n >= 0:
            i = self.code[n]
            if self.tokens[i].original in _CLOSING:
                if i not in self.partner:
                    break
                n = self.position[self.partner[i]]
                start = self.code[n]
                n -= 1
                if n >= 0 and self._primary_end(self.code[n]):
                    continue  # the brackets are a call or subscript of what precedes them
                break
            if not self._primary_end(i):
                break
            start = i
            n -= 1
            if n >= 0 and self.tokens[self.code[n]].original == ".":
                n -= 1
                continue
            break
        return start

    def _calls(self, names: set[str]):
        """(name index, its position, '.' before it or None, '(' and ')') of calls of ``names``,
        innermost (rightmost) first."""
        for n in range(len(self.code) - 2, -1, -1):
            i = self.code[n]
            token = self.tokens[i]
            if token.kind != "name" or token.original not in names or self.tokens[self.code[n + 1]].original != "(":
                continue
            closing = self.partner.get(self.code[n + 1])
            if closing is None or not token.text:  # unbalanced, or already inside a rewritten range
                continue
            dot = self.code[n - 1] if n > 0 and self.tokens[self.code[n - 1]].original == "." else None
            yield i, n, dot, self.code[n + 1], closing

    def convert_calls(self) -> None:
        """List-valued results used as lists, then ``x.has_key(k)`` (after the other rewrites)."""
        for i, n, dot, _, closing in self._calls(_LIST_RESULTS | _LIST_FUNCTIONS):
            name = self.tokens[i].original
            method = dot is not None and name in _LIST_RESULTS
            function = dot is None and name in _LIST_FUNCTIONS and not self._is_definition(n)
            if (method or function) and self._used_as_list(closing):
                start = self.receiver_start(dot) if method else i
                if start is not None:
                    self.replace_range(start, closing, f"list({self.text_of(start, closing)})")
        for i, n, dot, opening, closing in self._calls({"has_key"}):
            start = self.receiver_start(dot) if dot is not None else None
            if start is None:
                continue
            self.rules.add("has_key")
            receiver = self.text_of(start, dot - 1).strip()
            key = self.text_of(opening + 1, closing - 1).strip()
            self.replace_range(start, closing, f"({key} in {receiver})")

    def _is_definition(self, n: int) -> bool:
        return n > 0 and self.tokens[self.code[n - 1]].original in ("def", ".")

    def _used_as_list(self, closing: int) -> bool:
        after = self.next_code(closing)
        if after is None:
            return False
        if after.original in ("[", "+"):
            return True
        following = self.next_code(closing, 2)
        return after.original == "." and following is not None and following.original in (
            "sort", "append", "extend", "insert", "remove", "index")

    def expand_indentation_tabs(self) -> None:
        at_line_start = True
        for token in self.tokens:
            if at_line_start and token.kind == "ws" and "\t" in token.text and not token.text.startswith("\\"):
                token.text = token.text.expandtabs(8)
            at_line_start = token.kind == "nl" or (token.kind == "ws" and token.text.startswith("\\"))

    def result(self) -> str:
        return "".join(t.text for t in self.tokens)


def convert_source(source: str, local_modules=frozenset()) -> Conversion:
    """Python-2 ``source`` (one file of a UFO model) as Python 3.

    ``local_modules`` are the model's own module names (``particles``, ``object_library``...):
    imports of those become explicit relative imports. The result keeps every line on its
    line number; ``rules`` names the rewrites applied (see ``STRONG_RULES``).
    """
    rewriter = _Rewriter(source, frozenset(local_modules))
    rewriter.expand_indentation_tabs()
    rewriter.convert_expressions()  # token by token, before the statements append to tokens
    rewriter.convert_statements()
    rewriter.convert_calls()
    text = rewriter.result()
    rules = rewriter.rules if text != source else set()
    return Conversion(text, frozenset(rules))
