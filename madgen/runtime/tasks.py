"""Seeded tasks of a run, executed here or on Dask workers, with results that never depend on where.

The heavy loops of a run (the batches of every VEGAS iteration, the pilot sample of the unweighting
and the hit-or-miss batches) are cut into tasks of ``TASK_BATCHES`` consecutive batches. A batch's
random numbers come from ``fold_in(stream key, batch index)``: from the run's seed and the batch's
index alone, never from a worker. Task boundaries are fixed by the batch indices, not by the number
of workers, and the client merges the results in task order, so one seed gives the same bits with
any number of workers, and with none (``LocalTasks`` runs the same task functions in this process).

A task is a module-level function ``task(samplers, *arguments)`` of host (numpy) arguments:
``samplers`` are the compiled ``GroupSampler`` s of the run, which a Dask worker builds once per run
(the package loaded and compiled once per worker process, ``worker_samplers``). A worker that dies
has its tasks rerun elsewhere by Dask (``RETRIES``); a task is a pure function of its arguments, so
the rerun gives the same result and no event is lost or counted twice.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

TASK_BATCHES = 4
"""Batches per task: fixed, so that task boundaries do not depend on the number of workers."""

RETRIES = 5
"""Times Dask reruns a task whose worker died."""

WINDOW_PER_WORKER = 2
"""Tasks of a stream kept in flight per worker (later ones are submitted as results arrive)."""


def batch_ranges(n_batches: int) -> list[tuple[int, int]]:
    """[start, stop) of the tasks covering batches 0 .. n_batches - 1, TASK_BATCHES each."""
    return [(start, min(start + TASK_BATCHES, n_batches)) for start in range(0, n_batches, TASK_BATCHES)]


def endless_ranges(first: int = 0) -> Iterator[tuple[int, int]]:
    """Task ranges of an open-ended stream of batches (hit-or-miss until enough events)."""
    for start in itertools.count(first, TASK_BATCHES):
        yield start, start + TASK_BATCHES


def key_data(key) -> np.ndarray:
    """A JAX key as plain integers (what a task receives)."""
    import jax

    return np.asarray(jax.random.key_data(key))


def as_key(data):
    """The JAX key of ``key_data``."""
    import jax

    return jax.random.wrap_key_data(np.asarray(data))


def to_host(tree):
    """Every array of a pytree as a numpy array (task arguments and results travel as these); strings
    (parameter names) stay strings."""
    import jax

    return jax.tree_util.tree_map(lambda leaf: leaf if isinstance(leaf, str) else np.asarray(leaf), tree)


class LocalTasks:
    """Runs the tasks of a run in this process, in order, on its own samplers."""

    n_workers = 1
    is_open = True

    def __init__(self, samplers):
        self.samplers = samplers

    def map(self, task: Callable, arguments: Iterable[tuple]) -> list:
        return [task(self.samplers, *to_host(args)) for args in arguments]

    def stream(self, task: Callable, arguments: Iterable[tuple]) -> Iterator:
        for args in arguments:
            yield task(self.samplers, *to_host(args))


@dataclass(frozen=True)
class RunSpec:
    """What a worker needs to build the run's compiled samplers: the package directory, the run card
    and the parameters at which the channels were built (theta_ref, floats)."""

    package_dir: str
    run: object
    parameters: tuple[tuple[str, float], ...]


_WORKER_SAMPLERS: dict = {}


def worker_samplers(spec: RunSpec):
    """The samplers of ``spec`` in this (worker) process: the package loaded and the kernel groups
    built once, then reused by every task of the run."""
    identity = pickle.dumps(spec)
    samplers = _WORKER_SAMPLERS.get(identity)
    if samplers is None:
        from madgen.contract import load_package
        from madgen.runtime.prepared import build_samplers

        process = load_package(spec.package_dir)
        samplers = build_samplers(process, spec.run, dict(spec.parameters), log=_silent)[-1]
        _WORKER_SAMPLERS.clear()  # one run at a time per worker: compiled code of old runs is dropped
        _WORKER_SAMPLERS[identity] = samplers
    return samplers


def _silent(*_):
    pass


TASK_FUNCTIONS_KEPT = 32
"""Compiled task functions kept per process (the most recently used)."""

_TASK_FUNCTIONS: dict = {}
_TASK_FUNCTIONS_LOCK = threading.Lock()


def task_function(key, build: Callable):
    """The function ``build()`` for ``key`` (hashable: everything the function depends on), built once
    per process and reused by the later tasks of the run, here or on a worker: a task that compiles a
    function of its samplers compiles it once, not once per piece. A key naming an object by ``id``
    stays valid while its entry lives if the built function holds that object."""
    with _TASK_FUNCTIONS_LOCK:
        function = _TASK_FUNCTIONS.pop(key, None)
        if function is None:
            function = build()
        _TASK_FUNCTIONS[key] = function  # the most recently used last
        while len(_TASK_FUNCTIONS) > TASK_FUNCTIONS_KEPT:
            del _TASK_FUNCTIONS[next(iter(_TASK_FUNCTIONS))]
        return function


def leaf_bytes(tree) -> tuple[bytes, ...]:
    """The bytes of every leaf of ``tree`` (as numpy arrays): the hashable part of a ``task_function`` key
    that stands for arrays (a run's settings)."""
    import jax

    return tuple(np.asarray(leaf).tobytes() for leaf in jax.tree_util.tree_leaves(tree))


def _on_worker(task, spec: RunSpec, *arguments):
    return task(worker_samplers(spec), *arguments)


def submit_with_data(client, function, *args, **kwargs):
    """``client.submit`` for a task that carries its data (a gold task: 65536 events of momenta, 12.5 MiB
    for a 2 -> 4 process), without Dask's "Sending large graph" warning: that advice is for collections
    built on the client, while these arrays must travel to a worker whatever the graph. They stay in the
    task (not scattered to a worker, where they would die with it) so that a task whose worker died can
    be rerun elsewhere."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return client.submit(function, *args, **kwargs)


class DaskTasks:
    """Runs the tasks of a run on the workers of a ``dask.distributed`` client; results come back in
    task order."""

    def __init__(self, client, spec: RunSpec):
        self.client, self.spec = client, spec
        self.n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        self._counter = itertools.count()

    @property
    def is_open(self) -> bool:
        """Whether the client can still run tasks (False once ``distribution`` has closed it)."""
        return self.client.status == "running"

    def _submit(self, task, args):
        return submit_with_data(self.client, _on_worker, task, self.spec, *to_host(args), pure=False,
                                retries=RETRIES, key=f"madgen-{task.__name__}-{id(self)}-{next(self._counter)}")

    def map(self, task: Callable, arguments: Iterable[tuple]) -> list:
        futures = [self._submit(task, args) for args in arguments]
        return self.client.gather(futures)

    def stream(self, task: Callable, arguments: Iterable[tuple]) -> Iterator:
        """Results in task order, with a bounded number of tasks in flight; tasks still running when
        the consumer stops are cancelled."""
        arguments = iter(arguments)
        pending: deque = deque()
        window = WINDOW_PER_WORKER * self.n_workers
        try:
            while True:
                while len(pending) < window:
                    args = next(arguments, None)
                    if args is None:
                        break
                    pending.append(self._submit(task, args))
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            if pending:
                self.client.cancel(list(pending))


def add_scale_out_options(parser) -> None:
    """``--workers N`` and ``--scheduler ADDRESS`` of ``madgen launch`` and ``madgen mine``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes (same seed: same events)")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the Dask cluster at ADDRESS (e.g. tcp://host:8786)")


