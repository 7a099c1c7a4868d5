"""Where a compiled |M|^2 spends its time: XLA's programme, its cost model, and a trace of its kernels.

    python benchmarks/kernel_profile.py --processes epem_mupmum gg_ttxg --batch 1048576     # on a GPU
    python benchmarks/kernel_profile.py --processes gg_ttx --batch 4096 --no-trace           # CPU, no trace

Prints (does not assert), per process, for the value kernel at --batch events on the default JAX
backend (momenta and parameters on the device): the number of kernels in XLA's optimised programme
(fusions and other top-level instructions of its entry computation), XLA's cost model (flops and bytes
accessed per event, their ratio), the temporary memory per event, the median time of a call and what
the bytes would take at --bandwidth (the call's time against that lower bound says how far from
memory-bound it is); with a trace (default), the device's kernels of --calls calls grouped by name:
calls, total and share of the time, the 15 largest. On a GPU that is the list of CUDA kernels XLA
launched; CUDACPP computes each event in one kernel.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def entry_instructions(hlo_text: str) -> collections.Counter:
    """Opcodes of the top-level instructions of the optimised programme's ENTRY computation (each a
    kernel or a library call, bar parameters, tuples and constants)."""
    entry = hlo_text[hlo_text.index("\nENTRY "):]
    body = entry[entry.index("{") + 1:entry.index("\n}")]
    counts = collections.Counter()
    for line in body.splitlines():
        match = re.search(r"=\s*[^=]*?\s([a-z][a-z0-9\-]*)\(", line)
        if match and match.group(1) not in ("parameter", "tuple", "get-tuple-element", "constant", "bitcast"):
            counts[match.group(1)] += 1
    return counts


def device_kernels(trace_dir: Path) -> dict[str, list[float]]:
    """Durations (microseconds) of the trace's events by name, for the device's threads (on a GPU its
    streams; on a CPU XLA's thunks), from the Perfetto trace the profiler wrote."""
    path = next(trace_dir.rglob("perfetto_trace.json.gz"))
    events = json.loads(gzip.decompress(path.read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {e["pid"]: e["args"].get("name", "") for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    devices = {pid for pid, name in names.items() if "/device:" in name}
    durations = collections.defaultdict(list)
    for event in events:
        if event.get("ph") == "X" and (not devices or event.get("pid") in devices):
            durations[event["name"]].append(float(event.get("dur", 0.0)))
    return durations


def profile(name: str, batch: int, calls: int, trace: bool, bandwidth: float, workdir: Path) -> None:
    import jax
    import yaml

    import madgen
    from matrix_elements import PROCESSES, on_device, phase_space_points, timed

    process, sqrt_s, masses = PROCESSES[name]
    card = workdir / f"{name}.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": process, "name": name}))
    madgen.generate(card, output=workdir / name, force=True)
    proc = madgen.load(workdir / name)
    parameters = on_device(proc.default_parameters())
    momenta = on_device(phase_space_points(sqrt_s, masses, batch))
    value = madgen.jit(lambda p, prm: proc.matrix_element(p, prm), process=proc)
    compiled = value.lower(momenta, parameters).compile()
    kernels = entry_instructions(compiled.as_text())
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    memory = compiled.memory_analysis()
    compiled(momenta, parameters).block_until_ready()
    call = statistics.median(timed(compiled, momenta, parameters, repeats=max(calls, 3)))
    flops, accessed = cost.get("flops", float("nan")), cost.get("bytes accessed", float("nan"))
    print(f"\n{name}: {process}, {batch} events, backend {jax.default_backend()} ({jax.devices()[0].device_kind})")
    opcodes = ", ".join(f"{opcode} {count}" for opcode, count in kernels.most_common())
    print(f"  kernels in the programme: {sum(kernels.values())} ({opcodes})")
    print(f"  cost model per event: {flops / batch:.0f} flops, {accessed / batch:.0f} bytes accessed "
          f"({flops / accessed:.2f} flops/byte); temporaries {memory.temp_size_in_bytes / batch:.0f} bytes/event")
    print(f"  a call: {call * 1e3:.3f} ms ({batch / call:.3e} events/s); the bytes at {bandwidth:.3g} B/s: "
          f"{accessed / bandwidth * 1e3:.3f} ms")
    if not trace:
        return
    trace_dir = workdir / f"trace_{name}"
    with jax.profiler.trace(str(trace_dir), create_perfetto_trace=True):
        for _ in range(calls):
            compiled(momenta, parameters).block_until_ready()
    durations = device_kernels(trace_dir)
    total = sum(sum(d) for d in durations.values())
    print(f"  trace of {calls} calls: {sum(len(d) for d in durations.values()) / calls:.0f} events per call, "
          f"{total / calls / 1e3:.3f} ms of them per call")
    for kernel, spent in sorted(durations.items(), key=lambda item: -sum(item[1]))[:15]:
        print(f"    {sum(spent) / total:6.1%}  {len(spent) // calls:4d}/call  {sum(spent) / calls:10.1f} us  "
              f"{kernel[:90]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", nargs="+", default=["epem_mupmum", "gg_ttxg"])
    parser.add_argument("--batch", type=int, default=1_048_576)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--no-trace", dest="trace", action="store_false")
    parser.add_argument("--bandwidth", type=float, default=4.8e12, help="bytes/s (default: an H200's HBM3e)")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.processes:
            profile(name, args.batch, args.calls, args.trace, args.bandwidth, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
