"""madgen.inference: per-event gradients, the differentiable cross section, gold mining, Fisher
information and ``madgen mine``, on e+ e- > mu+ mu- at the Z pole (theta = MZ, WZ).

Statistical checks allow 4 combined standard errors; derivatives on a fixed sample must match
central finite differences to ~1e-6.
"""

import argparse

import h5py
import jax
import numpy as np
import pytest
import yaml

import madgen.errors
from physics import collision_points

from madgen.inference import (InferenceError, differentiable_cross_section, fisher_information, mine,
                              momentum_gradient, momentum_hessian, parameter_gradient, parameter_hessian,
                              parameter_value_and_gradient, read_gold, unit_cube_gradient, write_gold)
from madgen.inference.cli import add_mine_parser, parse_assignments, run_mine
from madgen.inference.cross_section import prepared_at
from madgen.runtime.runcard import RunCard

RUN = {"sqrt_s": 91.188, "n_events": 2000, "seed": 1, "warmup_iterations": 1, "iterations": 2,
       "points_per_iteration": 4000, "batch_size": 2048, "channels": "rambo", "lhe": False}
NAMES = ("MZ", "WZ")


@pytest.fixture(scope="module")
def proc(generate_package):
    return generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")


@pytest.fixture(scope="module")
def gold_file(proc, tmp_path_factory):
    """``madgen mine`` (the CLI function) on a small run: 2000 events, two alternative thetas."""
    directory = tmp_path_factory.mktemp("mine")
    run_card = directory / "run.yaml"
    run_card.write_text(yaml.safe_dump(RUN))
    parser = argparse.ArgumentParser(prog="madgen")
    add_mine_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["mine", str(proc._dir), "--run", str(run_card), "-p", "MZ,wz",  # any case, as `set`
                              "--theta", "mz=91.5", "--theta", "WZ=2.6", "-o", str(directory / "gold.h5")])
    assert run_mine(args) == 0
    return directory / "gold.h5"


@pytest.fixture(scope="module")
def gold(gold_file):
    return read_gold(gold_file)


@pytest.fixture(scope="module")
def xsec(proc):
    sigma, _ = differentiable_cross_section(proc, {**RUN, "seed": 5}, NAMES,  # a mapping, as launch takes it
                                            n_points=8000, log=lambda *a: None)
    return sigma


# ----------------------------------------------------------------------------- per event


def test_parameter_gradient_matches_finite_differences(proc):
    momenta = collision_points(91.188, (0, 0), (0, 0), np.random.default_rng(7), 4)
    names = ("MZ", "WZ", "aEWM1")
    defaults = proc.default_parameters()
    value, gradient = parameter_value_and_gradient(proc, momenta, names)
    assert gradient.shape == (4, 3)
    np.testing.assert_allclose(value, np.log(np.asarray(proc.matrix_element(momenta))), rtol=1e-12)
    for i, name in enumerate(names):
        step = 1e-5 * defaults[name]
        log_me = [np.log(np.asarray(proc.matrix_element(momenta, {name: defaults[name] + s})))
                  for s in (step, -step)]
        np.testing.assert_allclose(gradient[:, i], (log_me[0] - log_me[1]) / (2 * step), rtol=1e-6,
                                   atol=1e-6 * np.abs(gradient[:, i]).max())
    plain = parameter_gradient(proc, momenta, names, log=False)
    np.testing.assert_allclose(plain, gradient * np.exp(value)[:, None], rtol=1e-10)


@pytest.mark.slow  # compiling forward-over-forward |M|^2 takes ~30 s on a loaded CPU
def test_parameter_hessian_matches_finite_differences(proc):
    momenta = collision_points(91.188, (0, 0), (0, 0), np.random.default_rng(7), 4)
    names = ("MZ", "WZ", "aEWM1")
    defaults = proc.default_parameters()
    hessian = parameter_hessian(proc, momenta, names)
    assert hessian.shape == (4, 3, 3)
    np.testing.assert_allclose(hessian, np.swapaxes(hessian, 1, 2), rtol=1e-8, atol=1e-12)
    for i, name in enumerate(names):
        step = 1e-5 * defaults[name]
        grads = [parameter_gradient(proc, momenta, names, {name: defaults[name] + s}) for s in (step, -step)]
        np.testing.assert_allclose(hessian[:, :, i], (grads[0] - grads[1]) / (2 * step), rtol=1e-5,
                                   atol=1e-6 * np.abs(hessian).max())


