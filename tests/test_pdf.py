"""madgen.pdf: LHAPDF6 reader, logcubic interpolation + continuation extrapolation, alpha_s, set lookup.

References nobody here wrote: the grid values themselves, the sum rules quoted in
../shared/pdfs/README.md (computed there with the independent `parton` reader), `parton`'s
spline interpolation, the one-loop running that generated the set's alpha_s table, and a literal
per-point numpy transcription of LHAPDF's LogBicubicInterpolator / ContinuationExtrapolator /
AlphaS_Ipol written below independently of madgen's precomputed-polynomial implementation.
"""

import math
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from madgen.errors import MadgenError, PDFFormatError, PDFRangeError, PDFSetNotFound
from madgen.pdf import DEFAULT_PDF, find_pdf_set, load_pdf, make_alphas, pdf_search_paths, read_grid, read_info
from madgen.pdf.alphas import beta_coefficients
from madgen.pdf.distribution import clear_pdf_cache

SHIPPED = Path(__file__).resolve().parents[1] / "madgen" / "pdf" / "sets" / DEFAULT_PDF
SHARED = Path(__file__).resolve().parents[2] / "shared" / "pdfs" / DEFAULT_PDF


@pytest.fixture(scope="module")
def pdf():
    return load_pdf(DEFAULT_PDF)


# --------------------------------------------------------------------------- independent LHAPDF transcription


def _ddlogx(xs, xf, ix):
    """LHAPDF _ddx in log space at knot ix; xf has shape (n_x, n_flavours)."""
    lx = np.log(xs)
    if ix == 0:
        return (xf[1] - xf[0]) / (lx[1] - lx[0])
    if ix == len(xs) - 1:
        return (xf[ix] - xf[ix - 1]) / (lx[ix] - lx[ix - 1])
    return 0.5 * ((xf[ix] - xf[ix - 1]) / (lx[ix] - lx[ix - 1]) + (xf[ix + 1] - xf[ix]) / (lx[ix + 1] - lx[ix]))


def _cubic(t, vl, vdl, vh, vdh):
    t2, t3 = t * t, t * t * t
    return (2 * t3 - 3 * t2 + 1) * vl + (t3 - 2 * t2 + t) * vdl + (-2 * t3 + 3 * t2) * vh + (t3 - t2) * vdh


def _index_below(value, knots):
    i = int(np.searchsorted(knots, value, side="right"))
    return min(i, len(knots) - 1) - 1


def lhapdf_interpolate(grid, x, q2):
    """LHAPDF 6.5 logcubic at one in-range point, per subgrid as in LHAPDF <= 6.3's KnotArray1F."""
    starts = [sub.q[0] ** 2 for sub in grid.subgrids]
    sub = grid.subgrids[_index_below(q2, np.array(starts)) if q2 < starts[-1] else len(starts) - 1]
    xs, q2s = sub.x, sub.q ** 2
    ix, iq = _index_below(x, xs), _index_below(q2, q2s)
    lx, lq = np.log(x), np.log(q2)
    if len(q2s) == 2:  # lower and upper edge at once: bilinear fallback
        tx = (lx - np.log(xs[ix])) / (np.log(xs[ix + 1]) - np.log(xs[ix]))
        lo = sub.xf[ix, 0] + tx * (sub.xf[ix + 1, 0] - sub.xf[ix, 0])
        hi = sub.xf[ix, 1] + tx * (sub.xf[ix + 1, 1] - sub.xf[ix, 1])
        return lo + (lq - np.log(q2s[0])) / (np.log(q2s[1]) - np.log(q2s[0])) * (hi - lo)
    dlogx = np.log(xs[ix + 1]) - np.log(xs[ix])
    tlogx = (lx - np.log(xs[ix])) / dlogx

    def at_q(k):
        column = sub.xf[:, k]
        return _cubic(tlogx, column[ix], _ddlogx(xs, column, ix) * dlogx, column[ix + 1],
                      _ddlogx(xs, column, ix + 1) * dlogx)

    lq2 = np.log(q2s)
    dq1 = lq2[iq + 1] - lq2[iq]
    vl, vh = at_q(iq), at_q(iq + 1)
    if iq == 0:
        vdl = vh - vl
        vdh = 0.5 * (vdl + (at_q(iq + 2) - vh) * dq1 / (lq2[iq + 2] - lq2[iq + 1]))
    elif iq + 1 == len(q2s) - 1:
        vdh = vh - vl
        vdl = 0.5 * (vdh + (vl - at_q(iq - 1)) * dq1 / (lq2[iq] - lq2[iq - 1]))
    else:
        vdl = 0.5 * ((vh - vl) + (vl - at_q(iq - 1)) * dq1 / (lq2[iq] - lq2[iq - 1]))
        vdh = 0.5 * ((vh - vl) + (at_q(iq + 2) - vh) * dq1 / (lq2[iq + 2] - lq2[iq + 1]))
    return _cubic((lq - lq2[iq]) / dq1, vl, vdl, vh, vdh)


