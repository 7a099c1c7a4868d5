"""Chunked derivatives (madgen.inference.chunking): the same numbers as unchunked evaluation, forward
and reverse mode agree, and peak memory does not grow with the batch beyond inputs and outputs.

Chunked equals unchunked (chunk_size >= N: one call, no loop) to 4e-15 of each column's largest
entry: often bitwise, else a few ulps where XLA compiles the mapped body with other fusions.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import madgen
from madgen.inference import InferenceError
from madgen.inference.chunking import chunked_map, mode_of
from madgen.inference.gradients import (matrix_element_values, momentum_gradient, parameter_hessian,
                                        parameter_value_and_gradient)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
NAMES = ("MZ", "WZ", "aEWM1")


def two_to_two(n, sqrt_s, mass=0.0, seed=1):
    """n isotropic CM-frame points (n, 4, 4) of a b > c d, massless a b, m_c = m_d = mass."""
    rng = np.random.default_rng(seed)
    cos, phi = 2 * rng.random(n) - 1, 2 * np.pi * rng.random(n)
    sin, energy = np.sqrt(1 - cos ** 2), sqrt_s / 2
    p = np.sqrt(energy ** 2 - mass ** 2)
    out = np.zeros((n, 4, 4))
    out[:, 0], out[:, 1] = [energy, 0, 0, energy], [energy, 0, 0, -energy]
    final = np.stack([np.full(n, energy), p * sin * np.cos(phi), p * sin * np.sin(phi), p * cos], axis=1)
    out[:, 2], out[:, 3] = final, final * [1, -1, -1, -1]
    return out


def column_difference(a, b):
    """max |a - b| / max |b| per column (over events), the largest over columns."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    scale = np.abs(b).max(axis=0)
    return float(np.max(np.abs(a - b).max(axis=0) / np.where(scale > 0, scale, 1.0)))


@pytest.fixture(scope="module")
def proc():
    return madgen.load(GOLDEN / "epem_mupmum")


@pytest.fixture(scope="module")
def momenta():
    return two_to_two(1000, 91.188, seed=3)


# ----------------------------------------------------------------------------- the helper


def test_chunked_map_pads_and_slices_a_pytree():
    x = jnp.arange(10.0)
    y = jnp.arange(20.0).reshape(10, 2)

    def f(batch):
        return {"s": batch[0] * 2 + batch[1][:, 0], "v": batch[1] ** 2}

    whole = f((x, y))
    for chunk in (1, 3, 4, 10, 11):
        got = chunked_map(f, (x, y), chunk)
        np.testing.assert_array_equal(got["s"], whole["s"])
        np.testing.assert_array_equal(got["v"], whole["v"])
    # inside jit, and differentiable through the checkpointed map
    np.testing.assert_array_equal(jax.jit(lambda a: chunked_map(lambda b: jnp.sin(b), a, 3))(x), jnp.sin(x))
    gradient = jax.grad(lambda a: jnp.sum(chunked_map(lambda b: jnp.sin(b) ** 2, a, 3)))(x)
    np.testing.assert_allclose(gradient, 2 * jnp.sin(x) * jnp.cos(x), rtol=1e-15)


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "4096"])
def test_bad_chunk_size_is_named(proc, momenta, bad):
    with pytest.raises(InferenceError, match="chunk_size must be a positive integer"):
        parameter_value_and_gradient(proc, momenta[:3], ["MZ"], chunk_size=bad)


def test_bad_mode_is_named(proc, momenta):
    with pytest.raises(InferenceError, match="mode must be one of"):
        parameter_value_and_gradient(proc, momenta[:3], ["MZ"], mode="sideways")
    assert mode_of("auto", 1) == "forward" and mode_of("auto", 16) == "reverse"


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_chunked_parameter_gradient_equals_unchunked(proc, momenta, mode):
    whole = parameter_value_and_gradient(proc, momenta, NAMES, mode=mode, chunk_size=len(momenta))
    value, gradient = parameter_value_and_gradient(proc, momenta, NAMES, mode=mode, chunk_size=300)  # padded
    assert column_difference(value[:, None], whole[0][:, None]) <= 4e-15
    assert column_difference(gradient, whole[1]) <= 4e-15


def test_chunked_values_equal_unchunked(proc, momenta):
    chunked = matrix_element_values(proc, momenta, chunk_size=300)
    assert column_difference(chunked[:, None], matrix_element_values(proc, momenta, chunk_size=2000)[:, None]) <= 4e-15
    np.testing.assert_allclose(chunked, np.log(np.asarray(proc.matrix_element(momenta))), rtol=1e-14)


def test_forward_and_reverse_parameter_gradients_agree(proc, momenta):
    forward = parameter_value_and_gradient(proc, momenta, NAMES, mode="forward", chunk_size=256)
    reverse = parameter_value_and_gradient(proc, momenta, NAMES, mode="reverse", chunk_size=256)
    # two compiled programs: the values agree to rounding, at this file's 4e-15 for differently compiled values
    np.testing.assert_allclose(forward[0], reverse[0], rtol=4e-15)
    assert column_difference(reverse[1], forward[1]) <= 1e-12


