"""Processes that change the number of fermions minus antifermions, in a model whose vertices do so without
a Majorana particle (tests/diquark_model.py: colour-sextet and triplet diquarks). MadGraph generates them
(its ``check_majoranas`` looks at the vertices, not only at the particles); they were refused as "fermion
number is not conserved", and the diquarks' widths called their open decays closed. Checked against the
closed forms of the model's docstring."""

import math

import numpy as np
import pytest

from diquark_model import LAM6, LAMT, MS6, MST, build

from madgen.model import load_model
from madgen.process.expand import model_violates_fermion_number


@pytest.fixture(scope="module")
def diquark_model(tmp_path_factory):
    return str(build(tmp_path_factory.mktemp("diquark") / "sm_diquark"))


def at_rest(mass: float) -> np.ndarray:
    """Two massless partons along the beam axis that make a particle of ``mass`` at rest."""
    e = mass / 2
    return np.array([[[e, 0, 0, e], [e, 0, 0, -e], [mass, 0, 0, 0]]])


def test_the_model_is_seen_to_change_fermion_number(diquark_model):
    assert model_violates_fermion_number(load_model(diquark_model))
    assert not model_violates_fermion_number(load_model("sm"))


@pytest.mark.parametrize("process, coupling, mass", [("u u > s6", LAM6, MS6), ("u d > st", LAMT, MST),
                                                     ("d u > st", LAMT, MST)])
def test_two_quarks_make_a_diquark(generate_package, diquark_model, process, coupling, mass):
    """|M|^2 of q q' > S = lam^2 s / 6 (spin trace s, colour sum 6, averaged over 36 initial states)."""
    package = generate_package(diquark_model, process, "dq_" + process.replace(" ", "").replace(">", "_to_"))
    value = float(package.matrix_element(at_rest(mass))[0])
    assert value == pytest.approx(coupling**2 * mass**2 / 6, rel=1e-12)


def test_the_diquark_widths_are_their_open_decays(generate_package, diquark_model):
    """widths: auto computes S > q q' (refused as closed before): lam^2 M / (32 pi) and lam^2 M / (8 pi)."""
    package = generate_package(diquark_model, "u u > s6 > u u", "dq_s6_widths", widths=["s6", "st"])
    widths = {name: float(value) for name, value in package.widths().items()}
    assert widths["WS6"] == pytest.approx(LAM6**2 * MS6 / (32 * math.pi), rel=1e-12)
    assert widths["WST"] == pytest.approx(LAMT**2 * MST / (8 * math.pi), rel=1e-12)
