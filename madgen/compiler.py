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
helicities      the rendered package (evaluated eagerly)     kept helicity combinations; codegen again
write           file texts                                   ``generated/<name>/`` (atomic)
==============  ===========================================  ==============================
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from madgen.version import __version__
from madgen.errors import ModelNotFound, OutputError, ProcessError, RestrictionError

log = logging.getLogger("madgen")


@dataclass(frozen=True)
class CompiledPackage:
    """The generated package as text: file name → content, plus what it holds."""

    name: str
    files: tuple[tuple[str, str], ...]
    subprocesses: tuple[str, ...]
    n_diagrams: tuple[int, ...]
    timings: tuple[tuple[str, float], ...] = field(default=(), compare=False)
    model: str = ""  # one line: which model directory was loaded (``describe_model``)


class _StageTimer:
    def __init__(self):
        self.timings: dict[str, float] = {}

    def run(self, stage: str, function, *args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start
        return result


@dataclass(frozen=True)
class SubprocessDiagrams:
    """The diagrams stage's output for one subprocess, with its generated module name."""

    module: str
    subprocess: object  # madgen.process.expand.Subprocess
    diagram_set: object  # madgen.diagrams.generate.DiagramSet
    onshell_vetoed: tuple[str, ...] = ()  # '$ x': particles vetoed on shell in s-channels (toward the final state)


def generate_card_diagrams(card, model_search_paths=(), timer=None):
    """The card, model, process and diagrams stages: (restricted model, ``SubprocessDiagrams`` list).

    Subprocesses without diagrams are skipped when there are several (MadGraph does the same).
    """
    from madgen.diagrams.generate import generate_diagrams, make_legs
    from madgen.diagrams.orders import check_process_orders
    from madgen.model import load_model
    from madgen.process.expand import expand_process, resolve_labels, resolve_tokens
    from madgen.process.syntax import parse_process

    timer = timer or _StageTimer()
    try:
        model = timer.run("model", load_model, card.model, search_paths=model_search_paths)
    except (ModelNotFound, RestrictionError) as error:  # a name in the card: say which key
        raise type(error)(f"{card.path}, key 'model': {error}") from None
    model = apply_card_parameters(model, card)
    try:
        labels = resolve_labels(model, dict(card.multiparticles))
    except ProcessError as error:
        raise ProcessError(f"{card.path}, key 'multiparticles': {error}") from None
    subprocesses = []  # (index of its process definition in the card, subprocess)
    for index, text in enumerate(card.processes):
        spec = timer.run("process", parse_process, text)
        check_process_orders(model, spec)
        subprocesses += [(index, sub) for sub in timer.run("process", expand_process, model, spec, labels)]
    found, seen, reasons = [], set(), {}
    for index, sub in subprocesses:
        excluded = resolve_tokens(model, sub.spec, sub.spec.excluded, labels)
        forbidden = resolve_tokens(model, sub.spec, sub.spec.forbidden_s_channel, labels)
        vetoed = tuple(sorted(resolve_tokens(model, sub.spec, sub.spec.onshell_veto, labels)))
        key = _subprocess_identity(sub, excluded, forbidden, vetoed)
        if (key, index) in seen:  # e+ e- > mu+ mu- and e+ e- > mu- mu+: once, not twice
            continue
        seen.add((key, index))
        legs = make_legs(model, sub.initial, sub.final, sub.polarisations)
        try:
            diagram_set = timer.run("diagrams", generate_diagrams, model, legs, sub.spec.orders, excluded,
                                    forbidden, sub.text, squared_orders=sub.spec.squared_orders,
                                    required_s_channels=sub.required_s_channels, decays=sub.decays,
                                    core_final=sub.core_final, core_polarisations=sub.core_polarisations)
        except ProcessError as error:
            if len(subprocesses) > 1:
                log.info("subprocess %s has no diagrams; skipped", sub.text)
                reasons.setdefault(str(error).removeprefix(f"process '{sub.text}': "), []).append(sub.text)
                continue
            raise
        _warn_unmatched_vetoes(model, sub, diagram_set, vetoed)
        found.append((index, key, SubprocessDiagrams("", sub, diagram_set, vetoed)))
    if not found:
        why = [reason if len(subs) > 1 else f"{subs[0]}: {reason}" for reason, subs in reasons.items()]
        shown = "; ".join(why[:3]) + (f"; and {len(why) - 3} more reasons" if len(why) > 3 else "")
        raise ProcessError(f"{card.path}: no subprocess of {list(card.processes)} has tree-level diagrams"
                           + (f" ({shown})" if shown else ""))
    unique = {}
    for _, key, item in minimal_weighted_per_definition(model, found):
        if key in unique:  # p p > t t~ and g g > t t~ in two definitions: once, not twice
            log.info("subprocess %s is %s again; generated once", item.subprocess.text, unique[key].subprocess.text)
            continue
        unique[key] = item
    return model, [replace(item, module=f"P{k + 1}_{_subprocess_tag(item.subprocess)}")
                   for k, item in enumerate(unique.values())]


def minimal_weighted_per_definition(model, found) -> list:
    """MadGraph's default coupling orders hold for a whole process definition, not each subprocess: the
    smallest WEIGHTED order any of its subprocesses reaches (``find_optimal_process_orders``), so that
    ``p p > j j`` keeps its QCD subprocesses and drops those only a W makes (``u s > c d``). Subprocesses of a
    definition without explicit orders whose diagrams all weigh more are dropped, as MadGraph does; a
    definition with orders, squared orders or one incoming particle keeps every subprocess.
    ``found``: (process definition index, identity, ``SubprocessDiagrams``) triples; the kept ones are returned."""
    from madgen.diagrams.orders import weighted_order

    hierarchy = model.order_hierarchy()

    def weight(item):
        return min(weighted_order(d.order_dict, hierarchy) for d in item.diagram_set.diagrams)

    def uses_default(item):
        spec = item.subprocess.spec
        return not spec.orders and not spec.squared_orders and len(item.subprocess.initial) == 2

    lowest = {}
    for index, _, item in found:
        if uses_default(item):
            lowest[index] = min(lowest.get(index, weight(item)), weight(item))
    kept = []
    for entry in found:
        index, _, item = entry
        if uses_default(item) and weight(item) > lowest[index]:
            log.info("subprocess %s needs WEIGHTED=%d, above the WEIGHTED<=%d of its process definition; dropped, "
                     "as MadGraph does (give coupling orders to keep it)", item.subprocess.text, weight(item),
                     lowest[index])
            continue
        kept.append(entry)
    return kept


def _warn_unmatched_vetoes(model, sub, diagram_set, vetoed) -> None:
    """A '$ x' (of the production or of a decay) that matches no s-channel line of its piece vetoes nothing:
    say so (MadGraph's '$' is signed, and a decaying particle's own line is not one of its s-channels)."""
    from madgen.diagrams.export import onshell_veto_lines
    from madgen.process.decays import flatten

    def only(decays, target):  # the chain with the '$' of ``target`` alone (None: of none)
        return tuple(replace(d, onshell_veto=d.onshell_veto if d is target else (), decays=only(d.decays, target))
                     for d in decays)

    pieces = [(sub.text, vetoed, only(sub.decays, None))]
    pieces += [(f"decay '{decay.text()}'", decay.onshell_veto, only(sub.decays, decay))
               for decay, _ in flatten(sub.decays)]
    for where, names, decays in pieces:
        production = vetoed if where == sub.text else ()
        if names and not onshell_veto_lines(model, diagram_set, production, decays):
            log.warning("subprocess %s, %s: '$ %s' matches no s-channel line of it carrying that particle toward "
                        "the final state; nothing is vetoed (MadGraph's '$' is signed: '$ w+' is a W+ that ends in "
                        "the final state)", sub.text, where, " ".join(names))


def _subprocess_identity(sub, excluded, forbidden, vetoed=()) -> tuple:
    """What makes two subprocesses the same |M|^2 and phase space: the initial legs in order, the final
    state as a multiset (its order is only the legs' order; a decay chain or required s-channel as
    written), the coupling orders and the resolved '/', '$$' and '$' particles. Generating one twice
    would count its cross section twice."""
    final = sub.text if sub.decays or sub.required_s_channels else tuple(sorted(sub.labelled_final))  # w+{0}, w+{T}
    return (sub.initial, final, frozenset(sub.spec.orders), frozenset(sub.spec.squared_orders), frozenset(excluded),
            frozenset(forbidden), frozenset(vetoed))


def diagram_data(card, model_search_paths=()) -> dict[str, dict]:
    """Module name -> diagrams as data (what ``*_diagrams.json`` holds), without the later stages."""
    model, found = generate_card_diagrams(card, model_search_paths)
    return {item.module: _diagram_data(model, item) for item in found}


def _decay_vetoes(sub) -> bool:
    from madgen.process.decays import flatten

    return any(decay.onshell_veto for decay, _ in flatten(sub.decays))


def _diagram_data(model, item: SubprocessDiagrams) -> dict:
    """The diagrams as data, with the process as written when it is more than its legs (a decay chain,
    a required s-channel, a squared-order selection)."""
    from madgen.diagrams.export import diagram_set_to_data, onshell_veto_lines

    data = diagram_set_to_data(model, item.diagram_set)
    if item.subprocess.text != item.subprocess.flat_text:
        data["process"] = item.subprocess.text
    if item.onshell_vetoed or _decay_vetoes(item.subprocess):  # '$ x': the runtime vetoes on-shell s-channel x
        lines = onshell_veto_lines(model, item.diagram_set, item.onshell_vetoed, item.subprocess.decays)
        if lines:
            data["onshell_vetoes"] = lines
    return data


def compile_card(card, model_search_paths=(), filter_helicities: bool = True) -> CompiledPackage:
    """Run every stage on a ``ProcessCard`` and return the package's files as text.

    ``filter_helicities``: drop the helicity combinations that vanish identically (MadGraph's "good
    helicities", decided at generation time by ``madgen.codegen.helicity_filter``); False keeps all."""
    from madgen.codegen.emit import SubprocessCode
    from madgen.colour.basis import colour_basis
    from madgen.ir.build import averaging_factor, build_wavefunction_graph, colour_index_dims
    from madgen.model import describe_model

    timer = _StageTimer()
    model, found = generate_card_diagrams(card, model_search_paths, timer)
    codes = []
    routine_requests = {}
    for item in found:
        sub, diagram_set = item.subprocess, item.diagram_set
        graph = timer.run("wavefunctions", build_wavefunction_graph, model, diagram_set)
        index_dims = colour_index_dims(model, diagram_set)
        colour = timer.run("colour", colour_basis, graph.colour_dims, index_dims,
                           [amp.colour for amp in graph.amplitudes])
        for request in graph.routines:
            routine_requests[request.name] = request
        codes.append(SubprocessCode(
            module=item.module, process=sub.text,
            pdg_ids=tuple(model.particle(n).pdg_code for n in sub.particles),
            n_initial=len(sub.initial),
            mass_parameters=tuple(model.particle(n).mass for n in sub.particles),
            graph=graph, colour=colour, averaging_factor=averaging_factor(model, diagram_set),
            n_diagrams=len(diagram_set.diagrams), diagrams=_diagram_data(model, item),
            colour_reps=tuple(model.particle(n).color for n in sub.particles), colour_index_dims=index_dims,
            routine_calls=card.routine_calls))
    widths = timer.run("widths", _plan_widths, model, card, codes)
    for message in auto_widths_in_selected_terms(codes, widths.auto_widths):
        log.warning("%s", message)
    routine_requests.update({request.name: request for request in widths.routines})
    files = timer.run("codegen", _render_package, card, model, codes, routine_requests, widths)
    if filter_helicities:
        filtered = timer.run("helicities", _filter_helicities, dict(files), codes)
        if filtered != codes:
            codes = filtered
            files = timer.run("codegen", _render_package, card, model, codes, routine_requests, widths)
    return CompiledPackage(card.package_name, tuple(files), tuple(c.process for c in codes),
                           tuple(c.n_diagrams for c in codes), tuple(timer.timings.items()), describe_model(model))


def _filter_helicities(files: dict[str, str], codes: list) -> list:
    """The subprocess codes with only the helicity combinations that do not vanish (unchanged where
    nothing vanishes or the filter could not run)."""
    import dataclasses

    from madgen.codegen.helicity_filter import good_helicities

    groups = kernel_groups(codes)
    first_of = {member: group[0] for group in groups for member in group}  # same code, same helicities
    outcome = good_helicities(files, [code.module for code in codes], sorted(set(first_of.values())))
    filtered = []
    for index, code in enumerate(codes):
        result = outcome[codes[first_of[index]].module]
        if result.skipped:
            log.info("%s: every helicity combination kept (%s)", code.process, result.skipped)
        if result.skipped or len(result.kept) == result.n_combinations:
            filtered.append(code)
            continue
        rows = tuple(code.graph.helicities[h] for h in result.kept)
        filtered.append(dataclasses.replace(code, graph=dataclasses.replace(code.graph, helicities=rows),
                                            helicities_before_filter=result.n_combinations))
    return filtered


def apply_card_parameters(model, card):
    """The card's ``param_card`` then ``parameters`` entries become the generated defaults."""
    from madgen.model.param_card import (ignored_dependent_entries, parameters_from_card, read_param_card,
                                         unread_entries, with_defaults)

    if card.param_card:
        param_card = read_param_card(Path(card.param_card))
        values = parameters_from_card(model, param_card)
        model = with_defaults(model, values, card.param_card)
        for message in ignored_dependent_entries(model, param_card, values) + unread_entries(model, param_card):
            log.warning("%s", message)
    if card.parameters:
        model = with_defaults(model, dict(card.parameters), f"{card.path}, key 'parameters'")
    return model


def _inputs_elsewhere(model) -> dict[str, dict]:
    """``param_card.inputs_elsewhere`` as metadata: 'MASS pdg' -> the input's name and entry, for the messages
    of ``madgen.api``."""
    from madgen.model.param_card import inputs_elsewhere

    return {f"{block} {pdg}": {"name": p.name, "entry": f"{p.lhablock} {' '.join(map(str, p.lhacode))}"}
            for (block, pdg), p in inputs_elsewhere(model).items()}


def auto_widths_in_selected_terms(codes, auto_widths) -> list[str]:
    """A warning per subprocess whose |M|^2 is a squared-order selection (``NP^2==1``) with a propagator
    width that ``widths: auto`` computes: the width holds every order of the model's decays (a Wilson
    coefficient squared too), so the selected terms are no longer of that order in the couplings (a
    'linear' NP^2==1 term is not linear in the coefficient)."""
    messages = []
    for code in codes:
        computed = sorted(set(code.graph.widths) & set(auto_widths))
        if code.graph.squared_orders and computed:
            messages.append(
                f"{code.process}: the width(s) {', '.join(computed)} in its propagators are computed ('widths: auto', "
                f"or DECAY ... auto) from every order of the model's decays, so the terms {code.graph.squared_orders} "
                "selects are not of that order in the couplings (an NP^2==1 term is not linear in a Wilson "
                "coefficient); give those widths fixed values for a linear/quadratic decomposition")
    return messages


def _plan_widths(model, card, codes):
    """The auto widths (process card ``widths``, param card ``DECAY pdg auto``) and their decays."""
    from madgen.widths import plan_auto_widths

    return plan_auto_widths(model, card, codes)


def _render_package(card, model, codes, routine_requests, widths=None):
    from madgen.codegen.emit import closing_requests, diagrams_json, render_subprocess, render_template, static_file
    from madgen.codegen.parameters import render_parameter_module
    from madgen.codegen.routines import render_routines
    from madgen.codegen.widths import render_width_files
    from madgen.lorentz.routines import build_routine
    from madgen.model.param_card import dependent_entries, write_param_card
    from madgen.widths import WidthPlan

    widths = widths or WidthPlan()
    process_text = "; ".join(card.processes)
    header = provenance_header(model, process_text, widths.auto_widths, card.precision)
    needed = set()
    for code in codes:
        needed.update(code.graph.couplings)
        needed.update(code.graph.masses)
        needed.update(code.graph.widths)
        needed.update(code.graph.parameters)
        needed.update(m for m in code.mass_parameters if m != "ZERO")
    # the masses and widths the param card lists as dependent (Process.param_card fills them in)
    needed.update(e.parameter for e in dependent_entries(model) if e.parameter != "ZERO")
    routine_requests = dict(routine_requests)
    for code in [*codes, *widths.codes]:  # the closing routines of the amplitude calls (grid helicity layout)
        routine_requests.update({request.name: request for request in closing_requests(code)})
    specs = [build_routine(routine_requests[name]) for name in sorted(routine_requests)]
    files = {
        "__init__.py": render_template(
            "package_init.py.j2", header=header, process=process_text, model=model.name,
            package=card.package_name, subprocesses=[c.module for c in codes], madgen_version=__version__,
            n_legs_hint=len(codes[0].pdg_ids),
            precision_argument="" if card.precision == "double" else f", precision={card.precision!r}"),
        "parameters.py": render_template("parameters.py.j2", header=header, body=render_parameter_module(
            model, sorted(needed), widths.auto_widths, widths.inputs)),
        "routines.py": render_template("routines.py.j2", header=header, routines=render_routines(specs)),
        "wavefunctions.py": header + "\n" + static_file("wavefunctions.py"),
        "process_api.py": header + "\n" + static_file("process_api.py"),
        # Process.param_card and the LHE's <slha> fill in the point and the computed ('auto') widths
        "param_card.dat": header + "\n" + write_param_card(model, auto_widths=widths.auto_widths),
    }
    for code in codes:
        files[f"{code.module}.py"] = render_subprocess(code, header)
        files[f"{code.module}_diagrams.json"] = diagrams_json(code.diagrams)
    files.update(render_width_files(widths, header))
    files["metadata.json"] = diagrams_json(_metadata(card, model, codes, sorted([*files, "metadata.json"]))
                                           | _width_metadata(card, widths) | _kernel_metadata(codes)
                                           | _precision_metadata(card))
    return sorted(files.items())


def kernel_groups(codes) -> tuple[tuple[int, ...], ...]:
    """Indices of subprocesses whose generated modules are the same code up to what names them
    (process string, PDG ids, module and file names, the particles in the channel table): one
    compiled |M|^2 serves them all (MadGraph's grouped P-directories, e.g. u u~ > t t~ and
    c c~ > t t~). Only candidates with the same legs, masses and diagram count are rendered again."""
    from madgen.codegen.emit import render_subprocess

    candidates: dict = {}
    for index, code in enumerate(codes):
        candidates.setdefault((len(code.pdg_ids), code.n_initial, code.mass_parameters, code.n_diagrams), []).append(index)
    groups = []
    for indices in candidates.values():
        if len(indices) == 1:
            groups.append(tuple(indices))
            continue
        by_text: dict = {}
        for index in indices:
            text = render_subprocess(_anonymous(codes[index]), header="")
            by_text.setdefault(hashlib.sha256(text.encode()).hexdigest(), []).append(index)
        groups += [tuple(group) for group in by_text.values()]
    return tuple(sorted(groups))


def _anonymous(code):
    """The subprocess code with what names it replaced by neutral values (signs of the PDG ids kept:
    they tell quarks from antiquarks)."""
    import dataclasses

    def blank(entry):
        if isinstance(entry, dict):
            return {k: (0 if k in ("pdg", "final_pdg") and v is not None else "" if k in ("particle", "particles",
                                                                                          "vertex") else blank(v))
                    for k, v in entry.items()}
        if isinstance(entry, list):
            return [blank(v) for v in entry]
        return entry

    signs = tuple((pdg > 0) - (pdg < 0) for pdg in code.pdg_ids)
    return dataclasses.replace(code, module="P0_kernel", process="kernel", pdg_ids=signs, diagrams=blank(code.diagrams))


def _kernel_metadata(codes) -> dict:
    """``kernel_groups`` when some subprocesses share their code (absent otherwise, so that such
    packages stay byte-identical)."""
    groups = kernel_groups(codes) if len(codes) > 1 else ()
    return {"kernel_groups": [list(g) for g in groups]} if any(len(g) > 1 for g in groups) else {}


def _precision_metadata(card) -> dict:
    """The package's default precision when it is not double (absent otherwise, so that such packages
    stay byte-identical)."""
    return {} if card.precision == "double" else {"precision": card.precision}


def provenance_header(model, process_text: str, auto_widths=None, precision: str = "double") -> str:
    restriction = model.restriction or "none"
    header = (f"# Generated by madgen {__version__}; do not edit (regenerate with `madgen generate`).\n"
              f"# Model: {model.name} (UFO '{Path(model.source).name}', restriction: {restriction}, "
              f"sha256 {model.fingerprint[:16] or 'unknown'})\n"
              f"# Process: {process_text}\n")
    if auto_widths:
        listed = ", ".join(f"{width} ({particle})" for width, particle in auto_widths.items())
        header += f"# Auto widths (computed at tree level from the model's decays, widths.py): {listed}\n"
    if precision != "double":
        header += (f"# Precision: {precision} (complex64/float32 |M|^2 by default; "
                   "process.with_precision('double') for double, docs/precision.md)\n")
    return header


def _width_metadata(card, widths) -> dict:
    """The card's ``widths`` request and the computed widths (absent without any, so that such
    packages stay byte-identical)."""
    data = {"widths": list(card.widths)} if card.widths else {}
    return data | ({"auto_widths": widths.metadata()} if widths.widths else {})


def _metadata(card, model, codes, files) -> dict:
    from madgen.process.card import card_fingerprint

    return {
        "generator": "madgen",
        "madgen_version": __version__,
        "model": model.name,
        "model_spec": card.model,
        "model_source": Path(model.source).name,
        "model_fingerprint": model.fingerprint,
        "model_directory": model.directory,
        "model_conversion_cache": model.conversion_cache or None,
        "restriction": model.restriction,
        # external parameters the restriction fixed and removed: named when a run or reweighting sets one
        "fixed_by_restriction": {f.name: {"entry": f"{f.lhablock} {' '.join(map(str, f.lhacode))}", "value": f.value}
                                 for f in model.fixed_entries},
        # the external inputs that are a particle's mass or width although its MASS/DECAY entry is not theirs
        # (SMEFTsim's MW scheme: MW at SMINPUTS 1), named when a run spells them 'MASS 24'
        "inputs_elsewhere": _inputs_elsewhere(model),
        "process": list(card.processes),
        "subprocesses": [{"module": c.module, "process": c.process, "pdg_ids": list(c.pdg_ids),
                          "n_diagrams": c.n_diagrams, "n_amplitude_terms": len(c.graph.amplitudes),
                          "n_colour_basis": len(c.colour.matrix), "n_helicities": len(c.graph.helicities),
                          "n_helicity_combinations": c.helicities_before_filter or len(c.graph.helicities)}
                         for c in codes],
        "parameters": dict(card.parameters),
        "card_fingerprint": card_fingerprint(card),
        "files": list(files),
    }


def _subprocess_tag(sub) -> str:
    from madgen.process.card import process_tag

    return process_tag(sub.flat_text)


PACKAGE_KEEPS = ("Events",)
"""Entries of an existing package carried over when it is regenerated with --force (its runs)."""

_PACKAGE_OWNED = ("diagrams", "__pycache__")
"""Entries madgen writes into a package besides the generated files."""


def write_package(package: CompiledPackage, output_dir: Path, force: bool = False,
                  extra: dict[str, bytes] | None = None) -> Path:
    """Write the package as a whole (``madgen.output.staged_directory``): never a mix of old and new
    files, never over anything madgen did not generate. ``extra`` maps further relative paths
    (e.g. ``diagrams/d1.svg``) to bytes. With ``force`` an existing package is replaced, its
    ``Events`` (runs) carried over."""
    from madgen.output import PACKAGE, default_file_mode, staged_directory

    output_dir = Path(output_dir)
    _refuse_foreign_entries(output_dir, package)
    with staged_directory(output_dir, PACKAGE, force=force, keep=PACKAGE_KEEPS) as staging:
        for name, text in package.files:
            (staging / name).write_text(text)
        for name, data in (extra or {}).items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        for path in staging.rglob("*"):
            if path.is_file():
                path.chmod(default_file_mode())
    return output_dir


def _refuse_foreign_entries(output_dir: Path, package: CompiledPackage) -> None:
    """An existing package holding files madgen did not write (notes, plots) is not replaced."""
    import json

    from madgen.output import OWNER_FILE, owned_kind

    if not output_dir.is_dir() or owned_kind(output_dir) is None:
        return
    try:
        listed = set(json.loads((output_dir / "metadata.json").read_text()).get("files", []))
    except (OSError, ValueError):
        listed = set()
    generated = listed | {name for name, _ in package.files} | {OWNER_FILE, *PACKAGE_KEEPS, *_PACKAGE_OWNED}
    foreign = sorted(p.name for p in output_dir.iterdir()
                     if p.name not in generated and not (not listed and _looks_generated(p.name)))
    if foreign:
        raise OutputError(f"{output_dir} is a madgen package but also holds {', '.join(foreign)}, which madgen "
                          "did not write; move them elsewhere before regenerating it, or choose another output path")


def _looks_generated(name: str) -> bool:
    """Names of generated files, for packages written before metadata listed them."""
    return name.endswith((".py", "_diagrams.json")) or name == "metadata.json"


def fingerprint_files(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).name.encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()
