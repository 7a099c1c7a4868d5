"""Test models written as additions to the SM UFO (ufo-sm): a copy of it with text appended to its files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping

import ufo_sm

SM_DIR = Path(ufo_sm.__file__).parent


def sm_with(target, additions: Mapping[str, str]) -> Path:
    """Copy ufo-sm to ``target`` (replacing it) and append ``additions`` (file name -> UFO text) to its files."""
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(SM_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pkl", "build_restrict.py"))
    for name, text in additions.items():
        with (target / name).open("a") as handle:
            handle.write(text)
    return target
