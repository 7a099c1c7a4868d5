"""Collider kinematics of four-momenta ``(..., 4)`` ordered ``(E, px, py, pz)``, beam along z.

Pure ``jax.numpy`` functions (jit-able, batched over leading axes), used by the cuts.
"""

from __future__ import annotations

import jax.numpy as jnp


def transverse_momentum(p):
    """pT = sqrt(px^2 + py^2)."""
    return jnp.hypot(p[..., 1], p[..., 2])


def azimuth(p):
    """phi = atan2(py, px) in (-pi, pi]."""
    return jnp.arctan2(p[..., 2], p[..., 1])


def pseudorapidity(p):
    """eta = asinh(pz / pT); +-inf along the beam (MadGraph's Delta R uses it; its eta cuts take y)."""
    return jnp.arcsinh(p[..., 3] / transverse_momentum(p))


def rapidity(p):
    """y = 1/2 log((E + pz) / (E - pz))."""
    return 0.5 * jnp.log((p[..., 0] + p[..., 3]) / (p[..., 0] - p[..., 3]))


def delta_phi(p1, p2):
    """|phi1 - phi2| wrapped into [0, pi]: particles at phi = +-pi are neighbours."""
    difference = azimuth(p1) - azimuth(p2)
    return jnp.abs(jnp.mod(difference + jnp.pi, 2 * jnp.pi) - jnp.pi)


def delta_r(p1, p2):
    """Delta R = sqrt(Delta eta^2 + Delta phi^2), with pseudorapidity as MadGraph's R2_04."""
    return jnp.hypot(pseudorapidity(p1) - pseudorapidity(p2), delta_phi(p1, p2))


def invariant_mass(p):
    """sqrt(p^2) of a (summed) momentum, clipped at 0 against rounding."""
    squared = p[..., 0] ** 2 - p[..., 1] ** 2 - p[..., 2] ** 2 - p[..., 3] ** 2
    return jnp.sqrt(jnp.maximum(squared, 0.0))


def pair_mass(p1, p2):
    """Invariant mass of two momenta."""
    return invariant_mass(p1 + p2)
