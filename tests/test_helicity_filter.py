"""The generation-time helicity filter (MadGraph's "good helicities", madgen.codegen.helicity_filter):
the filtered package computes the same |M|^2, per-helicity weights and gradients as the package with
every combination (to 1e-14 relative: the dropped combinations are zero), drops what helicity
conservation forbids, and keeps a combination that vanishes only at the default parameter values."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import madgen
from madgen.codegen.helicity_filter import random_on_shell_points

RTOL = 1e-14


def _pair(tmp_path, process, model="sm", **extra):
    """(filtered, unfiltered) processes of one card, and the filtered package's metadata."""
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({"model": model, "process": process, "name": "p", **extra}))
    madgen.generate(card, output=tmp_path / "filtered")
    madgen.generate(card, output=tmp_path / "all", all_helicities=True)
    metadata = json.loads((tmp_path / "filtered" / "metadata.json").read_text())
    return madgen.load(tmp_path / "filtered"), madgen.load(tmp_path / "all"), metadata["subprocesses"][0]


def _points(process, parameters, n=64, seed=5, random_frames=False):
    masses = np.asarray(process.masses(parameters))
    return random_on_shell_points(masses, process.n_initial, n, np.random.default_rng(seed), random_frames)


def _assert_same_physics(filtered, unfiltered, parameters=None):
    parameters = filtered.complete_parameters(parameters)
    p = np.concatenate([_points(filtered, parameters), _points(filtered, parameters, random_frames=True)])
    np.testing.assert_allclose(filtered.matrix_element(p, parameters), unfiltered.matrix_element(p, parameters),
                               rtol=RTOL, atol=0)
    # the kept rows of the unfiltered per-helicity weights are the filtered ones; the others are zero
    rows = {tuple(row): i for i, row in enumerate(unfiltered.helicities.tolist())}
    kept = [rows[tuple(row)] for row in filtered.helicities.tolist()]
    w_all = np.asarray(unfiltered.helicity_weights(p, parameters))
    # to RTOL of the event's |M|^2: the two packages are compiled for different helicity shapes, so a
    # weight that is small through a cancellation (1e-5 of |M|^2 in a random frame) is rounded differently
    total = np.abs(w_all).sum(axis=1, keepdims=True)
    assert np.all(np.abs(np.asarray(filtered.helicity_weights(p, parameters)) - w_all[:, kept]) <= RTOL * total)
    dropped = np.delete(w_all, kept, axis=1)
    assert np.all(np.abs(dropped) <= 1e-20 * np.abs(w_all).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("process, n_kept", [
    ("e+ e- > mu+ mu-", 4),  # massless fermions: e+ e- and mu+ mu- each with opposite helicities
    ("u u~ > d d~", 4),
])
def test_massless_fermion_helicity_conservation_is_found(tmp_path, process, n_kept):
    filtered, unfiltered, metadata = _pair(tmp_path, process)
    assert len(unfiltered.helicities) == 16 and metadata["n_helicity_combinations"] == 16
    assert len(filtered.helicities) == metadata["n_helicities"] == n_kept
    # vector couplings of massless fermions: incoming f fbar (and outgoing f fbar) have opposite helicities
    h = filtered.helicities
    assert np.all(h[:, 0] == -h[:, 1]) and np.all(h[:, 2] == -h[:, 3])
    _assert_same_physics(filtered, unfiltered)


def test_frame_dependent_zeros_are_kept(tmp_path):
    """Four combinations of g g > t t~ vanish with the beams along z (MadGraph drops them), not in a
    rotated, boosted frame: a generated |M|^2 takes momenta in any frame, so all 16 stay."""
    filtered, unfiltered, _ = _pair(tmp_path, "g g > t t~")
    assert len(filtered.helicities) == 16
    p = _points(unfiltered, unfiltered.default_parameters(), n=4)
    w = np.asarray(unfiltered.helicity_weights(p))
    assert np.sum(np.all(w <= 1e-20 * w.sum(axis=1, keepdims=True), axis=0)) == 4  # zero along z
    _assert_same_physics(filtered, unfiltered)
    _assert_same_physics(filtered, unfiltered, {"MT": 160.0, "aS": 0.13})


def test_zero_only_at_the_default_parameters_is_kept(tmp_path):
    """Me and MM are external parameters of sm-full: set to 0 on the card, the helicity flips vanish at
    the defaults but not at Me, MM > 0, so they must stay (and agree with the unfiltered package there)."""
    filtered, unfiltered, _ = _pair(tmp_path, "e+ e- > mu+ mu-", model="sm-full", parameters={"Me": 0.0, "MM": 0.0})
    assert len(filtered.helicities) == 16
    _assert_same_physics(filtered, unfiltered, {"Me": 5.0, "MM": 20.0})


def test_gradients_agree_with_the_unfiltered_package(tmp_path):
    filtered, unfiltered, _ = _pair(tmp_path, "e+ e- > mu+ mu-")
    parameters = filtered.default_parameters()
    p = jnp.asarray(_points(filtered, parameters, n=8))

    def gradient(process):
        def total(p, mz):
            return jnp.sum(process.matrix_element(p, {**parameters, "MZ": mz}, check=False))
        return jax.jit(jax.grad(total, argnums=(0, 1)))(p, parameters["MZ"])

    (dp_filtered, dmz_filtered), (dp_all, dmz_all) = gradient(filtered), gradient(unfiltered)
    np.testing.assert_allclose(dp_filtered, dp_all, rtol=1e-13, atol=1e-13 * np.abs(dp_all).max())
    np.testing.assert_allclose(dmz_filtered, dmz_all, rtol=1e-13)


def test_decay_and_determinism(tmp_path):
    """A 1 -> n process (the parent at rest) is filtered too, and generation stays byte-deterministic."""
    card = tmp_path / "decay.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": "z > e+ e-", "name": "zee"}))
    madgen.generate(card, output=tmp_path / "a")
    madgen.generate(card, output=tmp_path / "b")
    decay = madgen.load(tmp_path / "a")
    # massless leptons from a vector/axial coupling: opposite helicities, for each of the 3 Z helicities
    h = decay.helicities
    assert len(h) == 3 * 2 and np.all(h[:, 1] == -h[:, 2])
    for path in sorted((tmp_path / "a").glob("*.py")):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_random_points_are_on_shell_and_conserve_momentum():
    rng = np.random.default_rng(0)
    for masses, n_initial in (([0.0, 0.0, 173.0, 173.0, 0.0], 2), ([173.0, 4.7, 80.4], 1), ([0, 0, 0, 0], 2)):
        p = random_on_shell_points(masses, n_initial, 10, rng)
        metric = np.array([1.0, -1.0, -1.0, -1.0])
        m2 = np.einsum("nlm,m,nlm->nl", p, metric, p)
        np.testing.assert_allclose(m2, np.square(masses)[None].repeat(10, 0), atol=1e-7 * p[..., 0].max() ** 2)
        balance = p[:, :n_initial].sum(axis=1) - p[:, n_initial:].sum(axis=1)
        np.testing.assert_allclose(balance, 0.0, atol=1e-9 * p[..., 0].max())
        moved = random_on_shell_points(masses, n_initial, 10, rng, random_frames=True)
        m2 = np.einsum("nlm,m,nlm->nl", moved, metric, moved)
        np.testing.assert_allclose(m2, np.square(masses)[None].repeat(10, 0), atol=1e-7 * moved[..., 0].max() ** 2)
        assert np.abs(moved[:, 0, 1:3]).max() > 0  # the beams are no longer along z
    assert random_on_shell_points([80.0, 173.0, 4.7], 1, 3, rng) is None  # below threshold
