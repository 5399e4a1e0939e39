#!/usr/bin/env bash
# gpu_session.sh — the checks and benchmarks that need a GPU (issues 4, 5, 6), in two steps,
# because the lent GPU machine has CUDA and compute-sanitizer but not OpenBLAS, LAPACKE,
# cJSON or Criterion. bench/GPU_SESSION.md says which calls to make and what to do with
# what comes back.
#
#   bench/gpu_session.sh pack          here (no GPU needed): builds the GPU tests, cufactor and
#                                      the two GPU benches for sm_90 (H100/H200) into
#                                      build-gpu/bin (the CMake build stays in build-gpu-cmake),
#                                      records the commit in build-gpu/COMMIT and packs the
#                                      shared libraries the device image lacks into
#                                      build-gpu/libs.tar.xz; build-gpu/ (≈ 16 MB) is git-ignored
#                                      and travels by `carry`.
#   bench/gpu_session.sh all           on the device, ONE call (≤ 9 min): in order of value the GPU
#                                      tests (verbose), `cufactor verify` (ALS K = 32, 100; SGD
#                                      blocks / hogwild, GD+Adam at K = 128), compute-sanitizer
#                                      memcheck over a subset and racecheck over the Gram kernel
#                                      and one SGD test, the quick benches (10 M ratings), then the
#                                      full Netflix benches if time is left.
#   bench/gpu_session.sh all2 [--no-full]
#                                      on the device, a second call: the full Netflix benches
#                                      (unless --no-full: the first call ran them), then the GPU
#                                      cases of the nightly suite (bench/nightly.sh --devices gpu
#                                      with the packed cufactor).
#
# `all` and `all2` run every step under `timeout` (a step's limit is the smaller of its own
# and the time left of CF_GPU_SESSION_BUDGET, default 540 s; a step that cannot get its
# minimum is skipped and says so); a failing step does not stop the later ones. Each step's
# output goes to its log; $OUT receives at most 8 files: summary.txt (step, status, exit code,
# seconds, limit), logs.tar.gz (every log, the verify JSON), bench_als.jsonl, bench_sgd.jsonl,
# verify.jsonl (all) or gpu.jsonl (all2: bench/results/gpu.jsonl with the nightly records
# appended). The exit code is 0 when every step that ran passed, 1 otherwise.
#
# Single steps, for a rerun of one thing (logs and JSON lines to $OUT):
#   test | sanitize | verify | quick | bench [ARGS → bench_als] | sgd [ARGS → bench_sgd]
#
# Dry run here, without a GPU: CF_GPU_SESSION_DRYRUN=1 prints each step's command instead of
# running it; CF_GPU_SESSION_BIN=DIR runs the programs of DIR instead of build-gpu/bin (stubs),
# with CF_GPU_SESSION_BUDGET=SECONDS to try the timeouts.
#
# With the device tool, from the repository root:
#   run(command="bench/gpu_session.sh all", carry=["build-gpu"], timeout_s=600)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/build-gpu/out}
bin=${CF_GPU_SESSION_BIN:-build-gpu/bin}
case "$bin" in /*) ;; *) bin=$root/$bin ;; esac
dry=${CF_GPU_SESSION_DRYRUN:-0}
budget=${CF_GPU_SESSION_BUDGET:-540}
work=${TMPDIR:-/tmp}/cf-gpu-session
logs=$work/logs
libdir=${TMPDIR:-/tmp}/cf-gpu-libs
mode=${1:-}
shift || true

unpack() {
    [ -d "$bin" ] || { echo "gpu_session: $bin missing: run 'bench/gpu_session.sh pack' here and carry build-gpu" >&2; exit 2; }
    # Unpacked outside build-gpu (≈ 60 MB unpacked), which must stay small enough to carry.
    # (Python's tarfile where the image has no xz binary.)
    if [ -f build-gpu/libs.tar.xz ] && [ ! -d "$libdir" ]; then
        mkdir -p "$libdir"
        tar xJf build-gpu/libs.tar.xz -C "$libdir" 2>/dev/null ||
            python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
                build-gpu/libs.tar.xz "$libdir" ||
            { echo "gpu_session: cannot unpack build-gpu/libs.tar.xz" >&2; rm -rf "$libdir"; exit 2; }
    fi
    mkdir -p "$out" "$logs"
    commit=$(cat build-gpu/COMMIT 2>/dev/null || echo unknown)
    nvidia-smi -L || true
    # Only the steps see the packed libraries (Debian's builds of libz, libcrypto, ... must
    # not replace the device image's own under its tools: tar, gzip, nvidia-smi).
    # The CUDA 13 runtime libraries (cuBLAS, cuSOLVER, cuSPARSE) come from the device's own
    # toolkit; put its lib64 on the path too in case the image's loader does not know it.
    cudalib=""
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && cudalib="$cudalib:$d"
    done
    # Last resort, behind the toolkit: the CUDA 13 libraries of the image's Python wheels
    # (nvidia-cublas, nvidia-cusolver, nvidia-cusparse, ...), in case its toolkit lacks one.
    if command -v python3 >/dev/null 2>&1; then
        for sp in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
            for d in "$sp"/nvidia/*/lib "$sp"/nvidia/cu13/lib; do
                [ -d "$d" ] && case ":$cudalib:" in *":$d:"*) ;; *) cudalib="$cudalib:$d" ;; esac
            done
        done
    fi
    ldpath="$libdir$cudalib:${LD_LIBRARY_PATH:-}"
    case "$mode" in all | all2) ;; *) export LD_LIBRARY_PATH="$ldpath" ;; esac
}

