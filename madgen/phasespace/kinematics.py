"""Four-vector kinematics for the phase-space generators: Källén λ, boosts, rotations, two-body decays.

Momenta are arrays (..., 4) with components (E, px, py, pz) in GeV. Every function is pure
``jax.numpy`` and guarded so that unphysical inputs give finite values and finite gradients
(the generators then set the weight of such points to zero).
"""

from __future__ import annotations

import jax.numpy as jnp

TINY = 1e-300
"""Smallest positive number treated as non-zero in guards."""


def safe_sqrt(x):
    """sqrt(max(x, 0)) with a finite (zero) gradient where x <= 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def kallen(a, b, c):
    """Källén function λ(a, b, c) = a² + b² + c² - 2ab - 2ac - 2bc (arguments are squared masses)."""
    return (a - b - c) ** 2 - 4.0 * b * c


def minkowski_dot(p, q):
    """p·q with metric (+, -, -, -), over the last axis."""
    return p[..., 0] * q[..., 0] - jnp.sum(p[..., 1:] * q[..., 1:], axis=-1)


def mass_squared(p):
    """p² = E² - |p|²."""
    return minkowski_dot(p, p)


def two_body_momentum(m0, m1, m2):
    """|p| of either daughter in the rest frame of a parent of mass m0 decaying to masses m1, m2 (0 if closed)."""
    lam = kallen(m0**2, m1**2, m2**2)
    return safe_sqrt(lam) / (2.0 * jnp.where(m0 > 0, m0, 1.0))


def from_angles(mass, momentum, cos_theta, phi):
    """On-shell four-vector with |p| = momentum along (θ, φ)."""
    sin_theta = safe_sqrt(1.0 - cos_theta**2)
    energy = safe_sqrt(mass**2 + momentum**2)
    return jnp.stack([energy, momentum * sin_theta * jnp.cos(phi), momentum * sin_theta * jnp.sin(phi),
                      momentum * cos_theta], axis=-1)


def boost(p, q):
    """Boost p from the rest frame of q into the frame in which q has its given four-momentum.

    ``q`` must be timelike; the boost is the pure (rotation-free) one along q's three-momentum.
    """
    mq = safe_sqrt(mass_squared(q))
    mq = jnp.where(mq > 0, mq, 1.0)
    qvec = q[..., 1:]
    pvec = p[..., 1:]
    qp = jnp.sum(qvec * pvec, axis=-1)
    energy = (q[..., 0] * p[..., 0] + qp) / mq
    factor = (p[..., 0] + energy) / (q[..., 0] + mq)
    return jnp.concatenate([energy[..., None], pvec + factor[..., None] * qvec], axis=-1)


def boost_to_rest(p, q):
    """Boost p into the rest frame of q (the inverse of ``boost(·, q)``)."""
    q_reversed = jnp.concatenate([q[..., :1], -q[..., 1:]], axis=-1)
    return boost(p, q_reversed)


def rotate_z_to(v, direction):
    """Rotate the three-vectors v by the minimal rotation taking the z axis to ``direction`` (unit).

    Rodrigues' formula R = 1 + [k]× + [k]×² / (1 + c), k = z × n, c = z·n; smooth except at
    n = -z, where it is replaced by the rotation by π about the x axis.
    """
    nx, ny, nz = direction[..., 0], direction[..., 1], direction[..., 2]
    flipped = nz <= -1.0 + 1e-14
    inv = 1.0 / jnp.where(flipped, 1.0, 1.0 + nz)
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    # k = (-ny, nx, 0); R v = v c + k × v + k (k·v) / (1 + c)
    kv = -ny * vx + nx * vy
    rx = vx * nz + nx * vz + (-ny) * kv * inv
    ry = vy * nz + ny * vz + nx * kv * inv
    rz = vz * nz - (nx * vx + ny * vy)
    rotated = jnp.stack([rx, ry, rz], axis=-1)
    flipped_v = jnp.stack([vx, -vy, -vz], axis=-1)
    return jnp.where(flipped[..., None], flipped_v, rotated)


def decay_two_body(parent, m1, m2, cos_theta, phi):
    """Daughters (p1, p2) of ``parent`` (lab momentum) with masses m1, m2 at rest-frame angles (θ, φ) of p1.

    The angles are measured from the z axis of the parent's rest frame reached by a pure boost.
    """
    m0 = safe_sqrt(mass_squared(parent))
    k = two_body_momentum(m0, m1, m2)
    d1 = from_angles(m1, k, cos_theta, phi)
    d2 = jnp.concatenate([safe_sqrt(m2**2 + k**2)[..., None], -d1[..., 1:]], axis=-1)
    return boost(d1, parent), boost(d2, parent)


def beams_cm(sqrt_s, m1, m2):
    """Incoming momenta (..., 2, 4) in the centre-of-mass frame: leg 1 along +z, leg 2 along -z."""
    sqrt_s, m1, m2 = jnp.broadcast_arrays(jnp.asarray(sqrt_s, dtype=jnp.float64), jnp.asarray(m1), jnp.asarray(m2))
    s = sqrt_s**2
    k = two_body_momentum(sqrt_s, m1, m2)
    zero = jnp.zeros_like(k)
    e1 = (s + m1**2 - m2**2) / (2.0 * sqrt_s)
    e2 = (s + m2**2 - m1**2) / (2.0 * sqrt_s)
    p1 = jnp.stack([e1, zero, zero, k], axis=-1)
    p2 = jnp.stack([e2, zero, zero, -k], axis=-1)
    return jnp.stack([p1, p2], axis=-2)


def beam_momenta(e1, e2, m1=0.0, m2=0.0):
    """Lab-frame beam momenta (..., 2, 4): energy e1 along +z, e2 along -z, masses m1, m2."""
    e1, e2, m1, m2 = (jnp.asarray(v, dtype=jnp.float64) for v in (e1, e2, m1, m2))
    e1, e2, m1, m2 = jnp.broadcast_arrays(e1, e2, m1, m2)
    zero = jnp.zeros_like(e1)
    p1 = jnp.stack([e1, zero, zero, safe_sqrt(e1**2 - m1**2)], axis=-1)
    p2 = jnp.stack([e2, zero, zero, -safe_sqrt(e2**2 - m2**2)], axis=-1)
    return jnp.stack([p1, p2], axis=-2)


def sqrt_s_of(incoming):
    """Centre-of-mass energy of incoming momenta (..., 2, 4)."""
    return safe_sqrt(mass_squared(jnp.sum(incoming, axis=-2)))


def to_frame(momenta, total):
    """Boost CM-frame momenta (..., n, 4) to the frame in which the total momentum is ``total`` (..., 4)."""
    return boost(momenta, jnp.asarray(total)[..., None, :])


def partonic_frame(momenta, n_initial: int):
    """Momenta (..., n, 4) boosted to the rest frame of their initial state (the partonic centre of mass,
    or the decaying particle's rest frame): the frame in which MadGraph evaluates |M|^2 (its default
    ``me_frame``) and in which helicities are defined. Along z for beams along z, so directions keep."""
    momenta = jnp.asarray(momenta)
    return boost_to_rest(momenta, jnp.sum(momenta[..., :n_initial, :], axis=-2, keepdims=True))


def in_me_frame(process, momenta):
    """Event momenta (..., n, 4) as the generated ``process`` evaluates them: in the partonic frame
    (``partonic_frame``) when its |M|^2 depends on the frame (a polarised particle, ``process.polarised``),
    as they are otherwise (|M|^2 is then Lorentz invariant)."""
    if getattr(process, "polarised", False):
        return partonic_frame(momenta, process.n_initial)
    return momenta


def cm_to_lab(momenta, e1, e2, m1=0.0, m2=0.0):
    """Boost CM-frame momenta (..., n, 4) to the lab of asymmetric beams (e1 along +z, e2 along -z).

    The CM frame must have beam 1 along +z (as ``beams_cm`` and the generators here do); the
    boost is along z, so beam directions are preserved.
    """
    total = jnp.sum(beam_momenta(e1, e2, m1, m2), axis=-2)
    return to_frame(momenta, total)


def with_incoming(final, sqrt_s, m1=0.0, m2=0.0):
    """Prepend the CM-frame incoming momenta to final-state momenta (batch, n, 4) -> (batch, n + 2, 4)."""
    incoming = beams_cm(sqrt_s, m1, m2)
    incoming = jnp.broadcast_to(incoming, final.shape[:-2] + (2, 4))
    return jnp.concatenate([incoming, final], axis=-2)
