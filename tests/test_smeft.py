"""SMEFTsim 3.0.2 (I. Brivio, arXiv:2012.11343), the published Python-2 UFO as is, against MadGraph.

The model (``../shared/models/SMEFTsim_topU3l_MwScheme_UFO``, MIT licence) is loaded as
MadGraph's ``import model SMEFTsim_topU3l_MwScheme_UFO-massless`` loads it: converted to
Python 3 into a cache, restricted with ``restrict_massless.dat`` (whose kept Wilson
coefficients have distinct placeholder values). Every process of
``../shared/reference/mg5_smeft_me2.json`` is generated and evaluated with the card MadGraph
used (``external_params_used``) and with the unlisted coefficients set to zero; |M|^2 must
agree to 1e-10 relative, and the diagram counts must be MadGraph's.
"""

import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from madgen.model import load_model

SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared beside the checkout, as conftest.py
MODEL_DIR = SHARED / "models" / "SMEFTsim_topU3l_MwScheme_UFO"
REFERENCE = SHARED / "reference" / "mg5_smeft_me2.json"
MASSLESS = f"{MODEL_DIR}-massless"


def _reference():
    if not REFERENCE.exists() or not MODEL_DIR.is_dir():
        pytest.fail(f"SMEFTsim model or MadGraph reference not found under {SHARED} (expected ../shared)")
    return json.loads(REFERENCE.read_text())


CASES = [(i, e["process"], "+".join(sorted(e["params"])) or "placeholders") for i, e in enumerate(
    json.loads(REFERENCE.read_text()) if REFERENCE.exists() else [])]


def _snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns for p in sorted(directory.rglob("*"))}


