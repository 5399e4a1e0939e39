#!/usr/bin/env bash
# bench/build_cumf_sgd.sh — builds the peer of issue 15, cuMF_SGD (github.com/cuMF/cumf_sgd,
# Apache-2.0; its single-GPU program), for sm_90 (H100 / H200), from a copy of its source
# outside this repository: nothing of it is copied into the tree; the binary travels in the
# GPU session's pack (bench/gpu_session.sh pack with CUMF_SGD_SRC set), and its step
# `peer-cumf-sgd` runs it on the bench set beside bench_sgd at the same settings.
#
# usage: bench/build_cumf_sgd.sh SRC OUT
#   SRC  the repository: a work tree (SRC/singleGPU/) or a bare git directory (what the
#        `fetch` tool leaves: /work/.mirror/cuMF+cumf_sgd/repo), its HEAD archived
#   OUT  the binary to write
#
# Two changes to how it is built, both needed by today's toolchain, and one line of its source:
#   - CUDA 13 has no unsynchronized warp shuffles (__shfl, __shfl_down: removed for sm_70
#     and later); a header forced in front of each .cu (-include) defines them for the int,
#     long long and float arguments its kernel passes, as the _sync forms over the full
#     warp (every lane of its warp runs each shuffle it makes);
#   - its Makefile's -gencode flags (sm_35..50) become sm_90, and its -march=native
#     becomes x86-64-v2, so that the host code runs on the device machine's CPU, not only
#     on the one that built it;
#   - its reader of a split input (PATH0, PATH1, ... on a thread each, what bench_peer
#     --export writes) leaves offset_list[0] uninitialized (sgd.cu: `long long
#     offset_list[128];`, then offset_list[i] = offset_list[i-1] + ... from i = 1): the
#     declaration gets "= {0}", so that the first file lands at record 0 and not wherever
#     the stack's garbage points. (2026-12-04's run read one file, a path without it.)
set -euo pipefail
src=${1:?usage: bench/build_cumf_sgd.sh SRC OUT}
out=${2:?usage: bench/build_cumf_sgd.sh SRC OUT}
export PATH=/usr/local/cuda/bin:$PATH
command -v nvcc >/dev/null || { echo "build_cumf_sgd: no nvcc" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -d "$src/singleGPU" ]; then
    cp -r "$src/singleGPU" "$tmp/"
elif git --git-dir="$src" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    git --git-dir="$src" archive HEAD singleGPU | tar x -C "$tmp"
else
    echo "build_cumf_sgd: $src: neither a work tree with singleGPU/ nor a git directory" >&2
    exit 1
fi
[ -f "$tmp/singleGPU/Makefile" ] || { echo "build_cumf_sgd: $src has no singleGPU/Makefile" >&2; exit 1; }
cat >"$tmp/shfl_compat.h" <<'EOF'
/* The pre-CUDA-9 warp shuffles cuMF_SGD calls, as full-warp _sync shuffles (sm_70+). */
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
static __device__ __forceinline__ int __shfl(int v, int lane, int w = 32) { return __shfl_sync(0xffffffffu, v, lane, w); }
static __device__ __forceinline__ long long __shfl(long long v, int lane, int w = 32) {
    return __shfl_sync(0xffffffffu, v, lane, w);
}
static __device__ __forceinline__ float __shfl(float v, int lane, int w = 32) {
    return __shfl_sync(0xffffffffu, v, lane, w);
}
static __device__ __forceinline__ float __shfl_down(float v, int d, int w = 32) {
    return __shfl_down_sync(0xffffffffu, v, d, w);
}
#endif
EOF
sed -i 's/-march=native/-march=x86-64-v2/g' "$tmp/singleGPU/Makefile"
sed -i 's/^\( *\)long long offset_list\[128\];/\1long long offset_list[128] = {0};/' "$tmp/singleGPU/sgd.cu"
grep -q 'long long offset_list\[128\] = {0};' "$tmp/singleGPU/sgd.cu" ||
    { echo "build_cumf_sgd: sgd.cu: the offset_list declaration was not found to initialize" >&2; exit 1; }
make -C "$tmp/singleGPU" -s CU_FLAG="-gencode arch=compute_90,code=sm_90 -include $tmp/shfl_compat.h" \
    >"$tmp/build.log" 2>&1 || { grep -v "ptxas info\|bytes stack frame\|Used .* registers\|Compiling entry\|Function properties" "$tmp/build.log" | tail -30 >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$tmp/singleGPU/cumf_sgd" "$out"
echo "build_cumf_sgd: $out ($(git --git-dir="$src" rev-parse --short=12 HEAD 2>/dev/null || git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo '?'))"
