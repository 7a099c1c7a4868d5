"""MadGraph's CUDACPP standalone ``check`` programmes as a speed yardstick for madgen.

The sources are the unmodified CUDACPP outputs in ``../shared/anchors/cudacpp/<process>.sa`` (see the
README there); nothing of them is copied into madgen. This module only builds and runs them:

- ``prepare(process, backend, fp)`` copies ``<process>.sa`` into a writable cache
  (``$CUDACPP_CACHE``, default ``~/.cache/madgen/cudacpp``, outside the repository) and restores the
  symbolic links that the stored tree holds as small text files (``P1_*/Bridge.h`` containing
  ``../Bridge.h``, about 208 of them over the four processes);
- ``build(process, backend, fp)`` runs the anchors' ``build.sh`` on that copy and returns the path of the
  ``check_cpp.exe`` / ``check_cuda.exe`` programme (no Fortran compiler is needed: the f77 cross-check
  programme fails to build, which is irrelevant here);
- ``run(executable, blocks, threads, iterations, cpu_core)`` runs ``check -p blocks threads iterations``
  (events per iteration = blocks x threads, also on CPU), pinned with ``taskset`` to one core, and returns
  the throughputs parsed from its printout (``parse_throughput``).

The figure compared with madgen is ``EvtsPerSec[MECalcOnly] (3a)``: helicity- and colour-summed |M|^2
alone, without random numbers, RAMBO or (on GPU) the copy of the results to the host. On CPU it equals
``EvtsPerSec[MatrixElems] (3)``. It is the total events over the summed time of all iterations.

    python benchmarks/cudacpp_yardstick.py gg_tt --backend cpp --batch 4096 --iterations 10 --cpu-core 1
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "cudacpp"

# madgen benchmark name -> CUDACPP anchor process
ANCHOR_OF = {
    "epem_mupmum": "ee_mumu",
    "gg_ttx": "gg_tt",
    "gg_ttxg": "gg_ttg",
    "gg_ttxgg": "gg_ttgg",
}

# build.sh's backend names -> (CUDACPP BACKEND, check programme)
BACKENDS = {"cpp": ("cppavx2", "check_cpp.exe"), "cpp512": ("cpp512y", "check_cpp.exe"),
            "cuda": ("cuda", "check_cuda.exe")}

_RATE = re.compile(r"EvtsPerSec\[(?P<key>[A-Za-z+]+)\]\s*\((?P<tag>[0-9a-z]+)\)\s*=\s*\(\s*(?P<value>[-+0-9.eE]+)\s*\)")
_LINK_TEXT = re.compile(r"[A-Za-z0-9_./+-]+")


def cache_root() -> Path:
    return Path(os.environ.get("CUDACPP_CACHE", Path.home() / ".cache" / "madgen" / "cudacpp"))


def parse_throughput(output: str) -> dict[str, float]:
    """{'MECalcOnly': ..., 'MatrixElems': ..., 'Rmb+ME': ..., 'Rnd+Rmb+ME': ...} in events/s from the
    ``-p`` summary of a CUDACPP ``check`` programme (keys that are absent are left out)."""
    rates = {}
    for match in _RATE.finditer(output):
        rates.setdefault(match["key"], float(match["value"]))
    return rates


def restore_links(tree: Path) -> int:
    """Replace each small text file whose whole content is a relative path to another file of ``tree``
    (how the stored copy holds CUDACPP's symbolic links) by that symbolic link. Returns the count."""
    tree = tree.resolve()
    restored = 0
    for path in sorted(tree.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 256:
            continue
        text = path.read_text(errors="replace")
        if not _LINK_TEXT.fullmatch(text) or text.startswith("/"):
            continue
        target = (path.parent / text).resolve()
        if target == path or not target.is_file() or tree not in target.parents:
            continue  # e.g. ../makefile_original.mk whose target is not part of the stored tree
        path.unlink()
        path.symlink_to(text)
        restored += 1
    return restored


def prepare(process: str, backend: str = "cpp", fp: str = "d") -> Path:
    """The writable build copy of ``<process>.sa`` (created with its links restored on first use)."""
    source = ANCHORS / f"{process}.sa"
    if not source.is_dir():
        raise FileNotFoundError(f"no CUDACPP anchor {source}")
    copy = cache_root() / f"{backend}-{fp}" / f"{process}.sa"
    if not (copy / ".links-restored").exists():
        if copy.exists():
            shutil.rmtree(copy)
        copy.parent.mkdir(parents=True, exist_ok=True)
        staging = copy.with_name(copy.name + ".tmp")
        if staging.exists():
            shutil.rmtree(staging)
        shutil.copytree(source, staging, symlinks=True)
        for path in [staging, *staging.rglob("*")]:  # shared/ is read-only; the copy must be writable
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        count = restore_links(staging)
        (staging / ".links-restored").write_text(f"{count}\n")
        staging.rename(copy)
    return copy


def executable(process: str, backend: str = "cpp", fp: str = "d") -> Path:
    """Where the built ``check`` programme lies (it may not exist yet)."""
    copy = cache_root() / f"{backend}-{fp}" / f"{process}.sa"
    subprocesses = sorted((copy / "SubProcesses").glob("P1_*"))
    return (subprocesses[0] if subprocesses else copy / "SubProcesses" / "P1_missing") / BACKENDS[backend][1]


def build(process: str, backend: str = "cpp", fp: str = "d", quiet: bool = False) -> Path:
    """Build (once; cached) the ``check`` programme of an anchor process with the anchors' build.sh."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}")
    exe = executable(process, backend, fp)
    if exe.exists() and os.access(exe, os.X_OK):
        return exe
    prepare(process, backend, fp)
    if not quiet:
        print(f"building CUDACPP {process} ({backend} {fp}) in {cache_root()} ...", file=sys.stderr, flush=True)
    result = subprocess.run(["bash", str(ANCHORS / "build.sh"), backend, fp, process],
                            env={**os.environ, "CUDACPP_CACHE": str(cache_root())},
                            capture_output=True, text=True)
    exe = executable(process, backend, fp)
    if result.returncode != 0 or not exe.exists():
        raise RuntimeError(f"CUDACPP build of {process} failed: {result.stderr.strip()[-500:]}")
    return exe


def default_backend() -> str:
    """``cuda`` when JAX runs on a GPU and nvcc is present, else ``cpp`` (C++ AVX2, one event vector of
    four doubles per instruction, the yardstick of the anchors' README)."""
    try:
        import jax

        gpu = jax.default_backend() == "gpu"
    except Exception:  # noqa: BLE001 - no JAX: the C++ build
        gpu = False
    return "cuda" if gpu and shutil.which("nvcc") else "cpp"


def launch_shape(batch: int, backend: str = "cpp") -> tuple[int, int]:
    """(blocks, threads) with blocks x threads = batch (CUDACPP's events per iteration)."""
    threads = 256
    while batch % threads:
        threads //= 2
    multiple = 32 if backend == "cuda" else 4  # a warp; an AVX2 vector of doubles
    if threads < multiple:
        raise ValueError(f"batch {batch} is not a multiple of {multiple}")
    return batch // threads, threads


def run(exe: Path, blocks: int, threads: int, iterations: int, cpu_core: int | None = None,
        timeout: float | None = None) -> dict[str, float]:
    """Run ``exe -p blocks threads iterations`` (pinned to ``cpu_core`` with taskset) and return the
    parsed throughputs in events/s. Single-threaded on CPU (OMP_NUM_THREADS=1)."""
    command = [str(exe), "-p", str(blocks), str(threads), str(iterations)]
    if cpu_core is not None:
        command = ["taskset", "-c", str(cpu_core), *command]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=Path(exe).parent, capture_output=True, text=True, env=env,
                            timeout=timeout)
    rates = parse_throughput(result.stdout)
    if result.returncode != 0 or not rates:
        tail = (result.stdout + result.stderr).strip().splitlines()[-10:]
        raise RuntimeError(f"{exe.name} gave no throughput (exit {result.returncode}): " + " | ".join(tail))
    return rates


def throughput(rates: dict[str, float]) -> float:
    """The figure compared with madgen: MECalcOnly (falls back to MatrixElems)."""
    return rates.get("MECalcOnly", rates.get("MatrixElems", float("nan")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("processes", nargs="+", choices=sorted(ANCHOR_OF.values()))
    parser.add_argument("--backend", choices=sorted(BACKENDS), default=None, help="default: cuda on a GPU, else cpp")
    parser.add_argument("--fp", choices=["d", "f"], default="d")
    parser.add_argument("--batch", type=int, default=4096, help="events per iteration (blocks x threads)")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--cpu-core", type=int, default=None)
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args(argv)
    backend = args.backend or default_backend()
    for process in args.processes:
        exe = build(process, backend, args.fp)
        if args.build_only:
            print(exe)
            continue
        rates = run(exe, *launch_shape(args.batch, backend), args.iterations, args.cpu_core)
        print(f"{process} {backend} {args.fp} {throughput(rates):.4e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
