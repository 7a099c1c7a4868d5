"""MadGraph's process card (``proc_card_mg5.dat``, the commands MadGraph ran) read as a madgen process card.

The commands become the keys of ``process.yaml``: ``import model NAME[-restriction]`` the ``model``,
``define LABEL = ...`` the ``multiparticles``, ``generate`` and ``add process`` the ``process`` list,
``output [format] NAME`` the ``output`` directory (without ``import model``, the sm, as MadGraph starts
with it). Paths (``output``, a model given as a path) are taken from where madgen runs, as MadGraph takes
them, not from the card's directory as in process.yaml. MadGraph's ``set`` options are read where madgen
does what their value says (``gauge unitary``, ``complex_mass_scheme False``, ``zerowidth_tchannel
True``, ...) or where they only steer how MadGraph organises its output (``group_subprocesses``, loop
and NLO options); any other value, and any other command (``launch``, ``import`` of events), is an
error naming the line.
"""

from __future__ import annotations

import re
from pathlib import Path

from madgen.cards import CardMapping, is_path
from madgen.errors import CardError

COMMANDS = ("import", "define", "generate", "add", "output", "set")

OUTPUT_FORMATS = frozenset(("madevent", "standalone", "standalone_cpp", "standalone_cudacpp", "madevent_simd",
                            "madevent_gpu", "madweight", "matchbox", "pythia8", "aloha", "madevent_forhel"))
"""``output FORMAT NAME``: the formats MadGraph writes; madgen writes its own package whatever the format."""

SET_AS_MADGEN = {
    "gauge": ("unitary",), "complex_mass_scheme": ("false",), "zerowidth_tchannel": ("true",),
    "ignore_six_quark_processes": ("false",), "include_lepton_initiated_processes": ("false",),
    "default_unset_couplings": ("99",),
}
"""``set`` options that change the physics, with the values that say what madgen does: unitary gauge,
real masses, t-channel propagators without widths (as MadGraph's event generation since 2.8), every
subprocess kept, unset coupling orders unbounded."""

SET_ORGANISATION = frozenset((
    "group_subprocesses", "low_mem_multicore_nlo_generation", "loop_optimized_output", "loop_color_flows",
    "max_npoint_for_channel", "max_t_for_channel", "nlo_mixed_expansion", "automatic_html_opening",
    "acknowledged_v3.1_syntax", "auto_convert_model", "notification_center", "cluster_type", "nb_core",
    "run_mode", "timeout", "stdout_level",
))
"""``set`` options about how MadGraph organises its output, integration channels or session: no effect
on the matrix elements madgen generates."""


def is_madgraph_proc_card(text: str) -> bool:
    """Whether ``text`` is MadGraph commands (its first command line starts with one of ``COMMANDS``
    followed by a space) rather than YAML (``model: ...``)."""
    for _, line in _command_lines(text):
        return line.split()[0] in COMMANDS  # 'model:' (YAML) is not 'import'
    return False


MADGRAPH_DEFAULT_DEFINES = {
    "p": "g u c d s u~ c~ d~ s~", "j": "g u c d s u~ c~ d~ s~", "l+": "e+ mu+", "l-": "e- mu-",
    "vl": "ve vm vt", "vl~": "ve~ vm~ vt~",
}
"""The defines MadGraph writes at the top of every proc_card_mg5.dat (its defaults for the sm, before the
user's ``import model``); madgen makes its own defaults for the card's model (with the b in p and j where
the model's b is massless, as MadGraph does on the import), so these are not carried over as written."""


