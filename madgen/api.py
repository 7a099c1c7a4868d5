"""Public Python API: ``generate`` a package from a card, ``load`` a generated package."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from madgen.contract import match_parameter_name, match_parameter_point
from madgen.errors import MadgenError

PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"
DRAWINGS = "diagrams"
"""Ownership kind of a directory of diagram drawings (``madgen draw``)."""


@dataclass(frozen=True)
class GenerationResult:
    path: Path
    subprocesses: tuple[str, ...]
    n_diagrams: tuple[int, ...]
    timings: tuple[tuple[str, float], ...]
    model: str = ""  # which model directory was loaded, in one line


def model_search_paths() -> tuple[Path, ...]:
    """Where a bare model name (``model: sm``) is looked for before installed packages:
    the directories of ``$MADGEN_MODEL_PATH``, then the project's ``models/``. Never the
    working directory (nor its ``./models``): a model there is written as a path, ``./name``."""
    from madgen.model.locate import environment_search_paths

    paths = list(environment_search_paths())
    if PROJECT_MODELS.is_dir():
        paths.append(PROJECT_MODELS)
    return tuple(dict.fromkeys(paths))


def generate(card_path, output=None, force: bool = False, draw: bool = False,
             all_helicities: bool = False) -> GenerationResult:
    """Compile ``card_path`` (process.yaml) into ``output`` (default ``generated/<name>``).

    The package is written as a whole (``madgen.output``); ``force`` replaces an existing package
    (keeping its ``Events``), never a directory madgen did not write. ``draw`` adds SVG drawings of
    the diagrams under ``diagrams/``. ``all_helicities`` keeps the helicity combinations that vanish
    identically (by default they are filtered out at generation, as MadGraph's good-helicity check does).
    """
    from madgen.compiler import compile_card, write_package
    from madgen.output import PACKAGE, check_replaceable
    from madgen.process.card import read_process_card

    card = read_process_card(card_path)
    target = Path(output or card.output or Path("generated") / card.package_name)
    check_replaceable(target, PACKAGE, force)  # fail before compiling, not after
    package = compile_card(card, model_search_paths(), filter_helicities=not all_helicities)
    extra = {}
    if draw:
        from madgen.diagrams.draw import draw_diagrams

        data = {name[: -len("_diagrams.json")]: json.loads(text) for name, text in package.files
                if name.endswith("_diagrams.json")}
        extra = {f"diagrams/{name}": svg.encode() for name, svg in draw_diagrams(data).items()}
    write_package(package, target, force=force, extra=extra)
    return GenerationResult(target, package.subprocesses, package.n_diagrams, package.timings, package.model)


def load(path):
    """Import a generated package from its directory and return its process object.

    Enables JAX double precision (``jax_enable_x64``), which the generated code needs
    (``madgen.contract.load_package``).
    """
    from madgen.contract import load_package

    return load_package(path)


def mine(card_or_package, run_card, parameters, theta_ref=None, thetas=(), output=None,
         n_xsec_points=None, log=print, workers=None, scheduler=None):
    """Gold mining (``madgen.inference.mining.mine``) for a process card (its package generated first
    when needed) or a generated package directory; ``workers`` / ``scheduler`` as ``launch``."""
    from madgen.inference.mining import mine as mine_process

    package = card_or_package if hasattr(card_or_package, "subprocesses") else process_for_run(card_or_package)[1]
    return mine_process(package, run_card, parameters, theta_ref=theta_ref, thetas=thetas, output=output,
                        n_xsec_points=n_xsec_points, log=log, workers=workers, scheduler=scheduler)


def draw(card_path, output=None) -> list[Path]:
    """Draw every diagram of the card's processes to SVG files under ``output`` (default
    ``diagrams/<name>``), from the diagrams stage alone (no code is generated). A previous drawing
    there is replaced; a directory madgen did not write is refused."""
    from madgen.compiler import diagram_data
    from madgen.diagrams.draw import draw_diagrams
    from madgen.output import staged_directory
    from madgen.process.card import read_process_card

    card = read_process_card(card_path)
    target = Path(output or Path("diagrams") / card.package_name)
    drawings = draw_diagrams(diagram_data(card, model_search_paths()))
    with staged_directory(target, DRAWINGS, force=True) as staging:
        for name, svg in drawings.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(svg)
    return sorted(target / name for name in drawings)


def process_for_run(card_or_package) -> tuple[object, Path]:
    """The loaded process of a generated package directory, or of a process card (generating
    its package first when ``generated/<name>`` does not hold it yet)."""
    from madgen.errors import OutputError
    from madgen.process.card import card_fingerprint, read_process_card

    path = Path(card_or_package)
    if path.is_dir():
        return load(path), path
    card = read_process_card(path)
    target = Path(card.output or Path("generated") / card.package_name)
    metadata_file = target / "metadata.json"
    if not metadata_file.exists():
        generate(path, output=target)
        return load(target), target
    metadata = json.loads(metadata_file.read_text())
    same = (metadata.get("process") == list(card.processes)
            and metadata.get("model_spec", metadata.get("model")) == card.model
            and metadata.get("parameters", {}) == dict(card.parameters or {})
            and metadata.get("widths", []) == list(card.widths))
    if not same:
        raise OutputError(f"{target} holds another process or model than {path} "
                          f"({metadata.get('process')} with {metadata.get('model')}); regenerate it with "
                          f"`madgen generate {path} --force`, or give another `name:` in the card")
    fingerprint = card_fingerprint(card)
    if metadata.get("card_fingerprint", fingerprint) != fingerprint:
        raise OutputError(f"{target} was generated from another version of {path} (its multiparticles, "
                          "param_card contents, precision or routine_calls differ); regenerate it with "
                          f"`madgen generate {path} --force`, or give another `name:` in the card")
    return load(target), target


def next_run_directory(package_dir: Path) -> Path:
    """MadGraph-style ``Events/run_NN`` under the package: the first free number, claimed at once
    (two concurrent runs get two distinct directories)."""
    from madgen.output import claim_run_directory

    return claim_run_directory(Path(package_dir) / "Events")


def launch(card_or_package, run_card, output=None, force: bool = False, log=print, progress=True,
           workers: int | None = None, scheduler: str | None = None, parameters=None):
    """Integrate and generate unweighted events; see ``madgen.runtime.launch``.

    ``run_card``: a path to run.yaml or a mapping of its keys. ``output``: the run directory
    (default: the next ``<package>/Events/run_NN``); an existing non-empty one is replaced only with
    ``force`` and only if it is a madgen run. ``workers``: run the batches on a local Dask cluster of
    that many processes; ``scheduler``: on the Dask cluster at that address (``madgen.runtime.tasks``;
    the same seed gives the same events either way). ``parameters``: external model parameters for this
    run, by UFO name in any case (MadGraph's ``set mt 172.5`` at launch; the package's defaults
    elsewhere, no regeneration). Returns a ``LaunchResult``.
    """
    from madgen.output import release_claim
    from madgen.runtime.launch import launch as _launch
    from madgen.runtime.runcard import as_run_card
    from madgen.runtime.tasks import distribution

    run = as_run_card(run_card, log)
    process, package_dir = process_for_run(card_or_package)
    parameters = _parameter_names(process, parameters)
    if parameters:
        log("parameters for this run: " + ", ".join(f"{name} = {value}" for name, value in parameters.items()))
    claimed = None if output else next_run_directory(package_dir)
    try:
        with distribution(Path(package_dir).resolve(), run, workers, scheduler, log=log) as distribute:
            return _launch(process, run, Path(output) if output else claimed, force=force if output else False,
                           log=log, progress=progress, distribute=distribute, parameters=parameters)
    except BaseException:
        if claimed is not None:
            with contextlib.suppress(OSError):
                claimed.rmdir()  # give the number back (only if the run left it empty)
            release_claim(claimed)
        raise


def _parameter_names(process, parameters, what: str = "parameters for this run") -> dict[str, float] | None:
    """``parameters`` keyed by the process's external parameter names: a name in any case as MadGraph's
    ``set`` matches it, or a param-card entry (``MASS 23``, ``mass 23``, ``DECAY 23``, ``WIDTH 23``, ``SMEFT 9``),
    found in the package's param card; one parameter under two spellings, a computed width, a derived entry,
    a parameter the model's restriction removed and an unknown name are errors naming the spelling given
    (``what``: where the parameters come from)."""
    if not parameters:
        return None
    from madgen.model.param_card import entry_spelling

    first = process.subprocesses[0]
    known = list(first.default_parameters())
    entries = _card_entries(first) if any(entry_spelling(key) for key in parameters) else {}
    computed = {name.lower(): name for name in first.metadata.get("auto_widths", {})}
    named, spelled = {}, {}
    for key, value in parameters.items():
        entry = entry_spelling(key)
        name = match_parameter_name(known, entries.get(entry, key) if entry else key)
        if name in named:
            raise MadgenError(f"{what}: parameter '{name}' is given twice ({spelled[name]}, {key})")
        named[name], spelled[name] = value, key
        if str(name).lower() in computed:
            raise MadgenError(f"'{key}': the width {computed[str(name).lower()]} of '{process.process}' is computed "
                              "from the other parameters (the process card's 'widths', docs/widths.md), not an "
                              "input; to fix it, generate without computing it")
        if name not in known:
            removed = _removed_by_restriction(first, key)
            if removed:
                raise MadgenError(f"{what}: '{key}': {removed}")
            elsewhere = first.metadata.get("inputs_elsewhere", {}).get(" ".join(str(key).split()).upper().replace(
                "WIDTH ", "DECAY "))
            if elsewhere:
                raise MadgenError(f"{what}: '{key}' is no entry of this model's param card: the input "
                                  f"{elsewhere['name']} is the entry {elsewhere['entry']}; set '{elsewhere['name']}'")
            why = (f"'{key}' ({name}) is computed from the external parameters (a derived or tied entry of the "
                   "param card), not an input" if entry and name in entries.values()
                   else f"'{key}' is not an external parameter of '{process.process}'")
            raise MadgenError(f"{what}: {why}; known: {sorted(known)} (run-card settings: docs/run_card.md)")
    return named


def _removed_by_restriction(process, key) -> str | None:
    """Why ``key`` (a name or a param-card entry) is no parameter of the package when the model's restriction
    fixed and removed it (``metadata["fixed_by_restriction"]``), else None."""
    from madgen.model.types import unrestricted_name

    metadata = process.metadata
    spelled = " ".join(str(key).split()).upper()
    for name, fixed in metadata.get("fixed_by_restriction", {}).items():
        if name.lower() == str(key).lower() or fixed["entry"].upper() == spelled:
            model, restriction = metadata.get("model", ""), metadata.get("restriction")
            return (f"the restriction {restriction} of model '{model}' fixes {name} ({fixed['entry']}) to "
                    f"{fixed['value']:g} and removes it with the vertices it enters; generate the process with the "
                    f"model without restriction ('{unrestricted_name(model, restriction)}') to vary it")
    return None


def _card_entries(process) -> dict:
    """(BLOCK, codes) -> parameter name of the package's param card (its inputs and computed entries); empty
    for a package generated before packages carried one."""
    from madgen.model.param_card import card_entry_names

    try:
        return {entry: name for name, entry in card_entry_names(process.param_card()).items()}
    except FileNotFoundError:
        return {}


def reweight(events_file, card_or_package, thetas, theta_ref=None, output=None, in_place: bool = False,
             names=None, log=print):
    """Add LHE 3.0 weights |M(theta_i)|^2 / |M(theta_ref)|^2 x XWGTUP for every point of ``thetas``
    (mappings of external parameter names to values) to the events of ``events_file``; see
    ``madgen.inference.reweight``. ``card_or_package`` is the events' process (a card, generated
    if needed, or a package directory). The result goes beside the input (``<name>_rwgt.lhe``),
    to ``output``, or (``in_place``) replaces the input atomically."""
    from madgen.errors import MadgenError
    from madgen.inference.reweight import reweight as _reweight

    if in_place and output is not None:
        raise MadgenError("give either an output file or in_place, not both")
    process, _ = process_for_run(card_or_package)
    thetas = [_parameter_names(process, theta, "--theta") or {} for theta in thetas]
    theta_ref = _parameter_names(process, theta_ref, "--theta-ref")
    return _reweight(events_file, process, thetas, theta_ref=theta_ref,
                     output=Path(events_file) if in_place else output, names=names, log=log)
