"""Auto widths (``widths: auto``, ``DECAY pdg auto``): tree-level widths as functions of the parameters.

References nobody here generated: textbook closed forms written from the model's own input
parameters (the SM UFO computes MW, sw, ee, g from aEWM1, Gf, MZ), the partial-width formulas of
the UFO's own ``decays.py`` (FeynRules), an independent one-dimensional integral (scipy) for the
three-body top decay below threshold, SMEFTsim's linear width shift ``dWZ`` for the Wilson
coefficients, and central finite differences for every gradient.
"""

import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

import madgen
from madgen.errors import CardError, ModelError, ParamCardError
from madgen.model import load_model
from madgen.model.param_card import parameters_from_card, read_param_card
from madgen.model.restrict import card_values, numeric_values
from madgen.process.card import parse_process_card
from physics import collision_points

SM_DEFAULTS = {"aEWM1": 132.507, "Gf": 1.16639e-5, "MZ": 91.188, "MT": 173.0, "MB": 4.7, "MTA": 1.777,
               "MH": 125.0, "ymb": 4.7, "ymt": 173.0, "ymtau": 1.777, "WW": 2.0476}


def sm_couplings(p):
    """MW, sw^2, e^2 and g^2 of the SM UFO's scheme from its inputs (aEWM1, Gf, MZ)."""
    aew, mz = 1.0 / p["aEWM1"], p["MZ"]
    mw = math.sqrt(mz ** 2 / 2 + math.sqrt(mz ** 4 / 4 - aew * math.pi * mz ** 2 / (p["Gf"] * math.sqrt(2))))
    sw2 = 1 - mw ** 2 / mz ** 2
    e2 = 4 * math.pi * aew
    return mw, sw2, e2, e2 / sw2


def kallen(a, b, c):
    return a * a + b * b + c * c - 2 * (a * b + a * c + b * c)


def top_width_to_b_vector(p, mv2):
    """Γ(t > b V) for a W-like vector of mass^2 mv2 (left-handed g/√2 coupling, |Vtb| = 1, both masses)."""
    _, _, _, g2 = sm_couplings(p)
    mt, b, w = p["MT"], (p["MB"] / p["MT"]) ** 2, mv2 / p["MT"] ** 2
    return g2 / (64 * math.pi) * mt ** 3 / mv2 * math.sqrt(kallen(1, w, b)) * ((1 - b) ** 2 + w * (1 + b) - 2 * w * w)


def z_to_fermions(p, colours, t3, charge, mass):
    """Γ(Z > f f~) = N_c g_Z^2 M_Z / (48π) β [g_V^2 (1 + 2x) + g_A^2 (1 - 4x)], g_V = T3 - 2Q sw^2, g_A = T3."""
    _, sw2, e2, _ = sm_couplings(p)
    gz2, x = e2 / (sw2 * (1 - sw2)), (mass / p["MZ"]) ** 2
    gv, ga = t3 - 2 * charge * sw2, t3
    return colours * gz2 * p["MZ"] / (48 * math.pi) * math.sqrt(1 - 4 * x) * (gv ** 2 * (1 + 2 * x) + ga ** 2 * (1 - 4 * x))


def w_to_fermions(p, colours, mass_up, mass_down):
    """Γ(W+ > f f~') with |V| = 1: N_c g^2 / (48π MW^2) |p*| [2 MW^2 - m1^2 - m2^2 - (m1^2 - m2^2)^2 / MW^2]."""
    mw, _, _, g2 = sm_couplings(p)
    a, b = mass_up ** 2, mass_down ** 2
    pstar = math.sqrt(kallen(mw ** 2, a, b)) / (2 * mw)
    return colours * g2 / (48 * math.pi * mw ** 2) * pstar * (2 * mw ** 2 - a - b - (a - b) ** 2 / mw ** 2)


