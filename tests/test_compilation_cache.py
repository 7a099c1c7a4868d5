"""One persistent XLA compilation cache for the CLI and for Python users (madgen.contract): loading
a package turns JAX's cache on in the directory the CLI uses ($JAX_COMPILATION_CACHE_DIR, else
$MADGEN_CACHE/jax, default ~/.cache/madgen/jax); an empty $JAX_COMPILATION_CACHE_DIR turns it off and
a cache directory the user configured is left alone. Each case runs in a fresh Python process,
since JAX reads the setting when it first compiles."""

import json
import os
import subprocess
import sys
from pathlib import Path

from madgen.cli import enable_compilation_cache as cli_cache
from madgen.contract import compilation_cache_directory

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "epem_mupmum"
VARIABLES = ("JAX_COMPILATION_CACHE_DIR", "MADGEN_CACHE", "XDG_CACHE_HOME", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")

SCRIPT = """
import json, sys, jax
if sys.argv[2]:
    jax.config.update("jax_compilation_cache_dir", sys.argv[2])
import madgen
madgen.load(sys.argv[1])
print(json.dumps(jax.config.jax_compilation_cache_dir))
"""


def cache_dir_after_load(user_dir="", **variables):
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(PYTHONPATH=str(ROOT), **{k: str(v) for k, v in variables.items()})
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(GOLDEN), user_dir], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_a_package_uses_the_clis_cache_directory(tmp_path):
    assert cache_dir_after_load(XDG_CACHE_HOME=tmp_path) == str(tmp_path / "madgen" / "jax")
    assert cache_dir_after_load(MADGEN_CACHE=tmp_path / "root") == str(tmp_path / "root" / "jax")
    environ = {"MADGEN_CACHE": str(tmp_path / "root")}
    cli_cache(environ)
    assert environ["JAX_COMPILATION_CACHE_DIR"] == compilation_cache_directory({"MADGEN_CACHE": str(tmp_path / "root")})


def test_empty_turns_it_off_and_a_users_setting_is_kept(tmp_path):
    assert not cache_dir_after_load(JAX_COMPILATION_CACHE_DIR="", XDG_CACHE_HOME=tmp_path)  # "" or None: no cache
    assert cache_dir_after_load(str(tmp_path / "theirs"), XDG_CACHE_HOME=tmp_path) == str(tmp_path / "theirs")
    assert cache_dir_after_load(JAX_COMPILATION_CACHE_DIR=tmp_path / "env") == str(tmp_path / "env")