def madgraph_proc_card(text: str, source: str) -> CardMapping:
    """The ``process.yaml`` mapping of MadGraph commands ``text`` (module docstring); errors name the line.
    As in MadGraph, the last ``import model`` wins, and ``define`` lines are read in order (a label used in a
    later definition stands for what it held then)."""
    data = CardMapping()
    data.lines = {}
    processes, multiparticles = [], {}

    def error(number, line, message):
        return CardError(f"{source}:{number}: '{line}': {message}")

    for number, line in _command_lines(text):
        words = line.split()
        command = words[0]
        if command == "import":
            if len(words) < 3 or words[1] != "model":
                raise error(number, line, "madgen reads 'import model NAME' only; give events to 'madgen reweight'")
            if processes:
                raise error(number, line, f"a model imported after 'generate' (line {data.lines['process']}); "
                                          "MadGraph would drop those processes: import the model first")
            data["model"], data.lines["model"] = _where_madgraph_runs(words[2]), number  # --modelname: no change
            for label, members in MADGRAPH_DEFAULT_DEFINES.items():
                if multiparticles.get(label) == members.split():
                    del multiparticles[label]  # MadGraph's written defaults: madgen's own for the new model
        elif command == "define":
            label, members = _definition(words[1:], number, line, error)
            expanded = [name for member in members for name in multiparticles.get(member, [member])]
            multiparticles[label] = expanded
        elif command == "generate" or (command == "add" and words[1:2] == ["process"]):
            text_after = line.split(None, 1 if command == "generate" else 2)[-1]
            if command == "generate" and processes:
                raise error(number, line, "a second 'generate' replaces the processes in MadGraph; use 'add process'")
            processes.append(text_after.strip())
            data.lines.setdefault("process", number)
        elif command == "output":
            names = [w for w in words[1:] if not w.startswith("-")]
            if names and names[0] in OUTPUT_FORMATS:
                names = names[1:]
            if names:
                data["output"], data.lines["output"] = str(Path(names[0]).expanduser().absolute()), number
        elif command == "set":
            _check_set(words, number, line, error)
        else:
            raise error(number, line, f"'{command}' is not a command of a process card madgen reads (import model, "
                                      "define, generate, add process, output, set); 'launch' is 'madgen launch'")
    if not processes:
        raise CardError(f"{source}: MadGraph commands without a 'generate' line: nothing to generate")
    data.setdefault("model", "sm")  # MadGraph starts with the sm loaded
    if multiparticles:
        data["multiparticles"] = {label: " ".join(members) for label, members in multiparticles.items()}
    data["process"] = processes
    return data


def _definition(words, number, line, error) -> tuple[str, list[str]]:
    """``define LABEL = a b c`` (or without '='): the label and its members."""
    if "=" in words:
        at = words.index("=")
        label, members = words[:at], words[at + 1:]
    else:
        label, members = words[:1], words[1:]
    if len(label) != 1 or not members:
        raise error(number, line, "expected 'define LABEL = particle particle ...'")
    return label[0], members


def _where_madgraph_runs(model: str) -> str:
    """A model given as a path (``./MyUFO-massless``), taken from where madgen runs, as MadGraph takes it (a
    process card's YAML paths are relative to the card); a model's name unchanged."""
    if is_path(model):
        return str(Path(model).expanduser().absolute())
    return model


def _check_set(words, number, line, error) -> None:
    if len(words) < 3:
        raise error(number, line, "expected 'set OPTION VALUE'")
    option, value = words[1], " ".join(words[2:]).lower()
    if option in SET_ORGANISATION:
        return
    if option in SET_AS_MADGEN:
        if value not in SET_AS_MADGEN[option]:
            raise error(number, line, f"madgen generates with {option} {SET_AS_MADGEN[option][0]}; another value "
                                      "changes the physics in a way madgen does not follow")
        return
    raise error(number, line, f"'set {option}' is not an option madgen knows the meaning of in a process card "
                              "(run-card settings belong in the run card)")


def _command_lines(text: str):
    """(line number, command) of every command: comments ('#' to the end) and blank lines dropped, a line
    ending in '\\' joined with the next (MadGraph wraps long commands so), numbered by its first line."""
    pending, first = "", None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"#.*", "", raw).rstrip()
        if line.endswith("\\"):
            pending, first = pending + line[:-1], first or number
            continue
        line, start = (pending + line).strip(), first or number
        pending, first = "", None
        if line:
            yield start, line
    if pending.strip():
        yield first, pending.strip()
