"""Derivatives of a generated kernel in chunks (process_api.py: ``_in_chunks``): on CPU a process with
at least 16 helicity combinations differentiates its kernel with jax.lax.map over cache-sized chunks
(|M|^2 through each event's Jacobian, other outputs under jax.checkpoint), and computes values in one
piece. The numbers must not depend on it: values run
the same one-piece kernel and agree to 1e-14 relative (not bitwise: XLA fuses the kernel inside
jax.custom_jvp differently, one or two ulps were seen); derivatives agree with the unchunked kernel
to rounding, in forward and reverse mode and at second order, for a batch that is not a multiple of
the chunk (padding). The package is u u~ > t t~ (one diagram, 8 helicity combinations: cheap to
compile) told to differentiate in chunks of 64 events; the rule itself does not depend on the process."""

import shutil
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import madgen
from madgen.errors import InputShapeError

from test_chunking import GOLDEN, column_difference, two_to_two

MT = 173.0
N_EVENTS = 150  # 2 chunks of 64 and a padded one


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """u u~ > t t~, generated once for the module (copies of it are loaded: JAX caches traces per kernel)."""
    root = tmp_path_factory.mktemp("uu_ttx")
    card = root / "uu_ttx.yaml"
    card.write_text(f"model: sm\nprocess: u u~ > t t~\nname: uu_ttx\noutput: {root / 'package'}\n")
    from madgen.api import generate

    generate(card)
    return root / "package"


@pytest.fixture(scope="module")
def processes(package, tmp_path_factory):
    """u u~ > t t~ loaded twice: in chunks of 64 events (its own choice for 8 helicity combinations is one
    piece) and in one piece."""
    root = tmp_path_factory.mktemp("chunks")
    loaded = {}
    for name in ("chunked", "whole"):
        shutil.copytree(package, root / name)
        loaded[name] = madgen.load(root / name)
    assert len(loaded["chunked"].helicities) == 8 and loaded["chunked"].kernel_chunk_size is None
    loaded["chunked"].kernel_chunk_size = 64
    return loaded


def test_a_package_applies_the_rules_to_its_helicity_count():
    """g g > t t~ (16 helicity combinations) chooses chunks of 1024 events for derivatives and 256 for values."""
    gg_ttx = madgen.load(GOLDEN / "gg_ttx")
    assert len(gg_ttx.helicities) == 16
    assert gg_ttx.kernel_chunk_size == 1024 and gg_ttx.value_chunk_size == 256


@pytest.fixture(scope="module")
def momenta():
    return jnp.asarray(two_to_two(N_EVENTS, 700.0, mass=MT, seed=5))


def _api(process):
    """The package's process_api module (its chunk rules and derivative helpers)."""
    return sys.modules[type(process).__module__]


def test_chunk_size_follows_the_helicity_count(processes):
    rule = _api(processes["chunked"])._kernel_chunk_size
    assert rule(16, backend="cpu", environ={}) == 1024
    assert rule(32, backend="cpu", environ={}) == 512
    assert rule(64, backend="cpu", environ={}) == 256
    assert rule(2048, backend="cpu", environ={}) == 16
    assert rule(4, backend="cpu", environ={}) is None  # small kernels run in one piece
    assert rule(64, backend="gpu", environ={}) is None
    assert rule(4, backend="cpu", environ={"MADGEN_KERNEL_CHUNK": "128"}) == 128
    assert rule(64, backend="cpu", environ={"MADGEN_KERNEL_CHUNK": "off"}) is None
    with pytest.raises(InputShapeError, match="MADGEN_KERNEL_CHUNK"):
        rule(64, backend="cpu", environ={"MADGEN_KERNEL_CHUNK": "many"})


def test_value_chunk_size_follows_the_helicity_count(processes):
    rule = _api(processes["chunked"])._value_chunk_size
    assert rule(16, backend="cpu", environ={}) == 256
    assert rule(32, backend="cpu", environ={}) == 128
    assert rule(64, backend="cpu", environ={}) == 64
    assert rule(4096, backend="cpu", environ={}) == 64
    assert rule(4, backend="cpu", environ={}) is None
    assert rule(64, backend="gpu", environ={}) is None
    assert rule(64, backend="cpu", environ={"MADGEN_VALUE_CHUNK": "100"}) == 100
    assert rule(64, backend="cpu", environ={"MADGEN_VALUE_CHUNK": "off", "MADGEN_KERNEL_CHUNK": "8"}) is None
    with pytest.raises(InputShapeError, match="MADGEN_VALUE_CHUNK"):
        rule(64, backend="cpu", environ={"MADGEN_VALUE_CHUNK": "-3"})