def higgs_to_bb(p):
    """Γ(H > b b~) = 3 y_b^2 M_H β^3 / (16π), y_b = √2 ymb / v, v = 2 MW sw / e, β = (1 - 4 MB^2/MH^2)^(1/2)."""
    mw, sw2, e2, _ = sm_couplings(p)
    vev = 2 * mw * math.sqrt(sw2) / math.sqrt(e2)
    yb = math.sqrt(2) * p["ymb"] / vev
    beta = math.sqrt(1 - 4 * p["MB"] ** 2 / p["MH"] ** 2)
    return 3 * yb ** 2 * p["MH"] * beta ** 3 / (16 * math.pi)


def relative(a, b):
    return abs(float(a) / float(b) - 1)


# --------------------------------------------------------------------------- card and param card


@pytest.mark.parametrize("text, expected", [
    ("widths: auto", ("auto",)),
    ("widths: Auto", ("auto",)),
    ("widths: [t, z, w+, h]", ("t", "z", "w+", "h")),
    ("widths: {t: auto, z: auto}", ("t", "z")),
    ("widths: []", ()),
])
def test_card_widths(text, expected):
    card = parse_process_card(f"model: sm\nprocess: e+ e- > mu+ mu-\n{text}\n")
    assert card.widths == expected


@pytest.mark.parametrize("text, words", [
    ("widths: all", ["'widths'", "'auto'"]),
    ("widths: {t: 1.5}", ["'widths'", "parameters"]),
    ("widths: [auto, t]", ["'widths'", "stands alone"]),
    ("widths: [t, 3]", ["'widths'", "particle names"]),
    ("widths: 2.0", ["'widths'"]),
])
def test_card_widths_errors(text, words):
    with pytest.raises(CardError) as error:
        parse_process_card(f"model: sm\nprocess: e+ e- > mu+ mu-\n{text}\n")
    for word in words:
        assert word in str(error.value)


def test_param_card_decay_auto():
    card = read_param_card("Block MASS\n  6 1.730000e+02\nDECAY 6 Auto # WT\n  1.0 2 5 24\nDECAY 23 2.4952\n"
                           "DECAY 25 auto\n")
    assert dict(card.auto_decays) == {6: 3, 25: 6}
    assert dict(card.decays) == {23: 2.4952}
    assert card.get("DECAY", (6,)) is None


@pytest.mark.parametrize("text, line", [("DECAY 25 automatic\n", 1), ("Block MASS\n  6 auto\n", 2)])
def test_param_card_strict_elsewhere(text, line):
    with pytest.raises(ParamCardError, match=f"<text>:{line}:"):
        read_param_card(text)


def test_parameters_from_card_leaves_auto_widths_out():
    model = load_model("sm")
    from madgen.model import write_param_card

    text = write_param_card(model).replace("DECAY     23 2.441404e+00", "DECAY 23 auto")
    values = parameters_from_card(model, read_param_card(text))
    assert "WZ" not in values and values["WT"] == 1.4915


# --------------------------------------------------------------------------- SM widths, closed forms


@pytest.fixture(scope="module")
def sm_widths(generate_package):
    """Widths of t, Z, W and H (e+ e- > mu+ mu- is only the host process)."""
    return generate_package("sm", "e+ e- > mu+ mu-", "widths_sm", widths=["t", "z", "w+", "h"])


@pytest.fixture(scope="module")
def partial(sm_widths):
    """partial(parameters) -> {width: {channel: float}} (one compiled function for all points)."""
    def evaluate(parameters=None):
        values = sm_widths.widths(parameters, partial=True)
        return {w: {ch: float(v) for ch, v in channels.items()} for w, channels in values.items()}
    return evaluate


def test_metadata_and_no_width_inputs(sm_widths):
    auto = sm_widths.metadata["auto_widths"]
    assert {name: entry["particle"] for name, entry in auto.items()} == {"WT": "t", "WZ": "Z", "WW": "W+", "WH": "H"}
    assert [c["process"] for c in auto["WT"]["channels"]] == ["t > b W+"]
    assert not {"WT", "WZ", "WW", "WH"} & set(sm_widths.default_parameters())


