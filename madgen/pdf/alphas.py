"""alpha_s(Q) of a PDF set, as LHAPDF computes it from the set's ``AlphaS_*`` metadata.

* ``ipol`` (LHAPDF ``AlphaS_Ipol``): cubic Hermite interpolation of ``AlphaS_Vals`` in log Q^2
  over the knots ``AlphaS_Qs``; a repeated Q starts a new subgrid (a flavour threshold).  Knot
  derivatives are the mean of the two one-sided difference quotients, one-sided at subgrid edges.
  Below the first knot: the power law alpha_s(Q_0) (Q^2/Q_0^2)^g with g the log-log slope to the
  next distinct knot; above the last knot: constant.
* ``analytic`` (LHAPDF ``AlphaS_Analytic``): the expansion in 1/log(Q^2/Lambda_nf^2) up to
  ``AlphaS_OrderQCD`` loops (LHAPDF counts loops here: 0 = constant AlphaS_MZ, 1 = one loop, up
  to 4), with ``AlphaS_Lambda3/4/5`` and nf from the quark thresholds (or masses).
* ``ode`` (LHAPDF ``AlphaS_ODE``): d alpha_s / d log Q^2 = -sum_i beta_i alpha_s^(i+2) with
  ``AlphaS_OrderQCD`` loops (0 = constant), integrated on the host by fixed-step RK4 in log Q^2
  from (MZ, AlphaS_MZ) (or AlphaS_MassReference, AlphaS_Reference) to the knots ``AlphaS_Qs``
  (else LHAPDF's default knots), with LHAPDF's decoupling factor at repeated knots (thresholds),
  then interpolated exactly as ``ipol``.  LHAPDF's own solver is adaptive with a 1 % step
  criterion, so its tables differ from these at the level of its step error.
beta_i = beta coefficients in the convention d a/d ln Q^2 = -sum beta_i a^(i+2), a = alpha_s
(beta_0 = (33 - 2 nf)/(12 pi)); beta_4 numerically as in LHAPDF (from arXiv:1606.08659).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from madgen.errors import PDFFormatError, UnsupportedFeature
from madgen.pdf.interpolation import knot_derivatives
from madgen.pdf.reader import PDFSetInfo

ZETA3 = 1.2020569031595942
ALPHAS_TYPES = ("ipol", "analytic", "ode")


def beta_coefficients(nf: int) -> np.ndarray:
    """beta_0 .. beta_4 for nf active flavours (d alpha_s/d ln Q^2 = -sum beta_i alpha_s^(i+2))."""
    pi = math.pi
    return np.array([
        (33 - 2 * nf) / (12 * pi),
        (153 - 19 * nf) / (24 * pi**2),
        (2857 - 5033 / 9 * nf + 325 / 27 * nf**2) / (128 * pi**3),
        (149753 / 6 + 3564 * ZETA3 - (1078361 / 162 + 6502 / 27 * ZETA3) * nf
         + (50065 / 162 + 6472 / 81 * ZETA3) * nf**2 + 1093 / 729 * nf**3) / (256 * pi**4),
        1.714138 - 0.5940794 * nf + 0.05607482 * nf**2 - 0.0007380571 * nf**3 - 0.00000587968 * nf**4,
    ])


@dataclass(frozen=True)
class AlphaSIpol:
    """Tabulated alpha_s interpolated as LHAPDF's ``AlphaS_Ipol`` (module docstring)."""

    log_q2: jnp.ndarray  # knots, repeated at subgrid boundaries
    inv_dlog_q2: jnp.ndarray  # 1 on zero-width cells
    coeffs: jnp.ndarray  # (n - 1, 4) ascending powers of t per cell
    low_slope: float  # d log alpha_s / d log Q^2 below the first knot

    @classmethod
    def from_table(cls, qs, values, where: str = "AlphaS_Qs") -> "AlphaSIpol":
        q2 = np.asarray(qs, dtype=np.float64) ** 2
        values = np.asarray(values, dtype=np.float64)
        if q2.size != values.size or q2.size < 2:
            raise PDFFormatError(f"{where}: AlphaS_Qs and AlphaS_Vals must have the same length >= 2, "
                                 f"got {q2.size} and {values.size}")
        if np.any(np.diff(q2) < 0) or np.any(q2 <= 0) or not np.all(np.isfinite(values)):
            raise PDFFormatError(f"{where}: AlphaS_Qs must be positive and non-decreasing, AlphaS_Vals finite")
        log_q2 = np.log(q2)
        coeffs = np.zeros((q2.size - 1, 4))
        derivs = np.zeros(q2.size)
        starts = [0] + [k + 1 for k in range(q2.size - 1) if q2[k + 1] == q2[k]] + [q2.size]
        for lo, hi in zip(starts[:-1], starts[1:]):
            if hi - lo < 2:
                raise PDFFormatError(f"{where}: an alpha_s subgrid between repeated Q knots has fewer than 2 knots")
            derivs[lo:hi] = knot_derivatives(log_q2[lo:hi], values[lo:hi])
        for k in range(q2.size - 1):
            h = log_q2[k + 1] - log_q2[k]
            if h == 0:
                continue
            vl, vh, dl, dh = values[k], values[k + 1], derivs[k] * h, derivs[k + 1] * h
            coeffs[k] = (vl, dl, 3 * (vh - vl) - 2 * dl - dh, 2 * (vl - vh) + dl + dh)
        nxt = int(np.argmax(q2 > q2[0]))
        low_slope = math.log(values[nxt] / values[0]) / (log_q2[nxt] - log_q2[0])
        dlog = np.diff(log_q2)
        return cls(jnp.asarray(log_q2), jnp.asarray(1.0 / np.where(dlog > 0, dlog, 1.0)), jnp.asarray(coeffs),
                   low_slope)

    def __call__(self, q):
        log_q2 = 2.0 * jnp.log(q)
        first, last = self.log_q2[0], self.log_q2[-1]
        inside = jnp.clip(log_q2, first, last)
        k = jnp.clip(jnp.searchsorted(self.log_q2, inside, side="right") - 1, 0, self.log_q2.size - 2)
        t = (inside - self.log_q2[k]) * self.inv_dlog_q2[k]
        c = self.coeffs[k]
        value = c[..., 0] + t * (c[..., 1] + t * (c[..., 2] + t * c[..., 3]))
        below = self.coeffs[0, 0] * jnp.exp(self.low_slope * (jnp.minimum(log_q2, first) - first))
        return jnp.where(log_q2 < first, below, value)