def _xpol(x, xl, xh, yl, yh):
    """LHAPDF ContinuationExtrapolator's _extrapolateLinear, elementwise over flavours."""
    t = (np.log(x) - np.log(xl)) / (np.log(xh) - np.log(xl))
    with np.errstate(divide="ignore", invalid="ignore"):
        loglog = np.exp(np.log(yl) + t * (np.log(yh) - np.log(yl)))
    return np.where((yl > 1e-3) & (yh > 1e-3), loglog, yl + t * (yh - yl))


def lhapdf_xfx(grid, x, q):
    """LHAPDF's GridPDF::_xfxQ2 with the continuation extrapolator, one point, all flavours."""
    q2 = q * q
    xs = grid.subgrids[0].x
    q2s = np.concatenate([s.q ** 2 for s in grid.subgrids])
    x_min, x_min1, q2_min, q2_max, q2_max1 = xs[0], xs[1], q2s[0], q2s[-1], q2s[-2]
    ipol = lambda xx, qq: lhapdf_interpolate(grid, xx, qq)  # noqa: E731
    if x_min <= x <= xs[-1] and q2_min <= q2 <= q2_max:
        return ipol(x, q2)
    if x < x_min and q2_min <= q2 <= q2_max:
        return _xpol(x, x_min, x_min1, ipol(x_min, q2), ipol(x_min1, q2))
    if x >= x_min and q2 > q2_max:
        return _xpol(q2, q2_max, q2_max1, ipol(x, q2_max), ipol(x, q2_max1))
    if x < x_min and q2 > q2_max:
        f0 = _xpol(q2, q2_max, q2_max1, ipol(x_min, q2_max), ipol(x_min, q2_max1))
        f1 = _xpol(q2, q2_max, q2_max1, ipol(x_min1, q2_max), ipol(x_min1, q2_max1))
        return _xpol(x, x_min, x_min1, f0, f1)
    if x < x_min:
        f_min = _xpol(x, x_min, x_min1, ipol(x_min, q2_min), ipol(x_min1, q2_min))
        f_min1 = _xpol(x, x_min, x_min1, ipol(x_min, 1.01 * q2_min), ipol(x_min1, 1.01 * q2_min))
    else:
        f_min, f_min1 = ipol(x, q2_min), ipol(x, 1.01 * q2_min)
    with np.errstate(divide="ignore", invalid="ignore"):
        anom = np.where(np.abs(f_min) >= 1e-5, np.maximum(-2.5, (f_min1 - f_min) / f_min / 0.01), 1.0)
    r = q2 / q2_min
    return f_min * r ** (anom * r + 1.0 - r)


# --------------------------------------------------------------------------- reader


def test_reader_parses_the_shipped_set():
    info = read_info(SHIPPED)
    assert info.name == DEFAULT_PDF and info.format == "lhagrid1"
    assert info.flavours == (-6, -5, -4, -3, -2, -1, 21, 1, 2, 3, 4, 5, 6, 22)
    assert (info.x_min, info.x_max, info.q_min, info.q_max) == (1e-9, 1.0, 1.0, 1e6)
    assert info.alphas_type == "ipol" and info.alphas_mz == 0.130 and info.alphas_order_qcd == 0
    assert len(info.alphas_qs) == len(info.alphas_vals) == 60
    assert info.mz == 91.2 and info.quark_masses[5] == 4.75 and info.quark_masses[6] == 175
    grid = read_grid(SHIPPED / f"{DEFAULT_PDF}_0000.dat", n_flavours=14)
    (sub,) = grid.subgrids
    assert sub.xf.shape == (100, 60, 14) and sub.x[0] == 1e-9 and sub.q[-1] == 1e6
    # the first value line of the file, read independently
    line = (SHIPPED / f"{DEFAULT_PDF}_0000.dat").read_text().splitlines()[6]
    np.testing.assert_array_equal(sub.xf[0, 0], [float(v) for v in line.split()])
    if SHARED.exists():  # the shipped copy is byte-identical to the shared one
        for path in SHARED.iterdir():
            assert (SHIPPED / path.name).read_bytes() == path.read_bytes()


