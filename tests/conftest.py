"""Test set-up: JAX in double precision (x64), MadGraph references, a cache of generated packages.

No op of a generated kernel may run below 64 bits: tests/test_generated_api.py checks it on the jaxpr."""

import gc
import json
import os
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

# ../shared beside the checkout (also in CI's fresh clone)
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mg5_sm_me2.json"


@pytest.fixture(scope="session")
def reference_processes():
    if not REFERENCE.exists():
        pytest.fail(f"MadGraph reference values not found at {REFERENCE} (expected ../shared/reference)")
    return {entry["process"]: entry for entry in json.loads(REFERENCE.read_text())}


class PackageFactory:
    """Generates a process card once per test session and loads the package."""

    def __init__(self, root: Path):
        self.root = root
        self.cache = {}

    def card(self, model: str, process, name: str, **extra) -> Path:
        import yaml

        data = {"model": model, "process": process, "name": name, **extra}
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def __call__(self, model: str, process, name: str, **extra):
        key = (model, str(process), name, json.dumps(extra, sort_keys=True))
        if key not in self.cache:
            import madgen

            card = self.card(model, process, name, **extra)
            madgen.generate(card, output=self.root / "generated" / name, force=True)
            self.cache[key] = madgen.load(self.root / "generated" / name)
        return self.cache[key]


@pytest.fixture(scope="session")
def generate_package(tmp_path_factory):
    return PackageFactory(tmp_path_factory.mktemp("madgen"))


def _memory_maps() -> int | None:
    """How many memory regions this process has mapped (None off Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


@pytest.fixture(scope="module", autouse=True)
def release_compiled_kernels(request):
    """Drop JAX's compiled executables after each test module. XLA:CPU maps about three memory regions
    per compiled kernel and keeps them while the executable lives; a test worker that ran several
    hundred modules' worth of kernels reached Linux's limit of 65530 regions (vm.max_map_count), and
    XLA then crashed with a segmentation fault inside the next compilation or cache read. Set
    MADGEN_TEST_MAPS to a file to log each module's peak region count (how close it comes)."""
    yield
    log = os.environ.get("MADGEN_TEST_MAPS")
    if log:
        with open(log, "a") as out:
            out.write(f"{os.getpid()} {_memory_maps()} {request.module.__name__}\n")
    jax.clear_caches()
    gc.collect()
