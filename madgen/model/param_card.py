"""SLHA param cards (``param_card.dat``, ``restrict_*.dat``): read, write, map to parameters.

Block names are case-insensitive in SLHA; ``ParamCard`` stores them upper-case. A block
with an argument other than a scale (``Block QNUMBERS 9000005``) is stored under
``"QNUMBERS 9000005"``. ``DECAY pdg width`` lines go to ``decays`` (branching-ratio lines
after them are accepted and ignored). ``DECAY pdg auto`` (MadGraph's request to compute the
width, any letter case) goes to ``auto_decays`` instead: that width is computed by madgen from
the model's decays (docs/widths.md); every other value must be a number. An entry given twice
is an error naming both lines.

Values that enter a model from a user's card or the ``parameters:`` of a process card
(``parameters_from_card``, ``with_defaults``) must be finite, and masses and widths of
particles must be >= 0 (except Majorana masses: SLHA1 spectra give a neutralino's CP phase
as the sign of its mass); a model's own restriction card is not held to the latter.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from madgen.errors import ParamCardError
from madgen.model.types import FixedEntry, Model, Parameter, TiedEntry

DECAY_BLOCK = "DECAY"


@dataclass(frozen=True)
class ParamCard:
    """A parsed SLHA card: ``blocks[NAME][codes] = value`` and ``decays[pdg] = width``;
    ``auto_decays[pdg] = line number`` of each ``DECAY pdg auto`` line."""

    blocks: Mapping[str, Mapping[tuple[int, ...], float]] = field(hash=False)
    decays: Mapping[int, float] = field(hash=False)
    source: str = "<text>"
    lines: Mapping[tuple[str, tuple[int, ...]], int] = field(default_factory=dict, hash=False, compare=False)
    """(block, codes) -> line number of the entry (``("DECAY", (pdg,))`` for widths)."""
    auto_decays: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def where(self, block: str, codes: tuple[int, ...]) -> str:
        """``file:line`` of an entry (the file alone when unknown)."""
        line = self.lines.get((block.upper(), tuple(int(c) for c in codes)))
        return f"{self.source}:{line}" if line else self.source

    def get(self, block: str, codes: tuple[int, ...]) -> float | None:
        """Value of ``block``/``codes`` (DECAY: ``codes == (pdg,)``), None if absent."""
        block = block.upper()
        if block == DECAY_BLOCK:
            return self.decays.get(int(codes[0])) if len(codes) == 1 else None
        return self.blocks.get(block, {}).get(tuple(int(c) for c in codes))


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and len(text) < 4096 and os.path.exists(text)


def read_param_card(path_or_text: str | os.PathLike) -> ParamCard:
    """Parse a param card from a file path or from its text.

    Malformed lines raise ``ParamCardError`` naming file and line number.
    """
    if isinstance(path_or_text, os.PathLike) or _looks_like_path(str(path_or_text)):
        path = Path(path_or_text)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ParamCardError(f"cannot read param card {path}: {exc}") from None
        text = _card_text(data, path)
        source = str(path)
    else:
        text, source = str(path_or_text), "<text>"
    return parse_param_card(text, source)


def _card_text(data: bytes, path: Path) -> str:
    """A card file's text; binary or non-UTF-8 content is a ``ParamCardError``."""
    if b"\0" in data:
        raise ParamCardError(f"{path}: is a binary file, not an SLHA param card (text: 'Block NAME' and "
                             f"'code value' lines); give the path of a param_card.dat")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (some Windows editors write one) is not text
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ParamCardError(f"{path}:{line}: is not UTF-8 text (byte {data[exc.start]:#04x} at offset "
                             f"{exc.start}); an SLHA param card is plain text: re-save it as UTF-8 or ASCII") from None


def _block_key(tokens: list[str]) -> str:
    """``NAME``, or ``NAME ARG`` for a block with an argument that is not a scale (``Q= ...``)."""
    name = tokens[1].upper()
    if len(tokens) > 2 and not tokens[2].upper().startswith("Q"):
        return f"{name} {tokens[2]}"
    return name


def _number(token: str) -> float:
    return float(token.replace("d", "e").replace("D", "E"))


