"""Single precision (docs/precision.md): the process card and run card key, the package's default and
``with_precision`` views, a complex64 kernel with no 64-bit op on the momenta' path, its accuracy
against double, gradients, and double results unchanged."""

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
from jax.extend.core import Literal
import numpy as np
import pytest

import madgen
from madgen.errors import CardError, RunCardError
from madgen.process.card import parse_process_card
from madgen.runtime.runcard import parse_run_card
from physics import collision_points

GOLDEN = Path(__file__).parent / "golden"
REFERENCE = Path(__file__).parent / "precision_reference.json"

MEDIAN_TOLERANCE = 1e-5
"""Median |single/double - 1| for g g > t t~. float32 rounds to u = 6e-8; |M|^2 is O(10^3) roundings
that add up like a random walk, so a typical deviation is a few u (measured over 1e5 RAMBO points:
median 3.5e-7, docs/precision.md). 1e-5 (~170 u) leaves room for other CPUs and XLA versions but fails
at once if a part of the kernel ran in bfloat16/float16 (u = 4e-3/5e-4)."""

MAX_TOLERANCE = 1e-3
"""Largest |single/double - 1| for g g > t t~ (measured: 1.5e-6 over 1e5 points). Cancellations amplify
the rounding at some points; 1e-3 allows an amplification by ~1e4 u and still catches a lost mass
shell or a constant rounded before a cancellation. (Processes with massless final-state gluons have
longer tails near collinear configurations, where the invariants 2 p_i.p_j computed from float32
momenta lose relative precision ~u E^2 / p_i.p_j: up to 5e-3 for g g > t t~ g at 1e5 points
without cuts, docs/precision.md.)"""


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """The committed golden packages, loaded from a copy (no __pycache__ beside the golden files)."""
    root = tmp_path_factory.mktemp("golden")
    return {name: madgen.load(shutil.copytree(GOLDEN / name, root / name)) for name in ("epem_mupmum", "gg_ttx")}


def points(process, n, seed=11, sqrt_s=1000.0):
    masses = np.asarray(process.masses())
    return collision_points(sqrt_s, masses[:2], masses[2:], np.random.default_rng(seed), n)


# -- cards -----------------------------------------------------------------------------------------

def test_process_card_precision_key():
    base = "model: sm\nprocess: e+ e- > mu+ mu-\n"
    assert parse_process_card(base).precision == "double"
    assert parse_process_card(base + "precision: single\n").precision == "single"
    with pytest.raises(CardError, match=r"card\.yaml, key 'precision': expected one of double, single.*'half'"):
        parse_process_card(base + "precision: half\n", "card.yaml")


def test_run_card_precision_key():
    assert parse_run_card("sqrt_s: 91.188\n").precision is None  # the package's own
    assert parse_run_card("sqrt_s: 91.188\nprecision: single\n").precision == "single"
    with pytest.raises(RunCardError, match=r"run\.yaml:2, key 'precision': expected one of double, single"):
        parse_run_card("sqrt_s: 91.188\nprecision: float\n", "run.yaml")


# -- the package -----------------------------------------------------------------------------------

