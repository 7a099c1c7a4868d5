"""Gold for parameters that move external masses, for 2 -> 2 processes: latent variables whose
support does not move.

When theta moves a final-state mass (MT in p p > t t~), the momenta of an event are on a mass shell
that moves with theta, so densities of momenta at different theta live on different surfaces and
their ratio is undefined. The event is then described by latent variables that do not depend on
theta,

    z = (x1, x2, cos theta*, phi*)   (the momentum fractions, and the direction of the first final-state
                                      particle in the partonic centre-of-mass frame),

with the momenta a function p(z; theta) of them (the masses set |p| and the energies), and

    p(z | theta) = L(x1, x2, muF) |M|^2(p(z; theta); alpha_s(muR)) lambda^{1/2}(s-hat, m3^2, m4^2)
                   / (64 pi^2 s-hat^2) Theta_cuts(p(z; theta)) conv / sigma(theta),

(L = f_a(x1) f_b(x2) with hadron beams, 1 with particle beams and x1 = x2 = 1). Then the joint ratio
and score follow from ``log_density`` and sigma(theta) exactly, the scales (and so the PDFs and
alpha_s) moving with the momenta when they are dynamical. The density vanishes at the threshold
s-hat = (m3 + m4)^2, which moves with theta, so E[t] = 0 holds; for theta_i whose threshold lies
above theta_ref's, p(z|theta_i) vanishes on part of the support of p(z|theta_ref) (1/r = 0 there,
log r = +inf) and E[1/r] = 1 holds; below, E[1/r] = 1 - P_theta_i(below theta_ref's threshold).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from madgen.phasespace.kinematics import kallen, safe_sqrt, to_frame


def latent_variables(momenta, x1, x2):
    """z = (x1, x2, cos theta*, phi*) (N, 4) of 2 -> 2 events from their lab momenta (N, 4, 4)."""
    from madgen.phasespace.kinematics import boost_to_rest

    momenta = np.asarray(momenta, dtype=float)
    total = momenta[:, 0] + momenta[:, 1]
    cm = np.asarray(boost_to_rest(jnp.asarray(momenta[:, 2]), jnp.asarray(total)))
    size = np.linalg.norm(cm[:, 1:], axis=1)
    return np.stack([x1, x2, cm[:, 3] / size, np.arctan2(cm[:, 2], cm[:, 1])], axis=1)


def two_body_momenta(s_hat, cos_theta, phi, m3, m4):
    """CM momenta (N, 4, 4) of massless partons a (+z) b (-z) -> c d with c along (theta, phi)."""
    sqrt_s = safe_sqrt(s_hat)
    p = safe_sqrt(kallen(s_hat, m3 ** 2, m4 ** 2)) / (2 * sqrt_s)
    sin_theta = safe_sqrt(1 - cos_theta ** 2)
    zero = jnp.zeros_like(s_hat)
    e3 = safe_sqrt(p ** 2 + m3 ** 2)
    half = sqrt_s / 2
    three = jnp.stack([p * sin_theta * jnp.cos(phi), p * sin_theta * jnp.sin(phi), p * cos_theta], axis=-1)
    legs = [jnp.stack([half, zero, zero, half], axis=-1), jnp.stack([half, zero, zero, -half], axis=-1),
            jnp.concatenate([e3[:, None], three], axis=-1),
            jnp.concatenate([(sqrt_s - e3)[:, None], -three], axis=-1)]
    return jnp.stack(legs, axis=-2)


def log_density(integrand, z, partons, mirrored, parameters, settings=None):
    """log of the unnormalised p(z | theta) (module docstring) of 2 -> 2 events with latent
    variables z (N, 4), initial PDG ids ``partons`` (N, 2) of their subprocess and ``mirrored`` (N,)
    (the event's subprocess is the mirror b a of the kernel a b); -inf outside the phase space or
    the cuts. Pure JAX, differentiable in the parameters."""
    from madgen.phasespace.fractions import parton_momenta
    from madgen.phasespace.kinematics import cm_to_lab
    from madgen.runtime.scales import event_scales

    settings = integrand.settings() if settings is None else settings
    collider, kernel = integrand.collider, integrand.kernel
    energies = settings.energies
    s = 4.0 * energies[0] * energies[1]
    x1, x2, cos_theta, phi = z[:, 0], z[:, 1], z[:, 2], z[:, 3]
    masses = kernel.masses(parameters)
    s_hat = x1 * x2 * s if integrand.beam_ndim else _fixed_s_hat(energies, masses) * jnp.ones_like(x1)
    cm = two_body_momenta(s_hat, cos_theta, phi, masses[2], masses[3])
    if integrand.beam_ndim:
        lab = to_frame(cm, jnp.sum(parton_momenta(x1, x2, energies[0], energies[1]), axis=-2))
    else:
        lab = cm_to_lab(cm, energies[0], energies[1], masses[0], masses[1])
    mu_r, mu_f1, mu_f2 = event_scales(settings.scales, cm, 2)
    point, _ = integrand._couplings(parameters, mu_r)
    ordered = jnp.where(mirrored[:, None, None], cm[:, jnp.array([1, 0, 2, 3])], cm)
    me2 = kernel.evaluate(ordered, point, check=False)["me2"]
    luminosity = _luminosity(collider, partons, x1, x2, mu_f1, mu_f2)
    phase_space = safe_sqrt(kallen(s_hat, masses[2] ** 2, masses[3] ** 2)) / (64 * math.pi ** 2 * s_hat ** 2)
    value = luminosity * me2 * phase_space
    passed = integrand.cut(lab) & (s_hat > (masses[2] + masses[3]) ** 2) & (value > 0)
    return jnp.where(passed, jnp.log(jnp.where(passed, value, 1.0)), -jnp.inf)


def _fixed_s_hat(energies, masses):
    from madgen.runtime.integrand import _fixed_s

    return _fixed_s(energies, masses)


def _luminosity(collider, partons, x1, x2, mu_f1, mu_f2):
    """f_a(x1, muF1) f_b(x2, muF2) per event for its own partons (1 for particle beams)."""
    result = jnp.ones_like(x1)
    for side, x, mu in ((0, x1, mu_f1), (1, x2, mu_f2)):
        table = collider.density_table(side, x, mu)
        if table is None:
            continue
        index = collider.pdf.flavour_index
        flavours = sorted(index)
        lookup = np.zeros(max(abs(f) for f in flavours) * 2 + 1, dtype=np.int32)
        for flavour in flavours:
            lookup[flavour + len(lookup) // 2] = index[flavour]
        wanted = partons[:, side] if collider.beams[side].pdg > 0 else jnp.where(
            (partons[:, side] == 21) | (partons[:, side] == 22), partons[:, side], -partons[:, side])
        columns = jnp.asarray(lookup)[wanted + len(lookup) // 2]
        result = result * jnp.take_along_axis(table, columns[:, None], axis=-1)[:, 0]
    return result