def parse_param_card(text: str, source: str = "<text>") -> ParamCard:
    """Parse param card text; ``source`` names it in error messages."""
    blocks: dict[str, dict[tuple[int, ...], float]] = {}
    decays: dict[int, float] = {}
    lines: dict[tuple[str, tuple[int, ...]], int] = {}
    auto_decays: dict[int, int] = {}
    block: str | None = None  # current block name, DECAY_BLOCK inside a decay table

    def fail(number: int, line: str, why: str) -> ParamCardError:
        return ParamCardError(f"{source}:{number}: {why}: {line.strip()!r}. "
                              f"Fix the line (SLHA format: 'Block NAME', '  code(s) value # comment', "
                              f"'DECAY pdg width').")

    def record(number: int, raw: str, key: tuple[str, tuple[int, ...]], what: str) -> None:
        if key in lines:
            first = lines[key]
            raise ParamCardError(f"{source}:{number}: {what} is given twice (lines {first} and {number}): "
                                 f"{raw.strip()!r}; keep one of them")
        lines[key] = number

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        head = tokens[0].upper()
        if head == "BLOCK":
            if len(tokens) < 2:
                raise fail(number, raw, "block without a name")
            block = _block_key(tokens)
            if block == DECAY_BLOCK:
                raise fail(number, raw, "'Block DECAY' is not SLHA; use DECAY lines")
            blocks.setdefault(block, {})
            continue
        if head == "DECAY":
            if len(tokens) < 3:
                raise fail(number, raw, "DECAY line needs a PDG code and a width")
            try:
                pdg = int(tokens[1])
                width = None if tokens[2].lower() == "auto" else _number(tokens[2])
            except ValueError:
                raise fail(number, raw, "DECAY line needs an integer PDG code and a numeric width "
                                        "(or 'auto')") from None
            record(number, raw, (DECAY_BLOCK, (pdg,)), f"the width of PDG {pdg} (DECAY {pdg})")
            if width is None:
                auto_decays[pdg] = number
            else:
                decays[pdg] = width
            block = DECAY_BLOCK
            continue
        if block is None:
            raise fail(number, raw, "data line before any 'Block' or 'DECAY' line")
        if block == DECAY_BLOCK:
            # branching ratio line: BR NDA ID1 ... IDn
            try:
                _number(tokens[0])
                nda = int(tokens[1])
                [int(t) for t in tokens[2:]]
            except (ValueError, IndexError):
                raise fail(number, raw, "malformed branching-ratio line in a DECAY table") from None
            if len(tokens) != 2 + nda:
                raise fail(number, raw, f"branching-ratio line announces {nda} daughters")
            continue
        try:
            codes = tuple(int(t) for t in tokens[:-1])
            value = _number(tokens[-1])
        except ValueError:
            if block.endswith("INFO"):
                continue  # SPINFO/DCINFO hold program names and versions
            raise fail(number, raw, f"expected integer code(s) then a number in block {block}") from None
        if not codes and block != "ALPHA":
            raise fail(number, raw, f"an entry of block {block} needs integer code(s) then its value; "
                                    "this line has one field")
        record(number, raw, (block, codes), f"Block {block} entry {' '.join(map(str, codes))}")
        blocks[block][codes] = value
    frozen_blocks = MappingProxyType({k: MappingProxyType(v) for k, v in blocks.items()})
    return ParamCard(frozen_blocks, MappingProxyType(decays), source, MappingProxyType(lines),
                     MappingProxyType(auto_decays))


# --------------------------------------------------------------------------- writing


def format_value(value: float) -> str:
    """MadGraph's ``%e`` layout, with more digits only where needed to round-trip exactly."""
    value = float(value)
    for digits in range(6, 18):
        text = f"{value:.{digits}e}"
        if float(text) == value:
            return text
    return repr(value)


def _card_blocks(model: Model) -> dict[str, list[Parameter]]:
    blocks: dict[str, list[Parameter]] = {}
    for p in model.external_parameters:
        blocks.setdefault(p.lhablock.upper(), []).append(p)
    return blocks


@dataclass(frozen=True)
class DependentEntry:
    """A mass or width that is not an input of the model (internal, ``ZERO``, or fixed by the
    restriction): MadGraph lists it in its param cards, below the inputs, for programs such as
    Pythia that read the spectrum from the card; card readers (madgen's, MadGraph's) skip it."""

    block: str  # "MASS" or "DECAY"
    pdg: int
    parameter: str  # the internal parameter, or "ZERO"
    particle: str