def test_top_width(partial):
    for point in ({}, {"MT": 180.0, "MB": 4.2}):
        p = {**SM_DEFAULTS, **point}
        mw, *_ = sm_couplings(p)
        assert partial(point)["WT"] == {"t > b W+": pytest.approx(top_width_to_b_vector(p, mw ** 2), rel=1e-10)}


def test_z_width(partial):
    p = SM_DEFAULTS
    expected = (3 * z_to_fermions(p, 1, 0.5, 0, 0) + 2 * z_to_fermions(p, 1, -0.5, -1, 0)
                + z_to_fermions(p, 1, -0.5, -1, p["MTA"]) + 2 * z_to_fermions(p, 3, -0.5, -1 / 3, 0)
                + z_to_fermions(p, 3, -0.5, -1 / 3, p["MB"]) + 2 * z_to_fermions(p, 3, 0.5, 2 / 3, 0))
    channels = partial()["WZ"]
    assert relative(sum(channels.values()), expected) < 1e-10
    assert relative(channels["Z > b b~"], z_to_fermions(p, 3, -0.5, -1 / 3, p["MB"])) < 1e-10
    assert channels["Z > W+ W-"] == 0.0 and channels["Z > t t~"] == 0.0  # closed


def test_w_width(partial):
    p = SM_DEFAULTS
    expected = 2 * w_to_fermions(p, 1, 0, 0) + w_to_fermions(p, 1, 0, p["MTA"]) + 2 * w_to_fermions(p, 3, 0, 0)
    channels = partial()["WW"]
    assert relative(sum(channels.values()), expected) < 1e-10
    assert channels["W+ > t b~"] == 0.0


def test_higgs_to_bb(partial):
    for point in ({}, {"ymb": 4.2, "MB": 4.9, "MH": 130.0}):  # Yukawa and kinematic mass kept apart
        assert relative(partial(point)["WH"]["H > b b~"], higgs_to_bb({**SM_DEFAULTS, **point})) < 1e-10


def ufo_partial_widths(parameters):
    """{(particle, frozenset(daughters)): Γ} from ufo_sm's decays.py (FeynRules), evaluated numerically
    for the full model at the restrict_default card values overridden by ``parameters``."""
    import cmath

    import ufo_sm
    import ufo_sm.decays

    full = load_model("sm-full")
    external = card_values(full, read_param_card(Path(ufo_sm.__file__).parent / "restrict_default.dat"))
    external.update(parameters)
    values = numeric_values(full.internal_parameters, (), external) | external
    namespace = {"cmath": cmath, "complexconjugate": lambda z: complex(z).conjugate(), "abs": abs, **values}
    result = {}
    for decay in ufo_sm.decays.all_decays:
        for daughters, formula in decay.partial_widths.items():
            try:
                value = complex(eval(formula, namespace))  # noqa: S307 - the UFO's own published formulas
            except ZeroDivisionError:
                continue  # decays of particles massless in this restriction (c, e-, ...)
            result[decay.particle.name, frozenset(d.name for d in daughters)] = value
    return result


@pytest.mark.parametrize("point", [{}, {"MH": 400.0, "MT": 170.0}], ids=["default", "heavy_higgs"])
def test_against_ufo_decays_py(partial, point):
    """Every channel also in decays.py: same Γ where open (H > W+ W-, Z Z, t t~ open at MH = 400
    at run time), exactly 0 where closed."""
    ours = partial(point)
    theirs = ufo_partial_widths({**SM_DEFAULTS, **point})
    compared = 0
    for width, channels in ours.items():
        for channel, value in channels.items():
            particle, daughters = channel.split(" > ")
            key = (particle, frozenset(daughters.split()))
            if key not in theirs:
                continue
            reference = theirs[key]
            if not (reference.imag == 0 and reference.real > 0):  # closed: the formula is unphysical there
                assert value == 0.0, channel
                continue
            assert relative(value, reference.real) < 1e-10, (channel, value, reference)
            compared += 1
    assert compared == (22 if point else 19)  # Z: 11, W+: 5, t: 1, H: 2 (+ W+ W-, Z Z, t t~ at MH = 400)


