"""Python-2 UFO models: detected, converted once into a cache, imported from there.

A model directory is Python 2 when one of its files does not compile as Python 3, imports
one of the model's own modules implicitly (``import particles``), or calls a Python-2-only
dict method (``.iteritems()``, ``.has_key()``). Its ``*.py`` files are then rewritten by
``madgen.model.py2to3`` into a copy under the cache directory::

    ${MADGEN_CACHE:-${XDG_CACHE_HOME:-~/.cache}/madgen}/ufo/<model>-<fingerprint>/

keyed by the sha256 of the model's ``*.py`` files and the converter version. The copy is
written into a temporary directory and renamed into place (concurrent loads either win
the rename or use the winner's copy); the model's own directory is never written to. When
the cache cannot be written, the copy goes to a per-process temporary directory. A copy
whose manifest or file hashes do not match is rebuilt.
Restriction and param cards are still read from the model's directory.
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from madgen.errors import ModelError
from madgen.model.py2to3 import CONVERTER_VERSION, STRONG_RULES, convert_source

log = logging.getLogger("madgen")

MANIFEST = "madgen-conversion.json"
_PY2_METHODS = re.compile(r"\.\s*(?:iteritems|itervalues|iterkeys|has_key)\s*\(")
_FALLBACK_DIRS: dict[str, Path] = {}


@dataclass(frozen=True)
class ConvertedModel:
    """Where a Python-2 model's Python-3 copy lives and which files the conversion changed."""

    source: Path  # the model's own directory
    directory: Path  # the converted copy
    converted: tuple[str, ...]  # file names the rewriting changed
    created: bool  # this call wrote the copy (False: found in the cache)

    def notice(self, name: str) -> str:
        """One line for the user: what was converted, and where the copy is."""
        verb = "converted" if self.created else "uses the cached conversion of"
        return (f"model {name}: {verb} Python-2 UFO {self.source} to Python 3 in {self.directory} "
                f"({len(self.converted)} file(s): {', '.join(self.converted)})")