@pytest.mark.slow  # the vmapped momentum Hessian takes minutes to compile on a loaded CPU
def test_momentum_gradient_and_hessian(proc):
    momenta = collision_points(91.188, (0, 0), (0, 0), np.random.default_rng(8), 3)
    gradient = momentum_gradient(proc, momenta)
    hessian = momentum_hessian(proc, momenta)
    assert gradient.shape == (3, 4, 4) and hessian.shape == (3, 4, 4, 4, 4)
    direction = np.random.default_rng(9).normal(size=momenta.shape)
    step = 1e-4
    # off the mass shell and out of momentum balance on purpose: the derivative of the function itself
    values = [np.asarray(proc.matrix_element(momenta + s * direction, check=False)) for s in (step, -step)]
    np.testing.assert_allclose(np.sum(gradient * direction, axis=(1, 2)), (values[0] - values[1]) / (2 * step),
                               rtol=1e-6)
    grads = [momentum_gradient(proc, momenta + s * direction) for s in (step, -step)]
    contracted = np.einsum("nijkl,nkl->nij", hessian, direction)
    np.testing.assert_allclose(contracted, (grads[0] - grads[1]) / (2 * step), rtol=1e-5,
                               atol=1e-6 * np.abs(contracted).max())


def test_unknown_parameter_is_named(proc):
    with pytest.raises(InferenceError, match="'MQ'.*choose from"):
        parameter_gradient(proc, np.zeros((1, 4, 4)), ["MQ"])
    with pytest.raises(InferenceError, match="not NAME=VALUE"):
        parse_assignments("MZ:91", "--theta")
    with pytest.raises(InferenceError, match="in 'MZ=abc', 'abc' is not a number"):
        parse_assignments("MZ=abc", "--theta")
    with pytest.raises(InferenceError, match="'MZ' is given twice"):
        parse_assignments("MZ=91,WZ=2.5,MZ=92", "--theta")
    assert parse_assignments(" MZ = 91.5 ,WZ=2.5", "--theta") == {"MZ": 91.5, "WZ": 2.5}


# ----------------------------------------------------------------------------- cross section


def test_sigma_gradient_matches_finite_differences_on_the_same_sample(xsec):
    estimate = xsec.estimate()
    assert estimate.cross_section_pb > 1000 and np.all(estimate.gradient_error > 0)
    for i, name in enumerate(NAMES):
        step = 1e-5 * xsec.theta_ref[i]
        up, down = (xsec.estimate({name: xsec.theta_ref[i] + s}, gradient=False).cross_section_pb
                    for s in (step, -step))
        assert (up - down) / (2 * step) == pytest.approx(estimate.gradient[i], rel=1e-6, abs=1e-8 * estimate.cross_section_pb)
    # the traceable sigma(theta) gives the same value and gradient
    theta = np.asarray(xsec.theta_ref)
    value, gradient = jax.value_and_grad(xsec)(theta)
    assert float(value) == pytest.approx(estimate.cross_section_pb, rel=1e-12)
    np.testing.assert_allclose(gradient, estimate.gradient, rtol=1e-10)


def test_sigma_gradient_matches_independent_integrations(proc, xsec):
    """d sigma / d WZ against (sigma(WZ + d) - sigma(WZ - d)) / 2d from grids trained with other seeds."""
    estimate = xsec.estimate()
    width, delta = xsec.theta_ref[1], 0.15
    results = [prepared_at(proc, RunCard.from_mapping({**RUN, "seed": seed, "iterations": 3}),
                           {"WZ": width + shift}, log=lambda *a: None).result
               for seed, shift in ((11, delta), (12, -delta))]
    numeric = (results[0].cross_section_pb - results[1].cross_section_pb) / (2 * delta)
    error = np.hypot(results[0].error_pb, results[1].error_pb) / (2 * delta)
    truncation = 2 * delta ** 2 / width ** 2 * abs(estimate.gradient[1])  # sigma ~ 1/W^2 at the pole
    assert abs(numeric - estimate.gradient[1]) < 4 * np.hypot(error, estimate.gradient_error[1]) + truncation


@pytest.mark.slow  # reverse mode through the phase-space map: ~30 s of compilation
def test_unit_cube_gradient(xsec):
    prepared, sample = xsec.prepared, xsec.samples[0]

    def weights(x, parameters):
        return prepared.weight(x, 0, parameters)

    x = sample.x[:3]
    gradient = unit_cube_gradient(weights, x, xsec.base)
    assert gradient.shape == x.shape
    step = 1e-6
    shift = np.zeros_like(x)
    shift[:, 2] = step  # a direction variable of the first RAMBO momentum
    values = [np.asarray(weights(x + s, xsec.base)[0]) for s in (shift, -shift)]
    np.testing.assert_allclose(gradient[:, 2], (values[0] - values[1]) / (2 * step), rtol=1e-5,
                               atol=1e-7 * np.abs(gradient).max())


# ----------------------------------------------------------------------------- gold