# --------------------------------------------------------------------------- gradients


def central_difference(function, theta, name, relative_step=1e-5):
    """Central difference; truncation error ~ (step / scale)^2, so near a pole (scale Γ) use ~1e-6."""
    step = relative_step * abs(theta[name])
    return (function({**theta, name: theta[name] + step}) - function({**theta, name: theta[name] - step})) / (2 * step)


def test_top_width_gradient(generate_package):
    proc = generate_package("sm", "e+ e- > mu+ mu-", "widths_top", widths=["t"])
    theta = proc.default_parameters()
    gradient = jax.grad(lambda t: proc.widths(t)["WT"])(theta)
    scale = max(abs(float(gradient[n]) * theta[n]) for n in theta)
    for name in ("MT", "MB", "MZ", "aEWM1", "Gf"):
        numeric = central_difference(lambda t: float(proc.widths(t)["WT"]), theta, name)
        assert abs(float(gradient[name]) - numeric) <= 1e-6 * scale / theta[name], name
    for name in ("ymb", "ymt", "aS", "MH", "WW", "WZ"):
        assert float(gradient[name]) == 0.0  # the tree-level t > b W+ does not involve them


@pytest.mark.slow  # the forward Jacobian of four widths (~20 decay modules) compiles for minutes on a loaded CPU
def test_all_width_gradients(sm_widths):
    theta = sm_widths.default_parameters()
    names = ("MT", "MB", "MZ", "MH", "MTA", "aEWM1", "Gf", "ymb", "ymtau")
    jacobian = jax.jacfwd(lambda sub: sm_widths.widths({**theta, **sub}))({n: theta[n] for n in names})
    for width, row in jacobian.items():
        for name in names:
            numeric = central_difference(lambda t: float(sm_widths.widths(t)[width]), theta, name)
            assert abs(float(row[name]) - numeric) <= 1e-6 * abs(numeric) + 1e-12, (width, name)


# --------------------------------------------------------------------------- three-body


@pytest.fixture(scope="module")
def light_top(generate_package):
    """MT = 60 GeV: t > b W+ is closed, so the top decays through W* (three-body)."""
    return generate_package("sm", "e+ e- > mu+ mu-", "widths_light_top", widths=["t"], parameters={"MT": 60.0})


def test_three_body_top_width(light_top):
    """Each t > f f~' b channel against ∫ dq^2/π Γ(t > b W*(q)) q Γ(W*(q) > f f~') / |q^2 - MW^2 + i MW ΓW|^2,
    exact for massless f f~' (the current is conserved); the tau is made massless at run time."""
    from scipy.integrate import quad

    point = {"MTA": 0.0}
    channels = light_top.widths(point, partial=True)["WT"]
    assert light_top.metadata["auto_widths"]["WT"]["n_body"] == 3
    assert set(channels) == {"t > u d~ b", "t > c s~ b", "t > ve e+ b", "t > vm mu+ b", "t > vt ta+ b"}
    p = {**SM_DEFAULTS, "MT": 60.0}
    mw, _, _, g2 = sm_couplings(p)

    def integrand(q2):
        propagator = (q2 - mw ** 2) ** 2 + (mw * p["WW"]) ** 2
        return top_width_to_b_vector(p, q2) * q2 * g2 / (48 * math.pi) / propagator / math.pi

    lepton, _ = quad(integrand, 0, (p["MT"] - p["MB"]) ** 2, epsabs=0, epsrel=1e-13, limit=200)
    for channel, value in channels.items():
        colours = 3 if "~" in channel.split()[3] else 1
        assert relative(value, colours * lepton) < 1e-10, channel


