"""Benchmark generated |M|^2: generation time, jit compile time, throughput, gradient cost.

    python benchmarks/matrix_elements.py                      # all processes, batches 1e3..1e6
    python benchmarks/matrix_elements.py --processes gg_ttx --max-batch 100000 --repeats 5
    python benchmarks/matrix_elements.py --compare-cudacpp --processes epem_mupmum gg_ttx gg_ttxg \\
        --batches 4096 --repeats 5 --cpu-core 1 --process-budget 400

Prints (does not assert) for each process: generation time, jit compile time of |M|^2 and of
value-and-gradient (w.r.t. momenta and all external parameters), the median throughput in
|M|^2 evaluations per second for each batch size on the default JAX backend (CPU or GPU), and
the cost of value-and-gradient relative to value alone. Batch sizes whose estimated run time
exceeds --budget seconds are skipped. The MadGraph CUDA reference on an H100 in double
precision is about 2.5e8/s for g g > t t~ and 1.6e6/s for g g > t t~ g g.

``--compare-cudacpp`` measures madgen side by side with MadGraph's CUDACPP standalone ``check``
programmes (``../shared/anchors/cudacpp``, built once into ``$CUDACPP_CACHE``, default
``~/.cache/madgen/cudacpp``, by ``benchmarks/cudacpp_yardstick.py``) in the same run, and prints one
table row per process and batch size: madgen's |M|^2 throughput (median of --repeats), its
value-and-gradient throughput (gradient w.r.t. the momenta and all external parameters), the cost of
value-and-gradient over value, CUDACPP's throughput at the same number of events per iteration
(blocks x threads = batch; ``EvtsPerSec[MECalcOnly]`` over --cudacpp-iterations), madgen/CUDACPP and
(value+grad)/CUDACPP, and the compile times. Double precision, or with ``--precision single``
madgen's single-precision kernel (``process.with_precision("single")``) against CUDACPP's float build
(FPTYPE=f). On a GPU (JAX backend ``gpu`` and
``nvcc`` present) CUDACPP's CUDA build is used, else its C++ AVX2 build (``--cudacpp-backend`` to
choose). The process pairs: epem_mupmum ~ ee_mumu, gg_ttx ~ gg_tt, gg_ttxg ~ gg_ttg, gg_ttxgg ~ gg_ttgg.
``--cpu-core N`` pins this process (and XLA to one thread) and the CUDACPP run to core N: the C++
build is single-threaded, so compare on one core. ``--process-budget S`` bounds the seconds spent per
process: a value-and-gradient compilation whose estimated time (value compile time times the square
of the ratio of the lowered programmes' sizes) would exceed what is left is skipped, and the row says
so. Differences to keep in mind: CUDACPP's ``check`` samples massless RAMBO momenta even for tops,
madgen massive ones; CUDACPP's figure is total events over total time, madgen's a median.
"""

from __future__ import annotations

import argparse
import os
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


def on_device(tree):
    """Arrays (momenta, parameters) on JAX's default device before any timing: on a GPU a host array
    would add its copy to the device to every call, which CUDACPP's MECalcOnly does not count."""
    import jax

    return jax.device_put(tree)


def _block(out):
    import jax

    jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, out)


def benchmark(name: str, batches, repeats: int, budget: float, workdir: Path, skip_gradient: bool = False,
              routine_calls: str = "auto", gradient_in: str = "all") -> None:
    import jax
    import yaml

    import madgen

    process, sqrt_s, masses = PROCESSES[name]
    card = workdir / f"{name}.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": process, "name": name, "routine_calls": routine_calls}))
    start = time.perf_counter()
    madgen.generate(card, output=workdir / name, force=True)
    generation = time.perf_counter() - start
    proc = madgen.load(workdir / name)
    parameters = on_device(proc.default_parameters())

    value, value_and_grad = _kernels(proc, gradient_in)

    print(f"\n{name}: {process}  ({proc.n_diagrams} diagrams, backend {jax.default_backend()}, "
          f"device {jax.devices()[0].device_kind})")
    print(f"  generation            {generation:8.2f} s")
    rate_at = {}
    for batch in batches:
        momenta = on_device(phase_space_points(sqrt_s, masses, batch))
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


