"""Benchmark generated |M|^2: generation time, jit compile time, throughput, gradient cost.

    python benchmarks/matrix_elements.py                      # all processes, batches 1e3..1e6
    python benchmarks/matrix_elements.py --processes gg_ttx --max-batch 100000 --repeats 5

Prints (does not assert) for each process: generation time, jit compile time of |M|^2 and of
value-and-gradient (w.r.t. momenta and all external parameters), the median throughput in
|M|^2 evaluations per second for each batch size on the default JAX backend (CPU or GPU), and
the cost of value-and-gradient relative to value alone. Batch sizes whose estimated run time
exceeds --budget seconds are skipped. The MadGraph CUDA reference on an H100 in double
precision is about 2.5e8/s for g g > t t~ and 1.6e6/s for g g > t t~ g g.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROCESSES = {
    "epem_mupmum": ("e+ e- > mu+ mu-", 91.188, (0.0, 0.0)),
    "gg_ttx": ("g g > t t~", 500.0, (173.0, 173.0)),
    "gg_ttxg": ("g g > t t~ g", 1000.0, (173.0, 173.0, 0.0)),
    "gg_ttxgg": ("g g > t t~ g g", 1000.0, (173.0, 173.0, 0.0, 0.0)),
}


def phase_space_points(sqrt_s: float, masses, n: int, seed: int = 1) -> np.ndarray:
    """n momentum configurations (n, 2 + len(masses), 4) from madgen's RAMBO, in the CM frame."""
    import jax.numpy as jnp

    from madgen.phasespace.rambo import rambo, rambo_ndim

    x = np.random.default_rng(seed).random((n, rambo_ndim(len(masses))))
    final, _ = rambo(jnp.asarray(x), sqrt_s, jnp.asarray(masses))
    e = sqrt_s / 2
    incoming = np.broadcast_to(np.array([[e, 0, 0, e], [e, 0, 0, -e]]), (n, 2, 4))
    return np.concatenate([incoming, np.asarray(final)], axis=1)


def timed(function, *args, repeats: int = 3) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = function(*args)
        _block(out)
        times.append(time.perf_counter() - start)
    return times


def _block(out):
    import jax

    jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, out)


def benchmark(name: str, batches, repeats: int, budget: float, workdir: Path, skip_gradient: bool = False) -> None:
    import jax
    import yaml

    import madgen

    process, sqrt_s, masses = PROCESSES[name]
    card = workdir / f"{name}.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": process, "name": name}))
    start = time.perf_counter()
    madgen.generate(card, output=workdir / name, force=True)
    generation = time.perf_counter() - start
    proc = madgen.load(workdir / name)
    parameters = proc.default_parameters()

    value = jax.jit(lambda p, prm: proc.matrix_element(p, prm))
    value_and_grad = jax.jit(jax.value_and_grad(lambda p, prm: proc.matrix_element(p, prm).sum(), argnums=(0, 1)))

    print(f"\n{name}: {process}  ({proc.n_diagrams} diagrams, backend {jax.default_backend()}, "
          f"device {jax.devices()[0].device_kind})")
    print(f"  generation            {generation:8.2f} s")
    rate_at = {}
    for batch in batches:
        momenta = phase_space_points(sqrt_s, masses, batch)
        if rate_at and batch / max(rate_at.values()) * repeats > budget:
            print(f"  batch {batch:>8d}: skipped (estimated over the {budget:.0f} s budget)")
            continue
        try:
            compile_value, runs = compile_and_time(value, momenta, parameters, repeats)
        except Exception as error:  # noqa: BLE001 - e.g. XLA out of memory: report and go on
            print(f"  batch {batch:>8d}: value failed ({_first_line(error)})")
            continue
        rate = batch / statistics.median(runs)
        rate_at[batch] = rate
        if skip_gradient:
            print(f"  batch {batch:>8d}: {rate:10.3e} |M|^2/s   compile value {compile_value:6.2f} s")
            continue
        try:
            compile_grad, grad_runs = compile_and_time(value_and_grad, momenta, parameters, repeats)
            gradient = (f"value+grad/value {statistics.median(grad_runs) / statistics.median(runs):5.2f}, "
                        f"compile value+grad {compile_grad:6.2f} s")
        except Exception as error:  # noqa: BLE001
            gradient = f"value+grad failed ({_first_line(error)})"
        print(f"  batch {batch:>8d}: {rate:10.3e} |M|^2/s   compile value {compile_value:6.2f} s   {gradient}")


def compile_and_time(function, momenta, parameters, repeats):
    """(first-call time, which includes compilation; the times of ``repeats`` later calls)."""
    start = time.perf_counter()
    _block(function(momenta, parameters))
    return time.perf_counter() - start, timed(function, momenta, parameters, repeats=repeats)


def _first_line(error) -> str:
    return str(error).strip().splitlines()[0][:100] if str(error).strip() else type(error).__name__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--min-batch", type=int, default=1000)
    parser.add_argument("--max-batch", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds allowed per batch size")
    parser.add_argument("--skip-gradient", action="store_true",
                        help="only |M|^2 (value-and-gradient compiles for minutes on CPU for large processes)")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    batches = [b for b in (10 ** k for k in range(3, 8)) if args.min_batch <= b <= args.max_batch]
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.processes:
            benchmark(name, batches, args.repeats, args.budget, Path(workdir), args.skip_gradient)
    return 0


if __name__ == "__main__":
    sys.exit(main())
