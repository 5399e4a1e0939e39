#!/usr/bin/env bash
# sim.sh [BUILD_DIR] — the GPU code on the CPU simulation of a CUDA device (src/gpusim;
# docs/RELIABILITY.md "GPU tests without a GPU"): configures CUFACTOR_GPU_SIM=ON (no CUDA toolkit
# needed) under AddressSanitizer + UndefinedBehaviorSanitizer, builds the CLI and the GPU
# tests, runs every GPU test (none may skip there: the simulated device always exists),
# then `cufactor verify` — the simulated GPU against the CPU reference — on a small
# generated set for ALS (both --als-solver, and --als-gram tc), SGD (blocks, and hogwild
# with its blocks co-resident), GD and mini-batch GD, a `train --json` whose CUDA
# start overlaps the read, and a GPU checkpoint resumed from the CLI. Set
# CUFACTOR_SIM_SANITIZE=OFF for a plain build (about 3× faster). Takes ≈ 18 min on 2
# cores with the sanitizers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build-sim}
san=${CUFACTOR_SIM_SANITIZE:-ON}
"$root/scripts/deps.sh"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUFACTOR_GPU_SIM=ON -DCUFACTOR_CUDA=OFF \
  -DCUFACTOR_SANITIZE="$san" -DCUFACTOR_WERROR=ON -DCUFACTOR_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target cufactor test_gpu_als test_gpu_sgd test_gpulib_sim test_gpusim
cd "$dir"
# the GPU tests and the simulation's own (ctest names: test_gpu_*, test_gpulib_sim*,
# test_gpusim), verbose into sim-ctest.log; shown here: each program's count of tests
# (Criterion's Synthesis line), each ctest result, and any failure
set +e
ctest -V -R '^test_gpu' >sim-ctest.log 2>&1
rc=$?
set -e
grep -E 'Synthesis: Tested|Test +#[0-9]+: |tests passed|\[FAIL\]|Assertion|cufactor-sim:|ERROR: AddressSanitizer|runtime error' sim-ctest.log || true
if [ "$rc" -ne 0 ]; then
  echo "sim.sh: GPU tests failed under the simulation (full log: $dir/sim-ctest.log)" >&2
  exit 1
fi
if grep -Eq '\(Skipped\)|Not Run' sim-ctest.log; then
  echo "sim.sh: a GPU test was skipped under the simulation" >&2
  exit 1
fi

# cufactor verify: the simulated GPU against the CPU reference (exit 1 on disagreement)
data=$dir/sim-verify.tsv
./cufactor gen --users 2000 --items 1000 --ratings 50000 --rank 8 --noise 0.3 --seed 3 --out "$data" >/dev/null
for args in "--algo als --factors 32" "--algo als --factors 32 --als-solver fused" \
  "--algo als --factors 32 --als-gram tc" "--algo sgd --schedule blocks --factors 32" "--algo gd --factors 16" \
  "--algo minibatch --factors 16"; do
  echo "== cufactor verify $args --iters 3 (simulated GPU vs CPU)"
  # shellcheck disable=SC2086
  ./cufactor verify "$data" $args --iters 3 2>&1 | tail -3
done
# hogwild with every block of its launch co-resident, warps racing as on a GPU (21 warps
# here: one per 2,048 of the 45 k training ratings), end to end under the sanitizers.
# Three iterations are on the steep part of the curve, where another order alone moves
# the test RMSE by up to 2 % (one block at a time: +1.7 %, −1.4 %, −2.0 % against the
# CPU's shuffle), hence --rmse-rtol 0.05; hogwild's quality is gpu_sgd's tests' (20 epochs).
echo "== cufactor verify --algo sgd --schedule hogwild --factors 32 --iters 3 --rmse-rtol 0.05, blocks co-resident"
CUFACTOR_SIM_RESIDENT=4096 ./cufactor verify "$data" --algo sgd --schedule hogwild --factors 32 --iters 3 \
  --rmse-rtol 0.05 2>&1 | tail -3
# cufactor train on the simulated device, CUDA started on a thread during the read
echo "== cufactor train --device gpu --json (CUDA's start-up during the read)"
./cufactor train "$data" --device gpu --algo als --factors 8 --iters 2 --json --quiet >sim-train.json
grep -Eo '"device_start_seconds":[0-9][^,]*' sim-train.json || {
  echo "sim.sh: train did not start the simulated device during the read: $(cat sim-train.json)" >&2
  exit 1
}
# a checkpoint from the CLI on the simulated device (the GPU backend writes it), resumed
# there: the same model as one training (the test RMSE to the last digit printed)
echo "== cufactor train --device gpu --checkpoint, then --resume (the same as one training)"
ck=(--device gpu --algo als --factors 8 --iters 4 --json --quiet)
./cufactor train "$data" "${ck[@]}" >sim-straight.json
rm -f sim.cfc
./cufactor train "$data" "${ck[@]}" --checkpoint sim.cfc --checkpoint-every 2 >/dev/null
./cufactor train "$data" "${ck[@]}" --resume sim.cfc >sim-resumed.json
model_rmse() { awk -F'"test_rmse":' '{ split($2, v, ","); print v[1] }' "$1"; } # the first: the model's
straight=$(model_rmse sim-straight.json) resumed=$(model_rmse sim-resumed.json)
if ! grep -q '"resumed_from":2' sim-resumed.json || [ -z "$straight" ] || [ "$straight" != "$resumed" ]; then
  echo "sim.sh: the resumed GPU training differs: $straight, resumed $resumed ($(cat sim-resumed.json))" >&2
  exit 1
fi
echo "resumed from iteration 2: $resumed, as one training"
echo "sim.sh: GPU tests and verify passed on the simulated device"
