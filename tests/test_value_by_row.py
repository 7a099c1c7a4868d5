"""Values by row (VALUE_BY_ROW and matrix_element_value in a generated package): a small kernel, on either
helicity layout, computes |M|^2 alone one helicity combination at a time, where every array spans the events
alone (e+ e- > mu+ mu- 2.1 times faster on one core), and takes its derivatives through matrix_element,
whose form reverse mode handles best (process_api._value_form). Both forms must give the same numbers,
and each path must take the form meant for it."""

import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import madgen
from madgen.codegen.emit import VALUE_BY_ROW_MAX_COST, helicity_layout

from test_chunking import GOLDEN, two_to_two
from test_helicity_layout import _graph

KEPT = [(-1, 1, 1, -1), (1, -1, -1, 1), (1, -1, 1, -1), (-1, 1, -1, 1)]
CURRENTS = [("w5", ("w1", "w2")), ("w6", ("w5", "w3"))]


def test_small_kernels_compute_values_by_row_on_either_layout():
    layout = helicity_layout(_graph(KEPT, CURRENTS, 2), [[-1, 1]] * 4)
    assert (layout.kind, layout.rows_cost, layout.value_by_row) == ("rows", 16, True)
    every = [(a, b, c, d) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1) for d in (-1, 1)]
    layout = helicity_layout(_graph(every, CURRENTS, 2), [[-1, 1]] * 4)
    assert (layout.kind, layout.rows_cost, layout.value_by_row) == ("grid", 64, True)
    # past the bound (the row form loses to the kernel, and its compile time grows with rows x wavefunctions)
    n_terms = VALUE_BY_ROW_MAX_COST // len(KEPT)
    layout = helicity_layout(_graph(KEPT, CURRENTS, n_terms), [[-1, 1]] * 4)
    assert layout.rows_cost > VALUE_BY_ROW_MAX_COST and not layout.value_by_row
    # several colour basis vectors: the kernel itself (docs/mining.md, "Values by row")
    layout = helicity_layout(_graph(KEPT, CURRENTS, 2), [[-1, 1]] * 4, n_colour=2)
    assert layout.kind == "rows" and not layout.value_by_row


def test_golden_packages_flag_it():
    for name, flag in (("epem_mupmum", True), ("gg_ttx", False)):
        assert f"VALUE_BY_ROW = {flag}" in next((GOLDEN / name).glob("P1_*.py")).read_text()


@pytest.fixture(scope="module")
def e_e_to_w_w(tmp_path_factory):
    """e+ e- > w+ w- (18 kept combinations, three amplitude terms, a massive vector pair), generated."""
    root = tmp_path_factory.mktemp("eeww")
    card = root / "eeww.yaml"
    card.write_text("model: sm\nprocess: e+ e- > w+ w-\n")
    madgen.generate(card, output=root / "eeww")
    return madgen.load(root / "eeww")


def _loaded(name, e_e_to_w_w):
    return madgen.load(GOLDEN / "epem_mupmum") if name == "epem_mupmum" else e_e_to_w_w


@pytest.mark.parametrize("name, sqrt_s, mass, layout", [("epem_mupmum", 150.0, 0.0, "rows"),
                                                         ("eeww", 500.0, "MW", "grid")])
def test_both_forms_give_the_same_numbers(e_e_to_w_w, name, sqrt_s, mass, layout):
    process = _loaded(name, e_e_to_w_w)
    module = process._module
    assert module.VALUE_BY_ROW and module.HELICITY_LAYOUT == layout
    parameters = process.default_parameters()
    mass = process.masses(parameters)[-1] if mass == "MW" else mass
    p = jnp.asarray(two_to_two(16, sqrt_s, mass=float(mass), seed=5))
    internal = process.internal_parameters(parameters)
    kernel_p = jnp.transpose(p, (1, 2, 0))
    by_row = np.asarray(module.matrix_element_value(kernel_p, internal))
    rows = np.asarray(module.matrix_element(kernel_p, internal))
    np.testing.assert_allclose(by_row, rows, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(process.matrix_element(p)), rows, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(process.helicity_weights(p)).sum(axis=-1), rows, rtol=1e-13)
    # what the integrator takes (|M|^2 and the diagram weights), and every output at once
    for extras in (dict(diagrams=True), dict(diagrams=True, helicities=True, flows=True)):
        by_row = module.point_data_value(kernel_p, internal, **extras)
        rows = module.point_data(kernel_p, internal, **extras)
        assert sorted(by_row) == sorted(rows)
        for key in rows:
            np.testing.assert_allclose(np.asarray(by_row[key]), np.asarray(rows[key]), rtol=1e-14,
                                       atol=1e-15 * float(np.max(np.abs(np.asarray(rows[key])))))
        evaluated = process.evaluate(p, **extras)
        np.testing.assert_allclose(np.asarray(evaluated["diagram_weights"]), np.asarray(rows["diagram_weights"]).T,
                                   rtol=1e-14)


