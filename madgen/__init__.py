"""madgen: a compiler from UFO models and MadGraph-syntax processes to differentiable JAX |M|^2."""

__version__ = "0.1.0"
