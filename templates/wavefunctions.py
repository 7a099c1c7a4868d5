"""External wavefunctions (HELAS-like), copied verbatim into every generated package.

Conventions: momenta are real arrays (4, *batch) = (E, px, py, pz); wavefunctions are
complex arrays with components on axis 0. Chiral representation::

    gamma^0 = [[0, 1], [1, 0]],  gamma^k = [[0, sigma^k], [-sigma^k, 0]],  gamma5 = diag(-1, -1, 1, 1)

Helicity states are those along z carried to the momentum direction n = p/|p| by a
rotation R(n) that is smooth in n (so jax.grad is right also for beams along +-z):
the minimal rotation from +z for n_z >= 0, and a half-turn about y followed by the
minimal rotation from -z for n_z < 0. With U(n) the SU(2) form of R(n) and
omega_+- = sqrt(E +- |p|)::

    chi_+(n) = U(n) (1, 0),  chi_-(n) = U(n) (0, 1)
    u(p, l) = (omega_{-l} chi_l, omega_l chi_l)
    v(p, l) = (-l omega_l chi_{-l}, l omega_{-l} chi_{-l})
    eps(p, +-1) = (-+ e1 - i e2)/sqrt(2),  e1 = R(n) x,  e2 = R(n) y
    eps(p, 0) = (|p|, E n)/m

A particle at rest takes n = +z. Every sqrt and division uses the "double where"
trick so that values and gradients stay finite.
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


def _direction(p):
    """(|p|, nx, ny, nz): the unit vector along the 3-momentum, +z at rest."""
    px, py, pz = p[1], p[2], p[3]
    pp = _safe_sqrt(px * px + py * py + pz * pz)
    moving = pp > 0
    safe = jnp.where(moving, pp, 1.0)
    return (pp, jnp.where(moving, px / safe, 0.0), jnp.where(moving, py / safe, 0.0),
            jnp.where(moving, pz / safe, 1.0))


def _hemispheres(nx, ny, nz):
    """Direction components made safe for the n_z >= 0 ("up") and n_z < 0 ("down") formulas."""
    up = nz >= 0
    n_up = (jnp.where(up, nx, 0.0), jnp.where(up, ny, 0.0), jnp.where(up, nz, 1.0))
    n_down = (jnp.where(up, 0.0, nx), jnp.where(up, 0.0, ny), jnp.where(up, -1.0, nz))
    return up, n_up, n_down


def _chi(nx, ny, nz, lam):
    """Two-component helicity eigenstate chi_lam(n) = U(n) chi_lam(z) (sigma.n chi = lam chi)."""
    up, (ux, uy, uz), (dx, dy, dz) = _hemispheres(nx, ny, nz)
    s_up = 1.0 / jnp.sqrt(2.0 * (1.0 + uz))
    s_down = 1.0 / jnp.sqrt(2.0 * (1.0 - dz))
    # U(n) = [[alpha, -conj(beta)], [beta, conj(alpha)]]
    alpha = jnp.where(up, (1.0 + uz) * s_up + 0j, s_down * (dx - 1j * dy))
    beta = jnp.where(up, s_up * (ux + 1j * uy), (1.0 - dz) * s_down + 0j)
    if lam > 0:
        return alpha, beta
    return -jnp.conj(beta), jnp.conj(alpha)


def _transverse_axes(nx, ny, nz):
    """e1 = R(n) x and e2 = R(n) y: real unit vectors with e1 x e2 = n."""
    up, (ux, uy, uz), (dx, dy, dz) = _hemispheres(nx, ny, nz)
    a_up = 1.0 / (1.0 + uz)
    a_down = 1.0 / (1.0 - dz)
    e1_up = (1.0 - ux * ux * a_up, -ux * uy * a_up, -ux)
    e2_up = (-ux * uy * a_up, 1.0 - uy * uy * a_up, -uy)
    e1_down = (-(1.0 - dx * dx * a_down), dx * dy * a_down, -dx)
    e2_down = (-dx * dy * a_down, 1.0 - dy * dy * a_down, dy)
    e1 = tuple(jnp.where(up, a, b) for a, b in zip(e1_up, e1_down))
    e2 = tuple(jnp.where(up, a, b) for a, b in zip(e2_up, e2_down))
    return e1, e2


def _omegas(p, m):
    """(sqrt(E + |p|), sqrt(E - |p|)) with the second as m / sqrt(E + |p|) (exact for m = 0)."""
    pp = _direction(p)[0]
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
    _, nx, ny, nz = _direction(p)
    w_plus, w_minus = _omegas(p, m)
    w = {1: w_plus, -1: w_minus}
    lam = int(hel)
    if not antiparticle:
        c0, c1 = _chi(nx, ny, nz, lam)
        top, bot = w[-lam], w[lam]
    else:
        c0, c1 = _chi(nx, ny, nz, -lam)
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
    pp, nx, ny, nz = _direction(p)
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
        e1, e2 = _transverse_axes(nx, ny, nz)
        e1, e2 = (zero,) + e1, (zero,) + e2
        eps = [r * (-lam * a - 1j * b) for a, b in zip(e1, e2)]
    out = jnp.stack(eps).astype(_complex_dtype(p))
    return jnp.conj(out) if outgoing else out


def scalar_wf(p):
    """Scalar wavefunction: ones of shape (1, *batch)."""
    p = jnp.asarray(p)
    return jnp.ones((1,) + p.shape[1:], dtype=_complex_dtype(p))
