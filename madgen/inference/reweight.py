"""Reweighting events to other parameter points: LHE 3.0 weights |M(theta_i)|^2 / |M(theta_0)|^2 x XWGTUP.

As MadGraph's reweight module (and madminer with it): every event keeps its kinematics; at each new
parameter point theta_i it gains the weight

    w_i = XWGTUP * |M(x; theta_i)|^2 / |M(x; theta_0)|^2,

summed over helicities (the events' own helicities are ignored) and evaluated with the event's own
alpha_s (AQCDUP) when the model has ``aS`` and theta does not set it, so that running-coupling
events from proton collisions are reweighted at their own scale. The sum of the w_i estimates
sigma(theta_i); it is exact for the kinematics the events cover (theta_i must not open phase space
the events at theta_0 do not populate).

Events are read with ``pylhe`` (madgen's own files and any other generator's with the same
process); the event's flavours pick the subprocess (both beam orderings), final-state legs are
matched by PDG id (decay-chain resonances, status 2, are skipped). The output keeps the input
file's text event by event and adds, as MadGraph writes them, ``<initrwgt>`` declarations in the
header and a ``<rwgt><wgt id=...>`` line per event (ids rwgt_1, rwgt_2, ... numbered after those
already in the file); it is written atomically, beside the input (default) or instead of it. A
madgen ``events.npz``/``events.h5`` beside the input gains the same weights as columns named by
the weight ids.
"""

from __future__ import annotations

import gzip
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from madgen.contract import jit
from madgen.inference.errors import InferenceError
from madgen.pdf.alphas import MADGRAPH_MZ, madgraph_alphas
from madgen.phasespace.kinematics import in_me_frame

_COLUMNS = frozenset({"pdg_ids", "momenta", "masses", "helicities", "colour", "weights", "scale", "aqed", "aqcd",
                      "metadata"})
"""Names a weight id cannot take: the columns of madgen's columnar event files."""

BATCH = 4096
"""Events per compiled evaluation (padded), and per chunk streamed through memory."""


@dataclass(frozen=True)
class ReweightPoint:
    """One new parameter point: its weight id in the file and the parameters it changes."""

    weight_id: str
    parameters: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        return " ".join(f"{name}={value!r}" for name, value in self.parameters)


@dataclass(frozen=True)
class ReweightResult:
    output: Path
    n_events: int
    points: tuple[ReweightPoint, ...]
    sums: tuple[float, ...]  # sum of each new weight (in the file's normalisation: event_norm)
    reference_sum: float  # sum of the original weights
    reference_cross_section_pb: float | None = None  # the file's cross section: the sum of <init>'s XSECUP

    @property
    def cross_sections_pb(self) -> tuple[float | None, ...]:
        """The cross section at each point: the file's times the ratio of the sums of weights (the same
        for every event_norm)."""
        if self.reference_cross_section_pb is None or not self.reference_sum:
            return (None,) * len(self.sums)
        return tuple(self.reference_cross_section_pb * total / self.reference_sum for total in self.sums)


# --------------------------------------------------------------------------- matching events


@dataclass(frozen=True)
class _Target:
    """Where an event goes: the subprocess index and the order of the event's particles in its legs."""

    subprocess: int
    order: tuple[int, ...]


class SubprocessMatcher:
    """Maps an event's (incoming PDG ids in beam order, outgoing PDG ids) to a subprocess of the
    package and the permutation putting the event's particles into the subprocess's leg order."""

    def __init__(self, subprocesses):
        self._keys = {}
        for index, sub in enumerate(subprocesses):
            initial, final = tuple(sub.pdg_ids[:sub.n_initial]), tuple(sub.pdg_ids[sub.n_initial:])
            key = (initial, tuple(sorted(final)))
            if key in self._keys and getattr(sub, "polarised", False):
                other = subprocesses[self._keys[key][0]].process
                raise InferenceError(f"'{other}' and '{sub.process}' have the same particles and differ in their "
                                     "polarisations, which an event file does not record: reweight the events "
                                     "with a package of one of them")
            self._keys.setdefault(key, (index, final))
        self.subprocesses = tuple(subprocesses)

    def target(self, incoming: Sequence[int], outgoing: Sequence[int]) -> _Target | None:
        incoming, outgoing = tuple(incoming), tuple(outgoing)
        for beams in (incoming, incoming[::-1]):
            found = self._keys.get((beams, tuple(sorted(outgoing))))
            if found is None:
                continue
            index, final = found
            initial_order = (0, 1) if beams == incoming or len(incoming) == 1 else (1, 0)
            unused = list(range(len(outgoing)))
            final_order = []
            for pdg in final:
                position = next(i for i in unused if outgoing[i] == pdg)
                unused.remove(position)
                final_order.append(len(incoming) + position)
            return _Target(index, initial_order[:len(incoming)] + tuple(final_order))
        return None