# ---------------------------------------------------------------- steps with a time budget
t_start=$SECONDS
failed=0
summary=$work/summary.txt

header() { printf '%-34s %-9s %4s %6s %6s\n' step status exit "wall s" "limit" >"$summary"; }

# step NAME MAX MIN CMD...: runs CMD (argv, no shell) under `timeout`, its output in
# $logs/NAME.log; the limit is min(MAX, seconds left of the budget); skipped below MIN.
step() {
    local name=$1 max=$2 min=$3
    shift 3
    local left=$((budget - (SECONDS - t_start)))
    local lim=$((max < left ? max : left))
    if [ "$lim" -lt "$min" ]; then
        printf '%-34s %-9s %4s %6s %6s  %s\n' "$name" skipped - 0 "$lim" "only ${left}s of the budget left, needs $min" >>"$summary"
        echo "== [$name] skipped: only ${left}s left (needs $min)"
        return 0
    fi
    echo "== [$name] limit ${lim}s: $*"
    local t0=$SECONDS rc=0 status
    if [ "$dry" = 1 ]; then
        echo "$@" >"$logs/$name.log"
    else
        timeout -k 10 "$lim" env LD_LIBRARY_PATH="$ldpath" "$@" >"$logs/$name.log" 2>&1 </dev/null || rc=$?
    fi
    case $rc in
    0) status=ok ;;
    124 | 137) status=TIMEOUT ;;
    *) status=FAILED ;;
    esac
    [ $rc -eq 0 ] || failed=1
    printf '%-34s %-9s %4d %6d %6d\n' "$name" "$status" "$rc" $((SECONDS - t0)) "$lim" >>"$summary"
    tail -n 3 "$logs/$name.log" | cut -c1-200 | sed 's/^/   | /'
    echo "== [$name] $status (exit $rc, $((SECONDS - t0)) s)"
}

