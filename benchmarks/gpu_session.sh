#!/usr/bin/env bash
# The measurements of one GPU session (a machine with an NVIDIA GPU, nvcc, JAX with CUDA and many cores),
# prepared to run unattended within a short lease. Results go to $OUT (default ./gpu_session_out).
#
#   bash benchmarks/gpu_session.sh smoke  # the environment, and g g > t t~ on the GPU against the CPU
#   bash benchmarks/gpu_session.sh main   # (about 7 minutes) the smoke test; CUDACPP CUDA builds (d, f) in the
#                                         # background; the physics tests on the GPU meanwhile; the Dask
#                                         # scale-out (e+ e- > mu+ mu-, the W H study) on the last 4 cores;
#                                         # madgen against CUDACPP, double precision
#   bash benchmarks/gpu_session.sh more   # (about 7 minutes, after main on the same machine) single precision
#                                         # against CUDACPP's float build; one seed twice, byte for byte; the
#                                         # kernels XLA launches (kernel_profile.py); g g > t t~ g g in value
#                                         # chunks; the event loop on the GPU
#
# Needs ../shared/anchors beside the checkout (or a shared/ inside it: linked there). Nothing is asserted here;
# tests/ asserts, benchmarks print. Written for a lease that returns at most 8 files from $OUT: build logs stay
# in /tmp, and the tests run with -v so that a test cut off by the timeout leaves the names of those before it.
set -u
phase=${1:-main}
out=${OUT:-gpu_session_out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
export CUDACPP_CACHE=${CUDACPP_CACHE:-/tmp/madgen-cudacpp} MADGEN_CACHE=${MADGEN_CACHE:-/tmp/madgen-cache}
[ -d ../shared ] || { [ -d shared ] && ln -sfn "$PWD/shared" ../shared; }
cores=$(nproc)
stamp() { echo "[$(date -u +%T)] $*"; }
# pin CORES COMMAND...: COMMAND on those cores (unpinned where taskset is missing)
pin() { local set=$1; shift; if command -v taskset >/dev/null; then taskset -c "$set" "$@"; else "$@"; fi; }

smoke() {
  stamp "environment" | tee "$out/env.txt"
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nvcc --version | tail -2
    python3 -c "import jax, numpy, madgen; print('jax', jax.__version__, 'numpy', numpy.__version__, jax.devices())"
    lscpu | grep -E 'Model name|^CPU\(s\)'; } 2>&1 | tee -a "$out/env.txt"
  # fail fast: one process generated and evaluated on the GPU against the CPU
  python3 - <<'EOF' 2>&1 | tee -a "$out/env.txt" 
import sys, tempfile, pathlib, numpy as np, jax
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, "benchmarks")
import madgen
from matrix_elements import phase_space_points
d = pathlib.Path(tempfile.mkdtemp())
(d / "c.yaml").write_text("model: sm\nprocess: g g > t t~\nname: smoke\n")
madgen.generate(d / "c.yaml", output=d / "smoke", force=True)
proc = madgen.load(d / "smoke")
p = phase_space_points(500.0, (173.0, 173.0), 1000)
gpu = np.asarray(proc.matrix_element(jax.device_put(p, jax.devices()[0])))
with jax.default_device(jax.devices("cpu")[0]):
    cpu = np.asarray(proc.matrix_element(jax.device_put(p, jax.devices("cpu")[0])))
print("smoke: backend", jax.default_backend(), "max |gpu/cpu - 1| =", float(np.max(np.abs(gpu / cpu - 1))))
EOF
  return "${PIPESTATUS[0]}"

}

if [ "$phase" = smoke ]; then
  smoke