def dependent_entries(model: Model) -> tuple[DependentEntry, ...]:
    """The masses and widths of the model's particles (one per particle-antiparticle pair, by PDG
    code) that the param card does not set (nor holds an input at the same block and code)."""
    externals = {p.name for p in model.external_parameters}
    taken = {(p.lhablock.upper(), tuple(p.lhacode)) for p in model.external_parameters}
    entries = []
    for particle in sorted((p for p in model.particles if p.pdg_code > 0), key=lambda p: p.pdg_code):
        for block, parameter in (("MASS", particle.mass), (DECAY_BLOCK, particle.width)):
            if parameter not in externals and (block, (particle.pdg_code,)) not in taken:
                entries.append(DependentEntry(block, particle.pdg_code, parameter, particle.name))
    return tuple(entries)


def dependent_values(model: Model, values: Mapping[str, float]) -> dict[DependentEntry, float]:
    """The value of each of ``dependent_entries(model)`` at the external ``values`` (the model's
    defaults where not given): the internal parameter's real part, 0 for ``ZERO``, or the value a
    restriction fixed the card's entry to."""
    from madgen.model.evaluate import numeric_values  # the model stage's own evaluator

    entries = dependent_entries(model)
    external = {p.name: values.get(p.name, p.value) for p in model.external_parameters}
    internal = [p for p in model.parameters if not p.external]
    numbers = numeric_values(internal, (), external) if any(e.parameter != "ZERO" for e in entries) else {}
    fixed = {(f.lhablock.upper(), f.lhacode): f.value for f in model.fixed_entries}
    result = {}
    for entry in entries:
        if entry.parameter != "ZERO":
            result[entry] = float(complex(numbers[entry.parameter]).real)
        else:
            result[entry] = float(fixed.get((entry.block, (entry.pdg,)), 0.0))
    return result


