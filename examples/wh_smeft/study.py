"""W+ H in SMEFT at 13 TeV: histogram vs SALLY vs CARL vs ALICES vs RASCAL vs MORPH against the quadrature truth.

p p > w+ h NP<=1, w+ > e+ ve, h > b b~ (SMEFTsim topU3l, MW scheme, massless), theta = (cHW, cHj3),
all other Wilson coefficients 0, parton level, x = (e+, b, b~) momenta + missing pT.

1. ``madgen.inference.mine`` at the SM with the five other BASIS_POINTS as alternatives: events z,
   the joint score t(z|0), and sigma(theta) on one fixed sample at the six points. |M|^2 is
   quadratic in theta, so log r and t of every event follow at any theta (``methods.morphing``).
2. Truth: D(x; theta) by quadrature over pz(nu) (``truth.py``) on the test events.
3. Estimators from N training events: 2-D histogram of (pT,W, m_T(WH)); SALLY (score regression,
   then a 2-D histogram of the estimated score); CARL, ALICES and RASCAL (theta-parameterised ratio);
   MORPH (regression of the six morphing coefficient functions a(x), exact quadratic theta dependence)
   and MORPH-E (the same with the cHj3 terms scaled by m_T(WH)^2).
4. Per method and N: MSE of log r_hat against the truth, the expected 95 % CL contour at 300 fb^-1
   (Asimov: q(theta) = 2 [nu - nu0 - nu0 log(nu/nu0)] + 2 nu0 E_0[r_hat - 1 - log r_hat(x|theta, 0)], the
   rate term exact for all), its area against the truth's, the Fisher information.

Run:  python examples/wh_smeft/study.py            (--small, the default: a few minutes alone)
      python examples/wh_smeft/study.py --full     (N up to 1e5, 5000 test events)
Outputs in examples/wh_smeft/output/ (results.json, table.md, contours.png, mse_vs_n.png).
      --methods MORPH,histogram  trains only those methods; their rows replace (or join) the rows of
      a finished run in --output with the same configuration: the mined events, the test events, the
      truth and every random draw are the same (the draws do not depend on which methods run).
      --seed-list 1  trains only the seeds listed, --train-sizes 10000 only those sizes (the event
      pools are set by the largest of --sizes); with --methods their rows join a finished run's.
Seeds: seed 0 draws its training sets from one generator (seeded 7) through the sizes in order (the
committed one-seed runs); seed s >= 1 draws from its own generator seeded (7, s, N), so its draws do
not depend on the number of seeds or on the other sizes run. The network key is 100 s + N.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import yaml

jax.config.update("jax_enable_x64", True)
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from methods import (EnergyRows, HistogramMethod, event_weights, features, joint_score, morph_log_r,  # noqa: E402
                     summaries, train_morph, train_ratio, train_sally)
from truth import BASIS_POINTS, TrueLikelihood, monomials, observed, quadratic_coefficients, rescale  # noqa: E402

NAMES = ["cHW", "cHj3"]
LUMINOSITY_PB = 300e3  # 300 fb^-1
Q95 = 5.991  # chi^2 95 % quantile, 2 dof
TOLERANCE = 0.10  # contour area within 10 % of the truth's
METHODS = ["histogram", "SALLY", "CARL", "ALICES", "RASCAL", "MORPH", "MORPH-E"]
LOG_MT_COLUMN = 12  # log m_T(WH) in methods.features
BASIS_SCALE = np.array([0.1, 0.03])  # the gold's alternative thetas: BASIS_POINTS x this (near the SM)

SIZES = {"small": dict(sizes=[1000, 3000], n_test=1000, steps=400, grid=41, nodes=24, seeds=1),
         "full": dict(sizes=[1000, 3000, 10000, 30000, 100000], n_test=5000, steps=2000, grid=61, nodes=32, seeds=2)}


def log(*a):
    print(*a, flush=True)


def gold_sample(package, run, n_events, path):
    from madgen.inference import mine, read_gold

    if path.exists():
        gold = read_gold(path)
        if len(gold) >= n_events:
            return gold
    run = {**run, "n_events": int(n_events)}
    return mine(package, run, NAMES, theta_ref={n: 0.0 for n in NAMES},
                thetas=[dict(zip(NAMES, p)) for p in BASIS_POINTS[1:] * BASIS_SCALE], output=path, log=log)


def me2_coefficients(gold):
    """Quadratic coefficients (N, 6) of |M|^2(z; theta) / |M|^2(z; 0) from madgen's gold at the
    BASIS_POINTS x BASIS_SCALE (exact: |M|^2 is quadratic), and sigma's (6,) in pb:
    sigma(theta) = sigma(0) E_0[|M|^2(z; theta) / |M|^2(z; 0)] over the mined events (the reweighting
    identity, exactly quadratic; madgen's fixed-sample sigma(theta) is not, through its multi-channel
    weights, and is kept for comparison)."""
    sigma = np.concatenate([[gold.sigma_ref_pb], gold.sigma_pb[:5]])
    log_me2 = -gold.log_r[:, :5] + np.log(sigma[1:] / sigma[0])[None, :]  # log |M|^2(theta_k)/|M|^2(0)
    values = np.concatenate([np.zeros((len(gold), 1)), log_me2], axis=1)
    coefficients = rescale(np.asarray(quadratic_coefficients(np.exp(values))), BASIS_SCALE)
    return coefficients, gold.sigma_ref_pb * coefficients.mean(axis=0)


def rate_term(sigma_coefficients, thetas):
    nu0 = LUMINOSITY_PB * sigma_coefficients[0]
    nu = LUMINOSITY_PB * np.asarray(monomials(jnp.asarray(thetas)) @ sigma_coefficients)
    return 2 * (nu - nu0 - nu0 * np.log(nu / nu0)), nu0


def contour_q(log_r_test, sigma_coefficients, thetas):
    """Expected q(theta) under the SM from log r_hat(x|theta, 0) (N_test, M): the shape term is
    2 nu0 KL(p_0 || p_theta) = 2 nu0 E_0[r - 1 - log r] (E_0[r] = 1: the control variate removes the
    O(theta) sampling noise of E_0[log r], which near the contour is larger than KL itself)."""
    rate, nu0 = rate_term(sigma_coefficients, thetas)
    r = np.exp(log_r_test)
    return rate + 2 * nu0 * np.mean(r - 1 - log_r_test, axis=0)


def sample_at_thetas(rng, weights_fn, pool_size, thetas):
    """Indices of pool events distributed as p(z|theta_j), one per theta_j, by rejection with the
    exact weights |M|^2(theta_j)/|M|^2(0) x sigma(0)/sigma(theta_j) (bounded by their pool maximum)."""
    chosen = np.full(len(thetas), -1)
    todo = np.arange(len(thetas))
    while len(todo):
        candidates = rng.integers(pool_size, size=len(todo))
        w = weights_fn(candidates, thetas[todo])
        accept = rng.uniform(size=len(todo)) * weights_fn.bound(thetas[todo]) < w
        chosen[todo[accept]] = candidates[accept]
        todo = todo[~accept]
    return chosen


class PoolWeights:
    def __init__(self, coefficients, theta_box):
        self.c = coefficients
        corners = np.array([[sa * theta_box[0], sb * theta_box[1]] for sa in (-1, 0, 1) for sb in (-1, 0, 1)])
        w = np.asarray(event_weights(coefficients, corners, np.zeros(2)))
        self.max = 1.05 * w.max()  # |M|^2 ratios are convex in theta along lines: the box's extremes bound them

    def __call__(self, idx, thetas):
        c = self.c[idx]
        return np.sum(c * np.asarray(monomials(jnp.asarray(thetas))), axis=1) / c[:, 0]

    def bound(self, thetas):
        return self.max


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full study (hours on 2 CPU cores)")
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated training sizes N")
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per size (0 .. seeds - 1)")
    parser.add_argument("--seed-list", type=str, default=None,
                        help="comma-separated seeds to train instead of 0 .. seeds - 1 (e.g. 1); with --methods "
                             "their rows join those of a finished run in --output")
    parser.add_argument("--train-sizes", type=str, default=None,
                        help="train only these of --sizes (the event pools and seed 0's draws stay those of "
                             "--sizes, so the rows can join a finished run with those sizes)")
    parser.add_argument("--output", type=Path, default=HERE / "output")
    parser.add_argument("--methods", type=str, default=None,
                        help=f"comma-separated subset of {','.join(METHODS)} (default all); merged into a "
                             "finished run's results.json in --output when its configuration is the same")
    parser.add_argument("--morph-alpha", type=float, default=1.0, help="weight of MORPH's score term")
    parser.add_argument("--plot-only", action="store_true",
                        help="redo table.md and the plots from the results.json and contours.npz of --output")
    args = parser.parse_args(argv)
    if args.plot_only:
        return replot(args.output)
    cfg = dict(SIZES["full" if args.full else "small"])
    if args.sizes:
        cfg["sizes"] = [int(s) for s in args.sizes.split(",")]
    cfg["n_test"] = args.n_test or cfg["n_test"]
    cfg["steps"] = args.steps or cfg["steps"]
    cfg["seeds"] = args.seeds or cfg["seeds"]
    seed_list = [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(cfg["seeds"]))
    cfg["seeds"], cfg["seed_list"] = len(seed_list), seed_list
    train_sizes = [int(s) for s in args.train_sizes.split(",")] if args.train_sizes else cfg["sizes"]
    methods = METHODS if args.methods is None else args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; choose from {METHODS}")
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    timings = {}

    import madgen
    from madgen.api import generate
    from madgen.pdf import load_pdf
    from madgen.runtime.runcard import RunCard

    package = out / "wh_smeft"
    if not (package / "metadata.json").exists():
        generate(HERE / "wh_smeft.yaml", output=package)
    process = madgen.load(package)
    run_map = yaml.safe_load((HERE / "run_wh.yaml").read_text())
    n_max = max(cfg["sizes"])
    n_pool = cfg["n_test"] + n_max // 2 + n_max  # test, theta0 class, theta source (rejection)
    t0 = time.perf_counter()
    gold = gold_sample(package, run_map, n_pool, out / "gold_sm.h5")
    timings["mining_s"] = time.perf_counter() - t0
    coeffs, sigma_c = me2_coefficients(gold)
    e, b, bb = observed(gold.momenta)
    x_all = features(e, b, bb)
    u_all, v_all = summaries(e, b, bb)
    score_all = np.asarray(gold.score)
    log(f"{len(gold)} SM events; sigma(0) = {sigma_c[0]:.5g} pb; sigma coefficients {np.round(sigma_c, 5).tolist()}; "
        f"madgen's d sigma/d theta {np.round(gold.sigma_gradient_pb, 5).tolist()}")

    # -- theta box from the gold Fisher information (z-level: an upper bound on the information)
    nu0 = LUMINOSITY_PB * sigma_c[0]
    grad_sigma = sigma_c[1:3]
    info_total = nu0 * np.asarray(gold.fisher) + LUMINOSITY_PB * np.outer(grad_sigma, grad_sigma) / sigma_c[0]
    box = 10.0 / np.sqrt(np.diag(info_total))
    log(f"theta box: cHW in +-{box[0]:.4g}, cHj3 in +-{box[1]:.4g}")
    ga, gb = np.linspace(-box[0], box[0], cfg["grid"]), np.linspace(-box[1], box[1], cfg["grid"])
    grid = np.stack(np.meshgrid(ga, gb, indexing="ij"), axis=-1).reshape(-1, 2)
    cell = (ga[1] - ga[0]) * (gb[1] - gb[0])
    box_powers = np.array([1, box[0], box[1], box[0] ** 2, box[1] ** 2, box[0] * box[1]])  # coefficients -> box units
    eval_thetas = np.array([[sa * box[0] / 3, sb * box[1] / 3] for sa in (-1, 0, 1) for sb in (-1, 0, 1)
                            if (sa, sb) != (0, 0)])

    n_test = cfg["n_test"]
    test = slice(0, n_test)
    pool0 = np.arange(n_test, n_test + n_max // 2)
    pool1 = np.arange(n_test + n_max // 2, len(gold))

    # -- truth on the test events
    t0 = time.perf_counter()
    run = RunCard.from_mapping(run_map)
    truth = TrueLikelihood(process, run, load_pdf(run.pdf), gold.parameters, n_nodes=cfg["nodes"])
    cache = out / f"truth_{n_test}_{cfg['nodes']}.npy"
    if cache.exists():
        d_coeffs = np.load(cache)
    else:
        d_coeffs = rescale(truth.likelihood_basis(e[test], b[test], bb[test], scale=BASIS_SCALE), BASIS_SCALE)
        np.save(cache, d_coeffs)
    timings["truth_s"] = time.perf_counter() - t0
    m0 = np.asarray(monomials(jnp.zeros(2)))
    true_log_r = lambda thetas: (np.log(d_coeffs @ np.asarray(monomials(jnp.asarray(thetas))).T)  # noqa: E731
                                 - np.log(d_coeffs @ m0)[:, None]
                                 - np.log(np.asarray(monomials(jnp.asarray(thetas))) @ sigma_c / sigma_c[0])[None, :])
    truth_q = contour_q(true_log_r(grid), sigma_c, grid)
    truth_eval = true_log_r(eval_thetas)
    area_truth = np.sum(truth_q <= Q95) * cell
    t_true = np.asarray(jnp.asarray(d_coeffs)[:, 1:3] / (d_coeffs @ m0)[:, None] - sigma_c[1:3] / sigma_c[0])
    fisher_truth = t_true.T @ t_true / n_test
    log(f"truth: contour area {area_truth:.4g}, E[t(x)] = {t_true.mean(0)}, I(x) per event {fisher_truth.tolist()}")

    sigma_fixed = np.concatenate([[gold.sigma_ref_pb], gold.sigma_pb[:5]])
    sigma_morph = np.asarray(monomials(jnp.asarray(BASIS_POINTS * BASIS_SCALE))) @ sigma_c
    results = {"config": cfg, "box": box.tolist(), "sigma_coefficients_pb": sigma_c.tolist(),
               "sigma_basis_fixed_sample_pb": sigma_fixed.tolist(), "sigma_basis_morphing_pb": sigma_morph.tolist(),
               "sigma_gradient_madgen_pb": np.asarray(gold.sigma_gradient_pb).tolist(),
               "n_events_mined": len(gold), "fisher_gold_per_event": np.asarray(gold.fisher).tolist(),
               "fisher_gold_error": np.asarray(gold.fisher_error).tolist(),
               "fisher_truth_per_event": fisher_truth.tolist(), "area_truth": area_truth,
               "nu0": nu0, "methods": {}, "method_runs": {}}
    run_label = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    contours = {"truth": truth_q}
    rng0 = np.random.default_rng(7)  # seed 0: one stream through the sizes (as in the one-seed runs)
    weights = PoolWeights(coeffs[pool1], box)
    x_test, u_test, v_test = x_all[test], u_all[test], v_all[test]
    for n in cfg["sizes"]:
        for seed in seed_list:
            key = jax.random.key(100 * seed + n)
            rng = rng0 if seed == 0 else np.random.default_rng([7, seed, n])
            run_methods = methods if n in train_sizes else []  # seed 0 still draws (its stream goes on)
            if not run_methods and seed != 0:
                continue
            idx0 = rng.choice(pool0, size=n // 2 if n // 2 <= len(pool0) else len(pool0), replace=False)
            sm_idx = rng.choice(np.concatenate([pool0, pool1]), size=n, replace=False)
            n_bins = int(np.clip(np.sqrt(n / 25), 3, 20))
            estimates = {}
            t0 = time.perf_counter()
            if "histogram" in run_methods:
                hist = HistogramMethod(u_all[sm_idx], v_all[sm_idx], coeffs[sm_idx], np.zeros(2), n_bins)
                estimates["histogram"] = (lambda th, h=hist: h.log_r(u_test, v_test, th), hist.fisher())
            if "SALLY" in run_methods:
                sally = train_sally(x_all[sm_idx], score_all[sm_idx] * box, key, cfg["steps"])
                t_hat = sally(x_all[sm_idx])
                hist_s = HistogramMethod(t_hat[:, 0], t_hat[:, 1], coeffs[sm_idx], np.zeros(2), n_bins)
                t_hat_test = sally(x_test)
                estimates["SALLY"] = (lambda th, h=hist_s, t=t_hat_test: h.log_r(t[:, 0], t[:, 1], th), hist_s.fisher())
            for name in ("MORPH", "MORPH-E"):
                if name not in run_methods:
                    continue
                # the same N SM events as the histograms; theta and the coefficients in units of the box
                # MORPH-E: the cHj3 row scaled by (m_T / median m_T of the training events)^2
                rows = EnergyRows(LOG_MT_COLUMN, float(np.median(x_all[sm_idx, LOG_MT_COLUMN]))) \
                    if name == "MORPH-E" else None
                morph = train_morph(x_all[sm_idx], coeffs[sm_idx] * box_powers, key, cfg["steps"], np.zeros(2),
                                    alpha=args.morph_alpha, row_scale=rows)
                a_test = morph.coefficients(x_test)
                if seed == 0 and n == max(cfg["sizes"]):  # for bootstrap.py: a_hat on the test events
                    np.save(out / f"{name.lower()}_coefficients_test.npy", a_test / box_powers)
                t_morph = morph.score(x_test) / box - sigma_c[1:3] / sigma_c[0]
                estimates[name] = (lambda ths, a=a_test: np.asarray(morph_log_r(a, sigma_c * box_powers,
                                                                                np.asarray(ths) / box, np.zeros(2))),
                                   t_morph.T @ t_morph / len(t_morph))
            # parameterised training set: n/2 events at theta0 (label 0), n/2 at thetas of the prior (label 1)
            thetas1 = rng.uniform(-1, 1, size=(n // 2, 2)) * box
            idx1 = pool1[sample_at_thetas(rng, weights, len(pool1), thetas1)]
            thetas0 = rng.uniform(-1, 1, size=(len(idx0), 2)) * box
            xs = np.concatenate([x_all[idx1], x_all[idx0]])
            th = np.concatenate([thetas1, thetas0])
            label = np.concatenate([np.ones(len(idx1)), np.zeros(len(idx0))])
            order = rng.permutation(len(xs))
            xs, th, label = xs[order], th[order], label[order]
            ev = np.concatenate([idx1, idx0])[order]
            lr = _pairwise_log_r(coeffs[ev], sigma_c, th)
            soft = 1 / (1 + np.exp(-lr))
            tz = np.asarray(joint_score(coeffs[ev], sigma_c, th)) * box
            options = {"CARL": {}, "ALICES": dict(soft=soft, score=tz, alpha=1.0),
                       "RASCAL": dict(score=tz, log_r=lr, alpha=1.0)}
            for name, kwargs in options.items():
                if name in run_methods:
                    net = train_ratio(xs, th / box, label, key, cfg["steps"], np.zeros(2), **kwargs)
                    estimates[name] = (lambda ths, net=net: net.at_thetas(x_test, np.asarray(ths) / box), None)
            for name in [m for m in METHODS if m in estimates]:
                fn, fisher = estimates[name]
                q = contour_q(fn(grid), sigma_c, grid)
                mse = float(np.mean((fn(eval_thetas) - truth_eval) ** 2))
                area = float(np.sum(q <= Q95) * cell)
                entry = {"n": n, "seed": seed, "mse": mse, "area": area, "area_ratio": area / area_truth}
                if fisher is not None:
                    entry["fisher_per_event"] = fisher.tolist()
                if name.startswith("MORPH"):
                    entry["alpha"] = args.morph_alpha
                results["methods"].setdefault(name, []).append(entry)
                results["method_runs"][name] = run_label
                if seed == 0 and n == max(cfg["sizes"]):
                    contours[name] = q
                log(f"N = {n} seed {seed} {name}: MSE {mse:.3e}, area ratio {area / area_truth:.3f}")
            log(f"  ({time.perf_counter() - t0:.0f} s)")
    timings["total_s"] = time.perf_counter() - start
    results["timings"] = timings
    results["mse_constant_guess"] = float(np.mean(truth_eval**2))
    if args.methods is not None:
        (out / f"results_run_{run_label.replace(' ', '_').replace(':', '')}.json").write_text(json.dumps(results, indent=1))
        results, contours = merge_into_finished_run(out, results, contours)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    np.savez(out / "contours.npz", grid_a=ga, grid_b=gb, **{k: v.reshape(len(ga), len(gb)) for k, v in contours.items()})
    write_table(results, out / "table.md")
    plot(results, contours, ga, gb, out)
    log(f"done in {timings['total_s']:.0f} s; outputs in {out}")


def merge_into_finished_run(out, results, contours):
    """The rows and contours of the methods just run, merged into the finished run in ``out`` (if any):
    allowed only when the configuration, the truth's contour area and the constant guess's MSE agree
    exactly (the same test events and truth); the seeds may differ. Rows of the same
    (method, N, seed) are replaced, others join; a method that is deterministic given the events (the
    histogram) reproduces its stored numbers exactly, which the log reports."""
    path = out / "results.json"
    if not path.exists():
        return results, contours
    stored = json.loads(path.read_text())
    free = ("seeds", "seed_list")
    cfg_new, cfg_old = results["config"], stored["config"]
    old_seeds = cfg_old.get("seed_list", list(range(cfg_old.get("seeds", 1))))
    new_seeds = cfg_new.get("seed_list", list(range(cfg_new.get("seeds", 1))))
    if not ({k: v for k, v in cfg_new.items() if k not in free} == {k: v for k, v in cfg_old.items() if k not in free}
            and stored["area_truth"] == results["area_truth"]
            and stored["mse_constant_guess"] == results["mse_constant_guess"]):
        raise SystemExit(f"{path}: a run with another configuration or truth; use another --output")
    methods = {m: list(v) for m, v in stored["methods"].items()}
    for name, rows in results["methods"].items():
        old = {(e["n"], e["seed"]): e for e in methods.get(name, [])}
        for e in rows:
            before = old.get((e["n"], e["seed"]))
            if before is not None:
                same = (before["mse"], before["area_ratio"]) == (e["mse"], e["area_ratio"])
                log(f"{name} N = {e['n']} seed {e['seed']}: stored row "
                    + ("reproduced exactly" if same else f"replaced (was MSE {before['mse']:.6e}, area ratio "
                                                          f"{before['area_ratio']:.6f})"))
            old[(e["n"], e["seed"])] = e
        methods[name] = [old[k] for k in sorted(old)]
    seeds = sorted(set(old_seeds) | set(new_seeds))
    config = {**cfg_old, "seeds": len(seeds), "seed_list": seeds}
    merged = {**stored, "config": config, "methods": {m: methods[m] for m in METHODS if m in methods},
              "method_runs": {**stored.get("method_runs", {}), **results["method_runs"]},
              "timings_merged_runs": stored.get("timings_merged_runs", []) + [results["timings"]]}
    saved = np.load(out / "contours.npz")
    merged_contours = {k: saved[k].reshape(-1) for k in saved.files if k not in ("grid_a", "grid_b")}
    merged_contours.update(contours)
    return merged, {"truth": merged_contours.pop("truth"),
                    **{m: merged_contours[m] for m in METHODS if m in merged_contours}}


def replot(out):
    """table.md, contours.png and mse_vs_n.png again from a finished run's results.json and contours.npz."""
    results_path, contours_path = out / "results.json", out / "contours.npz"
    for path in (results_path, contours_path):
        if not path.exists():
            raise SystemExit(f"{path} not found: run the study first (--plot-only redraws a finished run)")
    results = json.loads(results_path.read_text())
    saved = np.load(contours_path)
    ga, gb = saved["grid_a"], saved["grid_b"]
    contours = {k: saved[k].reshape(-1) for k in saved.files if k not in ("grid_a", "grid_b")}
    contours = {"truth": contours.pop("truth"), **contours}
    write_table(results, out / "table.md")
    plot(results, contours, ga, gb, out)
    log(f"redrawn: {out / 'table.md'}, {out / 'contours.png'}, {out / 'mse_vs_n.png'}")


