"""An independent leading-order hadronic cross section for 2 -> 2 processes, for the tests.

    sigma = sum_ab int dtau dy dcos(theta) f_a(x1, muF) f_b(x2, muF) 2 pi |M|^2 lambda^{1/2}(s-hat, m3^2, m4^2)
                                           / (32 pi^2 s-hat) / (2 s-hat) (hbar c)^2,

x1,2 = sqrt(tau) e^{+-y}, by deterministic tensor-product Gauss-Legendre quadrature: written
without the runtime (its phase space, maps, integrator, luminosities and scales), using only the
generated |M|^2 (with alpha_s(muR) of the PDF as aS, point by point) and the PDF evaluator.
``classes(a, b) -> (name, mirrored)`` says which subprocesses have the same |M|^2 by flavour
universality (massless u and c, d and s): each class is evaluated once; a mirror b a (``mirrored``)
reuses a b's values at -cos(theta) (M_ba(p1, p2) = M_ab(p2, p1), and the rotation by pi about the
x axis, under which |M|^2 is invariant, takes that point to -cos(theta)).

Cuts on a massless final state (pT > ptmin and |eta| < etamax on both particles) are integrated
exactly, not as an indicator: the pT cut bounds |cos(theta)| by sqrt(1 - 4 ptmin^2 / s-hat) and the
eta cut by tanh(etamax); at a given theta the two particles sit at rapidities y_lab +- eta*,
eta* = atanh(cos(theta)), so both pass where |y_lab| < etamax - |eta*|, with y_lab = y + log(E1 / E2) / 2.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

HBARC2_PB = 0.3893793721e9
DYNAMIC = {2: "sum of mT", 3: "half the sum of mT", 4: "sqrt(s-hat)"}


def gauss(n, lo, hi):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return lo + (hi - lo) * (nodes + 1) / 2, weights * (hi - lo) / 2


def two_body_points(s_hat, cos_theta, m3, m4):
    """CM momenta (..., 4, 4) of massless a b -> c d at s-hat, the c polar angle theta, azimuth 0."""
    sqrt_s = np.sqrt(s_hat)
    p = np.sqrt(np.maximum((s_hat - (m3 + m4) ** 2) * (s_hat - (m3 - m4) ** 2), 0.0)) / (2 * sqrt_s)
    sin_theta = np.sqrt(1 - cos_theta ** 2)
    zero = np.zeros_like(s_hat)
    e3, e4 = np.sqrt(p ** 2 + m3 ** 2), np.sqrt(p ** 2 + m4 ** 2)
    half = sqrt_s / 2
    legs = [(half, zero, zero, half), (half, zero, zero, -half),
            (e3, p * sin_theta, zero, p * cos_theta), (e4, -p * sin_theta, zero, -p * cos_theta)]
    return np.stack([np.stack(leg, axis=-1) for leg in legs], axis=-2), p


def scale_of(choice, s_hat, p, cos_theta, m3, m4, fixed):
    """muR = muF: fixed, or MadGraph's dynamical choice 2, 3, 4 for a 2 -> 2 event in its CM frame."""
    if choice is None:
        return np.full_like(s_hat, fixed)
    pt = p * np.sqrt(1 - cos_theta ** 2)
    mt = np.sqrt(m3 ** 2 + pt ** 2) + np.sqrt(m4 ** 2 + pt ** 2)
    return {2: mt, 3: mt / 2, 4: np.sqrt(s_hat)}[choice]


def hadronic_cross_section(process, pdf, sqrt_s, s_hat_nodes, classes, y_nodes=48, cos_nodes=16,
                           antiproton_2=False, scale=91.188, dynamical=None, chunk=65536, parameters=None,
                           beam_energies=None, massless_cuts=None, mu_r_factor=1.0, mu_f_factor=1.0):
    """sigma in pb. ``s_hat_nodes``: (s-hat values, weights) of a quadrature in s-hat; ``dynamical``:
    None (fixed ``scale``) or MadGraph's choice 2, 3, 4; ``antiproton_2``: beam 2 is an antiproton;
    ``parameters``: external parameters other than the defaults (e.g. MT); ``beam_energies``: (E1, E2)
    instead of sqrt_s / 2 each; ``massless_cuts``: (ptmin, etamax) on both final-state particles;
    ``mu_r_factor``, ``mu_f_factor``: alpha_s at that multiple of the scale, the densities at this one."""
    parameters = dict(parameters or {})
    e1, e2 = beam_energies or (sqrt_s / 2, sqrt_s / 2)
    s = 4 * e1 * e2
    s_hat, w_s = s_hat_nodes
    masses = np.asarray(process.subprocesses[0].masses(parameters))
    m3, m4 = float(masses[2]), float(masses[3])
    S, Y, C, W = _grid(s, s_hat, w_s, y_nodes, cos_nodes, 0.5 * math.log(e1 / e2), massless_cuts, (m3, m4))
    x1, x2 = np.sqrt(S / s) * np.exp(Y), np.sqrt(S / s) * np.exp(-Y)
    momenta, p = two_body_points(S, C, m3, m4)
    mu = scale_of(dynamical, S, p, C, m3, m4, scale)
    alpha_s = np.asarray(pdf.alphas(mu_r_factor * mu))
    phase_space = 2 * math.pi * np.sqrt(np.maximum((S - (m3 + m4) ** 2) * (S - (m3 - m4) ** 2), 0.0)) \
        / (32 * math.pi ** 2 * S) / (2 * S) * HBARC2_PB
    f1 = np.asarray(pdf.xfx(x1, mu_f_factor * mu)) / x1[:, None]
    f2 = np.asarray(pdf.xfx(x2, mu_f_factor * mu)) / x2[:, None]
    column = pdf.flavour_index
    total, by_subprocess, cache = 0.0, [], {}
    for sub in process.subprocesses:
        a, b = sub.pdg_ids[:2]
        b_in_proton = -b if antiproton_2 and b not in (21, 22) else b
        lumi = f1[:, column[a]] * f2[:, column[b_in_proton]]
        name, mirrored = classes(a, b)
        if name not in cache:
            assert not mirrored, "list a b before its mirror b a"
            cache[name] = _me2(sub, momenta, alpha_s, chunk, parameters)
        me2 = cache[name].reshape(-1, cos_nodes)[:, ::-1].ravel() if mirrored else cache[name]
        value = float(np.sum(W * lumi * me2 * phase_space))
        by_subprocess.append(value)
        total += value
    return total, by_subprocess


