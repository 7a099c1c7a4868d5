"""Benchmark the runtime: time to a 0.1% cross section, unweighting efficiency, events per second.

    python benchmarks/runtime.py                       # e+e- > mu+mu-, e+e- > t t~, g g > t t~ g
    python benchmarks/runtime.py --processes epem_mupmum --events 100000 --batch 65536

Prints (does not assert), per process on the default JAX backend: the cross section and its
error, the integration time until the error is below --precision (VEGAS iterations of
--points points, at most --max-iterations), the number of points used, the unweighting
efficiency <W>/W_max and the rate of unweighted events (events / unweighting time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

PROCESSES = {
    "epem_mupmum": ("e+ e- > mu+ mu-", {"sqrt_s": 91.188}),
    "epem_ttx": ("e+ e- > t t~", {"sqrt_s": 500.0}),
    "gg_ttxg": ("g g > t t~ g", {"sqrt_s": 1000.0, "cuts": {"ptj": 20.0, "etaj": 5.0, "drjj": 0.4}}),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--precision", type=float, default=0.001)
    parser.add_argument("--points", type=int, default=100_000, help="points per iteration")
    parser.add_argument("--max-iterations", type=int, default=40)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=8192, help="points per compiled batch")
    args = parser.parse_args(argv)

    import jax
    import yaml

    import madgen

    print(f"backend {jax.default_backend()}, device {jax.devices()[0].device_kind}")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.processes:
            process, beams = PROCESSES[name]
            card = Path(workdir) / f"{name}.yaml"
            card.write_text(yaml.safe_dump({"model": "sm", "process": process, "name": name}))
            start = time.perf_counter()
            madgen.generate(card, output=Path(workdir) / name, force=True)
            generation = time.perf_counter() - start
            run = {**beams, "n_events": args.events, "seed": 1, "target_precision": args.precision,
                   "iterations": args.max_iterations, "points_per_iteration": args.points,
                   "batch_size": args.batch}
            result = madgen.api.launch(Path(workdir) / name, run, output=Path(workdir) / f"{name}_run",
                                       log=lambda *_: None, progress=False)
            timings = result.timings
            print(f"\n{name}: {process}  ({len(result.channels)} channels)")
            print(f"  generation               {generation:8.2f} s")
            print(f"  cross section            {result.cross_section_pb:.6g} +- {result.error_pb:.3g} pb "
                  f"({100 * result.error_pb / result.cross_section_pb:.3f}%)")
            print(f"  integration (with jit)   {timings['integration_s']:8.2f} s, {result.n_points} points")
            print(f"  unweighting efficiency   {result.unweighting_efficiency:8.4f}")
            print(f"  unweighted events/s      {result.n_events / timings['unweighting_s']:10.4g} "
                  f"({result.n_events} events in {timings['unweighting_s']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
