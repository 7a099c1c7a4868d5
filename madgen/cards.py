"""Reading YAML cards (``process.yaml``, ``run.yaml``): one loader for both, with line numbers.

``load_card(text, source, error)`` parses YAML with a ``SafeLoader`` that refuses a key given twice
in one mapping (plain YAML keeps the last one silently) and returns mappings that remember the line
of each key (``CardMapping.line_of``), so that a later check can name ``file:line`` and the key
(``where``). Malformed YAML becomes ``error`` (a ``CardError`` subclass) naming the line and column.
"""

from __future__ import annotations

import functools
from pathlib import Path

from madgen.errors import CardError


class CardMapping(dict):
    """A mapping read from a card; ``line_of(key)`` is the 1-based line of ``key`` (None if unknown)."""

    lines: dict

    def line_of(self, key) -> int | None:
        return getattr(self, "lines", {}).get(key)


def where(source: str, data, key: str) -> str:
    """``source:line, key 'key'`` when the card gave ``key`` a line, else ``source, key 'key'``."""
    line = data.line_of(key) if isinstance(data, CardMapping) else None
    return f"{source}:{line}, key '{key}'" if line else f"{source}, key '{key}'"


class _DuplicateKey(Exception):
    def __init__(self, key, line, first_line):
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


@functools.lru_cache(maxsize=None)
def _loader():
    import yaml

    class CardLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys and records the line of every key."""

        def construct_mapping(self, node, deep=False):
            lines = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = self.construct_object(key_node)
                    if key in lines:
                        raise _DuplicateKey(key, key_node.start_mark.line + 1, lines[key])
                    lines[key] = key_node.start_mark.line + 1
            mapping = CardMapping(super().construct_mapping(node, deep=deep))
            mapping.lines = lines
            return mapping

    CardLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                               lambda loader, node: loader.construct_mapping(node, deep=True))
    return CardLoader


def load_card(text: str, source: str, error: type[CardError] = CardError):
    """The data of YAML card text (``CardMapping`` s for its mappings); bad YAML and duplicate keys
    raise ``error`` naming ``source``, the line and the column."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as duplicate:
        raise error(f"{source}:{duplicate.line}: key '{duplicate.key}' is given twice "
                    f"(first at line {duplicate.first_line}); keep one") from None
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        at = f":{mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = getattr(problem, "problem", None) or str(problem)
        context, context_mark = getattr(problem, "context", None), getattr(problem, "context_mark", None)
        if context and context_mark is not None and (mark is None or context_mark.line != mark.line):
            message += f" ({context} that starts at line {context_mark.line + 1})"
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "{" in lines[mark.line] and "[" in lines[mark.line]:
            message += ("; inside [...] braces are YAML's: quote a process with a polarised particle "
                        "([\"e+ e- > w+{0} w-\"]) or list the processes one per line ('- e+ e- > w+{0} w-')")
        raise error(f"{source}{at}: malformed YAML: {message}") from None


def read_card_text(path, error: type[CardError], what: str) -> str:
    """The text of the card file ``path``; a missing or unreadable file raises ``error`` saying what
    to write (``what``: e.g. "a run card (see docs/run_card.md)")."""
    path = Path(path)
    try:
        return path.read_text()
    except FileNotFoundError:
        raise error(f"{path}: no such file; write {what}") from None
    except OSError as problem:
        raise error(f"{path}: cannot read the card: {problem.strerror or problem}") from None


def is_path(text: str) -> bool:
    """Whether a card's model (or file) is given as a path (``./MyUFO-massless``, ``~/ufo``, ``models/x``) rather
    than a name."""
    return "/" in text or "\\" in text or text.startswith((".", "~"))
