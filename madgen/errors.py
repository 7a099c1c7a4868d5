"""Exceptions madgen raises for bad input: one base class, one subclass per stage.

Every message names the culprit (file, key, particle, vertex) and says what to do.
The CLI prints them without a traceback.
"""


class MadgenError(Exception):
    """Base class of every error madgen reports to the user."""


class ModelError(MadgenError):
    """A UFO model cannot be found, imported or understood."""


class ModelNotFound(ModelError):
    """No UFO model of the given name or path."""


class RestrictionError(ModelError):
    """A restriction card is missing or malformed."""


class ParamCardError(MadgenError):
    """A param_card.dat line or block is malformed or missing."""


class CardError(MadgenError):
    """A process.yaml / run.yaml card is malformed or has unknown or missing keys."""


class ProcessError(MadgenError):
    """A process string names unknown particles, violates a conservation law, or has no diagrams."""


class UnsupportedFeature(MadgenError):
    """The model uses a Lorentz or colour structure, spin or option the generator cannot handle."""


class OutputError(MadgenError):
    """The output directory exists (use --force) or cannot be written."""


class InputShapeError(MadgenError, ValueError):
    """Momenta or parameters passed to a generated matrix element have the wrong shape or keys."""


class RunCardError(CardError):
    """A run card (run.yaml: beams, events, cuts, integration, output) has a bad key or value."""


class PDFError(MadgenError):
    """A parton-distribution set cannot be found, read or evaluated."""


class PDFSetNotFound(PDFError):
    """No directory holding the requested LHAPDF set was found in any search location."""


class PDFFormatError(PDFError):
    """An LHAPDF6 ``.info`` or ``.dat`` file is malformed (the message names file and line)."""


class PDFRangeError(PDFError, ValueError):
    """x or Q passed to a PDF or alpha_s is outside its physical domain."""