def _value_chunks(tmp_path):
    """g g > t t~ with values in chunks of 64 events and derivatives unchunked, and in one piece: two
    colour vectors, so its values are not computed by row (u u~ > t t~'s are, in one piece)."""
    in_chunks, whole = (madgen.load(shutil.copytree(GOLDEN / "gg_ttx", tmp_path / name)) for name in ("in", "whole"))
    in_chunks.kernel_chunk_size, in_chunks.value_chunk_size = None, 64
    whole.kernel_chunk_size, whole.value_chunk_size = None, None
    return in_chunks, whole


def test_values_in_chunks_agree_with_one_piece(momenta, tmp_path):
    """Values in chunks of 64 events (150 = 2 chunks + a padded one): the same numbers as one piece, for
    every kernel output and with a parameter given per event."""
    in_chunks, whole = _value_chunks(tmp_path)
    jaxpr = str(jax.make_jaxpr(lambda p: in_chunks.matrix_element(p, check=False))(momenta))
    assert "while" in jaxpr or "scan" in jaxpr
    out = in_chunks.evaluate(momenta, diagrams=True, helicities=True, flows=True)
    ref = whole.evaluate(momenta, diagrams=True, helicities=True, flows=True)
    for key in ref:
        a, b = np.asarray(out[key]), np.asarray(ref[key])
        assert a.shape == b.shape, key
        assert np.all(np.abs(a - b) <= 1e-14 * np.abs(b).max(axis=tuple(range(1, b.ndim)), keepdims=True)), key
    # a parameter per event (a running alpha_s, as the runtime passes it) is chunked with the events
    alpha_s = jnp.linspace(0.10, 0.13, len(momenta))
    a = np.asarray(in_chunks.matrix_element(momenta, {"aS": alpha_s}))
    b = np.asarray(whole.matrix_element(momenta, {"aS": alpha_s}))
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
    assert not np.allclose(a, np.asarray(whole.matrix_element(momenta)), rtol=1e-3)


@pytest.mark.slow  # about 25 s alone: two gradients of g g > t t~
def test_gradients_through_value_chunks_agree(momenta, tmp_path):
    """Values in chunks, derivatives unchunked (MADGEN_KERNEL_CHUNK=off beside value chunks): a gradient
    through the value chunks equals the one-piece kernel's."""
    in_chunks, whole = _value_chunks(tmp_path)
    g_chunks = jax.grad(_loss(in_chunks), argnums=(0, 1))(momenta, MT)
    g_whole = jax.grad(_loss(whole), argnums=(0, 1))(momenta, MT)
    assert column_difference(np.asarray(g_chunks[0]), np.asarray(g_whole[0])) < 1e-13
    assert abs(float(g_chunks[1]) / float(g_whole[1]) - 1) < 1e-13


def test_values_are_computed_in_one_piece(processes, momenta):
    chunked = np.asarray(processes["chunked"].matrix_element(momenta))
    whole = np.asarray(processes["whole"].matrix_element(momenta))
    np.testing.assert_allclose(chunked, whole, rtol=1e-14, atol=0)
    jaxpr = str(jax.make_jaxpr(lambda p: processes["chunked"].matrix_element(p, check=False))(momenta))
    assert "custom_jvp_call" in jaxpr


def _loss(process):
    def loss(p, mt):
        return jnp.sum(jnp.log(process.matrix_element(p, {"MT": mt}, check=False)))
    return loss


def test_reverse_mode_gradients_agree(processes, momenta):
    grads = {name: jax.jit(jax.grad(_loss(proc), argnums=(0, 1)))(momenta, MT) for name, proc in processes.items()}
    assert column_difference(np.asarray(grads["chunked"][0]), np.asarray(grads["whole"][0])) < 1e-13
    assert abs(float(grads["chunked"][1]) / float(grads["whole"][1]) - 1) < 1e-13
    # the padded events contribute nothing: a batch of one chunk plus one event
    small = momenta[:65]
    g_small = jax.grad(_loss(processes["chunked"]), argnums=1)(small, MT)
    g_whole = jax.grad(_loss(processes["whole"]), argnums=1)(small, MT)
    assert abs(float(g_small) / float(g_whole) - 1) < 1e-13


def test_gradient_is_chunked(processes, momenta):
    """The backward pass loops over chunks (a while loop over 3 chunks), not the whole batch at once."""
    jaxpr = str(jax.make_jaxpr(jax.grad(_loss(processes["chunked"]), argnums=1))(momenta, MT))
    assert "while" in jaxpr or "scan" in jaxpr
    jaxpr_whole = str(jax.make_jaxpr(jax.grad(_loss(processes["whole"]), argnums=1))(momenta, MT))
    assert "while" not in jaxpr_whole and "scan" not in jaxpr_whole


