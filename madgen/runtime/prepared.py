"""A prepared run: the one object that launch, ``madgen mine`` and the differentiable cross section use.

``prepare_run(process, run)`` checks the run, builds its kernel groups and channels, and trains
their VEGAS grids at the parameters theta_ref. The result is immutable (``PreparedRun``):

* ``channels``, ``grids`` (trained), ``result`` (the cross section and per-channel results);
* ``weight(x, channel, parameters)``: the event weight as a pure JAX function of unit-cube points
  and the external parameters, differentiable in both;
* ``sample_unit_cube(channel, n, key)``: points through a channel's trained grid, with Jacobians;
* ``plan_unweighting(n)`` and ``events(n, plan)``: unweighted events from the device.

Nothing in it changes after preparation: evaluating at another theta passes other parameters.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from madgen.errors import MadgenError

MIN_BATCH = 1024
SAMPLE_STREAM = 4
"""Key stream of fixed samples (``sample_unit_cube`` without a key)."""

ROUND_EVENTS = 65536
"""Events per round of the event stream: groups contribute in proportion, then the round is shuffled."""


def batch_size(run, n_groups: int) -> int:
    """Points per compiled evaluation: the run card's batch_size, or less when an iteration gives
    each group fewer points (a power of two, at least MIN_BATCH)."""
    per_group = max(run.points_per_iteration // max(n_groups, 1), 1)
    return min(run.batch_size, max(MIN_BATCH, 1 << (per_group - 1).bit_length()))


def subprocesses_of(process) -> tuple:
    """The subprocesses of a generated process (all 2 -> n)."""
    subprocesses = tuple(process.subprocesses)
    if any(p.n_initial != 2 for p in subprocesses):
        raise MadgenError(f"'{process.process}': the runtime integrates 2 -> n processes; decays (1 -> n) are "
                          "not supported by madgen launch")
    return subprocesses


def run_key(seed: int):
    """The root of every random number of a run."""
    return jax.random.key(int(seed))


@dataclass(frozen=True, eq=False)
class PreparedRun:
    """A run ready to evaluate and sample (see the module docstring)."""

    process: object
    run: object
    collider: object
    parameters: Mapping
    integrands: tuple
    channels: tuple
    grids: tuple
    result: object
    batch_size: int
    samplers: tuple = field(repr=False)
    tasks: object = field(default=None, repr=False, compare=False)
    """Where the batches of unweighting run (``madgen.runtime.tasks``); None: here."""

    def task_runner(self):
        """Where this run's tasks go: its Dask workers while their client is open, else here (the
        results are the same bytes either way; a run outlives the ``distribution`` that made it)."""
        from madgen.runtime.tasks import LocalTasks

        if self.tasks is not None and self.tasks.is_open:
            return self.tasks
        return LocalTasks(self.samplers)

    @property
    def cross_section_pb(self) -> float:
        return self.result.cross_section_pb

    @property
    def error_pb(self) -> float:
        return self.result.error_pb

    @property
    def key(self):
        return run_key(self.run.seed)

    @property
    def settings(self):
        """Beam energies and scales as JAX values: an argument of the compiled functions."""
        return self.integrands[0].settings()

    def complete(self, parameters: Mapping | None = None) -> dict:
        """theta_ref overridden by ``parameters`` (traced values allowed)."""
        return {**self.parameters, **dict(parameters or {})}

    def weight(self, x, channel: int, parameters: Mapping | None = None):
        """The ``Evaluation`` (weights in pb without the VEGAS Jacobian, lab momenta, x1, x2, scales,
        alpha_s, luminosities) of unit-cube points x (n, ndim of the channel's group) in ``channel``
        (an index into ``channels``) at ``parameters`` (theta_ref where not given). Pure JAX."""
        spec = self.channels[channel]
        integrand = self.integrands[spec.group]
        return integrand(x, jnp.int32(spec.local), self.complete(parameters), self.settings)

    def group_ndim(self, channel: int) -> int:
        return self.integrands[self.channels[channel].group].ndim

    def sample_unit_cube(self, channel: int, n: int, key=None) -> tuple[np.ndarray, np.ndarray]:
        """n points of ``channel`` through its trained grid: x (n, group ndim) and VEGAS Jacobians (n,)."""
        from madgen.runtime.grids import map_points

        key = jax.random.fold_in(jax.random.fold_in(self.key, SAMPLE_STREAM), channel) if key is None else key
        ndim = self.group_ndim(channel)
        y = jax.random.uniform(key, (n, ndim), dtype=jnp.float64)
        x, jacobian, _ = map_points(jnp.asarray(self.grids[channel].padded(ndim)), y)
        return np.asarray(x), np.asarray(jacobian)

    def group_edges(self, group: int) -> np.ndarray:
        from madgen.runtime.integrate import stacked_edges

        return stacked_edges(self.grids, self.channels, group, self.integrands[group].ndim)

    def plan_unweighting(self, n_events: int):
        """Robust maximum weights from a pilot sample (``madgen.runtime.unweight``)."""
        from madgen.runtime.unweight import plan_unweighting

        return plan_unweighting(self.samplers, self.channels, self.grids, self.result, n_events,
                                self.run.max_weight_tolerance, self.key, dict(self.parameters), self.settings,
                                self.task_runner())

    def events(self, n_events: int, plan):
        """Yield (group (k,), ``Accepted`` host arrays with k rows) of ``n_events`` unweighted events in
        rounds: every group contributes its share of a round, then the round is shuffled."""
        from madgen.runtime.unweight import UNWEIGHT_STREAM, accepted_events, group_event_counts

        counts = group_event_counts(plan, n_events, self.run.seed)
        key = jax.random.fold_in(self.key, UNWEIGHT_STREAM)
        tasks = self.task_runner()
        streams = [_Buffered(accepted_events(tasks, g, plan.groups[g], self.group_edges(g), int(counts[g]),
                                             jax.random.fold_in(key, g), dict(self.parameters), self.settings))
                   if counts[g] else None for g in range(len(self.samplers))]
        rng = np.random.default_rng([self.run.seed, UNWEIGHT_STREAM, 1])
        width = max(len(integrand.members) for integrand in self.integrands)
        n_legs = max(integrand.kernel.n_legs for integrand in self.integrands)
        n_rounds = max(1, -(-n_events // ROUND_EVENTS))
        for r in range(n_rounds):
            parts, labels = [], []
            for g, stream in enumerate(streams):
                quota = round(counts[g] * (r + 1) / n_rounds) - round(counts[g] * r / n_rounds)
                if stream is not None and quota:
                    parts.append(_pad_groups(stream.take(quota), width, n_legs))
                    labels.append(np.full(quota, g))
            if not parts:
                continue
            group = np.concatenate(labels)
            order = rng.permutation(len(group))
            merged = _concatenate_accepted(parts)
            yield group[order], jax.tree_util.tree_map(lambda a: a[order] if np.ndim(a) else a, merged)


class _Buffered:
    """Takes exact numbers of rows from a stream of ``Accepted`` host chunks."""

    def __init__(self, chunks):
        self.chunks, self.pending = chunks, None

    def take(self, n: int):
        parts, have = [], 0
        while have < n:
            if self.pending is None:
                self.pending = next(self.chunks)
            chunk = self.pending
            size = len(chunk.channel)
            used = min(size, n - have)
            parts.append(jax.tree_util.tree_map(lambda a: a[:used] if np.ndim(a) else a, chunk))
            self.pending = jax.tree_util.tree_map(lambda a: a[used:] if np.ndim(a) else a, chunk) \
                if used < size else None
            have += used
        return _concatenate_accepted(parts)


def _pad_groups(accepted, width: int, n_legs: int):
    """Luminosities of the members padded with zeros to ``width`` columns and momenta with zero legs to
    ``n_legs`` (groups differ in members, and the processes of one card in particles: ``e+ e- > u u~`` with
    ``e+ e- > u u~ g``); ``event_records`` takes each group's own legs back."""
    evaluation = accepted.evaluation
    densities = np.pad(evaluation.densities, ((0, 0), (0, width - evaluation.densities.shape[1])))
    momenta = np.pad(evaluation.momenta, ((0, 0), (0, n_legs - evaluation.momenta.shape[1]), (0, 0)))
    return accepted._replace(evaluation=evaluation._replace(densities=densities, momenta=momenta))


def _concatenate_accepted(parts):
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a) if np.ndim(a[0]) else a[0], *parts)


