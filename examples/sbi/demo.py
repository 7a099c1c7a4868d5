"""Simulation-based inference with gold from madgen: CARL vs SALLY vs ALICE vs ALICES.

Process e+ e- > mu+ mu- at sqrt(s) = 91.188 GeV, parameter theta = MZ (in the Gf scheme it also
moves sin^2 theta_W, so the angular distribution changes). Observable x: cos(theta) of the mu-
smeared by a Gaussian (sigma 0.1, a toy detector). Hypotheses theta0 = 91.188, theta1 = 96.188 GeV
(a shift large enough that Var_theta0(log r(x)) ~ 0.08, i.e. a classifier has something to learn at
N <= 10^4 events).

1. ``madgen.inference.mine`` samples parton-level events z at theta0 and theta1 with their joint
   log r(z|theta0, theta1) and joint score t(z|theta0).
2. The true log r(x|theta0, theta1) is computed by quadrature: p(c|theta) is proportional to
   |M|^2(c; theta) inside the cuts (2 -> 2 at fixed energy: dPhi is flat in cos theta), convolved
   with the smearing.
3. Small MLPs (JAX + optax) estimate log r(x|theta0, theta1) from N training events:
   CARL (classifier, no gold), SALLY (score regression, local linear log r), ALICE (classifier on
   the joint-ratio soft labels), ALICES (ALICE + score term, on a ratio quadratic in theta).
   All four share the architecture, the initialisation (last layer zero: the untrained network is
   a constant), the optimiser (AdamW, weight decay), the step budget and the early stopping (best
   held-out loss, the untrained network included).
4. Expected squared error E_{x ~ theta0}[(log r_hat - log r)^2] vs N: table and plot; the number of
   training events each method needs to reach the error that CARL reaches at a given N.

Run:  python examples/sbi/demo.py [--quick]   (outputs in examples/sbi/output/)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

jax.config.update("jax_enable_x64", True)

HERE = Path(__file__).resolve().parent
THETA0, THETA1 = 91.188, 96.188
SMEAR = 0.1
RUN = {"sqrt_s": 91.188, "seed": 1, "warmup_iterations": 2, "iterations": 3, "points_per_iteration": 8000,
       "batch_size": 4096, "channels": "rambo", "lhe": False}


def observable(momenta, rng):
    """Smeared cos(theta) of the mu- (leg 3) with respect to the e+ beam (+z)."""
    p = momenta[:, 3]
    cos = p[:, 3] / np.linalg.norm(p[:, 1:], axis=1)
    return cos + SMEAR * rng.normal(size=len(cos))


def true_log_r(process, x, run_card):
    """log p(x|theta0) / p(x|theta1) by quadrature over cos(theta) of the mu-."""
    from madgen.runtime.cuts import cut_function
    from madgen.runtime.runcard import RunCard

    run = RunCard.from_mapping(run_card)
    energy = run.sqrt_s / 2
    c = np.linspace(-1, 1, 4001)
    s = np.sqrt(1 - c ** 2)
    zeros = np.zeros_like(c)
    beams = np.broadcast_to([[energy, 0, 0, energy], [energy, 0, 0, -energy]], (len(c), 2, 4))
    mu_minus = energy * np.stack([np.ones_like(c), s, zeros, c], axis=1)
    mu_plus = mu_minus * np.array([1, -1, -1, -1])
    momenta = np.concatenate([beams, mu_plus[:, None], mu_minus[:, None]], axis=1)
    passed = np.asarray(cut_function(run.cuts, process.pdg_ids, 2, masses=np.asarray(process.masses()))(momenta))
    log_density = []
    for theta in (THETA0, THETA1):
        density = np.asarray(process.matrix_element(momenta, {"MZ": theta})) * passed
        density /= np.trapezoid(density, c)
        kernel = np.exp(-0.5 * ((x[:, None] - c[None, :]) / SMEAR) ** 2) / (SMEAR * np.sqrt(2 * np.pi))
        log_density.append(np.log(np.trapezoid(kernel * density[None, :], c, axis=1)))
    return log_density[0] - log_density[1]


# ----------------------------------------------------------------------------- networks


def init_mlp(key, sizes):
    """LeCun-normal hidden layers; the last layer is zero, so the untrained network is the constant 0
    (for the classifiers: log r_hat = 0, the constant guess up to the small offset E[log r])."""
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


LEARNING_RATE, WEIGHT_DECAY, L2, BLOCK = 1e-3, 1e-2, 1e-3, 20


def train(loss, params, steps, data, learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY, l2=L2, block=BLOCK):
    """Full-batch AdamW (decoupled weight decay) on loss(params, batch) over the first 80% of every
    array in ``data``; early stopping: the parameters with the lowest loss on the last 20%, checked
    every ``block`` steps, the initial parameters included; plus an L2 penalty l2 * sum(W^2) on the
    weight matrices in the training loss (so training can only improve on the
    constant network on the held-out split). Identical for all methods."""
    optimiser = optax.adamw(learning_rate, weight_decay=weight_decay)
    split = {k: int(0.8 * len(v)) for k, v in data.items()}
    fit = {k: v[:split[k]] for k, v in data.items()}
    held = {k: v[split[k]:] for k, v in data.items()}

    @jax.jit
    def run(params, state):
        def step(carry, _):
            params, state = carry
            grads = jax.grad(lambda p: loss(p, fit) + l2 * sum(jnp.sum(w ** 2) for w, _ in p))(params)
            updates, state = optimiser.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, state), _ = jax.lax.scan(step, (params, state), None, length=block)
        return params, state, loss(params, held)

    state, best, best_loss = optimiser.init(params), params, float(jax.jit(loss)(params, held))
    for _ in range(max(steps // block, 1)):
        params, state, held_loss = run(params, state)
        if float(held_loss) < best_loss:
            best, best_loss = params, float(held_loss)
    return best


def bce(logit, target):
    """Binary cross-entropy with (soft) targets, from logits."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logit, target))