def _write_set(root: Path, name: str, subgrids, flavours=(-1, 21, 1), extra_info="") -> Path:
    """A synthetic lhagrid1 set: subgrids = [(x, q, xf[nx, nq, nf]), ...]."""
    directory = root / name
    directory.mkdir(parents=True)
    (directory / f"{name}.info").write_text(
        f"SetDesc: synthetic\nFormat: lhagrid1\nNumMembers: 1\nFlavors: {list(flavours)}\n"
        "AlphaS_Type: ipol\nAlphaS_Qs: [1.0, 10.0, 100.0]\nAlphaS_Vals: [0.3, 0.2, 0.1]\n" + extra_info)
    lines = ["PdfType: central", "Format: lhagrid1", "---"]
    for x, q, xf in subgrids:
        lines += [" ".join(f"{v:.16e}" for v in x), " ".join(f"{v:.16e}" for v in q), " ".join(map(str, flavours))]
        lines += [" ".join(f"{v:.16e}" for v in xf[i, j]) for i in range(len(x)) for j in range(len(q))]
        lines.append("---")
    (directory / f"{name}_0000.dat").write_text("\n".join(lines) + "\n")
    return directory


def _smooth_values(x, q, shift=0.0):
    lx, lq = np.log(x)[:, None, None], np.log(q)[None, :, None]
    powers = np.array([0.3, 0.5, 0.8])[None, None, :]
    return (1 - x[:, None, None]) ** 3 * np.exp(-powers * lx * 0.2) * (1 + 0.1 * lq + shift) + 0.01 * np.sin(3 * lx)


@pytest.fixture(scope="module")
def multigrid(tmp_path_factory):
    """Three subgrids meeting at Q = 3 and 5 GeV (the middle one has 2 Q knots: bilinear fallback),
    with jumps at the shared knots as at flavour thresholds."""
    x = np.geomspace(1e-5, 1.0, 30)
    qs = [np.array([1.0, 1.5, 2.0, 3.0]), np.array([3.0, 5.0]), np.array([5.0, 10.0, 20.0, 50.0, 100.0])]
    subgrids = [(x, q, _smooth_values(x, q, shift=0.05 * k)) for k, q in enumerate(qs)]
    directory = _write_set(tmp_path_factory.mktemp("sets"), "Synthetic3", subgrids)
    return load_pdf(directory)


# --------------------------------------------------------------------------- interpolation


def test_knot_values_are_returned_exactly(pdf):
    sub = pdf.grid.subgrids[0]
    x, q = np.meshgrid(sub.x, sub.q, indexing="ij")
    # all 100 x 60 knots, all 14 flavours: exact up to the last bit or two.  x = 1 is the far end
    # (t = 1) of the last cell, where summing its coefficients leaves ~1e-20 on the exact zero.
    np.testing.assert_allclose(np.asarray(pdf.xfx(x, q)), sub.xf, rtol=4e-16, atol=1e-18)


def test_agrees_with_literal_lhapdf_transcription(pdf):
    rng = np.random.default_rng(7)
    x = np.exp(rng.uniform(np.log(2e-11), 0.0, 400))
    q = np.exp(rng.uniform(np.log(0.3), np.log(5e6), 400))
    x[:50] = rng.uniform(1e-9, 1.0, 50)  # in range: interpolation only
    q[:50] = np.exp(rng.uniform(0.0, np.log(1e6), 50))
    mine = np.asarray(pdf.xfx(x, q))
    reference = np.stack([lhapdf_xfx(pdf.grid, xi, qi) for xi, qi in zip(x, q)])
    scale = np.abs(reference).max(axis=0, keepdims=True)  # per-flavour magnitude, for values crossing zero
    excess = np.abs(mine - reference) - (1e-11 * np.abs(reference) + 1e-13 * scale)
    assert np.all(excess <= 0), f"worst excess {excess.max():.3g} at point {np.unravel_index(excess.argmax(), excess.shape)}"