@pytest.mark.slow  # the backward pass through four three-body modules compiles for a minute or more
def test_three_body_gradient(light_top):
    theta = {**light_top.default_parameters(), "MTA": 0.0}
    gradient = jax.grad(lambda t: light_top.widths(t)["WT"])(theta)
    for name in ("MT", "MB", "WW"):
        numeric = central_difference(lambda t: float(light_top.widths(t)["WT"]), theta, name)
        assert abs(float(gradient[name]) / numeric - 1) < 1e-6, name


# --------------------------------------------------------------------------- bad input


def _generate(tmp_path, **card):
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({"model": "sm", "process": "e+ e- > mu+ mu-", "name": "w", **card}))
    return madgen.generate(path, output=tmp_path / "out", force=True)


@pytest.mark.parametrize("card, words", [
    ({"widths": ["zz"]}, ["key 'widths'", "unknown particle 'zz'"]),
    ({"widths": ["e-"]}, ["'e-'", "no width parameter", "sm-full"]),
    ({"widths": ["g"]}, ["'g'", "no width parameter"]),
    ({"widths": ["t"], "parameters": {"MT": 4.0}}, ["'t'", "no decay channel", "open", "MT = 4"]),
    ({"widths": ["z"], "parameters": {"WZ": 2.5}}, ["'parameters'", "WZ", "also computed"]),
    ({"widths": "auto", "parameters": {"WZ": 2.5}}, ["'parameters'", "WZ", "also computed"]),
])
def test_bad_widths(tmp_path, card, words):
    with pytest.raises(CardError) as error:
        _generate(tmp_path, **card)
    for word in words:
        assert word in str(error.value)


def test_bad_param_card_decay(tmp_path):
    model = load_model("sm")
    from madgen.model import write_param_card

    card = tmp_path / "param_card.dat"
    card.write_text(write_param_card(model) + "DECAY 999 auto\n")
    with pytest.raises(ParamCardError, match=r"param_card.dat:\d+ \(DECAY 999 auto\).*no particle with PDG code 999"):
        _generate(tmp_path, param_card=str(card))
    written = write_param_card(model)  # it lists the electron's zero width among the dependent widths
    assert "DECAY     11 0.000000e+00 # ZERO (e-)" in written
    card.write_text(written.replace("DECAY     11 0.000000e+00", "DECAY 11 auto"))
    with pytest.raises(CardError, match=r"DECAY 11 auto.*'e-' has no width parameter"):
        _generate(tmp_path, param_card=str(card))


def test_param_card_auto_equals_card_widths(tmp_path):
    from madgen.model import write_param_card

    card = tmp_path / "param_card.dat"
    card.write_text(write_param_card(load_model("sm")).replace("DECAY     23 2.441404e+00", "DECAY 23 Auto"))
    by_param_card = _generate(tmp_path, param_card=str(card)).path
    texts = {name: (by_param_card / name).read_text() for name in ("parameters.py", "widths.py", "D1_Z_WpWm.py")}
    by_widths = _generate(tmp_path, widths=["z"]).path
    assert texts == {name: (by_widths / name).read_text() for name in texts}  # also: byte-deterministic
    assert json.loads((by_widths / "metadata.json").read_text())["auto_widths"]["WZ"]["requested_by"] == "widths"


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def z_pole(generate_package):
    """e+ e- > mu+ mu- with the Z width computed, and the same process with fixed widths (the Z
    alone: every width of the model would compile all of its decay modules into the kernel)."""
    auto = generate_package("sm", "e+ e- > mu+ mu-", "widths_ee_auto", widths=["z"])
    fixed = generate_package("sm", "e+ e- > mu+ mu-", "widths_ee_fixed")
    momenta = collision_points(91.0, (0, 0), (0, 0), np.random.default_rng(5), 3)
    return auto, fixed, momenta


