"""The true likelihood p(x|theta) of p p > W+ H, W+ > e+ ve, H > b b~ with the neutrino unobserved.

Observed x: the lab 3-momenta of the e+, b and b~ (the missing pT is -(sum of their pT) at parton
level, so it adds no information). The only unobserved variable is the neutrino's pz, so

    p(x|theta) = D(x; theta) / sigma(theta),
    D(x; theta) = sum_ab int dpz  f_a(x1, muF) f_b(x2, muF) |M_ab|^2(theta) / (2 s_hat)
                  (2 pi)^-8 (2 / s) / (2E_e 2E_b 2E_bb 2E_nu) * cuts * windows * (hbar c)^2

(pb / GeV^9). Derivation: dx1 dx2 dPhi_4 with dPhi_4 = (2pi)^4 delta^4(p1 + p2 - sum k) prod
d^3k/((2pi)^3 2E); the transverse delta fixes pT(nu) = -(pT_e + pT_b + pT_bb); the energy and pz
deltas fix x1 = (E + pz)/sqrt(s), x2 = (E - pz)/sqrt(s) (E, pz summed over the final state) with the
Jacobian |d(E, pz)/d(x1, x2)|^-1 = 2/s. s_hat = x1 x2 s (massless partons, flux 1/(2 s_hat)).

The pz integral is done in the W virtuality s_W = (p_e + p_nu)^2, on its two branches (the
neutrino's rapidity above or below the e+'s): with a = pT_e pT_nu and dy = y_nu - y_e,
s_W = 2a (cosh dy - cos dphi), so on each branch

    dpz / (2E_nu) = ds_W / (4 a sinh|dy|),    m_T^2 = 2a (1 - cos dphi) <= s_W.

s_W runs over MadGraph's bwcutoff window intersected with [m_T^2, inf); it is mapped to
rho = arctan((s_W - MW^2)/(MW WW)) (the W Breit-Wigner becomes flat) and rho to xi^2 (which removes
the integrable 1/sqrt(s_W - m_T^2) end point of sinh|dy|); Gauss-Legendre in xi on [0, 1]. The W
peak is resolved whatever m_T is; no W-mass solution is ever solved for.

|M|^2 is a quadratic polynomial in theta = (cHW, cHj3) (NP<=1 amplitudes), so D(x; theta) is too:
``likelihood_basis`` returns its six coefficients per event, and ``log_density`` evaluates any theta
from them (checked against direct evaluation in tests/test_wh_smeft.py).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from madgen.runtime.channels import package_kernel_groups
from madgen.runtime.cuts import cut_function, uncut_legs
from madgen.runtime.integrand import GEV2_TO_PB
from madgen.runtime.runcard import for_process
from madgen.runtime.scales import event_scales

THETA_NAMES = ("cHW", "cHj3")
BASIS_POINTS = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1]], dtype=float)
"""theta points at which D is evaluated; the six quadratic coefficients follow from them."""

E_LEG, NU_LEG, B_LEG, BB_LEG = 2, 3, 4, 5  # legs of a b~ > e+ ve b b~ (MadGraph's order)


def quadratic_coefficients(values):
    """(c0, c_a, c_b, c_aa, c_bb, c_ab) from values (..., 6) at BASIS_POINTS: f = c0 + c_a a + c_b b
    + c_aa a^2 + c_bb b^2 + c_ab a b."""
    v = jnp.moveaxis(jnp.asarray(values), -1, 0)
    c0 = v[0]
    ca, caa = (v[1] - v[2]) / 2, (v[1] + v[2]) / 2 - v[0]
    cb, cbb = (v[3] - v[4]) / 2, (v[3] + v[4]) / 2 - v[0]
    cab = v[5] - c0 - ca - cb - caa - cbb
    return jnp.stack([c0, ca, cb, caa, cbb, cab], axis=-1)


def rescale(coefficients, scale):
    """Quadratic coefficients in phi = theta / scale -> coefficients in theta."""
    sa, sb = scale
    return np.asarray(coefficients) / np.array([1, sa, sb, sa * sa, sb * sb, sa * sb])


def monomials(theta):
    """(1, a, b, a^2, b^2, a b) of theta (..., 2)."""
    a, b = theta[..., 0], theta[..., 1]
    return jnp.stack([jnp.ones_like(a), a, b, a * a, b * b, a * b], axis=-1)


def monomial_gradients(theta):
    """d(monomials)/d theta: (..., 6, 2)."""
    a, b = theta[..., 0], theta[..., 1]
    z, o = jnp.zeros_like(a), jnp.ones_like(a)
    da = jnp.stack([z, o, z, 2 * a, z, b], axis=-1)
    db = jnp.stack([z, z, o, z, 2 * b, a], axis=-1)
    return jnp.stack([da, db], axis=-1)


def gauss_legendre(n: int):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2


class TrueLikelihood:
    """D(x; theta) by quadrature over pz(nu), vectorised over events x nodes (JAX, jit)."""

    def __init__(self, process, run, pdf, parameters, n_nodes: int = 48):
        self.process = process
        self.subprocesses = tuple(process.subprocesses)
        first = self.subprocesses[0]
        self.parameters = {k: float(v) for k, v in first.complete_parameters(parameters).items()}
        internal = first.internal_parameters(self.parameters)
        decays = {d["particle"]: d for d in first.channels["decays"]}
        w, h = decays["W+"], decays["H"]
        assert w["legs"] == [E_LEG + 1, NU_LEG + 1] and h["legs"] == [B_LEG + 1, BB_LEG + 1], first.channels["decays"]
        self.mw, self.ww = float(internal[w["mass"]]), float(internal[w["width"]])
        self.mh, self.wh = float(internal[h["mass"]]), float(internal[h["width"]])
        self.mb = float(internal["MB"])
        self.bwcutoff = float(run.bwcutoff)
        self.sqrt_s = float(sum(run.beam_energies))
        self.energies = tuple(float(e) for e in run.beam_energies)
        self.pdf = pdf
        self.scales = run.scales.values() if hasattr(run.scales, "values") else run.scales
        masses = np.asarray(first.masses(self.parameters))
        run = for_process(run, self.subprocesses)  # maxjetflavor as MadGraph sets it for the process
        self.cuts = cut_function(run.cuts, first.pdg_ids, 2, run.maxjetflavor, masses,
                                 uncut_legs(first.channels["decays"], run.cut_decays))
        self.nodes, self.weights = gauss_legendre(n_nodes)
        # subprocesses with identical generated |M|^2 (u d~ and c s~) share one evaluation
        self.kernels = tuple((self.subprocesses[g[0]], tuple(self.subprocesses[i].pdg_ids[:2] for i in g))
                             for g in package_kernel_groups(process))
        self._basis = jax.jit(self._basis_unjitted)

    # --------------------------------------------------------------- kinematics
    def branch_momenta(self, e, b, bb, s_w, sign):
        """Lab momenta (..., 6, 4) of the partons for x = (e, b, bb) (broadcast over nodes) and the
        W virtuality s_w on branch sign (+1: y_nu > y_e), with x1, x2 and the Jacobian factor."""
        pt_nu = -(e[..., 1:3] + b[..., 1:3] + bb[..., 1:3])
        pt_e = jnp.hypot(e[..., 1], e[..., 2])
        pt_n = jnp.hypot(pt_nu[..., 0], pt_nu[..., 1])
        a = pt_e * pt_n
        cos_dphi = (e[..., 1] * pt_nu[..., 0] + e[..., 2] * pt_nu[..., 1]) / a
        mt2 = 2 * a * (1 - cos_dphi)
        c_minus_1 = (s_w - mt2) / (2 * a)  # cosh(dy) - 1 >= 0
        sinh_dy = jnp.sqrt(jnp.maximum(c_minus_1 * (c_minus_1 + 2), 0.0))
        dy = sign * jnp.arcsinh(sinh_dy)
        y_e = jnp.arctanh(e[..., 3] / e[..., 0])
        y_nu = y_e + dy
        nu = jnp.stack([pt_n * jnp.cosh(y_nu), pt_nu[..., 0], pt_nu[..., 1], pt_n * jnp.sinh(y_nu)], axis=-1)
        final = jnp.stack([e, nu, b, bb], axis=-2)
        total = jnp.sum(final, axis=-2)
        x1 = (total[..., 0] + total[..., 3]) / self.sqrt_s
        x2 = (total[..., 0] - total[..., 3]) / self.sqrt_s
        p1 = jnp.stack([x1 * self.energies[0], 0 * x1, 0 * x1, x1 * self.energies[0]], axis=-1)
        p2 = jnp.stack([x2 * self.energies[1], 0 * x2, 0 * x2, -x2 * self.energies[1]], axis=-1)
        momenta = jnp.concatenate([jnp.stack([p1, p2], axis=-2), final], axis=-2)
        measure = 1.0 / (4 * a * sinh_dy)  # dpz / (2 E_nu) per d s_w
        return momenta, x1, x2, measure

    def s_range(self, e, b, bb):
        """[s_lo, s_hi] of the W virtuality: the bwcutoff window above m_T^2 (empty: s_hi <= s_lo)."""
        pt_nu = -(e[..., 1:3] + b[..., 1:3] + bb[..., 1:3])
        pt_e = jnp.hypot(e[..., 1], e[..., 2])
        pt_n = jnp.hypot(pt_nu[..., 0], pt_nu[..., 1])
        mt2 = 2 * (pt_e * pt_n - e[..., 1] * pt_nu[..., 0] - e[..., 2] * pt_nu[..., 1])
        lo = jnp.maximum((self.mw - self.bwcutoff * self.ww) ** 2, mt2)
        hi = (self.mw + self.bwcutoff * self.ww) ** 2 * jnp.ones_like(lo)
        return lo, hi

    def nodes_in_s(self, lo, hi):
        """Nodes s_w (..., n) and weights ds_w (..., n) of the Breit-Wigner + xi^2 map on [lo, hi]."""
        m2, mg = self.mw**2, self.mw * self.ww
        r_lo, r_hi = jnp.arctan((lo - m2) / mg), jnp.arctan((hi - m2) / mg)
        span = jnp.maximum(r_hi - r_lo, 0.0)[..., None]
        xi, w = jnp.asarray(self.nodes), jnp.asarray(self.weights)
        rho = r_lo[..., None] + span * xi**2
        s = m2 + mg * jnp.tan(rho)
        ds = w * 2 * xi * span * ((s - m2) ** 2 + mg**2) / mg
        return s, ds

    # --------------------------------------------------------------- density
    def _basis_unjitted(self, e, b, bb, thetas):
        """D(x; theta_k) (pb / GeV^9) at each theta_k (K, 2): shape (N, K)."""
        lo, hi = self.s_range(e, b, bb)
        s_w, ds = self.nodes_in_s(lo, hi)
        ds = jnp.where((hi > lo)[..., None], ds, 0.0)
        ev = lambda v: jnp.broadcast_to(v[:, None, :], s_w.shape + (4,))  # noqa: E731
        m_bb = jnp.sqrt(jnp.maximum(self.pair_mass2(b, bb), 0.0))
        h_window = jnp.abs(m_bb - self.mh) <= self.bwcutoff * self.wh
        energies = e[..., 0] * b[..., 0] * bb[..., 0] * 8
        const = GEV2_TO_PB * (2 * np.pi) ** -8 * 2 / self.sqrt_s**2
        total = 0.0
        for sign in (1.0, -1.0):
            momenta, x1, x2, measure = self.branch_momenta(ev(e), ev(b), ev(bb), s_w, sign)
            flat = momenta.reshape(-1, 6, 4)
            inside = (x1 < 1) & (x2 < 1) & (x1 > 0) & (x2 > 0)
            safe = jnp.where(inside[..., None, None], momenta, _dummy(self.sqrt_s)).reshape(-1, 6, 4)
            x1s, x2s = jnp.where(inside, x1, 0.5).reshape(-1), jnp.where(inside, x2, 0.5).reshape(-1)
            _, mu_f1, mu_f2 = event_scales(self.scales, flat, 2)
            passed = self.cuts(flat).reshape(s_w.shape) & inside & (hi > lo)[..., None] & (measure > 0)
            measure = jnp.where(passed, measure, 0.0)
            ds_w = jnp.where(passed, ds, 0.0)
            s_hat = x1s * x2s * self.sqrt_s**2
            common = (measure * ds_w).reshape(-1) / (2 * s_hat)
            values = self._luminosity_me2(safe, x1s, x2s, mu_f1, mu_f2, thetas)  # (n, K)
            weighted = values * common[:, None]
            weighted = jnp.where(passed.reshape(-1)[:, None], weighted, 0.0).reshape(s_w.shape + (len(thetas),))
            total = total + jnp.sum(weighted, axis=-2)
        return const * total / energies[:, None] * h_window[:, None]

    def _luminosity_me2(self, momenta, x1, x2, mu_f1, mu_f2, thetas):
        """sum over subprocesses of f_a(x1) f_b(x2) |M_ab|^2(theta_k) for flat momenta (n, 6, 4): (n, K)."""
        per_theta = []
        for theta in thetas:
            params = {**self.parameters, THETA_NAMES[0]: theta[0], THETA_NAMES[1]: theta[1]}
            value = 0.0
            for kernel, partons in self.kernels:
                lum = sum(self.pdf.xfx(x1, mu_f1, (a,))[..., 0] * self.pdf.xfx(x2, mu_f2, (b,))[..., 0]
                          for a, b in partons)
                value = value + lum * kernel._matrix_element_unchecked(momenta, params)
            per_theta.append(value / (x1 * x2))
        return jnp.stack(per_theta, axis=-1)

    def pz_integrand(self, e, b, bb, pz, theta):
        """dsigma / (d^3k_e d^3k_b d^3k_bb dpz_nu) in pb / GeV^10 at the neutrino pz (N,), one theta (2,):
        the integrand before any change of variables (windows and cuts as indicators), for checks."""
        pt_nu = -(e[..., 1:3] + b[..., 1:3] + bb[..., 1:3])
        nu = jnp.concatenate([jnp.sqrt(jnp.sum(pt_nu**2, axis=-1) + pz**2)[..., None], pt_nu, pz[..., None]], axis=-1)
        final = jnp.stack([e, nu, b, bb], axis=-2)
        total = jnp.sum(final, axis=-2)
        x1 = (total[..., 0] + total[..., 3]) / self.sqrt_s
        x2 = (total[..., 0] - total[..., 3]) / self.sqrt_s
        zero = 0 * x1
        p1 = jnp.stack([x1 * self.energies[0], zero, zero, x1 * self.energies[0]], axis=-1)
        p2 = jnp.stack([x2 * self.energies[1], zero, zero, -x2 * self.energies[1]], axis=-1)
        momenta = jnp.concatenate([jnp.stack([p1, p2], axis=-2), final], axis=-2)
        inside = (x1 < 1) & (x2 < 1)
        safe = jnp.where(inside[..., None, None], momenta, _dummy(self.sqrt_s))
        x1s, x2s = jnp.where(inside, x1, 0.5), jnp.where(inside, x2, 0.5)
        _, mu_f1, mu_f2 = event_scales(self.scales, momenta, 2)
        m_w = jnp.sqrt(jnp.maximum(self.pair_mass2(e, nu), 0.0))
        m_bb = jnp.sqrt(jnp.maximum(self.pair_mass2(b, bb), 0.0))
        ok = (inside & self.cuts(momenta) & (jnp.abs(m_w - self.mw) <= self.bwcutoff * self.ww)
              & (jnp.abs(m_bb - self.mh) <= self.bwcutoff * self.wh))
        value = self._luminosity_me2(safe, x1s, x2s, mu_f1, mu_f2, jnp.asarray(theta)[None])[:, 0]
        const = GEV2_TO_PB * (2 * np.pi) ** -8 * 2 / self.sqrt_s**2
        jacobian = 1 / (2 * x1s * x2s * self.sqrt_s**2) / (16 * e[..., 0] * b[..., 0] * bb[..., 0] * nu[..., 0])
        return jnp.where(ok, const * value * jacobian, 0.0)

    @staticmethod
    def pair_mass2(p, q):
        t = p + q
        return t[..., 0] ** 2 - jnp.sum(t[..., 1:] ** 2, axis=-1)

    def density(self, e, b, bb, thetas, chunk: int = 512):
        """D(x; theta_k) for host arrays e, b, bb (N, 4): (N, K), in chunks of ``chunk`` events."""
        thetas = jnp.asarray(thetas, dtype=float)
        out = []
        n = len(e)
        for start in range(0, n, chunk):
            block = [np.asarray(v[start:start + chunk]) for v in (e, b, bb)]
            filled = len(block[0])
            if filled < chunk:
                block = [np.concatenate([v, np.repeat(v[:1], chunk - filled, axis=0)]) for v in block]
            out.append(np.asarray(self._basis(*block, thetas))[:filled])
        return np.concatenate(out)

    def likelihood_basis(self, e, b, bb, chunk: int = 512, scale=(1.0, 1.0)):
        """The quadratic coefficients (N, 6) of D(x; theta) in phi = theta / scale (``monomials``),
        from D at theta = BASIS_POINTS x scale."""
        return np.asarray(quadratic_coefficients(self.density(e, b, bb, BASIS_POINTS * np.asarray(scale), chunk)))


def _dummy(sqrt_s):
    """A valid massless 2 -> 4 point used where x1 or x2 leave [0, 1] (its weight is zeroed)."""
    e = 100.0
    return jnp.array([[2 * e, 0, 0, 2 * e], [2 * e, 0, 0, -2 * e], [e, e, 0, 0], [e, -e, 0, 0],
                      [e, 0, e * 0.99, 0], [e, 0, -e * 0.99, 0]])


def observed(momenta):
    """x: (e, b, bb) lab momenta (N, 4) each from event momenta (N, 6, 4) in the process' leg order."""
    momenta = np.asarray(momenta)
    return momenta[:, E_LEG], momenta[:, B_LEG], momenta[:, BB_LEG]


def log_density(coefficients, theta, sigma_coefficients):
    """log p(x|theta) from D's coefficients (N, 6) and sigma's (6,) at theta (2,) or (M, 2): (N,) or (N, M)."""
    m = monomials(jnp.asarray(theta, dtype=float))
    return jnp.log(jnp.asarray(coefficients) @ m.T) - jnp.log(m @ jnp.asarray(sigma_coefficients))


def true_score(coefficients, theta, sigma_coefficients):
    """t(x|theta) = grad log p(x|theta): (N, 2)."""
    theta = jnp.asarray(theta, dtype=float)
    m, dm = monomials(theta), monomial_gradients(theta)
    c = jnp.asarray(coefficients)
    sc = jnp.asarray(sigma_coefficients)
    return (c @ dm) / (c @ m)[:, None] - (sc @ dm) / (sc @ m)