def test_subgrids_and_two_knot_fallback_match_lhapdf(multigrid):
    rng = np.random.default_rng(3)
    x = np.exp(rng.uniform(np.log(1e-5), 0.0, 300))
    q = np.exp(rng.uniform(0.0, np.log(100.0), 300))
    q[:6] = [3.0, 5.0, 3.0 - 1e-9, 5.0 + 1e-9, 1.0, 100.0]  # on and next to the shared knots
    mine = np.asarray(multigrid.xfx(x, q))
    reference = np.stack([lhapdf_interpolate(multigrid.grid, xi, qi * qi) for xi, qi in zip(x, q)])
    np.testing.assert_allclose(mine, reference, rtol=1e-12, atol=1e-14)
    # a shared knot belongs to the subgrid above it, whose first knot values are returned
    above = multigrid.grid.subgrids[2]
    np.testing.assert_allclose(np.asarray(multigrid.xfx(above.x, 5.0)), above.xf[:, 0], rtol=4e-16, atol=1e-16)


# Differences with `parton` (scipy RectBivariateSpline: interpolating cubic spline in log x, log Q^2)
# are those between two cubic schemes, O(h^4 f'''') for smooth f and at most O(h^2 f'') near the
# kinks both smooth differently.  Measured on 20000 random points with x in [1e-7, 0.8] and
# Q in [6, 9000] GeV (away from the b threshold kink at 4.75 GeV, the grid's jump at Q = 1e4 GeV
# for x < 1e-7, and x -> 1 where xf -> 0): median relative difference 4-6e-5 for every flavour,
# 99th percentile <= 1.5e-3 (gluon 2e-3), maximum 7e-3.  Tolerances sit a factor ~3 above.
@pytest.mark.parametrize("pdg", [21, 1, 2, 3, -1, -2, -3, 22])
def test_agrees_with_parton_package(pdf, pdg):
    parton = pytest.importorskip("parton")
    reference_pdf = parton.mkPDF(DEFAULT_PDF, 0, pdfdir=str(pdf.directory.parent))
    rng = np.random.default_rng(11)
    x = np.exp(rng.uniform(np.log(1e-7), np.log(0.8), 3000))
    q = np.exp(rng.uniform(np.log(6.0), np.log(9000.0), 3000))
    reference = reference_pdf.xfxQ(pdg, x, q, grid=False)
    relative = np.abs(np.asarray(pdf.xfx_pdg(pdg, x, q)) - reference) / np.abs(reference)
    assert np.median(relative) < 2e-4
    assert np.percentile(relative, 99) < 5e-3
    assert relative.max() < 2.5e-2


@pytest.mark.parametrize("q", [10.0, 100.0, 1000.0])
def test_sum_rules_match_the_shared_readme(pdf, q):
    """Gauss-Legendre (8 nodes) on every x cell in log x, x from 1e-9 to 1."""
    nodes, weights = np.polynomial.legendre.leggauss(8)
    log_knots = np.log(pdf.grid.subgrids[0].x)
    lo, hi = log_knots[:-1, None], log_knots[1:, None]
    u = (0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)).ravel()
    w = (0.5 * (hi - lo) * weights).ravel()
    xf = np.asarray(pdf.xfx(np.exp(u), q))
    number = w @ xf  # integral of f dx = integral of x f dlog x, per flavour
    momentum = (w * np.exp(u)) @ xf  # integral of x f dx
    col = pdf.flavour_index
    # README: 1.005 / 1.005 / 0.996, summed over every flavour but t and tbar (at Q = 1 TeV the top
    # carries 0.009; with it the sum stays 1.005); valence 2.004 and 1.001 at every Q
    without_top = momentum.sum() - momentum[col[6]] - momentum[col[-6]]
    assert round(without_top, 3) == {10.0: 1.005, 100.0: 1.005, 1000.0: 0.996}[q]
    assert round(momentum.sum(), 3) == 1.005
    assert round(number[col[2]] - number[col[-2]], 3) == 2.004
    assert round(number[col[1]] - number[col[-1]], 3) == 1.001
    assert abs(number[col[3]] - number[col[-3]]) < 1e-4


