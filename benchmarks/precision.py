"""Accuracy and speed of single-precision |M|^2 against double (docs/precision.md).

    python benchmarks/precision.py                                   # e+ e- > mu+ mu-, g g > t t~ (g), 1e5 points
    python benchmarks/precision.py --processes gg_ttxgg --points 10000

For each process: generate the package (default double), draw --points phase-space points with
madgen's RAMBO (benchmarks/matrix_elements.py: CM frame, sqrt(s) and masses of PROCESSES), evaluate
|M|^2 in double and through ``process.with_precision("single")``, and print the distribution of the
relative deviation |single / double - 1| (median, 90%, 99%, 99.9% quantiles, maximum) and the median
throughput of each precision at --batch points per call on the default JAX backend, with its ratio.
Prints; asserts nothing (tests/test_precision.py checks the tolerances).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matrix_elements import PROCESSES, phase_space_points  # noqa: E402

DEFAULT_PROCESSES = ("epem_mupmum", "gg_ttx", "gg_ttxg")
QUANTILES = (0.5, 0.9, 0.99, 0.999)


def deviations(name: str, n_points: int, batch: int, repeats: int, workdir: Path, seed: int = 1) -> dict:
    """Relative deviations of single from double over n_points, and both throughputs."""
    import jax
    import yaml

    import madgen

    text, sqrt_s, masses = PROCESSES[name]
    card = workdir / f"{name}.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": text, "name": name}))
    madgen.generate(card, output=workdir / name, force=True)
    double = madgen.load(workdir / name)
    single = double.with_precision("single")
    kernels = {precision: madgen.jit(lambda p, proc=proc: proc.matrix_element(p, check=False), process=proc)
               for precision, proc in (("double", double), ("single", single))}
    values = {"double": [], "single": []}
    for start in range(0, n_points, batch):
        size = min(batch, n_points - start)
        momenta = phase_space_points(sqrt_s, masses, batch, seed=seed + start)  # a full batch: one compilation
        for precision, kernel in kernels.items():
            values[precision].append(np.asarray(kernel(momenta), dtype=np.float64)[:size])
    d, s = np.concatenate(values["double"]), np.concatenate(values["single"])
    finite = np.isfinite(d) & (d != 0)
    relative = np.abs(s[finite] / d[finite] - 1)
    momenta = phase_space_points(sqrt_s, masses, batch, seed=seed)
    rates = {}
    for precision, kernel in kernels.items():
        times = []
        for _ in range(repeats):
            begin = time.perf_counter()
            kernel(momenta).block_until_ready()
            times.append(time.perf_counter() - begin)
        rates[precision] = batch / statistics.median(times)
    return {"name": name, "process": text, "points": int(finite.sum()), "excluded": int((~finite).sum()),
            "quantiles": [float(np.quantile(relative, q)) for q in QUANTILES], "max": float(relative.max()),
            "rates": rates}


def table(rows) -> str:
    header = ("| process | points | median | 90% | 99% | 99.9% | max | double /s | single /s | single/double |\n"
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    lines = [header]
    for row in rows:
        q = " | ".join(f"{x:.1e}" for x in row["quantiles"])
        rates = row["rates"]
        lines.append(f"| `{row['process']}` | {row['points']} | {q} | {row['max']:.1e} | {rates['double']:.2e} | "
                     f"{rates['single']:.2e} | {rates['single'] / rates['double']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", nargs="+", default=list(DEFAULT_PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="points per compiled call (and for the throughput)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    print(f"backend {jax.default_backend()}, device {jax.devices()[0].device_kind}; relative deviation "
          f"|single/double - 1| over {args.points} RAMBO points; throughput at {args.batch} points per call")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.processes:
            rows.append(deviations(name, args.points, min(args.batch, args.points), args.repeats, Path(workdir)))
            if rows[-1]["excluded"]:
                print(f"  {name}: {rows[-1]['excluded']} point(s) with |M|^2 = 0 or not finite in double left out")
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