def test_a_single_precision_package_differs_from_double_only_in_its_default(generate_package, tmp_path):
    single = generate_package("sm", "e+ e- > mu+ mu-", "epem_single", precision="single")
    double = generate_package("sm", "e+ e- > mu+ mu-", "epem_single_double")
    assert single.precision == "single" and double.precision == "double"
    assert single.metadata["precision"] == "single" and "precision" not in double.metadata
    assert single.with_precision("double").precision == "double"
    p = points(single, 4, sqrt_s=91.188)
    assert single.matrix_element(p).dtype == np.float32
    np.testing.assert_array_equal(single.with_precision("double").matrix_element(p), double.matrix_element(p))
    header = "# Precision: single (complex64/float32 |M|^2 by default"
    for path in sorted(single._dir.glob("*.py")):
        text = path.read_text()
        assert header in text.splitlines()[3], path.name
        other = (double._dir / path.name).read_text().replace("epem_single_double", "epem_single")
        stripped = "\n".join(line for line in text.splitlines() if not line.startswith("# Precision:"))
        if path.name == "__init__.py":
            assert "Process(P1_epem_mupmum, parameters, _HERE, precision='single')" in text
            stripped = stripped.replace(", precision='single'", "")
        assert stripped.rstrip("\n") == other.rstrip("\n"), path.name
    # byte-deterministic: generating again gives the same files
    card = tmp_path / "again.yaml"
    card.write_text("model: sm\nprocess: e+ e- > mu+ mu-\nname: epem_single\nprecision: single\n")
    madgen.generate(card, output=tmp_path / "epem_single", force=True)
    for path in sorted(single._dir.iterdir()):
        if path.is_file() and path.name != "metadata.json":
            assert (tmp_path / "epem_single" / path.name).read_bytes() == path.read_bytes(), path.name


def test_single_agrees_with_double(golden):
    """The measured distribution (docs/precision.md) with tolerances from float32 rounding (see above)."""
    proc = golden["gg_ttx"]
    p = points(proc, 400)
    double = np.asarray(proc.matrix_element(p))
    single = proc.with_precision("single").matrix_element(p)
    assert single.dtype == np.float32 and double.dtype == np.float64
    deviation = np.abs(np.asarray(single, dtype=np.float64) / double - 1)
    assert np.median(deviation) < MEDIAN_TOLERANCE and np.max(deviation) < MAX_TOLERANCE, \
        (np.median(deviation), np.max(deviation))
    assert np.median(deviation) > 1e-9  # it really ran in single precision


def test_double_results_are_unchanged(golden):
    """|M|^2 in double as before single precision existed (tests/precision_reference.json). They are
    bitwise equal on the machine that recorded them; 1e-13 leaves another CPU's order of additions."""
    reference = json.loads(REFERENCE.read_text())["processes"]
    for name, entry in reference.items():
        momenta = np.array([[[float.fromhex(x) for x in leg] for leg in event] for event in entry["momenta"]])
        expected = np.array([float.fromhex(x) for x in entry["me2"]])
        got = np.asarray(golden[name].matrix_element(momenta))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)


def _wide_ops_on_the_momenta_path(closed_jaxpr, tainted_inputs):
    """Ops whose result depends on a tainted input (the momenta) and is a 64-bit float or complex;
    dependence is followed output by output through nested calls (pjit, custom_jvp)."""
    wide = set()

    def walk(jaxpr, tainted):
        tainted = set(tainted)
        for equation in jaxpr.eqns:
            flags = [not isinstance(v, Literal) and v in tainted for v in equation.invars]
            if not any(flags):
                continue
            inners = [getattr(param, "jaxpr", None) for param in equation.params.values()]
            inners = [getattr(inner, "jaxpr", inner) for inner in inners if inner is not None]
            if len(inners) == 1 and len(inners[0].invars) == len(flags):
                inner = inners[0]
                out = walk(inner, [v for v, flag in zip(inner.invars, flags) if flag])
                outputs = [v for v, flag in zip(equation.outvars, out) if flag]
            else:  # anything else: every output depends on every input
                for inner in inners:
                    walk(inner, inner.invars)
                outputs = equation.outvars
            for var in outputs:
                tainted.add(var)
                dtype = getattr(var.aval, "dtype", None)
                if dtype is not None and dtype.kind in "fc" and dtype.itemsize >= (8 if dtype.kind == "f" else 16):
                    wide.add(f"{equation.primitive.name} -> {dtype}")
        return [not isinstance(v, Literal) and v in tainted for v in jaxpr.outvars]

    walk(closed_jaxpr.jaxpr, [closed_jaxpr.jaxpr.invars[i] for i in tainted_inputs])
    return wide