def card_entry_names(text: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Parameter name -> (block, codes) of the entries of a card madgen wrote (``write_param_card``: the
    name first in each entry's comment; DECAY lines as ("DECAY", (pdg,))). Lets a reader map another
    card of the same model (an LHE's ``<slha>``, MadGraph's) onto parameter names by block and code."""
    entries: dict[str, tuple[str, tuple[int, ...]]] = {}
    block = None
    for line in text.splitlines():
        data, _, comment = line.partition("#")
        tokens, names = data.split(), comment.split()
        if not tokens:
            continue
        if tokens[0].upper() == "BLOCK" and len(tokens) > 1:
            block = tokens[1].upper()
        elif tokens[0].upper() == DECAY_BLOCK and len(tokens) >= 3 and names:
            entries.setdefault(names[0], (DECAY_BLOCK, (int(tokens[1]),)))
        elif block and names and all(re.fullmatch(r"-?\d+", t) for t in tokens[:-1]):
            entries.setdefault(names[0], (block, tuple(int(t) for t in tokens[:-1])))
    return entries


def unread_entries(model: Model, card: ParamCard) -> list[str]:
    """The card's entries in blocks the model reads that name no parameter of it (SLHA's ``SMINPUTS 4``, MZ,
    for a model whose MZ is ``MASS 23``): MadGraph ignores them without a word; a user who wrote one to set
    something is told, one message for the card."""
    read = {(p.lhablock.upper(), tuple(p.lhacode)) for p in model.external_parameters}
    read |= {(f.lhablock.upper(), tuple(f.lhacode)) for f in (*model.fixed_entries, *model.tied_entries)}
    read |= {(entry.block, (entry.pdg,)) for entry in dependent_entries(model)}
    blocks = {block for block, _ in read} - {DECAY_BLOCK}
    unread = sorted(((block, codes) for block, entries in card.blocks.items() if block in blocks
                     for codes in entries if (block, codes) not in read), key=lambda entry: card.lines.get(entry, 0))
    if not unread:
        return []
    listed = ", ".join(f"Block {block} entry {' '.join(map(str, codes))} ({card.where(block, codes)})"
                       for block, codes in unread)
    return [f"{card.source}: {listed}: not a parameter of model '{model.name}', ignored (as MadGraph ignores it)"]


def ignored_dependent_entries(model: Model, card: ParamCard, values: Mapping[str, float]) -> list[str]:
    """The card's entries for dependent masses and widths (``dependent_entries``) whose values differ from
    those computed at ``values``: readers ignore them (MadGraph too), so a user who edited one (``24 70 #
    MW``) is told, one message per entry, with the line and the value that holds."""
    messages = []
    for entry, computed in dependent_values(model, values).items():
        given = card.get(entry.block, (entry.pdg,))
        if given is None or math.isclose(float(given), computed, rel_tol=1e-6, abs_tol=1e-12):
            continue
        what = f"{entry.block} {entry.pdg}" if entry.block == DECAY_BLOCK else f"Block MASS entry {entry.pdg}"
        messages.append(f"{card.where(entry.block, (entry.pdg,))}: {what} ({entry.parameter} of {entry.particle}) "
                        f"= {float(given):g} is ignored: it is computed from the inputs ({computed:g} here), as "
                        "MadGraph computes it; change the inputs it depends on instead")
    return messages


def write_param_card(model: Model, values: Mapping[str, float] | None = None, auto_widths=()) -> str:
    """A param card for ``model`` in MadGraph's layout (deterministic).

    ``values`` overrides the model's defaults by external parameter name; unknown
    names raise ``ParamCardError``. As in MadGraph's cards, the masses and widths that are not
    inputs follow the inputs of Block MASS and the DECAY lines, at their values for this point.
    The width parameters in ``auto_widths`` (computed from the decays) read ``DECAY pdg auto``, as in
    a MadGraph card before the run computes them.
    """
    values = dict(values or {})
    externals = {p.name for p in model.external_parameters}
    unknown = sorted(set(values) - externals)
    if unknown:
        raise ParamCardError(f"write_param_card: {unknown} are not external parameters of model "
                             f"{model.name}; known: {sorted(externals)}")
    particle_of_width = {p.width: p for p in model.particles if p.pdg_code > 0}
    dependent = dependent_values(model, values)
    dependent_masses = [f"  {e.pdg:>4} {format_value(v)} # {e.parameter} ({e.particle})"
                        for e, v in dependent.items() if e.block == "MASS"]
    dependent_widths = [f"DECAY {e.pdg:>6} {format_value(v)} # {e.parameter} ({e.particle})"
                        for e, v in dependent.items() if e.block == DECAY_BLOCK]
    rule = "#" * 35
    lines = [
        "#" * 70,
        f"## PARAM_CARD for model {model.name} written by madgen",
        "#" * 70,
        "",
    ]
    blocks = _card_blocks(model)
    if dependent_masses:
        blocks.setdefault("MASS", [])
    decay_lines = []
    for block, params in blocks.items():
        if block == DECAY_BLOCK:
            for p in params:
                value = "auto" if p.name in auto_widths else format_value(values.get(p.name, p.value))
                label = p.name
                if p.name in particle_of_width:
                    label += f" ({particle_of_width[p.name].name})"
                decay_lines.append(f"DECAY {p.lhacode[0]:>6} {value} # {label}")
            continue
        lines += [rule, f"## INFORMATION FOR {block}", rule, f"Block {block}"]
        for p in sorted(params, key=lambda q: q.lhacode):
            codes = " ".join(f"{c:>4}" for c in p.lhacode)
            lines.append(f"  {codes} {format_value(values.get(p.name, p.value))} # {p.name}")
        if block == "MASS" and dependent_masses:
            lines += [_DEPENDENT_NOTE.format(what="masses"), *dependent_masses]
        lines.append("")
    if decay_lines or dependent_widths:
        lines += [rule, "## INFORMATION FOR DECAY", rule] + decay_lines
        if dependent_widths:
            lines += [_DEPENDENT_NOTE.format(what="widths"), *dependent_widths]
        lines.append("")
    return "\n".join(lines)


_DEPENDENT_NOTE = ("## Dependent {what}: computed from the inputs above, not read back (edit the inputs instead);\n"
                   "## listed, as MadGraph does, for programs that take the spectrum from this card (Pythia).")


def parameters_from_card(model: Model, card: ParamCard) -> dict[str, float]:
    """External parameter name -> value from ``card``, in model order.

    A missing entry raises ``ParamCardError`` naming the block, code and parameter. A width
    given as ``DECAY pdg auto`` is left out (it is computed, not an input; see docs/widths.md).
    """
    values: dict[str, float] = {}
    missing = []
    for p in model.external_parameters:
        if p.lhablock.upper() == DECAY_BLOCK and len(p.lhacode) == 1 and p.lhacode[0] in card.auto_decays:
            continue
        value = card.get(p.lhablock, p.lhacode)
        entry = _entry_name(p)
        if value is None:
            missing.append(f"{entry} ({p.name})")
            continue
        check_value(model, p.name, float(value), f"{card.where(p.lhablock, p.lhacode)}: {entry}")
        values[p.name] = float(value)
    if missing:
        raise ParamCardError(f"{card.source}: missing {', '.join(missing)}; add them to the card "
                             f"(write_param_card(model) writes a complete one){_misspelled_blocks(model, card)}")
    _check_fixed_entries(model, card)
    _check_tied_entries(model, card)
    return values


def _misspelled_blocks(model: Model, card: ParamCard) -> str:
    """A hint naming the card's blocks the model does not have that look like one it has (``Block MAS``)."""
    known = {p.lhablock.upper() for p in model.external_parameters}
    hints = []
    for block in card.blocks:
        name = block.split()[0]
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6) if name not in known else []
        if close:
            line = min((n for (b, _), n in card.lines.items() if b == block), default=None)
            where = f"{card.source}:{line}" if line else card.source
            hints.append(f"{where} has Block {name}, which model '{model.name}' does not have: Block {close[0]}?")
    return "; " + "; ".join(hints) if hints else ""