def _event_legs(event) -> tuple[list[int], list[int], np.ndarray]:
    """(incoming PDG ids, outgoing PDG ids, momenta (E, px, py, pz) of incoming then outgoing)."""
    incoming = [p for p in event.particles if int(p.status) == -1]
    outgoing = [p for p in event.particles if int(p.status) == 1]
    momenta = np.array([[p.e, p.px, p.py, p.pz] for p in incoming + outgoing], dtype=np.float64)
    return [int(p.id) for p in incoming], [int(p.id) for p in outgoing], momenta


# --------------------------------------------------------------------------- the weights


class _Evaluator:
    """|M(theta)|^2 ratios for batches of events of one subprocess, in fixed-size compiled batches.
    ``runs_alpha_s``: particle beams, where a setting's own aS is alpha_s(MZ), run to the event's scale
    (SCALUP, muR without PDFs) as the run did (``madgraph_alphas``)."""

    def __init__(self, process, reference: Mapping[str, float], points: Sequence[ReweightPoint],
                 runs_alpha_s: bool = False):
        import jax
        import jax.numpy as jnp

        self.process = process
        self.masses = np.asarray(process.masses(reference), dtype=np.float64)  # external legs, in leg order
        names = set(process.default_parameters())
        base = process.complete_parameters(reference)
        self.settings = [base] + [process.complete_parameters({**reference, **dict(p.parameters)}) for p in points]
        # each setting at the event's alpha_s unless it sets aS itself (the reference too: a point that
        # sets aS is compared with the event's own coupling, not with the model's default)
        self.event_alpha_s = ["aS" in names and "aS" not in dict(setting)
                              for setting in [dict(reference)] + [{**reference, **dict(p.parameters)} for p in points]]

        def ratios(momenta, alpha_s, scale):
            values = []
            for setting, at_event_alpha_s in zip(self.settings, self.event_alpha_s):
                parameters = dict(setting)
                if at_event_alpha_s:
                    parameters["aS"] = alpha_s
                elif runs_alpha_s and "aS" in parameters:
                    parameters["aS"] = madgraph_alphas(scale, parameters["aS"])
                values.append(process.matrix_element(in_me_frame(process, momenta), parameters, check=False))
            reference_value = values[0]  # of either sign: an interference term's |M|^2 can be negative
            nonzero = reference_value != 0
            safe = jnp.where(nonzero, reference_value, 1.0)
            return jnp.stack([jnp.where(nonzero, v / safe, 0.0) for v in values[1:]], axis=-1), reference_value

        self._ratios = jit(ratios, process=process)

    def __call__(self, momenta: np.ndarray, alpha_s: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ratios, reference = [], []
        for start in range(0, len(momenta), BATCH):
            block, a, q = momenta[start:start + BATCH], alpha_s[start:start + BATCH], scale[start:start + BATCH]
            filled = len(block)
            if filled < BATCH:
                block = np.concatenate([block, np.repeat(block[:1], BATCH - filled, axis=0)])
                a = np.concatenate([a, np.repeat(a[:1], BATCH - filled)])
                q = np.concatenate([q, np.repeat(q[:1], BATCH - filled)])
            r, m = self._ratios(block, a, q)
            ratios.append(np.asarray(r)[:filled])
            reference.append(np.asarray(m)[:filled])
        return np.concatenate(ratios), np.concatenate(reference)


# --------------------------------------------------------------------------- the file


_EVENT_END = re.compile(r"</event\s*>")


def _open_text(path: Path, mode: str = "rt"):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode.replace("t", ""))


