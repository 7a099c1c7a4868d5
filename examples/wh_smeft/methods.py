"""Estimators of log r(x|theta, theta0) = log p(x|theta) / p(x|theta0) for the W H study, in JAX + optax.

* ``HistogramMethod``: a 2-D histogram of two summaries (equal-population marginal bins from the
  theta0 training events); bin fractions at any theta from the training events reweighted with
  their |M|^2(theta) / |M|^2(theta0) (exact: |M|^2 is quadratic in theta, ``morphing``).
  Used for (pT,W, m_T(WH)) and, in SALLY, for the two components of the estimated score.
* ``train_sally``: regression of the joint score t(z|theta0) on x (MSE); E[t(z)|x] = t(x).
* ``train_ratio``: a theta-parameterised ratio log r_hat(x|theta) = g(x, theta) - g(x, theta0),
  which is 0 at theta0 by construction; CARL (classifier between x ~ theta and x ~ theta0, no
  gold), ALICES (the same cross-entropy with the joint-ratio soft labels plus alpha |d log r_hat /
  d theta - t(z|theta)|^2 on the x ~ theta sample) or RASCAL (``rascal_loss``: squared error on the
  joint ratio r(z|theta, theta0) itself, plus the same score term).
* ``train_morph`` (MORPH): one network for the six functions a_k(x) = E_theta0[c_k(z) / c(z).m(theta0) | x]
  of the exact morphing r(x|theta, theta0) = [m(theta).a(x) / m(theta0).a(x)] sigma(theta0)/sigma(theta)
  (``morph_log_r``), by squared-error regression on the per-event targets, m(theta).a(x) a positive
  quadratic form in (1, theta) (``quadratic_form_coefficients``); plus SALLY's score term, which is the
  same form's gradient at theta0. MORPH-E: the same with the cHj3 row of the form's factor scaled by
  m_T(WH)^2 (``EnergyRows``).
All networks: MLP, tanh, last layer zero (untrained = log r_hat 0), AdamW, L2 penalty, early stopping
on a 20 % held-out split (the style of examples/sbi/demo.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from truth import monomial_gradients, monomials


# ----------------------------------------------------------------------------- observables

def summaries(e, b, bb):
    """pT of the W (= pT of the b b~ pair at parton level) and m_T(WH): the transverse mass of the
    (e+, missing pT) + b b~ system, E_T(e nu) = pT_e + MET, E_T(bb) = sqrt(m_bb^2 + pT_bb^2)."""
    met = -(e[:, 1:3] + b[:, 1:3] + bb[:, 1:3])
    pair = b + bb
    pt_h = np.hypot(pair[:, 1], pair[:, 2])
    m_bb2 = pair[:, 0] ** 2 - np.sum(pair[:, 1:] ** 2, axis=1)
    et = np.hypot(e[:, 1], e[:, 2]) + np.hypot(met[:, 0], met[:, 1]) + np.sqrt(np.maximum(m_bb2, 0) + pt_h**2)
    total_pt = e[:, 1:3] + met + pair[:, 1:3]  # zero at parton level; kept for clarity
    mt = np.sqrt(np.maximum(et**2 - np.sum(total_pt**2, axis=1), 0))
    return pt_h, mt


def features(e, b, bb):
    """Network inputs: arcsinh(p / 100 GeV) of the visible 3-momenta and the MET, plus log pT,W,
    log m_T(WH): (N, 13)."""
    met = -(e[:, 1:3] + b[:, 1:3] + bb[:, 1:3])
    pt_w, mt = summaries(e, b, bb)
    raw = np.concatenate([e[:, 1:], b[:, 1:], bb[:, 1:], met], axis=1)
    return np.concatenate([np.arcsinh(raw / 100.0), np.log(pt_w + 1)[:, None], np.log(mt)[:, None]], axis=1)


# ----------------------------------------------------------------------------- morphing

def event_weights(me2_coefficients, thetas, theta0):
    """|M|^2(z; theta) / |M|^2(z; theta0) per event and theta: (N, M)."""
    c = jnp.asarray(me2_coefficients)
    return (c @ monomials(jnp.asarray(thetas)).T) / (c @ monomials(jnp.asarray(theta0)))[:, None]


def joint_log_r(me2_coefficients, sigma_coefficients, thetas, theta0):
    """log p(z|theta) / p(z|theta0): (N, M)."""
    m, m0 = monomials(jnp.asarray(thetas)), monomials(jnp.asarray(theta0))
    s = jnp.asarray(sigma_coefficients)
    return jnp.log(event_weights(me2_coefficients, thetas, theta0)) - jnp.log(m @ s / (m0 @ s))[None, :]


def joint_score(me2_coefficients, sigma_coefficients, theta):
    """t(z|theta) = grad log p(z|theta) for one theta per event (N, 2) or one theta (2,)."""
    c = jnp.asarray(me2_coefficients)
    theta = jnp.broadcast_to(jnp.asarray(theta, dtype=float), (len(c), 2))
    m, dm = monomials(theta), monomial_gradients(theta)
    s = jnp.asarray(sigma_coefficients)
    return (jnp.einsum("nk,nkj->nj", c, dm) / jnp.sum(c * m, axis=1)[:, None]
            - jnp.einsum("k,nkj->nj", s, dm) / (m @ s)[:, None])


# ----------------------------------------------------------------------------- histograms

class HistogramMethod:
    """Equal-population 2-D histogram of (u, v) with fractions at any theta by morphing."""

    def __init__(self, u, v, me2_coefficients, theta0, n_bins: int):
        qs = np.linspace(0, 1, n_bins + 1)[1:-1]
        self.edges = (np.quantile(u, qs), np.quantile(v, qs))
        self.n_bins = n_bins
        self.index = self.bin_index(u, v)
        self.coefficients = np.asarray(me2_coefficients)
        self.theta0 = np.asarray(theta0, dtype=float)
        # per bin: the sum of the events' |M|^2 coefficients over |M|^2(theta0): fractions are quadratic too
        norm = self.coefficients @ np.asarray(monomials(jnp.asarray(self.theta0)))
        scaled = self.coefficients / norm[:, None]
        self.bin_coefficients = np.zeros((n_bins * n_bins, 6))
        np.add.at(self.bin_coefficients, self.index, scaled)
        self.bin_coefficients += 0.5 * scaled.mean(axis=0)  # half an average event per bin: no empty bin

    def bin_index(self, u, v):
        return np.searchsorted(self.edges[0], u) * self.n_bins + np.searchsorted(self.edges[1], v)

    def fractions(self, thetas):
        """f_b(theta): (M, bins)."""
        values = monomials(jnp.asarray(thetas)) @ jnp.asarray(self.bin_coefficients).T
        return values / jnp.sum(values, axis=1, keepdims=True)

    def log_r(self, u, v, thetas):
        """log f_b(x)(theta) / f_b(x)(theta0): (N, M)."""
        f = np.asarray(self.fractions(thetas))
        f0 = np.asarray(self.fractions(self.theta0[None]))[0]
        index = self.bin_index(u, v)
        return (np.log(f[:, index]) - np.log(f0[index])[None, :]).T

    def fisher(self):
        """Per-event Fisher information of the bin fractions at theta0: sum_b grad f_b grad f_b^T / f_b."""
        f0 = self.fractions(self.theta0[None])[0]
        grad = jax.jacfwd(lambda t: self.fractions(t[None])[0])(jnp.asarray(self.theta0))
        return np.asarray(jnp.einsum("bi,bj->ij", grad / f0[:, None], grad))


# ----------------------------------------------------------------------------- networks

def init_mlp(key, sizes):
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (n_in, n_out)) * np.sqrt(1.0 / n_in), jnp.zeros(n_out)))
    params[-1] = (jnp.zeros_like(params[-1][0]), params[-1][1])
    return params


def mlp(params, x):
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def train(loss, params, data, steps, learning_rate=2e-3, weight_decay=1e-3, l2=1e-4, block=25, batch=4096, seed=0):
    """AdamW on minibatches of the first 80 % of ``data``; the parameters with the lowest loss on
    the last 20 % (checked every ``block`` steps, the initial ones included) are returned."""
    optimiser = optax.adamw(learning_rate, weight_decay=weight_decay)
    n = len(next(iter(data.values())))
    split = int(0.8 * n)
    fit = {k: v[:split] for k, v in data.items()}
    held = {k: v[split:] for k, v in data.items()}
    batch = min(batch, split)

    @jax.jit
    def run(params, state, key):
        def step(carry, key):
            params, state = carry
            idx = jax.random.choice(key, split, (batch,), replace=False)
            sub = {k: v[idx] for k, v in fit.items()}
            grads = jax.grad(lambda p: loss(p, sub) + l2 * sum(jnp.sum(w**2) for w, _ in p))(params)
            updates, state = optimiser.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, state), _ = jax.lax.scan(step, (params, state), jax.random.split(key, block))
        return params, state

    held_loss = jax.jit(lambda p: loss(p, held))
    state = optimiser.init(params)
    best, best_loss = params, float(held_loss(params))
    key = jax.random.key(seed)
    for _ in range(max(steps // block, 1)):
        key, sub = jax.random.split(key)
        params, state = run(params, state, sub)
        value = float(held_loss(params))
        if value < best_loss:
            best, best_loss = params, value
    return best


def train_sally(x, score, key, steps, hidden=64):
    """t_hat(x) ~ E[t(z|theta0) | x] (score in the scaled theta units)."""
    params = init_mlp(key, [x.shape[1], hidden, hidden, score.shape[1]])
    loss = lambda p, d: jnp.mean(jnp.sum((mlp(p, d["x"]) - d["t"]) ** 2, axis=1))  # noqa: E731
    best = train(loss, params, {"x": jnp.asarray(x), "t": jnp.asarray(score)}, steps)
    return lambda xs: np.asarray(mlp(best, jnp.asarray(xs)))


def ratio_network(params, x, theta, theta0):
    """log r_hat(x|theta, theta0) = g(x, theta) - g(x, theta0) (theta in scaled units)."""
    g = lambda t: mlp(params, jnp.concatenate([x, jnp.broadcast_to(t, (len(x), t.shape[-1]))], axis=1))[:, 0]  # noqa: E731
    return g(theta) - g(jnp.broadcast_to(theta0, theta.shape))


def score_term(grad, score, label):
    """|d log r_hat/d theta - t(z|theta)|^2 averaged over the x ~ theta (label 1) events only: t(z|theta)
    is an unbiased target for t(x|theta) only under p(z|theta)."""
    return jnp.sum(label[:, None] * (grad - score) ** 2) / jnp.maximum(jnp.sum(label), 1)


def rascal_loss(log_r_hat, grad, log_r, score, label, alpha):
    """RASCAL (arXiv:1805.00013, 1805.12244): |r_hat(x) - r(z)|^2 on the x ~ theta0 events (label 0)
    and |1/r_hat(x) - 1/r(z)|^2 on the x ~ theta events (label 1), r = r(z|theta, theta0) the joint
    ratio at each event's theta; each term is minimised by the true r(x) (E_theta0[r(z)|x] = r(x),
    E_theta[1/r(z)|x] = 1/r(x)). Plus alpha x ``score_term`` with grad = d log r_hat/d theta (none
    when grad is None)."""
    r_hat, r = jnp.exp(log_r_hat), jnp.exp(log_r)
    mse = jnp.mean((1 - label) * (r_hat - r) ** 2 + label * (1 / r_hat - 1 / r) ** 2)
    return mse if grad is None else mse + alpha * score_term(grad, score, label)


def train_ratio(x, theta, label, key, steps, theta0, soft=None, score=None, log_r=None, alpha=0.0, hidden=64):
    """CARL (soft=None, log_r=None), ALICES (soft = joint p(z|theta)/(p(z|theta)+p(z|theta0)), score =
    t(z|theta)) or RASCAL (log_r = joint log r(z|theta, theta0), score = t(z|theta)). label 1:
    x ~ p(x|theta); label 0: x ~ p(x|theta0) paired with a theta of the prior; the score term uses the
    label-1 events only. Returns a RatioEstimate: log_r_hat(x, theta) per event, and .at_thetas."""
    params = init_mlp(key, [x.shape[1] + theta.shape[1], hidden, hidden, 1])
    t0 = jnp.asarray(theta0)
    data = {"x": jnp.asarray(x), "theta": jnp.asarray(theta), "y": jnp.asarray(label if soft is None else soft),
            "w": jnp.asarray(label, dtype=float)}
    if score is not None:
        data["t"] = jnp.asarray(score)
    if log_r is not None:
        data["log_r"] = jnp.asarray(log_r)

    def loss(p, d):
        logit = ratio_network(p, d["x"], d["theta"], t0)
        grad = None
        if score is not None:
            one = lambda t, xi: ratio_network(p, xi[None], t[None], t0)[0]  # noqa: E731
            grad = jax.vmap(jax.grad(one), (0, 0))(d["theta"], d["x"])
        if log_r is not None:
            return rascal_loss(logit, grad, d["log_r"], d.get("t"), d["w"], alpha)
        ce = jnp.mean(optax.sigmoid_binary_cross_entropy(logit, d["y"]))
        if score is None or alpha == 0:
            return ce
        return ce + alpha * score_term(grad, d["t"], d["w"])

    return RatioEstimate(train(loss, params, data, steps), t0)


class RatioEstimate:
    """A trained ratio network: ``estimate(xs, thetas)`` is log r_hat(x_i|theta_i, theta0) for paired
    rows; ``estimate.at_thetas(xs, thetas)`` is log r_hat(x_i|theta_j, theta0), shape (N, M), for every
    event at every theta (contour grids), in compiled blocks of thetas."""

    def __init__(self, params, theta0):
        self.params, self.theta0 = params, theta0

    def __call__(self, xs, thetas):
        return np.asarray(ratio_network(self.params, jnp.asarray(xs), jnp.asarray(thetas), self.theta0))

    def at_thetas(self, xs, thetas, block=16):
        xs, thetas = jnp.asarray(xs), np.asarray(thetas, dtype=float)
        out = np.empty((len(xs), len(thetas)))
        for start in range(0, len(thetas), block):
            chunk = thetas[start:start + block]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], block - len(chunk), axis=0)])
            out[:, start:start + len(chunk)] = np.asarray(_ratio_block(self.params, xs, jnp.asarray(padded),
                                                                       self.theta0))[:, :len(chunk)]
        return out


@jax.jit
def _ratio_block(params, xs, thetas, theta0):
    """log r_hat(x_i|theta_j, theta0), (N, len(thetas)): g(x, theta0) once, g(x, theta_j) per theta."""
    def g(t):
        return mlp(params, jnp.concatenate([xs, jnp.broadcast_to(t, (len(xs), t.shape[-1]))], axis=1))[:, 0]
    return jax.vmap(g, out_axes=1)(thetas) - g(theta0)[:, None]


# ----------------------------------------------------------------------------- morphing-aware regression

def quadratic_form_coefficients(lower, eps=1e-6):
    """The six coefficients a (..., 6), in the order of ``monomials`` (1, a, b, a^2, b^2, a b), of
    m(theta).a = v^T Q v, v = (1, theta_a, theta_b), Q = L L^T + eps I, with L lower-triangular from
    ``lower`` (..., 6) = (L00, L10, L11, L20, L21, L22). m(theta).a >= eps (1 + |theta|^2) > 0 for
    every theta, and any positive definite Q (every a with m(theta).a > 0 for all theta) is reached."""
    l00, l10, l11, l20, l21, l22 = (lower[..., k] for k in range(6))
    q00 = l00 * l00 + eps
    q01, q02 = l00 * l10, l00 * l20
    q11 = l10 * l10 + l11 * l11 + eps
    q12 = l10 * l20 + l11 * l21
    q22 = l20 * l20 + l21 * l21 + l22 * l22 + eps
    return jnp.stack([q00, 2 * q01, 2 * q02, q11, q22, 2 * q12], axis=-1)


def quadratic_form_lower(coefficients, eps=1e-6):
    """The inverse of ``quadratic_form_coefficients`` for one coefficient vector (6,) whose form is
    positive definite beyond eps: (L00, L10, L11, L20, L21, L22) of the Cholesky factor of Q - eps I."""
    a = np.asarray(coefficients, dtype=float)
    q = np.array([[a[0], a[1] / 2, a[2] / 2], [a[1] / 2, a[3], a[5] / 2], [a[2] / 2, a[5] / 2, a[4]]])
    low = np.linalg.cholesky(q - eps * np.eye(3))
    return np.array([low[0, 0], low[1, 0], low[1, 1], low[2, 0], low[2, 1], low[2, 2]])


def morph_targets(me2_coefficients, theta0):
    """Per-event regression targets c_k(z) / c(z).m(theta0), (N, 6): E_theta0[target | x] = a(x)."""
    c = jnp.asarray(me2_coefficients)
    return c / (c @ monomials(jnp.asarray(theta0, dtype=float)))[:, None]


def morph_log_r(a, sigma_coefficients, thetas, theta0):
    """log r(x|theta_j, theta0) = log m(theta_j).a(x) - log m(theta0).a(x) - log sigma(theta_j)/sigma(theta0)
    for coefficient functions a (N, 6) at thetas (M, 2): (N, M). Exactly 0 at theta0."""
    a, s = jnp.asarray(a), jnp.asarray(sigma_coefficients)
    m, m0 = monomials(jnp.asarray(thetas, dtype=float)), monomials(jnp.asarray(theta0, dtype=float))
    return jnp.log(a @ m.T) - jnp.log(a @ m0)[:, None] - jnp.log((m @ s) / (m0 @ s))[None, :]


def morph_score(a, theta0):
    """grad_theta log m(theta).a at theta0, (N, 2): the score t(x|theta0) plus grad log sigma(theta0)
    (which cancels between the estimate and the joint target t(z|theta0))."""
    a = jnp.asarray(a)
    t0 = jnp.asarray(theta0, dtype=float)
    return (a @ monomial_gradients(t0)) / (a @ monomials(t0))[:, None]


def prior_moments(half_width=(1.0, 1.0)):
    """W = E[m(theta) m(theta)^T] for theta uniform in the box +-half_width: (6, 6). With it
    (a_hat - c)^T W (a_hat - c) = E_theta[(m(theta).a_hat - m(theta).c)^2], the squared error of the
    unnormalised ratio averaged over the prior."""
    nodes, weights = np.polynomial.legendre.leggauss(4)  # exact for the degree-4 products
    ta, tb = np.meshgrid(nodes * half_width[0], nodes * half_width[1], indexing="ij")
    w = np.outer(weights, weights).reshape(-1) / 4
    m = np.asarray(monomials(jnp.asarray(np.stack([ta.reshape(-1), tb.reshape(-1)], axis=1))))
    return np.einsum("n,ni,nj->ij", w, m, m)


def morph_loss(a_hat, targets, weight, theta0, alpha):
    """Mean over events of (a_hat - c)^T W (a_hat - c) (minimised by a_hat(x) = E_theta0[c|x] = a(x) for
    any positive definite W) plus alpha |grad log m.a_hat - grad log m.c|^2 at theta0, SALLY's joint
    score regression written with the same form (minimised by the true score t(x|theta0), which the
    true a(x) gives)."""
    diff = a_hat - targets
    mse = jnp.mean(jnp.einsum("ni,ij,nj->n", diff, weight, diff))
    if alpha == 0:
        return mse
    return mse + alpha * jnp.mean(jnp.sum((morph_score(a_hat, theta0) - morph_score(targets, theta0)) ** 2, axis=1))


def scale_rows(lower, row_scale):
    """L -> diag(s) L for L's entries (..., 6) as in ``quadratic_form_coefficients`` and s (..., 3):
    Q = L L^T -> S Q S, still positive semi-definite."""
    rows = jnp.stack([row_scale[..., 0], row_scale[..., 1], row_scale[..., 1],
                      row_scale[..., 2], row_scale[..., 2], row_scale[..., 2]], axis=-1)
    return lower * rows


@dataclass(frozen=True)
class EnergyRows:
    """A ``row_scale`` for MORPH-E: (1, 1, (m / m_ref)^2) from the input column holding log m (the study:
    log m_T(WH)), i.e. the cHj3 row of L grows like s_hat, as the cHj3 contact amplitude does
    (s_hat / Lambda^2); the network learns the rest."""

    column: int
    log_m_ref: float

    def __call__(self, xs):
        one = jnp.ones(xs.shape[0])
        return jnp.stack([one, one, jnp.exp(2 * (xs[:, self.column] - self.log_m_ref))], axis=1)


def train_morph(x, me2_coefficients, key, steps, theta0, alpha=1.0, hidden=64, eps=1e-6, row_scale=None):
    """MORPH: a_hat(x) = quadratic_form_coefficients(MLP(x)) regressed on ``morph_targets`` with
    ``morph_loss`` (W = ``prior_moments`` of the unit box: theta and the coefficients in the units of
    the theta box). The last layer starts at zero weights and at the bias of the training mean of the
    targets, so the untrained network is a(x) = E_theta0[c] = sigma coefficients / sigma(theta0):
    log r_hat = 0 everywhere, as for the other networks. ``row_scale``: optional function of the
    inputs, (N, 3), that multiplies the rows of L (``scale_rows``: a known growth of the amplitude's
    theta components with x; the network then learns L / s). Returns a MorphEstimate."""
    targets = morph_targets(me2_coefficients, theta0)
    params = init_mlp(key, [x.shape[1], hidden, hidden, 6])
    mean = np.asarray(targets.mean(axis=0))
    if row_scale is not None:  # start at the mean of S^-1 Q(z) S^-1
        s = np.asarray(row_scale(jnp.asarray(x)))
        pairs = s[:, [0, 0, 0, 1, 2, 1]] * s[:, [0, 1, 2, 1, 2, 2]]
        mean = np.mean(np.asarray(targets) / pairs, axis=0)
    params[-1] = (params[-1][0], jnp.asarray(quadratic_form_lower(mean, eps)))
    weight = jnp.asarray(prior_moments())
    t0 = jnp.asarray(theta0, dtype=float)

    def loss(p, d):
        return morph_loss(_morph_coefficients(p, d["x"], eps, row_scale), d["c"], weight, t0, alpha)

    best = train(loss, params, {"x": jnp.asarray(x), "c": targets}, steps)
    return MorphEstimate(best, t0, eps, row_scale)


class MorphEstimate:
    """A trained MORPH network: ``coefficients(xs)`` is a_hat(x) (N, 6); ``log_r(xs, sigma_coefficients,
    thetas)`` is log r_hat(x_i|theta_j, theta0), (N, M), by ``morph_log_r``; ``score(xs)`` is
    grad log m(theta).a_hat at theta0."""

    def __init__(self, params, theta0, eps, row_scale=None):
        self.params, self.theta0, self.eps, self.row_scale = params, theta0, eps, row_scale

    def coefficients(self, xs):
        return np.asarray(jax.jit(_morph_coefficients, static_argnums=3)(self.params, jnp.asarray(xs), self.eps,
                                                                         self.row_scale))

    def log_r(self, xs, sigma_coefficients, thetas):
        return np.asarray(morph_log_r(self.coefficients(xs), sigma_coefficients, thetas, self.theta0))

    def score(self, xs):
        return np.asarray(morph_score(self.coefficients(xs), self.theta0))


def _morph_coefficients(params, xs, eps, row_scale=None):
    lower = mlp(params, xs)
    if row_scale is not None:
        lower = scale_rows(lower, row_scale(xs))
    return quadratic_form_coefficients(lower, eps)
