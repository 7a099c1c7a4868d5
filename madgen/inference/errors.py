"""The error madgen.inference raises for bad input (parameter names, theta values, files)."""

from madgen.errors import MadgenError


class InferenceError(MadgenError):
    """Unknown or unsuitable parameters, malformed theta values, or a gold file that cannot be read."""
