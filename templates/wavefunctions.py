"""External wavefunctions (HELAS-like), copied verbatim into every generated package.

Conventions: momenta are real arrays (4, *batch) = (E, px, py, pz) or tuples of those four components; wavefunctions are
tuples of complex component arrays of shape batch. Chiral representation::

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

A wavefunction is a tuple of its component arrays, as the helicity routines take and return
them. A kernel gets a leg's states from leg_states, one jitted call per leg, in which the pieces
the states share (|p|, the frame U(n), omega) are computed once.
"""

import functools

import jax
import jax.numpy as jnp
from jax.lax import select as _select_same_shape


def select(condition, a, b):
    """jnp.where(condition, a, b) without jnp.where's jax.jit: inside a kernel compiled with the call
    inliner off (a grid kernel on CPU, madgen.contract.GRID_KERNEL_COMPILER_OPTIONS) every jnp.where
    would be an XLA call of its own that nothing fuses into (g g > t t~ 1.08, u d~ > w+ z 1.16 times
    faster without them)."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    dtype = jnp.result_type(a, b)
    shape = jnp.broadcast_shapes(jnp.shape(condition), a.shape, b.shape)
    return _select_same_shape(jnp.broadcast_to(condition, shape), jnp.broadcast_to(a.astype(dtype), shape),
                              jnp.broadcast_to(b.astype(dtype), shape))


def _safe_sqrt(x):
    """sqrt(x) for x > 0, else 0, with a finite gradient everywhere."""
    pos = x > 0
    return select(pos, jnp.sqrt(select(pos, x, 1.0)), 0.0)


def _safe_div(a, b, default):
    """a / b where b != 0, else ``default``, with a finite gradient everywhere."""
    nz = b != 0
    return select(nz, a / select(nz, b, 1.0), default)


def _complex_dtype(p):
    return jnp.result_type(p[0].dtype, jnp.complex64)


def _components(p):
    """The momentum (E, px, py, pz) as a tuple of its four component arrays, each of shape batch: the
    functions below read the components from it, not by slicing an array each time (in reverse mode every
    slice of p is transposed to a pad of the whole array and added: 11 % of g g > t t~'s momentum gradient
    went to those pads). An array (4, *batch) is split once; a tuple is taken as it is."""
    if isinstance(p, tuple):
        return p
    p = jnp.asarray(p)
    return tuple(p[mu] for mu in range(4))


def _mass_like(m, x):
    """The mass ``m`` as an array of ``x``'s shape and real dtype: a single-precision kernel takes its
    parameters in double and computes in single."""
    return jnp.broadcast_to(jnp.asarray(m, dtype=x.dtype), x.shape)


def _momentum_size(p):
    """(|p|, moving = |p| > 0, up = n_z >= 0 (n = +z at rest), q = |p| + |p_z|)."""
    px, py, pz = p[1], p[2], p[3]
    pp = _safe_sqrt(px * px + py * py + pz * pz)
    return pp, pp > 0, pz >= 0, pp + jnp.abs(pz)


def _frame(p):
    """U(n) = [[alpha, -conj(beta)], [beta, conj(alpha)]], the SU(2) form of R(n), from one inverse
    square root: with a = sqrt(2 |p| q), alpha = q / a and beta = (p_x + i p_y) / a for n_z >= 0
    (the minimal rotation from +z), alpha = (p_x - i p_y) / a and beta = q / a for n_z < 0."""
    pp, moving, up, q = _momentum_size(p)
    inv_a = select(moving, 1.0 / jnp.sqrt(select(moving, 2.0 * pp * q, 1.0)), 0.0)
    qa = select(moving, q * inv_a, 1.0)
    xa, ya = p[1] * inv_a, p[2] * inv_a
    return select(up, qa + 0j, xa - 1j * ya), select(up, xa + 1j * ya, qa + 0j)


def _chi(alpha, beta, lam):
    """Two-component helicity eigenstate chi_lam(n) = U(n) chi_lam(z) (sigma.n chi = lam chi)."""
    if lam > 0:
        return alpha, beta
    return -jnp.conj(beta), jnp.conj(alpha)


def _transverse_axes(p):
    """e1 = R(n) x and e2 = R(n) y: real unit vectors with e1 x e2 = n. With k = 1 / (|p| q), for
    n_z >= 0: e1 = (1 - p_x^2 k, -p_x p_y k, -n_x), e2 = (-p_x p_y k, 1 - p_y^2 k, -n_y); for n_z < 0
    the half-turn about y flips e1_x, e1_y and e2_z."""
    pp, moving, up, q = _momentum_size(p)
    px, py = p[1], p[2]
    one = jnp.ones_like(pp)
    k = _safe_div(one, pp * q, 0.0)
    inv_p = _safe_div(one, pp, 0.0)
    xx, xy, yy = 1.0 - px * px * k, px * py * k, 1.0 - py * py * k
    sign = select(up, one, -one)
    e1 = (sign * xx, -sign * xy, -px * inv_p)
    e2 = (-xy, yy, -sign * py * inv_p)
    return e1, e2


def _omegas(p, m):
    """(sqrt(E + |p|), sqrt(E - |p|)) with the second as m / sqrt(E + |p|) (exact for m = 0)."""
    pp = _momentum_size(p)[0]
    w_plus = _safe_sqrt(p[0] + pp)
    w_minus = _safe_div(_mass_like(m, w_plus), w_plus, 0.0)
    return w_plus, w_minus


def _rest_spinor(p, m, xi, top_sign, bottom_sign):
    """(top, bottom) two-component halves of a massive spinor of spin state ``xi`` (a constant 2-vector,
    quantised along z in the rest frame) boosted to p: (E + m -+ sigma.p) xi / sqrt(2 (E + m)). At rest it is
    the helicity spinor with n = +z, and it is smooth there, where the helicity basis is not (its axis
    follows p): ``ket_spinor`` takes its value and derivatives at |p| = 0, so that the spin-summed |M|^2,
    smooth at rest, gets its gradient right there (a particle at rest: a decay in its rest frame)."""
    e, px, py, pz = p
    norm = _safe_div(jnp.ones_like(e), jnp.sqrt(jnp.maximum(2.0 * (e + _mass_like(m, e)), 0.0)), 0.0)
    x0, x1 = xi
    sigma_p = (pz * x0 + (px - 1j * py) * x1, (px + 1j * py) * x0 - pz * x1)
    base = (e + _mass_like(m, e)) * norm
    top = tuple(top_sign * (base * x - sp * norm) for x, sp in zip((x0, x1), sigma_p))
    bottom = tuple(bottom_sign * (base * x + sp * norm) for x, sp in zip((x0, x1), sigma_p))
    return top, bottom


def _rest_polarization(p, m, rest):
    """A massive vector's polarisation ``rest`` (a constant complex 3-vector in its rest frame) boosted to p:
    (p.e / m, e + (p.e) p / (m (E + m))); smooth at rest, where ``polarization`` takes it (see
    ``_rest_spinor``)."""
    e, px, py, pz = p
    mm = _mass_like(m, e)
    dot = px * rest[0] + py * rest[1] + pz * rest[2]
    along = _safe_div(dot, mm * (e + mm), 0.0)
    return (_safe_div(dot, mm, 0.0), rest[0] + along * px, rest[1] + along * py, rest[2] + along * pz)


def _check_hel(hel, allowed):
    if hel not in allowed:
        raise ValueError(f"helicity {hel!r} not in {allowed}")


def ket_spinor(p, m, hel, antiparticle):
    """u(p, hel) (incoming fermion) or v(p, hel) (outgoing antifermion): a tuple of 4 components,
    each of shape batch."""
    _check_hel(hel, (-1, 1))
    p = _components(p)
    alpha, beta = _frame(p)
    w_plus, w_minus = _omegas(p, m)
    w = {1: w_plus, -1: w_minus}
    lam = int(hel)
    if not antiparticle:
        c0, c1 = _chi(alpha, beta, lam)
        top, bot = w[-lam], w[lam]
        spin, signs = lam, (1.0, 1.0)
    else:
        c0, c1 = _chi(alpha, beta, -lam)
        top, bot = -lam * w[lam], lam * w[-lam]
        spin, signs = -lam, (-lam, lam)
    dtype = _complex_dtype(p)
    moving = _momentum_size(p)[1]
    # a negative mass (SLHA's sign of a Majorana neutralino's mass) enters the helicity spinors above through
    # w_minus = m / w_plus, which sits in the top half for spin +1/2 along z and in the bottom half for -1/2
    # (u -> +-gamma5 u(|m|)): the rest spinor is built with |m| (with m, E + m = 0 at rest) and that half
    # takes the sign, so that it is the limit of the moving spinors
    mass = _mass_like(m, p[0])
    sign = select(mass < 0, -jnp.ones_like(mass), jnp.ones_like(mass))  # in the kernel's precision
    rest_top, rest_bottom = _rest_spinor(p, mass * sign, (1.0, 0.0) if spin > 0 else (0.0, 1.0), *signs)
    if spin > 0:
        rest_top = tuple(sign * x for x in rest_top)
    else:
        rest_bottom = tuple(sign * x for x in rest_bottom)
    helicity = (top * c0, top * c1, bot * c0, bot * c1)
    return tuple(select(moving, x.astype(dtype), r.astype(dtype))
                 for x, r in zip(helicity, rest_top + rest_bottom))


def bra_spinor(p, m, hel, antiparticle):
    """u-bar(p, hel) (outgoing fermion) or v-bar(p, hel) (incoming antifermion) = ket^dagger gamma^0."""
    k = ket_spinor(p, m, hel, antiparticle)
    return tuple(jnp.conj(k[i]) for i in (2, 3, 0, 1))


def polarization(p, m, hel, outgoing):
    """eps^mu(p, hel) (incoming) or its conjugate (outgoing), upper index: a tuple of 4 components."""
    _check_hel(hel, (-1, 0, 1))
    p = _components(p)
    if hel == 0:
        pp = _momentum_size(p)[0]
        mm = _mass_like(m, pp)
        e0 = _safe_div(pp, mm, 0.0)
        scale = _safe_div(p[0], mm * pp, 0.0)
        at_rest = pp == 0
        eps = [
            e0 + 0j,
            select(at_rest, 0.0, p[1] * scale) + 0j,
            select(at_rest, 0.0, p[2] * scale) + 0j,
            select(at_rest, 1.0, p[3] * scale) + 0j,
        ]
    else:
        lam = int(hel)
        r = 1.0 / jnp.sqrt(2.0)
        e1, e2 = _transverse_axes(p)
        zero = jnp.zeros_like(p[0])
        eps = [r * (-lam * a - 1j * b) for a, b in zip((zero,) + e1, (zero,) + e2)]
    rest = (0.0, 0.0, 1.0) if hel == 0 else (-int(hel) / jnp.sqrt(2.0), -1j / jnp.sqrt(2.0), 0.0)
    moving = _momentum_size(p)[1]
    eps = [select(moving, x + 0j, y + 0j) for x, y in zip(eps, _rest_polarization(p, m, rest))]
    dtype = _complex_dtype(p)
    return tuple(jnp.conj(e.astype(dtype)) if outgoing else e.astype(dtype) for e in eps)


def tensor_polarization(p, m, hel, outgoing):
    """eps^{mu nu}(p, hel) of a spin-2 particle (incoming) or its conjugate (outgoing), upper indices: a
    tuple of 16 components, eps^{mu nu} at 4 mu + nu. Built from the vector polarisations e(p, h) of
    ``polarization`` by the Clebsch-Gordan coefficients of 1 x 1 -> 2: e(+-)e(+-) for hel = +-2,
    (e(+-)e(0) + e(0)e(+-)) / sqrt(2) for +-1 and (e(+)e(-) + e(-)e(+) + 2 e(0)e(0)) / sqrt(6) for 0, so
    that the five are symmetric, traceless, transverse to p and orthonormal, and sum to the massive
    propagator's numerator. A massless one has hel = +-2 only."""
    _check_hel(hel, (-2, -1, 0, 1, 2))
    lam = int(hel)
    if abs(lam) == 2:
        pairs = [(1.0, lam // 2, lam // 2)]
    elif abs(lam) == 1:
        r = 1.0 / jnp.sqrt(2.0)
        pairs = [(r, lam, 0), (r, 0, lam)]
    else:
        r = 1.0 / jnp.sqrt(6.0)
        pairs = [(r, 1, -1), (r, -1, 1), (2.0 * r, 0, 0)]
    vectors = {h: polarization(p, m, h, outgoing=False) for h in sorted({h for _, a, b in pairs for h in (a, b)})}
    eps = [sum(c * vectors[a][mu] * vectors[b][nu] for c, a, b in pairs) for mu in range(4) for nu in range(4)]
    return tuple(jnp.conj(e) if outgoing else e for e in eps)


def polarised_current(current, k, states, decay_side):
    """A decayed vector's off-shell ``current`` (upper index, its propagator included) with the numerator
    of the propagator replaced by its polarised part (MadGraph's ``w+{0}``, arXiv:1912.01725): for each
    helicity h of ``states`` ("-1", "0", "1") eps(k, h) eps*(k, h), the polarisation vectors of the off-shell
    momentum k (flowing toward the decay products) built with sqrt(k^2); "A" the auxiliary rest of the
    unitary-gauge numerator, k k (1/M^2 - 1/k^2). Since eps(k, h).k = 0, the polarised current is
    -eps*(h) (eps(h).J) for a current of the decay products (``decay_side``: eps on the decay, eps* on the
    production) and -eps(h) (eps*(h).J) for one of the rest; the auxiliary part is k (k.J) / k^2. The four
    add up to the current."""
    k = _components(k)
    k2 = k[0] * k[0] - k[1] * k[1] - k[2] * k[2] - k[3] * k[3]

    def dot(a, b):
        return a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3]

    total = None
    for state in states:
        if state == "A":
            scale = dot(k, current) / k2
            term = tuple(scale * k[mu] for mu in range(4))
        else:
            eps = polarization(k, _safe_sqrt(k2), int(state), outgoing=False)
            bar = tuple(jnp.conj(e) for e in eps)
            contracted, free = (eps, bar) if decay_side else (bar, eps)
            scale = -dot(contracted, current)
            term = tuple(scale * free[mu] for mu in range(4))
        total = term if total is None else tuple(a + b for a, b in zip(total, term))
    return total


def scalar_wf(p):
    """Scalar wavefunction: a tuple of 1 component, ones of shape batch."""
    p = _components(p)
    return (jnp.ones(jnp.shape(p[0]), dtype=_complex_dtype(p)),)


_STATES = {
    "ket": lambda p, m, hel, flag: ket_spinor(p, m, hel, antiparticle=flag),
    "bra": lambda p, m, hel, flag: bra_spinor(p, m, hel, antiparticle=flag),
    "vector": lambda p, m, hel, flag: polarization(p, m, hel, outgoing=flag),
    "tensor": lambda p, m, hel, flag: tensor_polarization(p, m, hel, outgoing=flag),
    "scalar": lambda p, m, hel, flag: scalar_wf(p),
}


@functools.partial(jax.jit, static_argnames=("kind", "helicities", "flag"))
def leg_states(kind, p, m, helicities, flag):
    """An external leg's wavefunctions in the given helicity states, a list of tuples of components:
    ``kind`` "ket", "bra", "vector", "tensor" or "scalar" (ket_spinor, bra_spinor, polarization,
    tensor_polarization, scalar_wf),
    ``flag`` their antiparticle or outgoing argument. One jitted call, so that the states share their
    arithmetic; inside a grid-layout kernel compiled on CPU with madgen's options (no call inlining,
    madgen.contract.GRID_KERNEL_COMPILER_OPTIONS) it is computed once and read by every current,
    elsewhere XLA inlines it."""
    p = _components(p)
    return [_STATES[kind](p, m, hel, flag) for hel in helicities]
