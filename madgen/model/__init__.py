"""The model stage: UFO model -> restricted, frozen ``Model`` (see ``types``).

``load_model`` uses MadGraph's naming:

* ``"sm"``: UFO ``sm`` with its ``restrict_default.dat`` applied (if it has one);
* ``"sm-full"``: no restriction;
* ``"sm-no_b_mass"``: ``restrict_no_b_mass.dat`` applied;
* ``"/path/to/MyUFO"`` or ``"/path/to/MyUFO-no_masses"``: the same for a directory.

A name is looked up as a directory path, then ``<search_path>/<name>``, then as an
importable package ``<name>`` or ``ufo_<name>`` (``sm`` -> ``ufo_sm``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from madgen.errors import ModelError, RestrictionError
from madgen.model.param_card import ParamCard, parameters_from_card, read_param_card, write_param_card
from madgen.model.restrict import restrict_model
from madgen.model.types import Model
from madgen.model.ufo import (
    UFOLocation,
    convert_ufo,
    import_ufo,
    locate_ufo,
    source_fingerprint,
    where_looked,
)

__all__ = [
    "load_model",
    "resolve_model_spec",
    "ParamCard",
    "read_param_card",
    "write_param_card",
    "parameters_from_card",
    "restrict_model",
]

_CACHE: dict[tuple, Model] = {}


def resolve_model_spec(spec: str, search_paths: Iterable[str | Path] = ()) -> tuple[UFOLocation, str, str | None]:
    """(location, model name, restriction name or None) for a MadGraph-style model spec.

    The restriction is ``"default"`` when none is named and the model has
    ``restrict_default.dat``; ``None`` for ``-full`` or when there is no default card.
    """
    search_paths = tuple(search_paths)
    spec = str(spec).rstrip("/\\")
    location = locate_ufo(spec, search_paths)
    if location is not None:
        has_default = (location.directory / "restrict_default.dat").is_file()
        return location, Path(spec).name, "default" if has_default else None
    parent, _, last = spec.replace("\\", "/").rpartition("/")
    if "-" in last:
        base_last, restriction = last.rsplit("-", 1)
        base = f"{parent}/{base_last}" if parent else base_last
        location = locate_ufo(base, search_paths)
        if location is not None and restriction:
            return location, f"{Path(base).name}-{restriction}", None if restriction == "full" else restriction
        if location is None:
            raise ModelError(
                f"unknown model {spec!r} (nor {base!r} with restriction {restriction!r}); looked for "
                f"{where_looked(base, search_paths)}. Give a path to a UFO directory, add its parent "
                f"directory to the search paths, or install the UFO package (e.g. pip install ufo-{base})."
            )
    raise ModelError(
        f"unknown model {spec!r}; looked for {where_looked(spec, search_paths)}. Give a path to a "
        f"UFO directory, add its parent directory to the search paths, or install the UFO package "
        f"(e.g. pip install ufo-{spec})."
    )


def restriction_card_path(location: UFOLocation, restriction: str) -> Path:
    """``restrict_<restriction>.dat`` of the model; RestrictionError listing the available ones."""
    path = location.directory / f"restrict_{restriction}.dat"
    if not path.is_file():
        available = sorted(p.stem[len("restrict_"):] for p in location.directory.glob("restrict_*.dat"))
        raise RestrictionError(
            f"model {location.source} has no restriction card {path.name} (looked in "
            f"{location.directory}); available restrictions: {available or 'none'} plus 'full'"
        )
    return path


def load_model(spec: str, search_paths: Iterable[str | Path] = ()) -> Model:
    """Load, convert and restrict a UFO model named MadGraph-style (module docstring).

    Results are cached per process, keyed by the model files' sha256.
    """
    location, name, restriction = resolve_model_spec(spec, search_paths)
    card_path = restriction_card_path(location, restriction) if restriction else None
    fingerprint = source_fingerprint(location.directory, [card_path] if card_path else [])
    key = (str(location.directory), location.package, name, restriction, fingerprint)
    if key in _CACHE:
        return _CACHE[key]
    module = import_ufo(location)
    model = convert_ufo(module, location, name, fingerprint)
    if card_path is not None:
        model = restrict_model(model, read_param_card(card_path), card_path.name, name)
    _CACHE[key] = model
    return model
