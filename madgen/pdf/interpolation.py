"""x f(x, Q) from an LHAPDF6 grid: LHAPDF's ``logcubic`` interpolator and ``continuation`` extrapolator in JAX.

Interpolation (LHAPDF >= 6.4 ``LogBicubicInterpolator``; arXiv:1412.7420, sec. 4.1).  With
u = log x and v = log Q^2, on the cell [u_i, u_i+1] x [v_j, v_j+1]:

1. in u, a cubic Hermite polynomial at every Q knot k through the knot values with the
   derivatives d(xf)/du at u_i and u_i+1 estimated as the mean of the two one-sided difference
   quotients (forward difference at the first x knot, backward at the last);
2. in v, a cubic Hermite polynomial through the step-1 values at v_j, v_j+1, with derivatives
   from the step-1 values at v_j-1 .. v_j+2 by the same rule, where "first"/"last" knot means the
   edge of the Q *subgrid* (subgrids meet at a repeated Q knot, a flavour threshold);
3. a subgrid with only two Q knots is interpolated bilinearly in (u, v) instead.

Steps 1-3 are linear in the knot values, so every cell is one bicubic polynomial
sum_{p,q} C[i, j, p, q, f] t_u^p t_v^q in the fractional positions t_u, t_v in [0, 1]; the
coefficients C are computed once on the host (:func:`build_tables`), and the JAX evaluation is a
knot search, one gather and a contraction: vectorised, jit-able and differentiable in x and Q.
A point on a shared Q knot belongs to the subgrid above it, as in LHAPDF.

Extrapolation (LHAPDF ``ContinuationExtrapolator``, the MSTW scheme):
* x < x_min: linear in log x through the values at the first two x knots, of log(xf) when both
  values exceed 1e-3, else of xf;
* Q > Q_max: the same in log Q^2 through the last two Q knots;
* both: first in Q at the two x anchors, then in x;
* Q < Q_min: f(Q_min) (Q^2/Q_min^2)^(a r + 1 - r), r = Q^2/Q_min^2, with the anomalous dimension
  a = max(-2.5, dlog f/dlog Q^2) from f at Q_min^2 and 1.01 Q_min^2 (a = 1 if |f(Q_min)| < 1e-5),
  after extrapolating in x first when x < x_min;
* x > x_max (only possible if x_max < 1) is an error in LHAPDF: NaN here.
Alternatives: ``nearest`` (the value at the closest grid point) and ``error`` (NaN outside).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from madgen.errors import UnsupportedFeature
from madgen.pdf.reader import PDFGrid

EXTRAPOLATORS = ("continuation", "nearest", "error")

# Cubic Hermite basis on [0, 1] in ascending powers of t: value and slope at 0 and at 1.
_H00 = np.array([1.0, 0.0, -3.0, 2.0])
_H10 = np.array([0.0, 1.0, -2.0, 1.0])
_H01 = np.array([0.0, 0.0, 3.0, -2.0])
_H11 = np.array([0.0, 0.0, -1.0, 1.0])


class GridTables(NamedTuple):
    """Device arrays of a grid, a JAX pytree (pass it through ``jit`` as an argument).

    ``coeffs[4 p + q, i (n_q - 1) + j, f]`` multiplies t_u^p t_v^q on cell (i, j); cells of zero
    width (between the two copies of a repeated Q knot) are never selected and hold zeros.  The
    monomial axis comes first so that evaluation gathers 16 contiguous (points, flavours) slabs,
    which XLA fuses with the polynomial arithmetic (one (points, 16, flavours) gather is ~10x slower).
    """

    log_x: jnp.ndarray  # (n_x,)
    inv_dlog_x: jnp.ndarray  # (n_x - 1,)
    log_q2: jnp.ndarray  # (n_q,) all subgrids, shared knots repeated
    inv_dlog_q2: jnp.ndarray  # (n_q - 1,), 1 for zero-width cells
    coeffs: jnp.ndarray  # (16, (n_x - 1) * (n_q - 1), n_flavours)


# --------------------------------------------------------------------------- host precomputation


def build_tables(grid: PDFGrid) -> GridTables:
    """Bicubic coefficients of every cell, reproducing LHAPDF's logcubic rules (module docstring)."""
    x = grid.subgrids[0].x
    q2 = np.concatenate([sub.q * sub.q for sub in grid.subgrids])  # LHAPDF works with Q^2 = Q*Q
    values = np.concatenate([sub.xf for sub in grid.subgrids], axis=1)  # (n_x, n_q, n_f)
    if x.size < 4:
        raise UnsupportedFeature(
            f"{grid.path}: {x.size} x knots; LHAPDF's logcubic interpolator needs at least 4")
    log_x, log_q2 = np.log(x), np.log(q2)
    x_poly = _x_polynomials(log_x, values)  # (n_x - 1, n_q, n_f, 4)
    coeffs = np.zeros((x.size - 1, q2.size - 1, 4, 4, values.shape[2]))
    first, last = _subgrid_edges(q2)
    weights = _q_derivative_weights(log_q2, first, last)
    for j in range(q2.size - 1):
        if q2[j + 1] == q2[j]:
            continue
        if first[j] and last[j + 1]:
            coeffs[:, j] = _bilinear_cell(values[:, j], values[:, j + 1])
            continue
        neighbours, q_poly = _q_cell_polynomials(j, log_q2, weights)
        # C[i, p, q, f] = sum_k q_poly[k, q] * x_poly[i, neighbours[k], f, p]
        coeffs[:, j] = np.einsum("kq,ikfp->ipqf", q_poly, x_poly[:, neighbours])
    dlog_q2 = np.diff(log_q2)
    return GridTables(  # knots' logs by JAX, so that evaluate() at a knot finds it exactly (t = 0)
        log_x=jnp.log(jnp.asarray(x)),
        inv_dlog_x=jnp.asarray(1.0 / np.diff(log_x)),
        log_q2=2.0 * jnp.log(jnp.asarray(np.concatenate([sub.q for sub in grid.subgrids]))),
        inv_dlog_q2=jnp.asarray(1.0 / np.where(dlog_q2 > 0, dlog_q2, 1.0)),
        coeffs=jnp.asarray(np.ascontiguousarray(
            coeffs.reshape((x.size - 1) * (q2.size - 1), 16, values.shape[2]).transpose(1, 0, 2))),
    )


