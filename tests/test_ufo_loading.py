"""Loading real-world UFO models: Python-2 conversion and its cache, safe lookup of model names,
custom propagators, function_library bodies, form factors and loop-only objects."""

import concurrent.futures
import logging
import re
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
import ufo_sm

from madgen.errors import ModelError, UnsupportedFeature
from madgen.model import load_model, resolve_model_spec
from madgen.model.conversion import MANIFEST, converted_copy, python2_reasons
from madgen.model.expressions import model_function, parse_expression
from madgen.model.locate import locate_ufo
from madgen.model.py2to3 import STRONG_RULES, convert_source
from madgen.model.ufo import import_ufo, source_fingerprint

SM_DIR = Path(ufo_sm.__file__).parent


def copy_sm(tmp_path, name="mysm"):
    target = tmp_path / name
    shutil.copytree(SM_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pkl", "build_restrict.py"))
    return target


PYTHON2_TAIL = '''
import sys

def _python2_only(table):
    if table.has_key('x') <> True:
        print >>sys.stderr, "missing x", `table`
    total = 0L
    for key, value in table.iteritems():
        total += value
    try:
        raise ValueError, "never raised to the caller"
    except ValueError, error:
        pass
    if isinstance('a', basestring):
\ttotal += 0777
    first = {'k': 2}.keys()[0]
    return total, first

def _never_called():
    print "a Python-2 print statement"
    exec "x = 1"

PYTHON2_CHECK = _python2_only({'x': 1})
'''


def make_python2(directory: Path) -> Path:
    """Rewrite a Python-3 UFO copy the way FeynRules writes Python 2 (implicit relative imports...)."""
    for path in directory.glob("*.py"):
        text = path.read_text()
        text = re.sub(r"^(\s*)from \. import (\w+)", r"\1import \2", text, flags=re.M)
        text = re.sub(r"^(\s*)from \.(\w+) import", r"\1from \2 import", text, flags=re.M)
        path.write_text(text)
    with (directory / "object_library.py").open("a") as handle:
        handle.write(PYTHON2_TAIL)
    return directory


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*"))}


def read_only(directory: Path) -> None:
    for p in [directory, *directory.rglob("*")]:
        p.chmod(stat.S_IREAD | stat.S_IEXEC if p.is_dir() else stat.S_IREAD)


def writable(directory: Path) -> None:
    for p in [directory, *directory.rglob("*")]:
        p.chmod(stat.S_IRWXU)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("MADGEN_CACHE", str(root))
    return root


# --------------------------------------------------------------------------- the converter


@pytest.mark.parametrize("source, expected", [
    ("print x, y\n", "print(x, y)\n"),
    ("print\n", "print()\n"),
    ("print x,\n", 'print(x, end=" ")\n'),
    ("print >>sys.stderr, 'a', b\n", "print('a', b, file=sys.stderr)\n"),
    ("print('ok')\n", "print('ok')\n"),
    ("if x: print x\n", "if x: print(x)\n"),
    ("exec code in ns\n", "exec(code, ns)\n"),
    ("raise E, 'msg'\n", "raise E( 'msg')\n"),
    ("raise E, msg, tb\n", "raise E( msg).with_traceback( tb)\n"),
    ("try:\n    f()\nexcept (A, B), e:\n    pass\n", "try:\n    f()\nexcept (A, B) as e:\n    pass\n"),
    ("for k, v in d.iteritems(): pass\n", "for k, v in d.items(): pass\n"),
    ("ok = self.table[0].has_key(name)\n", "ok = (name in self.table[0])\n"),
    ("k = d.keys()[0]\n", "k = list(d.keys())[0]\n"),
    ("y = map(f, x)[1]\n", "y = list(map(f, x))[1]\n"),
    ("a <> b\n", "a != b\n"),
    ("s = `x`\n", "s = repr(x)\n"),
    ("n = 0777 + 10L + 0xffL\n", "n = 0o777 + 10 + 0xff\n"),
    ("isinstance(t, basestring) or isinstance(n, long)\n", "isinstance(t, str) or isinstance(n, int)\n"),
    ("s = ur'a'\n", "s = r'a'\n"),
    ("if x:\n\ty = 1\n", "if x:\n        y = 1\n"),
])
def test_python2_constructs_are_rewritten(source, expected):
    result = convert_source(source)
    assert result.text == expected
    compile(result.text, "<test>", "exec")


def test_implicit_relative_imports_become_explicit():
    source = ("import cmath, particles as P, os\n"
              "from object_library import all_particles, Particle\n"
              "from __future__ import division\n"
              "def f():\n"
              "    import parameters\n"
              "    from function_library import *\n"
              "try:\n"
              "   import decays\n"
              "except ImportError:\n"
              "   pass\n"
              "import os.path\n")
    local = {"particles", "object_library", "parameters", "function_library", "decays"}
    result = convert_source(source, local)
    assert result.text.splitlines() == [
        "import cmath, os; from . import particles as P",
        "from .object_library import all_particles, Particle",
        "from __future__ import division",
        "def f():",
        "    from . import parameters",
        "    from .function_library import *",
        "try:",
        "   from . import decays",
        "except ImportError:",
        "   pass",
        "import os.path",
    ]
    assert "implicit relative import" in result.rules


def test_python3_source_is_left_alone_and_lines_are_kept():
    python3 = ("from . import particles\nimport sys\n\ndef f(d):\n    print('x', file=sys.stderr)\n"
               "    for k, v in d.items():\n        pass\n    return [k for k in d.keys()]\n")
    assert convert_source(python3, {"particles"}).rules == frozenset()
    multi = "x = d.has_key(\n    key)\nprint a, \\\n  b\nimport particles, \\\n  os\ny = 1\n"
    converted = convert_source(multi, {"particles"}).text
    assert converted.count("\n") == multi.count("\n")
    assert converted.splitlines()[-1] == "y = 1"
    compile(converted, "<test>", "exec")


def test_print_function_future_keeps_print_calls():
    source = "from __future__ import print_function\nprint('a', end='')\n"
    assert convert_source(source).text == source


# --------------------------------------------------------------------------- Python-2 models


@pytest.fixture()
def python2_sm(tmp_path):
    return make_python2(copy_sm(tmp_path, "py2sm"))


def _same_physics(a, b):
    assert [(p.name, p.value) for p in a.parameters] == [(p.name, p.value) for p in b.parameters]
    assert [(c.name, c.value, c.orders) for c in a.couplings] == [(c.name, c.value, c.orders) for c in b.couplings]
    assert [(v.name, v.particles, v.terms) for v in a.vertices] == [(v.name, v.particles, v.terms) for v in b.vertices]
    assert a.particles == b.particles and a.lorentz == b.lorentz


def test_python2_model_loads_like_the_python3_original(tmp_path, python2_sm, cache, caplog):
    before = snapshot(python2_sm)
    reasons = python2_reasons(python2_sm)
    assert any("implicit relative import" in r for r in reasons)
    with caplog.at_level(logging.INFO, logger="madgen"):
        model = load_model(str(python2_sm) + "-no_b_mass")
    notice = [r.getMessage() for r in caplog.records if "Python-2" in r.getMessage()]
    assert len(notice) == 1
    assert str(python2_sm) in notice[0] and str(cache) in notice[0] and "object_library.py" in notice[0]
    assert model.conversion_cache.startswith(str(cache / "ufo" / "py2sm-"))
    assert model.directory == str(python2_sm.resolve())
    _same_physics(model, load_model(str(SM_DIR) + "-no_b_mass"))
    assert snapshot(python2_sm) == before  # nothing written into the model's directory

    imported = import_ufo(locate_ufo(str(python2_sm)), source_fingerprint(python2_sm))
    assert imported.module.object_library.PYTHON2_CHECK == (512, "k")
    assert "object_library.py" in imported.conversion.converted


def test_python3_model_is_imported_without_conversion(tmp_path, cache):
    plain = copy_sm(tmp_path, "py3sm")
    before = snapshot(plain)
    assert python2_reasons(plain) == []
    model = load_model(str(plain))
    assert model.conversion_cache == "" and not cache.exists()
    assert snapshot(plain) == before  # not even a __pycache__


def test_read_only_python2_model(tmp_path, python2_sm, cache):
    read_only(python2_sm)
    try:
        before = snapshot(python2_sm)
        model = load_model(str(python2_sm))
        assert model.conversion_cache and snapshot(python2_sm) == before
    finally:
        writable(python2_sm)


def test_conversion_cache_is_reused_rebuilt_when_damaged_and_safe_concurrently(python2_sm, cache):
    fingerprint = source_fingerprint(python2_sm)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        copies = list(pool.map(lambda _: converted_copy(python2_sm, fingerprint), range(8)))
    assert len({c.directory for c in copies}) == 1
    assert sum(c.created for c in copies) == 1
    directory = copies[0].directory
    assert sorted(p.name for p in directory.parent.iterdir()) == [directory.name]  # no staging left over
    assert (directory / MANIFEST).is_file()
    again = converted_copy(python2_sm, fingerprint)
    assert again.directory == directory and not again.created

    original = (directory / "parameters.py").read_bytes()
    (directory / "parameters.py").write_text("damaged")
    rebuilt = converted_copy(python2_sm, fingerprint)
    assert rebuilt.created and (directory / "parameters.py").read_bytes() == original


def test_unwritable_cache_falls_back_to_a_temporary_directory(python2_sm, tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    monkeypatch.setenv("MADGEN_CACHE", str(blocker))
    copy = converted_copy(python2_sm, source_fingerprint(python2_sm))
    assert not str(copy.directory).startswith(str(blocker)) and (copy.directory / "__init__.py").is_file()


def test_python2_syntax_error_names_the_original_file_and_line(python2_sm, cache):
    path = python2_sm / "parameters.py"
    lines = path.read_text().splitlines()
    lines.insert(20, "oops = = 1")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as info:
        load_model(str(python2_sm))
    message = str(info.value)
    assert f"{path}:21" in message and "oops = = 1" in message and str(cache) not in message


def test_python2_runtime_error_names_the_original_file_and_line(python2_sm, cache):
    path = python2_sm / "couplings.py"
    lines = path.read_text().splitlines()
    lines.insert(11, 'raise RuntimeError, "broken model"')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as info:
        load_model(str(python2_sm))
    message = str(info.value)
    assert f"{path}:12" in message and "broken model" in message and str(cache) not in message


# --------------------------------------------------------------------------- finding models safely


HOSTILE = "from pathlib import Path\nPath(__file__).with_name('PWNED').write_text('executed')\n"


def test_bare_name_never_imports_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "__init__.py").write_text(HOSTILE)
    (tmp_path / "sm" / "particles.py").write_text(HOSTILE)
    (tmp_path / "ufo_sm").mkdir()
    (tmp_path / "ufo_sm" / "__init__.py").write_text(HOSTILE)
    (tmp_path / "ufo_sm" / "particles.py").write_text(HOSTILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as with `python -m madgen`
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    location, name, restriction = resolve_model_spec("sm")
    assert location.directory == SM_DIR.resolve() and location.package == "ufo_sm"
    assert load_model("sm").source == "ufo_sm"

    import madgen

    card = tmp_path / "card.yaml"
    card.write_text("model: sm\nprocess: e+ e- > mu+ mu-\nname: safe\n")
    result = madgen.generate(card, output=tmp_path / "out")
    assert not (tmp_path / "sm" / "PWNED").exists() and not (tmp_path / "ufo_sm" / "PWNED").exists()
    assert str(SM_DIR.resolve()) in result.model
    import json

    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert metadata["model_directory"] == str(SM_DIR.resolve()) and metadata["model_fingerprint"]


def test_data_folder_named_like_a_model_does_not_break_it_and_paths_are_paths(tmp_path, monkeypatch):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "data.csv").write_text("1,2\n")
    monkeypatch.chdir(tmp_path)
    assert load_model("sm").source == "ufo_sm"
    with pytest.raises(ModelError, match="is not a UFO model"):
        load_model("./sm")
    local = copy_sm(tmp_path, "mysm")
    assert load_model("./mysm").directory == str(local.resolve())
    with pytest.raises(ModelError) as info:
        load_model("mysm")  # a bare name: not looked up in the working directory
    assert "./mysm" in str(info.value)


def test_model_search_paths_come_from_the_environment_not_the_working_directory(tmp_path, monkeypatch):
    from madgen.api import model_search_paths

    copy_sm(tmp_path / "library", "envsm")
    copy_sm(tmp_path / "work" / "models", "cwdsm")
    monkeypatch.setenv("MADGEN_MODEL_PATH", str(tmp_path / "library"))
    monkeypatch.chdir(tmp_path / "work")
    assert model_search_paths()[0] == tmp_path / "library"
    assert Path.cwd() / "models" not in model_search_paths()
    assert load_model("envsm-no_b_mass", model_search_paths()).particle("b").massless
    with pytest.raises(ModelError):
        load_model("cwdsm", model_search_paths())
    assert load_model("./models/cwdsm").directory == str((tmp_path / "work" / "models" / "cwdsm").resolve())


# --------------------------------------------------------------------------- UFO pieces


PROPAGATORS = '''
class Propagator(object):
    def __init__(self, name, numerator, denominator=None):
        self.name, self.numerator, self.denominator = name, numerator, denominator

denominator = "P('mu', id) * P('mu', id) - Mass(id) * Mass(id) + complex(0,1) * Mass(id) * Width(id)"
ZK = Propagator(name="ZK",
                numerator="kZ * (- Metric(1, 2) + Metric(1,'mu')* P('mu', id) * P(2, id) / Mass(id)**2)",
                denominator=denominator)
all_propagators = [ZK]
'''

KZ = '''
kZ = Parameter(name = 'kZ', nature = 'external', type = 'real', value = 1.0, texname = 'k_Z',
               lhablock = 'MADGENTEST', lhacode = [ 1 ])
'''


@pytest.fixture(scope="module")
def scaled_z_model(tmp_path_factory):
    """The SM with the Z propagator written as a UFO custom propagator scaled by a parameter kZ."""
    model = copy_sm(tmp_path_factory.mktemp("prop"), "smprop")
    (model / "propagators.py").write_text(PROPAGATORS)
    with (model / "parameters.py").open("a") as handle:
        handle.write(KZ)
    with (model / "particles.py").open("a") as handle:
        handle.write("\nfrom . import propagators as Prop\nZ.propagator = {0: Prop.ZK, 1: Prop.ZK}\n")
    return model


def test_custom_propagator_in_the_model(scaled_z_model):
    model = load_model(str(scaled_z_model) + "-full")
    (propagator,) = model.propagators
    assert propagator.name == "ZK" and propagator.parameters == ("kZ",)
    assert model.particle("Z").propagator == "ZK" and model.particle("W+").propagator is None
    restricted = load_model(str(scaled_z_model))  # restrict_default: kZ = 1 (UFO default) is fixed
    assert restricted.propagators[0].parameters == () and restricted.propagators[0].fixed == (("kZ", 1.0),)


def test_custom_propagator_current_and_its_parameter(scaled_z_model, generate_package):
    proc = generate_package(str(scaled_z_model) + "-full", "e+ e- > mu+ mu-", "ee_mumu_kz")
    sm = generate_package("sm-full", "e+ e- > mu+ mu-", "ee_mumu_smfull")
    photon = generate_package("sm-full", "e+ e- > mu+ mu- / z", "ee_mumu_photon")
    rng = np.random.default_rng(7)
    E = np.array([30.0, 45.5, 120.0])
    cos, phi = rng.uniform(-1, 1, 3), rng.uniform(0, 2 * np.pi, 3)
    sin = np.sqrt(1 - cos**2)
    theta = proc.default_parameters()
    m_mu = float(np.asarray(proc.masses(theta))[2])  # sm-full keeps the muon mass
    k = np.sqrt(E**2 - m_mu**2)
    p = np.stack([np.stack([E, 0 * E, 0 * E, E], -1), np.stack([E, 0 * E, 0 * E, -E], -1),
                  np.stack([E, k * sin * np.cos(phi), k * sin * np.sin(phi), k * cos], -1),
                  np.stack([E, -k * sin * np.cos(phi), -k * sin * np.sin(phi), -k * cos], -1)], 1)
    assert theta["kZ"] == 1.0
    np.testing.assert_allclose(proc.matrix_element(p, theta), sm.matrix_element(p), rtol=1e-12)
    np.testing.assert_allclose(proc.matrix_element(p, {**theta, "kZ": 0.0}), photon.matrix_element(p), rtol=1e-12)

    import jax

    def me(kz):
        return proc.matrix_element(p, {**theta, "kZ": kz})

    gradient = np.asarray(jax.jacfwd(me)(0.7))
    h = 1e-4
    np.testing.assert_allclose(gradient, (np.asarray(me(0.7 + h)) - np.asarray(me(0.7 - h))) / (2 * h), rtol=1e-7)


def test_propagator_with_unknown_name_is_refused(tmp_path):
    model = copy_sm(tmp_path, "badprop")
    (model / "propagators.py").write_text(PROPAGATORS.replace("kZ *", "kX *"))
    with (model / "particles.py").open("a") as handle:
        handle.write("\nfrom . import propagators as Prop\nZ.propagator = Prop.ZK\n")
    with pytest.raises(ModelError, match=r"propagators\.py: propagator ZK uses \['kX'\]"):
        load_model(str(model) + "-full")


@pytest.mark.parametrize("colour, message", [
    ("'1'", r"vertex V_132 \[u~, u, a\] in .*bad_colour.*vertices\.py: colour structure '1' gives the coloured "
            r"particle\(s\) u~ \(slot 1\), u \(slot 2\) no colour index"),
    ("'T(1,2'", r"vertex V_132 \[u~, u, a\] in .*vertices\.py: colour string 'T\(1,2': syntax error"),
    ("'Identity(1,3)'", r"vertex V_132 .*: colour string 'Identity\(1,3\)': slot 3 is not a coloured leg"),
])
def test_a_broken_colour_structure_names_its_vertex(tmp_path, colour, message):
    """A colour structure that leaves a coloured leg without an index (it stopped with an internal error deep
    in the colour algebra) or does not read is an error naming the vertex, its particles and the file."""
    import madgen

    model = copy_sm(tmp_path, "bad_colour")
    vertices = (model / "vertices.py").read_text()
    anchor = "particles = [ P.u__tilde__, P.u, P.a ],\n               color = [ 'Identity(1,2)' ]"
    assert anchor in vertices
    (model / "vertices.py").write_text(vertices.replace(anchor, anchor.replace("'Identity(1,2)'", colour)))
    (tmp_path / "card.yaml").write_text(f"model: {model}-full\nprocess: u u~ > mu+ mu-\n")
    with pytest.raises(UnsupportedFeature, match=message):
        madgen.generate(tmp_path / "card.yaml", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_function_library_bodies_as_feynrules_writes_them():
    z = sympy.Symbol("z")
    reglog = model_function("reglog2", "z", "(0.0 if z==0.0 else cmath.log(z.real))", where="f.py")
    assert reglog(0) == 0 and reglog(sympy.E) == 1 and isinstance(reglog(z), sympy.Piecewise)
    cond = model_function("cond2", ("condition", "ExprTrue", "ExprFalse"),
                          "(ExprTrue if condition==0.0 else ExprFalse)", where="f.py")
    assert (cond(0, 1, 2), cond(3, 1, 2)) == (1, 2)
    theta = model_function("theta2", ("x", "y", "z"), "y if x else z", where="f.py")
    assert (theta(0, 1, 2), theta(5, 1, 2)) == (2, 1)
    sec = model_function("sec2", ("z",), "1./cmath.cos(z.real)", where="f.py")
    assert sec(z) == 1 / sympy.cos(sympy.re(z))
    assert model_function("cc", ("z",), "z.conjugate()", where="f.py")(z) == sympy.conjugate(z)
    assert model_function("im2", ("z",), "z.imag", where="f.py")(z) == sympy.im(z)
    band = model_function("band", ("x",), "x if x > 0 and not x >= 1 else -x", where="f.py")
    assert (band(sympy.Rational(1, 2)), band(2), band(-3)) == (sympy.Rational(1, 2), -2, 3)
    x = sympy.Symbol("x", real=True)
    expr = parse_expression("2*x if x != 0 else 1", {"x": x}, what="parameter p", where="parameters.py")
    assert expr.subs(x, 3) == 6 and expr.subs(x, 0) == 1


def test_smeftsim_function_library_names_keep_madgraph_meanings():
    from madgen.model.expressions import BUILTIN_FUNCTIONS

    for name in ("complexconjugate", "re", "im", "sec", "asec", "csc", "acsc", "cot", "acot", "theta_function",
                 "cond", "reglog", "arg"):
        assert name in BUILTIN_FUNCTIONS
    x = sympy.Rational(1, 3)
    assert BUILTIN_FUNCTIONS["cot"](x) == 1 / sympy.tan(x) and BUILTIN_FUNCTIONS["acsc"](sympy.Integer(3)) == sympy.asin(x)


def test_form_factors_are_refused_naming_them(tmp_path):
    model = copy_sm(tmp_path, "ffsm")
    (model / "form_factors.py").write_text(
        "from .object_library import all_form_factors, FormFactor\n"
        "FF1 = FormFactor(name='FF1', type='real', value='1/(1 + P(-1,1)*P(-1,1)/100.)')\n")
    with (model / "__init__.py").open("a") as handle:
        handle.write("\nfrom . import form_factors\nall_form_factors = form_factors.all_form_factors\n")
    lorentz = (model / "lorentz.py").read_text()
    (model / "lorentz.py").write_text(lorentz.replace("structure = 'Gamma(3,2,1)')", "structure = 'FF1*Gamma(3,2,1)')", 1))
    with pytest.raises(UnsupportedFeature) as info:
        load_model(str(model))
    assert "FF1" in str(info.value) and "form_factors.py" in str(info.value)


def test_loop_only_couplings_are_ignored(tmp_path):
    model = copy_sm(tmp_path, "ctsm")
    with (model / "couplings.py").open("a") as handle:
        handle.write("\nUVGC_1 = Coupling(name = 'UVGC_1', value = {-1:'UVWfct_G_1*G'}, order = {'QCD':3})\n"
                     "R2GC_1 = Coupling(name = 'R2GC_1', value = 'CTparam_1*G**3', order = {'QCD':3})\n")
    names = {c.name for c in load_model(str(model) + "-full").couplings}
    assert "R2GC_1" not in names and "UVGC_1" not in names and "GC_1" in names


def test_genuinely_broken_python3_is_not_taken_for_python2(tmp_path):
    assert STRONG_RULES >= {"print statement", "implicit relative import"}
    assert convert_source("x = = 1\n").rules == frozenset()
    broken = copy_sm(tmp_path, "broken3")
    (broken / "parameters.py").write_text((broken / "parameters.py").read_text() + "\noops = = 1\n")
    assert python2_reasons(broken) == []


def test_paramcard_of_the_restriction_gives_the_defaults_as_in_madgraph(tmp_path):
    """MadGraph copies paramcard_<restriction>.dat as the param card of outputs made with that
    restriction; param_card_<name>.dat (SMEFTsim ships one) is no MadGraph convention and is ignored."""
    model_dir = copy_sm(tmp_path, "cardsm")
    card = (model_dir / "restrict_no_b_mass.dat").read_text()
    (model_dir / "paramcard_no_b_mass.dat").write_text(card.replace("1.730000e+02 # MT", "1.725000e+02 # MT"))
    (model_dir / "param_card_no_b_mass.dat").write_text(card.replace("1.730000e+02 # MT", "1.700000e+02 # MT"))
    assert "1.725000e+02 # MT" in (model_dir / "paramcard_no_b_mass.dat").read_text()
    assert load_model(f"{model_dir}-no_b_mass").parameter("MT").value == 172.5
    assert load_model(str(model_dir)).parameter("MT").value == 173.0  # restrict_default has no paramcard


def test_model_line_names_directory_restriction_and_conversion(python2_sm, cache):
    from madgen.model import describe_model

    line = describe_model(load_model(str(python2_sm) + "-no_b_mass"))
    assert str(python2_sm.resolve()) in line and "restrict_no_b_mass.dat" in line
    assert "converted from Python 2" in line and str(cache) in line and "object_library.py" in line
    assert describe_model(load_model("sm")).startswith(f"model sm: {SM_DIR.resolve()} (package ufo_sm)")


def test_the_model_stage_imports_no_later_stage():
    """Layering: the model stage evaluates expressions itself (no code generator printers)."""
    import subprocess

    code = ("import sys; from madgen.model import load_model; load_model('sm'); "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('madgen.')}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['errors', 'model', 'version']"  # version: conversion cache key


@pytest.mark.parametrize("file, old, new, words", [
    ("particles.py", "name = 'mu-',\n                       antiname = 'mu+',\n                       spin = 2,",
     "name = 'mu-',\n                       antiname = 'mu+',\n                       spin = 3,", ["spin codes [3, 3, 3]", "FFV1"]),
    ("vertices.py", "particles = [ P.e__plus__, P.e__minus__, P.a ],\n              color = [ '1' ],\n"
                    "              lorentz = [ L.FFV1 ],", "particles = [ P.e__plus__, P.e__minus__, P.a ],\n"
     "              color = [ '1' ],\n              lorentz = [ L.VVV1 ],", ["vertex V_98", "VVV1", "[3, 3, 3]"]),
    ("vertices.py", "particles = [ P.e__plus__, P.e__minus__, P.a ],",
     "particles = [ P.e__plus__, P.e__minus__, P.a, P.a ],", ["vertex V_98", "FFV1", "[2, 2, 3]"]),
])
def test_a_vertex_whose_particles_do_not_fit_its_lorentz_structure_is_refused(tmp_path, file, old, new, words):
    """A corrupt UFO must not generate code that feeds spinors into vector routines: every Lorentz structure
    of a vertex is checked against the spins of the vertex's particles, and the error names the file."""
    target = copy_sm(tmp_path)
    text = (target / file).read_text()
    assert old in text
    (target / file).write_text(text.replace(old, new, 1))
    with pytest.raises(ModelError) as info:
        load_model(str(target))
    message = str(info.value)
    assert "vertices.py:" in message and all(word in message for word in words), message


def test_particles_of_spin_3_2_are_refused_by_name():
    """madgen has no wavefunctions or propagators for spin 3/2: a process with such a particle is refused
    naming it (it was an internal AssertionError)."""
    import dataclasses

    from madgen.diagrams.generate import generate_diagrams, make_legs
    from madgen.ir.build import build_wavefunction_graph
    from madgen.model.types import Spin

    sm = load_model("sm")
    diagram_set = generate_diagrams(sm, make_legs(sm, ("e+", "e-"), ("mu+", "mu-")), process_text="e+ e- > mu+ mu-")
    for spin, shown in ((Spin.RARITA_SCHWINGER, "spin 1.5"),):
        for name, where in (("mu+", "leg 3"), ("Z", "an internal line")):
            changed = dataclasses.replace(sm, particles=tuple(
                dataclasses.replace(p, spin=spin) if p.name in (name, sm.particle(name).antiname) else p
                for p in sm.particles))
            with pytest.raises(UnsupportedFeature, match=rf"'{re.escape(name)}' \({where}.*{shown}"):
                build_wavefunction_graph(changed, diagram_set)


def test_a_restriction_that_makes_an_expression_infinite_is_named(tmp_path):
    """A restriction card fixing MZ to 0 leaves MW's expression infinite: a ModelError naming the restriction,
    the parameter and its expression, not a KeyError from deep inside the code printer."""
    target = copy_sm(tmp_path)
    text = (target / "restrict_default.dat").read_text()
    (target / "restrict_mz0.dat").write_text(text.replace("   23 9.118800e+01 # MZ", "   23 0.000000e+00 # MZ"))
    with pytest.raises(ModelError, match=r"restriction restrict_mz0\.dat .*with .*MZ.* set to 0, \w+ = .* is infinite"):
        load_model(f"{target}-mz0")


def test_a_lorentz_structure_that_is_not_an_expression_names_its_file_and_line(tmp_path):
    target = copy_sm(tmp_path)
    text = (target / "lorentz.py").read_text()
    old = "structure = 'Gamma(3,2,1)')"
    assert old in text
    (target / "lorentz.py").write_text(text.replace(old, "structure = 'Gamma(3,2,1) +* 2')", 1))
    line = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("FFV1 = "))
    with pytest.raises(ModelError, match=rf"lorentz\.py:{line}: Lorentz structure FFV1: 'Gamma\(3,2,1\) \+\* 2' is not "
                                         r"an expression"):
        load_model(str(target))
