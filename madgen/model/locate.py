"""Where a UFO model named in a card lives: a path, or a bare name looked up safely.

MadGraph's rule, which madgen follows: a model written as a *path* (``./sm``,
``../models/MyUFO``, ``/abs/MyUFO``, ``~/MyUFO``) is that directory; a *bare name*
(``sm``, ``SMEFTsim_topU3l_MwScheme_UFO``) is looked up in the model search paths
(``$MADGEN_MODEL_PATH``, then madgen's own ``models/``) and then among installed
packages ``<name>`` / ``ufo_<name>`` -- never in the current working directory, whose
``sm/`` folder (data, or a hostile ``__init__.py``) must neither shadow nor be executed.
"""

from __future__ import annotations

import importlib.machinery
import keyword
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence


@dataclass(frozen=True)
class UFOLocation:
    """Where a UFO model lives: its directory and, if installed, its package name."""

    directory: Path
    package: str | None = None

    @property
    def source(self) -> str:
        return self.package or str(self.directory)


def is_path_spec(name: str) -> bool:
    """True for a model written as a path (has a separator, or starts with '.', '~' or is absolute)."""
    return "/" in name or "\\" in name or name.startswith((".", "~")) or Path(name).is_absolute()


def locate_ufo(name: str, search_paths: Iterable[str | Path] = ()) -> UFOLocation | None:
    """The UFO called ``name`` (module docstring), or None when nothing matches."""
    if is_path_spec(name):
        path = Path(name).expanduser()
        return UFOLocation(path.resolve()) if path.is_dir() else None
    for base in search_paths:
        candidate = Path(base).expanduser() / name
        if (candidate / "__init__.py").is_file():
            return UFOLocation(candidate.resolve())
    for package in (name, "ufo_" + name):
        location = _installed_package(package)
        if location is not None:
            return location
    return None


def _is_working_directory(entry: str) -> bool:
    try:
        return entry in ("", ".") or Path(entry).resolve() == Path.cwd().resolve()
    except OSError:
        return False


def _installed_package(package: str) -> UFOLocation | None:
    """An installed UFO package, found on ``sys.path`` without the working directory."""
    if not package.isidentifier() or keyword.iskeyword(package):
        return None
    safe_path = [entry for entry in sys.path if not _is_working_directory(entry)]
    try:
        spec = importlib.machinery.PathFinder.find_spec(package, safe_path)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(list(spec.submodule_search_locations)[0])
    if not (directory / "particles.py").is_file():
        return None
    return UFOLocation(directory.resolve(), package)


def environment_search_paths() -> tuple[Path, ...]:
    """Directories of ``$MADGEN_MODEL_PATH`` (``os.pathsep``-separated), in order."""
    value = os.environ.get("MADGEN_MODEL_PATH", "")
    return tuple(Path(p).expanduser() for p in value.split(os.pathsep) if p)


def where_looked(name: str, search_paths: Sequence[str | Path]) -> str:
    """Human-readable list of the places ``locate_ufo`` tried, for error messages."""
    if is_path_spec(name):
        return f"directory {Path(name).expanduser()}"
    places = [f"{Path(p) / name}" for p in search_paths]
    places += [f"importable package {name!r}", f"importable package 'ufo_{name}'"]
    hint = ""
    if Path(name).is_dir():
        hint = (f" (a directory {name!r} exists in the working directory, but bare names are never "
                f"looked up there: write 'model: ./{name}' to use it)")
    return "; ".join(places) + hint