def test_auto_package(z_pole):
    auto, _, momenta = z_pole
    assert auto.metadata["auto_widths"]["WZ"]["particle"] == "Z"
    header = (auto._dir / "parameters.py").read_text().splitlines()[3]
    assert header.startswith("# Auto widths") and "WZ (Z)" in header
    assert "WZ" not in auto.default_parameters()
    with pytest.raises(ValueError, match="WZ.*computed from the other parameters") as error:
        auto.matrix_element(momenta, {"WZ": 2.5})
    assert type(error.value).__name__ == "InputShapeError"  # the generated package's own class


def test_auto_width_matches_fixed_width_package(z_pole):
    auto, fixed, momenta = z_pole
    width = float(auto.widths()["WZ"])
    np.testing.assert_allclose(auto.matrix_element(momenta), fixed.matrix_element(momenta, {"WZ": width}),
                               rtol=1e-12)
    assert relative(fixed.matrix_element(momenta)[0], auto.matrix_element(momenta)[0]) > 1e-5  # WZ card differs


@pytest.mark.slow  # three gradients of parameter modules with widths compile for a minute; d Gamma / d theta itself is checked by test_top_width_gradient
def test_gradient_sees_width_derivative(z_pole):
    """Near the pole d|M|^2/dMZ = ∂|M|^2/∂MZ + ∂|M|^2/∂WZ dΓZ/dMZ; jax.grad of the auto package
    agrees with central differences of its |M|^2 and with that decomposition."""
    auto, fixed, momenta = z_pole
    theta = auto.default_parameters()

    def me2(t):
        return float(auto.matrix_element(momenta, t).sum())

    gradient = jax.grad(lambda t: auto.matrix_element(momenta, t).sum())(theta)
    for name in ("MZ", "aEWM1"):  # steps of 1e-6 relative: 1e-4 GeV << ΓZ
        assert relative(gradient[name], central_difference(me2, theta, name, 1e-6)) < 1e-6, name
    width = float(auto.widths()["WZ"])
    fixed_theta = {**fixed.default_parameters(), "WZ": width}
    fixed_gradient = jax.grad(lambda t: fixed.matrix_element(momenta, t).sum())(fixed_theta)
    dwidth_dmz = central_difference(lambda t: float(auto.widths(t)["WZ"]), theta, "MZ", 1e-6)
    expected = float(fixed_gradient["MZ"]) + float(fixed_gradient["WZ"]) * dwidth_dmz
    assert relative(gradient["MZ"], expected) < 1e-6
    assert relative(gradient["MZ"], fixed_gradient["MZ"]) > 1e-3  # the width's share is not negligible


# --------------------------------------------------------------------------- SMEFTsim


SMEFTSIM = Path(__file__).resolve().parents[2] / "shared" / "models" / "SMEFTsim_topU3l_MwScheme_UFO"


@pytest.fixture(scope="module")
def smeftsim_z_derivatives(generate_package):
    """ΓZ and d ΓZ / dc at c = 0 for the coefficients below, from SMEFTsim with ``widths: [z]``."""
    proc = generate_package(f"{SMEFTSIM}-massless", "e+ e- > mu+ mu- NP<=1", "widths_smeftsim", widths=["z"])
    theta = proc.default_parameters()
    zero = {**theta, **{name: 0.0 for name in theta if name.startswith("c")}}
    derivatives = jax.jacfwd(lambda sub: proc.widths({**zero, **sub})["WZ"])({c: 0.0 for c in COEFFICIENTS})
    return float(proc.widths(zero)["WZ"]), {c: float(v) for c, v in derivatives.items()}


COEFFICIENTS = ["cHe", "cHl1", "cHl3", "cHj3", "cHWB", "cHDD", "cHu", "cHd", "cHbq", "cHQ1", "cbWRe", "cll1"]


