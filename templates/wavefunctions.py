"""External wavefunctions (HELAS-like), copied verbatim into every generated package.

Conventions: momenta are real arrays (4, *batch) = (E, px, py, pz); wavefunctions are
complex arrays with components on axis 0. Chiral representation::

    gamma^0 = [[0, 1], [1, 0]],  gamma^k = [[0, sigma^k], [-sigma^k, 0]],  gamma5 = diag(-1, -1, 1, 1)

Helicity eigenspinors chi_+(p) = (cos(t/2), e^{i phi} sin(t/2)),
chi_-(p) = (-e^{-i phi} sin(t/2), cos(t/2)); omega_+- = sqrt(E +- |p|)::

    u(p, l) = (omega_{-l} chi_l, omega_l chi_l)
    v(p, l) = (-l omega_l chi_{-l}, l omega_{-l} chi_{-l})
    eps(p, +-1) = (-+ e1 - i e2)/sqrt(2),  eps(p, 0) = (|p|, E p/|p|)/m

with e1 = (0, cos t cos phi, cos t sin phi, -sin t), e2 = (0, -sin phi, cos phi, 0).
Along the -z axis phi = 0, t = pi. Every sqrt and division uses the "double where"
trick so that values and gradients stay finite for momenta along +-z and at rest.
"""

import jax.numpy as jnp


def _safe_sqrt(x):
    """sqrt(x) for x > 0, else 0, with a finite gradient everywhere."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _safe_div(a, b, default):
    """a / b where b != 0, else ``default``, with a finite gradient everywhere."""
    nz = b != 0
    return jnp.where(nz, a / jnp.where(nz, b, 1.0), default)


def _complex_dtype(p):
    return jnp.result_type(p.dtype, jnp.complex64)


def _angles(p):
    """(|p|, cos t/2, sin t/2, e^{i phi}, cos t, sin t, cos phi, sin phi) of the 3-momentum."""
    px, py, pz = p[1], p[2], p[3]
    pt2 = px * px + py * py
    pp = _safe_sqrt(pt2 + pz * pz)
    pt = _safe_sqrt(pt2)
    up = pz >= 0
    # a = |p| + pz, b = |p| - pz, computed without cancellation (a * b = pt^2)
    a = jnp.where(up, pp + pz, _safe_div(pt2, pp - pz, 0.0))
    b = jnp.where(up, _safe_div(pt2, pp + pz, 0.0), pp - pz)
    two_pp = 2.0 * pp
    cos_half = jnp.where(pp > 0, _safe_sqrt(_safe_div(a, two_pp, 1.0)), 1.0)
    sin_half = jnp.where(pp > 0, _safe_sqrt(_safe_div(b, two_pp, 0.0)), 0.0)
    cos_phi = _safe_div(px, pt, 1.0)
    sin_phi = _safe_div(py, pt, 0.0)
    cos_t = _safe_div(pz, pp, 1.0)
    sin_t = _safe_div(pt, pp, 0.0)
    phase = cos_phi + 1j * sin_phi
    return pp, cos_half, sin_half, phase, cos_t, sin_t, cos_phi, sin_phi


def _chi(cos_half, sin_half, phase, lam):
    """Two-component helicity eigenstate chi_lam (sigma.p chi = lam |p| chi)."""
    if lam > 0:
        return cos_half + 0j, sin_half * phase
    return -sin_half * jnp.conj(phase), cos_half + 0j


def _omegas(p, m):
    """(sqrt(E + |p|), sqrt(E - |p|)) with the second as m / sqrt(E + |p|) (exact for m = 0)."""
    pp = _angles(p)[0]
    w_plus = _safe_sqrt(p[0] + pp)
    w_minus = _safe_div(m * jnp.ones_like(w_plus), w_plus, 0.0)
    return w_plus, w_minus


def _check_hel(hel, allowed):
    if hel not in allowed:
        raise ValueError(f"helicity {hel!r} not in {allowed}")


def ket_spinor(p, m, hel, antiparticle):
    """u(p, hel) (incoming fermion) or v(p, hel) (outgoing antifermion), shape (4, *batch)."""
    _check_hel(hel, (-1, 1))
    p = jnp.asarray(p)
    _, ch, sh, ph = _angles(p)[:4]
    w_plus, w_minus = _omegas(p, m)
    w = {1: w_plus, -1: w_minus}
    lam = int(hel)
    if not antiparticle:
        c0, c1 = _chi(ch, sh, ph, lam)
        top, bot = w[-lam], w[lam]
    else:
        c0, c1 = _chi(ch, sh, ph, -lam)
        top, bot = -lam * w[lam], lam * w[-lam]
    out = jnp.stack([top * c0, top * c1, bot * c0, bot * c1])
    return out.astype(_complex_dtype(p))


def bra_spinor(p, m, hel, antiparticle):
    """u-bar(p, hel) (outgoing fermion) or v-bar(p, hel) (incoming antifermion) = ket^dagger gamma^0."""
    k = jnp.conj(ket_spinor(p, m, hel, antiparticle))
    return jnp.stack([k[2], k[3], k[0], k[1]])


def polarization(p, m, hel, outgoing):
    """eps^mu(p, hel) (incoming) or its conjugate (outgoing), upper index, shape (4, *batch)."""
    _check_hel(hel, (-1, 0, 1))
    p = jnp.asarray(p)
    pp, _, _, _, cos_t, sin_t, cos_phi, sin_phi = _angles(p)
    zero = jnp.zeros_like(pp)
    if hel == 0:
        mm = m * jnp.ones_like(pp)
        e0 = _safe_div(pp, mm, 0.0)
        scale = _safe_div(p[0], mm * pp, 0.0)
        at_rest = pp == 0
        eps = [
            e0 + 0j,
            jnp.where(at_rest, 0.0, p[1] * scale) + 0j,
            jnp.where(at_rest, 0.0, p[2] * scale) + 0j,
            jnp.where(at_rest, 1.0, p[3] * scale) + 0j,
        ]
    else:
        lam = int(hel)
        r = 1.0 / jnp.sqrt(2.0)
        e1 = (zero, cos_t * cos_phi, cos_t * sin_phi, -sin_t)
        e2 = (zero, -sin_phi, cos_phi, zero)
        eps = [r * (-lam * a - 1j * b) for a, b in zip(e1, e2)]
    out = jnp.stack(eps).astype(_complex_dtype(p))
    return jnp.conj(out) if outgoing else out


def scalar_wf(p):
    """Scalar wavefunction: ones of shape (1, *batch)."""
    p = jnp.asarray(p)
    return jnp.ones((1,) + p.shape[1:], dtype=_complex_dtype(p))
