"""Golden packages: regenerating tests/golden/<name> must reproduce the committed files byte for
byte, so any change to generated code shows up in review as a diff of those files.

After an intended change: ``madgen generate tests/golden/<name>.yaml --force`` and commit the diff.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
MACHINE_DEPENDENT = ("model_directory",)  # where ufo_sm is installed on this machine


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _comparable_metadata(raw: bytes) -> dict:
    metadata = json.loads(raw)
    return {key: value for key, value in metadata.items() if key not in MACHINE_DEPENDENT}


@pytest.mark.parametrize("name", ["epem_mupmum", "gg_ttx"])
def test_regeneration_reproduces_the_committed_package(name, tmp_path):
    card = GOLDEN / f"{name}.yaml"
    done = subprocess.run([sys.executable, "-m", "madgen", "generate", str(card), "-o", str(tmp_path / name)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    committed, regenerated = _files(GOLDEN / name), _files(tmp_path / name)
    assert sorted(regenerated) == sorted(committed), f"files differ; refresh with: madgen generate {card} --force"
    for filename, content in committed.items():
        if filename == "metadata.json":
            assert _comparable_metadata(regenerated[filename]) == _comparable_metadata(content)
        else:
            assert regenerated[filename] == content, (
                f"{name}/{filename} differs from the committed golden file; if the change is intended, "
                f"run `madgen generate {card} --force` and commit the diff")