def _text_blocks(path: Path) -> Iterator[tuple[str, str]]:
    """('header', text up to the first <event>) then ('event', one '<event ...>...</event>' block)
    for every event, then ('tail', the rest), streaming."""
    with _open_text(path) as stream:
        buffer, in_header = "", True
        for line in stream:
            if in_header:
                if line.lstrip().startswith("<event"):
                    yield "header", buffer
                    buffer, in_header = line, False
                else:
                    buffer += line
                continue
            if not buffer and line.lstrip().startswith("<event"):
                buffer = line
            elif buffer:
                buffer += line
            else:
                yield "tail", line
                continue
            if _EVENT_END.search(line):
                yield "event", buffer
                buffer = ""
        if in_header:
            yield "header", buffer
        elif buffer:
            yield "tail", buffer


def _with_initrwgt(header: str, points: Sequence[ReweightPoint]) -> str:
    """The header with the points declared in madgen's weight group of <initrwgt> (the group and the
    block created if absent; a second reweighting adds to the group of the first)."""
    weights = "".join(f"<weight id='{p.weight_id}'> {p.describe()} </weight>\n" for p in points)
    existing = re.search(r"<weightgroup name='madgen_reweighting'[^>]*>.*?(</weightgroup>)", header, re.S)
    if existing is not None:
        return header[:existing.start(1)] + weights + header[existing.start(1):]
    block = ("<weightgroup name='madgen_reweighting' weight_name_strategy='includeIdInWeightName'>\n"
             + weights + "</weightgroup>\n")
    if "</initrwgt>" in header:
        return header.replace("</initrwgt>", block + "</initrwgt>", 1)
    if "</header>" in header:
        return header.replace("</header>", f"<initrwgt>\n{block}</initrwgt>\n</header>", 1)
    if "<init>" in header:  # no <header> at all: add one before <init>
        return header.replace("<init>", f"<header>\n<initrwgt>\n{block}</initrwgt>\n</header>\n<init>", 1)
    raise InferenceError("the LHE file has no <init> block before its first event")


def _with_weights(event: str, points: Sequence[ReweightPoint], weights: np.ndarray) -> str:
    """The event block with one <wgt> line per point, in its <rwgt> (created if absent)."""
    lines = "".join(f"<wgt id='{p.weight_id}'> {w:+.10e} </wgt>\n" for p, w in zip(points, weights))
    if "</rwgt>" in event:
        return event.replace("</rwgt>", lines + "</rwgt>", 1)
    match = list(_EVENT_END.finditer(event))[-1]
    return event[:match.start()] + "<rwgt>\n" + lines + "</rwgt>\n" + event[match.start():]


# --------------------------------------------------------------------------- reweighting


_WEIGHT_ID = re.compile(r"<weight\b[^>]*\bid\s*=\s*['\"]([^'\"]+)['\"]")


_POLBEAM = (re.compile(r"^\s*polbeam([12])\s*:\s*([-+0-9.eE]+)", re.MULTILINE),  # madgen's run card (YAML)
            re.compile(r"^\s*([-+0-9.eE]+)\s*=\s*polbeam([12])\b", re.MULTILINE))  # MadGraph's run_card.dat


_INIT_BEAMS = re.compile(r"<init>\s*\n\s*([-+]?\d+)\s+([-+]?\d+)")


def _particle_beams(header: str) -> bool:
    """Whether the file's beams (IDBMUP of ``<init>``) are particles, not hadrons: then alpha_s ran from aS
    to each event's scale (MadGraph without PDFs)."""
    found = _INIT_BEAMS.search(header)
    return found is not None and all(abs(int(beam)) < 100 for beam in found.groups())


def _refuse_polarised_beams(header: str, source: Path) -> None:
    """Events of polarised beams (a polbeam1/2 other than 0 in the header's run card, madgen's or
    MadGraph's) would need the polarised |M|^2 in the ratio: refused rather than reweighted wrongly."""
    found = _POLBEAM[0].findall(header) + [(beam, value) for value, beam in _POLBEAM[1].findall(header)]
    for beam, value in found:
        try:
            polarised = float(value) != 0.0
        except ValueError:
            continue
        if polarised:
            raise InferenceError(f"{source}: the events are of polarised beams (polbeam{beam} = {value} in its "
                                 "header); reweighting uses the unpolarised |M|^2 and is not supported for them")


def existing_weight_ids(header: str) -> set[str]:
    """Weight ids already declared in an LHE header's <initrwgt>."""
    return set(_WEIGHT_ID.findall(header))