LAYERS = [1, 32, 32, 1]
DELTA = THETA0 - THETA1  # ALICES: theta in units of (theta - theta1) / |DELTA|


def estimators(data, n, key, steps):
    """Fit every method on the first n/2 events of each hypothesis; return log r_hat functions."""
    half = n // 2
    perm = np.random.default_rng(int(key[-1])).permutation(2 * half)  # mix the classes before the split
    x = jnp.concatenate([data["x0"][:half], data["x1"][:half]])[perm, None]
    y = jnp.concatenate([jnp.zeros(half), jnp.ones(half)])[perm]  # 1: theta1
    log_r = jnp.concatenate([data["log_r0"][:half], data["log_r1"][:half]])[perm]  # log p(z|th0)/p(z|th1)
    soft = jax.nn.sigmoid(-log_r)  # s(x, z) = 1 / (1 + r(x, z)): probability of theta1
    # score t(z|theta0) (in units of |DELTA|) on theta0 events, 0 with weight 0 on theta1 events
    scale = abs(DELTA)
    score = jnp.concatenate([data["score0"][:half] * scale, jnp.zeros(half)])[perm]
    is0 = 1.0 - y
    batch = {"x": x, "y": y, "soft": soft, "score": score, "is0": is0}
    keys = jax.random.split(key, 4)
    fitted = {}

    # CARL: log r_hat = -logit
    params = train(lambda p, b: bce(mlp(p, b["x"])[:, 0], b["y"]), init_mlp(keys[0], LAYERS), steps, batch)
    fitted["CARL"] = lambda xs, p=params: -mlp(p, xs[:, None])[:, 0]

    # ALICE: the same classifier on the joint-ratio soft labels
    params = train(lambda p, b: bce(mlp(p, b["x"])[:, 0], b["soft"]), init_mlp(keys[1], LAYERS), steps,
                   batch)
    fitted["ALICE"] = lambda xs, p=params: -mlp(p, xs[:, None])[:, 0]

    # ALICES: log r_hat(x|theta, theta1) = u g(x) + u^2 h(x) with u = (theta - theta1) / |DELTA|,
    # at theta0 (u = -1): log r_hat = -g + h; its theta-derivative times |DELTA|: g - 2h = t_hat(x|theta0)
    def alices_loss(p, b):
        out = mlp(p, b["x"])
        squared = (out[:, 0] - 2 * out[:, 1] - b["score"]) ** 2
        return bce(out[:, 0] - out[:, 1], b["soft"]) + jnp.sum(b["is0"] * squared) / jnp.sum(b["is0"])

    params = train(alices_loss, init_mlp(keys[2], LAYERS[:-1] + [2]), steps, batch)
    fitted["ALICES"] = lambda xs, p=params: (lambda o: -o[:, 0] + o[:, 1])(mlp(p, xs[:, None]))

    # SALLY: t_hat(x) by regression on theta0 events; log r_hat = -D t_hat + log E_theta0[exp(D t_hat)],
    # D = theta1 - theta0 (the local, self-normalised linear approximation)
    params = train(lambda p, b: jnp.sum(b["is0"] * (mlp(p, b["x"])[:, 0] - b["score"]) ** 2) / jnp.sum(b["is0"]),
                   init_mlp(keys[3], LAYERS), steps, batch)
    shift = THETA1 - THETA0
    t_train = mlp(params, jnp.asarray(data["x0"][:half, None]))[:, 0] / scale
    log_norm = jnp.log(jnp.mean(jnp.exp(shift * t_train)))
    fitted["SALLY"] = lambda xs, p=params: -shift * mlp(p, xs[:, None])[:, 0] / scale + log_norm
    return fitted


