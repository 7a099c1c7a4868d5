"""Accepted events -> event records (flavours, helicities, colour flows, scales, couplings,
resonances) -> the run's files, chunk by chunk, so that memory stays bounded whatever the number
of events.

Flavours: within a kernel group the member subprocess of each event was chosen on the device in
proportion to its parton luminosity. Helicities and leading-colour flows are chosen per event in
proportion to their contributions to |M|^2, as MadGraph does; the selection runs in fixed-size
padded batches so it compiles once per kernel.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from madgen.errors import RunCardError
from madgen.phasespace.kinematics import partonic_frame

SELECTION_BATCH = 4096
"""Events per compiled helicity/colour selection (a fixed shape: one compilation per kernel)."""

LHE_BYTES_PER_LEG = 140
"""Size of one particle line in an LHE file (plus an event header of about as much)."""

DECORATE_STREAM = 5
"""Key stream of the helicity and colour choices."""

DECAY_LENGTH_STREAM = 6
"""Key stream of the decay lengths (run card ``time_of_flight``)."""

HBAR_C_GEV_MM = 1.973269804e-13
"""hbar c in GeV mm (CODATA 2018: 197.3269804 MeV fm): a particle of width Gamma has the mean proper
decay length c tau = hbar c / Gamma."""


class ChunkRecords(NamedTuple):
    """One chunk of events for the run's files: ``lhe`` with MadGraph's status-2 lines of each event (the
    decay chains' resonances and the s-channel resonances on their mass shell in the event's channel:
    lines vary from event to event, as in MadGraph's files); ``columnar`` with one layout per process
    (its legs and the resonances its process string asks for), for array code. Same events, same order."""

    lhe: object
    columnar: object


def event_records(prepared, group, accepted, weight: float, key, decay_lengths=None,
                  masses_and_widths=None) -> ChunkRecords:
    """The event records of one chunk of accepted events (order kept): ``group`` (k,) kernel group
    and ``accepted`` (an ``Accepted`` of host arrays) of each event; each event weighs ``weight``
    with the sign of its integrand. ``decay_lengths``: a ``DecayLengths`` of the chunk (run card
    ``time_of_flight``), or None for no lifetimes; ``masses_and_widths``: a dict the caller keeps across
    chunks, where each group's propagator masses and widths at the run's parameters are computed once."""
    from madgen.phasespace.channels import propagator_parameters
    from madgen.runtime.columnar import EventRecord, concatenate
    from madgen.runtime.resonances import decays_of, onshell_resonances, with_resonances

    parts = {"lhe": ([], []), "columnar": ([], [])}

    def add(name, kernel, record, decays, rows):
        if decay_lengths is not None:
            record = decay_lengths.fill(record, kernel, decays, rows)
        parts[name][0].append(record)
        parts[name][1].append(rows)

    uniforms = np.asarray(jax.random.uniform(key, (len(group), 2), dtype=np.float64))
    for g, integrand in enumerate(prepared.integrands):
        rows = np.nonzero(group == g)[0]
        if len(rows) == 0:
            continue
        kernel = integrand.kernel
        evaluation = jax.tree_util.tree_map(lambda a: a[rows], accepted.evaluation)
        evaluation = evaluation._replace(momenta=evaluation.momenta[:, :kernel.n_legs])  # padded to the widest group
        members = np.asarray(integrand.members)[accepted.member[rows]]
        subprocesses = prepared.process.subprocesses
        pdg_ids = np.array([subprocesses[m].pdg_ids for m in members], dtype=np.int64).reshape(len(rows), -1)
        channel = np.asarray(accepted.channel)[rows]
        channel_diagram = np.array([m.diagrams[0] if m.diagrams else 0 for m in integrand.maps], dtype=np.int32)
        # helicities are those of the partonic centre-of-mass frame, where |M|^2 was evaluated (MadGraph's me_frame)
        partonic = np.asarray(partonic_frame(evaluation.momenta, kernel.n_initial))
        helicities, colour = select_helicity_and_colour(kernel, partonic, uniforms[rows],
                                                        _point_parameters(prepared, evaluation.alpha_s),
                                                        prepared.collider.polarisations if prepared.collider.polarised
                                                        else None, channel_diagram[channel])
        mirrored = np.asarray(integrand.mirror_flags)[accepted.member[rows]]
        evaluation, helicities, colour = mirror_events(mirrored, evaluation, helicities, colour)
        alpha_ew = kernel.alpha_couplings(dict(prepared.parameters))[0]
        mu_f = np.maximum(evaluation.mu_f1, evaluation.mu_f2)
        scale = mu_f if prepared.collider.has_pdf else evaluation.mu_r  # SCALUP: muF (MadGraph); muR without PDFs
        chosen = np.take_along_axis(evaluation.densities, accepted.member[rows][:, None], axis=-1)[:, 0]
        columns = dict(
            pdg_ids=pdg_ids, momenta=evaluation.momenta, weights=np.where(evaluation.weight < 0, -weight, weight),
            # the physical mass |m| (SLHA's negative neutralino masses are a sign of the mixing), as MadGraph's
            # pmass (ABS of the mass parameter) and the LHE standard's generated mass
            masses=np.abs(np.asarray(kernel.masses(dict(prepared.parameters)))), helicities=helicities, colour=colour,
            scale=scale, aqed=alpha_ew, aqcd=evaluation.alpha_s, x1=evaluation.x1, x2=evaluation.x2,
            # each lab beam's own muF: the luminosity took beam 1's f at mu_f1 and beam 2's at mu_f2, mirrors too
            mu_r=evaluation.mu_r, mu_f=evaluation.mu_f1, mu_f2=evaluation.mu_f2, luminosity=chosen,
            n_qcd=integrand.n_qcd, process_id=g + 1)
        base = EventRecord.from_arrays(**columns, n_initial=kernel.n_initial)
        process_decays = decays_of(kernel)
        add("columnar", kernel, with_resonances(kernel, base, process_decays), process_decays, rows)
        cache = {} if masses_and_widths is None else masses_and_widths
        if g not in cache:
            cache[g] = propagator_parameters(kernel, dict(prepared.parameters))
        internal = cache[g]
        for k in np.unique(channel):  # MadGraph's status-2 lines follow each event's channel (its diagram)
            in_channel = np.nonzero(channel == k)[0]
            diagrams = integrand.maps[int(k)].diagrams
            for picked, decays in onshell_resonances(kernel, diagrams[0] if diagrams else None,
                                                     base.momenta[in_channel], internal, prepared.run.bwcutoff):
                picked = in_channel[picked]
                add("lhe", kernel, with_resonances(kernel, _rows_of(base, picked), decays), decays, rows[picked])

    def assembled(name):
        records, order = parts[name]
        record = concatenate(records)
        return _rows_of(record, np.argsort(np.concatenate(order), kind="stable"))

    return ChunkRecords(assembled("lhe"), assembled("columnar"))


def _rows_of(record, rows):
    """The events ``rows`` of an ``EventRecord``."""
    return type(record)(**{name: column[rows] for name, column in record.columns().items()})


def mean_decay_lengths(param_card: str) -> dict[int, float]:
    """hbar c / Gamma in mm of every particle (PDG id, either sign) with a positive width in the SLHA
    ``param_card`` text (its DECAY lines)."""
    from madgen.model.param_card import parse_param_card

    widths = parse_param_card(param_card, "the run's param card").decays
    return {sign * pdg: HBAR_C_GEV_MM / width for pdg, width in widths.items() if width > 0 for sign in (1, -1)}


class DecayLengths:
    """LHE's VTIMUP of one chunk's lines as MadGraph's ``time_of_flight`` fills it: every line whose particle
    has a width gets a proper decay length c tau drawn from the exponential distribution of mean hbar c /
    Gamma (``mean_lengths``, from ``mean_decay_lengths``), kept where it exceeds ``threshold`` (mm), 0
    elsewhere. One draw per event and line identity (a process leg, or a resonance by its products), so
    that the LHE and the columnar file give a particle the same length."""

    RESONANCE_SLOTS = 1 << 20
    """Draw streams of resonances start here (a leg's stream is its index)."""

    def __init__(self, mean_lengths: dict[int, float], threshold: float, key, n_events: int):
        self.mean_lengths, self.threshold, self.key, self.n_events = mean_lengths, threshold, key, n_events
        self._draws: dict[int, np.ndarray] = {}

    def _draw(self, slot: int) -> np.ndarray:
        if slot not in self._draws:
            self._draws[slot] = np.asarray(jax.random.exponential(jax.random.fold_in(self.key, slot),
                                                                  (self.n_events,), dtype=np.float64))
        return self._draws[slot]

    def fill(self, record, kernel, decays, rows):
        """``record`` (events ``rows`` of the chunk, lines as ``with_resonances`` puts ``decays`` among the
        kernel's legs) with its lifetimes."""
        legs = [int(leg["number"]) for leg in kernel.channels["legs"]]
        n_initial = kernel.n_initial
        slots = (list(range(n_initial))
                 + [self.RESONANCE_SLOTS + sum(1 << legs.index(int(n)) for n in d["legs"]) for d in decays]
                 + list(range(n_initial, len(legs))))
        ids, inverse = np.unique(record.pdg_ids, return_inverse=True)  # a lookup per particle, not per line
        mean = np.array([self.mean_lengths.get(int(pdg), 0.0) for pdg in ids])[inverse].reshape(record.pdg_ids.shape)
        drawn = mean * np.stack([self._draw(slot)[rows] for slot in slots], axis=-1) if slots else mean
        lifetime = np.where(drawn > self.threshold, drawn, 0.0)
        return type(record)(**{**record.columns(), "lifetime": lifetime})


def mirror_events(mirrored, evaluation, helicities=None, colour=None):
    """Events of mirror members (b a > X served by the kernel of a b > X) as they happened: the
    kernel's event rotated by pi about the x axis (py, pz -> -py, -pz), its initial legs exchanged,
    and so its momentum fractions."""
    if not np.any(mirrored):
        return evaluation, helicities, colour
    def swap(a):
        exchanged = a[:, [1, 0, *range(2, a.shape[1])]]
        return np.where(mirrored.reshape((-1,) + (1,) * (a.ndim - 1)), exchanged, a)

    momenta = np.where(mirrored[:, None, None], evaluation.momenta * np.array([1.0, 1.0, -1.0, -1.0]),
                       evaluation.momenta)
    evaluation = evaluation._replace(momenta=swap(momenta), x1=np.where(mirrored, evaluation.x2, evaluation.x1),
                                     x2=np.where(mirrored, evaluation.x1, evaluation.x2))
    return evaluation, *(None if a is None else swap(a) for a in (helicities, colour))


def _point_parameters(prepared, alpha_s):
    """The run's parameters at each event as its |M|^2 had them: alpha_s(muR) of the event as ``aS`` (the
    integrand's ``_couplings``: of the PDF set, or run from aS with particle beams)."""
    parameters = dict(prepared.parameters)
    if "aS" in parameters:
        parameters["aS"] = np.asarray(alpha_s, dtype=np.float64)
    return parameters


def select_helicity_and_colour(kernel, momenta, uniforms, parameters=None, polarisations=None, diagrams=None):
    """``kernel.select_helicity_and_colour`` in padded batches of SELECTION_BATCH events, at ``parameters``
    (the package's defaults where None; a value may be given per event, e.g. alpha_s(muR)), for the
    beams' ``polarisations`` (None: unpolarised) and with each event's colour flow among those of its
    channel's diagram (``diagrams``, per event, 0 for any; None: any)."""
    parameters = dict(parameters or {})
    per_event = {name for name, value in parameters.items() if np.ndim(value) == 1 and len(value) == len(momenta)}
    if diagrams is None or not hasattr(kernel, "diagram_flows"):  # a package from before diagram_flows: any flow
        diagrams = None
    helicities, colour = [], []
    for start in range(0, len(momenta), SELECTION_BATCH):
        block, u = momenta[start:start + SELECTION_BATCH], uniforms[start:start + SELECTION_BATCH]
        values = {name: (value[start:start + SELECTION_BATCH] if name in per_event else value)
                  for name, value in parameters.items()}
        chosen = None if diagrams is None else np.asarray(diagrams[start:start + SELECTION_BATCH], dtype=np.int32)
        filled = len(block)
        if filled < SELECTION_BATCH:
            block = np.concatenate([block, np.repeat(block[:1], SELECTION_BATCH - filled, axis=0)])
            u = np.concatenate([u, np.full((SELECTION_BATCH - filled, 2), 0.5)])
            values = {name: (np.concatenate([value, np.repeat(value[:1], SELECTION_BATCH - filled)])
                             if name in per_event else value) for name, value in values.items()}
            chosen = None if chosen is None else np.concatenate([chosen, np.zeros(SELECTION_BATCH - filled, np.int32)])
        extra = {} if chosen is None else {"diagrams": chosen}
        h, c = kernel.select_helicity_and_colour(block, u, values or None, check=False, polarisations=polarisations,
                                                 **extra)
        helicities.append(np.asarray(h)[:filled])
        colour.append(np.asarray(c)[:filled])
    return np.concatenate(helicities), np.concatenate(colour)


def check_disk_space(run, n_legs: int, directory: Path) -> None:
    """Refuse a run whose files cannot fit on the disk (before integrating, not after hours)."""
    per_event = 0
    if run.lhe:
        per_event += LHE_BYTES_PER_LEG * (n_legs + 1) + (400 if run.beams else 0)
    if run.columnar:
        per_event += 8 * n_legs * 11 + 8 * 10  # per line: momenta, mass, helicity, colour, pdg, status, mothers
    needed = 2 * per_event * run.n_events  # scratch files, then the final file beside them
    probe = directory
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise RunCardError(f"{run.path}, key 'n_events': {run.n_events} events need about {_bytes(needed)} on disk "
                           f"while writing ({_bytes(needed / 2)} of files), but {probe} has {_bytes(free)} free; "
                           "ask for fewer events or free some space")


def _bytes(n: float) -> str:
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    power = min(int(math.log(max(n, 1), 1000)), len(units) - 1)
    return f"{n / 1000 ** power:.3g} {units[power]}"


COLUMNAR_FILES = {"npz": "events.npz", "hdf5": "events.h5", "lheh5": "events.lheh5"}
"""The columnar event file of each run-card ``columnar`` choice, in the run directory."""


class RunFiles:
    """The files of one run, written into a (staging) directory: ``events.lhe``, ``events.npz`` or
    ``events.h5``, ``results.json``. Chunks stream in through ``append``; ``finish`` writes them."""

    def __init__(self, directory: Path, run, pdf_info: bool = False, systematics=None):
        from madgen.runtime.columnar import ColumnarWriter
        from madgen.runtime.lhe import LHEWriter

        self.directory, self.run = Path(directory), run
        self.systematics = systematics  # madgen.runtime.systematics.ScaleWeights, or None
        # columnar: lheh5 is converted from the LHE file (madgen.runtime.lheh5): a scratch one without lhe
        self._lhe_path = self.directory / ("events.lhe" if run.lhe else ".events.lheh5-source.lhe")
        self._lhe = LHEWriter(self._lhe_path, mgrwt=pdf_info) if run.lhe or run.columnar == "lheh5" else None
        written_here = run.columnar in ("npz", "hdf5")  # lheh5 is converted from the LHE file in finish
        self._columnar = ColumnarWriter(self.directory / COLUMNAR_FILES[run.columnar], run.columnar) \
            if written_here else None

    @property
    def event_files(self) -> tuple[str, ...]:
        """Names of the event files this run writes (LHE, columnar), in the run directory."""
        names = ["events.lhe"] if self.run.lhe else []
        return tuple(names + ([COLUMNAR_FILES[self.run.columnar]] if self.run.columnar in COLUMNAR_FILES else []))

    def __enter__(self) -> "RunFiles":
        for writer in (self._lhe, self._columnar):
            if writer is not None:
                writer.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for writer in (self._lhe, self._columnar):
            if writer is not None:
                writer.__exit__(*exc)

    def append(self, records) -> None:
        """Stream one chunk: ``records`` a ``ChunkRecords`` (or one ``EventRecord`` for both files)."""
        lhe, columnar = (records.lhe, records.columnar) if isinstance(records, ChunkRecords) else (records, records)
        named = None
        if self.systematics is not None:
            named = (self.systematics.ids, self.systematics(columnar))
        if self._lhe is not None:
            self._lhe.append(lhe, named)
        if self._columnar is not None:
            self._columnar.append(columnar)
            if named is not None:
                self._columnar.append_column("scale_weights", named[1])

    def finish(self, result, prepared, event_weight: float) -> None:
        """Write every file complete (results.json last)."""
        from madgen.output import atomic_write_text
        from madgen.runtime.lhe import Beams, ProcessLine

        run, collider = self.run, prepared.collider
        process = prepared.process
        if self._lhe is not None:
            info = {"process": str(process.process), "run_card": run.to_yaml(),
                    "cross_section": f"{result.cross_section_pb:.10e} +- {result.error_pb:.4e} pb"}
            pdf_id = int(collider.pdf.lhapdf_id or 0) if collider.pdf is not None else 0
            beams = Beams(*(b.pdg for b in collider.beams), *collider.energies,
                          *(pdf_id if b.hadron else 0 for b in collider.beams))
            lines = [ProcessLine(g["cross_section_pb"], g["error_pb"], event_weight, g["process_id"])
                     for g in result.groups]
            self._lhe.finish(beams=beams, cross_section_pb=result.cross_section_pb, error_pb=result.error_pb,
                             header_info=info, weighting_strategy=-4, processes=lines,
                             slha=_param_card(process, prepared.parameters),
                             weight_group=self.systematics.weight_group() if self.systematics else None)
            if run.columnar == "lheh5":
                from madgen.runtime.lheh5 import write_lheh5_from_lhe

                try:
                    write_lheh5_from_lhe(self._lhe_path, self.directory / COLUMNAR_FILES["lheh5"])
                finally:
                    if not run.lhe:
                        self._lhe_path.unlink(missing_ok=True)
        if self._columnar is not None:
            self._columnar.finish({
                "process": str(process.process), "cross_section_pb": result.cross_section_pb,
                "error_pb": result.error_pb, "seed": run.seed, "sqrt_s": run_sqrt_s(prepared),
                "beam_energies": list(collider.energies), "beams": [b.name for b in collider.beams],
                "pdf": collider.pdf.name if collider.pdf is not None else None,
                "lhapdf_id": collider.pdf.lhapdf_id if collider.pdf is not None else None,
                "event_norm": run.event_norm, "run_card": run.as_mapping(),
                **({"scale_weights": [dict(id=v.weight_id, mu_r_factor=v.mu_r_factor, mu_f_factor=v.mu_f_factor)
                                      for v in self.systematics.variations]} if self.systematics else {})})
        atomic_write_text(self.directory / "results.json", json.dumps(asdict(result), indent=2, sort_keys=True) + "\n")


def run_sqrt_s(prepared) -> float:
    """The collision energy: of the beams (hadrons), or of the process's initial particles."""
    collider = prepared.collider
    if collider.has_pdf:
        return math.sqrt(collider.s)
    masses = [float(m) for m in np.asarray(prepared.process.subprocesses[0].masses())[:2]]
    return collider.fixed_sqrt_s(*masses)


def _param_card(process, parameters) -> str | None:
    """The run's param card (the package's, at the run's parameters) for the LHE's ``<slha>``; None for a
    package generated before packages carried one."""
    try:
        return process.param_card(parameters)
    except FileNotFoundError:
        return None