# The end of `all` / `all2`: logs into one archive (huge logs cut to their first 2 and last
# 4 MiB), the summary, at most 8 files in $OUT.
finish() {
    local f
    for f in "$logs"/*; do
        [ -f "$f" ] || continue
        if [ "$(stat -c %s "$f")" -gt $((8 << 20)) ]; then
            { head -c $((2 << 20)) "$f"; printf '\n[... cut by gpu_session.sh ...]\n'; tail -c $((4 << 20)) "$f"; } >"$f.cut"
            mv "$f.cut" "$f"
        fi
    done
    printf '%s: %s, %d s in all (budget %d s), commit %s\n' "$mode" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        $((SECONDS - t_start)) "$budget" "$commit" >>"$summary"
    cp "$summary" "$logs/summary.txt"
    cp "$summary" "$out/summary.txt"
    tar czf "$out/logs.tar.gz" -C "$work" logs 2>/dev/null ||
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "w:gz").add(sys.argv[2], "logs")' \
            "$out/logs.tar.gz" "$logs" ||
        echo "gpu_session: could not pack the logs" >&2
    echo "== summary ($out: $(find "$out" -type f | wc -l) files)"
    cat "$summary"
    local n
    n=$(find "$out" -type f | wc -l)
    [ "$n" -le 8 ] || echo "gpu_session: $n files in $out: only 8 come back" >&2
    exit $failed
}

# verify_step NAME MAX ARGS...: `cufactor verify --json` on the verify set; the table's
# header goes to the log, the JSON object to verify.jsonl (one line, tagged with the step).
verify_step() {
    local name=$1 max=$2
    shift 2
    step "$name" "$max" 10 bash -c '
        j=$("$0" verify "$1" --json "${@:2}") || rc=$?
        printf "%s\n" "$j"
        [ -n "$j" ] && printf "{\"step\":\"%s\",\"args\":\"%s\",\"result\":%s}\n" "'"$name"'" "${*:2}" "$j" >>"'"$out"'/verify.jsonl"
        exit ${rc:-0}' "$bin/cufactor" "$work/verify.tsv" "$@"
}

# The ratings of the quick benches: the nightly suite's synth-10m shape (cached as such).
quick_shape=(--users 48019 --ratings 10000000)

case "$mode" in
pack)
    export PATH=/usr/local/cuda/bin:$PATH
    # The CMake build lives beside build-gpu (in build-gpu-cmake, also git-ignored) so that
    # it is incremental and does not travel: only build-gpu/ is carried.
    cm=build-gpu-cmake
    rm -rf build-gpu
    mkdir -p build-gpu/bin
    cmake -S . -B "$cm" -DCMAKE_BUILD_TYPE=Release -DCUFACTOR_CUDA=ON -DCUFACTOR_WERROR=ON \
        -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
    cmake --build "$cm" -j"$(nproc)" --target test_gpu_als test_gpu_sgd cufactor bench_als bench_sgd
    cp "$cm"/test_gpu_als "$cm"/test_gpu_sgd "$cm"/cufactor "$cm"/bench_als "$cm"/bench_sgd build-gpu/bin/
    # The commit the binaries were built from: the device's copy of the tree has no .git.
    c=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    [ -z "$(git status --porcelain --untracked-files=no -- . ':!bench/results' 2>/dev/null)" ] || c="$c+dirty"
    echo "$c" >build-gpu/COMMIT
    # Shared libraries outside CUDA and the C runtime, which the device image lacks.
    mkdir -p build-gpu/libs
    for b in build-gpu/bin/*; do ldd "$b"; done | awk '/=>/ {print $3}' | sort -u |
        grep -v -E 'cuda|libcudart|libcublas|libcusolver|libcusparse|libnvJitLink|/libc\.so|/libm\.so|libpthread|/libdl\.so|/librt\.so|/libresolv\.so|/libutil\.so|/libnss|libstdc\+\+|libgcc_s' |
        while read -r lib; do cp -L "$lib" build-gpu/libs/; done
    tar cJf build-gpu/libs.tar.xz -C build-gpu/libs .
    rm -rf build-gpu/libs
    du -sh build-gpu
    # The device tool carries at most 64 MiB with the working tree.
    [ "$(du -sm build-gpu | cut -f1)" -le 48 ] || { echo "gpu_session: build-gpu is over 48 MiB: too big to carry" >&2; exit 1; }
    ;;
all)
    # Step limits (s): env 10 + tests 2×70 + verify 15 (data) + 40 + 20 + 25 + 25 + 30 +
    # sanitizers 3×40 + quick benches 50 + 40 = 515 of the 540 s budget; the full benches get
    # what is left. The verify limits: its CPU reference took, on the 2-core VM (loaded), per
    # iteration at K = 128 on this set ≈ 2.5 s (SGD blocks), 5.5 s (hogwild, one thread),
    # 6.5 s (GD+Adam), 16 s (ALS); hence 3 iterations but for ALS K = 32.
    rm -rf "$work" && mkdir -p "$logs" && unpack
    header
    rm -f "$out/verify.jsonl"
    san=(compute-sanitizer --target-processes all --error-exitcode 3)
    step env 10 1 bash -c 'nvidia-smi; uname -r; ldd --version | head -1; nproc; compute-sanitizer --version | tail -1;
        ldd "$1"/* | grep "not found"; "$1"/cufactor --version; true' _ "$bin"
    step test_gpu_als 70 20 "$bin/test_gpu_als" --verbose --jobs 1
    step test_gpu_sgd 70 20 "$bin/test_gpu_sgd" --verbose --jobs 1
    step verify-gen 15 3 "$bin/cufactor" gen --users 100000 --items 10000 --ratings 5000000 --rank 16 --noise 0.5 \
        --out "$work/verify.tsv"
    verify_step verify-als-k100 40 --factors 100 --iters 3
    verify_step verify-als-k32 20 --factors 32 --iters 5
    verify_step verify-sgd-blocks-k128 25 --factors 128 --iters 3 --algo sgd --schedule blocks --blocks 64 --lr 0.005
    verify_step verify-sgd-hogwild-k128 25 --factors 128 --iters 3 --algo sgd --schedule hogwild --lr 0.005
    verify_step verify-gd-adam-k128 30 --factors 128 --iters 3 --algo gd --optimizer adam --lr 0.001
    rm -f "$work/verify.tsv"
    # Criterion forks a process per test: the sanitizer follows the children.
    step memcheck-als 40 15 bash -c 'for t in gram_K7 half_step_K32 half_step_many_batches_short_segments \
            evaluate_bias_weighted not_positive_definite_names_row half_step_solves_in_chunks; do echo "== memcheck gpu_als/$t";
            "${@:2}" --tool memcheck "$1"/test_gpu_als --filter "gpu_als/$t" --jobs 1 || rc=1; done; exit ${rc:-0}' \
        _ "$bin" "${san[@]}"
    step memcheck-sgd 40 15 bash -c 'for t in gpu_sgd/single_update_K33 gpu_sgd/blocks_vs_cpu_K100 \
            gpu_sgd/single_update_K100_fp16 gpu_gd/minibatch_equals_cpu \
            gpu_gd/minibatch_K1_nobias_batch97_equals_cpu; do echo "== memcheck $t";
            "${@:2}" --tool memcheck "$1"/test_gpu_sgd --filter "$t" --jobs 1 || rc=1; done; exit ${rc:-0}' \
        _ "$bin" "${san[@]}"
    # racecheck looks at shared memory: the Gram kernel's staging; the SGD kernels use none,
    # so the one SGD test is a check that stays silent (hogwild's races are by design).
    step racecheck 40 15 bash -c 'echo "== racecheck gpu_als/gram_K100";
            "${@:2}" --tool racecheck "$1"/test_gpu_als --filter gpu_als/gram_K100 --jobs 1 || rc=1;
            echo "== racecheck gpu_sgd/blocks_vs_cpu_K33";
            "${@:2}" --tool racecheck "$1"/test_gpu_sgd --filter gpu_sgd/blocks_vs_cpu_K33 --jobs 1 || rc=1; exit ${rc:-0}' \
        _ "$bin" "${san[@]}"
    step bench_als-quick 50 25 "$bin/bench_als" "${quick_shape[@]}" --cpu-scale 0.2 --commit "$commit" --json "$out/bench_als.jsonl"
    step bench_sgd-quick 40 20 "$bin/bench_sgd" "${quick_shape[@]}" --commit "$commit" --json "$out/bench_sgd.jsonl"
    # Whatever is left: the full Netflix shape (generated once into bench/cache, then read back).
    step bench_als-full 600 150 "$bin/bench_als" --commit "$commit" --json "$out/bench_als.jsonl"
    step bench_sgd-full 600 90 "$bin/bench_sgd" --commit "$commit" --json "$out/bench_sgd.jsonl"
    finish
    ;;
all2)
    rm -rf "$work" && mkdir -p "$logs" && unpack
    header
    if [ "${1:-}" != --no-full ]; then
        step bench_als-full 240 150 "$bin/bench_als" --commit "$commit" --json "$out/bench_als.jsonl"
        step bench_sgd-full 150 90 "$bin/bench_sgd" --commit "$commit" --json "$out/bench_sgd.jsonl"
    fi
    # The nightly suite's GPU cases with the packed cufactor (no cmake, no OpenBLAS there);
    # they append to bench/results/gpu.jsonl, which comes back whole.
    step nightly-gpu 600 60 env CUFACTOR_BIN="$bin/cufactor" CUFACTOR_COMMIT="$commit" \
        bench/nightly.sh --devices gpu
    [ ! -f bench/results/gpu.jsonl ] || cp bench/results/gpu.jsonl "$out/gpu.jsonl"
    finish
    ;;
# ---------------------------------------------------------------- single steps
test)
    unpack
    set -o pipefail
    "$bin"/test_gpu_als --verbose --jobs 1 2>&1 | tee "$out/test_gpu_als.log"
    ;;
sanitize)
    unpack
    # Criterion forks a process per test: follow the children.
    cs="compute-sanitizer --target-processes all --error-exitcode 3"
    rc=0
    for t in gram_K7 gram_K128_nobias gram_K256_short_segments half_step_K32 half_step_many_batches_short_segments \
             evaluate_bias_weighted not_positive_definite_names_row upload_download_round_trip; do
        echo "== memcheck $t"
        $cs --tool memcheck "$bin"/test_gpu_als --filter "gpu_als/$t" --jobs 1 2>&1 | tee -a "$out/memcheck.log" || rc=1
    done
    for t in gram_K100 gram_K256_short_segments; do
        echo "== racecheck $t"
        $cs --tool racecheck "$bin"/test_gpu_als --filter "gpu_als/$t" --jobs 1 2>&1 | tee -a "$out/racecheck.log" || rc=1
    done
    echo "== initcheck half_step_K7"
    $cs --tool initcheck "$bin"/test_gpu_als --filter "gpu_als/half_step_K7" --jobs 1 2>&1 | tee -a "$out/initcheck.log" || rc=1
    exit $rc
    ;;
bench)
    unpack
    "$bin"/bench_als --commit "$commit" --json "$out/bench_als.jsonl" "$@" 2>&1 | tee "$out/bench_als.log"
    ;;
quick)
    unpack
    "$bin"/bench_als "${quick_shape[@]}" --cpu-scale 0.2 --commit "$commit" --json "$out/bench_als_quick.jsonl" "$@" 2>&1 |
        tee "$out/bench_als_quick.log"
    ;;
verify)
    unpack
    data="$out/verify.tsv"
    "$bin"/cufactor gen --users 100000 --items 10000 --ratings 5000000 --rank 16 --noise 0.5 --out "$data"
    rc=0
    for k in 32 100; do
        echo "== verify als K=$k"
        "$bin"/cufactor verify "$data" --factors "$k" --iters 5 2>&1 | tee "$out/verify_als_K$k.log" || rc=1
    done
    # issue 5: blocks SGD row by row, hogwild by the test RMSE, GD with Adam
    for a in "--algo sgd --schedule blocks --blocks 64 --lr 0.005" "--algo sgd --schedule hogwild --lr 0.005" \
             "--algo gd --optimizer adam --lr 0.001"; do
        echo "== verify $a K=128"
        # shellcheck disable=SC2086
        "$bin"/cufactor verify "$data" --factors 128 --iters 5 $a 2>&1 | tee -a "$out/verify_sgd_gd.log" || rc=1
    done
    rm -f "$data"
    exit $rc
    ;;
sgd)
    unpack
    rc=0
    "$bin"/test_gpu_sgd --verbose --jobs 1 2>&1 | tee "$out/test_gpu_sgd.log" || rc=1
    cs="compute-sanitizer --target-processes all --error-exitcode 3"
    for t in gpu_sgd/single_update_K33 gpu_sgd/blocks_vs_cpu_K100 gpu_sgd/blocks_vs_cpu_K300_from_memory \
             gpu_sgd/single_update_K100_fp16 gpu_sgd/divergence_names_epoch_and_row gpu_gd/full_batch_adam_equals_cpu \
             gpu_gd/minibatch_equals_cpu; do
        echo "== memcheck $t"
        $cs --tool memcheck "$bin"/test_gpu_sgd --filter "$t" --jobs 1 2>&1 | tee -a "$out/sgd_memcheck.log" || rc=1
    done
    # racecheck looks at shared memory: the SGD kernels use none (hogwild's global-memory races are by design)
    for t in gpu_sgd/blocks_vs_cpu_K33 gpu_sgd/divergence_names_epoch_and_row; do
        echo "== racecheck $t"
        $cs --tool racecheck "$bin"/test_gpu_sgd --filter "$t" --jobs 1 2>&1 | tee -a "$out/sgd_racecheck.log" || rc=1
    done
    "$bin"/bench_sgd --commit "$commit" --json "$out/bench_sgd.jsonl" "$@" 2>&1 | tee "$out/bench_sgd.log" || rc=1
    exit $rc
    ;;
*)
    sed -n '2,42p' "$0"
    exit 2
    ;;
esac
