#!/usr/bin/env bash
# gpu_session.sh — the checks of issue 4 that need a GPU, in two steps, because the lent
# GPU machine has CUDA, CMake and compute-sanitizer but not OpenBLAS, LAPACKE or Criterion:
#
#   bench/gpu_session.sh pack          on this machine (no GPU needed): builds the GPU
#                                      test and the benchmark for sm_90 (H100/H200) into
#                                      build-gpu/bin and packs the shared libraries the device
#                                      image lacks into build-gpu/libs.tar.xz (≈ 11 MB);
#                                      build-gpu/ is ignored by git (/build*/) and travels
#                                      by `carry`.
#   bench/gpu_session.sh test          on the device (carry build-gpu): the GPU tests, verbose
#   bench/gpu_session.sh sanitize      on the device: compute-sanitizer memcheck over a set
#                                      of GPU tests, and racecheck over the Gram kernel
#   bench/gpu_session.sh bench [ARGS]  on the device: bench_als (default: the full
#                                      Netflix shape, K = 100,128); ARGS go to bench_als
#   bench/gpu_session.sh quick         on the device: bench_als at a tenth of the size
#   bench/gpu_session.sh verify        on the device: `cufactor verify` (GPU against the CPU
#                                      reference) on a 5 M-rating power-law set: ALS K = 32, 100;
#                                      SGD blocks / hogwild and GD+Adam at K = 128
#   bench/gpu_session.sh sgd [ARGS]    on the device (issue 5): test_gpu_sgd verbose, memcheck
#                                      and racecheck over GPU SGD/GD tests, then bench_sgd
#                                      (default: full Netflix shape, K = 128); ARGS go to bench_sgd
#
# With the device tool, from the repository root, for example:
#   run(command="bench/gpu_session.sh test", carry=["build-gpu"])
# Logs and JSON lines go to $OUT when it is set (the device tool's output folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/build-gpu/out}
mode=${1:-}
shift || true

unpack() {
    [ -d build-gpu/bin ] || { echo "gpu_session: build-gpu/bin missing: run 'bench/gpu_session.sh pack' here and carry build-gpu" >&2; exit 2; }
    if [ ! -d build-gpu/libs ]; then mkdir -p build-gpu/libs && tar xJf build-gpu/libs.tar.xz -C build-gpu/libs; fi
    export LD_LIBRARY_PATH="$root/build-gpu/libs:${LD_LIBRARY_PATH:-}"
    mkdir -p "$out"
    nvidia-smi -L || true
}