def test_gold_file_layout_round_trip(gold_file, gold, tmp_path):
    with h5py.File(gold_file, "r") as h5:
        assert h5.attrs["format"] == "madgen-gold" and h5.attrs["version"] == 1
        assert [n.decode() for n in h5["parameters/names"][()]] == list(NAMES)
        assert h5["events/momenta"].shape == (2000, 4, 4)
        assert h5["gold/log_r"].shape == (2000, 2) and h5["gold/score"].shape == (2000, 2)
        np.testing.assert_allclose(h5["parameters/thetas"][()], [[91.5, gold.theta_ref[1]], [gold.theta_ref[0], 2.6]])
        assert h5["fisher/information"].shape == (2, 2)
    assert gold.process == "e+ e- > mu+ mu-" and gold.parameters["MZ"] == 91.188
    assert np.all(gold.pdg_ids == [-11, 11, -13, 13])
    again = read_gold(write_gold(tmp_path / "copy.h5", gold))
    for name in ("momenta", "log_r", "score", "thetas", "fisher", "sigma_pb", "log_sigma_ratio_error"):
        np.testing.assert_array_equal(getattr(again, name), getattr(gold, name))
    assert again.metadata == gold.metadata


def test_gold_log_r_from_matrix_elements(proc, gold):
    momenta = gold.momenta[:5]
    for i, theta in enumerate(gold.thetas):
        alternative = dict(zip(gold.names, theta))
        expected = (np.log(np.asarray(proc.matrix_element(momenta))) - np.log(gold.sigma_ref_pb)
                    - np.log(np.asarray(proc.matrix_element(momenta, alternative))) + np.log(gold.sigma_pb[i]))
        np.testing.assert_allclose(gold.log_r[:5, i], expected, rtol=1e-10, atol=1e-12)


def test_expected_joint_score_vanishes(gold):
    """E[t(z|theta_ref)] = 0 for z ~ p(z|theta_ref): events against the fixed-sample d log sigma."""
    n = len(gold)
    statistical = gold.score.std(axis=0, ddof=1) / np.sqrt(n)
    systematic = gold.sigma_gradient_error_pb / gold.sigma_ref_pb  # error of the d log sigma offset
    assert np.all(np.abs(gold.score.mean(axis=0)) < 4 * np.hypot(statistical, systematic))
    assert np.all(np.abs(gold.score.mean(axis=0)) < 0.2 * gold.score.std(axis=0))


def test_expected_ratio_is_one(gold):
    """E_{z ~ p(z|theta_ref)}[p(z|theta_i) / p(z|theta_ref)] = E[1 / r(z|theta_ref, theta_i)] = 1."""
    inverse = np.exp(-gold.log_r)
    statistical = inverse.std(axis=0, ddof=1) / np.sqrt(len(gold))
    assert np.all(np.abs(inverse.mean(axis=0) - 1) < 4 * np.hypot(statistical, gold.log_sigma_ratio_error))
    assert np.all(inverse.std(axis=0) > 1e-6)  # the hypotheses do differ (WZ barely changes the shape)


def test_fisher_information(gold):
    fisher = fisher_information(gold.score, gold.names)
    np.testing.assert_allclose(fisher.information, gold.fisher)
    np.testing.assert_allclose(fisher.information, gold.score.T @ gold.score / len(gold), rtol=1e-12)
    # positive semi-definite (at the pole the MZ and WZ scores are almost proportional: I is nearly singular)
    assert np.all(np.diag(gold.fisher) > 0) and np.all(gold.fisher_error > 0)
    assert gold.fisher[0, 1] ** 2 <= gold.fisher[0, 0] * gold.fisher[1, 1] * (1 + 1e-9)
    assert np.all(np.abs(np.diag(gold.fisher_error) / np.diag(gold.fisher)) < 0.1)
    weighted = fisher_information(gold.score, gold.names, weights=np.ones(len(gold)))
    np.testing.assert_allclose(weighted.information, fisher.information, rtol=1e-12)


def test_mine_refuses_external_mass_parameters_beyond_two_to_two(generate_package):
    ttxa = generate_package("sm", "e+ e- > t t~ a", "epem_ttxa")
    with pytest.raises(InferenceError, match=r"\['MT'\] change external masses.*2 -> 2"):
        mine(ttxa._dir, {**RUN, "sqrt_s": 500}, ["MT", "WT"], thetas=[{"MT": 172.0}])


def test_mine_refuses_polarised_beams(generate_package):
    """The gold comes from the unpolarised |M|^2: mining a polarised run would mislabel its events."""
    ee = generate_package("sm", "e+ e- > mu+ mu-", "epem_mupmum")
    with pytest.raises(InferenceError, match="polarised beams"):
        mine(ee._dir, {**RUN, "sqrt_s": 250.0, "polbeam2": -80.0}, ["MZ"])