elif [ "$phase" = main ]; then
  smoke || { stamp "smoke test failed"; exit 3; }
  stamp "CUDACPP CUDA builds (d and f) in the background"
  builders=()
  for fp in d f; do
    for p in ee_mumu gg_tt gg_ttg gg_ttgg; do
      pin 0-$((cores - 5)) python3 benchmarks/cudacpp_yardstick.py $p --backend cuda --fp $fp --build-only \
          >"/tmp/build_${fp}_$p.txt" 2>&1 &
      builders+=($!)
    done
  done

  stamp "Dask scale-out on cores $((cores - 4))-$((cores - 1)) (CPU workers), in the background"
  (export JAX_PLATFORMS=cpu
   pin $((cores - 4))-$((cores - 1)) timeout 250 python3 benchmarks/scaleout.py --events 1000000 --workers 1 2 4 \
       --repeats 1
   pin $((cores - 4))-$((cores - 1)) timeout 270 python3 benchmarks/scaleout.py --card examples/wh_smeft/wh_smeft.yaml \
       --run examples/wh_smeft/run_wh.yaml --parameters cHW cHj3 --events 100000 --workers 1 2 4 --repeats 1
  ) >"$out/scaleout.txt" 2>&1 &
  scaleout=$!

  stamp "physics tests on the GPU backend while CUDACPP builds"
  XLA_PYTHON_CLIENT_PREALLOCATE=false pin 0-$((cores - 5)) timeout 150 python3 -m pytest -v -p no:cacheprovider \
      -n 8 -rfE --durations=5 tests/test_matrix_elements.py tests/test_precision.py tests/test_device_loop.py \
      tests/test_gradients.py 2>&1 | grep -v -i "benchmark" | tee "$out/tests_gpu.txt" \
      | grep -E "FAILED|ERROR|passed|failed"

  stamp "waiting for the builds"
  for b in "${builders[@]}"; do wait "$b"; done
  tail -qn 1 /tmp/build_*.txt
  stamp "madgen vs CUDACPP CUDA, double precision"
  pin 0-$((cores - 5)) python3 benchmarks/matrix_elements.py --compare-cudacpp --cudacpp-backend cuda \
      --processes epem_mupmum gg_ttx gg_ttxg --batches 1048576 --repeats 5 --process-budget 60 \
      2>&1 | tee "$out/gpu_double.txt"
  pin 0-$((cores - 5)) python3 benchmarks/matrix_elements.py --compare-cudacpp --cudacpp-backend cuda \
      --processes gg_ttxgg --batches 131072 --repeats 5 --process-budget 100 --skip-gradient \
      2>&1 | tee "$out/gpu_double_ttgg.txt"
  stamp "waiting for the scale-out"
  wait "$scaleout"; cat "$out/scaleout.txt"
  stamp "done"
elif [ "$phase" = more ]; then
  stamp "madgen vs CUDACPP CUDA, single precision"
  python3 benchmarks/matrix_elements.py --compare-cudacpp --cudacpp-backend cuda --precision single \
      --processes epem_mupmum gg_ttx gg_ttxg --batches 1048576 --repeats 5 --skip-gradient \
      2>&1 | tee "$out/gpu_single.txt"
  stamp "one seed, one run on the GPU: two launches of e+ e- > mu+ mu- compared byte for byte"
  printf 'model: sm\nprocess: e+ e- > mu+ mu-\nname: repro\n' >/tmp/repro.yaml
  printf 'sqrt_s: 91.188\nn_events: 20000\nseed: 7\n' >/tmp/repro_run.yaml
  for copy in a b; do
    python3 -m madgen.cli generate /tmp/repro.yaml --output /tmp/repro_$copy --force >/dev/null && \
      python3 -m madgen.cli launch /tmp/repro_$copy --run /tmp/repro_run.yaml 2>&1 | tail -2
  done
  cmp /tmp/repro_a/Events/run_01/events.lhe /tmp/repro_b/Events/run_01/events.lhe && echo "events.lhe identical"
  stamp "the kernels XLA launches for |M|^2 (count, cost model, trace)"
  timeout 120 python3 benchmarks/kernel_profile.py --processes epem_mupmum gg_ttxg --batch 1048576 \
      2>&1 | tee "$out/kernels_gpu.txt"
  stamp "g g > t t~ g g in value chunks of 16384 events on the GPU (faster at 16384 than at 131072 events)"
  for chunk in off 16384; do
    MADGEN_VALUE_CHUNK=$chunk python3 benchmarks/matrix_elements.py --compare-cudacpp --cudacpp-backend cuda \
        --processes gg_ttxgg --batches 131072 --repeats 5 --skip-gradient 2>&1 | tee -a "$out/gpu_ttgg_chunks.txt"
  done
  stamp "event loop on the GPU"
  timeout 100 python3 benchmarks/runtime.py --processes gg_ttxg epem_mupmum --batch 65536 --events 100000 \
      2>&1 | tee "$out/runtime_gpu.txt"
  stamp "done"
else
  echo "usage: gpu_session.sh smoke|main|more" >&2
  exit 2
fi
