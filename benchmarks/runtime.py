"""Benchmark the runtime: time to a 0.1% cross section, unweighting efficiency, events per second.

    python benchmarks/runtime.py                       # every process below
    python benchmarks/runtime.py --processes gg_ttxg pp_ttx --events 20000 --batch 65536

Prints (does not assert), per process on the default JAX backend (a GPU when one is present: the
event loop runs there): the cross section and its error, the integration time until the error is
below --precision (VEGAS iterations of --points points after --warmup training iterations, at most
--max-iterations; the first includes the compilation), the number of points used, the unweighting
efficiency <W>/W_max and the rate of unweighted events (events / unweighting time, after a first
run that compiles). For hadron collisions also the rate of PDF evaluations (x f(x, Q) of every
flavour for one parton, compiled, on --pdf-batch points).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

LHC = {"sqrt_s": 13000.0, "beams": ["p", "p"]}
PROCESSES = {
    "epem_mupmum": ("e+ e- > mu+ mu-", {"sqrt_s": 91.188}),
    "epem_ttx": ("e+ e- > t t~", {"sqrt_s": 500.0}),
    "gg_ttxg": ("g g > t t~ g", {"sqrt_s": 1000.0, "cuts": {"ptj": 20.0, "etaj": 5.0, "drjj": 0.4}}),
    "pp_ee_z": ("p p > e+ e-", {**LHC, "cuts": {"ptl": 0.0, "etal": -1.0, "drll": 0.0, "mmll": 60.0,
                                                 "mmllmax": 120.0}}),
    "pp_ttx": ("p p > t t~", {**LHC, "dynamical_scale_choice": 3}),
    "pp_ttxj": ("p p > t t~ j", {**LHC, "dynamical_scale_choice": 3, "cuts": {"ptj": 30.0}}),
}


def pdf_rate(batch: int) -> float:
    """Evaluations of x f(x, Q) (all flavours, one parton) per second, compiled, on ``batch`` points."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from madgen.pdf import load_pdf

    pdf = load_pdf()
    rng = np.random.default_rng(0)
    x = jnp.asarray(10 ** rng.uniform(-4, -0.05, batch))
    q = jnp.asarray(10 ** rng.uniform(1, 3, batch))
    evaluate = jax.jit(lambda x, q: pdf.xfx(x, q))
    jax.block_until_ready(evaluate(x, q))
    start = time.perf_counter()
    for _ in range(5):
        jax.block_until_ready(evaluate(x, q))
    return 5 * batch / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--precision", type=float, default=0.001)
    parser.add_argument("--points", type=int, default=100_000, help="points per iteration")
    parser.add_argument("--warmup", type=int, default=5, help="training iterations")
    parser.add_argument("--max-iterations", type=int, default=40)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=8192, help="points per compiled batch")
    parser.add_argument("--pdf-batch", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    import jax
    import yaml

    import madgen

    jax.config.update("jax_enable_x64", True)
    print(f"backend {jax.default_backend()}, device {jax.devices()[0].device_kind}")
    if any(name.startswith("pp_") for name in args.processes):
        print(f"PDF evaluations/s      {pdf_rate(args.pdf_batch):10.4g} (x f(x, Q), all flavours, batch "
              f"{args.pdf_batch})")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.processes:
            process, beams = PROCESSES[name]
            card = Path(workdir) / f"{name}.yaml"
            card.write_text(yaml.safe_dump({"model": "sm", "process": process, "name": name}))
            start = time.perf_counter()
            madgen.generate(card, output=Path(workdir) / name, force=True)
            generation = time.perf_counter() - start
            run = {**beams, "n_events": args.events, "seed": 1, "target_precision": args.precision,
                   "warmup_iterations": args.warmup, "iterations": args.max_iterations,
                   "points_per_iteration": args.points, "batch_size": args.batch}
            launch = madgen.api.launch
            first = launch(Path(workdir) / name, {**run, "n_events": min(args.events, 1000)},
                           output=Path(workdir) / f"{name}_compile", log=lambda *_: None, progress=False)
            result = launch(Path(workdir) / name, run, output=Path(workdir) / f"{name}_run", log=lambda *_: None,
                            progress=False)
            timings = result.timings
            print(f"\n{name}: {process}  ({len(result.channels)} channels, {len(result.groups)} kernel groups)")
            print(f"  generation               {generation:8.2f} s")
            print(f"  cross section            {result.cross_section_pb:.6g} +- {result.error_pb:.3g} pb "
                  f"({100 * result.error_pb / result.cross_section_pb:.3f}%)")
            print(f"  time to {100 * args.precision:g}% (compiled)   {timings['integration_s']:8.2f} s, "
                  f"{result.n_points} points (first run with compilation: {first.timings['integration_s']:.2f} s)")
            print(f"  unweighting efficiency   {result.unweighting_efficiency:8.4f}")
            print(f"  unweighted events/s      {result.n_events / timings['unweighting_s']:10.4g} "
                  f"({result.n_events} events in {timings['unweighting_s']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
