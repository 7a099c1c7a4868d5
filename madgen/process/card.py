"""``process.yaml``: the card that says which model and process to compile.

Keys: ``model`` (required; a UFO name with optional MadGraph restriction suffix, e.g.
``sm``, ``sm-no_b_mass``, ``sm-full``, or a path, relative to the card), ``process`` (required; a
MadGraph process string or a list of them), ``multiparticles`` (optional
``{label: [particles]}`` or ``{label: "a b c"}`` defines), ``name`` or ``output``
(optional output package name / directory), ``param_card`` (optional path to a
param_card.dat whose values become the defaults), ``parameters`` (optional
``{UFO external parameter name: value}`` overrides), ``widths`` (optional: widths madgen computes
at tree level from the model's decays as functions of the parameters; ``auto`` for every width
the process uses in a propagator, a list of particle names ``[t, z, w+]``, or a mapping
``{t: auto, z: auto}``; see docs/widths.md), ``precision`` (optional: ``double``, the default, or
``single``: the precision the package's kernel computes |M|^2 in unless told otherwise, as
MadGraph's CUDACPP FPTYPE; see docs/precision.md), ``routine_calls`` (optional: ``auto``, the
default, ``separate`` or ``stacked``: one helicity-routine call per current, the fastest kernels, or
one call per group of like currents on stacked arrays, the fastest compiles; ``auto`` stacks
processes with at least 200 currents and amplitude terms (``STACKED_FROM_CALLS``); see madgen.codegen.stacking).

Paths in a card (``model`` when written as a path, ``output``, ``param_card``) are relative to
the card's directory; the default output ``generated/<name>`` is relative to the working directory.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from madgen.cards import is_path
from madgen.contract import PRECISIONS  # complex128/float64 or complex64/float32 kernels
from madgen.errors import CardError

KNOWN_KEYS = ("model", "process", "multiparticles", "name", "output", "param_card", "parameters", "widths",
              "precision", "routine_calls")

ROUTINE_CALL_MODES = ("auto", "separate", "stacked")
"""``routine_calls``: how the generated kernel calls its helicity routines (madgen.codegen.stacking)."""


AUTO = "auto"
"""``widths: auto``: every width the generated process uses in a propagator (MadGraph's ``DECAY pdg auto``)."""


@dataclass(frozen=True)
class ProcessCard:
    path: str  # where the card was read from ("<string>" if not a file)
    model: str
    processes: tuple[str, ...]
    multiparticles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    name: str | None = None
    output: str | None = None
    param_card: str | None = None
    parameters: tuple[tuple[str, float], ...] = ()
    widths: tuple[str, ...] = ()  # particle names whose widths are computed, or (AUTO,) for all used
    precision: str = "double"  # the package's default kernel precision (PRECISIONS)
    routine_calls: str = "auto"  # ROUTINE_CALL_MODES

    @property
    def package_name(self) -> str:
        """Name of the generated package: the card's ``name``, else derived from the process."""
        if self.name:
            return self.name
        if self.output:
            return python_identifier(Path(self.output).name)
        return process_tag(self.processes[0])


def card_fingerprint(card: ProcessCard) -> str:
    """sha256 of what a package is generated from: the card's model, processes, multiparticles,
    parameters, widths, precision and routine calls, and the contents of its param_card (not its path).
    A package records it (metadata.json), so that ``madgen launch`` refuses a package generated from
    another version of the card (a param_card or multiparticles edited since) instead of running it."""
    import hashlib
    import json

    param_card = Path(card.param_card) if card.param_card else None
    inputs = {"model": card.model, "processes": list(card.processes),
              "multiparticles": [[label, list(names)] for label, names in card.multiparticles],
              "parameters": [[name, value] for name, value in card.parameters], "widths": list(card.widths),
              "precision": card.precision, "routine_calls": card.routine_calls,
              "param_card": hashlib.sha256(param_card.read_bytes()).hexdigest()
              if param_card and param_card.is_file() else None}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def process_tag(process: str) -> str:
    """MadGraph-like identifier for a process: ``g g > t t~`` → ``gg_ttx`` (the production process
    of a decay chain: ``e+ e- > t t~, t > b w+`` → ``epem_ttx``); always a Python identifier (it
    names the package), whatever follows the particles (orders, '/', '$$')."""
    from madgen.process.syntax import tokenize

    text = process.split("@")[0].split(",")[0]
    particles = []
    for token in tokenize(text):
        if token in ("/", "$", "$$") or any(c in token for c in "=<^"):
            break
        particles.append(token)
    sides = " ".join(particles).split(">")
    parts = ["".join(_token_tag(t) for t in side.split()) for side in sides]
    return python_identifier("_".join(p for p in parts if p), fallback="process")


def python_identifier(text: str, fallback: str = "package") -> str:
    """``text`` as a Python identifier, for a package named after a directory or a process:
    other characters become '_' (``my-pkg.v2`` -> ``my_pkg_v2``); a leading digit or a keyword gets a
    prefix (``2mu`` -> ``package_2mu``)."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or fallback
    return f"{fallback}_{name}" if name[0].isdigit() or keyword.iskeyword(name) else name


def _token_tag(token: str) -> str:
    """``t~`` -> ``tx``, ``w+`` -> ``wp``, a polarised ``w+{0}`` -> ``wp0``."""
    return token.replace("~", "x").replace("+", "p").replace("-", "m").replace("{", "").replace("}", "")


def read_process_card(path: str | Path) -> ProcessCard:
    """Read and validate ``process.yaml``; errors name the file and key."""
    from madgen.cards import read_card_text

    return parse_process_card(read_card_text(path, CardError, "a process card (see README, 'process.yaml')"),
                              str(path))


def parse_process_card(text: str, source: str = "<string>") -> ProcessCard:
    """Parse and validate a process card: ``process.yaml``, or MadGraph's commands (``proc_card_mg5.dat``,
    ``madgen.process.madgraph_card``)."""
    from madgen.cards import load_card
    from madgen.process.madgraph_card import is_madgraph_proc_card, madgraph_proc_card

    data = madgraph_proc_card(text, source) if is_madgraph_proc_card(text) else load_card(text, source, CardError)
    if not isinstance(data, dict):
        raise CardError(f"{source}: expected a mapping with at least 'model' and 'process', got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - set(KNOWN_KEYS))
    if unknown:
        raise CardError(f"{source}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
                        f"allowed keys: {', '.join(KNOWN_KEYS)}")
    for required in ("model", "process"):
        if required not in data or data[required] in (None, ""):
            raise CardError(f"{source}: missing required key '{required}'")
    model = data["model"]
    if not isinstance(model, str):
        raise CardError(f"{source}, key 'model': expected a model name such as 'sm', got {model!r}")
    if source != "<string>" and is_path(model):
        # a model given as a path is relative to the card, like param_card
        model = str((Path(source).parent / Path(model).expanduser()).resolve())
    processes = data["process"]
    if isinstance(processes, str):
        processes = [processes]
    if not isinstance(processes, list) or not processes or not all(isinstance(p, str) for p in processes):
        raise CardError(f"{source}, key 'process': expected a process string or a list of them, got {processes!r}")
    multiparticles = _read_multiparticles(data.get("multiparticles"), source)
    parameters = _read_parameters(data.get("parameters"), source)
    for key in ("name", "output", "param_card"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise CardError(f"{source}, key '{key}': expected a string, got {value!r}")
    name = data.get("name")
    if name is not None and (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or keyword.iskeyword(name)):
        raise CardError(f"{source}, key 'name': '{name}' is not a valid Python package name "
                        "(letters, digits and '_', not starting with a digit, not a Python keyword)")
    param_card = data.get("param_card")
    if param_card is not None and source != "<string>":
        param_card = str((Path(source).parent / Path(param_card).expanduser()).resolve())
    output = data.get("output")
    if output is not None and source != "<string>":
        output = str((Path(source).parent / Path(output).expanduser()).resolve())
    return ProcessCard(source, model, tuple(processes), multiparticles, name, output, param_card, parameters,
                       read_widths(data.get("widths"), source), read_precision(data.get("precision"), source),
                       read_routine_calls(data.get("routine_calls"), source))


def read_precision(value, source) -> str:
    """The card's ``precision``: ``double`` (also when absent) or ``single``."""
    return _read_choice(value, source, "precision", PRECISIONS, "complex128 or complex64 matrix elements, "
                        "docs/precision.md")


