"""madgen's version, from the installed distribution's metadata (pyproject.toml is the one place
it is written)."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("madgen")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
