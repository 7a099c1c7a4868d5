"""madgen: a compiler from UFO models and MadGraph-syntax processes to differentiable JAX |M|^2."""

from madgen.version import __version__


def load(path):
    """Load a generated package (a directory under ``generated/``) and return its process."""
    from madgen.api import load as _load

    return _load(path)


def generate(card_path, output=None, force=False, draw=False, all_helicities=False):
    """Generate the package of a process card; see ``madgen.api.generate``."""
    from madgen.api import generate as _generate

    return _generate(card_path, output=output, force=force, draw=draw, all_helicities=all_helicities)


def jit(function, process=None, **jit_options):
    """``jax.jit`` with the compiler options of ``process``'s kernel (``madgen.contract.jit``): use it for
    your own functions of a matrix element (on CPU, grid-layout kernels run faster and large kernels
    compile faster with them)."""
    from madgen.contract import jit as _jit

    return _jit(function, process=process, **jit_options)


__all__ = ["__version__", "generate", "jit", "load"]
