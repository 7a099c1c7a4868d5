"""Import a UFO model and convert it into madgen's frozen types (no restriction yet).

A UFO model is a Python package (``particles.py``, ``parameters.py``, ``couplings.py``,
``lorentz.py``, ``vertices.py``, ``coupling_orders.py``, ``function_library.py``,
``propagators.py``...) whose modules import each other relatively (``from . import
particles as P``). We import it either as an installed package (``ufo_sm``) or from a
directory under a unique module name -- a Python-2 model from its converted copy
(``madgen.model.conversion``) -- then read its ``all_*`` lists into ``Model``.

Like MadGraph in unitary gauge at tree level, ghosts and Goldstone bosons and every
vertex containing one are dropped; counterterm vertices, CT parameters and couplings no
kept vertex uses (``CT_couplings.py``, loop-only objects) are ignored.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import sympy

from madgen.errors import ModelError
from madgen.model.conversion import ConvertedModel, converted_copy, python2_reasons
from madgen.model.expressions import BUILTIN_FUNCTIONS, model_function, parse_expression
from madgen.model.locate import UFOLocation, locate_ufo, where_looked  # noqa: F401 (re-exported)
from madgen.model.propagators import check_form_factors, convert_propagators
from madgen.model.types import (
    ZERO,
    Coupling,
    CouplingOrder,
    LorentzStructure,
    Model,
    Parameter,
    Particle,
    Spin,
    Vertex,
    VertexTerm,
    parameter_symbol,
)


log = logging.getLogger("madgen")


@dataclass(frozen=True)
class ImportedUFO:
    """An imported UFO package and, for a Python-2 model, its converted copy."""

    module: object
    conversion: ConvertedModel | None = None


def source_fingerprint(directory: Path, extra: Sequence[Path] = ()) -> str:
    """sha256 over the model's ``*.py`` files (sorted by name) and ``extra`` files."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.py")) + list(extra):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


# --------------------------------------------------------------------------- importing


