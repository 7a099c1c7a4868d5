"""The layering of the README is a checked contract: import-linter's ``layers`` contract in
pyproject.toml (model -> process -> ... -> inference -> api/cli, every import runs down) must hold,
and must name every top-level module of madgen, so that a new module cannot sit outside the layers."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("importlinter")


def layers_contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract


def test_every_import_runs_down_the_layers():
    """``lint-imports`` (import-linter's command) on the project's contract: no module imports from
    a layer above its own."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
                                     "sys.argv = ['lint-imports', '--no-cache']; c()"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"import-linter found imports that climb the layers:\n{done.stdout}\n{done.stderr}"
    assert "0 broken" in done.stdout


def test_the_contract_names_every_top_level_module():
    names = {name.strip() for layer in layers_contract()["layers"] for name in layer.split("|")}
    modules = {p.stem for p in (ROOT / "madgen").glob("*.py") if p.stem not in ("__init__", "__main__")}
    packages = {p.parent.name for p in (ROOT / "madgen").glob("*/__init__.py")}
    missing = sorted((modules | packages) - names)
    assert not missing, f"modules of madgen outside the layers contract in pyproject.toml: {missing}"
