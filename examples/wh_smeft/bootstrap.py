"""How well the 95 % CL contour areas of a finished study run are known: a paired bootstrap of the test events.

The truth's contour and MORPH's are both averages over the same test events (the shape term
2 nu0 E_0[r - 1 - log r] of q(theta), study.contour_q), so both move when the test sample is drawn
again. Each bootstrap replicate redraws the N_test events with replacement (multinomial weights) and
recomputes, on the study's grid, the truth's area and MORPH's (or MORPH-E's) area (its a_hat(x) of the
largest N, seed 0, saved by study.py as morph_coefficients_test.npy / morph-e_coefficients_test.npy)
with the same weights. Reported: the truth's area over its nominal value and the method's area over the
truth's, as quantiles over replicates.

Run:  python examples/wh_smeft/bootstrap.py --output DIR [--method MORPH-E] [--replicates 200]
(DIR: a finished study.py run with MORPH; needs its truth_*.npy cache and results.json.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from methods import morph_log_r  # noqa: E402
from study import LUMINOSITY_PB, Q95, rate_term  # noqa: E402
from truth import monomials  # noqa: E402


def per_event_terms(log_r):
    """r - 1 - log r per event and theta: the summand of the KL shape term."""
    return np.exp(log_r) - 1 - log_r


def areas(terms, weights, rate, nu0, cell):
    """Contour areas (B,) for event weights (B, N_test) summing to 1 per replicate."""
    q = rate[None, :] + 2 * nu0 * (weights @ terms)
    return np.sum(q <= Q95, axis=1) * cell


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--method", choices=["MORPH", "MORPH-E"], default="MORPH")
    args = parser.parse_args(argv)
    results = json.loads((args.output / "results.json").read_text())
    cfg, box = results["config"], np.asarray(results["box"])
    sigma_c = np.asarray(results["sigma_coefficients_pb"])
    d_coeffs = np.load(args.output / f"truth_{cfg['n_test']}_{cfg['nodes']}.npy")
    a_morph = np.load(args.output / f"{args.method.lower()}_coefficients_test.npy")
    ga, gb = np.linspace(-box[0], box[0], cfg["grid"]), np.linspace(-box[1], box[1], cfg["grid"])
    grid = np.stack(np.meshgrid(ga, gb, indexing="ij"), axis=-1).reshape(-1, 2)
    cell = (ga[1] - ga[0]) * (gb[1] - gb[0])
    rate, nu0 = rate_term(sigma_c, grid)
    assert np.isclose(nu0, LUMINOSITY_PB * sigma_c[0])
    truth_terms = per_event_terms(np.asarray(morph_log_r(d_coeffs, sigma_c, grid, np.zeros(2))))
    morph_terms = per_event_terms(np.asarray(morph_log_r(a_morph, sigma_c, grid, np.zeros(2))))
    n = len(d_coeffs)
    nominal = np.full((1, n), 1.0 / n)
    truth0, morph0 = areas(truth_terms, nominal, rate, nu0, cell)[0], areas(morph_terms, nominal, rate, nu0, cell)[0]
    stored = [e for e in results["methods"][args.method] if e["seed"] == 0 and e["n"] == max(cfg["sizes"])][0]
    print(f"nominal: truth area {truth0:.4g} (study: {results['area_truth']:.4g}), {args.method}/truth {morph0 / truth0:.3f} "
          f"(study: {stored['area_ratio']:.3f})")
    rng = np.random.default_rng(args.seed)
    truth_b, morph_b = [], []
    for start in range(0, args.replicates, 20):
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(20, args.replicates - start)) / n
        truth_b.append(areas(truth_terms, weights, rate, nu0, cell))
        morph_b.append(areas(morph_terms, weights, rate, nu0, cell))
    truth_b, morph_b = np.concatenate(truth_b), np.concatenate(morph_b)
    ratio = morph_b / truth_b
    quantiles = [0.025, 0.16, 0.5, 0.84, 0.975]
    summary = {"method": args.method, "replicates": args.replicates, "truth_area_nominal": truth0, "morph_ratio_nominal": morph0 / truth0,
               "truth_area_over_nominal_quantiles": dict(zip(map(str, quantiles), np.quantile(truth_b / truth0, quantiles))),
               "morph_over_truth_quantiles": dict(zip(map(str, quantiles), np.quantile(ratio, quantiles))),
               "fraction_morph_within_10pc": float(np.mean(np.abs(ratio - 1) <= 0.1))}
    print(json.dumps(summary, indent=1))
    (args.output / f"bootstrap_{args.method.lower()}.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