def _pairwise_log_r(coefficients, sigma_c, thetas):
    """log p(z_i|theta_i)/p(z_i|0) for paired events and thetas."""
    m = np.asarray(monomials(jnp.asarray(thetas)))
    return np.log(np.sum(coefficients * m, axis=1) / coefficients[:, 0]) - np.log(m @ sigma_c / sigma_c[0])


def write_table(results, path):
    """Means over the seeds; with more than one seed also each seed's numbers and the events needed
    judged on the mean, on each seed and on every seed."""
    methods = results["methods"]
    sizes = sorted({e["n"] for v in methods.values() for e in v})
    seeds = sorted({e["seed"] for v in methods.values() for e in v})
    lines = ["| N | " + " | ".join(f"{m} MSE | {m} area/truth" for m in methods) + " |",
             "|---:|" + "---:|---:|" * len(methods)]
    incomplete = False
    for n in sizes:
        cells = []
        for m in methods:
            rows = [e for e in methods[m] if e["n"] == n]
            mse = np.mean([e["mse"] for e in rows])
            area = np.mean([e["area_ratio"] for e in rows])
            mark = "" if len(seeds) == 1 or {e["seed"] for e in rows} == set(seeds) else "*"
            incomplete |= bool(mark)
            cells.append(f"{mse:.3e}{mark} | {area:.3f}{mark}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    if len(seeds) > 1:
        lines.append(f"\n(means over seeds {', '.join(map(str, seeds))}"
                     + ("; * = not every seed was run at that N" if incomplete else "") + ")")
    lines.append(f"\nconstant guess (log r_hat = 0): MSE {results['mse_constant_guess']:.3e}\n")
    if len(seeds) == 1:
        lines.append(f"| method | events to reach the truth's contour area within {TOLERANCE:.0%} |")
        lines.append("|---|---|")
        for m in methods:
            hit = [n for n in sizes if all(abs(e["area_ratio"] - 1) <= TOLERANCE for e in methods[m] if e["n"] == n)]
            lines.append(f"| {m} | {min(hit) if hit else f'not reached at N <= {max(sizes)}'} |")
        path.write_text("\n".join(lines) + "\n")
        return

    def per_seed(m, n, key, fmt):
        rows = {e["seed"]: e[key] for e in methods[m] if e["n"] == n}
        each = " / ".join(fmt(rows[s]) if s in rows else "-" for s in seeds)
        return f"{each} ({fmt(np.mean(list(rows.values())))})" if rows else "-"

    label = " / ".join(f"seed {s}" for s in seeds)
    for title, key, fmt in ((f"area / truth, {label} (mean)", "area_ratio", lambda v: f"{v:.3f}"),
                            (f"MSE in 1e-4, {label} (mean)", "mse", lambda v: f"{v * 1e4:.3f}")):
        lines.append(f"{title}:\n")
        lines.append("| N | " + " | ".join(methods) + " |")
        lines.append("|---:|" + "---:|" * len(methods))
        for n in sizes:
            lines.append(f"| {n} | " + " | ".join(per_seed(m, n, key, fmt) for m in methods) + " |")
        lines.append("")

    def needed(ok, ran):
        hit = [n for n in sizes if ok(n)]
        missing = [str(n) for n in sizes if not ran(n)]
        return ((str(min(hit)) if hit else f"not reached at N <= {max(sizes)}")
                + (f" (N = {', '.join(missing)} not run)" if missing else ""))

    def ratios(m, n):
        return {e["seed"]: e["area_ratio"] for e in methods[m] if e["n"] == n}

    lines.append(f"Events needed to reach the truth's contour area within {TOLERANCE:.0%} (smallest N run):\n")
    lines.append("| method | on the mean of the seeds | " + " | ".join(f"seed {s}" for s in seeds) + " | every seed |")
    lines.append("|---|---|" + "---|" * len(seeds) + "---|")
    for m in methods:
        within = lambda v: abs(v - 1) <= TOLERANCE  # noqa: E731
        complete = lambda n: set(ratios(m, n)) == set(seeds)  # noqa: E731
        cells = [needed(lambda n: complete(n) and within(np.mean(list(ratios(m, n).values()))), complete)]
        cells += [needed(lambda n, s=s: s in ratios(m, n) and within(ratios(m, n)[s]), lambda n, s=s: s in ratios(m, n))
                  for s in seeds]
        cells.append(needed(lambda n: complete(n) and all(map(within, ratios(m, n).values())), complete))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


def plot(results, contours, ga, gb, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    styles = {"truth": "k", "histogram": "tab:blue", "SALLY": "tab:orange", "CARL": "tab:green", "ALICES": "tab:red",
              "RASCAL": "tab:purple", "MORPH": "tab:brown", "MORPH-E": "tab:pink"}
    for name, q in contours.items():
        ax.contour(ga, gb, q.reshape(len(ga), len(gb)).T, levels=[Q95], colors=styles.get(name, "gray"),
                   linewidths=2.5 if name == "truth" else 1.5)
        ax.plot([], [], color=styles.get(name, "gray"), label=name)
    ax.set_xlabel("cHW"), ax.set_ylabel("cHj3")
    n = max(e["n"] for v in results["methods"].values() for e in v)
    ax.set_title(f"expected 95% CL, 300 fb$^{{-1}}$, N = {n} training events")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "contours.png", dpi=120)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, rows in results["methods"].items():
        sizes = sorted({e["n"] for e in rows})
        ax.plot(sizes, [np.mean([e["mse"] for e in rows if e["n"] == s]) for s in sizes], "o-",
                color=styles[name], label=name)
        if len({e["seed"] for e in rows}) > 1:  # each seed, small and faint; the line is their mean
            ax.plot([e["n"] for e in rows], [e["mse"] for e in rows], ".", color=styles[name], alpha=0.5)
    ax.axhline(results["mse_constant_guess"], color="gray", ls="--", label="log r = 0")
    ax.set_xscale("log"), ax.set_yscale("log")
    n_seeds = len({e["seed"] for v in results["methods"].values() for e in v})
    ax.set_xlabel("training events N"), ax.set_ylabel("MSE of log r_hat vs truth"
                                                      + (f" (mean of {n_seeds} seeds)" if n_seeds > 1 else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "mse_vs_n.png", dpi=120)


if __name__ == "__main__":
    main()