def _recording_copy(tmp_path):
    """A copy of the e+ e- > mu+ mu- golden package whose two forms of |M|^2 and of the point data record
    when they are traced."""
    shutil.copytree(GOLDEN / "epem_mupmum", tmp_path / "copy")
    process = madgen.load(tmp_path / "copy")
    traced = []
    for name in ("matrix_element", "matrix_element_value", "point_data", "point_data_value"):
        original = getattr(process._module, name)

        def recorder(p, c, *args, original=original, name=name, **kwargs):
            traced.append(name)
            return original(p, c, *args, **kwargs)

        setattr(process._module, name, recorder)
    return process, traced


def test_values_take_the_row_form_and_derivatives_the_rows_form(tmp_path):
    process, traced = _recording_copy(tmp_path)
    p = jnp.asarray(two_to_two(8, 150.0, mass=0.0, seed=2))
    parameters = process.default_parameters()
    value = process.matrix_element(p, parameters)
    assert traced == ["matrix_element_value", "point_data_value"]  # the first takes the second's "me2"

    traced.clear()
    loss = lambda q, prm: process.matrix_element(q, prm, check=False).sum()
    g_p, g_theta = jax.grad(loss, argnums=(0, 1))(p, parameters)
    assert traced == ["matrix_element"]

    # the derivatives are those of |M|^2: central finite differences in MZ and in one momentum component
    step = 1e-4
    up, down = dict(parameters, MZ=parameters["MZ"] + step), dict(parameters, MZ=parameters["MZ"] - step)
    fd = (loss(p, up) - loss(p, down)) / (2 * step)
    np.testing.assert_allclose(float(g_theta["MZ"]), float(fd), rtol=1e-7)
    primal, tangent = jax.jvp(lambda m: process.matrix_element(p, dict(parameters, MZ=m)),
                              (jnp.asarray(parameters["MZ"]),), (jnp.asarray(1.0),))
    np.testing.assert_allclose(np.asarray(primal), np.asarray(value), rtol=1e-14)
    np.testing.assert_allclose(float(jnp.sum(tangent)), float(fd), rtol=1e-7)
    traced.clear()
    data = process.evaluate(p, parameters, diagrams=True)
    assert traced == ["point_data_value"]
    traced.clear()
    jax.grad(lambda prm: process.evaluate(p, prm, diagrams=True)["diagram_weights"].sum())(parameters)
    assert traced == ["point_data"]
    np.testing.assert_allclose(np.asarray(data["me2"]), np.asarray(value), rtol=1e-14)

    shift = np.zeros(p.shape)
    shift[:, 2, 1], shift[:, 3, 1] = 1e-4, -1e-4  # px of the outgoing pair, momentum kept conserved
    fd_p = (loss(p + shift, parameters) - loss(p - shift, parameters)) / 2e-4
    np.testing.assert_allclose(float(jnp.sum(g_p * shift / 1e-4)), float(fd_p), rtol=1e-6)


def test_single_precision_by_row_is_close_to_double():
    process = madgen.load(GOLDEN / "epem_mupmum")
    p = jnp.asarray(two_to_two(32, 150.0, mass=0.0, seed=4))
    double = np.asarray(process.matrix_element(p))
    single = process.with_precision("single").matrix_element(p)
    assert single.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(single, dtype=np.float64), double, rtol=1e-5)


def test_values_by_row_run_in_one_piece(e_e_to_w_w):
    """Value chunks (jax.lax.map, a scan) are for the kernels' own form; a form by row runs in one piece (chunked,
    e+ e- > w+ w- ran 5.7 times slower). g g > t t~ (a grid kernel) keeps its chunks."""
    n = 2 * e_e_to_w_w.value_chunk_size
    p = jnp.zeros((n, 4, 4))
    by_row = str(jax.make_jaxpr(lambda q: e_e_to_w_w.matrix_element(q, check=False))(p))
    assert "custom_jvp_call" in by_row and "scan" not in by_row
    ttx = madgen.load(GOLDEN / "gg_ttx")
    p = jnp.zeros((2 * ttx.value_chunk_size, 4, 4))
    assert "scan" in str(jax.make_jaxpr(lambda q: ttx.matrix_element(q, check=False))(p))
