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


@pytest.mark.parametrize("golden", ["epem_mupmum", "gg_ttx"])
def test_numpy_view_of_the_kernels_gives_the_package_weights(tmp_path, golden):
    """The filter evaluates the package's own kernel code with numpy (codegen.emit.numpy_kernel_files):
    its per-helicity weights are the JAX package's, to rounding, at random points in random frames."""
    import importlib
    import sys
    from pathlib import Path

    from madgen.codegen.emit import numpy_kernel_files
    from madgen.contract import import_package_directory

    source = Path(__file__).parent / "golden" / golden
    files = {path.name: path.read_text() for path in source.iterdir() if path.suffix == ".py"}
    view = numpy_kernel_files(files)
    assert "process_api.py" not in view and view["__init__.py"] == ""
    lines = [line.strip() for text in view.values() for line in text.splitlines()]
    assert not [line for line in lines if line.startswith(("import jax", "from jax", "@jax"))]  # numpy only
    for name, text in view.items():
        (tmp_path / name).write_text(text)
    package = f"numpy_view_{golden}"
    import_package_directory(package, tmp_path)
    try:
        process = madgen.load(source)
        module = importlib.import_module(f"{package}.{process._module.__name__.rsplit('.', 1)[1]}")
        parameters_module = importlib.import_module(f"{package}.parameters")
        parameters = {**process.default_parameters(), "MT": 171.5, "WT": 1.3, "aS": 0.125}
        p = _points(process, parameters, n=16, random_frames=True)
        internal = parameters_module.compute_parameters(parameters)
        weights = np.moveaxis(module.helicity_weights(np.transpose(p, (1, 2, 0)), internal), 0, -1)
        expected = np.asarray(process.helicity_weights(p, parameters))
        assert isinstance(weights, np.ndarray)
        np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-13 * np.abs(expected).sum())
    finally:
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]


def test_generation_does_not_import_jax(tmp_path):
    """Generation, helicity filter included, runs without JAX (nothing is compiled): g g > t t~ g in
    well under the time one jit compile of it takes."""
    import subprocess
    import sys

    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": "g g > t t~ g", "name": "p"}))
    script = ("import sys, madgen; madgen.generate(sys.argv[1], output=sys.argv[2]); "
              "print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script, str(card), str(tmp_path / "out")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "out" / "metadata.json").is_file()