@dataclass(frozen=True)
class AlphaSAnalytic:
    """LHAPDF's ``AlphaS_Analytic``: the asymptotic expansion in L = ln(Q^2/Lambda_nf^2)."""

    order: int
    alphas_mz: float
    thresholds: tuple[tuple[int, float], ...]  # (nf, threshold Q) in increasing nf, nf in [nf_min, nf_max]
    nf_min: int
    nf_cap: int | None  # maximum nf (AlphaS_NumFlavors / NumFlavors), None = none
    lambdas: tuple[float, ...]  # Lambda for nf = 0..6 (the closest defined lower one)
    betas: np.ndarray  # (7, 5)

    def __call__(self, q):
        q2 = q * q
        nf = jnp.full(jnp.shape(q2), self.nf_min)
        for n, threshold in self.thresholds:
            nf = jnp.where(threshold * threshold < q2, n, nf)
        if self.nf_cap is not None:
            nf = jnp.minimum(nf, self.nf_cap)
        if self.order == 0:
            return jnp.full(jnp.shape(q2), self.alphas_mz)
        lam2 = jnp.asarray(self.lambdas)[nf] ** 2
        b = jnp.asarray(self.betas)[nf]  # (..., 5)
        b0, b1, b2, b3 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
        above = q2 > lam2
        lnx = jnp.log(jnp.where(above, q2 / lam2, math.e))
        lnlnx = jnp.log(lnx)
        y = 1.0 / lnx
        series = jnp.ones_like(y)
        if self.order > 1:
            series = series - b1 * lnlnx / b0**2 * y
        if self.order > 2:
            series = series + b1**2 / b0**4 * y**2 * (lnlnx**2 - lnlnx + b2 * b0 / b1**2 - 1.0)
        if self.order > 3:
            a3 = b1**3 * (lnlnx**3 - 2.5 * lnlnx**2 - 2 * lnlnx + 0.5) + 3 * b0 * b1 * b2 * lnlnx - 0.5 * b0**2 * b3
            series = series - y**3 / b0**6 * a3
        return jnp.where(above, y / b0 * series, jnp.finfo(jnp.result_type(float)).max)


