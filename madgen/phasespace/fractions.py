"""Momentum fractions of partons in hadron beams: (x1, x2) from uniform numbers, in JAX.

With s the beam-beam invariant (massless beams: s = 4 E1 E2), s-hat = tau s = x1 x2 s and the
rapidity of the partonic system y = log(x1 / x2) / 2:

    dx1 dx2 = dtau dy,   x1 = sqrt(tau) e^y,   x2 = sqrt(tau) e^-y,   |y| <= -log(tau) / 2.

tau is mapped on [tau_min, tau_max] so that the partonic cross section is flat: a Breit-Wigner in
s-hat when the whole final state is one s-channel resonance (Z, W, H, a heavy BSM state; MadGraph's
choice for a resonant s-hat), 1/tau otherwise (thresholds such as t t~: the luminosity falls like a
power of tau and the 1/tau map flattens its leading behaviour). y is flat on the range x1, x2 <= 1
allow, or on a narrower window where the caller knows that no point outside it passes its cuts
(``sample_rapidity``: the runtime narrows y to where every final-state particle with a pseudorapidity
cut can be inside it, so that acceptance and sampling range coincide). With one hadron beam the
other parton carries the whole beam energy: x = tau, one random number.

Every map returns the exact inverse density, so E_u[f(x1, x2) J] = ∫ dx1 dx2 f.

A 2 -> 1 process (p p > z, g g > h) produces its particle at s-hat = M^2: the one-body phase space
is 2 pi delta(s-hat - M^2), and ∫ dtau dy delta(tau s - M^2) g = (1/s) ∫ dy g at tau = M^2 / s,
so only y is sampled (``one_body_fractions``), as MadGraph does.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from madgen.phasespace.mappings import breit_wigner_map, log_map


@dataclass(frozen=True)
class FractionMap:
    """How tau is sampled: ``resonance`` = (mass, width) parameter names of an s-channel propagator
    carrying the whole final state (a Breit-Wigner in s-hat; a massless one: 1/s-hat), or None (1/tau).
    ``hadrons`` = which of the two beams are hadrons (at least one)."""

    hadrons: tuple[bool, bool]
    resonance: tuple[str, str] | None = None

    @property
    def ndim(self) -> int:
        """Random numbers per point: 2 with two hadron beams, 1 with one."""
        return sum(self.hadrons)


def sample_tau(u, tau_min, tau_max, s, resonance=None):
    """tau in [tau_min, tau_max] and dtau/du: Breit-Wigner in s-hat = tau s for ``resonance`` =
    (mass, width) values with mass * width > 0, 1/tau otherwise (also for a massless resonance)."""
    tau_max = jnp.maximum(tau_max, tau_min)
    tau_log, jac_log = log_map(u, tau_min, tau_max, 0.0)
    if resonance is None:
        return tau_log, jac_log
    mass, width = resonance
    s_hat, jac_s = breit_wigner_map(u, tau_min * s, tau_max * s, mass, width)
    massive = mass * width > 0
    return jnp.where(massive, s_hat / s, tau_log), jnp.where(massive, jac_s / s, jac_log)


def sample_fractions(u, hadrons: tuple[bool, bool], tau_min, tau_max, s, resonance=None):
    """(x1, x2, Jacobian) per point from u of shape (batch, n_hadrons) in [0, 1).

    ``hadrons``: which beams carry partons with a momentum fraction (the other beam's particle takes
    the whole beam: x = 1). ``tau_min``/``tau_max``: the range of s-hat / s the run can reach;
    ``resonance``: (mass, width) values for a Breit-Wigner in s-hat (see ``sample_tau``).
    """
    tau, jacobian = sample_tau(u[..., 0], tau_min, tau_max, s, resonance)
    if hadrons == (True, True):
        y, y_jacobian = sample_rapidity(u[..., 1], tau)
        x1, x2 = fractions_at(tau, y)
        return x1, x2, jacobian * y_jacobian
    one = jnp.ones_like(tau)
    if hadrons == (True, False):
        return tau, one, jacobian
    if hadrons == (False, True):
        return one, tau, jacobian
    raise ValueError("sample_fractions needs at least one hadron beam")


def sample_rapidity(u, tau, window=None):
    """The partonic system's rapidity y and dy/du from u in [0, 1): flat on |y| <= -log(tau) / 2
    (x1, x2 <= 1), narrowed to ``window`` = (lower, upper) per point where given. The window must hold
    every y where the point can pass (the caller's cuts), so the narrowing changes no integral; where
    it leaves nothing, dy/du = 0 and y = 0 (x1 = x2 = sqrt(tau): a point inside every PDF's domain)."""
    half_range = -0.5 * jnp.log(tau)
    lower, upper = -half_range, half_range
    if window is not None:
        lower, upper = jnp.maximum(lower, window[0]), jnp.minimum(upper, window[1])
    width = jnp.maximum(upper - lower, 0.0)
    y = jnp.clip(lower + u * width, -half_range, half_range)
    return jnp.where(width > 0, y, 0.0), width


def fractions_at(tau, y):
    """(x1, x2) = sqrt(tau) (e^y, e^-y), as exp(log(tau) / 2 +- y): exactly 1 at the end of the range
    |y| <= -log(tau) / 2, never above (a product of the two factors can round to 1 + 2^-52)."""
    half_log = 0.5 * jnp.log(tau)
    return jnp.exp(half_log + y), jnp.exp(half_log - y)


def one_body_fractions(u, tau, s):
    """(x1, x2, Jacobian) of a 2 -> 1 process with two hadron beams from u of shape (batch, 1): tau =
    M^2 / s fixed by the delta function, y flat on [log(tau) / 2, -log(tau) / 2]; the Jacobian holds
    dy/du and the delta function's 1 / s."""
    y, y_jacobian = sample_rapidity(u[..., 0], tau * jnp.ones_like(u[..., 0]))
    x1, x2 = fractions_at(tau, y)
    return x1, x2, y_jacobian / s


def parton_momenta(x1, x2, energy1, energy2):
    """Massless incoming partons (..., 2, 4) in the lab: x1 E1 along +z, x2 E2 along -z."""
    e1, e2 = x1 * energy1, x2 * energy2
    zero = jnp.zeros_like(e1)
    return jnp.stack([jnp.stack([e1, zero, zero, e1], axis=-1), jnp.stack([e2, zero, zero, -e2], axis=-1)], axis=-2)
