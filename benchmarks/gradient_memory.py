"""Peak memory and time of chunked |M|^2 gradients (madgen.inference), and the forward/reverse crossover.

    python benchmarks/gradient_memory.py memory                    # g g > t t~, N = 1e4, 1e5, 1e6
    python benchmarks/gradient_memory.py memory --sizes 10000 --chunks 1024 4096
    python benchmarks/gradient_memory.py modes --n 20000           # forward vs reverse, k = 1, 2, 4, 8

``memory``: one fresh subprocess per (N, chunk size), so that its peak RSS (VmHWM) is that run's alone;
prints the RSS before differentiating (package, momenta), the time of N log|M|^2 values
(``matrix_element_values``) and of values + d log|M|^2 / d(aS, ymt) (``parameter_value_and_gradient``,
``mode="auto"``: forward), each the second call (the first compiles), the same for the reverse-mode
momentum gradient (``momentum_gradient``: the backward pass), and the peak RSS of the whole run.
``modes``: per k, the second-call time of ``parameter_value_and_gradient`` in forward and in reverse
mode on N events (median of 3). Prints, does not assert; pin a core with ``taskset -c 1`` on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tests" / "golden" / "gg_ttx"
PARAMETERS = ("aS", "ymt", "MT", "WT", "MZ", "WZ", "aEWM1", "Gf")  # the first k are differentiated


def two_to_two(n: int, sqrt_s: float, mass: float, seed: int = 1) -> np.ndarray:
    """n CM-frame points (n, 4, 4) of massless a b > c d with m_c = m_d = ``mass``, isotropic (numpy)."""
    rng = np.random.default_rng(seed)
    cos, phi = 2 * rng.random(n) - 1, 2 * np.pi * rng.random(n)
    sin = np.sqrt(1 - cos ** 2)
    energy = sqrt_s / 2
    p = np.sqrt(energy ** 2 - mass ** 2)
    out = np.zeros((n, 4, 4))
    out[:, 0] = [energy, 0, 0, energy]
    out[:, 1] = [energy, 0, 0, -energy]
    final = np.stack([np.full(n, energy), p * sin * np.cos(phi), p * sin * np.sin(phi), p * cos], axis=1)
    out[:, 2], out[:, 3] = final, final * [1, -1, -1, -1]
    return out


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def timed(function, *args, repeats: int = 1, **kwargs) -> float:
    """Median seconds of ``repeats`` calls after the first (which compiles)."""
    function(*args, **kwargs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def one_run(n: int, chunk: int) -> dict:
    """The measurements of ``memory`` for one (N, chunk size), in this process."""
    import madgen
    from madgen.inference.gradients import matrix_element_values, momentum_gradient, parameter_value_and_gradient

    process = madgen.load(PACKAGE)
    momenta = two_to_two(n, 600.0, 173.0)
    before = status_kb("VmRSS")
    value = timed(matrix_element_values, process, momenta, chunk_size=chunk)
    gradient = timed(parameter_value_and_gradient, process, momenta, PARAMETERS[:2], chunk_size=chunk)
    backward = timed(momentum_gradient, process, momenta, chunk_size=chunk)
    return {"n": n, "chunk": chunk, "rss_before_mb": before / 1024, "value_s": value, "value_grad_s": gradient,
            "momentum_grad_s": backward, "peak_mb": status_kb("VmHWM") / 1024}


def memory(sizes, chunks) -> None:
    print(f"g g > t t~ at 600 GeV: second-call times; peak = VmHWM of a fresh process ({PACKAGE.name})")
    print(f"{'N':>8} {'chunk':>6} {'rss0 MB':>8} {'value s':>8} {'val+grad s':>10} {'dME/dp s':>9} {'peak MB':>8}")
    for n in sizes:
        for chunk in chunks:
            done = subprocess.run([sys.executable, __file__, "one", str(n), str(chunk)], capture_output=True, text=True)
            if done.returncode:
                print(f"{n:>8} {chunk:>6} failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{n:>8} {chunk:>6} {r['rss_before_mb']:>8.0f} {r['value_s']:>8.2f} {r['value_grad_s']:>10.2f} "
                  f"{r['momentum_grad_s']:>9.2f} {r['peak_mb']:>8.0f}", flush=True)


def modes(n: int, ks, chunk: int) -> None:
    import madgen
    from madgen.inference.gradients import matrix_element_values, parameter_value_and_gradient

    process = madgen.load(PACKAGE)
    momenta = two_to_two(n, 600.0, 173.0)
    value = timed(matrix_element_values, process, momenta, repeats=3, chunk_size=chunk)
    print(f"g g > t t~, N = {n}, chunk {chunk}: value alone {value:.3f} s; value + gradient in k parameters:")
    print(f"{'k':>3} {'forward s':>10} {'reverse s':>10} {'fwd/rev':>8}")
    for k in ks:
        names = PARAMETERS[:k]
        forward, reverse = (timed(parameter_value_and_gradient, process, momenta, names, repeats=3, mode=m, chunk_size=chunk)
                            for m in ("forward", "reverse"))
        print(f"{k:>3} {forward:>10.3f} {reverse:>10.3f} {forward / reverse:>8.2f}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("memory")
    m.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    m.add_argument("--chunks", type=int, nargs="+", default=[1024, 4096, 16384])
    o = commands.add_parser("modes")
    o.add_argument("--n", type=int, default=20_000)
    o.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8])
    o.add_argument("--chunk", type=int, default=4096)
    one = commands.add_parser("one")
    one.add_argument("n", type=int)
    one.add_argument("chunk", type=int)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.command == "memory":
        memory(args.sizes, args.chunks)
    elif args.command == "modes":
        modes(args.n, args.ks, args.chunk)
    else:
        print(json.dumps(one_run(args.n, args.chunk)))


if __name__ == "__main__":
    main()