MADGRAPH_MZ = 91.188
MADGRAPH_THRESHOLDS = (1.42, 4.7)  # MadGraph's charm and bottom masses for the flavour thresholds


def madgraph_alphas(q, asmz, nloop: int = 2, newton_steps: int = 6):
    """alpha_s(q) as MadGraph's own running computes it (alfas_functions.f, R. K. Ellis's ALPHAS with
    NEWTON1): from ``asmz`` at MZ = 91.188 GeV with ``nloop`` (1 or 2) loops, 5 flavours down to the b
    threshold 4.7 GeV, 4 to the c threshold 1.42 GeV, 3 below (never 6: there is no top threshold), the
    coupling continuous at the thresholds. The two-loop value solves
    b0 t = F(a) - F(a_in), F(a) = 1/a + c1 log(c1 a / (1 + c1 a)), t = log(q^2/q_in^2),
    by Newton's method from MadGraph's starting guess (``newton_steps`` steps converge to double precision
    where MadGraph stops at a relative step of 5e-4, about 1e-7 from here). MadGraph uses it with particle
    beams (``asmz`` the param card's aS, two loops) and with its built-in PDF labels (``nn23lo1``: asmz
    0.130, two loops). Pure JAX: traceable and differentiable in q and in ``asmz``."""
    q = jnp.asarray(q, dtype=jnp.result_type(float))
    asmz = jnp.asarray(asmz, dtype=q.dtype)
    charm, bottom = MADGRAPH_THRESHOLDS

    def run(t, a_in, nf):
        b0 = (11.0 - 2.0 * nf / 3.0) / (4.0 * math.pi)
        c1 = (102.0 - 38.0 / 3.0 * nf) / (4.0 * math.pi * (11.0 - 2.0 / 3.0 * nf))
        a_out = a_in / (1.0 + a_in * b0 * t)
        if nloop == 1:
            return a_out
        a_out = a_in / (1.0 + b0 * a_in * t + c1 * a_in * jnp.log(1.0 + a_in * b0 * t))
        a_out = jnp.where(a_out < 0, 0.3, a_out)

        def f2(a):
            return 1.0 / a + c1 * jnp.log(c1 * a / (1.0 + c1 * a))

        for _ in range(newton_steps):
            residual = b0 * t + f2(a_in) - f2(a_out)
            slope = 1.0 / (a_out ** 2 * (1.0 + c1 * a_out))
            a_out = a_out - residual / slope
        return a_out

    if nloop not in (1, 2):
        raise ValueError(f"MadGraph's alpha_s runs at 1 or 2 loops here, not {nloop}")
    at_bottom = run(2.0 * math.log(bottom / MADGRAPH_MZ), asmz, 5)
    at_charm = run(2.0 * math.log(charm / bottom), at_bottom, 4)
    safe = jnp.where(q > 0, q, 1.0)
    above_b = run(2.0 * jnp.log(jnp.maximum(safe, bottom) / MADGRAPH_MZ), asmz, 5)
    between = run(2.0 * jnp.log(jnp.clip(safe, charm, bottom) / bottom), at_bottom, 4)
    below_c = run(2.0 * jnp.log(jnp.minimum(safe, charm) / charm), at_charm, 3)
    return jnp.where(q >= bottom, above_b, jnp.where(q >= charm, between, below_c))