def parse_points(thetas: Sequence[Mapping[str, float]], names: Sequence[str] | None = None,
                 taken: set[str] = frozenset()) -> tuple[ReweightPoint, ...]:
    """Weight ids for the given parameter points: ``names``, or rwgt_N numbered after the ids
    already ``taken`` in the file (reweighting a file twice adds weights, never overwrites)."""
    if not thetas:
        raise InferenceError("no parameter point to reweight to: give at least one --theta NAME=VALUE,...")
    if names is None:
        numbers = (f"rwgt_{i}" for i in range(1, 10 ** 9))
        names = [next(n for n in numbers if n not in taken) for _ in thetas]
    names = list(names)
    if len(names) != len(thetas):
        raise InferenceError(f"{len(names)} weight name(s) {names} for {len(thetas)} parameter point(s): give "
                             "one --name per --theta, or none")
    if len(set(names)) != len(names):
        raise InferenceError(f"weight names {names} must be distinct, one per point")
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise InferenceError(f"weight name {name!r}: use letters, digits and _ . + -")
        if name in taken:
            raise InferenceError(f"weight name {name!r} is already in the file; choose another --name")
        if name in _COLUMNS:
            raise InferenceError(f"weight name {name!r} is the name of an event column; choose another --name")
    return tuple(ReweightPoint(n, tuple((str(k), float(v)) for k, v in t.items())) for n, t in zip(names, thetas))


def reweight(events_file, process, thetas: Sequence[Mapping[str, float]], theta_ref: Mapping[str, float] | None = None,
             output=None, names: Sequence[str] | None = None, log=print) -> ReweightResult:
    """Add a weight per parameter point in ``thetas`` to every event of ``events_file`` (module
    docstring); ``process`` is the loaded package of the events' process. Returns what was written."""
    import pylhe

    from madgen.output import atomic_file

    source = Path(events_file)
    if not source.is_file():
        raise InferenceError(f"{source}: no such LHE file")
    _refuse_unmarked_gzip(source)
    output = Path(output) if output is not None else source.with_name(_beside_name(source))
    check_output_file(output, source)
    blocks = _text_blocks(source)
    _, header = next(blocks)
    _refuse_polarised_beams(header, source)
    columnar = _columnar_beside(source, output)
    points = parse_points(thetas, names, existing_weight_ids(header) | _column_ids(columnar))
    subprocesses = tuple(process.subprocesses)
    reference = {**file_point(header, subprocesses[0], source, log), **dict(theta_ref or {})}
    for point in points:
        for name, _ in point.parameters:
            if name not in subprocesses[0].default_parameters():
                raise InferenceError(f"--theta {point.describe()}: '{name}' is not an external parameter of "
                                     f"'{process.process}'; known: {sorted(subprocesses[0].default_parameters())}")
    _refuse_moving_masses(subprocesses, reference, points)
    _refuse_undefined_points(process, reference, points)
    _say_if_generated_for_another_process(header, process, log)
    matcher = SubprocessMatcher(subprocesses)
    runs_alpha_s = _particle_beams(header)
    evaluators = [_Evaluator(sub, reference, points, runs_alpha_s=runs_alpha_s) for sub in subprocesses]
    try:
        with warnings.catch_warnings():  # pylhe warns before it raises: the error below says it in one line
            warnings.simplefilter("ignore")
            events = pylhe.LHEFile.fromfile(str(source), generator=True).events
    except Exception as error:  # noqa: BLE001 - pylhe raises assorted errors on malformed files
        raise InferenceError(f"{source}: cannot read it as an LHE file ({type(error).__name__}: {error})") from None
    sums, reference_sum, n_events, columns, originals = np.zeros(len(points)), 0.0, 0, [], []
    with atomic_file(output, "wt" if output.suffix != ".gz" else "wb") as raw, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stream = gzip.open(raw, "wt") if output.suffix == ".gz" else raw
        stream.write(_with_initrwgt(header, points))
        for chunk in _chunks(events, BATCH * 4):
            weights = _chunk_weights(chunk, n_events, matcher, evaluators, len(points), source, process)
            _refuse_non_finite(weights, points, n_events)
            for event_weights in weights:
                kind, text = next(blocks)
                if kind != "event":
                    raise InferenceError(f"{source}: pylhe and the file's text disagree on event {n_events + 1}")
                stream.write(_with_weights(text, points, event_weights))
            original = np.array([float(e.eventinfo.weight) for e in chunk])
            sums += weights.sum(axis=0)
            reference_sum += original.sum()
            columns.append(weights)
            originals.append(original)
            n_events += len(chunk)
        tail = "".join(text for _, text in blocks)
        if "</LesHouchesEvents>" not in tail:
            raise InferenceError(f"{source}: the file ends after {n_events} complete events without "
                                 "</LesHouchesEvents> (truncated?); nothing was written")
        stream.write(tail)
        if stream is not raw:
            stream.close()
    all_weights = np.concatenate(columns) if columns else np.zeros((0, len(points)))
    if columnar is not None:
        _update_columnar(columnar, source, points, all_weights, np.concatenate(originals) if originals else
                         np.zeros(0), log)
    elif _columnar_beside(source, source) is not None:
        log(f"the columnar file beside {source} is left as it is: the weights went to {output}, in another directory")
    log(f"{n_events} events of {source} reweighted to {len(points)} point(s), written to {output}")
    return ReweightResult(output, n_events, points, tuple(float(s) for s in sums), float(reference_sum),
                          init_cross_section(header))


