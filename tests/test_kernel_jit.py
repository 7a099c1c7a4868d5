"""madgen.jit: jax.jit with the kernel compiler options, top level only, nested anywhere."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import madgen
from madgen import contract
from madgen.codegen.helicity_filter import random_on_shell_points


def _f(x):
    return jnp.sin(x) * x


def test_options_reach_the_outermost_compilation():
    # an option XLA does not know fails the compilation: proof that the options are passed on
    with pytest.raises(Exception, match="bogus_option_for_the_test"):
        madgen.jit(_f, compiler_options={"bogus_option_for_the_test": True})(1.0)


def test_kernel_options_are_those_this_xla_accepts(monkeypatch):
    monkeypatch.setattr(contract, "LARGE_KERNEL_COMPILER_OPTIONS", {"bogus_option_for_the_test": True,
                                                                    "xla_cpu_use_fusion_emitters": False})
    monkeypatch.setattr(contract, "_SUPPORTED_OPTIONS", None)
    supported = contract.supported_compiler_options()
    assert "bogus_option_for_the_test" not in supported
    assert contract.kernel_compiler_options(contract.LARGE_KERNEL_TERMS, "grid") == supported
    assert contract.kernel_compiler_options(contract.LARGE_KERNEL_TERMS, "rows") == {
        "xla_cpu_use_fusion_emitters": False}
    assert contract.kernel_compiler_options(contract.LARGE_KERNEL_TERMS - 1, "rows") == {}
    small_grid = contract.kernel_compiler_options(contract.LARGE_KERNEL_TERMS - 1, "grid")
    assert small_grid == {k: v for k, v in contract.GRID_KERNEL_COMPILER_OPTIONS.items() if k in supported}
    # a grid kernel that computes its values by row keeps XLA's inlining (the row form's routines are small)
    assert contract.kernel_compiler_options(contract.LARGE_KERNEL_TERMS - 1, "grid", values_by_row=True) == {}

    class Large:
        compiler_options = contract.kernel_compiler_options(100)
    assert float(madgen.jit(_f, process=Large())(1.0)) == pytest.approx(np.sin(1.0))


def test_no_kernel_options_off_cpu(monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert contract.kernel_compiler_options(100) == {}


def test_a_process_gives_its_kernel_options(generate_package):
    small = generate_package("sm", "e+ e- > mu+ mu-", "jit_ee")
    large = generate_package("sm", "g g > t t~ g", "contract_gg_ttxg")
    assert small._module.HELICITY_LAYOUT == "rows" and large._module.HELICITY_LAYOUT == "grid"
    assert small.compiler_options == {}  # 2 amplitude terms on the rows layout: XLA's defaults
    assert large.compiler_options == contract.supported_compiler_options()  # 18 terms on the grid: all
    p = np.array([[500.0, 0, 0, 500], [500, 0, 0, -500], [500, 300, 0, 400], [500, -300, 0, -400]])
    value = madgen.jit(lambda q: small.matrix_element(q, check=False), process=small)
    np.testing.assert_allclose(value(jnp.asarray(p)), small.matrix_element(p), rtol=1e-14)
    # the routines stay calls with madgen's options and are inlined by a plain jax.jit: the same values
    points = jnp.asarray(random_on_shell_points(np.asarray(large.masses()), 2, 16, np.random.default_rng(5)))
    with_options = madgen.jit(lambda x: large.matrix_element(x, check=False), process=large)(points)
    plain = jax.jit(lambda x: large.matrix_element(x, check=False))(points)
    np.testing.assert_allclose(with_options, plain, rtol=1e-13)


class _Large:
    """A stand-in process whose kernel gets the large-kernel options (so madgen.jit wraps, not plain jit)."""

    compiler_options = contract.kernel_compiler_options(contract.LARGE_KERNEL_TERMS)


def test_same_values_nested_in_jit_grad_and_vmap():
    fast = madgen.jit(_f, compiler_options={**_Large.compiler_options, "xla_backend_optimization_level": 2})
    x = jnp.linspace(0.1, 2.0, 5)
    np.testing.assert_allclose(fast(x), jax.jit(_f)(x), rtol=1e-15)
    np.testing.assert_allclose(jax.jit(lambda y: fast(y) + 1)(x), jax.jit(_f)(x) + 1, rtol=1e-15)
    np.testing.assert_allclose(jax.vmap(jax.grad(fast))(x), np.cos(x) * x + np.sin(x), rtol=1e-15)
    assert float(jax.jit(lambda: fast(1.5))()) == pytest.approx(np.sin(1.5) * 1.5, rel=1e-15)  # untraced args
    assert float(fast.lower(1.0).compile()(1.0)) == pytest.approx(np.sin(1.0), rel=1e-15)


def test_static_arguments_pass_through():
    scaled = madgen.jit(lambda x, n: x * n, static_argnums=1)
    assert float(scaled(2.0, 3)) == 6.0


def _called_functions(jaxpr) -> list[str]:
    """Names of the jitted functions a jaxpr calls, at any depth."""
    names = []
    for equation in jaxpr.eqns:
        if "name" in equation.params and "jaxpr" in equation.params:
            names.append(equation.params["name"])
        for param in equation.params.values():
            inner = getattr(param, "jaxpr", None)
            if inner is not None:
                names += _called_functions(getattr(inner, "jaxpr", inner))
    return names


def test_a_grid_kernel_calls_no_jnp_where(generate_package):
    """A grid kernel compiled with the call inliner off keeps every jitted function it calls as an XLA
    call that nothing fuses into: the routines and the legs' states are meant to be; jnp.where (itself
    jitted) is not, so the package selects with its own ``select`` (docs/mining.md, "External states")."""
    process = generate_package("sm", "g g > t t~", "jit_calls_gg_ttx")
    assert process._module.HELICITY_LAYOUT == "grid"
    points = jnp.asarray(random_on_shell_points(np.asarray(process.masses()), 2, 4, np.random.default_rng(2)))
    for function in (lambda x: process.matrix_element(x, check=False),
                     jax.grad(lambda x: process.matrix_element(x, check=False).sum())):
        names = set(_called_functions(jax.make_jaxpr(function)(points).jaxpr))
        assert {"leg_states", "FFV1J_2", "close_on"} <= names
        assert not {name for name in names if "where" in name}, sorted(names)