@dataclass(frozen=True)
class MadGraphAlphaS:
    """``madgraph_alphas`` at a fixed alpha_s(MZ): the alpha_s of MadGraph's built-in PDF labels."""

    asmz: float
    nloop: int = 2

    def __call__(self, q):
        return madgraph_alphas(q, self.asmz, self.nloop)


def make_alphas(info: PDFSetInfo):
    """The alpha_s(Q) callable the set's metadata specifies (pure JAX, differentiable in Q)."""
    kind = info.alphas_type
    if kind is None:
        raise PDFFormatError(f"{info.info_path}: no 'AlphaS_Type' key; alpha_s of this set is undefined")
    if kind == "ipol":
        if not info.alphas_qs or not info.alphas_vals:
            raise PDFFormatError(f"{info.info_path}: AlphaS_Type ipol needs the keys 'AlphaS_Qs' and 'AlphaS_Vals'")
        return AlphaSIpol.from_table(info.alphas_qs, info.alphas_vals, where=info.key_line("AlphaS_Qs"))
    if kind == "analytic":
        return _analytic(info)
    if kind == "ode":
        return _ode(info)
    raise UnsupportedFeature(f"{info.key_line('AlphaS_Type')}: AlphaS_Type '{kind}' is unknown; "
                             f"LHAPDF defines {ALPHAS_TYPES}")


def _order(info: PDFSetInfo) -> int:
    order = info.alphas_order_qcd if info.alphas_order_qcd is not None else 5  # LHAPDF's AlphaS default
    if not 0 <= order <= 5:
        raise PDFFormatError(f"{info.key_line('AlphaS_OrderQCD')}: AlphaS_OrderQCD must be 0..5, got {order}")
    return order


def _flavour_scheme(info: PDFSetInfo) -> tuple[bool, int]:
    """(fixed scheme?, nf) from AlphaS_FlavorScheme / AlphaS_NumFlavors as LHAPDF's factory reads them."""
    entries = info.entries
    scheme = str(entries.get("AlphaS_FlavorScheme", entries.get("FlavorScheme", "variable"))).lower()
    nf = int(entries.get("AlphaS_NumFlavors", entries.get("NumFlavors", 5)))
    if scheme not in ("fixed", "variable"):
        return False, 5
    return scheme == "fixed", nf


def _threshold_table(info: PDFSetInfo) -> dict[int, float]:
    table = dict(info.quark_thresholds) or dict(info.quark_masses)
    if not table:
        raise PDFFormatError(f"{info.info_path}: alpha_s needs all six quark masses (MDown..MTop or "
                             "AlphaS_MDown..AlphaS_MTop) or thresholds")
    return table


def _analytic(info: PDFSetInfo) -> AlphaSAnalytic:
    if not info.alphas_lambdas:
        raise PDFFormatError(f"{info.info_path}: AlphaS_Type analytic needs AlphaS_Lambda3, _Lambda4 or _Lambda5")
    order = _order(info)
    if order > 4:
        raise UnsupportedFeature(f"{info.key_line('AlphaS_OrderQCD')}: analytic alpha_s is defined up to 4 loops")
    fixed, nf_fixed = _flavour_scheme(info)
    nf_min, nf_max = min(info.alphas_lambdas), max(info.alphas_lambdas)
    lambdas = []
    for nf in range(7):
        defined = [n for n in info.alphas_lambdas if n <= nf]
        lambdas.append(info.alphas_lambdas[max(defined)] if defined else info.alphas_lambdas[nf_min])
    if fixed:
        if nf_fixed not in info.alphas_lambdas:
            raise PDFFormatError(f"{info.info_path}: fixed {nf_fixed}-flavour scheme needs AlphaS_Lambda{nf_fixed}")
        return AlphaSAnalytic(order, info.alphas_mz or 0.0, (), nf_fixed, None, tuple(lambdas),
                              np.stack([beta_coefficients(n) for n in range(7)]))
    table = _threshold_table(info)
    thresholds = tuple((n, table[n]) for n in range(nf_min, nf_max + 1) if n in table)
    return AlphaSAnalytic(order, info.alphas_mz or 0.0, thresholds, nf_min, nf_fixed, tuple(lambdas),
                          np.stack([beta_coefficients(n) for n in range(7)]))


