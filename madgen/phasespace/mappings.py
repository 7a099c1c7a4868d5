"""One-dimensional importance maps u in [0, 1) -> v in [lo, hi], each returning (v, Jacobian dv/du).

The Jacobian is the exact inverse density of the map, so E_u[f(v) J] = ∫_lo^hi f(v) dv. Collapsed or
inverted ranges (hi <= lo) give J = 0 with finite values and gradients.
"""

from __future__ import annotations

import jax.numpy as jnp


def flat_map(u, lo, hi):
    """Uniform v = lo + u (hi - lo)."""
    width = jnp.maximum(hi - lo, 0.0)
    return lo + u * width, width


def log_map(u, lo, hi, shift):
    """Density ∝ 1 / (v + shift) on [lo, hi]; needs lo + shift > 0 (the regulator of a 1/v propagator)."""
    hi = jnp.maximum(hi, lo)
    a = jnp.log(lo + shift)
    b = jnp.log(hi + shift)
    shifted = jnp.exp(a + u * (b - a))
    return jnp.clip(shifted - shift, lo, hi), (b - a) * shifted


def breit_wigner_map(u, lo, hi, mass, width):
    """Density ∝ 1 / ((s - M²)² + M²Γ²) on [lo, hi] (arctan map); flat where M Γ <= 0 at run time."""
    hi = jnp.maximum(hi, lo)
    mg = mass * width
    positive = mg > 0
    safe_mg = jnp.where(positive, mg, 1.0)
    m2 = mass**2
    a = jnp.arctan((lo - m2) / safe_mg)
    b = jnp.arctan((hi - m2) / safe_mg)
    s = jnp.clip(m2 + safe_mg * jnp.tan(a + u * (b - a)), lo, hi)
    jac = (b - a) * ((s - m2) ** 2 + safe_mg**2) / safe_mg
    s_flat, jac_flat = flat_map(u, lo, hi)
    return jnp.where(positive, s, s_flat), jnp.where(positive, jac, jac_flat)


def two_sided_map(u, lo, hi, low_shift, high_shift):
    """Density ∝ 1 / ((v - lo + a)(hi - v + b)) on [lo, hi] with a = ``low_shift``, b = ``high_shift`` > 0:
    a propagator-like peak at the lower edge and a soft-emission peak at the upper edge together
    (v = the mass squared of a system whose massless sibling is soft at v -> hi)."""
    hi = jnp.maximum(hi, lo)
    width = hi - lo
    start = jnp.log(low_shift / (width + high_shift))
    end = jnp.log((width + low_shift) / high_shift)
    ratio = jnp.exp(start + u * (end - start))
    v = jnp.clip((ratio * (hi + high_shift) + lo - low_shift) / (1.0 + ratio), lo, hi)
    jacobian = (end - start) * (v - lo + low_shift) * (hi - v + high_shift) / (width + low_shift + high_shift)
    return v, jacobian
