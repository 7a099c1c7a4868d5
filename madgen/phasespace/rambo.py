"""RAMBO: flat n-body phase space in the centre-of-mass frame (Kleiss, Stirling, Ellis 1986).

Massless momenta are built from 4 random numbers per particle and conformally mapped to total
momentum (sqrt_s, 0, 0, 0); massive momenta follow by rescaling the three-momenta by ξ, the root
of Σ sqrt(m_i² + ξ² E_i²) = sqrt_s. ξ is found by Newton's method without gradients, then one
differentiable Newton step is taken from the converged root, which gives exactly the implicit-function
derivative dξ = -(∂f/∂θ) / (∂f/∂ξ) with respect to the masses, sqrt_s and the random numbers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from madgen.phasespace.kinematics import safe_sqrt

NEWTON_ITERATIONS = 40
"""Newton steps for ξ (quadratic convergence; 40 is far more than double precision needs)."""


def rambo_ndim(n: int) -> int:
    """Random numbers RAMBO consumes for n final-state particles: 4 per particle."""
    return 4 * n


def massless_volume(sqrt_s, n: int):
    """Phase-space volume of n massless particles: (2π)^(4-3n) (π/2)^(n-1) s^(n-2) / ((n-1)! (n-2)!)."""
    if n < 2:
        raise ValueError(f"massless_volume: needs n >= 2 particles, got {n}")
    s = jnp.asarray(sqrt_s, dtype=jnp.float64) ** 2
    return ((2 * math.pi) ** (4 - 3 * n) * (math.pi / 2) ** (n - 1)
            / (math.factorial(n - 1) * math.factorial(n - 2)) * s ** (n - 2))


def _massless(x, sqrt_s, n):
    """Massless RAMBO momenta (batch, n, 4) from x of shape (batch, 4n)."""
    r = jnp.reshape(x, x.shape[:-1] + (n, 4))
    cos_theta = 2.0 * r[..., 0] - 1.0
    sin_theta = safe_sqrt(1.0 - cos_theta**2)
    phi = 2.0 * jnp.pi * r[..., 1]
    # q0 = -log(r3 r4), guarded against log(0)
    q0 = -jnp.log(jnp.clip(r[..., 2] * r[..., 3], 1e-300, 1.0))
    q = jnp.stack([q0, q0 * sin_theta * jnp.cos(phi), q0 * sin_theta * jnp.sin(phi), q0 * cos_theta], axis=-1)
    total = jnp.sum(q, axis=-2)
    mass = safe_sqrt(total[..., 0] ** 2 - jnp.sum(total[..., 1:] ** 2, axis=-1))
    mass = jnp.where(mass > 0, mass, 1.0)
    b = -total[..., 1:] / mass[..., None]
    gamma = total[..., 0] / mass
    a = 1.0 / (1.0 + gamma)
    scale = sqrt_s / mass
    bq = jnp.sum(b[..., None, :] * q[..., 1:], axis=-1)
    energy = scale[..., None] * (gamma[..., None] * q[..., 0] + bq)
    b_ = b[..., None, :]
    vec = scale[..., None, None] * (q[..., 1:] + b_ * q[..., :1] + (a[..., None] * bq)[..., None] * b_)
    return jnp.concatenate([energy[..., None], vec], axis=-1)


def _xi_equation(xi, energies, masses, sqrt_s):
    """f(ξ) = Σ sqrt(m² + ξ² E²) - sqrt_s and f'(ξ)."""
    e = safe_sqrt(masses**2 + (xi[..., None] * energies) ** 2)
    return jnp.sum(e, axis=-1) - sqrt_s, jnp.sum(xi[..., None] * energies**2 / jnp.maximum(e, 1e-300), axis=-1)


def _solve_xi(energies, masses, sqrt_s):
    """Root ξ in (0, 1] of Σ sqrt(m² + ξ² E²) = sqrt_s (massless energies E sum to sqrt_s)."""
    energies, masses, sqrt_s = (jax.lax.stop_gradient(v) for v in (energies, masses, sqrt_s))
    xi0 = safe_sqrt(1.0 - (jnp.sum(masses) / sqrt_s) ** 2) * jnp.ones(energies.shape[:-1])

    def step(_, xi):
        f, df = _xi_equation(xi, energies, masses, sqrt_s)
        return jnp.clip(xi - f / jnp.where(df > 0, df, 1.0), 0.0, 1.0)

    xi = jax.lax.fori_loop(0, NEWTON_ITERATIONS, step, xi0)
    return xi


def rambo(x, sqrt_s, masses):
    """Flat n-body phase space in the CM frame.

    ``x``: (batch, 4n) uniform numbers in [0, 1); ``sqrt_s``: scalar; ``masses``: (n,) final-state masses.
    Returns final-state momenta (batch, n, 4) and weights (batch,) with E[f(p) w] = ∫ dΦ_n f,
    dΦ_n including its (2π)^(4-3n). Points with sqrt_s <= Σ masses get weight 0.
    """
    x = jnp.asarray(x, dtype=jnp.float64)
    masses = jnp.asarray(masses, dtype=jnp.float64)
    sqrt_s = jnp.asarray(sqrt_s, dtype=jnp.float64)
    n = masses.shape[-1]
    if x.shape[-1] != rambo_ndim(n):
        raise ValueError(f"rambo: x has {x.shape[-1]} random numbers per point, {n} particles need {rambo_ndim(n)}")
    massless = _massless(x, sqrt_s, n)
    weight0 = massless_volume(sqrt_s, n) * jnp.ones(x.shape[:-1])
    energies = massless[..., 0]
    open_ = sqrt_s > jnp.sum(masses)
    # one differentiable Newton step from the converged root: implicit-function derivative
    xi_star = _solve_xi(energies, masses, sqrt_s)
    f, df = _xi_equation(xi_star, energies, masses, sqrt_s)
    df = jax.lax.stop_gradient(df)
    xi = xi_star - f / jnp.where(df > 0, df, 1.0)
    k = xi[..., None] * energies  # |k_i|
    e = safe_sqrt(masses**2 + k**2)
    momenta = jnp.concatenate([e[..., None], xi[..., None, None] * massless[..., 1:]], axis=-1)
    safe_k = jnp.where(k > 0, k, 1.0)
    # w_m = w_0 ξ^(2n-3) Π(|k|/E) sqrt_s / Σ(|k|²/E)
    factor = (xi ** (2 * n - 3) * jnp.prod(safe_k / e, axis=-1) * sqrt_s
              / jnp.maximum(jnp.sum(safe_k**2 / e, axis=-1), 1e-300))
    weight = jnp.where(open_ & jnp.all(k > 0, axis=-1), weight0 * factor, 0.0)
    return momenta, weight