# --------------------------------------------------------------------------- ODE (host tabulation)


def _ode(info: PDFSetInfo) -> AlphaSIpol:
    order = _order(info)
    fixed, nf_fixed = _flavour_scheme(info)
    table = _threshold_table(info)
    entries = info.entries
    if entries.get("AlphaS_MassReference") is not None and entries.get("AlphaS_Reference") is not None:
        q_ref, a_ref = float(entries["AlphaS_MassReference"]), float(entries["AlphaS_Reference"])
    elif info.alphas_mz is not None and info.mz is not None:
        q_ref, a_ref = info.mz, info.alphas_mz
    else:
        raise PDFFormatError(f"{info.info_path}: AlphaS_Type ode needs AlphaS_MZ and MZ (or AlphaS_Reference and "
                             "AlphaS_MassReference)")

    def n_flavours(q2: float) -> int:
        if fixed:
            return nf_fixed
        nf = max([n for n, m in table.items() if m * m < q2], default=0)
        return min(nf, nf_fixed)

    q2s = np.asarray(info.alphas_qs, dtype=np.float64) ** 2 if info.alphas_qs else _default_q2_knots(q_ref, table)
    values = _solve_on_knots(q2s, q_ref**2, a_ref, order, n_flavours, table)
    return AlphaSIpol.from_table(np.sqrt(q2s), values, where=str(info.info_path))


def _default_q2_knots(mz: float, table: dict[int, float]) -> np.ndarray:
    """LHAPDF's default ODE knots: Q = 0.1..0.9, steps of 1/4 GeV to MZ, 4 GeV to 1 TeV, 50 GeV to 2 TeV,
    and each of the charm, bottom, top thresholds twice."""
    qs = [q / 10 for q in range(1, 10)] + [q / 4 for q in range(4, math.ceil(4 * mz))]
    qs += [4 * q for q in range(math.ceil(mz / 4), 250)] + [50 * q for q in range(20, 40)]
    qs += [table[n] for n in (4, 5, 6) if n in table] * 2
    return np.sort(np.asarray(qs, dtype=np.float64) ** 2)


def _solve_on_knots(q2s, q2_ref, a_ref, order, n_flavours, table, max_step=0.005) -> np.ndarray:
    """alpha_s at every knot: RK4 in ln Q^2 from the reference outwards, nf constant on each step
    (steps end on thresholds), LHAPDF's decoupling factor applied across a repeated knot."""
    values = np.empty(q2s.size)
    above = np.flatnonzero(q2s >= q2_ref)
    below = np.flatnonzero(q2s < q2_ref)[::-1]
    for indices in (above, below):
        t, a = math.log(q2_ref), a_ref
        previous = None
        for k in indices:
            target = math.log(q2s[k])
            if previous is not None and q2s[k] == q2s[previous]:
                lo, hi = (previous, k) if k > previous else (k, previous)
                nf_lo = n_flavours(q2s[lo - 1]) if lo > 0 else n_flavours(q2s[lo])
                nf_hi = n_flavours(q2s[hi + 1]) if hi + 1 < q2s.size else n_flavours(q2s[hi])
                ni, nf = (nf_lo, nf_hi) if k > previous else (nf_hi, nf_lo)
                a = a * _decoupling(a, q2s[k], ni, nf, order, table)
            else:
                a = _run(a, t, target, order, n_flavours, table, max_step)
                t = target
            values[k] = a if a <= 2.0 else np.finfo(np.float64).max
            previous = k
    return values