def _lower(function, momenta, parameters):
    """(lowered programme, seconds to trace and lower, size of its StableHLO text in lines)."""
    start = time.perf_counter()
    lowered = function.lower(momenta, parameters)
    return lowered, time.perf_counter() - start, lowered.as_text().count("\n")


def _compile(lowered):
    start = time.perf_counter()
    compiled = lowered.compile()
    return compiled, time.perf_counter() - start


def _median_rate(compiled, momenta, parameters, batch: int, repeats: int) -> float:
    _block(compiled(momenta, parameters))  # warm-up (first call; allocation)
    return batch / statistics.median(timed(compiled, momenta, parameters, repeats=repeats))


GRADIENTS = {"all": (0, 1), "parameters": 1}
"""--gradient-in: the inputs of the value+grad column's gradient (argnums of (momenta, parameters)):
``all`` momenta and every parameter, ``parameters`` every parameter with the momenta fixed (gold mining)."""

GRADIENT_WORDS = {"all": "momenta and every parameter", "parameters": "every parameter (momenta fixed)"}


def _kernels(proc, gradient_in: str = "all"):
    """|M|^2 and its value with the gradient in the momenta and all parameters (``gradient_in="all"``)
    or in the parameters alone (``"parameters"``), jitted as madgen compiles kernels (``madgen.jit``
    with the process's compiler options)."""
    import jax

    import madgen

    value = madgen.jit(lambda p, prm: proc.matrix_element(p, prm), process=proc)
    value_and_grad = madgen.jit(jax.value_and_grad(lambda p, prm: proc.matrix_element(p, prm).sum(),
                                                   argnums=GRADIENTS[gradient_in]), process=proc)
    return value, value_and_grad


def measure_madgen(name: str, batches, repeats: int, workdir: Path, process_budget: float = float("inf"),
                   gradient: bool = True, on_row=None, on_value=None, precision: str = "double",
                   routine_calls: str = "auto", gradient_in: str = "all") -> list[dict]:
    """madgen's side of the comparison for one process: a dict per batch size with ``value_rate``,
    ``grad_rate`` (None when skipped or failed), ``compile_value``, ``compile_grad``, ``generation``
    and ``note`` (why value+grad is missing). ``process_budget`` bounds the seconds spent on the process
    (generation included); ``precision`` the kernel's (``double`` or ``single``); ``routine_calls`` the process
    card's (``auto``, ``separate`` or ``stacked``: stacked calls compile faster); ``gradient_in`` what
    the gradient is taken in (``GRADIENTS``); ``on_value(row)`` is
    called right after the value is timed (the yardstick runs then, seconds apart from it, on a machine
    whose speed drifts) and ``on_row(row)`` as each row is ready."""
    import yaml

    import madgen

    began = time.perf_counter()
    process, sqrt_s, masses = PROCESSES[name]
    card = workdir / f"{name}.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": process, "name": name, "routine_calls": routine_calls}))
    madgen.generate(card, output=workdir / name, force=True)
    generation = time.perf_counter() - began
    proc = madgen.load(workdir / name)
    if precision != "double":
        proc = proc.with_precision(precision)
    parameters = on_device(proc.default_parameters())
    value, value_and_grad = _kernels(proc, gradient_in)

    rows = []
    for batch in batches:
        row = {"process": name, "batch": batch, "generation": generation, "diagrams": proc.n_diagrams,
               "value_rate": None, "grad_rate": None, "compile_value": None, "compile_grad": None, "note": ""}
        rows.append(row)
        left = process_budget - (time.perf_counter() - began)
        if left <= 0:
            row["note"] = f"skipped: process budget of {process_budget:.0f} s spent"
            on_row and on_row(row)
            continue
        momenta = on_device(phase_space_points(sqrt_s, masses, batch))
        try:
            lowered, lower_time, value_size = _lower(value, momenta, parameters)
            compiled, compile_time = _compile(lowered)
            row["compile_value"] = lower_time + compile_time
            row["value_rate"] = _median_rate(compiled, momenta, parameters, batch, repeats)
        except Exception as error:  # noqa: BLE001 - e.g. XLA out of memory: report and go on
            row["note"] = f"value failed: {_first_line(error)}"
            on_row and on_row(row)
            continue
        on_value and on_value(row)
        if not gradient:
            row["note"] = "value+grad not asked for"
            on_row and on_row(row)
            continue
        try:
            lowered, lower_time, grad_size = _lower(value_and_grad, momenta, parameters)
            estimate = compile_time * (grad_size / value_size) ** 2
            left = process_budget - (time.perf_counter() - began)
            if estimate > left:
                row["note"] = (f"value+grad skipped: compile estimated at {estimate:.0f} s, "
                               f"{max(left, 0):.0f} s of the {process_budget:.0f} s process budget left")
            else:
                compiled, compile_time = _compile(lowered)
                row["compile_grad"] = lower_time + compile_time
                row["grad_rate"] = _median_rate(compiled, momenta, parameters, batch, repeats)
        except Exception as error:  # noqa: BLE001
            row["note"] = f"value+grad failed: {_first_line(error)}"
        on_row and on_row(row)
    return rows