def read_routine_calls(value, source) -> str:
    """The card's ``routine_calls``: ``auto`` (also when absent), ``separate`` or ``stacked``."""
    return _read_choice(value, source, "routine_calls", ROUTINE_CALL_MODES, "one helicity-routine call per "
                        "current, or stacked calls that compile faster")


def _read_choice(value, source, key: str, choices: tuple[str, ...], meaning: str) -> str:
    """A card key that takes one of ``choices`` (the first when absent), else a CardError naming it."""
    if value is None:
        return choices[0]
    if value not in choices:
        raise CardError(f"{source}, key '{key}': expected one of {', '.join(choices)} ({meaning}), got {value!r}")
    return value


def _read_multiparticles(value, source):
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise CardError(f"{source}, key 'multiparticles': expected a mapping label -> list of particles")
    result = []
    for label, members in value.items():
        if isinstance(members, str):
            members = members.split()
        if not isinstance(members, list) or not members:
            raise CardError(f"{source}, key 'multiparticles.{label}': expected a list of particle names")
        result.append((str(label), tuple(str(m) for m in members)))
    return tuple(result)


def _read_parameters(value, source):
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise CardError(f"{source}, key 'parameters': expected a mapping NAME: value")
    result = []
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            hint = ""
            if isinstance(number, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*", number):
                mantissa, exponent = number.strip().lower().split("e")
                hint = (f" (YAML reads numbers like {number.strip()} as text: write "
                        f"{float(mantissa):.1f}e{'' if exponent[0] in '+-' else '+'}{exponent})")
            if isinstance(number, str) and number.strip().lower() == "auto":
                hint = (" (a width computed from the model's decays is asked for with 'widths: [particle]' or "
                        "'widths: auto', or 'DECAY pdg auto' in the param_card: docs/widths.md)")
            raise CardError(f"{source}, key 'parameters.{name}': expected a number, got {number!r}{hint}")
        result.append((str(name), float(number)))
    return tuple(result)


def read_widths(value, source) -> tuple[str, ...]:
    """The card's ``widths``: ``auto``, a list of particle names, or ``{name: auto}``.

    Returns ``(AUTO,)``, the particle names (checked against the model later), or ``()``.
    A number for a width belongs under ``parameters`` (it is a fixed input, not computed).
    """
    where = f"{source}, key 'widths'"
    if value is None:
        return ()
    if isinstance(value, str):
        if value.strip().lower() != AUTO:
            raise CardError(f"{where}: expected 'auto', a list of particle names or a mapping "
                            f"{{particle: auto}}, got {value!r}")
        return (AUTO,)
    if isinstance(value, dict):
        for particle, setting in value.items():
            if not (isinstance(setting, str) and setting.strip().lower() == AUTO):
                raise CardError(f"{where}: '{particle}: {setting!r}': the only setting is 'auto' (a width "
                                "computed from the model); give a fixed width under 'parameters' instead, "
                                "e.g. parameters: {WT: 1.5}")
        value = list(value)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CardError(f"{where}: expected 'auto', a list of particle names or a mapping "
                        f"{{particle: auto}}, got {value!r}")
    names = tuple(dict.fromkeys(v.strip() for v in value))
    if any(n.lower() == AUTO for n in names):
        raise CardError(f"{where}: 'auto' stands alone (widths: auto); a list names particles, e.g. [t, z]")
    return names