case "$mode" in
pack)
    export PATH=/usr/local/cuda/bin:$PATH
    rm -rf build-gpu/bin build-gpu/libs build-gpu/libs.tar.xz
    mkdir -p build-gpu/bin
    cmake -S . -B build-gpu/cmake -DCMAKE_BUILD_TYPE=Release -DCUFACTOR_CUDA=ON -DCUFACTOR_WERROR=ON \
        -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
    cmake --build build-gpu/cmake -j"$(nproc)" --target test_gpu_als test_gpu_sgd
    cp build-gpu/cmake/test_gpu_als build-gpu/cmake/test_gpu_sgd build-gpu/bin/
    cmake --build build-gpu/cmake -j"$(nproc)" --target cufactor
    cp build-gpu/cmake/cufactor build-gpu/bin/
    if cmake --build build-gpu/cmake -j"$(nproc)" --target bench_als bench_sgd; then
        cp build-gpu/cmake/bench_als build-gpu/cmake/bench_sgd build-gpu/bin/
    else
        echo "gpu_session: bench_als did not build (is cf_generate on this branch?); packing the tests only" >&2
    fi
    # Shared libraries outside CUDA and the C runtime, which the device image lacks.
    mkdir -p build-gpu/libs
    for b in build-gpu/bin/*; do ldd "$b"; done | awk '/=>/ {print $3}' | sort -u |
        grep -v -E 'cuda|libcudart|libcublas|libcusolver|libcusparse|libnvJitLink|/libc\.so|/libm\.so|libpthread|/libdl\.so|/librt\.so|libstdc\+\+|libgcc_s' |
        while read -r lib; do cp -L "$lib" build-gpu/libs/; done
    tar cJf build-gpu/libs.tar.xz -C build-gpu/libs .
    rm -rf build-gpu/libs build-gpu/cmake
    du -sh build-gpu
    ;;
test)
    unpack
    set -o pipefail
    build-gpu/bin/test_gpu_als --verbose --jobs 1 2>&1 | tee "$out/test_gpu_als.log"
    ;;
sanitize)
    unpack
    # Criterion forks a process per test: follow the children.
    cs="compute-sanitizer --target-processes all --error-exitcode 3"
    rc=0
    for t in gram_K7 gram_K128_nobias gram_K256_short_segments half_step_K32 half_step_many_batches_short_segments \
             evaluate_bias_weighted not_positive_definite_names_row upload_download_round_trip; do
        echo "== memcheck $t"
        $cs --tool memcheck build-gpu/bin/test_gpu_als --filter "gpu_als/$t" --jobs 1 2>&1 | tee -a "$out/memcheck.log" || rc=1
    done
    for t in gram_K100 gram_K256_short_segments; do
        echo "== racecheck $t"
        $cs --tool racecheck build-gpu/bin/test_gpu_als --filter "gpu_als/$t" --jobs 1 2>&1 | tee -a "$out/racecheck.log" || rc=1
    done
    echo "== initcheck half_step_K7"
    $cs --tool initcheck build-gpu/bin/test_gpu_als --filter "gpu_als/half_step_K7" --jobs 1 2>&1 | tee -a "$out/initcheck.log" || rc=1
    exit $rc
    ;;
bench)
    unpack
    build-gpu/bin/bench_als --json "$out/bench_als.jsonl" "$@" 2>&1 | tee "$out/bench_als.log"
    ;;
quick)
    unpack
    build-gpu/bin/bench_als --users 48019 --ratings 10000000 --cpu-scale 0.2 --json "$out/bench_als_quick.jsonl" "$@" 2>&1 |
        tee "$out/bench_als_quick.log"
    ;;
verify)
    unpack
    data="$out/verify.tsv"
    build-gpu/bin/cufactor gen --users 100000 --items 10000 --ratings 5000000 --rank 16 --noise 0.5 --out "$data"
    rc=0
    for k in 32 100; do
        echo "== verify als K=$k"
        build-gpu/bin/cufactor verify "$data" --factors "$k" --iters 5 2>&1 | tee "$out/verify_als_K$k.log" || rc=1
    done
    # issue 5: blocks SGD row by row, hogwild by the test RMSE, GD with Adam
    for a in "--algo sgd --schedule blocks --blocks 64 --lr 0.005" "--algo sgd --schedule hogwild --lr 0.005" \
             "--algo gd --optimizer adam --lr 0.001"; do
        echo "== verify $a K=128"
        # shellcheck disable=SC2086
        build-gpu/bin/cufactor verify "$data" --factors 128 --iters 5 $a 2>&1 | tee -a "$out/verify_sgd_gd.log" || rc=1
    done
    rm -f "$data"
    exit $rc
    ;;
sgd)
    unpack
    rc=0
    build-gpu/bin/test_gpu_sgd --verbose --jobs 1 2>&1 | tee "$out/test_gpu_sgd.log" || rc=1
    cs="compute-sanitizer --target-processes all --error-exitcode 3"
    for t in gpu_sgd/single_update_K33 gpu_sgd/blocks_vs_cpu_K100 gpu_sgd/blocks_vs_cpu_K300_from_memory \
             gpu_sgd/single_update_K100_fp16 gpu_sgd/divergence_names_epoch_and_row gpu_gd/full_batch_adam_equals_cpu \
             gpu_gd/minibatch_equals_cpu; do
        echo "== memcheck $t"
        $cs --tool memcheck build-gpu/bin/test_gpu_sgd --filter "$t" --jobs 1 2>&1 | tee -a "$out/sgd_memcheck.log" || rc=1
    done
    # racecheck looks at shared memory: the SGD kernels use none (hogwild's global-memory races are by design)
    for t in gpu_sgd/blocks_vs_cpu_K33 gpu_sgd/divergence_names_epoch_and_row; do
        echo "== racecheck $t"
        $cs --tool racecheck build-gpu/bin/test_gpu_sgd --filter "$t" --jobs 1 2>&1 | tee -a "$out/sgd_racecheck.log" || rc=1
    done
    build-gpu/bin/bench_sgd --json "$out/bench_sgd.jsonl" "$@" 2>&1 | tee "$out/bench_sgd.log" || rc=1
    exit $rc
    ;;
*)
    sed -n '2,28p' "$0"
    exit 2
    ;;
esac