@pytest.mark.parametrize("coefficient", COEFFICIENTS)
def test_smeftsim_z_width_wilson_coefficients(smeftsim_z_derivatives, coefficient):
    """d ln ΓZ / dc at c = 0 equals SMEFTsim's own linear shift dWZ / WZ per unit c (the model's
    tree-level formula, linear in the coefficients; the massless restriction keeps MB)."""
    width, derivatives = smeftsim_z_derivatives
    model = load_model(f"{SMEFTSIM}-massless")
    external = {p.name: float(p.value) for p in model.external_parameters}
    external.update({name: 0.0 for name in external if name.startswith("c")} | {coefficient: 1.0})
    shift = numeric_values(model.internal_parameters, (), external)["dWZ"].real / external["WZ"]
    assert shift != 0.0
    assert relative(derivatives[coefficient] / width, shift) < 1e-10


def test_auto_without_propagator_widths(tmp_path, caplog):
    result = _generate(tmp_path, process="e+ e- > a a", widths="auto")
    assert not (result.path / "widths.py").exists()
    assert "uses no width in a propagator" in caplog.text


def test_launch_does_not_reuse_a_package_with_other_widths(tmp_path, monkeypatch):
    from madgen.api import process_for_run
    from madgen.errors import OutputError

    monkeypatch.chdir(tmp_path)
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({"model": "sm", "process": "e+ e- > mu+ mu-", "name": "w"}))
    madgen.generate(card)
    card.write_text(yaml.safe_dump({"model": "sm", "process": "e+ e- > mu+ mu-", "name": "w", "widths": ["t"]}))
    with pytest.raises(OutputError, match="regenerate"):
        process_for_run(card)


def test_massless_particle_with_a_width_parameter():
    """A width parameter on a massless particle (possible in a UFO) cannot be computed: no channel opens."""
    import dataclasses

    from madgen.model.types import ZERO
    from madgen.widths import WidthRequest, check_decayable

    sm = load_model("sm")
    massless_z = dataclasses.replace(sm, particles=tuple(
        dataclasses.replace(p, mass=ZERO) if p.name == "Z" else p for p in sm.particles))
    with pytest.raises(CardError, match="'Z' is massless"):
        check_decayable(massless_z, WidthRequest("Z", "card.yaml, key 'widths'", "widths"))


def test_example_card(tmp_path):
    card = Path(__file__).resolve().parents[1] / "examples" / "ee_mumu_auto_width.yaml"
    result = madgen.generate(card, output=tmp_path / "out")
    assert json.loads((result.path / "metadata.json").read_text())["auto_widths"]["WZ"]["particle"] == "Z"


def test_param_card_carries_the_computed_widths_and_the_point(sm_widths):
    """Process.param_card (the LHE's <slha>): MadGraph's layout, read back by madgen's own param-card reader,
    with the parameters of the point asked for and the widths the package computes there (not the
    placeholders of the restricted model)."""
    from madgen.model import load_model, parameters_from_card, read_param_card

    point = {"MT": 172.5, "aS": 0.1}
    card = read_param_card(sm_widths.param_card(point))
    values = parameters_from_card(load_model("sm"), card)
    widths = {name: float(value) for name, value in sm_widths.widths(point).items()}
    assert values == {**sm_widths.default_parameters(), **point, **widths}
    assert widths["WT"] != 1.4915  # the restricted model's value
    # the package's own card says the widths are computed, as a MadGraph card does before its run
    static = (sm_widths._dir / "param_card.dat").read_text()
    assert "DECAY      6 auto # WT (t)" in static and "DECAY     23 auto # WZ (Z)" in static
    assert card.get("MASS", (6,)) == 172.5 and card.get("DECAY", (6,)) == widths["WT"]
    with pytest.raises(madgen.errors.InputShapeError, match="'MT' must be one real number"):
        sm_widths.param_card({"MT": np.array([172.0, 173.0])})


