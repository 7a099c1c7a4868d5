"""Benchmark EFT processes with the published SMEFTsim model (topU3l, MwScheme, shipped in models/).

    python benchmarks/eft.py                          # both processes, batch 4096
    python benchmarks/eft.py --processes gg_ttx_np --batch 16384 --repeats 5

Prints (does not assert), per process: generation time (Python-2 conversion cached, so the first
run of a fresh machine is slower), jit compile time of |M|^2 and of its gradient w.r.t. all Wilson
coefficients at once, the median |M|^2 throughput, and the cost of value + gradient over all
coefficients (reverse mode, one pass) and over all coefficients in forward mode (one pass per
coefficient) relative to one |M|^2 evaluation. Each subprocess of a multiparticle process is a
separate kernel; the first one is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from matrix_elements import compile_and_time, phase_space_points

MODEL = str(Path(__file__).resolve().parents[1] / "models" / "SMEFTsim_topU3l_MwScheme_UFO") + "-massless"
PROCESSES = {
    "gg_ttx_np": ("g g > t t~ NP<=1", 1000.0),
    "pp_zh_decays": ("p p > z h NP<=1, z > l+ l-, h > b b~", 1000.0),
}
WILSON_BLOCKS = ("SMEFT", "SMEFTCPV")


def wilson_coefficients(model_spec: str) -> list[str]:
    """The model's external parameters in its Wilson-coefficient blocks, card order."""
    from madgen.model import load_model

    model = load_model(model_spec)
    return [p.name for p in model.external_parameters if str(p.lhablock).upper() in WILSON_BLOCKS]


def benchmark(name: str, batch: int, repeats: int, workdir: Path) -> None:
    import jax
    import jax.numpy as jnp
    import yaml

    import madgen

    process, sqrt_s = PROCESSES[name]
    card = workdir / f"{name}.yaml"
    card.write_text(yaml.safe_dump({"model": MODEL, "process": process, "name": name}))
    start = time.perf_counter()
    madgen.generate(card, output=workdir / name, force=True)
    generation = time.perf_counter() - start
    package = madgen.load(workdir / name)
    proc = package.subprocesses[0]
    parameters = proc.default_parameters()
    coefficients = [c for c in wilson_coefficients(MODEL) if c in parameters]
    masses = np.asarray(proc.masses(parameters))[2:]
    momenta = phase_space_points(sqrt_s, masses, batch)

    def with_coefficients(c, prm):
        return {**prm, **{k: c[i] for i, k in enumerate(coefficients)}}

    c0 = jnp.array([parameters[k] for k in coefficients], dtype=jnp.float64)
    value = madgen.jit(lambda p, prm: proc.matrix_element(p, prm, check=False), process=proc)
    reverse = madgen.jit(lambda p, prm: jax.value_and_grad(
        lambda c: proc.matrix_element(p, with_coefficients(c, prm), check=False).sum())(c0), process=proc)
    forward = madgen.jit(lambda p, prm: jax.jacfwd(
        lambda c: proc.matrix_element(p, with_coefficients(c, prm), check=False))(c0), process=proc)

    print(f"\n{name}: {process}  [{proc.process}: {proc.n_diagrams} diagrams; "
          f"{len(package.subprocesses)} subprocess(es); {len(coefficients)} Wilson coefficients; "
          f"batch {batch}; backend {jax.default_backend()}]")
    print(f"  generation                     {generation:8.2f} s")
    compile_value, runs = compile_and_time(value, momenta, parameters, repeats)
    base = statistics.median(runs)
    print(f"  |M|^2: compile {compile_value:7.2f} s   {batch / base:10.3e} /s")
    for label, function in (("value+grad over all c (reverse)", reverse),
                            ("jacobian over all c (forward)  ", forward)):
        compile_time, grad_runs = compile_and_time(function, momenta, parameters, repeats)
        print(f"  {label}: compile {compile_time:7.2f} s   cost / |M|^2 {statistics.median(grad_runs) / base:6.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.processes:
            benchmark(name, args.batch, args.repeats, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
