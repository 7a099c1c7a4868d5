"""Each worker of a local Dask cluster on its own share of this machine's cores.

XLA's CPU backend runs a compiled function on every core its process may use. A local cluster of
N worker processes would otherwise put N such pools on the same cores: N x cores threads competing,
and one worker alone already using the whole machine, so that more workers could not go faster.
As MadGraph's ``nb_core`` runs single-core jobs, ``madgen launch/mine --workers N`` gives worker i the
i-th of N equal blocks of the cores this process may use (``os.sched_getaffinity``), set on every
thread of the worker process when it starts, before it compiles anything. Workers of an existing
cluster (``--scheduler``) are left as their cluster placed them. Where the platform has no CPU
affinity (macOS, Windows) nothing is pinned.
"""

from __future__ import annotations

import os

from distributed.diagnostics.plugin import WorkerPlugin


def core_blocks(cores, n_workers: int, cores_per_worker: int | None = None) -> list[tuple[int, ...]]:
    """``n_workers`` blocks of ``cores`` (sorted): as equal as they can be, or the first ones of
    ``cores_per_worker`` each (a benchmark of the scale-out: N one-core workers against one). With more
    workers than cores, worker i shares core i mod len(cores) with the others on it."""
    cores = sorted(cores)
    if cores_per_worker is not None and n_workers * cores_per_worker <= len(cores):
        return [tuple(cores[i * cores_per_worker:(i + 1) * cores_per_worker]) for i in range(n_workers)]
    if n_workers > len(cores):
        return [(cores[i % len(cores)],) for i in range(n_workers)]
    bounds = [len(cores) * i // n_workers for i in range(n_workers + 1)]
    return [tuple(cores[bounds[i]:bounds[i + 1]]) for i in range(n_workers)]


def pin_process(cores) -> None:
    """Every thread of this process (and those it starts later) onto ``cores``."""
    for thread in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(thread), cores)
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            pass


class CoreShare(WorkerPlugin):
    """Pins the local worker named i (0..N-1, as ``LocalCluster`` names them; a restarted worker keeps
    its name) to ``blocks[i]``."""

    name = "madgen-core-share"

    def __init__(self, blocks: list[tuple[int, ...]]):
        self.blocks = [tuple(block) for block in blocks]

    def setup(self, worker) -> None:
        if not hasattr(os, "sched_setaffinity"):
            return
        try:
            index = int(worker.name)
        except (TypeError, ValueError):
            return  # not a worker of madgen's local cluster
        pin_process(self.blocks[index % len(self.blocks)])


def share_cores(client, n_workers: int, cores_per_worker: int | None = None) -> list[tuple[int, ...]] | None:
    """Register ``CoreShare`` on ``client``'s (local) workers; returns the blocks (None: no affinity here)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    blocks = core_blocks(os.sched_getaffinity(0), n_workers, cores_per_worker)
    client.register_plugin(CoreShare(blocks))
    return blocks
