"""The model stage: UFO model -> restricted, frozen ``Model`` (see ``types``).

``load_model`` uses MadGraph's naming:

* ``"sm"``: UFO ``sm`` with its ``restrict_default.dat`` applied (if it has one);
* ``"sm-full"``: no restriction;
* ``"sm-no_b_mass"``: ``restrict_no_b_mass.dat`` applied;
* ``"/path/to/MyUFO"`` or ``"/path/to/MyUFO-no_masses"``: the same for a directory.

A path (``./sm``, ``/abs/UFO``, ``~/UFO``) is that directory; a bare name is looked up in
the search paths (``<search_path>/<name>``), then as an installed package ``<name>`` or
``ufo_<name>`` (``sm`` -> ``ufo_sm``), never in the working directory (``locate``).
When the model has ``paramcard_<restriction>.dat`` (MadGraph: the default param card
of outputs made with that restriction), its values become the model's defaults.
Python-2 models are converted to Python 3 in a cache first (``conversion``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Iterable

from madgen.errors import ModelNotFound, RestrictionError
from madgen.model.locate import UFOLocation, is_path_spec, locate_ufo, where_looked
from madgen.model.param_card import ParamCard, parameters_from_card, read_param_card, write_param_card
from madgen.model.restrict import restrict_model
from madgen.model.types import Model
from madgen.model.ufo import convert_ufo, import_ufo, source_fingerprint

log = logging.getLogger("madgen")

__all__ = [
    "load_model",
    "describe_model",
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
            raise ModelNotFound(
                f"unknown model {spec!r} (nor {base!r} with restriction {restriction!r}); looked for "
                f"{where_looked(base, search_paths)}. {_how_to_fix(base)}"
            )
    raise ModelNotFound(f"unknown model {spec!r}; looked for {where_looked(spec, search_paths)}. {_how_to_fix(spec)}")


def _how_to_fix(name: str) -> str:
    if is_path_spec(name):
        return "Give the path of a UFO directory (the one holding particles.py)."
    return (f"Give a path to a UFO directory (e.g. 'model: ./{name}'), add its parent directory to "
            f"MADGEN_MODEL_PATH, or install the UFO package (e.g. pip install ufo-{name}).")


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

    Results are cached per process, keyed by the model files' sha256 (and the cards').
    """
    location, name, restriction = resolve_model_spec(spec, search_paths)
    card_path = restriction_card_path(location, restriction) if restriction else None
    default_card = location.directory / f"paramcard_{restriction}.dat" if restriction else None
    if default_card is not None and not default_card.is_file():
        default_card = None
    extra = [p for p in (card_path, default_card) if p is not None]
    fingerprint = source_fingerprint(location.directory, extra)
    key = (str(location.directory), location.package, name, restriction, fingerprint)
    if key in _CACHE:
        return _CACHE[key]
    code_fingerprint = source_fingerprint(location.directory)
    imported = import_ufo(location, code_fingerprint)
    model = _unrestricted(imported, location, name, fingerprint, code_fingerprint)
    if card_path is not None:
        model = restrict_model(model, read_param_card(card_path), card_path.name, name)
    if default_card is not None:
        model = _with_default_card(model, default_card)
    _CACHE[key] = model
    return model


_UNRESTRICTED: dict[tuple, Model] = {}


def _unrestricted(imported, location: UFOLocation, name: str, fingerprint: str, code_fingerprint: str) -> Model:
    """The converted, unrestricted model (cached per process: restrictions start from it)."""
    key = (str(location.directory), location.package, code_fingerprint)
    if key not in _UNRESTRICTED:
        _UNRESTRICTED[key] = convert_ufo(imported.module, location, name, code_fingerprint, imported.conversion)
    return dataclasses.replace(_UNRESTRICTED[key], name=name, fingerprint=fingerprint)


def _with_default_card(model: Model, path: Path) -> Model:
    """MadGraph copies ``paramcard_<restriction>.dat`` as the output's param card: its values
    become the defaults of the external parameters the restriction kept (others are ignored)."""
    card = read_param_card(path)
    values = {}
    for p in model.external_parameters:
        value = card.get(p.lhablock, p.lhacode)
        if value is not None:
            values[p.name] = value
    log.info("model %s: default parameter values from %s", model.name, path)
    parameters = tuple(dataclasses.replace(p, value=float(values[p.name])) if p.name in values else p
                       for p in model.parameters)
    return dataclasses.replace(model, parameters=parameters)


def describe_model(model: Model) -> str:
    """One line saying which model directory was loaded, restricted how, converted where."""
    where = model.directory or model.source
    package = f" (package {model.source})" if model.source != model.directory else ""
    restriction = f", restriction {model.restriction}" if model.restriction else ", no restriction"
    converted = (f", converted from Python 2 into {model.conversion_cache} ({len(model.converted_files)} file(s): "
                 f"{', '.join(model.converted_files)})" if model.conversion_cache else "")
    return f"model {model.name}: {where}{package}{restriction}{converted}"
