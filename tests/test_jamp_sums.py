"""The colour-basis amplitudes of a grid-layout kernel are sums over the nonzero colour coefficients
(``_split_jamps``: no dense complex matrix product): they equal the dense product
JAMP_ak = sum_t JAMP_COEFFICIENTS[k, t] TERMS_OF_CLASS[a, t] amp_t to rounding, keep the kernel's
precision, and a colour vector without terms is zero."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import madgen
from madgen.codegen.helicity_filter import random_on_shell_points

GOLDEN = Path(__file__).parent / "golden"


def _module_and_inputs(name, precision="double", n=8):
    process = madgen.load(GOLDEN / name).with_precision(precision)
    parameters = {**process.default_parameters(), "MT": 168.0}
    momenta = random_on_shell_points(np.asarray(process.masses(parameters)), process.n_initial, n,
                                     np.random.default_rng(11), random_frames=True)
    real = np.float64 if precision == "double" else np.float32
    complex_ = np.complex128 if precision == "double" else np.complex64
    internal = {k: jnp.asarray(v).astype(complex_ if jnp.iscomplexobj(v) else real)
                for k, v in process.internal_parameters(parameters).items()}
    return process._module, jnp.asarray(np.transpose(momenta, (1, 2, 0)), real), internal


def test_grid_sums_equal_the_dense_product():
    module, p, internal = _module_and_inputs("gg_ttx")
    assert module.HELICITY_LAYOUT == "grid"
    jamp = np.asarray(module._split_jamps(module._amplitude_terms(p, internal)))
    dense = np.einsum("kt,at,thb->akhb", module.JAMP_COEFFICIENTS, module.TERMS_OF_CLASS,
                      np.asarray(module.amplitudes(p, internal)))
    assert jamp.shape == dense.shape
    assert np.max(np.abs(jamp - dense)) <= 1e-14 * np.max(np.abs(dense))
    assert np.max(np.abs(dense)) > 0


def test_grid_sums_keep_single_precision():
    module, p, internal = _module_and_inputs("gg_ttx", precision="single")
    jamp = module._split_jamps(module._amplitude_terms(p, internal))
    assert jamp.dtype == jnp.complex64


@pytest.mark.parametrize("coefficients, expected", [
    (np.zeros(3), [0.0, 0.0]),
    (np.array([0.0, -1.0, 0.5j]), [-2.0 + 1.5j, -1.0 - 0.5j]),
    (np.array([1.0, 0.0, -1.0 / 3.0]), [0.0, 1.0 + 1.0 / 3.0]),
])
def test_sparse_sum(coefficients, expected):
    module, _, _ = _module_and_inputs("gg_ttx")
    terms = [jnp.array([1.0, 1.0], jnp.complex128), jnp.array([2.0, 1.0], jnp.complex128),
             jnp.array([3.0, -1.0], jnp.complex128)]
    total = module._sparse_sum(coefficients, terms)
    assert total.shape == (2,) and total.dtype == jnp.complex128
    np.testing.assert_allclose(np.asarray(total), expected, rtol=1e-15, atol=1e-15)