def test_flavour_access(pdf):
    x, q = np.array([0.01, 0.3]), np.array([50.0, 500.0])
    full = np.asarray(pdf.xfx(x, q))
    assert full.shape == (2, 14)
    picked = np.asarray(pdf.xfx(x, q, pdg_ids=(0, 2, -2, 11)))  # 0 = gluon alias, 11 absent -> 0
    np.testing.assert_array_equal(picked[:, 0], full[:, pdf.flavours.index(21)])
    np.testing.assert_array_equal(picked[:, 1], full[:, pdf.flavours.index(2)])
    np.testing.assert_array_equal(picked[:, 3], 0.0)
    np.testing.assert_array_equal(np.asarray(pdf.xfx_pdg(-2, x, q)), picked[:, 2])
    # broadcasting: a batch of x at one Q, and a (3, 2) batch
    assert pdf.xfx(np.full((3, 2), 0.1), 91.2).shape == (3, 2, 14)


def test_jit_and_vmap_agree_with_eager(pdf):
    x = np.array([1e-10, 1e-4, 0.2, 0.9]); q = np.array([0.5, 20.0, 2e6, 300.0])
    eager = np.asarray(pdf.xfx(x, q))
    np.testing.assert_allclose(np.asarray(jax.jit(pdf.xfx)(x, q)), eager, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(jax.vmap(pdf.xfx)(x, q)), eager, rtol=1e-14)


def _central_difference(f, value, rel=1e-6):
    h = rel * value
    return (f(value + h) - f(value - h)) / (2 * h)


def test_gradients_match_finite_differences(pdf):
    # interpolation, then extrapolation below x_min, above Q_max, below Q_min, and both at once
    x = np.array([0.0123, 3.3e-6, 0.61, 2e-10, 0.02, 0.05, 4e-11])
    q = np.array([47.0, 2.2, 3100.0, 30.0, 3e6, 0.6, 0.7])
    grad_x = np.asarray(jax.vmap(jax.jacfwd(pdf.xfx, argnums=0))(x, q))
    grad_q = np.asarray(jax.vmap(jax.jacrev(pdf.xfx, argnums=1))(x, q))
    hx, hq = 1e-6 * x, 1e-6 * q
    fd_x = (np.asarray(pdf.xfx(x + hx, q)) - np.asarray(pdf.xfx(x - hx, q))) / (2 * hx[:, None])
    fd_q = (np.asarray(pdf.xfx(x, q + hq)) - np.asarray(pdf.xfx(x, q - hq))) / (2 * hq[:, None])
    scale = np.abs(np.asarray(pdf.xfx(x, q))).max(axis=1, keepdims=True)  # for flavours crossing zero
    assert np.all(np.abs(grad_x - fd_x) <= 2e-6 * np.abs(fd_x) + 1e-8 * scale / x[:, None])
    assert np.all(np.abs(grad_q - fd_q) <= 2e-6 * np.abs(fd_q) + 1e-8 * scale / q[:, None])


# --------------------------------------------------------------------------- alpha_s


def _one_loop(q, alphas_mz=0.130, mz=91.2, masses=(1.4142135623730951, 4.75, 175.0)):
    """Closed-form one-loop running from alpha_s(MZ), continuous at the quark-mass thresholds."""
    def nf(scale):
        return 3 + sum(scale > m for m in masses)
    inverse, scale = 1.0 / alphas_mz, mz
    steps = sorted([m for m in masses if min(q, mz) < m < max(q, mz)], reverse=bool(q < mz)) + [float(q)]
    for target in steps:
        middle = math.sqrt(scale * target)
        inverse += beta_coefficients(nf(middle))[0] * math.log(target**2 / scale**2)
        scale = target
    return 1.0 / inverse