def cache_root() -> Path:
    """``$MADGEN_CACHE``, else ``$XDG_CACHE_HOME/madgen``, else ``~/.cache/madgen``."""
    if os.environ.get("MADGEN_CACHE"):
        return Path(os.environ["MADGEN_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "madgen"


def local_modules(directory: Path) -> frozenset[str]:
    """Names the model's own modules are imported by (``particles``, ``object_library``...)."""
    names = {p.stem for p in directory.glob("*.py")}
    names |= {p.parent.name for p in directory.glob("*/__init__.py")}
    return frozenset(names)


def read_source(path: Path) -> str:
    """A model file's text: its PEP 263 coding cookie, else UTF-8, else Latin-1 (Python 2 files)."""
    data = path.read_bytes()
    head = data.split(b"\n", 2)[:2]
    encoding = "utf-8"
    for line in head:
        match = re.match(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", line)
        if match:
            encoding = match.group(1).decode("ascii")
            break
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return data.decode("latin-1")


def _utf8_cookie(text: str) -> str:
    """The converted copy is written in UTF-8: its coding cookie (if any) must say so."""
    lines = text.split("\n", 2)
    for n in range(min(2, len(lines))):
        if re.match(r"^[ \t\f]*#.*?coding[:=]", lines[n]):
            lines[n] = re.sub(r"(coding[:=][ \t]*)[-\w.]+", r"\g<1>utf-8", lines[n], count=1)
    return "\n".join(lines)


def python2_reasons(directory: Path, first_only: bool = True) -> list[str]:
    """Why ``directory`` holds a Python-2 model ('file: reason'); empty for a Python-3 one.

    Implicit relative imports count where they run on import (module level, not in a
    function, as some Python-3 UFO packages keep in ``write_param_card.py``). The small
    files are looked at first, and by default the first reason found ends the search.
    """
    local = local_modules(directory)
    implicit = re.compile(r"^[ \t]*(?:import[ \t]+(?:[\w.]+[ \t]*(?:as[ \t]+\w+[ \t]*)?,[ \t]*)*|from[ \t]+)"
                          r"(" + "|".join(map(re.escape, sorted(local))) + r")\b", re.MULTILINE)
    reasons: list[str] = []
    for path in sorted(directory.glob("*.py"), key=lambda p: (p.stat().st_size, p.name)):
        if reasons and first_only:
            break
        text = read_source(path)
        try:
            tree = ast.parse(text, str(path)) if local and implicit.search(text) else None
            if tree is None:
                compile(text, str(path), "exec", dont_inherit=True)
        except SyntaxError:
            if convert_source(text, local).rules & STRONG_RULES:
                reasons.append(f"{path.name}: Python-2 syntax")
            continue
        if tree is not None and _imports_implicitly(tree, local):
            reasons.append(f"{path.name}: implicit relative import")
        elif _PY2_METHODS.search(text):
            reasons.append(f"{path.name}: Python-2 dict method")
    return reasons


def _imports_implicitly(tree: ast.Module, local: frozenset[str]) -> bool:
    """An ``import <local>`` / ``from <local> import`` that runs on import (outside functions)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in local for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in local:
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return False


def converted_copy(directory: Path, fingerprint: str) -> ConvertedModel:
    """The Python-3 copy of the Python-2 model in ``directory`` (made now or found in the cache).

    A file that is no valid Python 3 after conversion raises ``ModelError`` naming the
    *original* file and line (the conversion keeps line numbers).
    """
    name = re.sub(r"[^\w.-]", "_", directory.name) or "model"
    key = f"{name}-{fingerprint[:16]}-c{CONVERTER_VERSION}"
    for root in (cache_root(), None):
        final = (root or _fallback_root()) / "ufo" / key
        found = _valid_copy(final, directory, fingerprint)
        if found is not None:
            return found
        try:
            return _write_copy(directory, fingerprint, final)
        except OSError as exc:
            if root is not None:
                log.warning("cannot write the converted UFO model to %s (%s); using a temporary directory",
                            final, exc)
            last_error = exc
    raise ModelError(f"cannot write a Python-3 copy of the Python-2 UFO model {directory} ({last_error}); "
                     f"set MADGEN_CACHE to a writable directory")


def _fallback_root() -> Path:
    """A per-process temporary cache (removed at exit), for when the cache cannot be written."""
    if "root" not in _FALLBACK_DIRS:
        _FALLBACK_DIRS["root"] = Path(tempfile.mkdtemp(prefix="madgen-ufo-cache-"))
        atexit.register(shutil.rmtree, _FALLBACK_DIRS["root"], True)
    return _FALLBACK_DIRS["root"]


def _valid_copy(final: Path, source: Path, fingerprint: str) -> ConvertedModel | None:
    try:
        manifest = json.loads((final / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("fingerprint") != fingerprint or manifest.get("converter") != CONVERTER_VERSION:
        return None
    files = manifest.get("files", {})
    try:
        if not isinstance(files, dict) or any(_sha256((final / f).read_bytes()) != h for f, h in files.items()):
            return None
    except OSError:
        return None
    return ConvertedModel(source, final, tuple(manifest.get("converted", [])), created=False)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _convert_files(directory: Path) -> dict[str, tuple[str, bool]]:
    """file name -> (Python-3 text, changed?); SyntaxError left after conversion -> ModelError."""
    local = local_modules(directory)
    result = {}
    for path in sorted(directory.glob("*.py")):
        original = read_source(path)
        conversion = convert_source(original, local)
        try:
            compile(conversion.text, str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            line = original.splitlines()[exc.lineno - 1].strip() if exc.lineno and exc.lineno <= len(
                original.splitlines()) else ""
            raise ModelError(
                f"cannot import UFO model {directory}: {path}:{exc.lineno}: SyntaxError: {exc.msg} "
                f"(line: {line!r}); the model is Python 2 and madgen converted it to Python 3, but this "
                f"line is invalid in both. Fix the model file (or choose another model)."
            ) from None
        result[path.name] = (_utf8_cookie(conversion.text), conversion.text != original)
    return result


def _write_copy(directory: Path, fingerprint: str, final: Path) -> ConvertedModel:
    files = _convert_files(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        hashes = {}
        for file_name, (text, _) in files.items():
            data = text.encode("utf-8")
            (staging / file_name).write_bytes(data)
            hashes[file_name] = _sha256(data)
        converted = sorted(f for f, (_, changed) in files.items() if changed)
        manifest = {"source": str(directory), "fingerprint": fingerprint, "converter": CONVERTER_VERSION,
                    "files": hashes, "converted": converted}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(staging, final)
        except OSError:
            found = _valid_copy(final, directory, fingerprint)
            if found is not None:  # another process wrote it first
                return found
            _replace_invalid(final, staging)
        return ConvertedModel(directory, final, tuple(converted), created=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _replace_invalid(final: Path, staging: Path) -> None:
    """An invalid (stale or damaged) copy at ``final`` is moved away, then ours renamed in."""
    trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
    os.rename(final, trash / final.name)
    os.rename(staging, final)
    shutil.rmtree(trash, ignore_errors=True)