def _say_if_generated_for_another_process(header: str, process, log) -> None:
    """The events' density is taken to be the package's |M|^2 at theta_0: say so when madgen's header
    records another process (SM events reweighted with an EFT package is fine; an NP^2==1 package for
    NP<=1 events gives no density ratio at all)."""
    match = re.search(r"<madgen[^>]*>.*?<process>(?:<!\[CDATA\[)?\s*(.*?)\s*(?:\]\]>)?</process>", header, re.S)
    if match is None or match.group(1) == process.process:
        return
    log(f"note: the events were generated for '{match.group(1)}' and are reweighted with '{process.process}': "
        f"each weight is scaled by |M|^2(theta) / |M|^2(theta_0) of the latter, a likelihood ratio only if it "
        "equals the events' own |M|^2 at theta_0 (not for a squared-order selection such as NP^2==1)")


def _refuse_undefined_points(process, reference: Mapping[str, float], points) -> None:
    """Before any work: every point must be one where the model is defined (LambdaSMEFT = 0 or MZ = 0
    make its couplings infinite or nan), as mine checks its thetas."""
    from madgen.runtime.checks import check_defined_point

    for point in points:
        check_defined_point(process, {**reference, **dict(point.parameters)}, f"--theta {point.describe()}")


def _refuse_non_finite(weights: np.ndarray, points, n_before: int) -> None:
    """A weight that is not a number (|M|^2 overflowing at an extreme point) stops the run: nothing is written."""
    bad = ~np.isfinite(weights)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise InferenceError(f"--theta {points[column].describe()}: the weight of event {n_before + row + 1} is "
                             f"{weights[row, column]} (not finite); choose a point where |M|^2 is finite; "
                             "nothing was written")


def init_cross_section(header: str) -> float | None:
    """The sum of XSECUP over the process lines of the header's ``<init>`` block (pb); None without one."""
    match = re.search(r"<init[^>]*>(.*?)</init>", header, re.S)
    if match is None:
        return None
    lines = [line.split() for line in match.group(1).strip().splitlines() if line.strip() and "<" not in line]
    try:
        n_processes = int(lines[0][9])
        return float(sum(float(line[0]) for line in lines[1:1 + n_processes]))
    except (IndexError, ValueError):
        return None


def file_point(header: str, process, source: Path, log=print) -> dict[str, float]:
    """theta_0 from the file's ``<slha>`` block (the param card madgen and MadGraph write into the header):
    the external parameters of ``process`` it sets, matched by block and code. Left out: ``aS`` (each
    event's AQCDUP is its alpha_s) and widths the package computes. Empty without a block."""
    from madgen.errors import MadgenError
    from madgen.model.param_card import card_entry_names, parse_param_card

    match = re.search(r"<slha>(.*?)</slha>", header, flags=re.DOTALL)
    if match is None:
        return {}
    try:
        card = parse_param_card(match.group(1), f"{source}, <slha> block")
    except MadgenError as error:
        raise InferenceError(f"{error}; the <slha> block holds the parameters the events were generated with: "
                             "mend it, or give them with --theta-ref") from None
    try:
        entries = card_entry_names(process.param_card())
    except FileNotFoundError:  # a package generated before packages carried their param card
        return {}
    computed = set(process.metadata.get("auto_widths", {}))
    defaults = process.default_parameters()
    point = {}
    for name in defaults:
        if name == "aS" or name in computed or name not in entries:
            continue
        value = card.get(*entries[name])
        if value is not None:
            point[name] = float(value)
    moved = {name: value for name, value in point.items() if value != float(defaults[name])}
    if moved:
        log(f"reference point from the <slha> block of {source}: "
            + ", ".join(f"{name} = {value:g}" for name, value in moved.items()) + " (--theta-ref overrides)")
    return point


