"""An importance-sampling proposal q(x) for x = (e+, b, b~) 3-momenta, independent of madgen's
phase-space code, to check that the quadrature likelihood integrates to one:
sigma_truth = int D(x) dx = E_q[D(x) / q(x)], compared with madgen's sigma.

Coordinates and their densities (all normalised):
* the b b~ system ("H"): m^2 Breit-Wigner (Cauchy in m^2) truncated to the bwcutoff window;
  pT with density 2 pT c^2 / (pT^2 + c^2)^2; rapidity y ~ Normal(0, SIGMA_Y); azimuth uniform;
  the b direction in the pair's rest frame uniform on the sphere;
* the e+: pT with the same law (scale C_E), pseudorapidity uniform in [-ETA_MAX, ETA_MAX] (the e+
  cut, so the support of D is covered), azimuth uniform.

Jacobians to the 3-momenta: d^3k_e = E_e pT dpT deta dphi (massless); for the pair,
d^3k_b d^3k_bb = (E_b E_bb |k*| / (2 m)) pT dpT dy dphi dm^2 dOmega* (from
d^3k1/(2E1) d^3k2/(2E2) = d^3P dm^2 / (2E_P) |k*| / (4m) dOmega* and d^3P = E_P pT dpT dy dphi).
"""

from __future__ import annotations

import numpy as np

C_H, C_E, SIGMA_Y, ETA_MAX = 60.0, 35.0, 1.6, 2.5


def _pt(rng, n, c):
    u = rng.uniform(size=n)
    pt = c * np.sqrt(u / (1 - u))
    return pt, 2 * pt * c**2 / (pt**2 + c**2) ** 2


def _boost(p, beta):
    """Boost four-vectors p (n, 4) by velocity beta (n, 3)."""
    b2 = np.sum(beta**2, axis=1)
    gamma = 1 / np.sqrt(1 - b2)
    bp = np.sum(beta * p[:, 1:], axis=1)
    factor = np.where(b2 > 0, (gamma - 1) * bp / np.where(b2 > 0, b2, 1), 0.0)
    space = p[:, 1:] + (factor + gamma * p[:, 0])[:, None] * beta
    return np.concatenate([(gamma * (p[:, 0] + bp))[:, None], space], axis=1)


def sample(rng, n, mh, wh, mb, bwcutoff):
    """n proposal points: (e, b, bb) lab momenta (n, 4) each and q(x) per unit d^3k_e d^3k_b d^3k_bb."""
    m2, mg = mh**2, mh * wh
    lo, hi = (mh - bwcutoff * wh) ** 2, (mh + bwcutoff * wh) ** 2
    r_lo, r_hi = np.arctan((lo - m2) / mg), np.arctan((hi - m2) / mg)
    s = m2 + mg * np.tan(rng.uniform(r_lo, r_hi, size=n))
    q_s = mg / ((s - m2) ** 2 + mg**2) / (r_hi - r_lo)
    m = np.sqrt(s)
    pt_h, q_pth = _pt(rng, n, C_H)
    y = rng.normal(0, SIGMA_Y, size=n)
    q_y = np.exp(-0.5 * (y / SIGMA_Y) ** 2) / (SIGMA_Y * np.sqrt(2 * np.pi))
    phi = rng.uniform(0, 2 * np.pi, size=n)
    mt = np.sqrt(m**2 + pt_h**2)
    pair = np.stack([mt * np.cosh(y), pt_h * np.cos(phi), pt_h * np.sin(phi), mt * np.sinh(y)], axis=1)
    cos, phis = rng.uniform(-1, 1, size=n), rng.uniform(0, 2 * np.pi, size=n)
    kstar = np.sqrt(np.maximum(s / 4 - mb**2, 0))
    sin = np.sqrt(1 - cos**2)
    direction = np.stack([sin * np.cos(phis), sin * np.sin(phis), cos], axis=1)
    rest_b = np.concatenate([(m / 2)[:, None], kstar[:, None] * direction], axis=1)
    rest_bb = rest_b * np.array([1, -1, -1, -1])
    beta = pair[:, 1:] / pair[:, :1]
    b, bb = _boost(rest_b, beta), _boost(rest_bb, beta)
    q_pair = q_s * q_pth * q_y / (2 * np.pi) / (4 * np.pi)
    jac_pair = b[:, 0] * bb[:, 0] * kstar / (2 * m) * pt_h
    pt_e, q_pte = _pt(rng, n, C_E)
    eta = rng.uniform(-ETA_MAX, ETA_MAX, size=n)
    phie = rng.uniform(0, 2 * np.pi, size=n)
    e = np.stack([pt_e * np.cosh(eta), pt_e * np.cos(phie), pt_e * np.sin(phie), pt_e * np.sinh(eta)], axis=1)
    q_e = q_pte / (2 * ETA_MAX) / (2 * np.pi)
    jac_e = e[:, 0] * pt_e
    return e, b, bb, q_pair * q_e / (jac_pair * jac_e)


def integral(density, rng, n, mh, wh, mb, bwcutoff):
    """int D(x) dx by importance sampling: (estimate, standard error, fraction of non-zero D)."""
    e, b, bb, q = sample(rng, n, mh, wh, mb, bwcutoff)
    values = density(e, b, bb) / q
    return float(np.mean(values)), float(np.std(values) / np.sqrt(n)), float(np.mean(values > 0))