def test_param_card_lists_the_dependent_masses_at_the_point(sm_widths):
    """As in MadGraph's cards, the masses and widths that are not inputs (MW in the SM's Gmu scheme, the
    massless particles' zeros) follow the inputs, at the point asked for: Pythia reads the spectrum from
    the LHE's <slha>. MW from the closed form of the scheme, not from the package."""
    from madgen.model import load_model, parameters_from_card, read_param_card

    point = {"MZ": 91.0, "aEWM1": 128.0}
    text = sm_widths.param_card(point)
    card = read_param_card(text)
    defaults = sm_widths.default_parameters()
    alpha, gf = 1 / point["aEWM1"], defaults["Gf"]
    mz2 = point["MZ"] ** 2
    mw = np.sqrt(mz2 / 2 + np.sqrt(mz2 ** 2 / 4 - np.pi * alpha * mz2 / (np.sqrt(2) * gf)))
    assert card.get("MASS", (24,)) == pytest.approx(mw, rel=1e-14)
    assert card.get("MASS", (24,)) != read_param_card(sm_widths.param_card()).get("MASS", (24,))
    for massless in (1, 2, 11, 12, 21, 22):
        assert card.get("MASS", (massless,)) == 0.0 and card.get("DECAY", (massless,)) == 0.0
    assert card.get("DECAY", (5,)) == 0.0  # the restricted model's b quark has width ZERO
    assert text.index("# MW (W+)") < text.index("INFORMATION FOR DECAY")
    # the card still reads as the same point: the dependent entries are skipped, the restriction's zeros kept
    assert {k: v for k, v in parameters_from_card(load_model("sm"), card).items() if k in point} == point


def test_widths_follow_parameters_given_per_event(generate_package):
    """Reverse-mode parameter gradients give each event its own copy of theta, so the auto widths are computed
    from per-event masses and couplings (jax.vmap over the events); that crashed with a broadcasting error
    for three or more parameters. Reverse and forward mode agree, and both agree with central finite
    differences of log|M|^2 whose Z width follows MZ, Gf and aEWM1."""
    from madgen.inference import parameter_gradient

    proc = generate_package("sm", "e+ e- > mu+ mu-", "widths_ee_auto", widths=["z"])
    e, c, s = 45.0, 0.3, math.sqrt(1 - 0.09)
    momenta = np.array([[[e, 0, 0, e], [e, 0, 0, -e], [e, e * s, 0, e * c], [e, -e * s, 0, -e * c]],
                        [[50.0, 0, 0, 50.0], [50.0, 0, 0, -50.0], [50.0, 0, 50.0 * s, -50.0 * c],
                         [50.0, 0, -50.0 * s, 50.0 * c]]])
    names = ["MZ", "Gf", "aEWM1"]
    reverse = parameter_gradient(proc, momenta, names, mode="reverse")
    np.testing.assert_allclose(reverse, parameter_gradient(proc, momenta, names, mode="forward"), rtol=1e-10)
    base = {k: float(v) for k, v in proc.default_parameters().items()}
    for column, name in enumerate(names):
        step = 1e-5 * base[name]
        up, down = ({**base, name: base[name] + sign * step} for sign in (1, -1))
        central = (np.log(np.asarray(proc.matrix_element(momenta, up)))
                   - np.log(np.asarray(proc.matrix_element(momenta, down)))) / (2 * step)
        np.testing.assert_allclose(reverse[:, column], central, rtol=1e-6, atol=1e-9 * np.abs(central).max())


def test_auto_width_in_a_squared_order_selection_is_named(tmp_path, caplog):
    """An NP^2==1-like selection with a computed width: the width holds every order of the decays, so the
    selected terms are not of that order in the couplings (helper report: SMEFTsim's 'linear' e+ e- > mu+ mu-
    with widths: auto was 2.18 instead of 2 times itself at twice the coefficient). Named, not refused."""
    _generate(tmp_path, process="e+ e- > mu+ mu- QED^2==4", widths=["z"])
    assert "WZ" in caplog.text and "QED^2==4" in caplog.text and "fixed values" in caplog.text
    caplog.clear()
    _generate(tmp_path, process="e+ e- > mu+ mu-", widths=["z"])  # the whole |M|^2: nothing to say
    assert "linear" not in caplog.text
