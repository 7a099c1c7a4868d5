"""A second, third-party UFO model (ufo-mssm from PyPI): squark pairs (scalars) and gluino
pairs (Majorana fermions: clashing-arrow fermion flow) pass the gauge and Lorentz checks.

As in test_matrix_elements, the symmetry checks run with the widths of the propagating
particles set to zero (a fixed width breaks gauge invariance at O(width/mass)), and with the
squark mixing matrices made exactly orthogonal: the gluon-squark couplings carry
sum_k |R_ik|^2, which the SPS1a param card's 8-digit mixing entries make 1 only to ~1e-8,
breaking gauge invariance at that level (|M|^2 of the unphysical polarisation ~1e-15)."""

import math

import numpy as np
import pytest

from physics import boost_matrix, collision_points, rotation_matrix, transform
from test_matrix_elements import assert_gauge_invariant

CASES = [
    ("mssm_gg_su3su3x", "g g > su3 su3~", 6),
    ("mssm_gg_gogo", "g g > go go", 3),
]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def mssm_case(request, generate_package):
    return prepare_case(generate_package, *request.param)


@pytest.fixture(scope="module")
def gluino_case(generate_package):
    return prepare_case(generate_package, *CASES[1])


def prepare_case(generate_package, name, process, n_diagrams):
    """The generated process, test momenta, and the parameter overrides of the symmetry checks."""
    proc = generate_package("ufo_mssm", process, name)
    assert proc.n_diagrams == n_diagrams
    widths = {p["width"] for d in proc.diagrams["diagrams"] for p in d["propagators"]} - {"ZERO"}
    zero_widths = {name: 0.0 for name in widths if name in proc.default_parameters()}
    zero_widths.update(orthogonal_mixing(proc.default_parameters(), "RRu"))
    zero_widths.update(orthogonal_mixing(proc.default_parameters(), "RRd"))
    masses = np.asarray(proc.masses())
    momenta = collision_points(3.0 * masses.sum(), masses[:2], masses[2:], np.random.default_rng(17), 6)
    return proc, momenta, zero_widths


def orthogonal_mixing(parameters, prefix, size=6):
    """The nearest orthogonal matrix (polar decomposition) to the card's mixing matrix
    prefix{i}x{j}, as parameter overrides."""
    names = {(i, j): f"{prefix}{i + 1}x{j + 1}" for i in range(size) for j in range(size)}
    matrix = np.array([[parameters.get(names[i, j], 0.0) for j in range(size)] for i in range(size)])
    u, _, vt = np.linalg.svd(matrix)
    orthogonal = u @ vt
    return {name: float(orthogonal[ij]) for ij, name in names.items() if name in parameters}


def test_mssm_matrix_element_is_positive_and_finite(mssm_case):
    proc, momenta, _ = mssm_case
    values = np.asarray(proc.matrix_element(momenta))
    assert values.shape == (len(momenta),)
    assert np.all(np.isfinite(values)) and np.all(values > 0)


def test_mssm_lorentz_invariance(mssm_case):
    proc, momenta, zero_widths = mssm_case
    matrix = boost_matrix([-0.4, 0.2, 0.7]) @ rotation_matrix([0.3, -1.0, 2.0], 1.1)
    original = np.asarray(proc.matrix_element(momenta, zero_widths))
    np.testing.assert_allclose(proc.matrix_element(transform(momenta, matrix), zero_widths), original,
                               rtol=1e-10)


def test_mssm_gauge_invariance(mssm_case, monkeypatch):
    proc, momenta, zero_widths = mssm_case
    import test_matrix_elements

    monkeypatch.setattr(test_matrix_elements, "zero_widths", lambda _proc: zero_widths)
    for leg, pdg in enumerate(proc.pdg_ids):
        if pdg in (21, 22):
            assert_gauge_invariant(proc, momenta, leg, monkeypatch)


def test_gluino_pair_is_symmetric_under_exchange_of_the_identical_gluinos(gluino_case):
    """Identical Majorana fermions in the final state: |M|^2 is symmetric under swapping them
    (a wrong relative fermion-flow sign between t- and u-channel gluino exchange breaks this)."""
    proc, momenta, _ = gluino_case
    assert proc.pdg_ids[2] == proc.pdg_ids[3] == 1000021
    swapped = momenta[:, [0, 1, 3, 2]]
    np.testing.assert_allclose(proc.matrix_element(swapped), proc.matrix_element(momenta), rtol=1e-12)