def _refuse_moving_masses(subprocesses, reference: Mapping[str, float], points) -> None:
    """A point that moves the mass of an external particle cannot reweight events: their momenta stay on
    the old mass shell. MadGraph's reweighting refuses it too; generate events at that point instead. The
    sign of a mass (a Majorana fermion's, as the MSSM's neutralinos carry) leaves the shell p^2 = m^2 where
    it is: flipping it is a reweighting like any other."""
    for sub in subprocesses:
        base = np.abs(np.asarray(sub.masses(reference)))
        for point in points:
            moved = np.abs(np.asarray(sub.masses({**reference, **dict(point.parameters)})))
            if not np.allclose(moved, base, rtol=1e-12, atol=0.0):
                legs = [f"leg {k + 1}: {a:g} -> {b:g} GeV" for k, (a, b) in enumerate(zip(base, moved)) if a != b]
                raise InferenceError(
                    f"--theta {point.describe()}: moves the mass of external particles of '{sub.process}' "
                    f"({'; '.join(legs)}); the events keep their momenta on the old mass shell, so they cannot be "
                    "reweighted to it: generate events at that point (madgen launch --set ...)")


def check_output_file(output: Path, source: Path | None = None) -> None:
    """Before any work: ``output`` must be a file path in an existing directory, and an existing file there
    is replaced only if madgen wrote it (an LHE file with madgen's reweighting or run header) or it is the
    input itself (in place)."""
    from madgen.output import check_replaceable_file

    def replaceable(path: Path) -> bool:
        return (source is not None and path.resolve() == source.resolve()) or _written_by_madgen(path)

    check_replaceable_file(output, "LHE file", replaceable, InferenceError)


def _written_by_madgen(path: Path) -> bool:
    try:
        with _open_text(path) as stream:
            head = stream.read(200_000)
    except (OSError, UnicodeDecodeError, EOFError):
        return False
    return "madgen_reweighting" in head or "<madgen" in head


def _refuse_unmarked_gzip(source: Path) -> None:
    """A gzip-compressed file is read as such by its '.gz' name (as pylhe does): one without is named."""
    with open(source, "rb") as stream:
        compressed = stream.read(2) == b"\x1f\x8b"
    if compressed and source.suffix != ".gz":
        raise InferenceError(f"{source}: is gzip-compressed but not named '.gz'; rename it to "
                             f"{source.name}.gz (or decompress it)")


