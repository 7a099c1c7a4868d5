"""madgen's persistent XLA compilation cache (madgen.contract.enable_compilation_cache): loading a
package turns it on in $MADGEN_XLA_CACHE (default ~/.cache/madgen/xla), ``off`` turns it off, and a
cache directory the user configured is left alone. Each case runs in a fresh Python process, since
JAX reads the setting when it first compiles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "epem_mupmum"

SCRIPT = """
import json, sys, jax
if sys.argv[2]:
    jax.config.update("jax_compilation_cache_dir", sys.argv[2])
import madgen
proc = madgen.load(sys.argv[1])
print(json.dumps({"dir": jax.config.jax_compilation_cache_dir, "max": jax.config.jax_compilation_cache_max_size}))
"""


def cache_settings(env_value, user_dir="", home=None):
    env = {k: v for k, v in os.environ.items() if k not in ("MADGEN_XLA_CACHE", "XDG_CACHE_HOME")}
    env["PYTHONPATH"] = str(ROOT)
    if env_value is not None:
        env["MADGEN_XLA_CACHE"] = env_value
    if home is not None:
        env["XDG_CACHE_HOME"] = str(home)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(GOLDEN), user_dir], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_a_package_turns_the_cache_on(tmp_path):
    settings = cache_settings(None, home=tmp_path)
    assert settings["dir"] == str(tmp_path / "madgen" / "xla") and (tmp_path / "madgen" / "xla").is_dir()
    assert settings["max"] > 0  # a size limit: LRU eviction, and a lock for concurrent writers


@pytest.mark.parametrize("value", ["off", "0"])
def test_off_turns_it_off(tmp_path, value):
    assert cache_settings(value, home=tmp_path)["dir"] is None
    assert not (tmp_path / "madgen").exists()


def test_an_explicit_directory_and_a_users_own_setting(tmp_path):
    assert cache_settings(str(tmp_path / "mine"))["dir"] == str(tmp_path / "mine")
    assert cache_settings(None, user_dir=str(tmp_path / "theirs"), home=tmp_path)["dir"] == str(tmp_path / "theirs")
    assert not (tmp_path / "madgen").exists()