def test_negative_mass_neutralino_decays_at_rest(generate_package):
    """SPS1a's n3 has a negative mass (Mneu3 = -363.756, SLHA's sign with a real mixing matrix). Its decay
    at rest, where `widths: auto` evaluates it, is the limit of the boosted decay (it was 0: the rest-frame
    spinor vanished with E + m = 0), and the tree-level width from n3's two-body decays is the card's
    DECAY 1000025 1.915985 (another program's, from the unrounded spectrum: 1.1e-6 apart; it was 0)."""
    decay = generate_package("ufo_mssm", "n3 > n1 e+ e-", "mssm_n3_n1epem")
    masses = np.asarray(decay.masses())
    assert masses[0] < 0
    parent = abs(masses[0])
    daughters = collision_points(parent, (0.0, 0.0), masses[1:], np.random.default_rng(5), 3)[:, 2:]
    # collision_points puts the daughters in the rest frame of a pair of massless beams of energy parent/2
    at_rest = np.concatenate([np.tile([[[parent, 0.0, 0.0, 0.0]]], (3, 1, 1)), daughters], axis=1)
    values = np.asarray(decay.matrix_element(at_rest))
    assert np.all(values > 0)
    boosted = transform(at_rest, boost_matrix([0.3, -0.2, 0.5]))
    np.testing.assert_allclose(values, np.asarray(decay.matrix_element(boosted)), rtol=1e-10)
    width = generate_package("ufo_mssm", "e+ e- > n1 n3", "mssm_n3_width", widths=["n3"])
    assert float(width.widths()["Wneu3"]) == pytest.approx(1.915985, rel=2e-6)


def test_lhe_mass_column_of_a_negative_mass_neutralino(tmp_path):
    """The LHE file's mass column holds the physical mass |m| (MadGraph's pmass is ABS of the parameter),
    which E^2 - p^2 of the written momenta reproduces; it was the signed -363.756 for SPS1a's n3. The
    events reweight to the other sign of that mass (the shell p^2 = m^2 stays; it was refused as a moved
    mass): each weight is the event's |M|^2 at the flipped sign over its own."""
    import pylhe
    import yaml

    from madgen import load
    from madgen.api import launch
    from madgen.inference.reweight import reweight

    card = tmp_path / "n1n3.yaml"
    card.write_text(yaml.safe_dump({"model": "ufo_mssm", "process": "e+ e- > n1 n3", "name": "mssm_ee_n1n3",
                                    "output": str(tmp_path / "package")}))
    launch(card, {"sqrt_s": 600.0, "n_events": 20, "seed": 1, "iterations": 2, "points_per_iteration": 2000,
                  "lhe": True}, output=tmp_path / "run", log=lambda *_: None, progress=False)
    lines = [line.split() for line in (tmp_path / "run" / "events.lhe").read_text().splitlines()]
    n3 = [line for line in lines if len(line) == 13 and line[0] == "1000025"]
    assert len(n3) == 20
    for line in n3:
        px, py, pz, energy, mass = (float(x) for x in line[6:11])
        assert mass == pytest.approx(363.756, rel=1e-9)
        assert math.sqrt(energy**2 - px**2 - py**2 - pz**2) == pytest.approx(mass, rel=1e-6)
    package = load(tmp_path / "package")
    reweight(tmp_path / "run" / "events.lhe", package, [{"Mneu3": 363.756}], output=tmp_path / "flipped.lhe",
             log=lambda *_: None)
    events = list(pylhe.LHEFile.fromfile(str(tmp_path / "flipped.lhe")).events)
    momenta = np.asarray([[[p.e, p.px, p.py, p.pz] for p in event.particles] for event in events])
    ratio = np.asarray(package.matrix_element(momenta, {"Mneu3": 363.756})) / np.asarray(package.matrix_element(momenta))
    weights = np.asarray([event.weights["rwgt_1"] / event.eventinfo.weight for event in events])
    assert np.all(np.abs(ratio - 1) > 1e-3)  # the sign matters to |M|^2 of e+ e- > n1 n3
    np.testing.assert_allclose(weights, ratio, rtol=1e-6)  # the LHE file's 8 digits