COLUMNS = ("process", "batch", "madgen |M|^2/s", "value+grad/s", "v+g cost", "CUDACPP/s",
           "madgen/CUDACPP", "(v+g)/CUDACPP", "compile s", "compile v+g s")
_WIDTHS = (12, 7, 15, 13, 9, 11, 15, 14, 10, 14)


def format_row(cells) -> str:
    return "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, _WIDTHS)))


def table_row(row: dict, cudacpp_rate) -> str:
    def sci(x):
        return "-" if x is None else f"{x:.3e}"

    def ratio(a, b):
        return "-" if a is None or not b else f"{a / b:.3g}"

    cost = ratio(row["value_rate"], row["grad_rate"])
    cells = (row["process"], str(row["batch"]), sci(row["value_rate"]), sci(row["grad_rate"]), cost,
             sci(cudacpp_rate), ratio(row["value_rate"], cudacpp_rate), ratio(row["grad_rate"], cudacpp_rate),
             "-" if row["compile_value"] is None else f"{row['compile_value']:.1f}",
             "-" if row["compile_grad"] is None else f"{row['compile_grad']:.1f}")
    return format_row(cells)


def compare_cudacpp(args) -> int:
    """--compare-cudacpp: one table, madgen and CUDACPP measured one after the other, row by row."""
    import subprocess

    import jax

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import cudacpp_yardstick as yardstick

    backend = args.cudacpp_backend or yardstick.default_backend()
    fp = "f" if args.precision == "single" else "d"
    executables, notes = {}, []
    for name in args.processes:  # build first: build time is no part of any process budget
        anchor = yardstick.ANCHOR_OF[name]
        try:
            executables[name] = yardstick.build(anchor, backend, fp)
        except Exception as error:  # noqa: BLE001 - report, still measure madgen
            notes.append(f"CUDACPP {anchor} ({backend} {fp}) not built: {_first_line(error)}")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        commit = "?"
    pinned = f"core {args.cpu_core} (XLA one thread)" if args.cpu_core is not None else "not pinned"
    print(f"madgen {commit} vs MadGraph CUDACPP ({backend}, {args.precision} precision), "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"JAX backend {jax.default_backend()} ({jax.devices()[0].device_kind}); CPU {pinned}; "
          f"madgen: median of {args.repeats} repeats, gradient in {GRADIENT_WORDS[args.gradient_in]}; "
          f"CUDACPP: EvtsPerSec[MECalcOnly] over "
          f"{args.cudacpp_iterations} iterations of blocks x threads = batch")
    print(format_row(COLUMNS))
    print(format_row(tuple("-" * w for w in _WIDTHS)))
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.processes:
            def on_value(row, name=name):
                """CUDACPP right after madgen's value timing (before the minutes of a gradient compile)."""
                if name in executables:
                    try:
                        blocks, threads = yardstick.launch_shape(row["batch"], backend)
                        rates = yardstick.run(executables[name], blocks, threads, args.cudacpp_iterations,
                                              args.cpu_core, timeout=600)
                        row["cudacpp_rate"] = yardstick.throughput(rates)
                    except Exception as error:  # noqa: BLE001
                        notes.append(f"CUDACPP {name} batch {row['batch']}: {_first_line(error)}")

            def on_row(row, name=name):
                print(table_row(row, row.get("cudacpp_rate")), flush=True)
                if row["note"]:
                    notes.append(f"{name} batch {row['batch']}: {row['note']}")

            rows = measure_madgen(name, args.batches, args.repeats, Path(workdir), args.process_budget,
                                  gradient=not args.skip_gradient, on_row=on_row, on_value=on_value,
                                  precision=args.precision, routine_calls=args.routine_calls,
                                  gradient_in=args.gradient_in)
            if rows:
                notes.append(f"{name}: {rows[0]['diagrams']} diagrams, generation {rows[0]['generation']:.1f} s")
    print()
    for note in notes:
        print(f"  {note}")
    return 0


