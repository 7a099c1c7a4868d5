"""Scale-out on Dask (``madgen launch --workers N`` / ``--scheduler``): the same seed and number of
events give byte-identical files whatever the number of workers (and without Dask), and a worker
killed in the middle of a run has its tasks redone with no event lost or duplicated. Local clusters
of worker processes: CI needs no external service."""

import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

RUN = {"sqrt_s": 91.188, "seed": 11, "n_events": 600, "iterations": 2, "warmup_iterations": 1,
       "points_per_iteration": 8192, "batch_size": 2048, "cuts": {"ptl": 10.0, "etal": 2.5, "drll": 0.4}}


@pytest.fixture(scope="module")
def package(generate_package):
    process = generate_package("sm", "e+ e- > mu+ mu-", "scaleout_epem_mumu")
    return process.subprocesses[0]._dir


def files_of(directory):
    return {name: (directory / name).read_bytes() for name in ("events.lhe", "events.npz")}


def test_the_number_of_workers_does_not_change_the_events(package, tmp_path):
    """3 workers, then 1 (the same local cluster with two workers retired, so that each worker compiles
    once): the same events.lhe and events.npz, byte for byte. (Without Dask: the slow test below.)"""
    from dask.distributed import Client, LocalCluster

    from madgen.api import launch

    quiet = {"log": lambda *a: None, "progress": False}
    with LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        three = launch(package, RUN, output=tmp_path / "three", scheduler=cluster.scheduler_address, **quiet)
        workers = sorted(client.scheduler_info()["workers"])
        client.retire_workers(workers[1:], close_workers=True)
        assert len(client.scheduler_info()["workers"]) == 1
        one = launch(package, RUN, output=tmp_path / "one", scheduler=cluster.scheduler_address, **quiet)
    assert one.n_events == three.n_events == RUN["n_events"]
    assert one.cross_section_pb == three.cross_section_pb
    assert files_of(tmp_path / "one") == files_of(tmp_path / "three")


@pytest.mark.slow
def test_a_killed_worker_loses_and_duplicates_no_event(package, tmp_path):
    """A worker process killed (SIGKILL) while the run's tasks are in flight: Dask reruns its tasks
    on the others (the nanny restarts it), and the files equal those of an undisturbed run without
    Dask."""
    from dask.distributed import Client, LocalCluster

    from madgen.api import launch

    run = {**RUN, "n_events": 4000, "points_per_iteration": 65536, "iterations": 4}
    quiet = {"log": lambda *a: None, "progress": False}
    launch(package, run, output=tmp_path / "alone", **quiet)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        killed = []

        def kill_one_worker_when_busy():
            deadline = time.time() + 300
            while time.time() < deadline and not killed:
                busy = [worker for worker, tasks in client.processing().items()
                        if any(str(t).startswith("madgen-") for t in tasks)]
                if busy:
                    time.sleep(2.0)  # past the worker's compilation, inside the run
                    pids = client.run(os.getpid)
                    pid = pids[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.2)

        killer = threading.Thread(target=kill_one_worker_when_busy, daemon=True)
        killer.start()
        result = launch(package, run, output=tmp_path / "disturbed", scheduler=cluster.scheduler_address, **quiet)
        killer.join(timeout=5)
    assert killed, "no worker was killed: the run ended before any task was seen"
    assert result.n_events == run["n_events"]
    assert files_of(tmp_path / "disturbed") == files_of(tmp_path / "alone")


@pytest.mark.slow
def test_mining_on_workers_gives_the_gold_of_mining_here(package):
    """``madgen mine --workers 2``: the same events and gold as without Dask, array for array."""
    import numpy as np

    from madgen.inference import mine

    quiet, lines = {"log": lambda *a: None}, []
    here = mine(package, RUN, ["MZ", "WZ"], thetas=[{"MZ": 91.5}], **quiet)
    there = mine(package, RUN, ["MZ", "WZ"], thetas=[{"MZ": 91.5}], workers=2, log=lambda *a: lines.append(a[0]))
    assert any(line.startswith("running on 2 Dask workers") for line in lines), lines
    assert len(there) == len(here) == RUN["n_events"]
    for name in ("momenta", "log_r", "score"):
        np.testing.assert_array_equal(getattr(there, name), getattr(here, name), err_msg=name)
    assert there.sigma_ref_pb == here.sigma_ref_pb


