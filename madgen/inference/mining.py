"""Gold mining (Brehmer, Louppe, Pavez, Cranmer, PNAS 117 (2020) 5242): unweighted parton-level
events z sampled at theta_ref, with the joint likelihood ratios and the joint score.

At fixed beam energies the density of z is p(z|theta) = |M|^2(z; theta) dPhi(z) flux / sigma(theta),
restricted to the cuts. When no external (beam or final-state) mass depends on theta, dPhi, the
flux and the cuts do not depend on theta, so

    log r(z | theta_ref, theta_i) = log |M|^2(z; theta_ref) - log sigma(theta_ref)
                                    - log |M|^2(z; theta_i)   + log sigma(theta_i),
    t(z | theta_ref) = grad log |M|^2(z; theta_ref) - grad sigma(theta_ref) / sigma(theta_ref).

Parameters that move an external mass change the support of p(z|theta) (the mass shell), so
densities at different theta are mutually singular and r is undefined: ``mine`` refuses them
(their cross-section derivative is still available from ``differentiable_cross_section``).
sigma(theta) and its gradient come from one fixed sample of the trained grids, so all sigma(theta_i)
share their sampling fluctuations (log sigma differences are far more precise than each sigma).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from madgen.inference.cross_section import as_theta, differentiable_cross_section
from madgen.inference.errors import InferenceError
from madgen.inference.fisher import fisher_information
from madgen.inference.gradients import parameter_names, parameter_value_and_gradient, theta_of, with_theta

GOLD_FORMAT = "madgen-gold"
GOLD_VERSION = 1


@dataclass(frozen=True)
class GoldSample:
    """Events at theta_ref with their gold (see docs/mining.md for the HDF5 layout)."""

    process: str
    names: tuple[str, ...]
    theta_ref: np.ndarray  # (k,)
    thetas: np.ndarray  # (m, k)
    momenta: np.ndarray  # (N, n, 4)
    pdg_ids: np.ndarray  # (N, n)
    subprocess: np.ndarray  # (N,)
    log_me2: np.ndarray  # (N,) log |M|^2 at theta_ref
    log_r: np.ndarray  # (N, m) log p(z|theta_ref) / p(z|theta_i)
    score: np.ndarray  # (N, k) joint score at theta_ref
    sigma_ref_pb: float
    sigma_ref_error_pb: float
    sigma_gradient_pb: np.ndarray  # (k,)
    sigma_gradient_error_pb: np.ndarray  # (k,)
    sigma_pb: np.ndarray  # (m,)
    sigma_error_pb: np.ndarray  # (m,)
    log_sigma_ratio_error: np.ndarray  # (m,) MC error of log sigma(theta_i) / sigma(theta_ref) (shared sample)
    fisher: np.ndarray  # (k, k) per event
    fisher_error: np.ndarray  # (k, k)
    parameters: dict = field(default_factory=dict)  # complete external parameters at theta_ref
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.momenta)


def mass_parameters(process, names: Sequence[str], base: Mapping) -> list[str]:
    """The names among ``names`` on which some external mass of some subprocess depends."""
    theta = jnp.asarray(theta_of(base, names))
    moving = np.zeros(len(names), dtype=bool)
    for sub in process.subprocesses:
        jacobian = jax.jacfwd(lambda t, sub=sub: sub.masses(with_theta(base, names, t)))(theta)
        moving |= np.any(np.asarray(jacobian) != 0, axis=0)
    return [n for n, m in zip(names, moving) if m]


def _chunked(function, arrays, chunk: int):
    """function(*chunk of each array) -> tuple of per-event arrays, on fixed-size (padded) chunks."""
    n = len(arrays[0])
    outputs = []
    for start in range(0, n, chunk):
        blocks = [a[start:start + chunk] for a in arrays]
        filled = len(blocks[0])
        if filled < chunk:
            blocks = [np.concatenate([b, np.repeat(b[:1], chunk - filled, axis=0)]) for b in blocks]
        outputs.append([np.asarray(v)[:filled] for v in function(*blocks)])
    return [np.concatenate(parts) for parts in zip(*outputs)]


@dataclass(frozen=True)
class MinedEvents:
    """Unweighted events of a prepared run, with what gold needs: the kernel group of each event,
    its subprocess, and alpha_s(muR) of its matrix element (the model's aS without PDFs)."""

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
    """``n_events`` unweighted events of the prepared run, in memory."""
    from madgen.runtime.events import mirror_events

    plan = prepared.plan_unweighting(n_events)
    parts = []
    for group, accepted in prepared.events(n_events, plan):
        members = np.array([prepared.integrands[g].members[m] for g, m in zip(group, accepted.member)], dtype=np.int64)
        mirrored = np.array([prepared.integrands[g].mirror_flags[m] for g, m in zip(group, accepted.member)],
                            dtype=bool)
        e, _, _ = mirror_events(mirrored, accepted.evaluation)
        parts.append((e.momenta, group, members, mirrored, e.alpha_s, e.x1, e.x2, np.maximum(e.mu_f1, e.mu_f2),
                      e.mu_r))
    return MinedEvents(*(np.concatenate(column) for column in zip(*parts)))


def joint_gold(prepared, events: MinedEvents, names, base: Mapping, thetas: np.ndarray, log_sigma_ref: float,
               log_sigmas: np.ndarray, grad_log_sigma: np.ndarray, chunk: int = 4096):
    """(log|M|^2 at theta_ref (N,), log r (N, m), joint score (N, k)) of the events.

    Each event's |M|^2 is its kernel group's (one compiled function per group) with, for hadron
    beams, the event's alpha_s(muR) as ``aS``: the PDFs and the scales depend on the momenta only,
    so at fixed momenta they cancel in r and drop out of t."""
    n = len(events.momenta)
    log_me2, log_r = np.zeros(n), np.zeros((n, len(thetas)))
    score = np.zeros((n, len(names)))
    per_event_alpha = prepared.collider.has_pdf
    for g, integrand in enumerate(prepared.integrands):
        rows = np.nonzero(events.group == g)[0]
        if len(rows) == 0:
            continue
        kernel = integrand.kernel
        size = min(chunk, len(rows))

        # the kernel's leg order: a mirror event's initial legs exchanged back (|M|^2 is Lorentz invariant)
        momenta = events.momenta[rows]
        momenta = np.where(events.mirrored[rows][:, None, None], momenta[:, [1, 0, *range(2, momenta.shape[1])]],
                           momenta)

        def value_and_gradient(at):
            def function(momenta, alpha_s):
                parameters = {**at, "aS": alpha_s} if per_event_alpha else at
                return parameter_value_and_gradient(kernel, momenta, names, parameters)
            return _chunked(function, [momenta, events.alpha_s[rows]], size)

        value, gradient = value_and_gradient(base)
        log_me2[rows], score[rows] = value, gradient - grad_log_sigma
        for i, theta in enumerate(thetas):
            other, _ = value_and_gradient({**base, **dict(zip(names, map(float, theta)))})
            log_r[rows, i] = (value - log_sigma_ref) - (other - log_sigmas[i])
    return log_me2, log_r, score


def _run_card(run_card):
    from madgen.runtime.runcard import RunCard, read_run_card

    if isinstance(run_card, RunCard):
        return run_card
    if isinstance(run_card, (str, Path)):
        return read_run_card(run_card)
    return RunCard.from_mapping(dict(run_card), "<run card given from Python>")


def mine(card_or_package, run_card, parameters: Sequence[str], theta_ref=None, thetas=(), output=None,
         n_xsec_points: int | None = None, log=print) -> GoldSample:
    """Sample ``n_events`` (run card) unweighted events at theta_ref and compute their gold.

    ``parameters``: external UFO parameter names (not ones that move an external mass);
    ``theta_ref``: None (package defaults), a mapping or a sequence; ``thetas``: mappings or
    sequences, the alternative hypotheses of log r; ``output``: an HDF5 file to write (optional).
    """
    from madgen.api import process_for_run

    start = time.perf_counter()
    run = _run_card(run_card)
    process, _ = process_for_run(card_or_package) if not hasattr(card_or_package, "subprocesses") \
        else (card_or_package, None)
    first = process.subprocesses[0]
    names = parameter_names(first, parameters)
    defaults = {k: float(v) for k, v in first.complete_parameters(None).items()}
    reference = as_theta(names, theta_ref, theta_of(defaults, names))
    base = {**defaults, **dict(zip(names, map(float, reference)))}
    moving = mass_parameters(process, names, base)
    if moving:
        raise InferenceError(
            f"parameter(s) {moving} change external masses of '{process.process}': the events' mass shell "
            "moves with theta, so p(z|theta) at different theta have different supports and the joint "
            "likelihood ratio is undefined; choose couplings or widths (for d sigma / d mass use "
            "madgen.inference.differentiable_cross_section)")
    alternatives = np.array([as_theta(names, t, reference) for t in thetas]).reshape(-1, len(names))

    xsec, prepared = differentiable_cross_section(process, run, names, dict(zip(names, reference)),
                                                  n_xsec_points, log=log)
    if prepared.collider.has_pdf and "aS" in names:
        raise InferenceError("with hadron beams alpha_s comes from the PDF set at the event's scale, not from "
                             "the parameter aS: choose other parameters")
    at_ref = xsec.estimate(reference)
    if not at_ref.cross_section_pb > 0:
        raise InferenceError(f"sigma(theta_ref) of '{process.process}' is not positive on the fixed sample")
    others = [xsec.estimate(t, gradient=False) for t in alternatives]
    ratio_errors = np.array([xsec.log_ratio(t, reference)[1] for t in alternatives])
    log(f"sigma(theta_ref) = {at_ref.cross_section_pb:.6g} +- {at_ref.error_pb:.2g} pb, "
        f"d sigma / d({', '.join(names)}) = {np.array2string(at_ref.gradient, precision=5)} pb")
    if any(not o.cross_section_pb > 0 for o in others):
        raise InferenceError(f"sigma vanishes at one of the thetas {alternatives.tolist()}")

    events = collect_events(prepared, run.n_events)
    pdg_ids = np.array([process.subprocesses[s].pdg_ids for s in events.subprocess], dtype=np.int64)
    log_me2, log_r, score = joint_gold(
        prepared, events, names, base, alternatives, np.log(at_ref.cross_section_pb),
        np.log([o.cross_section_pb for o in others]) if others else np.zeros(0),
        at_ref.gradient / at_ref.cross_section_pb, chunk=xsec.chunk)
    fisher = fisher_information(score, names)
    gold = GoldSample(
        str(process.process), names, reference, alternatives, events.momenta,
        pdg_ids.reshape(len(events.momenta), -1), events.subprocess, log_me2, log_r, score, at_ref.cross_section_pb,
        at_ref.error_pb, at_ref.gradient, at_ref.gradient_error, np.array([o.cross_section_pb for o in others]),
        np.array([o.error_pb for o in others]), ratio_errors, fisher.information, fisher.error, base,
        {"run_card": run.to_yaml(), "seed": run.seed, "n_xsec_points": at_ref.n_points,
         "beam_energies": list(run.beam_energies), "time_s": time.perf_counter() - start})
    if output is not None:
        write_gold(output, gold)
    return gold


def write_gold(path, gold: GoldSample) -> Path:
    """The gold sample as HDF5 (layout: docs/mining.md), written atomically."""
    import h5py

    from madgen.version import __version__
    from madgen.output import atomic_file

    path = Path(path)
    with atomic_file(path, "wb") as stream, h5py.File(stream, "w") as h5:
        h5.attrs.update({"format": GOLD_FORMAT, "version": GOLD_VERSION, "madgen_version": __version__,
                         "process": gold.process, "n_events": len(gold),
                         "parameters": json.dumps(gold.parameters), "metadata": json.dumps(gold.metadata)})
        events = h5.create_group("events")
        for name in ("momenta", "pdg_ids", "subprocess"):
            events.create_dataset(name, data=getattr(gold, name), compression="gzip")
        theta = h5.create_group("parameters")
        theta.create_dataset("names", data=np.array(gold.names, dtype="S"))
        theta.create_dataset("theta_ref", data=gold.theta_ref)
        theta.create_dataset("thetas", data=gold.thetas.reshape(-1, len(gold.names)))
        labels = h5.create_group("gold")
        for name in ("log_me2", "log_r", "score"):
            labels.create_dataset(name, data=getattr(gold, name), compression="gzip")
        xsec = h5.create_group("cross_section")
        for name in ("sigma_ref_pb", "sigma_ref_error_pb", "sigma_gradient_pb", "sigma_gradient_error_pb",
                     "sigma_pb", "sigma_error_pb", "log_sigma_ratio_error"):
            xsec.create_dataset(name, data=np.asarray(getattr(gold, name), dtype=float))
        fisher = h5.create_group("fisher")
        fisher.create_dataset("information", data=gold.fisher)
        fisher.create_dataset("error", data=gold.fisher_error)
    return path


def read_gold(path) -> GoldSample:
    """Read a file written by :func:`write_gold` (or ``madgen mine``)."""
    import h5py

    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise InferenceError(f"cannot read gold file {path}: {error}") from None
    with h5:
        if h5.attrs.get("format") != GOLD_FORMAT:
            raise InferenceError(f"{path} is not a madgen gold file (attribute format={h5.attrs.get('format')!r})")
        if int(h5.attrs["version"]) > GOLD_VERSION:
            raise InferenceError(f"{path} has gold layout version {h5.attrs['version']}; this madgen reads "
                                 f"up to {GOLD_VERSION}: upgrade madgen")
        xsec = {name: h5["cross_section"][name][()] for name in h5["cross_section"]}
        return GoldSample(
            str(h5.attrs["process"]), tuple(n.decode() for n in h5["parameters/names"][()]),
            h5["parameters/theta_ref"][()], h5["parameters/thetas"][()], h5["events/momenta"][()],
            h5["events/pdg_ids"][()], h5["events/subprocess"][()], h5["gold/log_me2"][()], h5["gold/log_r"][()],
            h5["gold/score"][()], float(xsec["sigma_ref_pb"]), float(xsec["sigma_ref_error_pb"]),
            xsec["sigma_gradient_pb"], xsec["sigma_gradient_error_pb"], xsec["sigma_pb"], xsec["sigma_error_pb"],
            xsec["log_sigma_ratio_error"],
            h5["fisher/information"][()], h5["fisher/error"][()], json.loads(h5.attrs["parameters"]),
            json.loads(h5.attrs["metadata"]))
