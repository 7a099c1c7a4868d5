"""The ``madgen`` command as a user runs it: output, --force, -o, determinism, drawing, and
bad input reported in one line without a traceback and without half-written output."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import madgen
from madgen import cli

EE_MUMU = "model: sm\nprocess: e+ e- > mu+ mu-\nname: ee_mumu\n"


def run_madgen(cwd: Path, *args):
    result = subprocess.run([sys.executable, "-m", "madgen", *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def assert_one_line_error(result, *words):
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("madgen: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def assert_nothing_written(root: Path):
    generated = root / "generated"
    leftovers = sorted(p.name for p in generated.iterdir()) if generated.exists() else []
    assert leftovers == [], leftovers
    assert not any(p.name.startswith(".") for p in root.iterdir() if p.is_dir()), list(root.iterdir())


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "card.yaml").write_text(EE_MUMU)
    return tmp_path


# ------------------------------------------------------------------ help and version


def test_version_is_fast(tmp_path):
    start = time.perf_counter()
    result = run_madgen(tmp_path, "--version")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0
    from importlib.metadata import version

    assert result.stdout.strip() == f"madgen {madgen.__version__}" == f"madgen {version('madgen')}"
    assert elapsed < 2.0, f"madgen --version took {elapsed:.2f}s (heavy imports at start-up?)"


def test_version_imports_nothing_heavy():
    code = ("import sys; from madgen import cli; "
            "heavy = [m for m in ('jax', 'numpy', 'yaml', 'jinja2', 'sympy') if m in sys.modules]; "
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_help(tmp_path):
    for args in (["--help"], []):
        result = run_madgen(tmp_path, *args)
        assert result.returncode == 0
        for word in ("generate", "draw", "--version"):
            assert word in result.stdout
    result = run_madgen(tmp_path, "generate", "--help")
    assert result.returncode == 0
    for word in ("--force", "-o", "--draw", "card"):
        assert word in result.stdout


def test_usage_errors(tmp_path):
    result = run_madgen(tmp_path, "generate")  # argparse: missing card
    assert result.returncode == 2 and "card" in result.stderr
    result = run_madgen(tmp_path, "frobnicate")
    assert result.returncode == 2 and "frobnicate" in result.stderr


# ------------------------------------------------------------------ generating


def test_the_generate_summary_counts_processes_as_madgraph():
    """Mirror subprocesses (b a > X beside a b > X) are listed on their partner's line and not counted again,
    as MadGraph counts: p p > t t~ is "5 processes with 7 diagrams"; a process whose mirror differs in
    diagrams keeps its own line."""
    processes = ["g g > t t~", "u u~ > t t~", "c c~ > t t~", "d d~ > t t~", "s s~ > t t~",
                 "u~ u > t t~", "c~ c > t t~", "d~ d > t t~", "s~ s > t t~"]
    lines = cli.subprocess_summary(processes, [3, 1, 1, 1, 1, 1, 1, 1, 1])
    assert lines[1] == "  u u~ > t t~ (and its mirror u~ u > t t~): 1 diagram(s)"
    assert len(lines) == 6 and lines[-1] == "  5 process(es) with 7 diagram(s) (9 subprocesses with their mirrors)"
    assert cli.subprocess_summary(["u g > u g", "g u > u g", "u u > u u"], [3, 2, 2])[-1] == \
        "  3 process(es) with 7 diagram(s)"
    assert cli.subprocess_summary(["e+ e- > mu+ mu-"], [2]) == ["  e+ e- > mu+ mu-: 2 diagram(s)",
                                                            "  1 process(es) with 2 diagram(s)"]


def test_generate_force_and_output(workdir):
    result = run_madgen(workdir, "generate", "card.yaml")
    assert result.returncode == 0, result.stderr
    assert "e+ e- > mu+ mu-: 2 diagram(s)" in result.stdout
    package = workdir / "generated" / "ee_mumu"
    names = {p.name for p in package.iterdir()}
    assert {"__init__.py", "metadata.json", "parameters.py", "routines.py"} <= names
    assert any(name.endswith("_diagrams.json") for name in names)
    first = tree(package)

    # a second run without --force refuses and leaves the first output as it was
    (workdir / "card.yaml").write_text(EE_MUMU.replace("mu+ mu-", "W+ W-"))
    result = run_madgen(workdir, "generate", "card.yaml")
    assert_one_line_error(result, "generated/ee_mumu", "already exists", "--force")
    assert tree(package) == first
    assert sorted(p.name for p in (workdir / "generated").iterdir()) == ["ee_mumu"]

    # --force replaces it
    result = run_madgen(workdir, "generate", "card.yaml", "--force")
    assert result.returncode == 0, result.stderr
    assert "W+ W-: 3 diagram(s)" in result.stdout
    assert tree(package) != first
    assert sorted(p.name for p in (workdir / "generated").iterdir()) == ["ee_mumu"]

    # -o DIR
    result = run_madgen(workdir, "generate", "card.yaml", "-o", "elsewhere/ww")
    assert result.returncode == 0, result.stderr
    assert (workdir / "elsewhere" / "ww" / "__init__.py").is_file()
    proc = madgen.load(workdir / "elsewhere" / "ww")
    assert proc.n_legs == 4

    # a wrong momentum shape is a clear ValueError at call time
    for shape in [(3, 4), (4, 3), (2, 4, 5), (16,)]:
        with pytest.raises(ValueError) as info:
            proc.matrix_element(np.ones(shape))
        assert "(..., 4, 4)" in str(info.value) and str(shape) in str(info.value)


def test_generate_is_deterministic(tmp_path):
    card = "model: sm\nprocess: [u u~ > g g, e+ e- > mu+ mu-]\nname: det\n"
    outputs = []
    for run in ("a", "b"):
        root = tmp_path / run
        root.mkdir()
        (root / "card.yaml").write_text(card)
        result = run_madgen(root, "generate", "card.yaml")  # a fresh interpreter: a fresh hash seed
        assert result.returncode == 0, result.stderr
        outputs.append(tree(root / "generated" / "det"))
    assert sorted(outputs[0]) == sorted(outputs[1])
    for name in outputs[0]:
        assert outputs[0][name] == outputs[1][name], f"{name} differs between two runs"


def test_generate_draw_and_draw_command(workdir):
    result = run_madgen(workdir, "generate", "card.yaml", "--draw")
    assert result.returncode == 0, result.stderr
    svgs = sorted((workdir / "generated" / "ee_mumu").rglob("*.svg"))
    assert len(svgs) == 2
    assert all(svg.read_text().lstrip().startswith(("<svg", "<?xml")) for svg in svgs)

    result = run_madgen(workdir, "draw", "card.yaml", "-o", "pictures")
    assert result.returncode == 0, result.stderr
    drawn = sorted((workdir / "pictures").rglob("*.svg"))
    assert len(drawn) == 2
    assert [p.read_bytes() for p in drawn] == [p.read_bytes() for p in svgs]
    assert not (workdir / "generated" / "pictures").exists()


# ------------------------------------------------------------------ bad input


BAD_CARDS = {
    "unknown particle": ("model: sm\nprocess: e+ e- > mu+ muu-\n", ["'muu-'", "did you mean", "'mu-'"]),
    "charge": ("model: sm\nprocess: e+ e- > mu+ mu+\n", ["e+ e- > mu+ mu+", "charge"]),
    "fermion number": ("model: sm\nprocess: Z Z > e+ e- ve\n", ["fermion"]),
    "no diagrams": ("model: sm\nprocess: g g > t t~ QCD=0\n", ["g g > t t~", "no tree-level diagrams", "QCD<=0"]),
    "no subprocess with diagrams": ("model: sm\nprocess: p p > e+ e- QED=0\n", ["no subprocess", "diagrams"]),
    "malformed yaml": ("model: sm\nprocess: [e+ e- > mu+ mu-\n", ["card.yaml:3", "malformed YAML"]),
    "bad indentation": ("model: sm\n  process: e+ e- > mu+ mu-\n", ["card.yaml:2", "malformed YAML"]),
    "missing process": ("model: sm\nname: x\n", ["card.yaml", "missing required key 'process'"]),
    "missing model": ("process: e+ e- > mu+ mu-\n", ["card.yaml", "missing required key 'model'"]),
    "unknown key": ("model: sm\nprocess: e+ e- > mu+ mu-\nproces: x\n", ["card.yaml", "'proces'"]),
    "unknown model": ("model: nosuchmodel\nprocess: e+ e- > mu+ mu-\n", ["'nosuchmodel'"]),
    "unknown restriction": ("model: sm-nosuch\nprocess: e+ e- > mu+ mu-\n", ["nosuch"]),
    "bad decay chain": ("model: sm\nprocess: p p > t t~, t > b w-\n", ["'t > b w-'", "charge"]),
    "bad order": ("model: sm\nprocess: e+ e- > mu+ mu- QED=x\n", ["QED=x"]),
    "unknown parameter": ("model: sm\nprocess: e+ e- > mu+ mu-\nparameters: {MTOP: 1}\n", ["MTOP"]),
    "missing param_card": ("model: sm\nprocess: e+ e- > mu+ mu-\nparam_card: nope.dat\n", ["nope.dat"]),
    "malformed param_card": ("model: sm\nprocess: e+ e- > mu+ mu-\nparam_card: bad.dat\n", ["bad.dat:2", "MASS"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CARDS))
def test_bad_card(tmp_path, case):
    text, words = BAD_CARDS[case]
    (tmp_path / "card.yaml").write_text(text)
    (tmp_path / "bad.dat").write_text("Block MASS\n   6  not-a-number # MT\n")
    result = run_madgen(tmp_path, "generate", "card.yaml")
    assert_one_line_error(result, *words)
    assert_nothing_written(tmp_path)


def test_missing_card(tmp_path):
    result = run_madgen(tmp_path, "generate", "nope.yaml")
    assert_one_line_error(result, "nope.yaml")
    assert_nothing_written(tmp_path)


def test_broken_model(tmp_path, monkeypatch):
    import ufo_sm

    # a bare name is looked up in MADGEN_MODEL_PATH (never in ./models of the working directory)
    monkeypatch.setenv("MADGEN_MODEL_PATH", str(tmp_path / "models"))
    source = Path(ufo_sm.__file__).parent
    model = tmp_path / "models" / "brokensm"
    shutil.copytree(source, model, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    lines = (model / "parameters.py").read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if line.startswith("Gf = Parameter("))
    lines[number] = "Gf = Parameter(name = 'Gf',, \n"  # a syntax error on this line
    (model / "parameters.py").write_text("".join(lines))
    for spec in ("brokensm", "./models/brokensm", "brokensm-no_b_mass"):
        (tmp_path / "card.yaml").write_text(f"model: {spec}\nprocess: e+ e- > mu+ mu-\n")
        result = run_madgen(tmp_path, "generate", "card.yaml")
        assert_one_line_error(result, "parameters.py", "SyntaxError")
        message = result.stderr
        # the line: the broken one, or the one where Python notices the unclosed parenthesis
        assert any(f"parameters.py:{n}" in message for n in (number + 1, number + 2)), message
        assert_nothing_written(tmp_path)

    (model / "parameters.py").write_text("".join(lines[:number]) + "raise RuntimeError('boom')\n")
    result = run_madgen(tmp_path, "generate", "card.yaml")
    assert_one_line_error(result, f"parameters.py:{number + 1}", "RuntimeError", "boom")
    assert_nothing_written(tmp_path)


def test_draw_bad_input(tmp_path):
    (tmp_path / "card.yaml").write_text("model: sm\nprocess: e+ e- > mu+ muu-\n")
    result = run_madgen(tmp_path, "draw", "card.yaml", "-o", "pictures")
    assert_one_line_error(result, "'muu-'")
    assert not (tmp_path / "pictures").exists()


# ------------------------------------------------------------------ internal failures (in-process)


def test_internal_error_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import madgen.compiler

    monkeypatch.chdir(tmp_path)
    (tmp_path / "card.yaml").write_text(EE_MUMU)

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(madgen.compiler, "_render_package", broken)
    assert cli.main(["generate", "card.yaml"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("madgen: internal error: RuntimeError: template exploded")
    assert_nothing_written(tmp_path)

    # with -v the traceback is shown, for the bug report
    assert cli.main(["-v", "generate", "card.yaml"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_failure_while_writing_leaves_old_output_intact(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "card.yaml").write_text(EE_MUMU)
    assert cli.main(["generate", "card.yaml"]) == 0
    package = tmp_path / "generated" / "ee_mumu"
    before = tree(package)

    original = Path.write_text
    calls = []

    def failing_write(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write)
    for args in (["generate", "card.yaml", "--force"], ["generate", "card.yaml", "-o", "new"]):
        calls.clear()
        code = cli.main(args)
        assert code != 0
        err = capsys.readouterr().err
        assert "Traceback" not in err and "No space left" in err
        assert len(err.strip().splitlines()) == 1
    monkeypatch.undo()
    assert tree(package) == before  # the old package is untouched
    assert sorted(p.name for p in (tmp_path / "generated").iterdir()) == ["ee_mumu"]
    assert not (tmp_path / "new").exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_draw_failure_leaves_no_output(tmp_path, monkeypatch, capsys):
    import madgen.diagrams.draw

    monkeypatch.chdir(tmp_path)
    (tmp_path / "card.yaml").write_text(EE_MUMU)

    def broken(*args, **kwargs):
        raise RuntimeError("cannot draw")

    monkeypatch.setattr(madgen.diagrams.draw, "diagram_svg", broken)
    assert cli.main(["generate", "card.yaml", "--draw"]) == 1
    assert "cannot draw" in capsys.readouterr().err
    assert_nothing_written(tmp_path)


def test_a_package_from_another_version_of_the_card_is_not_launched(tmp_path):
    """process_for_run (madgen launch with a card) refuses the package under generated/<name> when the card's
    param_card contents or multiparticles changed since it was generated, instead of running the old
    physics; the unchanged card reuses it."""
    from madgen.api import generate, process_for_run
    from madgen.errors import OutputError
    from madgen.model import load_model
    from madgen.model.param_card import write_param_card

    sm = load_model("sm")
    (tmp_path / "param.dat").write_text(write_param_card(sm, {"MZ": 92.0}))
    card = tmp_path / "card.yaml"
    card.write_text("model: sm\nprocess: e+ e- > l+ l-\nmultiparticles: {l+: mu+, l-: mu-}\nname: ee_ll\n"
                    f"param_card: param.dat\noutput: {tmp_path / 'ee_ll'}\n")
    generate(card)
    process, _ = process_for_run(card)
    assert process.default_parameters()["MZ"] == 92.0
    (tmp_path / "param.dat").write_text(write_param_card(sm, {"MZ": 80.0}))
    with pytest.raises(OutputError, match="generated from another version of .*card.yaml.*--force"):
        process_for_run(card)
    (tmp_path / "param.dat").write_text(write_param_card(sm, {"MZ": 92.0}))
    process_for_run(card)
    card.write_text(card.read_text().replace("{l+: mu+, l-: mu-}", "{l+: ta+, l-: ta-}"))
    with pytest.raises(OutputError, match="generated from another version"):
        process_for_run(card)