def test_alphas_exact_at_knots_and_one_loop_between(pdf):
    info = pdf.info
    qs, vals = np.array(info.alphas_qs), np.array(info.alphas_vals)
    np.testing.assert_allclose(np.asarray(pdf.alphas(qs)), vals, rtol=2e-16)
    # the table is one-loop running (README): at the knots to its 11 printed digits ...
    np.testing.assert_allclose(vals, [_one_loop(q) for q in qs], rtol=2e-9)
    # ... and LHAPDF's interpolation between knots (Hermite with finite-difference slopes, one-sided
    # in the first cell Q < 1.21, across kinks at the thresholds) stays close to it: measured
    # 2.6e-3 in the first cell, 8e-4 up to 2 GeV, 4e-4 above 10 GeV
    q = np.geomspace(1.0, 1e6, 3001)
    between = np.asarray(pdf.alphas(q))
    relative = np.abs(between / [_one_loop(s) for s in q] - 1)
    assert relative[q < 1.21].max() < 4e-3 and relative[q >= 1.21].max() < 1.2e-3
    assert relative[q > 1e4].max() < 2e-4
    assert np.all(np.diff(between) < 0)  # monotonic
    # continuous across knots (values from both sides agree)
    eps = 1e-9
    np.testing.assert_allclose(np.asarray(pdf.alphas(qs[1:-1] * (1 - eps))),
                               np.asarray(pdf.alphas(qs[1:-1] * (1 + eps))), rtol=1e-8)


def test_alphas_outside_the_table_and_gradient(pdf):
    qs, vals = pdf.info.alphas_qs, pdf.info.alphas_vals
    slope = math.log(vals[1] / vals[0]) / math.log(qs[1] ** 2 / qs[0] ** 2)
    assert float(pdf.alphas(0.5)) == pytest.approx(vals[0] * 0.25**slope, rel=1e-14)  # LHAPDF power law
    assert float(pdf.alphas(1e7)) == vals[-1]  # constant above
    for q in (0.7, 3.3, 91.188, 1234.5):
        grad = float(jax.grad(lambda t: pdf.alphas(t))(q))
        fd = _central_difference(lambda t: float(pdf.alphas(t)), q)
        assert grad == pytest.approx(fd, rel=1e-6)


def test_alphas_ode_and_analytic_reproduce_one_loop(pdf):
    import dataclasses
    from types import MappingProxyType

    info = dataclasses.replace(pdf.info, alphas_type="ode", alphas_order_qcd=1)
    ode = make_alphas(info)
    # RK4 on the set's knots reproduces the set's one-loop table (measured 4e-11)
    np.testing.assert_allclose(np.asarray(ode(jnp.asarray(info.alphas_qs))), info.alphas_vals, rtol=1e-9)
    # analytic, one loop: Lambda_5 from alpha_s(MZ), Lambda_4 continuous at mb
    b0 = beta_coefficients(5)[0], beta_coefficients(4)[0]
    lambda5 = 91.2 * math.exp(-0.5 / (b0[0] * 0.130))
    lambda4 = 4.75 * math.exp(-0.5 / (b0[1] * _one_loop(4.75)))
    analytic = make_alphas(dataclasses.replace(
        pdf.info, alphas_type="analytic", alphas_order_qcd=1,
        alphas_lambdas=MappingProxyType({4: lambda4, 5: lambda5}),
        entries=MappingProxyType({**pdf.info.entries, "NumFlavors": 5})))
    q = np.geomspace(5.0, 170.0, 50)
    np.testing.assert_allclose(np.asarray(analytic(q)), [_one_loop(s) for s in q], rtol=1e-12)
    q = np.geomspace(2.0, 4.7, 10)
    np.testing.assert_allclose(np.asarray(analytic(q)), [_one_loop(s) for s in q], rtol=1e-12)


# --------------------------------------------------------------------------- lookup and cache


def test_default_set_is_shipped_and_has_lhapdf_id(pdf):
    directory, member = find_pdf_set(DEFAULT_PDF, environ={})
    assert directory == SHIPPED.resolve() and member == 0
    assert pdf.lhapdf_id == 247000  # MadGraph's lhaid for nn23lo1
    assert find_pdf_set(247000, environ={}) == (SHIPPED.resolve(), 0)
    assert find_pdf_set(f"{DEFAULT_PDF}/0", environ={}) == (SHIPPED.resolve(), 0)