def knot_derivatives(log_knots: np.ndarray, values: np.ndarray, axis: int = 0) -> np.ndarray:
    """d(values)/d(log knot) at every knot: mean of the two one-sided quotients, one-sided at the ends."""
    values = np.moveaxis(values, axis, 0)
    slopes = np.diff(values, axis=0) / np.diff(log_knots).reshape((-1,) + (1,) * (values.ndim - 1))
    derivs = np.empty_like(values)
    derivs[0], derivs[-1] = slopes[0], slopes[-1]
    derivs[1:-1] = 0.5 * (slopes[:-1] + slopes[1:])
    return np.moveaxis(derivs, 0, axis)


def _x_polynomials(log_x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Ascending-power coefficients of the cubic in t_u on every x interval, at every Q knot."""
    h = np.diff(log_x)[:, None, None]
    derivs = knot_derivatives(log_x, values, axis=0)
    lo, hi = values[:-1], values[1:]
    slope_lo, slope_hi = derivs[:-1] * h, derivs[1:] * h
    return (_H00 * lo[..., None] + _H10 * slope_lo[..., None]
            + _H01 * hi[..., None] + _H11 * slope_hi[..., None])


def _subgrid_edges(q2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each Q knot is the first / last of its subgrid (a repeated knot ends one, starts the next)."""
    first = np.ones(q2.size, dtype=bool)
    last = np.ones(q2.size, dtype=bool)
    first[1:] = q2[1:] == q2[:-1]
    last[:-1] = q2[:-1] == q2[1:]
    return first, last


def _q_derivative_weights(log_q2: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(n_q, 3) weights of v_k-1, v_k, v_k+1 in d v / d log Q^2 at knot k (forward/backward at subgrid edges)."""
    weights = np.zeros((log_q2.size, 3))
    for k in range(log_q2.size):
        below = 1.0 / (log_q2[k] - log_q2[k - 1]) if not first[k] else 0.0
        above = 1.0 / (log_q2[k + 1] - log_q2[k]) if not last[k] else 0.0
        if first[k]:
            weights[k] = (0.0, -above, above)
        elif last[k]:
            weights[k] = (-below, below, 0.0)
        else:
            weights[k] = (-0.5 * below, 0.5 * (below - above), 0.5 * above)
    return weights


def _q_cell_polynomials(j: int, log_q2: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q knots j-1..j+2 (clipped) and the cubic in t_v multiplying each one's value on cell j."""
    dv = log_q2[j + 1] - log_q2[j]
    wl, wh = weights[j] * dv, weights[j + 1] * dv  # slopes in units of the cell width
    q_poly = np.stack([
        _H10 * wl[0],
        _H00 + _H10 * wl[1] + _H11 * wh[0],
        _H01 + _H10 * wl[2] + _H11 * wh[1],
        _H11 * wh[2],
    ])
    neighbours = np.clip(np.arange(j - 1, j + 3), 0, log_q2.size - 1)
    return neighbours, q_poly


def _bilinear_cell(v_lo: np.ndarray, v_hi: np.ndarray) -> np.ndarray:
    """(n_x - 1, 4, 4, n_f) coefficients of LHAPDF's bilinear fallback on a 2-knot subgrid."""
    cell = np.zeros((v_lo.shape[0] - 1, 4, 4, v_lo.shape[1]))
    a, b = v_lo[:-1], v_lo[1:]  # (x_i, Q_j), (x_i+1, Q_j)
    c, d = v_hi[:-1], v_hi[1:]  # (x_i, Q_j+1), (x_i+1, Q_j+1)
    cell[:, 0, 0], cell[:, 1, 0], cell[:, 0, 1], cell[:, 1, 1] = a, b - a, c - a, d - c - b + a
    return cell


# --------------------------------------------------------------------------- JAX evaluation


def interpolate(tables: GridTables, log_x: jnp.ndarray, log_q2: jnp.ndarray) -> jnp.ndarray:
    """x f on the grid (points outside are clamped to the edge cells): shape (..., n_flavours).

    Differentiable in log x and log Q^2 through a custom JVP that evaluates the polynomial and its
    two partial derivatives in one pass (reverse mode then keeps 2 residual arrays instead of 16).
    The grid values are data: no gradient flows into ``tables``.
    """
    return _interpolate_values(jax.lax.stop_gradient(tables), log_x, log_q2)


@jax.custom_jvp
def _interpolate_values(tables: GridTables, log_x, log_q2):
    return _cell_polynomial(tables, log_x, log_q2, derivatives=False)


@_interpolate_values.defjvp
def _interpolate_values_jvp(primals, tangents):
    tables, log_x, log_q2 = primals
    _, dlog_x, dlog_q2 = tangents  # the tables' tangent is zero: interpolate() stops their gradient
    value, d_dlx, d_dlq = _cell_polynomial(tables, log_x, log_q2, derivatives=True)
    return value, d_dlx * dlog_x[..., None] + d_dlq * dlog_q2[..., None]


def _cell_polynomial(tables: GridTables, log_x, log_q2, derivatives: bool):
    """The cell's bicubic by nested Horner; with ``derivatives`` also d/dlog x and d/dlog Q^2."""
    i = jnp.clip(jnp.searchsorted(tables.log_x, log_x, side="right") - 1, 0, tables.log_x.size - 2)
    j = jnp.clip(jnp.searchsorted(tables.log_q2, log_q2, side="right") - 1, 0, tables.log_q2.size - 2)
    tu = (log_x - tables.log_x[i]) * tables.inv_dlog_x[i]
    tv = (log_q2 - tables.log_q2[j]) * tables.inv_dlog_q2[j]
    # materialise index and positions once: otherwise XLA may recompute them inside each of the 16 gathers
    cell, tu, tv = jax.lax.optimization_barrier((i * (tables.log_q2.size - 1) + j, tu[..., None], tv[..., None]))
    value = d_du = d_dv = 0.0
    for p in (3, 2, 1, 0):  # Horner in t_u of Horner polynomials P_p(t_v)
        poly = tables.coeffs[4 * p + 3][cell]
        d_poly = 0.0
        for q in (2, 1, 0):
            d_poly = d_poly * tv + poly
            poly = poly * tv + tables.coeffs[4 * p + q][cell]
        d_du = d_du * tu + value
        value = value * tu + poly
        d_dv = d_dv * tu + d_poly
    if not derivatives:
        return value
    return value, d_du * tables.inv_dlog_x[i][..., None], d_dv * tables.inv_dlog_q2[j][..., None]


@functools.partial(jax.jit, static_argnames="extrapolator")
def evaluate(tables: GridTables, x: jnp.ndarray, q: jnp.ndarray, extrapolator: str = "continuation") -> jnp.ndarray:
    """x f(x, Q) for all flavours, shape broadcast(x, q).shape + (n_flavours,); NaN where x is not
    in (0, x_max] or Q <= 0.  Extrapolation outside the grid follows ``extrapolator``."""
    if extrapolator not in EXTRAPOLATORS:
        raise UnsupportedFeature(f"extrapolator '{extrapolator}' is not implemented; use one of {EXTRAPOLATORS}")
    x, q = jnp.broadcast_arrays(jnp.asarray(x), jnp.asarray(q))
    log_x_min, log_x_max = tables.log_x[0], tables.log_x[-1]
    log_q2_min, log_q2_max = tables.log_q2[0], tables.log_q2[-1]
    valid = (x > 0) & (q > 0) & (jnp.log(jnp.where(x > 0, x, 1.0)) <= log_x_max)
    log_x = jnp.log(jnp.where(valid, x, 1.0)) + jnp.where(valid, 0.0, log_x_min)
    log_q2 = 2.0 * jnp.log(jnp.where(valid, q, 1.0)) + jnp.where(valid, 0.0, log_q2_min)
    outside = (log_x < log_x_min) | (log_q2 < log_q2_min) | (log_q2 > log_q2_max)
    if extrapolator == "continuation":
        result = jax.lax.cond(jnp.any(outside), _continuation, interpolate, tables, log_x, log_q2)
    elif extrapolator == "nearest":
        result = interpolate(tables, jnp.clip(log_x, log_x_min, log_x_max), jnp.clip(log_q2, log_q2_min, log_q2_max))
    else:
        result = jnp.where(outside[..., None], jnp.nan, interpolate(tables, log_x, log_q2))
    return jnp.where(valid[..., None], result, jnp.nan)


def _continuation(tables: GridTables, log_x: jnp.ndarray, log_q2: jnp.ndarray) -> jnp.ndarray:
    """LHAPDF's continuation extrapolation (module docstring) for any mix of in- and out-of-grid points.

    Inputs of the branches a point does not take are moved onto the anchors, so every branch stays
    finite and ``jnp.where`` passes no NaN into gradients.
    """
    lx0, lx1 = tables.log_x[0], tables.log_x[1]
    lq0, lq1, lq_max, lq_max1 = tables.log_q2[0], tables.log_q2[0] + jnp.log(1.01), tables.log_q2[-1], tables.log_q2[-2]
    small_x, high_q, low_q = log_x < lx0, log_q2 > lq_max, log_q2 < lq0
    ux = jnp.where(small_x, lx0, log_x)
    ux1 = jnp.where(small_x, lx1, log_x)
    vq = jnp.where(high_q, lq_max, jnp.where(low_q, lq0, log_q2))
    vq1 = jnp.where(high_q, lq_max1, jnp.where(low_q, lq1, log_q2))
    anchors = interpolate(tables, jnp.stack([ux, ux1, ux, ux1]).ravel(), jnp.stack([vq, vq, vq1, vq1]).ravel())
    anchors = jax.lax.optimization_barrier(anchors)  # computed once, not re-fused into every consumer
    f00, f10, f01, f11 = anchors.reshape((4,) + log_x.shape + anchors.shape[-1:])  # f[x anchor][q anchor]

    # Stage 1: above Q_max, extrapolate in Q at both x anchors; else in x (when x < x_min) at both Q anchors.
    # Stage 2: above Q_max with x < x_min, extrapolate the two results in x; below Q_min, continue in Q.
    # Distances of branches a point does not take are zero, so every branch is finite (safe gradients).
    hq, sx = high_q[..., None], small_x[..., None]
    t_q = ((jnp.where(high_q, log_q2, lq_max) - lq_max) / (lq_max1 - lq_max))[..., None]
    t_x = ((jnp.where(small_x, log_x, lx0) - lx0) / (lx1 - lx0))[..., None]
    t_first = jnp.where(hq, t_q, t_x)
    first_a = _extrapolate_linear(t_first, f00, jnp.where(hq, f01, f10))
    first_b = _extrapolate_linear(t_first, jnp.where(hq, f10, f01), f11)
    high = _extrapolate_linear(jnp.where(hq & sx, t_x, 0.0), first_a, first_b)
    low = _anomalous_dimension_continuation(first_a, first_b, jnp.where(low_q, log_q2 - lq0, 0.0)[..., None])
    return jnp.where(hq, high, jnp.where(low_q[..., None], low, first_a))


def _extrapolate_linear(t, y_lo, y_hi):
    """LHAPDF's linear extrapolation at fractional distance t (in log x or log Q^2) from the anchor
    y_lo towards y_hi: of log(y) when both values exceed 1e-3 (keeps the PDF positive), else of y."""
    positive = (y_lo > 1e-3) & (y_hi > 1e-3)
    log_lo = jnp.log(jnp.where(positive, y_lo, 1.0))
    log_hi = jnp.log(jnp.where(positive, y_hi, 1.0))
    return jnp.where(positive, jnp.exp(log_lo + t * (log_hi - log_lo)), y_lo + t * (y_hi - y_lo))


def _anomalous_dimension_continuation(f_min, f_min1, log_ratio):
    """f(Q_min) r^(a r + 1 - r), r = Q^2/Q_min^2 = exp(log_ratio), a from f at Q_min^2 and 1.01 Q_min^2."""
    large = jnp.abs(f_min) >= 1e-5
    slope = (f_min1 - f_min) / jnp.where(large, f_min, 1.0) / 0.01
    anom = jnp.where(large, jnp.maximum(-2.5, slope), 1.0)
    ratio = jnp.exp(log_ratio)
    return f_min * jnp.exp(log_ratio * (anom * ratio + 1.0 - ratio))