@pytest.mark.parametrize("name", ["epem_mupmum", "gg_ttx"])
def test_no_op_of_the_single_kernel_runs_in_64_bits(golden, name):
    """In single precision every op on the path from the momenta to |M|^2 and back (its gradient) is
    float32/complex64; only the parameters are computed in double, before the kernel."""
    single = golden[name].with_precision("single")
    p = jnp.asarray(points(single, 3), dtype=jnp.float32)

    def value_and_gradient(q):
        return jax.value_and_grad(lambda q: single.matrix_element(q, check=False).sum())(q)

    jaxpr = jax.make_jaxpr(value_and_gradient)(p)
    assert not _wide_ops_on_the_momenta_path(jaxpr, [0]), sorted(_wide_ops_on_the_momenta_path(jaxpr, [0]))
    # the same walk on the double kernel sees 64-bit ops (the check is not vacuous)
    double_jaxpr = jax.make_jaxpr(lambda q: golden[name].matrix_element(q, check=False))(np.asarray(p, np.float64))
    assert _wide_ops_on_the_momenta_path(double_jaxpr, [0])


def test_gradient_in_single_precision(golden):
    """jax.grad through the single kernel runs and stays float32 (compiling a gradient is slow here:
    its agreement with double is left to benchmarks, one small process is enough)."""
    single = golden["epem_mupmum"].with_precision("single")
    p = jnp.asarray(points(single, 5, sqrt_s=91.188), dtype=jnp.float32)
    gradient = jax.grad(lambda q: jnp.sum(single.matrix_element(q, check=False)))(p)
    assert gradient.dtype == np.float32 and gradient.shape == p.shape
    assert bool(jnp.all(jnp.isfinite(gradient))) and bool(jnp.any(gradient != 0))


def test_float32_momenta_pass_the_checks(golden):
    """Momenta rounded to float32 are off shell by ~1e-7 E^2: the checks allow that rounding."""
    single = golden["gg_ttx"].with_precision("single")
    p = np.asarray(points(single, 50), dtype=np.float32)
    assert single.matrix_element(p).shape == (50,)
    bad = p.copy()
    bad[0, 2, 0] *= 1.001
    with pytest.raises(ValueError, match="event 0"):
        single.matrix_element(bad)


def test_launch_in_single_precision(golden, tmp_path):
    """The run card's precision reaches the kernel of every group; weights stay double, and the cross
    section from the same random numbers agrees with double to float32 rounding."""
    from madgen.runtime.beams import collider_for_run  # noqa: F401  (the runtime imports cleanly)
    from madgen.runtime.prepared import build_samplers

    package = golden["epem_mupmum"]._dir
    run = {"sqrt_s": 91.188, "n_events": 10, "seed": 1, "iterations": 2, "warmup_iterations": 1,
           "points_per_iteration": 2000, "cuts": {"ptl": 0.0, "etal": -1.0, "drll": 0.0}}
    results = {}
    for precision in ("double", "single"):
        card = parse_run_card(json.dumps({**run, "precision": precision}))
        _, _, integrands, _, _ = build_samplers(madgen.load(package), card, log=lambda *_: None)
        assert {integrand.kernel.precision for integrand in integrands} == {precision}
        results[precision] = madgen.api.launch(package, {**run, "precision": precision}, output=tmp_path / precision,
                                               log=lambda *_: None, progress=False)
    double, single = results["double"].cross_section_pb, results["single"].cross_section_pb
    assert abs(single / double - 1) < 1e-5, (single, double)


def test_a_group_changes_precision_with_its_subprocesses(generate_package):
    group = generate_package("sm", "e+ e- > j j", "epem_jj")  # the package of tests/test_generated_api.py
    single = group.with_precision("single")
    assert group.precision == "double" and single.precision == "single"
    assert group.with_precision("single") is single and single.with_precision("double") is group
    assert all(sub.precision == "single" for sub in single.subprocesses)
    assert single.subprocesses[0] is group.subprocesses[0].with_precision("single")
    p = points(single.subprocesses[0], 3, sqrt_s=91.188)
    assert single.subprocesses[0].matrix_element(p).dtype == np.float32