def test_forward_mode_and_second_derivatives_agree(processes, momenta):
    p = momenta[:70]
    tangents = {}
    for name, proc in processes.items():
        me2 = lambda mt, proc=proc: proc.matrix_element(p, {"MT": mt}, check=False)  # noqa: E731
        tangents[name] = jax.jvp(me2, (MT,), (1.0,))[1]
        second = jax.jacfwd(jax.jacrev(me2))(MT)
        tangents[name + "_second"] = second
    for order in ("", "_second"):
        a, b = np.asarray(tangents["chunked" + order]), np.asarray(tangents["whole" + order])
        assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b))
    # against central finite differences of the value (double precision)
    h = 1e-3
    fd = (np.asarray(processes["chunked"].matrix_element(p, {"MT": MT + h}, check=False))
          - np.asarray(processes["chunked"].matrix_element(p, {"MT": MT - h}, check=False))) / (2 * h)
    np.testing.assert_allclose(np.asarray(tangents["chunked"]), fd, rtol=1e-6)


def test_vmap_and_other_kernel_outputs(processes, momenta):
    """evaluate() (the runtime's kernel) and vmap go through the same path."""
    out = processes["chunked"].evaluate(momenta, diagrams=True, helicities=True, flows=True)
    ref = processes["whole"].evaluate(momenta, diagrams=True, helicities=True, flows=True)
    for key in ref:
        a, b = np.asarray(out[key]), np.asarray(ref[key])  # per event: vanishing rows are rounding noise
        assert np.all(np.abs(a - b) <= 1e-14 * np.abs(b).max(axis=tuple(range(1, b.ndim)), keepdims=True)), key
    batched = jax.vmap(lambda p: processes["chunked"].matrix_element(p, check=False))(momenta.reshape(3, 50, 4, 4))
    np.testing.assert_allclose(np.asarray(batched).ravel(), np.asarray(ref["me2"]), rtol=1e-14)


def _primitives(function, *args):
    jaxpr = str(jax.make_jaxpr(function)(*args))
    return {word for word in ("remat", "scan", "while") if word in jaxpr}


def test_matrix_element_derivatives_go_through_each_events_jacobian(processes, momenta):
    """|M|^2 (one value per event) is differentiated through its per-event Jacobian, computed in chunks
    with nothing to recompute; evaluate() with several outputs keeps the checkpointed (remat) chunks."""
    proc = processes["chunked"]
    me2 = _primitives(jax.grad(lambda mt: jnp.sum(proc.evaluate(momenta, {"MT": mt}, check=False)["me2"])), MT)
    assert me2 & {"scan", "while"} and "remat" not in me2
    assert "remat" not in _primitives(jax.grad(_loss(proc), argnums=1), momenta, MT)
    weights = _primitives(jax.grad(lambda mt: jnp.sum(proc.evaluate(momenta, {"MT": mt}, diagrams=True,
                                                                    check=False)["diagram_weights"])), MT)
    assert "remat" in weights


def _aS_loss(process, p):
    def loss(alpha_s, mt):
        return jnp.sum(jnp.log(process.matrix_element(p, {"aS": alpha_s, "MT": mt}, check=False)))
    return loss


def test_jacobian_of_couplings_and_parameters_per_event(processes, momenta):
    """alpha_s enters through a complex coupling (GC_11, g_s): the rule's Re(J t) must give the same
    derivatives as the unchunked kernel, for alpha_s shared by all events and given per event (a running
    alpha_s), in reverse and forward mode, and against central finite differences."""
    alpha_s = jnp.linspace(0.10, 0.13, len(momenta))
    for value in (0.118, alpha_s):
        grads = {name: jax.grad(_aS_loss(proc, momenta), argnums=(0, 1))(value, MT)
                 for name, proc in processes.items()}
        for a, b in zip(grads["chunked"], grads["whole"]):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=0)
        slopes = {name: jax.jvp(_aS_loss(proc, momenta), (value, MT), (jnp.ones_like(value), 0.5))[1]
                  for name, proc in processes.items()}
        assert abs(float(slopes["chunked"]) / float(slopes["whole"]) - 1) < 1e-13
    h = 1e-6
    loss = _aS_loss(processes["chunked"], momenta)
    fd = (float(loss(0.118 + h, MT)) - float(loss(0.118 - h, MT))) / (2 * h)
    assert abs(float(jax.grad(loss)(0.118, MT)) / fd - 1) < 1e-7
    per_event = jax.grad(loss)(alpha_s, MT)
    k = 37
    bump = jnp.zeros_like(alpha_s).at[k].set(h)
    fd_k = (float(loss(alpha_s + bump, MT)) - float(loss(alpha_s - bump, MT))) / (2 * h)
    assert abs(float(per_event[k]) / fd_k - 1) < 1e-7