def _beside_name(source: Path) -> str:
    name = source.name
    for suffix in (".lhe.gz", ".lhe"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + "_rwgt" + suffix
    return name + ".rwgt"


def _chunks(iterable, size):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _chunk_weights(chunk, offset, matcher, evaluators, n_points, source, process) -> np.ndarray:
    """New weights (len(chunk), n_points) of a chunk of pylhe events."""
    groups: dict[int, list] = {}
    for i, event in enumerate(chunk):
        incoming, outgoing, momenta = _event_legs(event)
        target = matcher.target(incoming, outgoing)
        if target is None:
            raise InferenceError(
                f"{source}, event {offset + i + 1}: {' '.join(map(str, incoming))} > {' '.join(map(str, outgoing))} "
                f"is not a subprocess of '{process.process}'; reweight it with the package of its own process")
        groups.setdefault(target.subprocess, []).append((i, momenta[list(target.order)], float(event.eventinfo.aqcd),
                                                         float(event.eventinfo.weight), float(event.eventinfo.scale)))
    weights = np.zeros((len(chunk), n_points))
    for index, items in groups.items():
        rows, momenta, alpha_s, event_weights, scale = (np.array(column) for column in zip(*items))
        alpha_s = np.where(alpha_s > 0, alpha_s, evaluators[index].settings[0].get("aS", 0.0) or 0.0)
        ratios, reference = evaluators[index](momenta, alpha_s, np.where(scale > 0, scale, MADGRAPH_MZ))
        _refuse_other_masses(momenta, evaluators[index], rows + offset, source)
        # an interference term's events carry the sign of their |M|^2 (madgen.runtime.unweight): a sign
        # that differs, or |M|^2 = 0, cannot come from the process
        bad = np.nonzero(~(np.abs(reference) > 0) | (np.sign(reference) * np.sign(event_weights) < 0))[0]
        if len(bad):
            k = bad[0]
            raise InferenceError(f"{source}, event {offset + rows[k] + 1}: |M|^2 at the reference point is "
                                 f"{reference[k]:g} and the event's weight {event_weights[k]:g}; the event cannot "
                                 f"come from '{process.process}' at these parameters (check --theta-ref and the "
                                 "package's parameters)")
        weights[rows] = ratios * event_weights[:, None]
    return weights


MASS_SHELL_TOLERANCE = 1e-6
"""Largest |p^2 - m^2| / E^2 of an event's particle taken as on the package's mass shell: far above the
rounding of LHE's ten-digit momenta, far below a muon's mass at LHC energies."""


def _refuse_other_masses(momenta: np.ndarray, evaluator: _Evaluator, event_numbers, source: Path) -> None:
    """The events' particles must sit on the package's mass shells: |M|^2 of massless spinors at massive
    momenta (or the reverse) is not the weight of any process, and a file from a model with other
    masses (massive muons, a 4-flavour b, another top mass) would be reweighted silently wrong."""
    energy2 = momenta[..., 0] ** 2
    p2 = energy2 - np.sum(momenta[..., 1:] ** 2, axis=-1)
    off = np.abs(p2 - evaluator.masses ** 2) > MASS_SHELL_TOLERANCE * np.maximum(energy2, 1.0)
    if off.any():
        event, leg = np.argwhere(off)[0]
        found = np.sqrt(abs(p2[event, leg]))
        pdg = evaluator.process.pdg_ids[leg]
        raise InferenceError(
            f"{source}, event {event_numbers[event] + 1}: particle {pdg} (leg {leg + 1} of '{evaluator.process.process}') "
            f"has mass {found:.6g} GeV from its momentum, the package's is {evaluator.masses[leg]:.6g} GeV: the "
            "events come from a model with other masses; generate the package with the model (or restriction and "
            "parameters) the events were made with")


def _columnar_beside(source: Path, output: Path) -> Path | None:
    """The madgen columnar file of the input's run (``events.npz``/``events.h5`` beside it), when the
    reweighted file stays in that run directory (in place or beside the input); else None."""
    if output.resolve().parent != source.resolve().parent:
        return None
    return next((source.with_name(name) for name in ("events.npz", "events.h5") if source.with_name(name).is_file()),
                None)


def _column_ids(path: Path | None) -> set[str]:
    """The weight columns a columnar file already holds (new weight ids are numbered after them)."""
    if path is None:
        return set()
    from madgen.runtime.columnar import read_columnar

    _, metadata = read_columnar(path)
    return set(metadata.get("reweighting", {}))


def _update_columnar(path: Path, source: Path, points, weights: np.ndarray, originals: np.ndarray, log) -> None:
    """Add columns rwgt_<id> to the madgen columnar file of the same events (``_columnar_beside``), after
    checking that it holds the events of ``source`` (their number and original weights)."""
    from madgen.runtime.columnar import read_columnar, read_columns, write_columnar

    record, metadata = read_columnar(path)
    if len(record) != len(weights):
        log(f"{path} holds {len(record)} events, {source} {len(weights)}: its weights were not updated")
        return
    stored = np.asarray(record.weights, dtype=float).reshape(len(record), -1)[:, 0]
    if not np.allclose(stored, originals, rtol=1e-8, atol=0.0):
        log(f"{path} does not hold the events of {source} (their weights differ): its weights were not updated")
        return
    known = set(record.columns())
    extra = {key: value for key, value in read_columns(path).items() if key not in known}
    extra.update({p.weight_id: weights[:, k] for k, p in enumerate(points)})
    reweighting = {**metadata.get("reweighting", {}), **{p.weight_id: dict(p.parameters) for p in points}}
    write_columnar(path, record, {**metadata, "reweighting": reweighting},
                   format="hdf5" if path.suffix == ".h5" else "npz", extra_columns=extra)
    log(f"{path}: added the columns {', '.join(p.weight_id for p in points)}")
