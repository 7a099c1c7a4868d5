"""Gold mining (Brehmer, Louppe, Pavez, Cranmer, PNAS 117 (2020) 5242): unweighted parton-level
events z sampled at theta_ref, with the joint likelihood ratios and the joint score.

The density of z is p(z|theta) = L(x1, x2, muF) |M|^2(z; theta, alpha_s(muR)) dPhi(z) flux / sigma(theta),
restricted to the cuts, with L the parton luminosity (1 for particle beams). When no external mass
depends on theta, dPhi, the flux and the cuts do not depend on theta; the PDFs do not depend on
theta, and the scales (so L and alpha_s) depend on the momenta only. So

    log r(z | theta_ref, theta_i) = log |M|^2(z; theta_ref) - log sigma(theta_ref)
                                    - log |M|^2(z; theta_i)   + log sigma(theta_i),
    t(z | theta_ref) = grad log |M|^2(z; theta_ref) - grad sigma(theta_ref) / sigma(theta_ref),

exactly, with |M|^2 evaluated at each event's alpha_s(muR) (of the PDF set with hadron beams, run from aS
with particle beams).

Parameters that move an external mass change the support of p(momenta|theta) (the mass shell):
for 2 -> 2 processes the events are then described by latent variables whose support does not
move (x1, x2 and the CM direction of the first final-state particle; ``madgen.inference.latent``),
and r and t follow from the full density p(z|theta); for more final-state particles they are
refused (the cross-section derivative is still available from ``differentiable_cross_section``).
sigma(theta) and its gradient come from one fixed sample of the trained grids, so all sigma(theta_i)
share their sampling fluctuations (log sigma differences are far more precise than each sigma).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from madgen.contract import jit, match_parameter_name, match_parameter_point
from madgen.inference.cross_section import as_theta, differentiable_cross_section
from madgen.inference.errors import InferenceError
from madgen.pdf.alphas import MADGRAPH_MZ
from madgen.inference.fisher import fisher_information
from madgen.inference.goldfile import GoldSample, write_gold
from madgen.inference.chunking import DEFAULT_CHUNK_SIZE, chunk_size_of, chunked_map, mode_of
from madgen.inference.gradients import (matrix_element_values, parameter_derivative, parameter_names,
                                        parameter_value_and_gradient, task_parameters, theta_of, with_theta)
from madgen.runtime.tasks import LocalTasks, leaf_bytes, task_function

def mass_parameters(process, names: Sequence[str], base: Mapping) -> list[str]:
    """The names among ``names`` on which some external mass of some subprocess depends."""
    theta = jnp.asarray(theta_of(base, names))
    moving = np.zeros(len(names), dtype=bool)
    for sub in process.subprocesses:
        jacobian = jax.jacfwd(lambda t, sub=sub: sub.masses(with_theta(base, names, t)))(theta)
        moving |= np.any(np.asarray(jacobian) != 0, axis=0)
    return [n for n, m in zip(names, moving) if m]


@dataclass(frozen=True)
class MinedEvents:
    """Unweighted events of a prepared run, with what gold needs: the kernel group of each event,
    its subprocess, and alpha_s(muR) of its matrix element (run from the model's aS without PDFs)."""

    momenta: np.ndarray  # (N, n, 4) lab frame
    group: np.ndarray  # (N,)
    subprocess: np.ndarray  # (N,)
    mirrored: np.ndarray  # (N,) bool: a mirror b a > X of its group's kernel a b > X
    alpha_s: np.ndarray  # (N,)
    x1: np.ndarray
    x2: np.ndarray
    mu_f: np.ndarray
    mu_r: np.ndarray


def collect_events(prepared, n_events: int) -> MinedEvents:
    """``n_events`` unweighted events of the prepared run, in memory. Gold needs a probability density:
    an integrand negative in more than ``max_weight_tolerance`` of its magnitude is refused, and the
    few events of negative weight within it (an LO PDF set below zero) are left out."""
    from madgen.runtime.events import mirror_events

    plan = prepared.plan_unweighting(n_events)
    tolerance = prepared.run.max_weight_tolerance
    if plan.negative_fraction > tolerance:
        raise InferenceError(
            f"gold mining needs a probability density, but the integrand of '{prepared.process.process}' is "
            f"negative in part of the phase space ({plan.negative_fraction:.2g} of the integral of its magnitude, "
            f"more than max_weight_tolerance = {tolerance:g}): an interference term such as NP^2==1 alone is "
            "not a likelihood; mine the process without the squared-order selection (e.g. NP<=1) instead")
    parts = []
    for group, accepted in prepared.events(n_events, plan):
        positive = np.asarray(accepted.evaluation.weight) > 0
        group, accepted = group[positive], jax.tree_util.tree_map(lambda a: a[positive] if np.ndim(a) else a, accepted)
        members = np.array([prepared.integrands[g].members[m] for g, m in zip(group, accepted.member)], dtype=np.int64)
        mirrored = np.array([prepared.integrands[g].mirror_flags[m] for g, m in zip(group, accepted.member)],
                            dtype=bool)
        e, _, _ = mirror_events(mirrored, accepted.evaluation)
        parts.append((e.momenta, group, members, mirrored, e.alpha_s, e.x1, e.x2, np.maximum(e.mu_f1, e.mu_f2),
                      e.mu_r))
    return MinedEvents(*(np.concatenate(column) for column in zip(*parts)))


GOLD_TASK_EVENTS = 65536
"""Events per gold task at most: each group's events are cut into pieces of ``gold_piece_size`` (the last
one padded with copies of its first event), so every piece runs through the same compiled function
wherever it runs, and the gold is the same bytes with or without Dask workers, whatever their number."""


def gold_piece_size(n_events: int) -> int:
    """Events per gold task (joint or latent-variable) of a kernel group of ``n_events``: GOLD_TASK_EVENTS,
    or for fewer events the next power of two (a mine of a few thousand events is not padded to 65536
    events of gradients; few distinct shapes to compile). It depends on the events only, never on the
    workers."""
    return min(GOLD_TASK_EVENTS, 1 << max(n_events - 1, 0).bit_length())


def joint_gold(prepared, events: MinedEvents, names, base: Mapping, thetas: np.ndarray, log_sigma_ref: float,
               log_sigmas: np.ndarray, grad_log_sigma: np.ndarray, chunk: int = DEFAULT_CHUNK_SIZE,
               mode: str = "auto", tasks=None):
    """(log|M|^2 at theta_ref (N,), log r (N, m), joint score (N, k)) of the events.

    Each event's |M|^2 is its kernel group's (one compiled function per group) with the event's
    alpha_s(muR) as ``aS`` (unless aS is mined: particle beams at muR = MZ): the PDFs and the scales depend on the momenta only,
    so at fixed momenta they cancel in r and drop out of t. Values and scores are computed ``chunk``
    events at a time inside one compiled function (bounded memory); ``mode``: of the score
    (``madgen.inference.gradients``). ``tasks``: None (here) or the run's ``DaskTasks``: the pieces of
    ``gold_piece_size`` events are then computed on the workers."""
    n = len(events.momenta)
    log_me2, log_r = np.zeros(n), np.zeros((n, len(thetas)))
    score = np.zeros((n, len(names)))
    # each event's alpha_s(muR) as aS: of the PDF set, or run from aS with particle beams (unless aS is mined,
    # which _check_before_the_work allows only at a fixed scale of MZ, where alpha_s is aS)
    per_event_alpha = prepared.collider.has_pdf or ("aS" in base and "aS" not in names)
    settings = GoldSettings(tuple(names), tuple(sorted((k, float(v)) for k, v in base.items() if k != "aS" or
                                                       not per_event_alpha)),
                            np.asarray(thetas, dtype=np.float64), float(log_sigma_ref),
                            np.asarray(log_sigmas, dtype=np.float64), int(chunk), mode)
    pieces, arguments = [], []
    for g in range(len(prepared.integrands)):
        rows = np.nonzero(events.group == g)[0]
        # the kernel's leg order: a mirror event's initial legs exchanged back (|M|^2 is Lorentz invariant)
        momenta = events.momenta[rows]
        momenta = np.where(events.mirrored[rows][:, None, None], momenta[:, [1, 0, *range(2, momenta.shape[1])]],
                           momenta)
        alpha_s = events.alpha_s[rows] if per_event_alpha else None
        size = gold_piece_size(len(rows))
        for start in range(0, len(rows), size):
            piece = slice(start, start + size)
            pieces.append(rows[piece])
            arguments.append((g, _padded(momenta[piece], size),
                              None if alpha_s is None else _padded(alpha_s[piece], size), settings))
    results = (tasks or LocalTasks(prepared.samplers)).map(gold_task, arguments)
    for rows, (value, gradient, ratios) in zip(pieces, results):
        k = len(rows)
        log_me2[rows], score[rows], log_r[rows] = value[:k], gradient[:k] - grad_log_sigma, ratios[:k]
    return log_me2, log_r, score


class GoldSettings(NamedTuple):
    """What a gold task needs besides its events (plain data, a pytree: it travels to Dask workers)."""

    names: tuple[str, ...]
    base: tuple[tuple[str, float], ...]  # theta_ref and the other parameters (aS per event unless mined)
    thetas: np.ndarray  # (m, k) alternative hypotheses
    log_sigma_ref: float
    log_sigmas: np.ndarray  # (m,)
    chunk: int
    mode: str


def gold_task(samplers, group: int, momenta: np.ndarray, alpha_s, settings: GoldSettings):
    """(log|M|^2 (n,), d log|M|^2 / d theta (n, k), log r without the sigma gradient (n, m)) of one piece of
    events of kernel group ``group`` (a task: ``samplers`` are the run's, here or on a worker)."""
    kernel = samplers[int(group)].integrand.kernel
    (names, base), chunk = task_parameters(settings), int(settings.chunk)
    at = base | ({"aS": alpha_s} if alpha_s is not None else {})
    value, gradient = parameter_value_and_gradient(kernel, momenta, names, at, mode=str(settings.mode),
                                                   chunk_size=chunk)
    ratios = np.zeros((len(momenta), len(settings.thetas)))
    for i, theta in enumerate(np.asarray(settings.thetas)):
        other = matrix_element_values(kernel, momenta, {**at, **dict(zip(names, map(float, theta)))}, chunk_size=chunk)
        ratios[:, i] = (value - float(settings.log_sigma_ref)) - (other - float(settings.log_sigmas[i]))
    return value, gradient, ratios


def _padded(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` with copies of its first row appended up to ``size`` rows (one shape, one
    compilation, for every piece)."""
    missing = size - len(array)
    return np.concatenate([array, np.repeat(array[:1], missing, axis=0)]) if missing else array


def _process(process_or_package):
    """(The loaded process, its package directory or None) of ``mine``'s first argument: a process object
    or a generated package directory
    (a process card is resolved, and generated if needed, by ``madgen.api.mine`` and the CLI)."""
    from madgen.contract import load_package

    if hasattr(process_or_package, "subprocesses"):
        return process_or_package, None
    path = Path(process_or_package)
    if not path.is_dir():
        raise InferenceError(f"{path} is not a generated package directory: give one, or mine a process card "
                             "with `madgen mine CARD` or madgen.api.mine(CARD, ...)")
    return load_package(path), path.resolve()


def latent_gold(prepared, events: MinedEvents, names, base: Mapping, thetas: np.ndarray, log_sigma_ref: float,
                log_sigmas: np.ndarray, grad_log_sigma: np.ndarray, pdg_ids: np.ndarray,
                chunk: int = DEFAULT_CHUNK_SIZE, mode: str = "auto", tasks=None):
    """(latent z (N, 4), log r (N, m), joint score (N, k)) of 2 -> 2 events from the density of their
    latent variables (``madgen.inference.latent``), for parameters that move external masses.

    Each group's events are cut into pieces of ``gold_piece_size`` events (the last one padded), run
    through ``tasks`` (None: here; the run's ``DaskTasks``: on the workers) and merged in piece order, as
    in ``joint_gold``: the same bytes with any number of workers, or none."""
    from madgen.inference.latent import latent_variables

    z = latent_variables(events.momenta, events.x1, events.x2)
    n = len(z)
    log_r, score = np.zeros((n, len(thetas))), np.zeros((n, len(names)))
    settings = GoldSettings(tuple(names), tuple(sorted((k, float(v)) for k, v in base.items())),
                            np.asarray(thetas, dtype=np.float64), float(log_sigma_ref),
                            np.asarray(log_sigmas, dtype=np.float64), chunk_size_of(chunk), mode_of(mode, len(names)))
    pieces, arguments = [], []
    for g, integrand in enumerate(prepared.integrands):
        rows = np.nonzero(events.group == g)[0]
        size = gold_piece_size(len(rows))
        for start in range(0, len(rows), size):
            piece = rows[start:start + size]
            pieces.append(piece)
            arguments.append((g, _padded(z[piece], size), _padded(pdg_ids[piece, :2], size),
                              _padded(events.mirrored[piece], size), integrand.settings(), settings))
    results = (tasks or LocalTasks(prepared.samplers)).map(latent_task, arguments)
    for rows, (gradient, ratios) in zip(pieces, results):
        k = len(rows)
        score[rows], log_r[rows] = gradient[:k] - grad_log_sigma, ratios[:k]
    return z, log_r, score


def latent_task(samplers, group: int, z: np.ndarray, partons: np.ndarray, mirrored: np.ndarray, run_settings,
                settings: GoldSettings):
    """(d log p / d theta (n, k), log r without the sigma gradient (n, m); +inf where p(z|theta_i) = 0)
    of one piece of 2 -> 2 events of kernel group ``group`` from the density of their latent variables
    z (n, 4) (a task: ``samplers`` are the run's, here or on a worker)."""
    value_and_gradient, value_only = _latent_functions(samplers[int(group)].integrand, settings, run_settings)
    names, base = task_parameters(settings)
    arrays = [jnp.asarray(a) for a in (z, partons, mirrored)]
    value, gradient = map(np.asarray, value_and_gradient(jnp.asarray(theta_of(base, names)), *arrays))
    ratios = np.zeros((len(z), len(settings.thetas)))
    for i, theta in enumerate(np.asarray(settings.thetas)):
        other = np.asarray(value_only(jnp.asarray(theta), *arrays))
        with np.errstate(invalid="ignore"):
            ratios[:, i] = np.where(np.isneginf(other), np.inf, (value - float(settings.log_sigma_ref))
                                    - (other - float(settings.log_sigmas[i])))
    return gradient, ratios


def _latent_functions(integrand, settings: GoldSettings, run_settings):
    """jit(theta, z, partons, mirrored) -> (log p (N,), d log p / d theta (N, k)), and -> log p (N,),
    both ``settings.chunk`` events at a time, with the other parameters and the run settings (beam
    energies, scales) as constants; built once per process and settings."""
    names, base = task_parameters(settings)
    mode, chunk = str(settings.mode), int(settings.chunk)
    key = ("latent", id(integrand), names, tuple(base.items()), mode, chunk, leaf_bytes(run_settings))
    run_settings = jax.tree_util.tree_map(jnp.asarray, run_settings)
    return task_function(key, lambda: _compile_latent(integrand, names, base, mode, chunk, run_settings))


def _compile_latent(integrand, names, base: Mapping, mode: str, chunk: int, run_settings):
    """The jitted pair of ``_latent_functions``."""
    from madgen.inference.latent import log_density

    def density(theta, z, partons, mirrored):
        return log_density(integrand, z, partons, mirrored, with_theta(base, names, theta), run_settings)

    with_gradient = parameter_derivative(density, len(names), mode, 1)
    return (jit(lambda theta, *a: chunked_map(lambda b: with_gradient(theta, *b), a, chunk), process=integrand.kernel),
            jit(lambda theta, *a: chunked_map(lambda b: density(theta, *b), a, chunk), process=integrand.kernel))


class StageClock:
    """Wall time of consecutive stages (seconds, in ``laps``): what ``mine`` records in its metadata."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = now - self._last
        self._last = now


def _check_before_the_work(process, run, names, base, alternatives, n_xsec_points, output) -> None:
    """What can be refused before integrating: the output file, --xsec-points, aS with hadron beams, and
    every theta (a value out of range, or one where the model is undefined, such as MZ = 0)."""
    from madgen.inference.goldfile import check_gold_output
    from madgen.runtime.beams import HADRONS
    from madgen.runtime.checks import check_defined_point

    if output is not None:
        check_gold_output(output)
    if n_xsec_points is not None and (isinstance(n_xsec_points, bool) or not isinstance(n_xsec_points, int)
                                      or n_xsec_points < 1):
        raise InferenceError(f"--xsec-points {n_xsec_points!r}: give a positive number of points (default: the run "
                             "card's points_per_iteration)")
    if "aS" in names and any(beam in HADRONS for beam in (run.beams or ())):
        raise InferenceError("with hadron beams alpha_s comes from the PDF set at the event's scale, not from "
                             "the parameter aS: choose other parameters")
    if "aS" in names and not (run.scales.fixed_ren_scale and run.scales.scale == MADGRAPH_MZ):
        raise InferenceError(f"with particle beams alpha_s runs from aS (alpha_s at {MADGRAPH_MZ} GeV) to each event's "
                             "renormalisation scale, as in MadGraph, and the gold does not differentiate that running: "
                             f"mine aS with a fixed scale of {MADGRAPH_MZ} GeV (run card 'scale: {MADGRAPH_MZ}'), where "
                             "alpha_s is aS, or choose other parameters")
    first = process.subprocesses[0]
    for label, theta in [("theta_ref", np.array([base[n] for n in names]))] + \
            [(f"theta {list(map(float, t))}", t) for t in alternatives]:
        point = {**base, **dict(zip(names, map(float, theta)))}
        first.complete_parameters(point)  # ranges: a negative mass or width, nan
        check_defined_point(process, point, f"{label} ({', '.join(names)})")


def _refuse_undefined_ratios(log_r: np.ndarray, alternatives: np.ndarray, names, process: str) -> None:
    """log r is nan where |M|^2 at a theta is negative (an interference-only process, NP^2==1): no
    likelihood ratio exists there, and a gold file must not carry it silently."""
    for column, theta in enumerate(alternatives):
        undefined = int(np.count_nonzero(np.isnan(log_r[:, column])))
        if undefined:
            point = ", ".join(f"{n}={float(v):g}" for n, v in zip(names, theta))
            raise InferenceError(
                f"theta ({point}): |M|^2 of '{process}' is negative (or not a number) for {undefined} of the "
                f"{len(log_r)} events, so log r is undefined there: an interference term such as NP^2==1 alone "
                "is not a likelihood at every theta; choose thetas where it stays positive, or mine the process "
                "without the squared-order selection (e.g. NP<=1); nothing was written")


def mine(card_or_package, run_card, parameters: Sequence[str], theta_ref=None, thetas=(), output=None,
         n_xsec_points: int | None = None, log=print, workers: int | None = None,
         scheduler: str | None = None) -> GoldSample:
    """Sample ``n_events`` (run card) unweighted events at theta_ref and compute their gold.

    ``parameters``: external UFO parameter names (ones that move an external mass only for 2 -> 2);
    ``theta_ref``: None (package defaults), a mapping or a sequence; ``thetas``: mappings or
    sequences, the alternative hypotheses of log r; ``output``: an HDF5 file to write (optional);
    ``workers`` / ``scheduler``: integrate, estimate sigma(theta) on the fixed sample, sample and compute
    the gold (joint and latent-variable) on Dask (``madgen.runtime.tasks``; needs the package directory
    as the first argument), with the same results as here. The metadata records each stage's wall time
    (``stages_s``: integration, sigma, events, gold).
    """
    from madgen.runtime.runcard import as_run_card
    from madgen.runtime.tasks import distribution

    start = time.perf_counter()
    run = as_run_card(run_card, log)
    if run.polbeam1 or run.polbeam2:
        raise InferenceError(f"{run.path}: gold mining with polarised beams (polbeam1/2) is not supported: the "
                             "gold is computed from the unpolarised |M|^2; mine with unpolarised beams")
    process, package_dir = _process(card_or_package)
    if (workers or scheduler) and package_dir is None:
        raise InferenceError("mining on Dask workers needs the generated package directory (the workers load it): "
                             "pass its path instead of the loaded process")
    first = process.subprocesses[0]
    if len({sub.n_legs for sub in process.subprocesses}) > 1:
        raise InferenceError(f"'{process.process}' has subprocesses with different numbers of particles: gold mining "
                             "needs one phase space (the observable x has one dimension); mine each multiplicity "
                             "from its own process card")
    known = list(first.default_parameters())  # names in any case, as MadGraph's `set` and `launch --set`
    names = parameter_names(first, [match_parameter_name(known, n) for n in
                                    ((parameters,) if isinstance(parameters, str) else parameters)])
    theta_ref = match_parameter_point(known, theta_ref, "theta_ref")
    if isinstance(thetas, Mapping) or isinstance(thetas, (str, bytes)):
        raise InferenceError(f"thetas {thetas!r}: give a list of points, e.g. [{{'{names[0]}': 1.0}}] (one mapping "
                             "is one point: put it in a list)")
    thetas = [match_parameter_point(known, theta, "theta") for theta in (thetas or ())]
    defaults = {k: float(v) for k, v in first.complete_parameters(None).items()}
    reference = as_theta(names, theta_ref, theta_of(defaults, names), "theta_ref")
    base = {**defaults, **dict(zip(names, map(float, reference)))}
    moving = mass_parameters(process, names, base)
    if moving and any(sub.n_legs - sub.n_initial != 2 for sub in process.subprocesses):
        raise InferenceError(
            f"parameter(s) {moving} change external masses of '{process.process}': the events' mass shell "
            "moves with theta, so p(z|theta) at different theta have different supports and the joint "
            "likelihood ratio is undefined (for 2 -> 2 processes madgen uses mass-independent latent "
            "variables instead); choose couplings or widths (for d sigma / d mass use "
            "madgen.inference.differentiable_cross_section)")
    alternatives = np.array([as_theta(names, t, reference) for t in thetas]).reshape(-1, len(names))
    _check_before_the_work(process, run, names, base, alternatives, n_xsec_points, output)

    stages = StageClock()
    with distribution(package_dir, run, workers, scheduler, log=log) as distribute:  # Dask: every stage's tasks
        xsec, prepared = differentiable_cross_section(process, run, names, dict(zip(names, reference)),
                                                      n_xsec_points, log=log, distribute=distribute)
        stages.lap("integration")
        at_ref = xsec.estimate(reference)
        if not at_ref.cross_section_pb > 0:
            raise InferenceError(f"sigma(theta_ref) of '{process.process}' is not positive on the fixed sample")
        others = [xsec.estimate(t, gradient=False) for t in alternatives]
        ratio_errors = np.array([xsec.log_ratio(t, reference)[1] for t in alternatives])
        log(f"sigma(theta_ref) = {at_ref.cross_section_pb:.6g} +- {at_ref.error_pb:.2g} pb, "
            f"d sigma / d({', '.join(names)}) = {np.array2string(at_ref.gradient, precision=5)} pb")
        if any(not o.cross_section_pb > 0 for o in others):
            raise InferenceError(f"sigma vanishes at one of the thetas {alternatives.tolist()}")
        stages.lap("sigma")

        events = collect_events(prepared, run.n_events)
        stages.lap("events")
        sigmas = (np.log(at_ref.cross_section_pb),
                  np.log([o.cross_section_pb for o in others]) if others else np.zeros(0),
                  at_ref.gradient / at_ref.cross_section_pb)
        tasks = prepared.tasks  # the run's DaskTasks, or None: here
        log_me2, log_r, score = joint_gold(prepared, events, names, base, alternatives, *sigmas, chunk=xsec.chunk,
                                           tasks=tasks)
        pdg_ids = np.array([process.subprocesses[s].pdg_ids for s in events.subprocess],
                           dtype=np.int64).reshape(len(events.momenta), -1)
        latent = None
        if moving:
            latent, log_r, score = latent_gold(prepared, events, names, base, alternatives, *sigmas, pdg_ids,
                                               chunk=xsec.chunk, tasks=tasks)
        _refuse_undefined_ratios(log_r, alternatives, names, process.process)
        stages.lap("gold")
    fisher = fisher_information(score, names)
    gold = GoldSample(
        str(process.process), names, reference, alternatives, events.momenta,
        pdg_ids, events.subprocess, log_me2, log_r, score, at_ref.cross_section_pb,
        at_ref.error_pb, at_ref.gradient, at_ref.gradient_error, np.array([o.cross_section_pb for o in others]),
        np.array([o.error_pb for o in others]), ratio_errors, fisher.information, fisher.error, base,
        {"run_card": run.to_yaml(), "seed": run.seed, "n_xsec_points": at_ref.n_points,
         "beam_energies": list(run.beam_energies), "beams": [b.name for b in prepared.collider.beams],
         "pdf": prepared.collider.pdf.name if prepared.collider.pdf is not None else None,
         "latent": "x1, x2, cos_theta, phi (partonic CM frame)" if moving else "momenta",
         "time_s": time.perf_counter() - start, "stages_s": stages.laps},
        np.stack([events.x1, events.x2], axis=1), np.stack([events.mu_r, events.mu_f], axis=1), latent)
    if output is not None:
        write_gold(output, gold)
    return gold