def _grid(s, s_hat, w_s, y_nodes, cos_nodes, offset, massless_cuts, final_masses):
    """Points (s-hat, y, cos(theta)) and weights, flat, axes (s-hat, y, cos) with cos(theta) symmetric
    about 0 at every s-hat and y (so that reversing the last axis takes cos(theta) to -cos(theta))."""
    tau = s_hat / s
    half = -0.5 * np.log(tau)
    cos_max = np.ones_like(s_hat)
    if massless_cuts is not None:
        assert final_masses == (0.0, 0.0), "the cuts are integrated exactly for a massless final state only"
        ptmin, etamax = massless_cuts
        cos_max = np.minimum(np.sqrt(np.maximum(1 - 4 * ptmin ** 2 / s_hat, 0.0)), math.tanh(etamax))
    assert cos_nodes % 2 == 0, "cos(theta) nodes come in symmetric pairs"
    half_nodes, half_weights = gauss(cos_nodes // 2, 0.0, 1.0)  # each half alone: the window bends at 0
    nodes, w_c = np.concatenate([-half_nodes[::-1], half_nodes]), np.concatenate([half_weights[::-1], half_weights])
    if massless_cuts is None:
        C = cos_max[:, None, None] * nodes[None, None, :] * np.ones((1, y_nodes, 1))
        w_cos = cos_max[:, None, None] * w_c[None, None, :]
    else:  # in eta* = atanh(cos(theta)), where the window's width 2 (etamax - |eta*|) is linear
        eta_star = np.arctanh(cos_max)[:, None, None] * nodes[None, None, :] * np.ones((1, y_nodes, 1))
        C = np.tanh(eta_star)
        w_cos = np.arctanh(cos_max)[:, None, None] * w_c[None, None, :] * (1 - C[:, :1, :] ** 2)
    lower, upper = -half[:, None, None], half[:, None, None]
    if massless_cuts is not None:
        reach = etamax - np.arctanh(np.abs(C[:, :1, :]))  # |y + offset| < etamax - |eta*|
        lower, upper = np.maximum(lower, -reach - offset), np.minimum(upper, reach - offset)
    width = np.maximum(upper - lower, 0.0)
    u, w_u = gauss(y_nodes, -1.0, 1.0)
    Y = (lower + upper) / 2 + width / 2 * u[None, :, None]
    S = s_hat[:, None, None] * np.ones_like(C)
    W = (w_s / s)[:, None, None] * (w_u[None, :, None] * width / 2) * w_cos
    return tuple(np.broadcast_to(a, C.shape).ravel() for a in (S, Y, C, W))


def _me2(sub, momenta, alpha_s, chunk, parameters):
    """|M|^2 of ``sub`` at all points, with alpha_s of each point as aS."""
    if id(sub) not in _COMPILED:
        _COMPILED[id(sub)] = (sub, jax.jit(lambda p, a, rest: sub.matrix_element(p, {**rest, "aS": a}, check=False)))
    function = _COMPILED[id(sub)][1]
    rest = {k: float(v) for k, v in parameters.items()}
    return np.concatenate([np.asarray(function(jnp.asarray(momenta[i:i + chunk]), jnp.asarray(alpha_s[i:i + chunk]),
                                               rest)) for i in range(0, len(momenta), chunk)])


_COMPILED: dict = {}


def top_classes(a, b):
    """p p > t t~: g g, and q q~ (the same |M|^2 for every massless flavour in QCD)."""
    return ("gg", False) if a == 21 else ("qq", a < 0)


def drell_yan_classes(a, b):
    """p p > l+ l-: up-type (u, c) and down-type (d, s) quark-antiquark pairs."""
    return ("up" if abs(a) in (2, 4) else "down", a < 0)


def breit_wigner_nodes(n, s_lo, s_hi, mass, width):
    """Gauss-Legendre nodes in s-hat after the substitution s = M^2 + M Gamma tan(phi) (the Z peak)."""
    a, b = math.atan((s_lo - mass ** 2) / (mass * width)), math.atan((s_hi - mass ** 2) / (mass * width))
    phi, w = gauss(n, a, b)
    s = mass ** 2 + mass * width * np.tan(phi)
    return s, w * mass * width / np.cos(phi) ** 2


def threshold_nodes(n, threshold, s):
    """Gauss-Legendre nodes in s-hat from a massive threshold to s: s-hat = threshold^2 / (1 - beta^2)
    (smooth in the velocity beta near threshold), beta mapped by its logarithm's complement."""
    beta_max = math.sqrt(1 - threshold ** 2 / s)
    # v = -log(1 - beta) spreads the nodes towards beta -> 1 where s-hat grows fast
    v, w = gauss(n, 0.0, -math.log(1 - beta_max))
    beta = 1 - np.exp(-v)
    dbeta = np.exp(-v)
    s_hat = threshold ** 2 / (1 - beta ** 2)
    return s_hat, w * dbeta * 2 * threshold ** 2 * beta / (1 - beta ** 2) ** 2