def _pin(core: int) -> None:
    """This process onto one core, XLA's CPU backend onto one thread (before JAX is imported)."""
    os.sched_setaffinity(0, {core})
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--min-batch", type=int, default=1000)
    parser.add_argument("--max-batch", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds allowed per batch size")
    parser.add_argument("--skip-gradient", action="store_true",
                        help="only |M|^2 (value-and-gradient compiles for minutes on CPU for large processes)")
    parser.add_argument("--batches", type=int, nargs="+", default=None,
                        help="batch sizes (default: powers of ten in [--min-batch, --max-batch]; 4096 "
                             "with --compare-cudacpp)")
    parser.add_argument("--compare-cudacpp", action="store_true",
                        help="one table beside MadGraph's CUDACPP check programmes, built in $CUDACPP_CACHE")
    parser.add_argument("--cudacpp-backend", choices=["cpp", "cpp512", "cuda"], default=None,
                        help="CUDACPP build (default: cuda on a GPU with nvcc, else cpp = C++ AVX2)")
    parser.add_argument("--cudacpp-iterations", type=int, default=10)
    parser.add_argument("--precision", choices=["double", "single"], default="double",
                        help="madgen's kernel precision; with --compare-cudacpp also CUDACPP's FPTYPE (d or f)")
    parser.add_argument("--routine-calls", choices=["auto", "separate", "stacked"], default="auto",
                        help="the process card's routine_calls: one helicity-routine call per current, or "
                             "stacked calls (faster compiles); auto stacks processes from 200 calls")
    parser.add_argument("--gradient-in", choices=list(GRADIENTS), default="all",
                        help="value+grad: the gradient in the momenta and every parameter (all) or in the "
                             "parameters alone (parameters, as gold mining takes it)")
    parser.add_argument("--cpu-core", type=int, default=None,
                        help="pin this process (XLA to one thread) and CUDACPP to this core")
    parser.add_argument("--process-budget", type=float, default=float("inf"),
                        help="seconds per process with --compare-cudacpp; value+grad compilations "
                             "estimated to exceed it are skipped")
    args = parser.parse_args(argv)
    if args.cpu_core is not None:
        _pin(args.cpu_core)
    import jax

    jax.config.update("jax_enable_x64", True)
    if args.compare_cudacpp:
        args.batches = args.batches or [4096]
        return compare_cudacpp(args)
    batches = args.batches or [b for b in (10 ** k for k in range(3, 8)) if args.min_batch <= b <= args.max_batch]
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.processes:
            benchmark(name, batches, args.repeats, args.budget, Path(workdir), args.skip_gradient, args.routine_calls,
                      args.gradient_in)
    return 0


if __name__ == "__main__":
    sys.exit(main())
