#!/usr/bin/env bash
# demo.sh [DEMO OPTIONS] — builds what `cufactor demo` needs and runs it: synthetic
# MovieLens-sized data, training, metrics and recommendations.
#
# Only the cufactor program is built (no tests, no benchmarks), in build-demo/, for the
# GPU of this machine (its compute capability from nvidia-smi) or, where none is found,
# without CUDA; the build's progress is shown as it goes. Arguments go to `cufactor demo`
# (e.g. scripts/demo.sh --device cpu --keep out/). CUFACTOR_CMAKE_ARGS adds cmake options.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build-demo
say() { echo "demo.sh: $*" >&2; }

say "checking the build dependencies"
"$root/scripts/deps.sh"

cuda=(-DCUFACTOR_CUDA=OFF)
cap=""
if command -v nvidia-smi >/dev/null 2>&1; then
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .\r' || true)
fi
if [[ "$cap" =~ ^[0-9]+$ ]] && command -v nvcc >/dev/null 2>&1; then
  cuda=(-DCUFACTOR_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$cap")
  say "building for the local GPU (compute capability ${cap:0:${#cap}-1}.${cap: -1}) in $dir"
elif [[ "$cap" =~ ^[0-9]+$ ]]; then
  say "a GPU is present but no CUDA compiler (nvcc): building the CPU version in $dir"
else
  say "no NVIDIA GPU found: building the CPU version (no CUDA) in $dir"
fi

t0=$SECONDS
mkdir -p "$dir"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCUFACTOR_TESTS=OFF -DCUFACTOR_BENCH=OFF \
  "${cuda[@]}" ${CUFACTOR_CMAKE_ARGS:-} >"$dir/configure.log" 2>&1 || {
  cat "$dir/configure.log" >&2; say "configuring failed (log above)"; exit 1; }
say "configured in $((SECONDS - t0)) s; compiling the cufactor program only"
# make prints "[ 42%] Building C object ..." per file: the progress, one line each
set +e
cmake --build "$dir" --target cufactor -j"$(nproc)" 2>&1 |
  grep --line-buffered -E '^\[ *[0-9]+%\]|error|warning' | sed -u 's/^/  /' >&2
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { say "the build failed (exit $rc; the errors above)"; exit 1; }
say "built in $((SECONDS - t0)) s; running: cufactor demo $*"
exec "$dir/cufactor" demo "$@"