def _check_tied_entries(model: Model, card: ParamCard) -> None:
    """An entry for a parameter the restriction merged into another must keep their relation (MadGraph's
    param_card_rule.dat: identical or opposite): any other value would be ignored. A tied mass or width
    stays in the card as a computed entry, as MW does (``dependent_entries``): a card that changes its
    source only, or it, is told by ``ignored_dependent_entries`` instead."""
    computed = {(entry.block, (entry.pdg,)) for entry in dependent_entries(model)}
    for tied in model.tied_entries:
        if (tied.lhablock.upper(), tuple(tied.lhacode)) in computed:
            continue
        value = card.get(tied.lhablock, tied.lhacode)
        source = model.parameter(tied.source)
        source_value = card.get(source.lhablock, source.lhacode)
        if value is None or source_value is None or math.isclose(float(value), tied.sign * float(source_value),
                                                                 rel_tol=1e-6, abs_tol=1e-300):
            continue
        relation = "equal to" if tied.sign > 0 else "minus"
        raise ParamCardError(
            f"{card.where(tied.lhablock, tied.lhacode)}: {_entry_name(tied)} ({tied.name}) = {float(value):g}, but the "
            f"restriction {model.restriction} of model '{model.name}' ties {tied.name} to {_entry_name(source)} "
            f"({tied.source} = {float(source_value):g}, {card.where(source.lhablock, source.lhacode)}): they had the "
            f"same value in the restriction card, so MadGraph and madgen keep {tied.name} {relation} {tied.source}; "
            f"give them that relation, or use the model without restriction ('{model.full_name}') to vary them apart")


def _check_fixed_entries(model: Model, card: ParamCard) -> None:
    """An entry for a parameter the model's restriction fixed must keep the fixed value: any other
    would be silently ignored (MadGraph refuses such a card too)."""
    for fixed in model.fixed_entries:
        value = card.get(fixed.lhablock, fixed.lhacode)
        if value is None or float(value) == fixed.value:
            continue
        entry = _entry_name(fixed)
        raise ParamCardError(
            f"{card.where(fixed.lhablock, fixed.lhacode)}: {entry} ({fixed.name}) = {float(value):g}, but the "
            f"restriction {model.restriction} of model '{model.name}' fixes {fixed.name} to {fixed.value:g} and "
            f"removes it, so this value would be ignored; set it to {fixed.value:g} or remove the entry, or "
            f"use the model without restriction ('{model.full_name}') to vary it")