@pytest.mark.slow  # about 11 s alone; the checkpointed rule is also taken by test_matrix_element_derivatives_go_through_each_events_jacobian
def test_other_outputs_differentiate_in_checkpointed_chunks(processes, momenta):
    def loss(process):
        def f(p, mt):
            out = process.evaluate(p, {"MT": mt}, diagrams=True, helicities=True, check=False)
            return jnp.sum(jnp.log(out["diagram_weights"])) + jnp.sum(out["helicity_weights"] ** 2)
        return f
    grads = {name: jax.grad(loss(proc), argnums=(0, 1))(momenta, MT) for name, proc in processes.items()}
    assert column_difference(np.asarray(grads["chunked"][0]), np.asarray(grads["whole"][0])) < 1e-13
    assert abs(float(grads["chunked"][1]) / float(grads["whole"][1]) - 1) < 1e-13


@pytest.mark.slow  # about 13 s alone (a package of its own)
def test_jacobian_spans_only_the_differentiated_inputs(package, processes, momenta, tmp_path):
    """Inputs whose tangent is a symbolic zero get no Jacobian: a gradient in the parameters alone (gold
    mining) skips the momenta's, one in the momenta alone every parameter's; the numbers still agree
    with the unchunked kernel. (A package of its own: JAX caches the rule's traces per kernel.)"""
    shutil.copytree(package, tmp_path / "own")
    chunked = madgen.load(tmp_path / "own")
    chunked.kernel_chunk_size = 64
    processes = {"chunked": chunked, "whole": processes["whole"]}
    api = _api(chunked)
    original, seen = api._value_and_jacobian, []

    def spy(function, chunk, flat, internal, with_momenta, names):
        seen.append((with_momenta, names))
        return original(function, chunk, flat, internal, with_momenta, names)

    api._value_and_jacobian = spy
    try:
        theta = {name: jax.grad(lambda mt, proc=proc: _loss(proc)(momenta, mt))(MT)
                 for name, proc in processes.items()}
        p_only = {name: jax.grad(lambda p, proc=proc: _loss(proc)(p, MT))(momenta) for name, proc in processes.items()}
    finally:
        api._value_and_jacobian = original
    assert seen == [(False, ("MT",)), (True, ())]
    assert abs(float(theta["chunked"]) / float(theta["whole"]) - 1) < 1e-13
    assert column_difference(np.asarray(p_only["chunked"]), np.asarray(p_only["whole"])) < 1e-13


@pytest.mark.parametrize("mode", [pytest.param("forward", marks=pytest.mark.slow), "reverse"])  # forward: 16 s alone
def test_inference_derivatives_through_the_jacobian_rule(processes, momenta, mode):
    """madgen.inference's per-event derivatives (its own chunks, jax.vmap of jvps in forward mode,
    Hessians forward-over-reverse) through a kernel differentiated in chunks of 64 events: the same
    numbers as the unchunked kernel, with alpha_s given per event."""
    from madgen.inference import momentum_gradient, parameter_hessian, parameter_value_and_gradient

    p = momenta[:100]
    names = ("MT", "WT")  # theta; alpha_s given per event beside it
    parameters = {"aS": np.linspace(0.10, 0.13, len(p))}
    out = {}
    for name, proc in processes.items():
        value, gradient = parameter_value_and_gradient(proc, p, names, parameters, mode=mode, chunk_size=80)
        hessian = parameter_hessian(proc, p, names, parameters, mode=mode, chunk_size=80)
        dp = momentum_gradient(proc, p, mode=mode, chunk_size=80)
        out[name] = [np.asarray(x) for x in (value, gradient, hessian, dp)]
    for a, b in zip(out["chunked"], out["whole"]):
        assert column_difference(a, b) < 1e-12


@pytest.mark.slow  # about 8 s alone
def test_vmap_over_parameter_points_through_the_jacobian_rule(processes, momenta):
    """jax.vmap over several parameter points of a gradient and of a jvp (the rule batched, its symbolic
    zeros included): the same numbers as the unchunked kernel."""
    alphas, mts = jnp.array([0.110, 0.118, 0.120]), jnp.array([171.0, 173.0, 175.0])
    grads = {name: jax.vmap(jax.grad(_aS_loss(proc, momenta), argnums=(0, 1)))(alphas, mts)
             for name, proc in processes.items()}
    for a, b in zip(grads["chunked"], grads["whole"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=0)
    slopes = {name: jax.vmap(lambda mt, proc=proc: jax.jvp(lambda t: _aS_loss(proc, momenta)(0.118, t), (mt,),
                                                           (1.0,))[1])(mts)
              for name, proc in processes.items()}
    np.testing.assert_allclose(np.asarray(slopes["chunked"]), np.asarray(slopes["whole"]), rtol=1e-13, atol=0)
