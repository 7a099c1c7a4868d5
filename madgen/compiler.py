"""The compiler: a process card in, a generated package out. Stages, by name:

==============  ===========================================  ==============================
stage           input                                        output
==============  ===========================================  ==============================
card            process.yaml                                 ``ProcessCard``
model           model name / path (+ restriction)            ``Model``
process         process strings + labels                     ``Subprocess`` list
diagrams        ``Subprocess``                               ``DiagramSet``
wavefunctions   ``DiagramSet``                               ``WavefunctionGraph`` (IR)
colour          colour factors of the IR's amplitude terms   ``ColourBasis``
lorentz         routine requests of the IR                   ``RoutineSpec`` list
widths          card ``widths`` / ``DECAY pdg auto``         ``WidthPlan`` (decays, madgen.widths)
codegen         all of the above                             file name -> text
write           file texts                                   ``generated/<name>/`` (atomic)
==============  ===========================================  ==============================
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from madgen import __version__
from madgen.errors import OutputError, ProcessError

log = logging.getLogger("madgen")


@dataclass(frozen=True)
class CompiledPackage:
    """The generated package as text: file name → content, plus what it holds."""

    name: str
    files: tuple[tuple[str, str], ...]
    subprocesses: tuple[str, ...]
    n_diagrams: tuple[int, ...]
    timings: tuple[tuple[str, float], ...] = field(default=(), compare=False)


class _StageTimer:
    def __init__(self):
        self.timings: dict[str, float] = {}

    def run(self, stage: str, function, *args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start
        return result


def compile_card(card, model_search_paths=()) -> CompiledPackage:
    """Run every stage on a ``ProcessCard`` and return the package's files as text."""
    from madgen.codegen.emit import SubprocessCode, diagrams_json, render_subprocess
    from madgen.colour.basis import colour_basis
    from madgen.diagrams.export import diagram_set_to_data
    from madgen.diagrams.generate import generate_diagrams, make_legs
    from madgen.ir.build import averaging_factor, build_wavefunction_graph, colour_index_dims
    from madgen.model import load_model
    from madgen.process.expand import expand_process, resolve_labels, resolve_tokens
    from madgen.process.syntax import parse_process

    timer = _StageTimer()
    model = timer.run("model", load_model, card.model, search_paths=model_search_paths)
    model = apply_card_parameters(model, card)
    labels = resolve_labels(model, dict(card.multiparticles))
    subprocesses = []
    for text in card.processes:
        spec = timer.run("process", parse_process, text)
        subprocesses.extend(timer.run("process", expand_process, model, spec, labels))
    codes = []
    routine_requests = {}
    seen_texts = set()
    for index, sub in enumerate(subprocesses, start=1):
        if sub.text in seen_texts:
            continue
        seen_texts.add(sub.text)
        legs = make_legs(model, sub.initial, sub.final)
        excluded = resolve_tokens(model, sub.spec, sub.spec.excluded, labels)
        forbidden = resolve_tokens(model, sub.spec, sub.spec.forbidden_s_channel, labels)
        try:
            diagram_set = timer.run("diagrams", generate_diagrams, model, legs, sub.spec.orders, excluded,
                                    forbidden, sub.text)
        except ProcessError:
            if len(subprocesses) > 1:
                log.info("subprocess %s has no diagrams; skipped", sub.text)
                continue
            raise
        graph = timer.run("wavefunctions", build_wavefunction_graph, model, diagram_set)
        index_dims = colour_index_dims(model, diagram_set)
        colour = timer.run("colour", colour_basis, graph.colour_dims, index_dims,
                           [amp.colour for amp in graph.amplitudes])
        for request in graph.routines:
            routine_requests[request.name] = request
        module = f"P{len(codes) + 1}_{_subprocess_tag(sub)}"
        codes.append(SubprocessCode(
            module=module, process=sub.text,
            pdg_ids=tuple(model.particle(n).pdg_code for n in sub.particles),
            n_initial=len(sub.initial),
            masses=tuple(model.particle(n).mass for n in sub.particles),
            graph=graph, colour=colour, averaging_factor=averaging_factor(model, diagram_set),
            n_diagrams=len(diagram_set.diagrams), diagrams=diagram_set_to_data(model, diagram_set),
            colour_reps=tuple(model.particle(n).color for n in sub.particles), colour_index_dims=index_dims))
    if not codes:
        raise ProcessError(f"{card.path}: no subprocess of {list(card.processes)} has tree-level diagrams")
    widths = timer.run("widths", _plan_widths, model, card, codes)
    routine_requests.update({request.name: request for request in widths.routines})
    files = timer.run("codegen", _render_package, card, model, codes, routine_requests, widths)
    return CompiledPackage(card.package_name, tuple(files), tuple(c.process for c in codes),
                           tuple(c.n_diagrams for c in codes), tuple(timer.timings.items()))