# ----------------------------------------------------------------------------- main


def events_needed(sizes, mean_errors, target):
    """Smallest N at which a mean error curve reaches ``target`` (log-log interpolation between the
    first size at or below it and the one before). Returns (N, kind): kind '=' (interpolated), '<='
    (already reached at the smallest N: an upper bound) or '>' (not reached: a lower bound)."""
    log_n, log_e = np.log(sizes), np.log(mean_errors)
    below = np.nonzero(mean_errors <= target)[0]
    if not len(below):
        return float(sizes[-1]), ">"
    i = below[0]
    if i == 0:
        return float(sizes[0]), "<="
    f = (log_e[i - 1] - np.log(target)) / (log_e[i - 1] - log_e[i])
    return float(np.exp(log_n[i - 1] + f * (log_n[i] - log_n[i - 1]))), "="


def needed_table(sizes, errors, methods):
    """For each CARL size N_C (from the second on): the N each method needs to reach CARL's error at N_C,
    and the ratio N_C / N (events saved)."""
    rows = ["| target: CARL error at N | target MSE | " + " | ".join(f"{m}: N (ratio)" for m in methods[1:]) + " |",
            "|---:|---:|" + "---:|" * (len(methods) - 1)]
    result = []
    carl = errors["CARL"].mean(axis=1)
    for j in range(1, len(sizes)):
        target, cells, entry = carl[j], [], {"carl_n": sizes[j], "target": float(carl[j])}
        for m in methods[1:]:
            n, kind = events_needed(np.asarray(sizes, float), errors[m].mean(axis=1), target)
            ratio = sizes[j] / n
            entry[m] = {"n": n, "kind": kind, "ratio": ratio}
            cells.append({"=": f"{n:.0f} ({ratio:.1f}x)", "<=": f"<= {n:.0f} (>= {ratio:.0f}x)",
                          ">": f"> {n:.0f} (< {ratio:.1f}x)"}[kind])
        rows.append(f"| {sizes[j]} | {target:.2e} | " + " | ".join(cells) + " |")
        result.append(entry)
    return rows, result



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N <= 3000, 2 seeds, fewer steps (a few minutes)")
    parser.add_argument("--output", default=str(HERE / "output"))
    args = parser.parse_args(argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    sizes = [100, 300, 1000, 3000] if args.quick else [100, 300, 1000, 3000, 10000]
    n_test = 2000 if args.quick else 5000
    steps = 1000 if args.quick else 2000
    seeds = 2 if args.quick else 3

    import madgen
    from madgen.inference import mine

    start = time.perf_counter()
    package = output / "sbi_ee_mumu"
    if not (package / "__init__.py").exists():
        madgen.generate(HERE / "ee_mumu.yaml", output=package, force=True)
    process = madgen.load(package)
    n_max = sizes[-1] // 2
    gold0 = mine(package, {**RUN, "n_events": n_max + n_test, "seed": 1}, ["MZ"], theta_ref=[THETA0],
                 thetas=[[THETA1]], output=output / "gold_theta0.h5", log=lambda *a: None)
    gold1 = mine(package, {**RUN, "n_events": n_max, "seed": 2}, ["MZ"], theta_ref=[THETA1],
                 thetas=[[THETA0]], output=output / "gold_theta1.h5", log=lambda *a: None)
    mining_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    x0_all, x1 = observable(gold0.momenta, rng), observable(gold1.momenta, rng)
    data = {"x0": x0_all[:n_max], "x1": x1, "log_r0": gold0.log_r[:n_max, 0], "log_r1": -gold1.log_r[:, 0],
            "score0": gold0.score[:n_max, 0]}
    x_test = x0_all[n_max:]
    truth = true_log_r(process, x_test, RUN)
    floor_sally = None
    print(f"mined {len(gold0)} + {len(gold1)} events in {mining_s:.0f} s; sigma(theta0) = "
          f"{gold0.sigma_ref_pb:.1f} pb, sigma(theta1) = {gold1.sigma_ref_pb:.1f} pb; "
          f"Fisher I_MZ per event = {gold0.fisher[0, 0]:.3g} +- {gold0.fisher_error[0, 0]:.2g} GeV^-2")
    print(f"true log r on the test set: mean {truth.mean():.4f}, variance {truth.var():.3g} "
          f"(the MSE of the constant estimator)")

    methods = ["CARL", "SALLY", "ALICE", "ALICES"]
    errors = {m: np.zeros((len(sizes), seeds)) for m in methods}
    for i, n in enumerate(sizes):
        for seed in range(seeds):
            shuffle = np.random.default_rng(100 + seed)
            order0, order1 = shuffle.permutation(n_max), shuffle.permutation(n_max)
            sample = {k: (v[order1] if k == "x1" or k == "log_r1" else v[order0]) for k, v in data.items()}
            fitted = estimators(sample, n, jax.random.PRNGKey(seed), steps)
            for name in methods:
                errors[name][i, seed] = float(np.mean((np.asarray(fitted[name](jnp.asarray(x_test))) - truth) ** 2))
        print(f"N = {n:5d}: " + ", ".join(f"{m} {errors[m][i].mean():.2e}" for m in methods), flush=True)

    total_s = time.perf_counter() - start
    table = ["| N train | " + " | ".join(methods) + " |", "|---:|" + "---:|" * len(methods)]
    for i, n in enumerate(sizes):
        table.append(f"| {n} | " + " | ".join(f"{errors[m][i].mean():.2e} ± {errors[m][i].std() / np.sqrt(seeds):.1e}"
                                              for m in methods) + " |")
    table.append(f"| constant guess Var(log r) | {truth.var():.2e} | | | |")
    needed_rows, needed = needed_table(sizes, errors, methods)
    print("\n".join(table))
    print()
    print("\n".join(needed_rows))
    print(f"total {total_s:.0f} s")
    summary = {"sizes": sizes, "seeds": seeds, "steps": steps, "n_test": n_test, "theta0": THETA0, "theta1": THETA1,
               "smear": SMEAR, "layers": LAYERS, "learning_rate": LEARNING_RATE,
               "weight_decay": WEIGHT_DECAY, "early_stopping_block": BLOCK, "events_needed": needed, "mse": {m: errors[m].tolist() for m in methods},
               "true_log_r_variance": float(truth.var()), "fisher_mz": float(gold0.fisher[0, 0]),
               "sigma_theta0_pb": gold0.sigma_ref_pb, "sigma_theta1_pb": gold1.sigma_ref_pb, "time_s": total_s}
    (output / "results.json").write_text(json.dumps(summary, indent=2))
    (output / "table.md").write_text("\n".join(table) + "\n\n" + "\n".join(needed_rows) + "\n")
    plot(sizes, errors, truth, output)


def plot(sizes, errors, truth, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, marker in zip(errors, "osD^"):
        mean, spread = errors[name].mean(axis=1), errors[name].std(axis=1)
        ax.errorbar(sizes, mean, yerr=spread, marker=marker, capsize=3, label=name)
    ax.axhline(truth.var(), color="grey", ls=":", label="Var(log r): constant guess")
    ax.set(xscale="log", yscale="log", xlabel="training events N",
           ylabel=r"$E_{x\sim\theta_0}[(\log\hat r - \log r)^2]$",
           title=rf"$e^+e^-\to\mu^+\mu^-$, $\theta = M_Z$: {THETA0} vs {THETA1} GeV")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output / "mse_vs_n.png", dpi=120)
    print(f"plot: {output / 'mse_vs_n.png'}")


if __name__ == "__main__":
    main()
