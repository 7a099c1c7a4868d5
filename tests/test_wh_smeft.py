"""The W H SMEFT study (examples/wh_smeft): the quadrature truth likelihood and the gold.

p p > w+ h NP<=1, w+ > e+ ve, h > b b~ at 13 TeV in SMEFTsim (massless), theta = (cHW, cHj3).

Fast: the kinematics of the pz -> s_W change of variables (momentum conservation, s_W, the
Jacobian against central finite differences); |M|^2 exactly quadratic in theta (the morphing every
method relies on); the RASCAL loss (zero only at the joint targets); MORPH (its positive quadratic
form reproduces given coefficients, log r_hat = 0 at theta0, the regression targets average to the true
ratio on a toy with a hidden variable, training on that toy; MORPH-E's row scaling); study.py
--methods merging.
Slow (-m slow): the Breit-Wigner Gauss-Legendre quadrature against an adaptive quadrature of the
untransformed pz integrand; the truth integrates to sigma (importance sampling with an independent
proposal, examples/wh_smeft/proposal.py); its ratio against a brute-force histogram ratio of events
mined at two thetas; the gold (E[t] = 0, E[1/r] = 1, the joint score averaged in bins of pT,W
against the true score averaged in the same bins).
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "examples" / "wh_smeft"
sys.path.insert(0, str(STUDY))

import proposal  # noqa: E402
from truth import BASIS_POINTS, TrueLikelihood, monomials, observed, quadratic_coefficients, rescale  # noqa: E402

QUIET = {"log": lambda *a: None}
FAST_RUN = {"warmup_iterations": 2, "iterations": 3, "points_per_iteration": 16384, "batch_size": 8192}


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    import madgen
    from madgen.api import generate

    target = tmp_path_factory.mktemp("wh") / "wh_smeft"
    generate(STUDY / "wh_smeft.yaml", output=target)
    return madgen.load(target), target


@pytest.fixture(scope="module")
def run_map():
    return {**yaml.safe_load((STUDY / "run_wh.yaml").read_text()), **FAST_RUN}


@pytest.fixture(scope="module")
def truth(wh, run_map):
    from madgen.pdf import load_pdf
    from madgen.runtime.runcard import RunCard

    run = RunCard.from_mapping(run_map)
    return TrueLikelihood(wh[0], run, load_pdf(run.pdf), None, n_nodes=24)


def random_x(truth, n, seed=0):
    e, b, bb, _ = proposal.sample(np.random.default_rng(seed), n, truth.mh, truth.wh, truth.mb, truth.bwcutoff)
    return e, b, bb


def test_branch_kinematics_and_jacobian(truth):
    """Both branches: p1 + p2 = sum of the final state, (p_e + p_nu)^2 = s_W, pT(nu) = -sum of the
    visible pT, nu massless, and dpz/(2 E_nu) per ds_W equal to central finite differences."""
    e, b, bb = (jnp.asarray(v) for v in random_x(truth, 64))
    lo, hi = truth.s_range(e, b, bb)
    keep = np.asarray(hi > lo)
    e, b, bb, lo, hi = e[keep], b[keep], bb[keep], lo[keep], hi[keep]
    s = lo + 0.37 * (hi - lo)
    for sign in (1.0, -1.0):
        momenta, x1, x2, measure = truth.branch_momenta(e, b, bb, s, sign)
        p = np.asarray(momenta)
        np.testing.assert_allclose(p[:, 0] + p[:, 1], p[:, 2:].sum(axis=1), atol=1e-9 * truth.sqrt_s)
        nu = p[:, 3]
        np.testing.assert_allclose(nu[:, 0] ** 2, np.sum(nu[:, 1:] ** 2, axis=1), rtol=1e-12)
        np.testing.assert_allclose(nu[:, 1:3], -(p[:, 2, 1:3] + p[:, 4, 1:3] + p[:, 5, 1:3]), atol=1e-9)
        np.testing.assert_allclose(np.asarray(truth.pair_mass2(p[:, 2], nu)), np.asarray(s), rtol=1e-10)
        assert np.all(np.sign(nu[:, 3] / nu[:, 0] - p[:, 2, 3] / p[:, 2, 0]) == sign)  # rapidity order
        h = 1e-3 * np.asarray(s - lo)  # well inside the branch: the 1/sqrt(s - m_T^2) end point is at lo
        pz = lambda ss: np.asarray(truth.branch_momenta(e, b, bb, ss, sign)[0])[:, 3, 3]  # noqa: E731
        derivative = (pz(s + h) - pz(s - h)) / (2 * h)
        np.testing.assert_allclose(np.asarray(measure), np.abs(derivative) / (2 * nu[:, 0]), rtol=1e-5)


def test_me2_is_quadratic_in_theta(wh, truth):
    """|M|^2(theta) from its six BASIS_POINTS values reproduces direct evaluation (NP<=1 amplitudes:
    SM + linear, squared) to 1e-10, for every subprocess kernel."""
    e, b, bb = (jnp.asarray(v) for v in random_x(truth, 32))
    lo, hi = truth.s_range(e, b, bb)
    s = jnp.where(hi > lo, lo + 0.5 * (hi - lo), truth.mw**2)
    momenta = np.asarray(truth.branch_momenta(e, b, bb, s, 1.0)[0])
    keep = (momenta[:, 0, 0] > 0) & (momenta[:, 1, 0] > 0)
    momenta = momenta[keep]
    rng = np.random.default_rng(3)
    checks = rng.normal(size=(4, 2)) * [0.5, 0.1]
    for kernel, _ in truth.kernels:
        values = []
        for theta in np.concatenate([BASIS_POINTS, checks]):
            params = {**truth.parameters, "cHW": float(theta[0]), "cHj3": float(theta[1])}
            values.append(np.asarray(kernel.matrix_element(momenta, params, check=False)))
        values = np.stack(values, axis=1)
        coefficients = np.asarray(quadratic_coefficients(values[:, :6]))
        predicted = coefficients @ np.asarray(monomials(jnp.asarray(checks))).T
        np.testing.assert_allclose(predicted, values[:, 6:], rtol=1e-10)
        assert np.all(np.abs(values[:, 6:] / values[:, :1] - 1) > 1e-6)  # theta does matter


def test_rascal_loss_vanishes_only_for_the_joint_targets():
    """RASCAL's loss is 0 for r_hat = r(z) and d log r_hat/d theta = t(z|theta), and positive when the
    ratio is off on either sample (r on x ~ theta0, 1/r on x ~ theta) or the score on the x ~ theta
    events; a score error on the x ~ theta0 events does not count (t(z|theta) is no target there).
    Over a constant r_hat, the r-term is stationary at E[r] on theta0 events and 1/E[1/r] on theta
    events (the unbiasedness RASCAL relies on), not at exp E[log r]."""
    from methods import rascal_loss

    rng = np.random.default_rng(5)
    n = 64
    log_r = jnp.asarray(rng.normal(scale=0.3, size=n))
    score = jnp.asarray(rng.normal(size=(n, 2)))
    label = jnp.asarray((np.arange(n) % 2).astype(float))
    assert float(rascal_loss(log_r, score, log_r, score, label, 1.0)) == 0.0
    for y in (0.0, 1.0):
        off = jnp.where(label == y, 0.1, 0.0)
        assert float(rascal_loss(log_r + off, score, log_r, score, label, 1.0)) > 1e-4
        # 0.1 on both components of every x ~ theta event: alpha x 2 x 0.1^2
        assert float(rascal_loss(log_r, score + off[:, None], log_r, score, label, 1.0)) == pytest.approx(0.02 * y)
    for y, best in ((0.0, jnp.log(jnp.mean(jnp.exp(log_r)))), (1.0, -jnp.log(jnp.mean(jnp.exp(-log_r))))):
        term = jax.grad(lambda a, lab=jnp.full(n, y): rascal_loss(jnp.full(n, a), None, log_r, None, lab, 0.0))
        assert abs(float(term(best))) < 1e-6
        assert abs(float(term(jnp.mean(log_r)))) > 1e-3


@pytest.mark.slow
def test_quadrature_against_adaptive_pz_integral(truth):
    """D(x) of the Breit-Wigner xi^2 Gauss-Legendre rule (24 nodes per branch) against scipy's adaptive
    quadrature of the untransformed integrand in pz (breakpoints only where the W window starts and
    ends): 1e-4 relative (the 24- vs 128-node rule differ by < 3e-5 on mined events)."""
    from scipy.integrate import quad

    e, b, bb = random_x(truth, 200, seed=5)
    d = truth.density(e, b, bb, BASIS_POINTS[:1], chunk=256)[:, 0]
    chosen = np.nonzero(d > 0)[0][:4]
    f = jax.jit(lambda e1, b1, bb1, pz: truth.pz_integrand(e1, b1, bb1, pz, jnp.zeros(2)))
    for i in chosen:
        args = [jnp.asarray(np.repeat(v[i:i + 1], 1, axis=0)) for v in (e, b, bb)]
        lo, hi = (float(v[0]) for v in truth.s_range(*args))
        # window edges in pz: the two branches' pz at s_lo and s_hi (only to place breakpoints)
        edges = sorted(float(np.asarray(truth.branch_momenta(*args, jnp.asarray([s]), sign)[0])[0, 3, 3])
                       for s in (lo * (1 + 1e-12), hi * (1 - 1e-12)) for sign in (1.0, -1.0))
        g = lambda pz: float(f(*args, jnp.asarray([pz]))[0])  # noqa: E731
        total = sum(quad(g, a, c, limit=400, epsabs=0, epsrel=1e-9)[0] for a, c in zip(edges[:-1], edges[1:]))
        assert total == pytest.approx(float(d[i]), rel=1e-4), (i, total, d[i])


# ----------------------------------------------------------------------------- slow: against events

THETA1 = {"cHW": 0.3, "cHj3": 0.05}
THETA_RATIO = {"cHW": 0.5, "cHj3": 0.15}  # a shape change that 3000 events resolve (at THETA1 they do not)


@pytest.fixture(scope="module")
def gold_sm(wh, run_map):
    from madgen.inference import mine

    return mine(wh[1], {**run_map, "n_events": 3000, "seed": 11}, ["cHW", "cHj3"], theta_ref={"cHW": 0, "cHj3": 0},
                thetas=[{"cHW": 0.1}, {"cHj3": 0.03}, THETA1, THETA_RATIO], **QUIET)


SCALE = np.array([0.1, 0.03])


def truth_basis(truth, gold):
    """Quadratic coefficients of D(x; theta) in theta, from D at BASIS_POINTS x SCALE."""
    return rescale(truth.likelihood_basis(*observed(gold.momenta), chunk=512, scale=SCALE), SCALE)


@pytest.mark.slow
def test_truth_integrates_to_sigma(truth, gold_sm):
    """int D(x; theta) dx = sigma(theta), i.e. int p(x|theta) dx = 1, at the SM and at THETA1:
    importance sampling with the independent proposal (40000 points) against madgen's sigma on its
    fixed sample; tolerance 4 combined standard errors (the quadrature's error, < 1e-4, is negligible)."""
    rng = np.random.default_rng(21)
    errors = np.concatenate([[gold_sm.sigma_ref_error_pb], gold_sm.sigma_error_pb])
    for theta, sigma, error in ((np.zeros(2), gold_sm.sigma_ref_pb, errors[0]),
                                (np.array(list(THETA1.values())), gold_sm.sigma_pb[2], errors[3])):
        density = lambda e, b, bb: truth.density(e, b, bb, theta[None], chunk=2048)[:, 0]  # noqa: E731
        estimate, standard_error, _ = proposal.integral(density, rng, 40000, truth.mh, truth.wh, truth.mb,
                                                        truth.bwcutoff)
        assert abs(estimate - sigma) < 4 * np.hypot(standard_error, error), (theta, estimate, standard_error, sigma)
        assert standard_error < 0.05 * sigma  # the check has teeth: a missing factor 2 or 2 pi fails it


@pytest.mark.slow
def test_gold_expectations_and_binned_score(truth, gold_sm):
    """E[t(z|0)] = 0 and E[1/r(z|0, theta_i)] = 1 within 4 standard errors; the joint score averaged
    over events in each of 5 bins of pT,W equals the true score t(x|0) averaged over the same events
    (E[t(x, z)|x] = t(x), integrated over the bin) within 4 standard errors of the per-event difference."""
    from methods import summaries

    n = len(gold_sm)
    sigma_err = gold_sm.sigma_gradient_error_pb / gold_sm.sigma_ref_pb
    stat = gold_sm.score.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(gold_sm.score.mean(axis=0)) < 4 * np.hypot(stat, sigma_err)), gold_sm.score.mean(axis=0)
    inverse = np.exp(-gold_sm.log_r)
    stat = inverse.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(inverse.mean(axis=0) - 1) < 4 * np.hypot(stat, gold_sm.log_sigma_ratio_error))

    coefficients = truth_basis(truth, gold_sm)
    t_true = coefficients[:, 1:3] / coefficients[:, :1] - gold_sm.sigma_gradient_pb / gold_sm.sigma_ref_pb
    np.testing.assert_allclose(t_true.mean(axis=0), 0, atol=4 * float(np.max(t_true.std(axis=0))) / np.sqrt(n))
    pt_w, _ = summaries(*observed(gold_sm.momenta))
    bins = np.searchsorted(np.quantile(pt_w, [0.2, 0.4, 0.6, 0.8]), pt_w)
    difference = gold_sm.score - t_true
    for k in range(5):
        rows = bins == k
        mean = difference[rows].mean(axis=0)
        error = difference[rows].std(axis=0, ddof=1) / np.sqrt(rows.sum())
        assert np.all(np.abs(mean) < 4 * np.hypot(error, sigma_err)), (k, mean, error)
        assert np.all(np.abs(t_true[rows].mean(axis=0)) > 0) and np.all(error < np.abs(gold_sm.score[rows]).mean(axis=0))
    # t(z) - t(x) is orthogonal to every function of x (E[t(z)|x] = t(x)), t(x) itself included ...
    cross = difference * t_true
    assert np.all(np.abs(cross.mean(axis=0)) < 4 * cross.std(axis=0, ddof=1) / np.sqrt(n)), cross.mean(axis=0)
    # ... and for cHW it is large: pz(nu) (the W polarisation) carries most of the information. The gap
    # grows with s-hat as the score does (a 1.2 TeV event of 3000 reaches 219 where the median is 0.004):
    # its variance is carried by a few events, so the test takes the sum without the largest 0.1 %, a
    # lower bound of the mean (gap >= 0) whose standard error the tail does not dominate
    gap = np.sort(difference[:, 0] ** 2)[:n - n // 1000]
    lower_bound, error = gap.sum() / n, gap.std(ddof=1) / np.sqrt(len(gap))
    print(f"E[(t(z) - t(x))^2] >= {lower_bound:.4f} +- {error:.4f}, E[t(x)^2] = {np.mean(t_true[:, 0] ** 2):.4f}")
    assert lower_bound > 5 * error and lower_bound > np.mean(t_true[:, 0] ** 2)


@pytest.mark.slow
def test_truth_ratio_against_histogram_ratio(wh, run_map, truth, gold_sm):
    """The fractions of events mined at THETA_RATIO (an independent madgen run) in 6 bins of m_T(WH) against
    the truth's prediction from the SM events, mean over SM events of 1_bin(x) p(x|theta)/p(x|0):
    chi^2 below its 99.9 % quantile (5 dof)."""
    from scipy.stats import chi2

    from madgen.inference import mine
    from methods import summaries

    other = mine(wh[1], {**run_map, "n_events": 3000, "seed": 12}, ["cHW", "cHj3"], theta_ref=THETA_RATIO, **QUIET)
    density = truth.density(*observed(gold_sm.momenta), np.array([[0.0, 0.0], list(THETA_RATIO.values())]), chunk=512)
    ratio = density[:, 1] / density[:, 0] * gold_sm.sigma_ref_pb / gold_sm.sigma_pb[3]
    _, mt0 = summaries(*observed(gold_sm.momenta))
    _, mt1 = summaries(*observed(other.momenta))
    edges = np.quantile(mt0, np.linspace(0, 1, 7)[1:-1])
    b0, b1 = np.searchsorted(edges, mt0), np.searchsorted(edges, mt1)
    # E_0[r] = 1: the sample mean of the truth's ratio against 1, within 4 standard errors (the ratio's
    # weights are heavy-tailed at this theta) combined with the MC error of madgen's sigma ratio
    mean_r, error_r = ratio.mean(), ratio.std(ddof=1) / np.sqrt(len(ratio))
    print(f"E_0[r] = {mean_r:.4f} +- {error_r:.4f} (stat) +- {gold_sm.log_sigma_ratio_error[3]:.4f} (sigma ratio); "
          f"sigma(theta)/sigma(0) = {gold_sm.sigma_pb[3] / gold_sm.sigma_ref_pb:.4f}")
    assert abs(mean_r - 1) < 4 * np.hypot(error_r, gold_sm.log_sigma_ratio_error[3]), (mean_r, error_r)
    # shapes: self-normalised predicted fractions sum(r 1_k) / sum(r) against the fractions at theta;
    # variance of the prediction by the delta method, var(r (1_k - f_k)) / (N mean(r)^2)
    chi = 0.0
    for k in range(6):
        predicted = np.sum(ratio * (b0 == k)) / np.sum(ratio)
        variance_predicted = np.var(ratio * ((b0 == k) - predicted), ddof=1) / len(ratio) / mean_r**2
        observed_fraction = np.mean(b1 == k)
        variance = variance_predicted + observed_fraction * (1 - observed_fraction) / len(mt1)
        chi += (observed_fraction - predicted) ** 2 / variance
    print(f"shape chi^2 = {chi:.2f} (threshold {chi2.ppf(0.999, 5):.1f})")
    assert chi < chi2.ppf(0.999, 5), chi
    # the ratio is not trivial here: the histograms at 0 and THETA_RATIO differ significantly
    shift = sum((np.mean(b1 == k) - np.mean(b0 == k)) ** 2 / (2 / 6 / len(mt1)) for k in range(6))
    print(f"shift between the histograms at 0 and theta: chi^2 = {shift:.1f}")
    assert shift > chi2.ppf(0.999, 5), shift


def test_plot_only_redraws_a_finished_run(tmp_path, monkeypatch):
    """--plot-only rebuilds table.md (and the plots, where matplotlib is installed) from results.json
    and contours.npz alone, and names what is missing when there is no finished run."""
    import json

    import study

    with pytest.raises(SystemExit, match="results.json not found"):
        study.replot(tmp_path)
    ratios = {"histogram": (1.5, 1.3), "ALICES": (1.5, 1.05)}
    rows = {m: [{"n": n, "seed": 0, "mse": 1e-4 * k, "area": 1.0, "area_ratio": ratio}
                for n, ratio in zip((100, 1000), ratios[m])] for k, m in enumerate(ratios, 1)}
    (tmp_path / "results.json").write_text(json.dumps({"methods": rows, "mse_constant_guess": 4e-4}))
    grid = np.linspace(-1, 1, 5)
    q = np.add.outer(grid ** 2, grid ** 2) * 10
    np.savez(tmp_path / "contours.npz", grid_a=grid, grid_b=grid, truth=q, histogram=q * 0.9, ALICES=q * 0.99)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        monkeypatch.setattr(study, "plot", lambda *a: None)
    study.replot(tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "| histogram | not reached at N <= 1000 |" in table
    assert "| ALICES | 1000 |" in table


def test_ratio_grid_evaluation_equals_the_paired_call():
    """RatioEstimate.at_thetas (compiled blocks of thetas, the last one padded) gives the same
    log r_hat as evaluating the network at each theta in turn, and 0 at theta0."""
    from methods import RatioEstimate, init_mlp

    params = [(w + 0.05, b - 0.02) for w, b in init_mlp(jax.random.key(3), [17, 8, 8, 1])]
    estimate = RatioEstimate(params, jnp.zeros(2))
    x = np.random.default_rng(0).normal(size=(50, 15))
    thetas = np.random.default_rng(1).normal(size=(21, 2))
    paired = np.stack([estimate(x, np.broadcast_to(t, (len(x), 2))) for t in thetas], axis=1)
    grid = estimate.at_thetas(x, thetas, block=8)
    assert grid.shape == (50, 21) and np.abs(paired).max() > 1e-3
    np.testing.assert_allclose(grid, paired, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(estimate.at_thetas(x, np.zeros((1, 2))), 0.0, atol=1e-14)


def _sum_of_squares_coefficients(rng, n):
    """Coefficients (n, 6) of sum_h |A_h + theta_a B_h + theta_b C_h|^2 (four complex amplitudes h),
    as |M|^2 is built: positive for every theta."""
    amps = rng.normal(size=(n, 3, 4)) + 1j * rng.normal(size=(n, 3, 4))
    g = np.real(np.einsum("nih,njh->nij", amps, amps.conj()))  # Gram matrix of (A, B, C): Q
    return np.stack([g[:, 0, 0], 2 * g[:, 0, 1], 2 * g[:, 0, 2], g[:, 1, 1], g[:, 2, 2], 2 * g[:, 1, 2]], axis=1)


def test_morph_quadratic_form_reproduces_coefficients_and_stays_positive():
    """MORPH's parameterisation: m(theta).a = v^T (L L^T + eps I) v with v = (1, theta) (checked against
    the explicit matrix product), positive everywhere even where L is singular, and
    quadratic_form_lower inverts it for coefficients of the |M|^2 kind."""
    from methods import quadratic_form_coefficients, quadratic_form_lower

    rng = np.random.default_rng(11)
    thetas = rng.normal(scale=30.0, size=(500, 2))
    v = np.concatenate([np.ones((500, 1)), thetas], axis=1)
    m = np.asarray(monomials(jnp.asarray(thetas)))
    for lower in (rng.normal(size=6), np.array([1.0, -2.0, 0.0, 0.5, 0.0, 0.0])):  # the second: rank one
        low = np.zeros((3, 3))
        low[np.tril_indices(3)] = lower
        q = low @ low.T + 1e-6 * np.eye(3)
        a = np.asarray(quadratic_form_coefficients(jnp.asarray(lower), 1e-6))
        np.testing.assert_allclose(m @ a, np.einsum("ni,ij,nj->n", v, q, v), rtol=1e-12, atol=1e-9)
        assert np.all(m @ a >= 1e-6 * np.sum(v**2, axis=1) * (1 - 1e-9))
    # rank one: v^T L L^T v = (1 - 2 theta_a + 0.5 theta_b)^2 vanishes on a line, eps keeps it positive
    on_line = np.array([[0.5, 0.0], [1.5, 4.0]])
    a = np.asarray(quadratic_form_coefficients(jnp.array([1.0, -2.0, 0.0, 0.5, 0.0, 0.0]), 1e-6))
    np.testing.assert_allclose(np.asarray(monomials(jnp.asarray(on_line))) @ a, 1e-6 * (1 + np.sum(on_line**2, 1)))
    for c in _sum_of_squares_coefficients(rng, 5):
        back = np.asarray(quadratic_form_coefficients(jnp.asarray(quadratic_form_lower(c, 1e-6)), 1e-6))
        np.testing.assert_allclose(back, c, rtol=1e-10, atol=1e-12)


def test_morph_log_r_is_zero_at_theta0_and_its_score_is_the_gradient():
    """A MORPH estimate with arbitrary network weights: log r_hat(x|theta0, theta0) = 0 exactly for
    every x, log r_hat at other thetas is the morphing formula, and morph_score is
    grad_theta log m(theta).a_hat at theta0 (jax.grad)."""
    from methods import MorphEstimate, init_mlp, morph_log_r, morph_score

    rng = np.random.default_rng(2)
    params = [(w + 0.1 * rng.normal(size=w.shape), b + 0.3) for w, b in init_mlp(jax.random.key(0), [5, 8, 6])]
    theta0 = jnp.array([0.3, -0.2])
    estimate = MorphEstimate(params, theta0, 1e-6)
    x = rng.normal(size=(40, 5))
    sigma = _sum_of_squares_coefficients(rng, 1)[0]
    assert np.all(estimate.log_r(x, sigma, np.asarray(theta0)[None]) == 0.0)
    a = estimate.coefficients(x)
    thetas = rng.normal(size=(7, 2))
    m, m0 = np.asarray(monomials(jnp.asarray(thetas))), np.asarray(monomials(theta0))
    expected = np.log((a @ m.T) / (a @ m0)[:, None] * (m0 @ sigma) / (m @ sigma)[None, :])
    log_r = estimate.log_r(x, sigma, thetas)
    assert np.abs(log_r).max() > 1e-2
    np.testing.assert_allclose(log_r, expected, rtol=1e-10, atol=1e-12)
    grad = jax.vmap(jax.grad(lambda t, ai: jnp.log(monomials(t) @ ai)), (None, 0))(theta0, jnp.asarray(a))
    np.testing.assert_allclose(estimate.score(x), grad, rtol=1e-10)
    np.testing.assert_allclose(morph_score(a, theta0), grad, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(morph_log_r(a, sigma, thetas, theta0)), expected, rtol=1e-10, atol=1e-12)


def _toy(rng, theta0, n):
    """A toy with a hidden variable: x in {0..3}, y in {0..2}, p(x, y|theta) proportional to
    m(theta).c(x, y) w(x, y), c of the |M|^2 kind. Returns the table c (4, 3, 6), w, and n events
    (x, y) sampled at theta0."""
    c = _sum_of_squares_coefficients(rng, 12).reshape(4, 3, 6)
    w = rng.uniform(0.5, 2.0, size=(4, 3))
    p0 = (c @ np.asarray(monomials(jnp.asarray(theta0)))) * w
    flat = rng.choice(12, size=n, p=(p0 / p0.sum()).reshape(-1))
    return c, w, flat // 3, flat % 3


def test_morph_targets_average_to_the_true_ratio():
    """On a toy with a hidden variable y, the conditional mean over x of the MORPH targets
    c(z)/c(z).m(theta0) (what the squared-error regression converges to), put into the morphing formula,
    gives the exact r(x|theta, theta0) = p(x|theta)/p(x|theta0) (within 5 standard errors, 2e5 events);
    the unnormalised c(z) (no division by |M|^2(theta0)), averaged the same way, does not (theta0 != 0)."""
    from methods import morph_log_r, morph_targets

    rng = np.random.default_rng(4)
    theta0 = np.array([0.4, -0.7])
    c, w, x, y = _toy(rng, theta0, 200_000)
    sigma = np.einsum("xyk,xy->k", c, w)  # sigma(theta) = m(theta).sigma (unnormalised, as p)
    thetas = np.array([[1.0, 0.5], [-0.8, 0.3], [0.0, -1.5]])
    m, m0 = np.asarray(monomials(jnp.asarray(thetas))), np.asarray(monomials(jnp.asarray(theta0)))
    p_x = lambda mm: np.einsum("xyk,xy,tk->xt", c, w, mm) / (mm @ sigma)  # noqa: E731  p(x|theta)
    exact = np.log(p_x(m) / p_x(m0[None]))
    targets = np.asarray(morph_targets(c[x, y], theta0))
    means = np.stack([targets[x == k].mean(axis=0) for k in range(4)])
    log_r = np.asarray(morph_log_r(means, sigma, thetas, theta0))
    # standard error of log r from the spread of the per-event m(theta).target / m(theta0).target
    ratio = (targets @ m.T) / (targets @ m0)[:, None]
    err = np.stack([ratio[x == k].std(axis=0) / np.sqrt(np.sum(x == k)) / ratio[x == k].mean(axis=0)
                    for k in range(4)])
    assert np.all(np.abs(log_r - exact) < 5 * err), (log_r - exact) / err
    raw = np.stack([c[x, y][x == k].mean(axis=0) for k in range(4)])
    wrong = np.asarray(morph_log_r(raw, sigma, thetas, theta0))
    assert np.any(np.abs(wrong - exact) > 20 * err)


def test_morph_training_learns_the_toy_ratio():
    """train_morph on the toy (x one-hot, 4000 events, 300 steps) gets log r(x|theta, theta0) to well within
    the constant guess: the mean squared error is under 5 % of that of log r_hat = 0, with and
    without the score term."""
    from methods import train_morph

    rng = np.random.default_rng(8)
    theta0 = np.zeros(2)
    c, w, x, y = _toy(rng, theta0, 4000)
    scale = np.array([1, 0.3, 0.3, 0.09, 0.09, 0.09])  # coefficients of theta / 0.3: a box of +-0.3
    sigma = np.einsum("xyk,xy->k", c, w) * scale
    thetas = np.random.default_rng(1).uniform(-1, 1, size=(20, 2))
    m, m0 = np.asarray(monomials(jnp.asarray(thetas))), np.asarray(monomials(jnp.asarray(theta0)))
    p_x = np.einsum("xyk,xy,tk->xt", c * scale, w, np.concatenate([m, m0[None]])) / (
        np.concatenate([m, m0[None]]) @ sigma)
    exact = np.log(p_x[:, :-1] / p_x[:, -1:])
    features = np.eye(4)
    for alpha in (0.0, 1.0):
        estimate = train_morph(features[x], c[x, y] * scale, jax.random.key(0), 300, theta0, alpha=alpha, hidden=16)
        mse = np.mean((estimate.log_r(features, sigma, thetas) - exact) ** 2)
        assert mse < 0.05 * np.mean(exact**2), (alpha, mse, np.mean(exact**2))


def test_methods_run_merges_only_into_the_same_configuration(tmp_path):
    """study.py --methods: the rows of the methods just run join a finished run's results.json (a method
    run again replaces its rows; the others and their contours are kept, in the study's method order),
    and a finished run with another configuration or truth is refused."""
    import json

    import study

    grid = np.linspace(-1, 1, 3)
    q = np.add.outer(grid**2, grid**2)
    stored = {"config": {"sizes": [10]}, "area_truth": 1.0, "mse_constant_guess": 2.0,
              "methods": {"histogram": [{"n": 10, "seed": 0, "mse": 1.0, "area_ratio": 1.5}],
                          "RASCAL": [{"n": 10, "seed": 0, "mse": 0.5, "area_ratio": 1.2}]}}
    (tmp_path / "results.json").write_text(json.dumps(stored))
    np.savez(tmp_path / "contours.npz", grid_a=grid, grid_b=grid, truth=q, histogram=q * 2, RASCAL=q * 3)
    new = {**stored, "methods": {"histogram": [{"n": 10, "seed": 0, "mse": 1.0, "area_ratio": 1.5}],
                                 "MORPH": [{"n": 10, "seed": 0, "mse": 0.1, "area_ratio": 1.05}]},
           "method_runs": {"histogram": "b", "MORPH": "b"}, "timings": {}}
    merged, contours = study.merge_into_finished_run(tmp_path, new, {"truth": q.reshape(-1), "MORPH": q.reshape(-1) * 4})
    assert list(merged["methods"]) == ["histogram", "RASCAL", "MORPH"]
    assert merged["methods"]["RASCAL"] == stored["methods"]["RASCAL"]
    assert merged["methods"]["MORPH"] == new["methods"]["MORPH"]
    assert list(contours) == ["truth", "histogram", "RASCAL", "MORPH"]
    np.testing.assert_array_equal(contours["RASCAL"], 3 * q.reshape(-1))
    np.testing.assert_array_equal(contours["MORPH"], 4 * q.reshape(-1))
    for change in ({"area_truth": 1.1}, {"config": {"sizes": [20]}}):
        with pytest.raises(SystemExit, match="another configuration"):
            study.merge_into_finished_run(tmp_path, {**new, **change}, {"truth": q.reshape(-1)})


def test_morph_row_scale_multiplies_the_form():
    """train_morph's row_scale: L -> diag(s) L turns the form's matrix Q into S Q S, so each coefficient
    is multiplied by s_i s_j of its (i, j) entry, and m(theta).a stays positive."""
    from methods import MorphEstimate, init_mlp

    rng = np.random.default_rng(6)
    params = [(w + 0.1 * rng.normal(size=w.shape), b + 0.3) for w, b in init_mlp(jax.random.key(1), [4, 8, 6])]
    x = rng.normal(size=(30, 4))
    scale = lambda xs: jnp.stack([jnp.ones(len(xs)), 1 + xs[:, 0] ** 2, jnp.exp(xs[:, 1])], axis=1)  # noqa: E731
    plain = MorphEstimate(params, jnp.zeros(2), 1e-6).coefficients(x)
    scaled = MorphEstimate(params, jnp.zeros(2), 1e-6, scale).coefficients(x)
    s = np.asarray(scale(jnp.asarray(x)))
    pairs = s[:, [0, 0, 0, 1, 2, 1]] * s[:, [0, 1, 2, 1, 2, 2]]
    eps_part = 1e-6 * np.array([1, 0, 0, 1, 1, 0])  # eps I is added after the scaling
    np.testing.assert_allclose(scaled - eps_part, (plain - eps_part) * pairs, rtol=1e-10, atol=1e-14)
    assert np.abs(pairs - 1).max() > 0.5
    thetas = rng.normal(scale=10.0, size=(200, 2))
    assert np.all(scaled @ np.asarray(monomials(jnp.asarray(thetas))).T > 0)


def test_energy_rows_scale_the_chj3_row_by_m_squared():
    """MORPH-E's EnergyRows(column, log m_ref): (1, 1, (m / m_ref)^2) from the column holding log m."""
    from methods import EnergyRows

    m = np.array([100.0, 250.0, 1000.0])
    xs = jnp.asarray(np.stack([np.zeros(3), np.log(m)], axis=1))
    np.testing.assert_allclose(np.asarray(EnergyRows(1, np.log(250.0))(xs)),
                               np.stack([np.ones(3), np.ones(3), (m / 250.0) ** 2], axis=1), rtol=1e-12)