def inputs_elsewhere(model: Model) -> dict[tuple[str, int], Parameter]:
    """(``MASS`` or ``DECAY``, pdg) -> the external parameter that is that particle's mass or width but is another
    entry of the card (SMEFTsim's MW scheme has MW at SMINPUTS 1, no MASS 24): where a ``MASS 24`` spelling
    should point."""
    externals = {p.name: p for p in model.external_parameters}
    found = {}
    for particle in model.particles:
        pdg = abs(particle.pdg_code)
        for block, name in (("MASS", particle.mass), (DECAY_BLOCK, particle.width)):
            parameter = externals.get(name)
            if parameter is not None and (parameter.lhablock.upper(), tuple(parameter.lhacode)) != (block, (pdg,)):
                found[(block, pdg)] = parameter
    return dict(sorted(found.items()))


def _input_of_entry(model: Model, key: str):
    """The ``inputs_elsewhere`` parameter a ``MASS pdg`` / ``DECAY pdg`` key stands for, or None."""
    spelled = entry_spelling(key)
    if not spelled or len(spelled[1]) != 1:
        return None
    return inputs_elsewhere(model).get((spelled[0], abs(spelled[1][0])))


def _entry_name(p: Parameter | FixedEntry | TiedEntry) -> str:
    if p.lhablock.upper() == DECAY_BLOCK:
        return f"DECAY {p.lhacode[0]}"
    return f"Block {p.lhablock} entry {' '.join(map(str, p.lhacode))}"


def nonnegative_parameters(model: Model) -> dict[str, str]:
    """Parameters that must be >= 0 -> "mass" or "width": every particle's width, and the mass of
    every particle except Majorana fermions, whose sign is their CP phase in SLHA1 spectra."""
    kinds = {p.width: "width" for p in model.particles}
    kinds.update({p.mass: "mass" for p in model.particles if not p.majorana})
    return kinds


def check_value(model: Model, name: str, value: float, where: str) -> None:
    """A user-given value of external parameter ``name``: finite, and >= 0 for a mass or width."""
    if not math.isfinite(value):
        raise ParamCardError(f"{where}: parameter {name} is {value}; give a finite number")
    kind = nonnegative_parameters(model).get(name)
    if value < 0 and kind is not None:
        raise ParamCardError(f"{where}: parameter {name} is a {kind} and must be >= 0, got {value!r}")


def entry_spelling(key) -> tuple[str, tuple[int, ...]] | None:
    """(BLOCK, codes) of a key spelled as a param-card entry, as MadGraph's ``set`` takes it (``mass 23``,
    ``DECAY 23``; ``width`` read as ``decay``), or None for any other key."""
    words = key.split() if isinstance(key, str) else []
    if len(words) < 2 or not all(re.fullmatch(r"-?\d+", word) for word in words[1:]):
        return None
    block = words[0].upper()
    return DECAY_BLOCK if block == "WIDTH" else block, tuple(int(word) for word in words[1:])


def external_parameter_name(model: Model, key: str) -> str:
    """The external parameter a process card's ``parameters`` key names, spelled as MadGraph's ``set``
    accepts it: the UFO name in any case (``mt``), or the param-card entry (``MASS 6``, ``mass 6``,
    ``DECAY 6``, or ``WIDTH 6`` as MadGraph's ``set width``); ``key`` unchanged where none matches (the caller
    reports it)."""
    externals = model.external_parameters
    if any(p.name == key for p in externals):
        return key
    folded = [p.name for p in externals if p.name.lower() == key.lower()]
    if len(folded) == 1:
        return folded[0]
    spelled = entry_spelling(key)
    if spelled:
        block, codes = spelled
        entry = [p.name for p in externals if p.lhablock.upper() == block and tuple(p.lhacode) == codes]
        entry += [t.name for t in model.tied_entries if t.lhablock.upper() == block and tuple(t.lhacode) == codes]
        entry += [f.name for f in model.fixed_entries if f.lhablock.upper() == block and tuple(f.lhacode) == codes]
        if len(entry) == 1:
            return entry[0]
        if block in ("MASS", DECAY_BLOCK) and len(codes) == 1:  # a derived mass or width (MW): named for the error
            names = {getattr(q, "mass" if block == "MASS" else "width") for q in model.particles
                     if abs(q.pdg_code) == abs(codes[0])} - {"ZERO"}
            if len(names) == 1 and not any(p.name in names for p in externals):
                return names.pop()
    return key