def open_client(workers: int | None = None, scheduler: str | None = None, cores_per_worker: int | None = None):
    """A ``dask.distributed`` client: of the cluster at ``scheduler``, or of a new local cluster of
    ``workers`` worker processes, each running one task at a time on its own share of this machine's
    cores (``madgen.runtime.core_share``; ``cores_per_worker`` to give each that many instead of an equal
    share of all). Returns (client, cluster or None); close both."""
    from madgen.errors import MadgenError

    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise MadgenError("--workers and --scheduler need dask.distributed: pip install 'madgen[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="30s"), None
        except OSError as error:
            raise MadgenError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({error})") from None
    if workers is None or workers < 1:
        raise MadgenError(f"--workers {workers}: give a number of worker processes >= 1")
    from madgen.runtime.core_share import share_cores

    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    share_cores(client, int(workers), cores_per_worker)
    return client, cluster


def workers_summary(client) -> str:
    """What the run's tasks run on, for the log: the number of Dask workers and the cores of each
    (e.g. "4 Dask workers, cores 0-3 | 4-7 | 8-11 | 12-15")."""
    names = {address: str(info.get("name", address)) for address, info in client.scheduler_info()["workers"].items()}
    placed = [(names.get(address, address), cores) for address, cores in client.run(_cores_of_this_process).items()]
    placed = [cores for _, cores in sorted(placed, key=lambda item: (len(item[0]), item[0]))]  # worker 2 before 10
    text = f"{len(placed)} Dask worker{'s' if len(placed) != 1 else ''}"
    if placed and all(placed):
        text += ", cores " + " | ".join(_core_ranges(cores) for cores in placed)
    return text


def _cores_of_this_process():
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def _core_ranges(cores) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    ranges, start = [], None
    for i, core in enumerate(cores):
        if start is None:
            start = core
        if i + 1 == len(cores) or cores[i + 1] != core + 1:
            ranges.append(str(start) if start == core else f"{start}-{core}")
            start = None
    return ",".join(ranges)


@contextlib.contextmanager
def distribution(package_dir, run, workers: int | None = None, scheduler: str | None = None, log=None):
    """For ``prepare_run(..., distribute=...)``: None without ``workers`` and ``scheduler`` (everything
    runs here), else a function of the complete parameters giving the ``DaskTasks`` of the run on a
    Dask client that lives as long as the context. ``log``: told what the tasks run on."""
    if not workers and not scheduler:
        yield None
        return
    client, cluster = open_client(workers, scheduler)
    try:
        if log is not None:
            log(f"running on {workers_summary(client)}" + (f" at {scheduler}" if scheduler else ""))
        def tasks(parameters):
            spec = RunSpec(str(package_dir), run, tuple(sorted((k, float(v)) for k, v in parameters.items())))
            return DaskTasks(client, spec)

        yield tasks
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