def build_samplers(process, run, parameters: Mapping | None = None, log=print, warn=None):
    """Check the run and build its kernel groups, channels and compiled samplers at ``parameters``
    (package defaults elsewhere): (complete parameters, collider, integrands, channels, samplers).
    A Dask worker calls it too (``madgen.runtime.tasks.worker_samplers``)."""
    from madgen.runtime.beams import collider_for_run
    from madgen.runtime.channels import build_integrands, decay_energy_floor, integration_channels
    from madgen.runtime.checks import check_defined_point, check_run
    from madgen.runtime.cuts import cut_function, partonic_energy_bounds, run_cut_arguments
    from madgen.runtime.runcard import for_process
    from madgen.runtime.sampler import group_sampler

    subprocesses = subprocesses_of(process)
    run = for_process(run, subprocesses)
    first = subprocesses[0]
    complete = {k: v for k, v in first.complete_parameters(parameters).items()}
    internal = check_defined_point(process, complete)
    initial = [tuple(s.pdg_ids[:2]) for s in subprocesses]
    names = [tuple(s.process.split(">")[0].split()[:2]) for s in subprocesses]
    collider = collider_for_run(run, initial, names)
    masses = [np.asarray(s.masses(complete), dtype=float) for s in subprocesses]
    arguments = [run_cut_arguments(run, s, m) for s, m in zip(subprocesses, masses)]
    bounds = [_with_floor(partonic_energy_bounds(*a), decay_energy_floor(s, m, internal, run.bwcutoff))
              for s, m, a in zip(subprocesses, masses, arguments)]
    check_run(process, run, collider, bounds, complete, warn=warn or log)
    cuts = [cut_function(*a) for a in arguments]
    integrands = build_integrands(process, run, collider, cuts, bounds)
    channels = integration_channels(integrands)
    size = batch_size(run, len(integrands))
    samplers = tuple(group_sampler(integrand, size) for integrand in integrands)
    return complete, collider, integrands, channels, samplers


