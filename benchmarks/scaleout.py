"""Benchmark the Dask scale-out: wall time of mining N events (``madgen mine``) on 1, 2 and 4 workers.

    python benchmarks/scaleout.py                          # e+ e- > mu+ mu-, 100000 events
    python benchmarks/scaleout.py --events 1000000 --workers 1 2 4 8 --repeats 3
    python benchmarks/scaleout.py --card examples/wh_smeft/wh_smeft.yaml --run examples/wh_smeft/run_wh.yaml \
        --parameters cHW cHj3 --events 100000 --workers 1 2       # the W H study's process and run card

Prints (does not assert), per number of workers: the first run (the workers load and compile the
package) and the median of --repeats further runs on the same local cluster (compiled code reused),
the speed-up against one worker, and the median wall time of each stage of ``mine`` (its metadata
``stages_s``: integration, sigma(theta) and its gradient on the fixed sample, events, gold). The
workers are processes of one machine, each pinned to --cores-per-worker cores of its own (default 1: the
scale-out proper, N one-core workers against one, as MadGraph's nb_core runs one-core jobs; 0 gives each
an equal share of all cores, as ``madgen mine --workers N`` does, so that one worker alone already uses
the whole machine through XLA's threads). The speed-up is bounded by the cores (on a 2-core machine 4
workers cannot beat 2) and by what the client does alone (grid adaptation, merging). Every stage runs
on the workers: sigma(theta) in tasks of 65536 fixed-sample points, the gold (|M|^2, gradients and ratios
of the accepted events) in tasks of 65536 events.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

PROCESS = "e+ e- > mu+ mu-"
RUN = {"sqrt_s": 91.188, "seed": 1, "warmup_iterations": 3, "iterations": 5, "points_per_iteration": 200_000,
       "batch_size": 16384, "cuts": {"ptl": 10.0, "etal": 2.5, "drll": 0.4}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--card", type=Path, default=None, help="process card (default: e+ e- > mu+ mu-)")
    parser.add_argument("--run", type=Path, default=None, help="run card (with --card; its n_events is replaced)")
    parser.add_argument("--parameters", nargs="+", default=["MZ"], help="theta: the parameters mined")
    parser.add_argument("--cores-per-worker", type=int, default=1,
                        help="cores each worker may use (0: an equal share of all, as madgen --workers N gives)")
    args = parser.parse_args(argv)

    import os

    import yaml

    import madgen
    from madgen.api import mine
    from madgen.runtime.tasks import open_client, workers_summary

    share = (f"{args.cores_per_worker} core(s) per worker" if args.cores_per_worker
             else "an equal share of the cores per worker")
    with tempfile.TemporaryDirectory() as workdir:
        card = args.card or Path(workdir) / "card.yaml"
        if args.card is None:
            card.write_text(f"model: sm\nprocess: {PROCESS}\nname: scaleout\n")
        package = Path(workdir) / "scaleout"
        start = time.perf_counter()
        madgen.generate(card, output=package, force=True)
        generated = time.perf_counter() - start
        run = {**(yaml.safe_load(args.run.read_text()) if args.run else RUN), "n_events": args.events}
        process = madgen.load(package).process
        print(f"{len(os.sched_getaffinity(0))} CPU cores; mining {args.events} events of {process} "
              f"(theta = {', '.join(args.parameters)}; generated in {generated:.1f} s); {share}")
        baseline = None
        for n in args.workers:
            client, cluster = open_client(workers=n, cores_per_worker=args.cores_per_worker or None)
            try:
                placed = workers_summary(client)
                times, stages = [], []
                for _ in range(args.repeats + 1):
                    start = time.perf_counter()
                    gold = mine(package, run, args.parameters, log=lambda *a: None,
                                scheduler=cluster.scheduler_address)
                    times.append(time.perf_counter() - start)
                    stages.append(gold.metadata["stages_s"])
            finally:
                client.close()
                cluster.close()
            median = statistics.median(times[1:]) if len(times) > 1 else times[0]
            baseline = baseline or median
            later = stages[1:] or stages
            laps = ", ".join(f"{stage} {statistics.median(s[stage] for s in later):.2f}" for stage in later[0])
            print(f"  {placed}: first run {times[0]:7.2f} s (with compilation), "
                  f"median of {args.repeats} {median:7.2f} s, speed-up {baseline / median:4.2f}; stages (s): {laps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