def with_defaults(model: Model, values: Mapping[str, float], origin: str) -> Model:
    """``model`` with the defaults of some external parameters replaced by ``values`` (keyed as
    ``external_parameter_name`` reads them).

    A name the restricted model no longer has (fixed to 0 or 1 by the restriction card)
    or never had is an error naming ``origin`` (where the values came from).
    """
    import dataclasses

    externals = {p.name: p for p in model.external_parameters}
    named = {}
    for key, value in values.items():
        name = external_parameter_name(model, key)
        if name in named:
            raise ParamCardError(f"{origin}: '{named[name][0]}' and '{key}' both set the parameter '{name}'; "
                                 "keep one")
        named[name] = (key, value)
    values = {name: value for name, (_key, value) in named.items()}
    for name, (key, _value) in named.items():
        if name not in externals:
            spelled = f"'{key}'" if key == name else f"'{key}' ({name})"
            fixed = any(p.name == name for p in model.internal_parameters)
            tied = [t for t in model.tied_entries if t.name == name]
            removed = [f for f in model.fixed_entries if f.name.lower() == name.lower()]
            input_elsewhere = _input_of_entry(model, key)
            lowered = {external.lower(): external for external in externals}
            close = [lowered[match] for match in difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)]
            if removed:
                hint = (f"the restriction {model.restriction} of '{model.name}' fixes {removed[0].name} to "
                        f"{removed[0].value:g} and removes it (with the vertices it enters); use the model without "
                        f"restriction ('{model.full_name}') to vary it")
            elif input_elsewhere:
                hint = (f"'{model.name}' has no param-card entry {' '.join(key.split()).upper()}: its input "
                        f"{input_elsewhere.name} is the entry {_entry_name(input_elsewhere)}; set '{input_elsewhere.name}'")
            elif tied:
                relation = "equal to" if tied[0].sign > 0 else "minus"
                hint = (f"the restriction {model.restriction} ties it to {tied[0].source} (the same value in the same "
                        f"block: it stays {relation} {tied[0].source}, as in MadGraph); set {tied[0].source}, or use the "
                        f"model without restriction ('{model.full_name}') to vary them apart")
            elif fixed:
                hint = f"it is a derived (internal) parameter of '{model.name}', computed from the external ones"
            elif close:
                hint = f"'{model.name}' has no such external parameter; did you mean '{close[0]}'?"
            else:
                hint = f"it is not an external parameter of '{model.name}'"
                if model.restriction:
                    hint += (f" (the restriction {model.restriction} may have fixed it; use the model without "
                             "restriction, e.g. 'sm-full', to vary it)")
            raise ParamCardError(f"{origin}: cannot set parameter {spelled}: {hint}; "
                                 f"external parameters: {', '.join(sorted(externals))}")
    for name, value in values.items():
        check_value(model, name, float(value), f"{origin}: {name}")
    parameters = tuple(dataclasses.replace(p, value=float(values[p.name])) if p.name in values else p
                       for p in model.parameters)
    changed = dataclasses.replace(model, parameters=parameters)
    _refuse_non_finite_point(changed, values, origin)
    return changed


def _refuse_non_finite_point(model: Model, values: Mapping[str, float], origin: str) -> None:
    """The internal parameters and couplings must stay finite at the new defaults (``MZ: 0`` makes the
    SM's ``sw2`` divide by zero: the package's |M|^2 would be nan everywhere): name the first that is not."""
    from madgen.model.evaluate import numeric_values

    external = {p.name: p.value for p in model.external_parameters}
    numbers = numeric_values(model.internal_parameters, model.couplings, external)
    for item in (*model.internal_parameters, *model.couplings):
        number = numbers[item.name]
        if not (math.isfinite(number.real) and math.isfinite(number.imag)):
            given = ", ".join(f"{name} = {value:g}" for name, value in values.items())
            raise ParamCardError(f"{origin}: with {given}, the model's {item.name} = {item.value} is {number.real:g} "
                                 "(not finite); choose values at which the model is defined")
