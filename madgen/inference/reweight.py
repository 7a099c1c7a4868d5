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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from madgen.contract import jit
from madgen.inference.errors import InferenceError

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
    sums: tuple[float, ...]  # sum of each new weight: the reweighted cross sections (pb, as XWGTUP)
    reference_sum: float  # sum of the original weights


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
            self._keys.setdefault((initial, tuple(sorted(final))), (index, final))
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
    """|M(theta)|^2 ratios for batches of events of one subprocess, in fixed-size compiled batches."""

    def __init__(self, process, reference: Mapping[str, float], points: Sequence[ReweightPoint]):
        import jax
        import jax.numpy as jnp

        self.process = process
        names = set(process.default_parameters())
        base = process.complete_parameters(reference)
        self.settings = [base] + [process.complete_parameters({**reference, **dict(p.parameters)}) for p in points]
        # each setting at the event's alpha_s unless it sets aS itself (the reference too: a point that
        # sets aS is compared with the event's own coupling, not with the model's default)
        self.event_alpha_s = ["aS" in names and "aS" not in dict(setting)
                              for setting in [dict(reference)] + [{**reference, **dict(p.parameters)} for p in points]]

        def ratios(momenta, alpha_s):
            values = []
            for setting, at_event_alpha_s in zip(self.settings, self.event_alpha_s):
                parameters = dict(setting)
                if at_event_alpha_s:
                    parameters["aS"] = alpha_s
                values.append(process.matrix_element(momenta, parameters, check=False))
            reference_value = values[0]  # of either sign: an interference term's |M|^2 can be negative
            nonzero = reference_value != 0
            safe = jnp.where(nonzero, reference_value, 1.0)
            return jnp.stack([jnp.where(nonzero, v / safe, 0.0) for v in values[1:]], axis=-1), reference_value

        self._ratios = jit(ratios, process=process)

    def __call__(self, momenta: np.ndarray, alpha_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ratios, reference = [], []
        for start in range(0, len(momenta), BATCH):
            block, a = momenta[start:start + BATCH], alpha_s[start:start + BATCH]
            filled = len(block)
            if filled < BATCH:
                block = np.concatenate([block, np.repeat(block[:1], BATCH - filled, axis=0)])
                a = np.concatenate([a, np.repeat(a[:1], BATCH - filled)])
            r, m = self._ratios(block, a)
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
    """The header with a madgen weight group declared in <initrwgt> (created if absent)."""
    group = ["<weightgroup name='madgen_reweighting' weight_name_strategy='includeIdInWeightName'>"]
    group += [f"<weight id='{p.weight_id}'> {p.describe()} </weight>" for p in points]
    group.append("</weightgroup>")
    block = "\n".join(group) + "\n"
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
    output = Path(output) if output is not None else source.with_name(_beside_name(source))
    blocks = _text_blocks(source)
    _, header = next(blocks)
    _refuse_polarised_beams(header, source)
    points = parse_points(thetas, names, existing_weight_ids(header))
    reference = dict(theta_ref or {})
    subprocesses = tuple(process.subprocesses)
    for point in points:
        for name, _ in point.parameters:
            if name not in subprocesses[0].default_parameters():
                raise InferenceError(f"--theta {point.describe()}: '{name}' is not an external parameter of "
                                     f"'{process.process}'; known: {sorted(subprocesses[0].default_parameters())}")
    matcher = SubprocessMatcher(subprocesses)
    evaluators = [_Evaluator(sub, reference, points) for sub in subprocesses]
    try:
        events = pylhe.LHEFile.fromfile(str(source), generator=True).events
    except Exception as error:  # noqa: BLE001 - pylhe raises assorted errors on malformed files
        raise InferenceError(f"{source}: cannot read it as an LHE file ({type(error).__name__}: {error})") from None
    sums, reference_sum, n_events, columns = np.zeros(len(points)), 0.0, 0, []
    with atomic_file(output, "wt" if output.suffix != ".gz" else "wb") as raw:
        stream = gzip.open(raw, "wt") if output.suffix == ".gz" else raw
        stream.write(_with_initrwgt(header, points))
        for chunk in _chunks(events, BATCH * 4):
            weights = _chunk_weights(chunk, n_events, matcher, evaluators, len(points), source, process)
            for event_weights in weights:
                kind, text = next(blocks)
                if kind != "event":
                    raise InferenceError(f"{source}: pylhe and the file's text disagree on event {n_events + 1}")
                stream.write(_with_weights(text, points, event_weights))
            original = np.array([float(e.eventinfo.weight) for e in chunk])
            sums += weights.sum(axis=0)
            reference_sum += original.sum()
            columns.append(weights)
            n_events += len(chunk)
        tail = "".join(text for _, text in blocks)
        if "</LesHouchesEvents>" not in tail:
            raise InferenceError(f"{source}: the file ends after {n_events} complete events without "
                                 "</LesHouchesEvents> (truncated?); nothing was written")
        stream.write(tail)
        if stream is not raw:
            stream.close()
    all_weights = np.concatenate(columns) if columns else np.zeros((0, len(points)))
    _update_columnar(source, points, all_weights, log)
    log(f"{n_events} events of {source} reweighted to {len(points)} point(s), written to {output}")
    return ReweightResult(output, n_events, points, tuple(float(s) for s in sums), float(reference_sum))


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
        groups.setdefault(target.subprocess, []).append((i, momenta[list(target.order)],
                                                         float(event.eventinfo.aqcd), float(event.eventinfo.weight)))
    weights = np.zeros((len(chunk), n_points))
    for index, items in groups.items():
        rows = np.array([i for i, _, _, _ in items])
        momenta = np.stack([m for _, m, _, _ in items])
        alpha_s = np.array([a for _, _, a, _ in items])
        alpha_s = np.where(alpha_s > 0, alpha_s, evaluators[index].settings[0].get("aS", 0.0) or 0.0)
        ratios, reference = evaluators[index](momenta, alpha_s)
        event_weights = np.array([w for _, _, _, w in items])
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


def _update_columnar(source: Path, points, weights: np.ndarray, log) -> None:
    """Add columns rwgt_<id> to a madgen columnar file of the same events beside the LHE file."""
    from madgen.runtime.columnar import read_columnar, read_columns, write_columnar

    for name in ("events.npz", "events.h5"):
        path = source.with_name(name)
        if not path.is_file():
            continue
        record, metadata = read_columnar(path)
        if len(record) != len(weights):
            log(f"{path} holds {len(record)} events, {source} {len(weights)}: its weights were not updated")
            continue
        known = set(record.columns())
        extra = {key: value for key, value in read_columns(path).items() if key not in known}
        extra.update({p.weight_id: weights[:, k] for k, p in enumerate(points)})
        reweighting = {**metadata.get("reweighting", {}), **{p.weight_id: dict(p.parameters) for p in points}}
        write_columnar(path, record, {**metadata, "reweighting": reweighting},
                       format="hdf5" if path.suffix == ".h5" else "npz", extra_columns=extra)
        log(f"{path}: added the columns {', '.join(p.weight_id for p in points)}")