@pytest.fixture(scope="module")
def conversion_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("madgen_cache")
        patch.setenv("MADGEN_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def smeft(conversion_cache):
    _reference()
    before = _snapshot(MODEL_DIR)
    start = time.perf_counter()
    model = load_model(MASSLESS)
    seconds = time.perf_counter() - start
    assert _snapshot(MODEL_DIR) == before, "loading must not write into the model's directory"
    return model, seconds


def card_values(model, card: dict) -> dict:
    """External parameter name -> value from MadGraph's card as the reference lists it ('block code...')."""
    values = {}
    for p in model.external_parameters:
        key = " ".join([p.lhablock.lower(), *map(str, p.lhacode)])
        assert key in card, f"the reference card has no entry {key} for {p.name}"
        values[p.name] = float(card[key])
    return values


def test_published_model_loads_as_madgraph_loads_it(smeft, conversion_cache):
    model, seconds = smeft
    assert seconds < 120  # conversion, import and restriction of ~1300 couplings: seconds, not minutes
    # Converted into madgen's cache, never beside the model; the directory is named by the
    # model's fingerprint. (Which cache root: an earlier test in this process may have loaded
    # the model first under its own MADGEN_CACHE, and loaded models are shared per process;
    # test_ufo_loading pins that MADGEN_CACHE is honoured.)
    converted = Path(model.conversion_cache)
    assert converted.is_dir() and converted.parent.name == "ufo"
    assert converted.name.startswith(f"{MODEL_DIR.name}-") and MODEL_DIR.resolve() not in converted.parents
    assert model.directory == str(MODEL_DIR.resolve()) and model.restriction == "restrict_massless.dat"
    assert model.particle("u").massless and model.particle("e-").massless and not model.particle("b").massless
    external = {p.name: p.value for p in model.external_parameters}
    assert external["cHl1"] == 0.71 and external["cHe"] == 0.73 and external["cG"] == 0.2
    assert "linearPropCorrections" not in external  # fixed to 0: the Z1/W1/T1/H1 vertices are removed
    assert not any(p in v.particles for v in model.vertices for p in ("Z1", "W1+", "t1", "H1"))
    assert {p.name for p in model.propagators} == {"Z1", "W1", "T1", "H1"}
    assert model.particle("W1-").propagator == model.particle("W1+").propagator == "W1"

    sm_limit = load_model(f"{MODEL_DIR}-SMlimit_massless")
    assert not any(p.lhablock.upper() == "SMEFT" for p in sm_limit.external_parameters)
    assert len(sm_limit.vertices) < len(model.vertices)
    full = load_model(f"{MODEL_DIR}-full")
    assert full.restriction is None and "linearPropCorrections" in {p.name for p in full.external_parameters}


@pytest.fixture(scope="module", params=CASES, ids=[f"{c[1]}|{c[2]}" for c in CASES])
def case(request, smeft, generate_package):
    index, process, _ = request.param
    entry = _reference()[index]
    proc = generate_package(MASSLESS, process, f"smeft_{index}")
    return smeft[0], proc, entry


def test_agrees_with_madgraph(case):
    model, proc, entry = case
    assert proc.pdg_ids == tuple(entry["pdg_ids"])
    assert proc.metadata["subprocesses"][0]["n_diagrams"] == entry["n_diagrams"]
    momenta = np.array([point["momenta"] for point in entry["points"]])
    theta = card_values(model, entry["external_params_used"])
    for name, value in entry["params"].items():
        assert theta[name] == value
    np.testing.assert_allclose(proc.matrix_element(momenta, theta),
                               [point["me2"] for point in entry["points"]], rtol=1e-10, atol=0)
    unlisted_zero = card_values(model, {**entry["external_params_used"],
                                        **entry["external_params_used_unlisted_zero"]})
    np.testing.assert_allclose(proc.matrix_element(momenta, unlisted_zero),
                               [point["me2_unlisted_zero"] for point in entry["points"]], rtol=1e-10, atol=0)


def test_gradient_with_respect_to_a_wilson_coefficient(smeft, generate_package):
    """d|M|^2/dc for e+ e- > z h (jax.jacfwd through the generated code) against central differences."""
    model = smeft[0]
    index, entry = next((i, e) for i, e in enumerate(_reference()) if e["process"] == "e+ e- > z h NP<=1")
    proc = generate_package(MASSLESS, entry["process"], f"smeft_{index}")  # the package the test above made
    momenta = np.array([point["momenta"] for point in entry["points"]])
    theta = card_values(model, entry["external_params_used"])
    for name in ("cHWB", "cHl3"):
        def me2(c):
            return proc.matrix_element(momenta, {**theta, name: c})

        gradient = np.asarray(jax.jacfwd(me2)(theta[name]))
        h = 1e-4
        central = (np.asarray(me2(theta[name] + h)) - np.asarray(me2(theta[name] - h))) / (2 * h)
        assert np.all(np.abs(gradient) > 1e-6)
        np.testing.assert_allclose(gradient, central, rtol=1e-7)


def _generate(directory: Path, model: str, process: str, name: str):
    import madgen

    card = directory / f"{name}.yaml"
    card.write_text(json.dumps({"model": model, "process": process, "name": name}))
    madgen.generate(card, output=directory / name)
    return madgen.load(directory / name), directory / name


@pytest.mark.slow
def test_linearised_width_propagators_of_smeftsim(tmp_path, conversion_cache):
    """With linearPropCorrections = 1 the Z1 line (propagator -i M dWZ numV / D^2) is the first-order
    term of the Z propagator in its width: e+ e- > mu+ mu- through Z and Z1 equals the SM with
    WZ -> WZ + dWZ up to O((M dWZ / D)^2)."""
    import importlib.util

    copy = tmp_path / "SMEFTsim_prop"
    shutil.copytree(MODEL_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    card = (copy / "restrict_massless.dat").read_text()
    switched = card.replace("    1 0.000000e+00 # linearPropCorrections", "    1 1.000000e+00 # linearPropCorrections")
    assert switched != card
    (copy / "restrict_prop.dat").write_text(switched)
    with_z1, package = _generate(tmp_path, f"{copy}-prop", "e+ e- > mu+ mu- NP=0 NPprop<=2", "smeft_z1")
    sm, _ = _generate(tmp_path, f"{copy}-prop", "e+ e- > mu+ mu- NP=0 NPprop=0", "smeft_no_z1")
    assert "FFV1PZ1_3" in (package / "routines.py").read_text()
    spec = importlib.util.spec_from_file_location("smeft_z1_parameters", package / "parameters.py")
    parameters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parameters)
    theta = with_z1.default_parameters()
    dwz = float(np.real(parameters.compute_parameters(theta)["dWZ"]))
    assert dwz != 0
    for sqrt_s in (91.0, 250.0):
        e = sqrt_s / 2
        p = np.array([[[e, 0, 0, e], [e, 0, 0, -e], [e, 0.6 * e, 0, 0.8 * e], [e, -0.6 * e, 0, -0.8 * e]]])
        base = sm.default_parameters()
        shifted = {**base, "WZ": base["WZ"] + dwz}
        effect = np.asarray(sm.matrix_element(p, shifted)) / np.asarray(sm.matrix_element(p, base)) - 1
        residual = np.asarray(with_z1.matrix_element(p, theta)) / np.asarray(sm.matrix_element(p, shifted)) - 1
        mz, wz = base["MZ"], base["WZ"]
        delta = mz * abs(dwz) / abs(sqrt_s**2 - mz**2 + 1j * mz * wz)  # size of the first-order term
        assert abs(residual[0]) < 4 * delta**2 < abs(effect[0]), (sqrt_s, residual, effect, delta)


def test_sigma_off_reference_includes_channels_that_vanish_at_reference(smeft, generate_package):
    """sigma(theta) on the fixed sample of a run integrated at the SM, for e+ e- > mu+ mu- NP<=1 at
    500 GeV (generated at the SM: every Wilson coefficient 0) with the four-lepton coefficient cle = 1:
    the contact diagrams' channels have sigma_c = 0 at the SM, but cle's carries much of sigma(theta). Against an 8-node Gauss-Legendre integral over cos(theta),
    exact for |M|^2, a polynomial of degree 2 in cos(theta) for massless 2 -> 2 at tree level."""
    from madgen.inference import differentiable_cross_section
    from madgen.runtime.integrand import GEV2_TO_PB
    from madgen.runtime.runcard import RunCard

    model = smeft[0]
    sm_point = {p.name: 0.0 for p in model.external_parameters if p.lhablock.upper() == "SMEFT"}
    proc = generate_package(MASSLESS, "e+ e- > mu+ mu- NP<=1", "smeft_ee_mumu_np1", parameters=sm_point)
    sqrt_s, theta = 500.0, {"cle": 1.0}
    run = RunCard.from_mapping({"sqrt_s": sqrt_s, "seed": 3, "warmup_iterations": 1, "iterations": 2,
                                "points_per_iteration": 8000, "batch_size": 4096, "lhe": False,
                                "cuts": {"ptl": 0, "etal": -1}})
    sigma, prepared = differentiable_cross_section(proc, run, ["cle"], n_points=8000, log=lambda *a: None)
    channel_sigma = [c.cross_section_pb for c in prepared.result.channels]
    assert min(channel_sigma) == 0.0 < max(channel_sigma)  # the situation this test is about

    nodes, weights = np.polynomial.legendre.leggauss(8)
    energy = sqrt_s / 2
    sin = np.sqrt(1 - nodes ** 2)
    momenta = np.stack([np.tile([energy, 0, 0, energy], (8, 1)), np.tile([energy, 0, 0, -energy], (8, 1)),
                        energy * np.stack([np.ones(8), sin, np.zeros(8), nodes], axis=1),
                        energy * np.stack([np.ones(8), -sin, np.zeros(8), -nodes], axis=1)], axis=1)
    for point in ({}, theta):
        me2 = np.asarray(proc.matrix_element(momenta, point))
        # sigma = 1/(2 s) * int |M|^2 dPhi_2,  dPhi_2 = dcos dphi / (32 pi^2) for massless legs
        exact = GEV2_TO_PB / (2 * sqrt_s ** 2) * np.sum(weights * me2) / (16 * np.pi)
        estimate = sigma.estimate(point or None, gradient=False)
        assert abs(estimate.cross_section_pb - exact) < 5 * estimate.error_pb, (point, estimate, exact)


def test_run_parameters_in_smeftsim_spellings(smeft, generate_package):
    """launch --set / reweight --theta on a SMEFTsim package: the block/code spelling of a coefficient (a
    MadGraph reweight card's 'set SMEFT 9 -0.4') names it; MASS 24, which the MW scheme computes from MW
    (SMINPUTS 1), points to MW; a coefficient restrict_massless removed is named as removed."""
    from madgen.api import _parameter_names
    from madgen.errors import MadgenError

    model = smeft[0]
    sm_point = {p.name: 0.0 for p in model.external_parameters if p.lhablock.upper() == "SMEFT"}
    proc = generate_package(MASSLESS, "e+ e- > mu+ mu- NP<=1", "smeft_ee_mumu_np1", parameters=sm_point)
    assert _parameter_names(proc, {"SMEFT 9": -0.4}) == {"cHWB": -0.4}
    with pytest.raises(MadgenError, match=r"--theta: 'MASS 24' is no entry .* input MW is the entry SMINPUTS 1; "
                                          r"set 'MW'"):
        _parameter_names(proc, {"MASS 24": 80.0}, "--theta")
    with pytest.raises(MadgenError, match=r"'cHWBtil': the restriction restrict_massless.dat .* fixes cHWBtil "
                                          r"\(SMEFTCPV 6\) to 0 .*-full"):
        _parameter_names(proc, {"cHWBtil": 0.5})