def test_top_mass_gold_at_fixed_energy_uses_latent_variables(generate_package):
    """e+ e- > t t~ with theta = MT: the tops' mass shell moves, so r and t come from the density of
    (cos theta*, phi*); E[t] = 0 and E[1/r] = 1 (MT_i above MT_ref: the support stays inside)."""
    ttx = generate_package("sm", "e+ e- > t t~", "epem_ttx")
    gold = mine(ttx._dir, {**RUN, "sqrt_s": 500.0, "n_events": 1500, "channels": "multichannel"}, ["MT"],
                thetas=[{"MT": 175.0}], log=lambda *a: None)
    assert gold.latent.shape == (1500, 4) and np.all(gold.latent[:, :2] == 1.0)
    n = len(gold)
    statistical = gold.score.std(axis=0, ddof=1) / np.sqrt(n)
    systematic = gold.sigma_gradient_error_pb / gold.sigma_ref_pb
    assert abs(gold.score.mean()) < 4 * np.hypot(statistical, systematic)[0]
    inverse = np.exp(-gold.log_r)
    assert abs(inverse.mean() - 1) < 4 * np.hypot(inverse.std(ddof=1) / np.sqrt(n), gold.log_sigma_ratio_error[0])
    assert gold.sigma_gradient_pb[0] < 0  # the phase space shrinks as MT grows


@pytest.mark.slow
def test_sigma_gradient_in_the_top_mass(generate_package):
    """d sigma / d MT of e+ e- > t t~ at 500 GeV (the phase space shrinks with MT) against
    independent integrations at MT +- 1 GeV."""
    ttx = generate_package("sm", "e+ e- > t t~", "epem_ttx")
    run = {**RUN, "sqrt_s": 500, "points_per_iteration": 8000, "channels": "multichannel"}
    sigma, _ = differentiable_cross_section(ttx, RunCard.from_mapping(run), ["MT"], n_points=20000,
                                            log=lambda *a: None)
    estimate = sigma.estimate()
    step = 1e-4
    up, down = (sigma.estimate({"MT": 173.0 + s}, gradient=False).cross_section_pb for s in (step, -step))
    assert (up - down) / (2 * step) == pytest.approx(estimate.gradient[0], rel=1e-6)
    assert estimate.gradient[0] < 0
    results = [prepared_at(ttx, RunCard.from_mapping({**run, "seed": seed, "iterations": 4}),
                           {"MT": 173.0 + shift}, log=lambda *a: None).result
               for seed, shift in ((21, 1.0), (22, -1.0))]
    numeric = (results[0].cross_section_pb - results[1].cross_section_pb) / 2.0
    error = np.hypot(results[0].error_pb, results[1].error_pb) / 2.0
    assert abs(numeric - estimate.gradient[0]) < 4 * np.hypot(error, estimate.gradient_error[0])


def test_mine_refuses_what_it_can_before_the_work(proc, tmp_path):
    """Bad outputs, --xsec-points, thetas out of range or where the model is undefined, and aS with hadron
    beams are refused at once (they used to fail after the integration, or overwrite a user's file)."""
    (tmp_path / "notes.txt").write_text("mine\n")
    run = {**RUN, "n_events": 10}
    cases = [
        (dict(output=tmp_path / "notes.txt"), "notes.txt exists and is not a madgen gold file"),
        (dict(output=tmp_path), "is a directory"),
        (dict(output=tmp_path / "no" / "g.h5"), "does not exist"),
        (dict(n_xsec_points=0), "--xsec-points 0: give a positive number"),
        (dict(thetas=[{"MZ": -3.0}]), "MZ"),
        (dict(thetas=[{"MZ": 0.0}]), "not finite"),
        (dict(theta_ref={"MZ": 0.0}), "theta_ref .*not finite"),
        (dict(thetas={"MZ": 92.0}), r"thetas \{'MZ': 92.0\}: give a list of points"),
        (dict(thetas=[{"MZ": "92"}]), "theta MZ = '92': expected a real number"),
        (dict(thetas=[{"MZ": True}]), "theta MZ = True: expected a real number"),
        (dict(thetas=[[91.0, 92.0]]), r"has 2 value\(s\); parameters \['MZ'\] need 1"),
        (dict(theta_ref={"WZ": 2.0}), r"theta_ref: \['WZ'\] are not among the chosen parameters \['MZ'\]"),
    ]
    for options, words in cases:
        with pytest.raises(madgen.errors.MadgenError, match=words):
            mine(proc._dir, run, ["MZ"], log=lambda *a: None, **options)
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    with pytest.raises(InferenceError, match="hadron beams alpha_s"):
        mine(proc._dir, {**run, "beams": ["p", "p"], "sqrt_s": 13000}, ["aS"], log=lambda *a: None)
