"""The model stage: finding, importing, converting and restricting UFO models; parameter code."""

import shutil
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
import ufo_sm

from madgen.codegen.parameters import render_parameter_module
from madgen.errors import ModelError, RestrictionError
from madgen.model import load_model
from madgen.model.expressions import parse_expression
from madgen.model.restrict import numeric_values
from madgen.model.types import ZERO, Spin, parameter_symbol
from madgen.model.ufo import convert_orders, convert_vertex

SM_DIR = Path(ufo_sm.__file__).parent


@pytest.fixture(scope="module")
def sm():
    return load_model("sm")


@pytest.fixture(scope="module")
def sm_full():
    return load_model("sm-full")


@pytest.fixture(scope="module")
def mssm():
    start = time.perf_counter()
    model = load_model("mssm")
    assert time.perf_counter() - start < 30
    return model


def vertices_with(model, *names):
    key = sorted(names)
    return [v for v in model.vertices if sorted(v.particles) == key]


def copy_sm(tmp_path, name="mysm"):
    target = tmp_path / name
    shutil.copytree(SM_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    return target


# --------------------------------------------------------------------------- loading


def test_sm_default_restriction(sm):
    assert sm.name == "sm"
    assert sm.source == "ufo_sm"
    assert sm.restriction == "restrict_default.dat"
    assert len(sm.fingerprint) == 64
    names = {p.name for p in sm.particles}
    assert {"e-", "e+", "a", "Z", "W+", "W-", "g", "H", "t", "b", "ta-"} <= names
    assert not any(p.ghost or p.goldstone for p in sm.particles)
    assert not {"G0", "G+", "ghG", "ghA"} & names
    assert sm.particle("W+").spin is Spin.VECTOR and sm.particle("W+").antiname == "W-"
    assert sm.particle("e-").massless and sm.particle("e-").width == ZERO
    assert sm.particle("b").mass == "MB" and sm.particle("b").width == ZERO
    assert sm.particle("ta-").mass == "MTA" and sm.particle("ta-").width == ZERO  # DECAY 15 0
    assert sm.particle("W+").mass == "MW"  # internal
    assert sm.particle("t").majorana is False


def test_sm_default_vertices(sm):
    assert vertices_with(sm, "e+", "e-", "a")
    assert not vertices_with(sm, "e+", "e-", "H")  # yme = 0
    assert not vertices_with(sm, "c~", "c", "H")  # ymc = 0
    assert vertices_with(sm, "b~", "b", "H")
    assert vertices_with(sm, "ta+", "ta-", "H")
    assert vertices_with(sm, "u~", "d", "W+")
    assert not vertices_with(sm, "u~", "s", "W+")  # CKM off-diagonal
    assert not vertices_with(sm, "c~", "d", "W+")
    assert not vertices_with(sm, "t~", "s", "W+")
    # every term's coupling and Lorentz structure exists; no vanishing coupling left
    lorentz = {lz.name for lz in sm.lorentz}
    for v in sm.vertices:
        assert v.terms
        for t in v.terms:
            assert sm.coupling(t.coupling).value != 0
            assert t.lorentz in lorentz
    ggg = vertices_with(sm, "g", "g", "g")[0]
    assert ggg.order_dict == {"QCD": 1} and ggg.colour == ("f(1,2,3)",)
    assert sm.lorentz_structure("FFV1").structure == "Gamma(3,2,1)"
    assert sm.order_hierarchy() == {"QCD": 1, "QED": 2}


def test_sm_default_parameters(sm):
    external = [p.name for p in sm.external_parameters]
    assert external == ["aEWM1", "Gf", "aS", "ymb", "ymt", "ymtau", "MZ", "MT", "MB", "MH",
                        "MTA", "WZ", "WW", "WT", "WH"]
    assert sm.parameter("aEWM1").value == 132.507  # restriction card value, not the UFO default
    assert sm.parameter("aEWM1").lhablock == "SMINPUTS" and sm.parameter("aEWM1").lhacode == (1,)
    kinds = [p.external for p in sm.parameters]
    assert kinds == sorted(kinds, reverse=True)  # externals first
    seen = {p.name for p in sm.external_parameters}
    for p in sm.internal_parameters:  # dependency order
        assert {s.name for s in p.value.free_symbols} <= seen, p.name
        seen.add(p.name)
    assert sm.parameter("CKM1x1").value == 1
    assert sm.parameter("CKM1x2").value == 0
    assert sm.parameter("ye").value == 0
    assert sm.parameter("I1x33").value == sm.parameter("yb").symbol  # conj(CKM3x3) -> 1
    g = parameter_symbol("aS")
    assert sympy.simplify(sm.parameter("G").value - 2 * sympy.sqrt(sympy.pi * g)) == 0
    assert sm.coupling("GC_11").value == sympy.I * sm.parameter("G").symbol
    assert sm.coupling("GC_11").order_dict == {"QCD": 1}


def test_sm_full_is_unrestricted(sm_full):
    assert sm_full.name == "sm-full" and sm_full.restriction is None
    assert sm_full.parameter("aEWM1").value == 132.50698  # UFO default
    assert sm_full.parameter("lamWS").external
    assert vertices_with(sm_full, "e+", "e-", "H")
    assert vertices_with(sm_full, "u~", "s", "W+")
    assert sm_full.particle("e-").mass == "Me"
    assert not any(p.ghost or p.goldstone for p in sm_full.particles)
    assert not any({"G0", "G+", "G-", "ghG"} & set(v.particles) for v in sm_full.vertices)


def test_sm_no_b_mass():
    model = load_model("sm-no_b_mass")
    assert model.name == "sm-no_b_mass" and model.restriction == "restrict_no_b_mass.dat"
    assert model.particle("b").massless
    assert not vertices_with(model, "b~", "b", "H")
    assert vertices_with(model, "t~", "t", "H")
    assert "MB" not in {p.name for p in model.parameters}


def test_mssm(mssm):
    assert mssm.restriction == "restrict_default.dat"
    assert mssm.source == "ufo_mssm"
    names = {p.name for p in mssm.particles}
    assert {"n1", "x1+", "go", "sl1-", "su1", "h01", "A0", "H+"} <= names
    assert not any(p.ghost or p.goldstone for p in mssm.particles)
    assert mssm.particle("n1").majorana
    assert mssm.particle("n1").width == ZERO  # DECAY 1000022 0
    external = {p.name for p in mssm.external_parameters}
    assert "RRu1x1" not in external  # set to 1 in restrict_default: fixed like MG
    assert "RRu3x3" in external
    assert len(mssm.vertices) > 500


def test_load_directory_path_and_restriction_suffix(sm):
    model = load_model(str(SM_DIR))
    assert model.source == str(SM_DIR.resolve())
    assert model.restriction == "restrict_default.dat"
    assert [v.name for v in model.vertices] == [v.name for v in sm.vertices]
    assert model.parameters == sm.parameters
    full = load_model(str(SM_DIR) + "-full")
    assert full.restriction is None and full.name == f"{SM_DIR.name}-full"
    nob = load_model(str(SM_DIR) + "-no_b_mass")
    assert nob.particle("b").massless


def test_load_from_search_path(tmp_path, sm):
    copy_sm(tmp_path, "mysm")
    model = load_model("mysm-no_b_mass", search_paths=[tmp_path])
    assert model.name == "mysm-no_b_mass"
    assert model.particle("b").massless
    assert load_model("mysm", search_paths=[tmp_path]).parameters == sm.parameters


def test_load_model_is_cached(sm):
    assert load_model("sm") is sm


def test_unknown_model():
    with pytest.raises(ModelError) as info:
        load_model("nosuchmodel", search_paths=["/nonexistent/models"])
    message = str(info.value)
    assert "nosuchmodel" in message and "ufo_nosuchmodel" in message
    assert "/nonexistent/models/nosuchmodel" in message


def test_unknown_restriction():
    with pytest.raises(RestrictionError) as info:
        load_model("sm-nonsense")
    assert "restrict_nonsense.dat" in str(info.value)
    assert "no_b_mass" in str(info.value)


def test_broken_ufo_syntax_error_names_file_and_line(tmp_path):
    target = copy_sm(tmp_path, "broken")
    path = target / "parameters.py"
    lines = path.read_text().splitlines()
    lines.insert(20, "oops = = 1")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as info:
        load_model(str(target))
    assert f"{path}:21" in str(info.value)
    assert "SyntaxError" in str(info.value)


def test_broken_ufo_runtime_error_names_file_and_line(tmp_path):
    target = copy_sm(tmp_path, "broken2")
    path = target / "couplings.py"
    lines = path.read_text().splitlines()
    lines.insert(11, "x = undefined_name + 1")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as info:
        load_model(str(target) + "-full")
    assert f"{path}:12" in str(info.value) and "NameError" in str(info.value)


def test_bad_expression_names_parameter_and_file(tmp_path):
    target = copy_sm(tmp_path, "badexpr")
    path = target / "parameters.py"
    path.write_text(path.read_text().replace("value = '1/aEWM1'", "value = '1/aEWM1 + nothere'"))
    with pytest.raises(ModelError) as info:
        load_model(str(target))
    message = str(info.value)
    assert "parameter aEW" in message and "nothere" in message and "parameters.py:" in message


def test_not_a_ufo_directory(tmp_path):
    with pytest.raises(ModelError, match="no __init__.py"):
        load_model(str(tmp_path))


# --------------------------------------------------------------------------- pieces


def test_parse_expression():
    x = parameter_symbol("x")
    z = parameter_symbol("z", "complex")
    table = {"x": x, "z": z}

    def parse(text):
        return parse_expression(text, table, what="parameter p", where="f.py")

    assert parse("complex(0,1)*x") == sympy.I * x
    assert parse("cmath.sqrt(x)**2/2.") == x / 2
    assert parse("complexconjugate(x)") == x  # real symbol
    assert parse("complexconjugate(z)") == sympy.conjugate(z)
    assert parse("cmath.pi + abs(-3)") == sympy.pi + 3
    assert parse("1.5e-1") == sympy.Rational(3, 20)
    assert parse("reglog(x)").subs(x, 0) == 0
    assert parse("cond(x, 1, 2)").subs(x, 0) == 1 and parse("cond(x, 1, 2)").subs(x, 5) == 2
    assert parse("sec(x)") == 1 / sympy.cos(x)
    with pytest.raises(ModelError, match="f.py: parameter p .* unknown name 'y'"):
        parse("x + y")
    with pytest.raises(ModelError, match="cannot parse parameter p"):
        parse("x +* 2")


def _ufo_coupling(name, order):
    return types.SimpleNamespace(name=name, order=order)


def test_vertex_split_by_orders_and_coupling_lists():
    lorentz = [types.SimpleNamespace(name="L1"), types.SimpleNamespace(name="L2")]
    particles = [types.SimpleNamespace(name=n) for n in ("a", "b", "c")]
    gqed, gqcd, gqed2 = (_ufo_coupling("G1", {"QED": 1}), _ufo_coupling("G2", {"QCD": 1}),
                         _ufo_coupling("G3", {"QED": 1}))
    v = types.SimpleNamespace(name="V_12", particles=particles, color=["1"], lorentz=lorentz,
                              couplings={(0, 1): gqcd, (0, 0): [gqed, gqed2]})
    split = convert_vertex(v, "vertices.py")
    assert [w.name for w in split] == ["V_12", "V_12__1"]
    assert split[0].orders == (("QED", 1),)
    assert [(t.lorentz, t.coupling) for t in split[0].terms] == [("L1", "G1"), ("L1", "G3")]
    assert split[1].orders == (("QCD", 1),)
    assert [(t.lorentz, t.coupling) for t in split[1].terms] == [("L2", "G2")]


def test_coupling_orders_fallback(sm):
    orders = convert_orders(types.SimpleNamespace(), sm.couplings)
    assert {(o.name, o.hierarchy) for o in orders} == {("QCD", 1), ("QED", 2)}


# --------------------------------------------------------------------------- parameter code


@pytest.fixture(scope="module")
def sm_parameters(sm):
    needed = sorted({t.coupling for v in sm.vertices for t in v.terms}
                    | {p.mass for p in sm.particles} | {p.width for p in sm.particles})
    source = render_parameter_module(sm, needed)
    namespace = {}
    exec(compile(source, "parameters.py", "exec"), namespace)
    return source, namespace


def test_parameter_module_values(sm, sm_parameters):
    _, ns = sm_parameters
    defaults = ns["EXTERNAL_DEFAULTS"]
    assert list(defaults) == [p.name for p in sm.external_parameters]
    values = ns["compute_parameters"](dict(defaults))
    assert "ZERO" not in values and "lamWS" not in values
    mz, a_inv, gf, a_s = 91.188, 132.507, 1.16639e-5, 0.118
    mw = np.sqrt(mz**2 / 2 + np.sqrt(mz**4 / 4 - np.pi * mz**2 / (np.sqrt(2) * a_inv * gf)))
    assert float(values["MZ"]) == pytest.approx(mz)
    assert float(values["MW"]) == pytest.approx(mw, rel=1e-6)
    assert mw == pytest.approx(80.419, abs=1e-3)
    g = 2 * np.sqrt(np.pi * a_s)
    assert complex(values["GC_11"]) == pytest.approx(1j * g, rel=1e-6)
    assert jnp.iscomplexobj(values["GC_11"])
    ee = 2 * np.sqrt(np.pi / a_inv)
    assert complex(values["GC_3"]) == pytest.approx(-1j * ee, rel=1e-6)
    # every coupling agrees with the restriction's numpy evaluation
    reference = numeric_values(sm.parameters, sm.couplings, defaults)
    for name, value in values.items():
        assert complex(value) == pytest.approx(reference[name], rel=1e-5, abs=1e-8), name


def test_parameter_module_grad_matches_finite_difference(sm, sm_parameters):
    _, ns = sm_parameters
    defaults = ns["EXTERNAL_DEFAULTS"]

    def im_gc11(a_s):
        return jnp.imag(ns["compute_parameters"]({**defaults, "aS": a_s})["GC_11"])

    grad = float(jax.grad(im_gc11)(0.118))
    h = 1e-6
    fd = [numeric_values(sm.parameters, sm.couplings, {**defaults, "aS": 0.118 + s * h})["GC_11"].imag
          for s in (1, -1)]
    assert grad == pytest.approx((fd[0] - fd[1]) / (2 * h), rel=1e-4)
    assert grad == pytest.approx(np.sqrt(np.pi / 0.118), rel=1e-4)

    def mw(mz):
        return ns["compute_parameters"]({**defaults, "MZ": mz})["MW"]

    assert np.isfinite(float(jax.grad(mw)(91.188)))


def test_parameter_module_traced_arrays(sm_parameters):
    _, ns = sm_parameters
    defaults = ns["EXTERNAL_DEFAULTS"]
    a_s = jnp.array([0.1, 0.118, 0.13])
    values = jax.jit(jax.vmap(lambda a: ns["compute_parameters"]({**defaults, "aS": a})["GC_11"]))(a_s)
    assert values.shape == (3,)
    np.testing.assert_allclose(np.imag(values), 2 * np.sqrt(np.pi * np.asarray(a_s)), rtol=1e-6)


def test_parameter_module_is_pruned_deterministic_and_readable(sm, sm_parameters):
    source, _ = sm_parameters
    needed = sorted({t.coupling for v in sm.vertices for t in v.terms}
                    | {p.mass for p in sm.particles} | {p.width for p in sm.particles})
    assert source == render_parameter_module(sm, needed)
    small = render_parameter_module(sm, ["GC_11"])
    assert "import jax.numpy as jnp" in small
    assert "    G = " in small and "GC_11 = _as_complex(" in small
    assert "MW =" not in small and "GC_1 =" not in small  # pruned to what GC_11 needs
    assert "    ee = " in small  # kept: alpha_couplings gives AQEDUP from it
    assert "'MZ': 91.188,  # MASS 23" in small  # all defaults still listed
    ns = {}
    exec(small, ns)
    assert set(ns["compute_parameters"](ns["EXTERNAL_DEFAULTS"])) == {"GC_11", "G", "ee"}
    with pytest.raises(ModelError, match="GC_999"):
        render_parameter_module(sm, ["GC_999"])