def import_ufo(location: UFOLocation, fingerprint: str = "") -> ImportedUFO:
    """Import the UFO package; any failure becomes a ``ModelError`` naming file and line.

    A Python-2 model directory is imported from its Python-3 copy (converted once, cached);
    nothing is ever written into the model's directory (no ``__pycache__`` either).
    """
    if location.package is not None:
        return ImportedUFO(_import_installed(location))
    init = location.directory / "__init__.py"
    if not init.is_file():
        raise ModelError(
            f"{location.directory} is not a UFO model: it has no __init__.py; "
            f"point madgen at the model's directory (the one holding particles.py)"
        )
    fingerprint = fingerprint or source_fingerprint(location.directory)
    conversion = None
    code_directory = location.directory
    if python2_reasons(location.directory):
        conversion = converted_copy(location.directory, fingerprint)
        log.info("%s", conversion.notice(location.directory.name))
        code_directory = conversion.directory
    safe = re.sub(r"\W", "_", location.directory.name)
    module_name = f"_madgen_ufo_{safe}_{fingerprint[:16]}"
    if module_name in sys.modules:
        return ImportedUFO(sys.modules[module_name], conversion)
    spec = importlib.util.spec_from_file_location(
        module_name, code_directory / "__init__.py", submodule_search_locations=[str(code_directory)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _bytecode_written(conversion is not None):
            spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        _forget_modules(module_name)
        moved = {str(conversion.directory): str(location.directory)} if conversion else {}
        raise ModelError(_import_failure(exc, location, moved)) from None
    return ImportedUFO(module, conversion)


def _import_installed(location: UFOLocation) -> object:
    """An installed UFO package, from the directory ``locate_ufo`` found (never another one)."""
    name = location.package
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve().parent != location.directory:
            raise ModelError(f"a module {name!r} from {getattr(loaded, '__file__', '?')} is already imported, "
                             f"not the UFO model in {location.directory}; give the model as a path instead")
        return loaded
    spec = importlib.util.spec_from_file_location(
        name, location.directory / "__init__.py", submodule_search_locations=[str(location.directory)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - model code may raise anything
        if isinstance(exc, KeyboardInterrupt):
            raise
        _forget_modules(name)
        raise ModelError(_import_failure(exc, location)) from None
    return module


@contextlib.contextmanager
def _bytecode_written(allowed: bool):
    """Python writes ``__pycache__`` next to imported files: only allowed in our own cache."""
    previous = sys.dont_write_bytecode
    sys.dont_write_bytecode = previous or not allowed
    try:
        yield
    finally:
        sys.dont_write_bytecode = previous


def _forget_modules(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


def _import_failure(exc: BaseException, location: UFOLocation, moved: dict[str, str] | None = None) -> str:
    """'file:line: Error: message' for the deepest frame inside the model directory.

    ``moved`` maps a converted copy's directory to the model's own (same line numbers).
    """
    moved = moved or {}
    file, line = None, None
    if isinstance(exc, SyntaxError) and exc.filename:
        file, line = exc.filename, exc.lineno
    else:
        directories = [str(location.directory), *moved]
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename.startswith(tuple(directories)):
                file, line = frame.filename, frame.lineno
    for copy, original in moved.items():
        if file and file.startswith(copy):
            file = original + file[len(copy):]
    where = f"{file}:{line}" if file else str(location.directory)
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return (
        f"cannot import UFO model {location.source}: {where}: {type(exc).__name__}: {message}. "
        f"Fix the model file (or choose another model)."
    )


# --------------------------------------------------------------------------- converting


@functools.lru_cache(maxsize=64)
def _definition_index(path: Path, mtime_ns: int) -> dict[str, int]:
    """name -> line number of every ``name = '...'`` in a UFO file (first occurrence)."""
    index: dict[str, int] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return index
    for number, text in enumerate(lines, start=1):
        for match in _NAME_ASSIGNMENT.finditer(text):
            index.setdefault(match.group(1), number)
    return index


_NAME_ASSIGNMENT = re.compile(r"\bname\s*=\s*['\"]([^'\"]*)['\"]")


def _definition_line(path: Path, name: str) -> str:
    """'file:line' of the UFO object called ``name`` (best effort, for messages)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return str(path)
    line = _definition_index(path, mtime).get(str(name))
    return f"{path}:{line}" if line else str(path)


def _name_of(obj) -> str:
    name = getattr(obj, "name", obj)
    return ZERO if name in ("ZERO", None, 0) else str(name)


def is_ghost(ufo_particle) -> bool:
    """Ghosts: negative UFO spin code or non-zero GhostNumber."""
    return ufo_particle.spin < 0 or bool(getattr(ufo_particle, "GhostNumber", 0))


def is_goldstone(ufo_particle) -> bool:
    """Goldstone bosons (UFO spells the flag ``goldstoneboson`` or ``GoldstoneBoson``;
    old ``object_library.anti()`` negates it to -1 for the antiparticle)."""
    return any(bool(getattr(ufo_particle, attr, False))
               for attr in ("goldstoneboson", "GoldstoneBoson", "goldstone"))


def convert_particle(p, where: str, propagator: str | None = None) -> Particle:
    """One UFO particle (not a ghost) as a frozen ``Particle``."""
    try:
        spin = Spin(p.spin)
    except ValueError:
        raise ModelError(f"{where}: particle {p.name} has spin code {p.spin!r}; "
                         f"UFO spin codes are 1..5 (2s+1)") from None
    return Particle(
        name=str(p.name),
        antiname=str(p.antiname),
        pdg_code=int(p.pdg_code),
        spin=spin,
        color=int(p.color),
        mass=_name_of(p.mass),
        width=_name_of(p.width),
        charge=float(p.charge),
        line=str(getattr(p, "line", None) or "straight"),
        ghost=False,
        goldstone=is_goldstone(p),
        propagating=bool(getattr(p, "propagating", True)),
        propagator=propagator,
    )


def _model_functions(module, directory: Path) -> dict[str, object]:
    """sympy versions of the model's function_library entries madgen does not know."""
    functions: dict[str, object] = {}
    where = str(directory / "function_library.py")
    for f in getattr(module, "all_functions", []) or []:
        if f.name in BUILTIN_FUNCTIONS:
            continue
        try:
            functions[f.name] = model_function(f.name, f.arguments, f.expr, where=where)
        except ModelError as exc:
            functions[f.name] = _failing_function(f.name, str(exc))
    return functions


def _failing_function(name: str, message: str):
    def call(*_args):
        raise ModelError(f"function {name} cannot be used: {message}")

    return call


def _dependency_order(params: Sequence[Parameter]) -> list[Parameter]:
    """Internal parameters in dependency order; stable (UFO order among the ready ones)."""
    names = {p.name for p in params}
    deps = {p.name: {s.name for s in p.value.free_symbols} & names - {p.name} for p in params}
    self_refs = [p.name for p in params if p.symbol in p.value.free_symbols]
    if self_refs:
        raise ModelError(f"internal parameter(s) {self_refs} depend on themselves")
    ordered: list[Parameter] = []
    done: set[str] = set()
    remaining = list(params)
    while remaining:
        ready = [p for p in remaining if deps[p.name] <= done]
        if not ready:
            cycle = sorted(p.name for p in remaining)
            raise ModelError(f"internal parameters form a dependency cycle: {cycle}")
        first = ready[0]
        ordered.append(first)
        done.add(first.name)
        remaining.remove(first)
    return ordered


def convert_parameters(module, directory: Path, functions) -> tuple[list[Parameter], dict]:
    """External parameters (UFO defaults) then internal ones (sympy, dependency order).

    Returns the list and the symbol table (name -> sympy symbol; ``ZERO`` -> 0).
    """
    path = directory / "parameters.py"
    ufo_params = [p for p in module.all_parameters if p.name != "ZERO"]
    symbols: dict[str, object] = {"ZERO": sympy.Integer(0)}
    for p in ufo_params:
        if p.type not in ("real", "complex"):
            raise ModelError(f"{_definition_line(path, p.name)}: parameter {p.name} has type "
                             f"{p.type!r}; UFO types are 'real' and 'complex'")
        symbols[p.name] = parameter_symbol(p.name, p.type)
    externals, internals = [], []
    for p in ufo_params:
        texname = str(getattr(p, "texname", "") or "")
        if p.nature == "external":
            if p.lhablock is None or p.lhacode is None:
                raise ModelError(f"{_definition_line(path, p.name)}: external parameter {p.name} "
                                 f"needs lhablock and lhacode")
            try:
                value = float(p.value)
            except (TypeError, ValueError):
                raise ModelError(f"{_definition_line(path, p.name)}: external parameter {p.name} "
                                 f"has non-numeric default {p.value!r}") from None
            externals.append(Parameter(p.name, "external", p.type, value,
                                       lhablock=str(p.lhablock).upper(),
                                       lhacode=tuple(int(c) for c in p.lhacode),
                                       texname=texname))
        elif p.nature == "internal":
            expr = parse_expression(p.value, symbols, functions=functions,
                                    what=f"parameter {p.name}",
                                    where=_definition_line(path, p.name))
            internals.append(Parameter(p.name, "internal", p.type, expr, texname=texname))
        else:
            raise ModelError(f"{_definition_line(path, p.name)}: parameter {p.name} has nature "
                             f"{p.nature!r}; expected 'external' or 'internal'")
    _check_symbols(internals, symbols, path)
    return externals + _dependency_order(internals), symbols


def _check_symbols(items, symbols, path) -> None:
    known = {s for s in symbols.values() if isinstance(s, sympy.Symbol)}
    for item in items:
        unknown = item.value.free_symbols - known
        if unknown:
            raise ModelError(f"{_definition_line(path, item.name)}: {item.name} uses "
                             f"{sorted(map(str, unknown))}, which are not parameters of the model")


def _orders_tuple(order: dict) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(k), int(v)) for k, v in dict(order).items()))


def convert_couplings(module, directory: Path, symbols, functions, used: set[str] | None = None) -> list[Coupling]:
    """The couplings (all, or those named in ``used``: CT and loop-only ones are skipped)."""
    path = directory / "couplings.py"
    result = []
    for c in module.all_couplings:
        if used is not None and str(c.name) not in used:
            continue
        expr = parse_expression(c.value, symbols, functions=functions,
                                what=f"coupling {c.name}", where=_definition_line(path, c.name))
        result.append(Coupling(str(c.name), expr, _orders_tuple(c.order)))
    _check_symbols(result, symbols, path)
    return result


def _vertex_terms(v, where: str) -> list[tuple[VertexTerm, object]]:
    """(term, UFO coupling) pairs, keys sorted; UFO 2.0 coupling lists split into terms."""
    terms = []
    for key in sorted(v.couplings):
        colour_index, lorentz_index = key
        entry = v.couplings[key]
        for c in entry if isinstance(entry, (list, tuple)) else [entry]:
            try:
                lorentz = v.lorentz[lorentz_index].name
                _ = v.color[colour_index]
            except IndexError:
                raise ModelError(f"{where}: vertex {v.name} coupling key {key} points past its "
                                 f"{len(v.color)} colour / {len(v.lorentz)} Lorentz structures") from None
            terms.append((VertexTerm(int(colour_index), str(lorentz), str(c.name)), c))
    return terms


def convert_vertex(v, where: str) -> list[Vertex]:
    """A UFO vertex as one ``Vertex`` per distinct coupling-order set (``V_12``, ``V_12__1``...)."""
    groups: dict[tuple, list[VertexTerm]] = {}
    for term, coupling in _vertex_terms(v, where):
        groups.setdefault(_orders_tuple(coupling.order), []).append(term)
    particles = tuple(str(p.name) for p in v.particles)
    colour = tuple(str(c) for c in v.color)
    return [
        Vertex(name=str(v.name) if i == 0 else f"{v.name}__{i}", particles=particles,
               colour=colour, terms=tuple(terms), orders=orders)
        for i, (orders, terms) in enumerate(groups.items())
    ]


def convert_orders(module, couplings: Sequence[Coupling]) -> tuple[CouplingOrder, ...]:
    """The model's coupling orders; without coupling_orders.py: QCD 1, others 2 (as MG)."""
    declared = getattr(module, "all_orders", None)
    if declared:
        return tuple(CouplingOrder(str(o.name), int(getattr(o, "hierarchy", 1)),
                                   int(getattr(o, "expansion_order", 99))) for o in declared)
    names = sorted({name for c in couplings for name, _ in c.orders})
    return tuple(CouplingOrder(n, 1 if n == "QCD" else 2, 99) for n in names)


def _check_vertex_spins(module, vertices: Sequence[Vertex], spin_codes: dict[str, int], vertex_file: Path) -> None:
    """Every Lorentz structure of a vertex must be written for the vertex's particles: as many as its
    ``spins`` and of those spins in that order (a muon declared spin 3 on an FFV vertex, or a
    three-point structure on a four-point vertex, would otherwise give wrong code without a word)."""
    declared = {str(lz.name): tuple(int(s) for s in lz.spins) for lz in module.all_lorentz}
    for v in vertices:
        codes = tuple(spin_codes[p] for p in v.particles)
        for name in dict.fromkeys(t.lorentz for t in v.terms):
            spins = declared.get(name)
            if spins is not None and spins != codes:
                raise ModelError(
                    f"{_definition_line(vertex_file, v.name.split('__')[0])}: vertex {v.name} of particles "
                    f"{list(v.particles)} (spin codes {list(codes)}) uses Lorentz structure {name}, written for "
                    f"spins {list(spins)}; the vertex's particles or its structure are wrong in the model")


def _check_lorentz_syntax(structures: Sequence[LorentzStructure], lorentz_file: Path) -> None:
    """A Lorentz structure string that is not a Python expression is named with its file and line here,
    before the Lorentz stage tries to evaluate it."""
    for lz in structures:
        try:
            compile(lz.structure, str(lorentz_file), "eval")
        except SyntaxError as exc:
            raise ModelError(f"{_definition_line(lorentz_file, lz.name)}: Lorentz structure {lz.name}: "
                             f"{lz.structure!r} is not an expression ({exc.msg})") from None


def used_lorentz(module, vertices: Sequence[Vertex]) -> tuple[LorentzStructure, ...]:
    """Lorentz structures used by ``vertices``, in UFO order."""
    used = {t.lorentz for v in vertices for t in v.terms}
    return tuple(
        LorentzStructure(str(lz.name), tuple(int(s) for s in lz.spins), str(lz.structure))
        for lz in module.all_lorentz if lz.name in used
    )


def _kept_vertices(module, dropped: set[str]) -> list:
    """UFO vertices without ghosts or Goldstone bosons."""
    return [v for v in module.all_vertices if not any(str(p.name) in dropped for p in v.particles)]


def convert_ufo(module, location: UFOLocation, name: str, fingerprint: str = "",
                conversion: ConvertedModel | None = None) -> Model:
    """The unrestricted ``Model`` of an imported UFO module (external values: UFO defaults)."""
    directory = location.directory
    for attr in ("all_particles", "all_parameters", "all_couplings", "all_vertices", "all_lorentz"):
        if not hasattr(module, attr):
            raise ModelError(f"{directory / '__init__.py'}: UFO model {location.source} defines no "
                             f"{attr}; is this a UFO model directory?")
    particle_file = directory / "particles.py"
    dropped = {str(p.name) for p in module.all_particles if is_ghost(p) or is_goldstone(p)}
    kept = {str(p.name) for p in module.all_particles} - dropped
    functions = _model_functions(module, directory)
    parameters, symbols = convert_parameters(module, directory, functions)
    _check_unique([p.name for p in parameters], "parameter", directory / "parameters.py")
    propagator_of, propagators = convert_propagators(module, kept, [p.name for p in parameters], directory)
    particles = [convert_particle(p, _definition_line(particle_file, p.name), propagator_of.get(str(p.name)))
                 for p in module.all_particles if str(p.name) in kept]
    _check_unique([p.name for p in particles], "particle", particle_file)
    ufo_vertices = _kept_vertices(module, dropped)
    used_couplings = {str(c.name) for v in ufo_vertices for entry in v.couplings.values()
                      for c in (entry if isinstance(entry, (list, tuple)) else [entry])}
    check_form_factors(module, ufo_vertices, [c for c in module.all_couplings if str(c.name) in used_couplings],
                       directory)
    couplings = convert_couplings(module, directory, symbols, functions, used_couplings)
    vertex_file = directory / "vertices.py"
    vertices = []
    for v in ufo_vertices:
        vertices.extend(convert_vertex(v, _definition_line(vertex_file, v.name)))
    known = {p.name for p in particles}
    for v in vertices:
        unknown = [p for p in v.particles if p not in known]
        if unknown:
            raise ModelError(f"{_definition_line(vertex_file, v.name)}: vertex {v.name} uses "
                             f"particle(s) {unknown} not in all_particles")
    _check_vertex_spins(module, vertices, {p.name: p.spin.value for p in particles}, vertex_file)
    lorentz = used_lorentz(module, vertices)
    _check_lorentz_syntax(lorentz, directory / "lorentz.py")
    return Model(
        name=name,
        source=location.source,
        restriction=None,
        particles=tuple(particles),
        parameters=tuple(parameters),
        couplings=tuple(couplings),
        lorentz=lorentz,
        vertices=tuple(vertices),
        orders=convert_orders(module, couplings),
        fingerprint=fingerprint,
        propagators=propagators,
        directory=str(directory),
        conversion_cache=str(conversion.directory) if conversion else "",
        converted_files=conversion.converted if conversion else (),
    )


def _check_unique(names: Sequence[str], what: str, path: Path) -> None:
    seen, dups = set(), []
    for n in names:
        if n in seen:
            dups.append(n)
        seen.add(n)
    if dups:
        raise ModelError(f"{path}: {what} name(s) defined twice: {sorted(set(dups))}")