def test_search_order_respects_lhapdf_data_path(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(SHIPPED, second / DEFAULT_PDF)
    env = {"LHAPDF_DATA_PATH": f"{first}:{second}", "LHAPATH": str(tmp_path / "old")}
    paths = pdf_search_paths(env)
    assert paths[:3] == (first, second, tmp_path / "old") and paths[-1] == SHIPPED.parent.resolve()
    assert find_pdf_set(DEFAULT_PDF, environ=env)[0] == (second / DEFAULT_PDF).resolve()
    assert find_pdf_set(str(second / DEFAULT_PDF))[0] == (second / DEFAULT_PDF).resolve()


def test_unknown_set_names_every_place_searched(tmp_path):
    env = {"LHAPDF_DATA_PATH": f"{tmp_path / 'a'}:{tmp_path / 'b'}::"}
    with pytest.raises(PDFSetNotFound) as error:
        find_pdf_set("NoSuchSet_lo", environ=env)
    message = str(error.value)
    for place in (tmp_path / "a", tmp_path / "b", SHIPPED.parent.resolve()):
        assert str(place / "NoSuchSet_lo") in message
    with pytest.raises(PDFSetNotFound, match="999999"):
        find_pdf_set(999999, environ=env)


def test_loading_is_cached_and_fast():
    clear_pdf_cache()
    import time
    start = time.perf_counter()
    first = load_pdf(DEFAULT_PDF)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    second = load_pdf(DEFAULT_PDF)
    assert second is first and time.perf_counter() - start < 0.01
    assert cold < 10.0  # parse 1.4 MB with numpy + precompute: ~0.3 s on a laptop


# --------------------------------------------------------------------------- bad input


def _corrupt(tmp_path, edit_dat=None, edit_info=None) -> Path:
    directory = tmp_path / DEFAULT_PDF
    shutil.copytree(SHIPPED, directory)
    for path in directory.iterdir():
        path.chmod(0o644)
    if edit_dat:
        dat = directory / f"{DEFAULT_PDF}_0000.dat"
        lines = dat.read_text().splitlines()
        edit_dat(lines)
        dat.write_text("\n".join(lines) + "\n")
    if edit_info:
        info = directory / f"{DEFAULT_PDF}.info"
        info.write_text(edit_info(info.read_text()))
    return directory


def _drop_column(lines):
    lines[99] = " ".join(lines[99].split()[:-1])


def _not_a_number(lines):
    lines[99] = lines[99].replace("e", "q", 1)


def _no_terminator(lines):
    del lines[-1]


def _knots_not_increasing(lines):
    knots = lines[4].split()
    knots[3], knots[4] = knots[4], knots[3]
    lines[4] = " ".join(knots)


@pytest.mark.parametrize("edit, pattern", [
    (_drop_column, r"_0000\.dat:100: 13 values but 14 flavour columns"),
    (_not_a_number, r"_0000\.dat:100: value '.*q.*' is not a finite number"),
    (_no_terminator, r"does not end with a '---' line"),
    (_knots_not_increasing, r"_0000\.dat:5: Q knots must be strictly increasing"),
])
def test_corrupted_dat_names_file_and_line(tmp_path, edit, pattern):
    directory = _corrupt(tmp_path, edit_dat=edit)
    with pytest.raises(PDFFormatError, match=pattern):
        load_pdf(directory)


def test_bad_info_names_file_and_key(tmp_path):
    directory = _corrupt(tmp_path, edit_info=lambda text: text.replace("Flavors:", "Flavours:"))
    with pytest.raises(PDFFormatError, match=r"\.info: required key 'Flavors' is missing"):
        load_pdf(directory)
    info = directory / f"{DEFAULT_PDF}.info"
    info.write_text(info.read_text().replace("Flavours:", "Flavors:").replace("XMin: 1.0000000000e-09", "XMin: small"))
    with pytest.raises(PDFFormatError, match=r"\.info:12: key 'XMin' must be a number"):
        load_pdf(directory)
    info.write_text(info.read_text().replace("XMin: small", "XMin: [1"))
    with pytest.raises(PDFFormatError, match=r"\.info:\d+: not valid YAML"):
        load_pdf(directory)


@pytest.mark.parametrize("x, q", [(0.0, 10.0), (-0.1, 10.0), (1.5, 10.0), (float("nan"), 10.0),
                                  (0.1, 0.0), (0.1, -5.0)])
def test_out_of_domain_inputs(pdf, x, q):
    with pytest.raises(PDFRangeError) as error:
        pdf.xfx(np.array([0.1, x]), np.array([10.0, q]))
    assert isinstance(error.value, MadgenError)
    assert np.all(np.isnan(np.asarray(jax.jit(pdf.xfx)(x, q))))  # inside jit: NaN, no exception
    with pytest.raises(PDFRangeError, match="Q = "):
        pdf.alphas(0.0)
