"""The contract between generated packages and the runtime (madgen.contract), and the public
surface of madgen and of a generated package, pinned: a rename or a new argument shows up here."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import madgen
import madgen.api
from madgen.contract import CHANNEL_KEYS, KERNEL_OUTPUTS, PRECISIONS, GeneratedProcess
from madgen.errors import InputShapeError
from physics import collision_points


@pytest.fixture(scope="module")
def gg_ttx(generate_package):
    return generate_package("sm", "g g > t t~ g", "contract_gg_ttxg")


def test_a_generated_process_satisfies_the_contract(gg_ttx):
    assert isinstance(gg_ttx, GeneratedProcess)
    for name in ("default_parameters", "complete_parameters", "internal_parameters", "masses", "alpha_couplings",
                 "matrix_element", "evaluate", "select_helicity_and_colour", "with_precision"):
        contract = inspect.signature(getattr(GeneratedProcess, name))
        generated = inspect.signature(getattr(type(gg_ttx), name))
        assert list(generated.parameters) == list(contract.parameters), name
        for parameter in contract.parameters.values():
            assert generated.parameters[parameter.name].kind == parameter.kind, (name, parameter.name)
            assert generated.parameters[parameter.name].default == parameter.default, (name, parameter.name)


def points(process, n=5, seed=3):
    masses = np.asarray(process.masses())
    return collision_points(1000.0, masses[:2], masses[2:], np.random.default_rng(seed), n)


def test_the_kernel_returns_everything_from_one_evaluation(gg_ttx):
    p = points(gg_ttx)
    data = gg_ttx.evaluate(p, diagrams=True, helicities=True, flows=True)
    assert set(data) == set(KERNEL_OUTPUTS)
    n = len(p)
    assert data["me2"].shape == (n,)
    assert data["diagram_weights"].shape == (n, gg_ttx.n_diagrams)
    assert data["helicity_weights"].shape == (n, len(gg_ttx.helicities))
    assert data["flow_weights"].shape == (n, len(gg_ttx.helicities), len(gg_ttx.colour_flows))
    np.testing.assert_allclose(data["me2"], gg_ttx.matrix_element(p), rtol=1e-12)
    np.testing.assert_allclose(np.sum(data["helicity_weights"], axis=-1), data["me2"], rtol=1e-12)
    np.testing.assert_allclose(data["diagram_weights"], gg_ttx.diagram_weights(p), rtol=1e-12)
    np.testing.assert_allclose(data["helicity_weights"], gg_ttx.helicity_weights(p), rtol=1e-12)
    np.testing.assert_allclose(data["flow_weights"], gg_ttx.helicity_flow_weights(p), rtol=1e-12)
    assert set(gg_ttx.evaluate(p)) == {"me2"}


def test_the_channel_table_is_the_diagrams(gg_ttx):
    table, data = gg_ttx.channels, gg_ttx.diagrams
    assert [leg["number"] for leg in table["legs"]] == [leg["number"] for leg in data["legs"]]
    assert len(table["diagrams"]) == gg_ttx.n_diagrams == len(data["diagrams"])
    for row, diagram in zip(table["diagrams"], data["diagrams"]):
        assert row["number"] == diagram["number"]
        assert row["propagators"] == [{key: p[key] for key in CHANNEL_KEYS} for p in diagram["propagators"]]
    assert table["decays"] == []  # no decay chain, no required s-channel (tests/test_decay_chains.py)


def test_one_input_error_class(gg_ttx):
    with pytest.raises(InputShapeError):
        gg_ttx.matrix_element(np.zeros((2, 3, 4)))
    with pytest.raises(InputShapeError):
        gg_ttx.matrix_element(points(gg_ttx, 1), {"no_such_parameter": 1.0})


def test_public_api_of_madgen_is_pinned():
    assert sorted(madgen.__all__) == ["__version__", "generate", "jit", "load"]
    assert list(inspect.signature(madgen.jit).parameters) == ["function", "process", "jit_options"]
    assert list(inspect.signature(madgen.generate).parameters) == ["card_path", "output", "force", "draw", "all_helicities"]
    assert list(inspect.signature(madgen.load).parameters) == ["path"]
    assert list(inspect.signature(madgen.api.launch).parameters) == [
        "card_or_package", "run_card", "output", "force", "log", "progress", "workers", "scheduler", "parameters"]
    assert list(inspect.signature(madgen.api.mine).parameters) == [
        "card_or_package", "run_card", "parameters", "theta_ref", "thetas", "output", "n_xsec_points", "log",
        "workers", "scheduler"]


def test_public_api_of_a_generated_package_is_pinned(gg_ttx):
    public = sorted(name for name in dir(type(gg_ttx)) if not name.startswith("_"))
    assert public == [
        "alpha_couplings", "channels", "check_momenta", "colour_flows", "compiler_options", "complete_parameters",
        "default_parameters",
        "diagram_flows", "diagram_weights", "diagrams", "evaluate", "helicities", "helicity_flow_weights", "helicity_weights",
        "internal_parameters", "masses", "matrix_element", "metadata", "param_card", "polarisation_factors",
        "select_helicity_and_colour", "widths", "with_precision"]
    assert gg_ttx.precision == "double"  # an instance attribute, as process, pdg_ids, n_legs


def test_precision_views_are_cached_and_return_their_precision(gg_ttx):
    assert gg_ttx.with_precision("double") is gg_ttx
    single = gg_ttx.with_precision("single")
    assert isinstance(single, GeneratedProcess) and single.precision == "single"
    assert single.with_precision("single") is single and single.with_precision("double") is gg_ttx
    assert single.subprocesses == (single,)
    assert {gg_ttx.with_precision(name).precision for name in PRECISIONS} == set(PRECISIONS)
    p = points(gg_ttx, 3)
    data = single.evaluate(p, diagrams=True, helicities=True, flows=True)
    assert {key: value.dtype for key, value in data.items()} == {key: np.float32 for key in KERNEL_OUTPUTS}
    assert gg_ttx.evaluate(p)["me2"].dtype == np.float64
    with pytest.raises(ValueError, match="precision.*'half'"):
        gg_ttx.with_precision("half")


@pytest.mark.parametrize("process, power", [("g g > t t~", 2), ("u u~ > e+ e- g", 1), ("e+ e- > mu+ mu-", 0)])
def test_alpha_s_power_from_the_channel_tables_orders_is_the_measured_one(generate_package, process, power):
    """The runtime's alpha_s power (MadGraph's nqcd in <mgrwt>) comes from the QCD order every diagram of
    the channel table shares, without compiling anything; it equals d log|M|^2 / d log aS."""
    from madgen.runtime.integrand import _alpha_s_power, _measured_alpha_s_power

    proc = generate_package("sm", process, "nqcd_" + "".join(ch for ch in process if ch.isalnum()))
    assert {diagram["orders"].get("QCD", 0) for diagram in proc.channels["diagrams"]} == {power}
    assert _alpha_s_power(proc) == power == _measured_alpha_s_power(proc, proc.default_parameters())