def _with_floor(bounds: tuple[float, float], floor: float) -> tuple[float, float]:
    """The s-hat range ``bounds`` (GeV) raised to at least ``floor`` at the bottom."""
    return (max(float(bounds[0]), floor), bounds[1])


def prepare_run(process, run, parameters: Mapping | None = None, log=print, warn=None, distribute=None) -> PreparedRun:
    """Check the run, build its groups and channels, train the grids at ``parameters`` (package
    defaults elsewhere) and integrate: the ``PreparedRun``. ``distribute``: None (everything here), or
    a function of the complete parameters returning the task runner (``madgen.runtime.tasks.DaskTasks``)
    of the integration and the unweighting."""
    from madgen.runtime.integrate import initial_grids, integrate
    from madgen.runtime.runcard import for_process

    run = for_process(run, subprocesses_of(process))
    complete, collider, integrands, channels, samplers = build_samplers(process, run, parameters, log, warn)
    tasks = distribute(complete) if distribute is not None else None
    beams = " x ".join(f"{b.name} {b.energy:g}" for b in collider.beams)
    log(f"integrating {process.process} with beams {beams} GeV: {len(integrands)} kernel group(s), "
        f"{len(channels)} channel(s), {run.iterations} iterations")
    settings = integrands[0].settings()
    result, grids = integrate(samplers, channels, initial_grids(channels), run, run_key(run.seed), complete, settings,
                              log=log, tasks=tasks)
    return PreparedRun(process, run, collider, types.MappingProxyType(complete), integrands, channels, grids,
                       result, samplers[0].batch_size, samplers, tasks)