def _run(a: float, t0: float, t1: float, order: int, n_flavours, table, max_step: float) -> float:
    if order == 0 or t0 == t1:
        return a
    cuts = sorted({t0, t1} | {2 * math.log(m) for m in table.values() if m > 0 and min(t0, t1) < 2 * math.log(m) < max(t0, t1)})
    if t1 < t0:
        cuts = cuts[::-1]
    for start, stop in zip(cuts[:-1], cuts[1:]):
        betas = beta_coefficients(n_flavours(math.exp(0.5 * (start + stop))))[:order]
        n_steps = max(1, math.ceil(abs(stop - start) / max_step))
        h = (stop - start) / n_steps
        for _ in range(n_steps):
            if a > 2.0 or not math.isfinite(a):
                return math.inf
            k1 = _beta_function(a, betas)
            k2 = _beta_function(a + 0.5 * h * k1, betas)
            k3 = _beta_function(a + 0.5 * h * k2, betas)
            k4 = _beta_function(a + h * k3, betas)
            a += h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return a


def _beta_function(a: float, betas: np.ndarray) -> float:
    return -sum(b * a ** (i + 2) for i, b in enumerate(betas))


def _decoupling(a: float, q2: float, ni: int, nf: int, order: int, table: dict[int, float]) -> float:
    """LHAPDF's alpha_s decoupling factor from ni to nf flavours at scale q2 (its numerical coefficients)."""
    if ni == nf or order == 0:
        return 1.0
    heavy = max(ni, nf)
    if heavy not in table:
        raise PDFFormatError(f"decoupling at a threshold needs the mass of quark {heavy}")
    x = a / math.pi
    lnmm = math.log(q2 / table[heavy] ** 2)
    if ni > nf:
        terms = (-0.166666 * lnmm * x,
                 (0.152778 - 0.458333 * lnmm + 0.0277778 * lnmm**2) * x**2,
                 (0.972057 - 0.0846515 * nf + (-1.65799 + 0.116319 * nf) * lnmm
                  + (0.0920139 - 0.0277778 * nf) * lnmm**2 - 0.00462963 * lnmm**3) * x**3,
                 (5.17035 - 1.00993 * nf - 0.0219784 * nf**2 + (-8.42914 + 1.30983 * nf + 0.0367852 * nf**2) * lnmm
                  + (0.629919 - 0.143036 * nf + 0.00371335 * nf**2) * lnmm**2
                  + (-0.181617 - 0.0244985 * nf + 0.00308642 * nf**2) * lnmm**3 + 0.000771605 * lnmm**4) * x**4)
    else:
        terms = (0.166667 * lnmm * x,
                 (-0.152778 + 0.458333 * lnmm + 0.0277778 * lnmm**2) * x**2,
                 (-0.972057 + 0.0846515 * ni + (1.53067 - 0.116319 * ni) * lnmm
                  + (0.289931 + 0.0277778 * ni) * lnmm**2 + 0.00462963 * lnmm**3) * x**3,
                 (-5.10032 + 1.00993 * ni + 0.0219784 * ni**2 + (7.03696 - 1.22518 * ni - 0.0367852 * ni**2) * lnmm
                  + (1.59462 + 0.0267168 * ni + 0.00371335 * ni**2) * lnmm**2
                  + (0.280575 + 0.0522762 * ni - 0.00308642 * ni**2) * lnmm**3 + 0.000771605 * lnmm**4) * x**4)
    return 1.0 + sum(terms[: min(order, 4)])
