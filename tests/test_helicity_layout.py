"""The helicity layout of a generated kernel (codegen.emit.helicity_layout, HELICITY_LAYOUT in the
package): "grid" gives every leg its own array axis, so a current spans only the helicities of the
legs it joins; "rows" spans the kept combinations (MadGraph's good-helicity loop). The grid is chosen
but for tiny kernels that the rows make at least twice as cheap (ROWS_MAX_COST), and the choice must not
change a number: both layouts of the same package agree to rounding in |M|^2, per-helicity weights and
gradients."""

import shutil
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import madgen
from madgen.codegen.emit import ROWS_MAX_COST, helicity_layout

from test_chunking import GOLDEN, two_to_two


def _graph(helicities, currents, n_amplitudes, n_legs=4):
    """A wavefunction graph of ``currents`` (name, inputs) and ``n_amplitudes`` terms, each joining the last
    current with the last leg."""
    externals = [SimpleNamespace(name=f"w{leg}", leg=leg) for leg in range(1, n_legs + 1)]
    term = SimpleNamespace(inputs=(currents[-1][0], externals[-1].name))
    return SimpleNamespace(externals=externals, helicities=helicities, amplitudes=[term] * n_amplitudes,
                           currents=[SimpleNamespace(name=name, inputs=inputs) for name, inputs in currents])


def test_costs_and_choice_on_a_small_graph():
    every = [(a, b, c, d) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1) for d in (-1, 1)]
    # a current of legs 1 and 2 (4 helicity points), one of legs 1, 2, 3 (8), two amplitude terms, each
    # close_on on the grid (16) of its closing current on leg 4 (2)
    currents = [("w5", ("w1", "w2")), ("w6", ("w5", "w3"))]
    layout = helicity_layout(_graph(every, currents, 2), [[-1, 1]] * 4)
    assert (layout.kind, layout.grid_cost, layout.rows_cost) == ("grid", 4 + 8 + 2 * (16 + 2), 4 * 16)
    assert layout.grid_shape == (2, 2, 2, 2) and layout.grid_index is None
    # four kept combinations of the sixteen (e+ e- > mu+ mu-): the rows at a third of the grid's cost, and
    # the grid index finds them
    kept = [(-1, 1, 1, -1), (1, -1, -1, 1), (1, -1, 1, -1), (-1, 1, -1, 1)]
    layout = helicity_layout(_graph(kept, currents, 2), [[-1, 1]] * 4)
    assert (layout.kind, layout.grid_cost, layout.rows_cost) == ("rows", 48, 16)
    assert layout.grid_index == (6, 9, 10, 5)
    # a larger kernel stays on the grid however few combinations it keeps (the rows' reverse mode is slow)
    many = currents + [(f"w{k}", ("w6", "w4")) for k in range(7, 14)]
    layout = helicity_layout(_graph(kept, many, 2), [[-1, 1]] * 4)
    assert layout.rows_cost > ROWS_MAX_COST and layout.grid_cost > 2 * layout.rows_cost and layout.kind == "grid"


def test_golden_packages_chose_their_layouts():
    for name, kind in (("gg_ttx", "grid"), ("epem_mupmum", "rows")):
        text = next((GOLDEN / name).glob("P1_*.py")).read_text()
        assert f"HELICITY_LAYOUT = {kind!r}" in text


def _other_layout(tmp_path, name):
    """The golden package ``name`` and a copy with the other layout, both loaded."""
    shutil.copytree(GOLDEN / name, tmp_path / "other")
    module = next((tmp_path / "other").glob("P1_*.py"))
    text = module.read_text()
    swapped = (text.replace("HELICITY_LAYOUT = 'grid'", "HELICITY_LAYOUT = 'rows'") if "= 'grid'" in text
               else text.replace("HELICITY_LAYOUT = 'rows'", "HELICITY_LAYOUT = 'grid'"))
    assert swapped != text
    module.write_text(swapped)
    return madgen.load(GOLDEN / name), madgen.load(tmp_path / "other")


@pytest.mark.parametrize("name, sqrt_s, mass", [
    ("gg_ttx", 700.0, 173.0),  # grid, and its rows copy
    pytest.param("epem_mupmum", 150.0, 0.0, marks=pytest.mark.slow),  # rows, and its grid copy: 25 s more
])
def test_both_layouts_give_the_same_numbers(tmp_path, name, sqrt_s, mass):
    chosen, other = _other_layout(tmp_path, name)
    p = jnp.asarray(two_to_two(40, sqrt_s, mass=mass, seed=3))
    for method in ("matrix_element", "helicity_weights"):
        a, b = np.asarray(getattr(chosen, method)(p)), np.asarray(getattr(other, method)(p))
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-14 * np.max(np.abs(a)))

    def total(process, momenta, parameters):
        return process.matrix_element(momenta, parameters).sum()

    parameters = chosen.default_parameters()
    ga = jax.grad(lambda q, prm: total(chosen, q, prm), argnums=(0, 1))(p, parameters)
    gb = jax.grad(lambda q, prm: total(other, q, prm), argnums=(0, 1))(p, parameters)
    for x, y in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb)):
        scale = max(np.max(np.abs(np.asarray(x))), 1e-300)
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-11, atol=1e-12 * scale)


def test_amplitude_calls_close_on_the_slot_that_leaves_the_smallest_current():
    """On the grid an amplitude call is closed on the input whose removal leaves the fewest helicity
    states (times stacked members) for J = COUP dA/dW_k; none where J would span the whole output."""
    from madgen.codegen.emit import closing_slot

    def term(*inputs):
        return SimpleNamespace(inputs=inputs)

    spans = {"w1": 2, "w2": 2, "w3": 3, "w4": 16, "w5": 16, "w6": 1, "w7": 1, "w8": 1}
    assert closing_slot((term("w1", "w4", "w2"),), spans) == 2  # J on w1 x w2: 4 of 64 states
    assert closing_slot((term("w4", "w3", "w1"),), spans) == 1  # J on 6 of 96
    assert closing_slot((term("w1", "w2", "w3"),), spans) == 3  # J on 4 of 12
    # stacked members: the stacked input carries the member axis, so closing on it leaves J unstacked
    assert closing_slot((term("w1", "w2", "w4"), term("w1", "w2", "w5")), spans) == 3
    # scalars span one state each: J would be the whole amplitude
    assert closing_slot((term("w6", "w7", "w8"),), spans) is None


def test_grid_kernels_close_their_amplitudes_and_rows_kernels_do_not():
    """The committed packages: g g > t t~ (grid) closes every term on its current; e+ e- > mu+ mu-
    (rows) calls the amplitude routines; both reproduce MadGraph (test_matrix_elements)."""
    grid = (GOLDEN / "gg_ttx" / "P1_gg_ttx.py").read_text()
    rows = (GOLDEN / "epem_mupmum" / "P1_epem_mupmum.py").read_text()
    assert grid.count("= close_on(") == 3 and "FFV1_0(" not in grid
    assert "close_on(" not in rows and "_0(" in rows
