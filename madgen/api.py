"""Public Python API: ``generate`` a package from a card, ``load`` a generated package."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from madgen.errors import MadgenError

PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class GenerationResult:
    path: Path
    subprocesses: tuple[str, ...]
    n_diagrams: tuple[int, ...]
    timings: tuple[tuple[str, float], ...]


def model_search_paths() -> tuple[Path, ...]:
    """Where UFO model directories are looked for besides installed packages: ./models, the project's models/."""
    paths = [Path.cwd() / "models"]
    if PROJECT_MODELS.is_dir():
        paths.append(PROJECT_MODELS)
    return tuple(dict.fromkeys(paths))


def generate(card_path, output=None, force: bool = False, draw: bool = False) -> GenerationResult:
    """Compile ``card_path`` (process.yaml) into ``output`` (default ``generated/<name>``)."""
    from madgen.compiler import compile_card, write_package
    from madgen.process.card import read_process_card

    card = read_process_card(card_path)
    target = Path(output or card.output or Path("generated") / card.package_name)
    if target.exists() and not force:
        from madgen.errors import OutputError

        raise OutputError(f"{target} already exists; pass --force to overwrite it")
    package = compile_card(card, model_search_paths())
    if not draw:
        write_package(package, target, force=force)
    else:
        import shutil
        import tempfile

        # draw from a scratch copy first, so that a drawing failure leaves the output untouched
        with tempfile.TemporaryDirectory() as scratch:
            staged = write_package(package, Path(scratch) / "package")
            _draw_package(staged, Path(scratch) / "diagrams")
            write_package(package, target, force=force)
            shutil.copytree(Path(scratch) / "diagrams", target / "diagrams")
    return GenerationResult(target, package.subprocesses, package.n_diagrams, package.timings)


def load(path):
    """Import a generated package from its directory and return its process object.

    Enables JAX double precision (``jax_enable_x64``), which the generated code needs.
    """
    import jax

    jax.config.update("jax_enable_x64", True)
    path = Path(path).resolve()
    init = path / "__init__.py"
    if not init.is_file():
        raise MadgenError(f"{path} is not a generated madgen package (no __init__.py); "
                          "run `madgen generate process.yaml` first")
    module_name = f"madgen_generated_{path.name}"
    stamp = init.stat().st_mtime_ns  # a regenerated package is imported afresh, not served from the cache
    cached = sys.modules.get(module_name)
    if (cached is not None and getattr(cached, "__file__", None) == str(init)
            and getattr(cached, "_madgen_stamp", None) == stamp):
        return cached.process
    for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(module_name, init, submodule_search_locations=[str(path)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[module_name]
        raise
    module._madgen_stamp = stamp
    return module.process


def draw(card_path, output=None) -> list[Path]:
    """Draw every diagram of the card's processes to SVG files."""
    import tempfile

    from madgen.process.card import read_process_card

    card = read_process_card(card_path)
    target = Path(output or Path("diagrams") / card.package_name)
    with tempfile.TemporaryDirectory() as scratch:
        from madgen.compiler import compile_card, write_package

        package = compile_card(card, model_search_paths())
        staged = write_package(package, Path(scratch) / card.package_name)
        return _draw_package(staged, target)


def _draw_package(package_dir: Path, target: Path | None = None) -> list[Path]:
    from madgen.diagrams.draw import draw_package

    return draw_package(Path(package_dir), Path(target or Path(package_dir) / "diagrams"))


def process_for_run(card_or_package) -> tuple[object, Path]:
    """The loaded process of a generated package directory, or of a process card (generating
    its package first when ``generated/<name>`` does not hold it yet)."""
    import json

    from madgen.errors import OutputError
    from madgen.process.card import read_process_card

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
    same = (metadata.get("process") == list(card.processes) and metadata.get("model") == card.model
            and metadata.get("parameters", {}) == dict(card.parameters or {})
            and metadata.get("widths", []) == list(card.widths))
    if not same:
        raise OutputError(f"{target} holds another process or model than {path} "
                          f"({metadata.get('process')} with {metadata.get('model')}); regenerate it with "
                          f"`madgen generate {path} --force`, or give another `name:` in the card")
    return load(target), target


def next_run_directory(package_dir: Path) -> Path:
    """MadGraph-style ``Events/run_NN`` under the package: the first free number."""
    events = Path(package_dir) / "Events"
    number = 1
    while (events / f"run_{number:02d}").exists():
        number += 1
    return events / f"run_{number:02d}"


def launch(card_or_package, run_card, output=None, log=print, progress=True):
    """Integrate and generate unweighted events; see ``madgen.runtime.launch``.

    ``run_card``: a path to run.yaml or a mapping of its keys. Returns a ``LaunchResult``.
    """
    from madgen.runtime.launch import launch as _launch
    from madgen.runtime.runcard import RunCard, read_run_card

    if isinstance(run_card, RunCard):
        run = run_card
    elif isinstance(run_card, (str, Path)):
        run = read_run_card(run_card)
    else:
        run = RunCard.from_mapping(dict(run_card), "<run card given from Python>")
    process, package_dir = process_for_run(card_or_package)
    output = Path(output) if output else next_run_directory(package_dir)
    return _launch(process, run, output, log=log, progress=progress)
