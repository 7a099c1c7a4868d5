"""Independent check of MORPH-E (designed after the diagnosis on the study's test events): a fresh test
sample (mining seed 2, 50000 SM events), its truth, and MORPH / MORPH-E trained on the first 1e5 non-test
events of the study's gold (N = 1e5, 2000 steps, alpha 1), contour areas against the fresh truth.

    python examples/wh_smeft/fresh_test.py RUN_DIR [FRESH_DIR]

RUN_DIR: the --output of a finished ``study.py --full --n-test 50000`` run; FRESH_DIR (default
RUN_DIR/fresh): where the fresh sample and its truth are kept (the truth is cached there)."""
import sys, json, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np, jax, jax.numpy as jnp, yaml
import study
import madgen
from madgen.pdf import load_pdf
from madgen.runtime.runcard import RunCard
from methods import features, train_morph, morph_log_r, EnergyRows
from truth import observed, TrueLikelihood, rescale, BASIS_POINTS

if len(sys.argv) not in (2, 3):
    sys.exit(__doc__)
run_dir = Path(sys.argv[1])
fresh = Path(sys.argv[2]) if len(sys.argv) == 3 else run_dir / "fresh"
fresh.mkdir(parents=True, exist_ok=True)
r = json.loads((run_dir / "results.json").read_text())
box, sigma_c = np.asarray(r["box"]), np.asarray(r["sigma_coefficients_pb"])
bp = np.array([1, box[0], box[1], box[0]**2, box[1]**2, box[0]*box[1]])
run_map = {**yaml.safe_load((study.HERE / "run_wh.yaml").read_text()), "seed": 2}
t0 = time.perf_counter()
gold_f = study.gold_sample(run_dir / "wh_smeft", run_map, 50000, fresh / "gold_sm.h5")
print(f"mined {len(gold_f)} ({time.perf_counter() - t0:.0f} s)", flush=True)
e, b, bb = observed(gold_f.momenta)
cache = fresh / "truth.npy"
if cache.exists():
    d = np.load(cache)
else:
    run = RunCard.from_mapping(run_map)
    truth = TrueLikelihood(madgen.load(run_dir / "wh_smeft"), run, load_pdf(run.pdf), gold_f.parameters, n_nodes=32)
    d = rescale(truth.likelihood_basis(e, b, bb, scale=study.BASIS_SCALE), study.BASIS_SCALE)
    np.save(cache, d)
print(f"truth ({time.perf_counter() - t0:.0f} s)", flush=True)
x_f = features(e, b, bb)
ga, gb = np.linspace(-box[0], box[0], 61), np.linspace(-box[1], box[1], 61)
grid = np.stack(np.meshgrid(ga, gb, indexing="ij"), axis=-1).reshape(-1, 2)
cell = (ga[1] - ga[0]) * (gb[1] - gb[0])
area = lambda c: np.sum(study.contour_q(np.asarray(morph_log_r(c, sigma_c, grid, np.zeros(2))), sigma_c, grid) <= study.Q95) * cell
area_t = area(d)
print(f"fresh truth area {area_t:.4g} (study's test events: {r['area_truth']:.4g})", flush=True)
from madgen.inference import read_gold
gold = read_gold(run_dir / "gold_sm.h5")
coeffs, _ = study.me2_coefficients(gold)
ge, gbq, gbb = observed(gold.momenta)
x = features(ge, gbq, gbb)
idx = np.arange(50000, 150000)
for name in ("MORPH", "MORPH-E"):
    rows = EnergyRows(12, float(np.median(x[idx, 12]))) if name == "MORPH-E" else None
    m = train_morph(x[idx], coeffs[idx] * bp, jax.random.key(100000), 2000, np.zeros(2), alpha=1.0, row_scale=rows)
    a = m.coefficients(x_f) / bp
    print(f"{name}: area / fresh truth {area(a) / area_t:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