def test_sigma_on_workers_equals_sigma_here(package, monkeypatch):
    """sigma(theta_ref), its gradient, their errors, the alternatives' sigmas and the log sigma ratios on
    the fixed sample: the same bytes from 2 Dask workers, with the sample cut into small pieces (several
    per channel, the last chunk padded), as from one piece per channel here."""
    import numpy as np

    from madgen.contract import load_package
    from madgen.inference import cross_section, differentiable_cross_section
    from madgen.runtime.runcard import as_run_card
    from madgen.runtime.tasks import DaskTasks, LocalTasks, distribution

    run, process, quiet = as_run_card(RUN), load_package(package), (lambda *a: None)
    alternatives = [{"MZ": 91.5}, {"WZ": 2.7}, {"MZ": 90.8, "WZ": 2.3}]

    def sigmas(xsec):
        return (xsec.estimate(), [xsec.estimate(t, gradient=False) for t in alternatives],
                [xsec.log_ratio(t) for t in alternatives])

    here_xsec, _ = differentiable_cross_section(process, run, ["MZ", "WZ"], n_points=20000, log=quiet)
    assert isinstance(here_xsec.tasks, LocalTasks)
    here = sigmas(here_xsec)
    monkeypatch.setattr(cross_section, "XSEC_TASK_POINTS", 2 * here_xsec.chunk)
    assert max(len(s.jacobian) for s in here_xsec.samples) > 2 * cross_section.XSEC_TASK_POINTS
    with distribution(package, run, workers=2) as distribute:
        there_xsec, _ = differentiable_cross_section(process, run, ["MZ", "WZ"], n_points=20000, log=quiet,
                                                     distribute=distribute)
        assert isinstance(there_xsec.tasks, DaskTasks) and there_xsec.tasks.n_workers == 2
        there = sigmas(there_xsec)
    # the client is closed: the object goes on here, with the same bytes
    assert isinstance(there_xsec.tasks, LocalTasks)
    later = {"MZ": 91.3, "WZ": 2.6}
    after, before = there_xsec.estimate(later), here_xsec.estimate(later)
    assert (after.cross_section_pb, after.error_pb) == (before.cross_section_pb, before.error_pb)
    np.testing.assert_array_equal(after.gradient, before.gradient)
    (ref_here, others_here, ratios_here), (ref_there, others_there, ratios_there) = here, there
    assert ref_here.cross_section_pb > 0 and np.all(ref_here.gradient_error > 0)
    for name in ("cross_section_pb", "error_pb", "gradient", "gradient_error", "n_points"):
        np.testing.assert_array_equal(getattr(ref_there, name), getattr(ref_here, name), err_msg=name)
    for a, b in zip(others_there, others_here):
        assert (a.cross_section_pb, a.error_pb) == (b.cross_section_pb, b.error_pb)
        assert a.cross_section_pb != ref_here.cross_section_pb
    assert ratios_there == ratios_here


@pytest.fixture(scope="module")
def top_pairs(generate_package):
    process = generate_package("sm", "e+ e- > t t~", "scaleout_epem_tt")
    return process.subprocesses[0]._dir


@pytest.mark.slow  # ~80 s on one core: the latent density's derivative compiled here and on 2 workers
def test_latent_gold_on_workers_gives_the_gold_of_mining_here(top_pairs, monkeypatch):
    """theta = MT moves the tops' mass shell: the latent-variable gold (z, log r, t) mined on 2 Dask
    workers equals mining here, array for array, with the events cut into pieces of 256 (the last one
    padded) both times (a piece's shape is part of its compiled function: XLA may round an event's
    value differently in another shape, so pieces never depend on the workers)."""
    import numpy as np

    from madgen.inference import mine, mining

    monkeypatch.setattr(mining, "gold_piece_size", lambda n: 256)
    run = {**RUN, "sqrt_s": 500.0, "cuts": {}}
    thetas = [{"MT": 174.0}, {"MT": 171.0}]
    here = mine(top_pairs, run, ["MT"], thetas=thetas, log=lambda *a: None)
    there = mine(top_pairs, run, ["MT"], thetas=thetas, log=lambda *a: None, workers=2)
    assert here.latent.shape == (RUN["n_events"], 4) and np.all(np.isfinite(here.score))
    assert np.all(np.isfinite(here.log_r)) and np.all(here.log_r.std(axis=0) > 0) and np.all(here.score.std(axis=0) > 0)
    for name in ("momenta", "latent", "log_r", "score", "log_me2"):
        np.testing.assert_array_equal(getattr(there, name), getattr(here, name), err_msg=name)
    assert (there.sigma_ref_pb, there.sigma_gradient_pb.tolist()) == (here.sigma_ref_pb,
                                                                     here.sigma_gradient_pb.tolist())



def test_local_workers_each_get_their_own_cores():
    """``--workers N``: XLA runs a compiled function on every core its process may use, so N workers on
    the same cores would compete (and one alone would already use them all). Each worker of madgen's local
    cluster is pinned, every thread of it, to its own block of the cores this process may use."""
    from madgen.runtime.core_share import core_blocks
    from madgen.runtime.tasks import _core_ranges, open_client

    assert core_blocks(range(16), 4) == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11), (12, 13, 14, 15)]
    assert core_blocks([5, 1, 3], 2) == [(1,), (3, 5)]
    assert core_blocks(range(8), 2, cores_per_worker=1) == [(0,), (1,)]
    assert core_blocks([0, 1], 3) == [(0,), (1,), (0,)]  # more workers than cores: shared round-robin
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    mine = sorted(os.sched_getaffinity(0))
    n = min(2, len(mine))

    def thread_affinities():
        return sorted({tuple(sorted(os.sched_getaffinity(int(t)))) for t in os.listdir("/proc/self/task")})

    client, cluster = open_client(workers=n)
    try:
        placed = client.run(thread_affinities)
    finally:
        client.close()
        cluster.close()
    blocks = [threads[0] for threads in placed.values()]
    assert _core_ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8" and _core_ranges([3]) == "3"
    assert all(len(threads) == 1 for threads in placed.values()), placed  # every thread of a worker alike
    assert sorted(core for block in blocks for core in block) == mine, placed  # disjoint, all of them


def test_a_task_with_its_data_sends_no_large_graph_warning():
    """A gold task carries its events (12.5 MiB for a 2 -> 4 process): Dask's advice for large graphs does not
    apply, and the user of ``madgen mine --workers`` sees no such warning."""
    import warnings

    import numpy as np
    from dask.distributed import Client, LocalCluster

    from madgen.runtime.tasks import submit_with_data

    events = np.ones((65536, 6, 4))  # 12 MiB
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert submit_with_data(client, np.sum, events, pure=False).result() == events.size
            plain = client.submit(np.sum, events + 1, pure=False).result()
    assert plain == 2 * events.size
    messages = [str(w.message) for w in caught]
    assert sum("large graph" in m for m in messages) == 1, messages  # the plain submit's, not ours