def apply_card_parameters(model, card):
    """The card's ``param_card`` then ``parameters`` entries become the generated defaults."""
    from madgen.model.param_card import parameters_from_card, read_param_card, with_defaults

    if card.param_card:
        values = parameters_from_card(model, read_param_card(Path(card.param_card)))
        model = with_defaults(model, values, card.param_card)
    if card.parameters:
        model = with_defaults(model, dict(card.parameters), f"{card.path}, key 'parameters'")
    return model


def _plan_widths(model, card, codes):
    """The auto widths (process card ``widths``, param card ``DECAY pdg auto``) and their decays."""
    from madgen.widths import plan_auto_widths

    return plan_auto_widths(model, card, codes)


def _render_package(card, model, codes, routine_requests, widths=None):
    from madgen.codegen.emit import diagrams_json, render_subprocess, render_template, static_file
    from madgen.codegen.parameters import render_parameter_module
    from madgen.codegen.routines import render_routines
    from madgen.codegen.widths import render_width_files
    from madgen.lorentz.routines import build_routine
    from madgen.widths import WidthPlan

    widths = widths or WidthPlan()
    process_text = "; ".join(card.processes)
    header = provenance_header(model, process_text, widths.auto_widths)
    needed = set()
    for code in codes:
        needed.update(code.graph.couplings)
        needed.update(code.graph.masses)
        needed.update(code.graph.widths)
        needed.update(m for m in code.masses if m != "ZERO")
    specs = [build_routine(routine_requests[name]) for name in sorted(routine_requests)]
    files = {
        "__init__.py": render_template(
            "package_init.py.j2", header=header, process=process_text, model=model.name,
            package=card.package_name, subprocesses=[c.module for c in codes], madgen_version=__version__,
            n_legs_hint=len(codes[0].pdg_ids)),
        "parameters.py": render_template("parameters.py.j2", header=header, body=render_parameter_module(
            model, sorted(needed), widths.auto_widths, widths.inputs)),
        "routines.py": render_template("routines.py.j2", header=header, routines=render_routines(specs)),
        "wavefunctions.py": header + "\n" + static_file("wavefunctions.py"),
        "process_api.py": header + "\n" + static_file("process_api.py"),
    }
    for code in codes:
        files[f"{code.module}.py"] = render_subprocess(code, header)
        files[f"{code.module}_diagrams.json"] = diagrams_json(code.diagrams)
    files.update(render_width_files(widths, header))
    files["metadata.json"] = diagrams_json(_metadata(card, model, codes) | _width_metadata(card, widths))
    return sorted(files.items())


def provenance_header(model, process_text: str, auto_widths=None) -> str:
    restriction = model.restriction or "none"
    header = (f"# Generated by madgen {__version__}; do not edit (regenerate with `madgen generate`).\n"
              f"# Model: {model.name} (UFO '{Path(model.source).name}', restriction: {restriction}, "
              f"sha256 {model.fingerprint[:16] or 'unknown'})\n"
              f"# Process: {process_text}\n")
    if auto_widths:
        listed = ", ".join(f"{width} ({particle})" for width, particle in auto_widths.items())
        header += f"# Auto widths (computed at tree level from the model's decays, widths.py): {listed}\n"
    return header


def _width_metadata(card, widths) -> dict:
    """The card's ``widths`` request and the computed widths (absent without any, so that such
    packages stay byte-identical)."""
    data = {"widths": list(card.widths)} if card.widths else {}
    return data | ({"auto_widths": widths.metadata()} if widths.widths else {})


def _metadata(card, model, codes) -> dict:
    return {
        "generator": "madgen",
        "madgen_version": __version__,
        "model": model.name,
        "model_source": Path(model.source).name,
        "model_fingerprint": model.fingerprint,
        "restriction": model.restriction,
        "process": list(card.processes),
        "subprocesses": [{"module": c.module, "process": c.process, "pdg_ids": list(c.pdg_ids),
                          "n_diagrams": c.n_diagrams, "n_amplitude_terms": len(c.graph.amplitudes),
                          "n_colour_basis": len(c.colour.matrix), "n_helicities": len(c.graph.helicities)}
                         for c in codes],
        "parameters": dict(card.parameters),
    }


def _subprocess_tag(sub) -> str:
    from madgen.process.card import process_tag

    return process_tag(sub.text)


def write_package(package: CompiledPackage, output_dir: Path, force: bool = False) -> Path:
    """Write the package atomically: into a temporary sibling directory, then renamed into place."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not force:
        raise OutputError(f"{output_dir} already exists; pass --force to overwrite it")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        staging.chmod(0o777 & ~_current_umask())  # mkdtemp makes 0700; give the usual mode
        for name, text in package.files:
            (staging / name).write_text(text)
        if output_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.old.", dir=output_dir.parent))
            os.replace(output_dir, trash / output_dir.name)
            os.replace(staging, output_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def fingerprint_files(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).name.encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()