def test_per_event_parameters_are_chunked_with_the_events(proc, momenta):
    """An array of one value per event (alpha_s(muR) of hadron beams) goes with its event's chunk."""
    alpha = np.linspace(7.0e-3, 8.0e-3, len(momenta))  # aEWM1 = 1/alpha varies per event
    per_event = parameter_value_and_gradient(proc, momenta, ["MZ"], {"aEWM1": 1 / alpha}, chunk_size=300)
    for i in (0, 299, 300, 999):
        single = parameter_value_and_gradient(proc, momenta[i:i + 1], ["MZ"], {"aEWM1": 1 / alpha[i]})
        np.testing.assert_allclose(per_event[0][i], single[0][0], rtol=1e-14)
        np.testing.assert_allclose(per_event[1][i], single[1][0], rtol=1e-12)


def test_chunked_momentum_gradient_equals_unchunked(proc, momenta):
    whole = momentum_gradient(proc, momenta, chunk_size=len(momenta))
    assert column_difference(momentum_gradient(proc, momenta, chunk_size=300), whole) <= 4e-15


@pytest.mark.slow  # Hessian and forward momentum-gradient compilations: minutes on a loaded CPU
def test_chunked_parameter_hessian_and_forward_momentum_gradient(proc, momenta):
    few = momenta[:200]
    whole = parameter_hessian(proc, few, NAMES, mode="forward", chunk_size=len(few))
    # second derivatives of log|M|^2 (differences of nearly equal products of first derivatives): the
    # rounding of the differently fused chunk body is amplified; measured 6.9e-14 of a column's largest
    assert column_difference(parameter_hessian(proc, few, NAMES, mode="forward", chunk_size=64), whole) <= 2e-13
    reverse = parameter_hessian(proc, few, NAMES, mode="reverse", chunk_size=64)
    assert column_difference(reverse, whole) <= 1e-10
    # forward-mode momentum gradient (16 tangents): its compilation alone takes ~1.5 min on a loaded CPU
    forward = momentum_gradient(proc, few[:50], mode="forward", chunk_size=16)
    assert column_difference(forward, momentum_gradient(proc, few[:50])) <= 1e-12


# ----------------------------------------------------------------------------- memory

PEAK_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import numpy as np
    import madgen
    from madgen.inference.gradients import parameter_value_and_gradient
    from test_chunking import two_to_two

    def kb(field):
        return next(int(l.split()[1]) for l in Path("/proc/self/status").read_text().splitlines()
                    if l.startswith(field + ":"))

    process = madgen.load({package!r})
    momenta = two_to_two({n}, {sqrt_s}, {mass})
    before = kb("VmRSS")
    value, gradient = parameter_value_and_gradient(process, momenta, {names!r}, mode={mode!r}, chunk_size={chunk})
    assert np.all(np.isfinite(gradient))
    print(json.dumps({{"before_mb": before / 1024, "peak_mb": kb("VmHWM") / 1024,
                      "io_mb": (momenta.nbytes + value.nbytes + gradient.nbytes) / 2 ** 20}}))
""")


def peak_memory(package, n, chunk, names, mode="reverse", sqrt_s=91.188, mass=0.0, timeout=600):
    """(peak RSS, RSS before the gradient, inputs + outputs) in MB of a fresh process computing a chunked
    gradient of n events (one CPU thread, so that the peak does not depend on the machine's cores)."""
    script = PEAK_SCRIPT.format(tests=str(ROOT / "tests"), package=str(package), n=n, sqrt_s=sqrt_s, mass=mass,
                                names=tuple(names), mode=mode, chunk=chunk)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["peak_mb"], result["before_mb"], result["io_mb"]


def test_peak_memory_does_not_grow_with_the_batch():
    """Reverse-mode (backward pass) gradient of e+ e- > mu+ mu- in chunks of 1024 events, 2e4 and 2e5
    events in fresh processes. Bound: peak(2e5) - peak(2e4) <= 3 x (inputs + outputs)(2e5) + 64 MB
    -- the momenta, their padded copy, values and gradients, plus slack for allocator noise; nothing
    proportional to the batch times the amplitude's intermediates. Measured: chunked 437 -> 520 MB
    (growth 83 MB, bound 157 MB); unchunked (chunk_size = N) 549 -> 2081 MB (growth 1532 MB)."""
    small = peak_memory(GOLDEN / "epem_mupmum", 20_000, 1024, NAMES)
    large = peak_memory(GOLDEN / "epem_mupmum", 200_000, 1024, NAMES)
    io = large[2]
    growth = large[0] - small[0]
    print(f"peak 2e4: {small[0]:.0f} MB, 2e5: {large[0]:.0f} MB, inputs + outputs (2e5) {io:.0f} MB")
    assert growth <= 3 * io + 64, (f"peak grew by {growth:.0f} MB from 2e4 to 2e5 events; inputs + outputs "
                                   f"{io:.0f} MB; peaks {small[0]:.0f}, {large[0]:.0f} MB")


@pytest.mark.slow  # ~1e6 events of g g > t t~: a few minutes on 2 cores
def test_million_point_gradient_of_gg_ttx_under_four_gigabytes():
    """The backward pass (reverse-mode gradient in aS, ymt, MT, WT, MZ) of 1e6 g g > t t~ events in chunks of
    4096 stays under 4 GB peak RSS (unchunked it needed > 28 GB)."""
    peak, _, io = peak_memory(GOLDEN / "gg_ttx", 1_000_000, 4096, ("aS", "ymt", "MT", "WT", "MZ"), sqrt_s=600.0,
                              mass=173.0, timeout=1800)
    print(f"1e6 g g > t t~ reverse gradient: peak {peak:.0f} MB, inputs + outputs {io:.0f} MB")
    assert peak < 4096, f"peak {peak:.0f} MB (inputs + outputs {io:.0f} MB)"
