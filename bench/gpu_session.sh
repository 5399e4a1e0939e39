#!/usr/bin/env bash
# gpu_session.sh — the checks and benchmarks that need a GPU, as TWO prepared calls on the
# lent GPU machine (one H100 or H200, 16 host cores; a 15-minute lease per session, all calls
# together, ≈ 30 s to start a machine): `all`, the must-have steps, within 320 s; then
# `extra`, issue 16's end-to-end runs and the slots of work merged later, within 300 s,
# made only when `all` came back clean (otherwise that call is a `rerun` of what failed).
# The GPU machine has CUDA and compute-sanitizer but not OpenBLAS, LAPACKE, cJSON or
# Criterion, hence `pack` here first. bench/GPU_SESSION.md is the plan: the calls, the
# lease arithmetic, the budget table, what to do with what comes back.
#
#   bench/gpu_session.sh pack           here (no GPU needed): builds the GPU tests, cufactor,
#                                       the two GPU benches, bench_load and bench_peer for sm_90
#                                       (H100/H200), with CUMF_SGD_SRC=DIR also the peer cuMF_SGD
#                                       (bench/build_cumf_sgd.sh), and packs them into
#                                       build-gpu/bin.tar.xz (the CMake
#                                       build stays in build-gpu-cmake), records the commit in
#                                       build-gpu/COMMIT and packs the shared libraries the
#                                       device image lacks into build-gpu/libs.tar.xz;
#                                       build-gpu/ (≈ 15 MB) is git-ignored and travels by
#                                       `carry`.
#   bench/gpu_session.sh all [STEP...]  on the device, call 1: the steps of `all` in order (or
#                                       only the STEPs named), each under `timeout`.
#   bench/gpu_session.sh extra [STEP...] on the device, call 2: the steps of `extra`.
#   bench/gpu_session.sh profile        on the device, call 3 when 1 and 2 came back clean:
#                                       Nsight Compute reports of the new kernels (120 s).
#   bench/gpu_session.sh rerun STEP...  on the device: the named steps of either call, in the
#                                       table's order, within the 300 s of call 2's slot.
#   bench/gpu_session.sh failed SUMMARY here: the `rerun` command for the steps that a
#                                       summary.txt that came back marks FAILED, TIMEOUT or
#                                       skipped.
#   bench/gpu_session.sh plan           prints the steps of both calls: limit, minimum, estimate.
#
# Steps that read what another step makes (the verify sets, the bench cache, the Netflix-
# shaped text file and its binary copy) run that step first when its product is missing,
# whichever call it belongs to: a rerun or `extra` on a fresh machine needs nothing else.
#
# A step's limit is the smaller of its own and what is left of the call's budget
# (CF_GPU_SESSION_BUDGET; default 320 s for all, 300 s for extra and rerun, 120 s for profile); a step that
# cannot get its minimum is skipped and says so; a failing or timed-out step does not stop
# the later ones. The device tool brings back at most 8 files from $OUT, so $OUT holds two:
# summary.txt (one line per step: status ok / FAILED / TIMEOUT / skipped, exit
# code, seconds, limit, estimate; then the total) and results.tar.gz (summary.txt,
# logs/STEP.log, logs/memcheck-TEST.log, logs/racecheck-TEST.log, and the records:
# verify.jsonl, bench_als.jsonl, bench_sgd.jsonl, nightly-gpu.jsonl, gpu.jsonl, e2e.jsonl,
# bench_load.jsonl), both rewritten after every step, so a call cut short still brings back
# what was done. Exit code 0 when every step that ran passed, 1 otherwise.
#
# Dry run here, without a GPU: CF_GPU_SESSION_DRYRUN=1 writes each step's command to its
# log instead of running it. CF_GPU_SESSION_BIN=DIR runs the programs of DIR instead of
# build-gpu/bin (e.g. build: the CPU build), CF_GPU_SESSION_BUDGET=SECONDS the budget,
# CF_GPU_SESSION_DEVICE=cpu the end-to-end trainings on the CPU, CF_GPU_SESSION_NF="USERS
# ITEMS RATINGS" a smaller Netflix-shaped file (default "480189 17770 100000000"),
# CF_GPU_SESSION_PEER_ARGS="--users N ... --cache DIR" a smaller set for peer-cumf-sgd. E.g.:
#   CF_GPU_SESSION_BIN=build CF_GPU_SESSION_DEVICE=cpu CF_GPU_SESSION_NF="48019 17770 2000000" \
#       bench/gpu_session.sh rerun e2e-train-text e2e-train-bin bench_load-nf
#
# With the device tool, from the repository root (GPU_SESSION.md):
#   run(command="bench/gpu_session.sh all", carry=["build-gpu"], timeout_s=345)
#   run(command="bench/gpu_session.sh extra", carry=["build-gpu"], timeout_s=325)
#   run(command="bench/gpu_session.sh profile", carry=["build-gpu"], timeout_s=135)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:-}
shift || true
sel="$*" # the STEPs named after the mode (none: every step of the call)
only=" $sel "
out=${OUT:-$root/build-gpu/out/$mode}
bin=${CF_GPU_SESSION_BIN:-build-gpu/bin}
case "$bin" in /*) ;; *) bin=$root/$bin ;; esac
dry=${CF_GPU_SESSION_DRYRUN:-0}
case "$mode" in all) budget=${CF_GPU_SESSION_BUDGET:-320} ;; profile) budget=${CF_GPU_SESSION_BUDGET:-120} ;; *) budget=${CF_GPU_SESSION_BUDGET:-300} ;; esac
dev=${CF_GPU_SESSION_DEVICE:-gpu}
read -r nf_users nf_items nf_ratings <<<"${CF_GPU_SESSION_NF:-480189 17770 100000000}"
work=${TMPDIR:-/tmp}/cf-gpu-session
libdir=${TMPDIR:-/tmp}/cf-gpu-libs
stage=$work/out-$mode # the call's files, packed into $out/results.tar.gz after each step

# The steps: name, call, limit (s), minimum to start (s), estimate (s). The estimates of
# `all` come from the first H200 session (2026-12-04, bench/results/h200-2026-12-04/), those
# of `extra` from runs on the 2-core VM scaled up: GPU_SESSION.md says how each was derived;
# summary.txt measures them again. The slot-* rows check work merged after the plan was
# written: (a) the tensor-core Gram, (b) the SGD epoch of `cufactor train` against bench_sgd's.
steps="
env all 15 1 3
test_gpu_als all 45 15 10
test_gpu_sgd all 45 15 8
verify-gen all 15 3 3
verify-als-k100 all 40 10 13
verify-als-k100-fused all 40 10 13
verify-sgd-blocks-k128 all 25 8 7
verify-sgd-hogwild-k128 all 35 8 10
verify-gen-ml100k all 10 2 1
verify-sgd-hogwild-ml100k all 20 5 5
memcheck all 45 15 14
racecheck all 45 15 12
sgd-eval-memcheck all 40 15 20
bench-data all 60 20 20
bench_als all 75 30 16
bench_als-fused all 60 20 8
bench_sgd-hogwild all 80 30 28
bench_sgd-hogwild-rpw2 all 45 20 10
sgd-train-epochs all 45 20 25
nightly-gpu all 150 60 56
bench_sgd-blocks all 60 30 23
e2e-gen extra 60 15 20
e2e-train-text extra 60 12 15
e2e-convert extra 30 5 6
e2e-train-bin extra 45 8 10
peer-cumf-sgd extra 60 20 18
slot-tc-memcheck extra 60 15 20
slot-tc-racecheck extra 75 15 30
slot-tc-verify extra 40 10 13
slot-tc-verify-k128-fused extra 40 10 15
slot-tc-bench_als extra 60 20 22
slot-ring-blocks extra 50 20 25
bench_load-nf extra 100 40 62
ncu-kernels profile 90 30 40
slot-runs-hogwild profile 40 15 20
slot-ring-hogwild profile 45 20 20
"

# What a step makes for later ones (STEP PATH; a path with * is a glob) and which step a
# step needs first (STEP: PRODUCER...).
products="
verify-gen $work/verify.tsv
verify-gen-ml100k $work/verify-ml100k.tsv
bench-data bench/cache/*.cfd
e2e-gen $work/nf.tsv
e2e-convert $work/nf.cfd
"
needs="
verify-als-k100: verify-gen
verify-als-k100-fused: verify-gen
verify-sgd-blocks-k128: verify-gen
verify-sgd-hogwild-k128: verify-gen
verify-sgd-hogwild-ml100k: verify-gen-ml100k
bench_als: bench-data
bench_als-fused: bench-data
bench_sgd-hogwild: bench-data
bench_sgd-hogwild-rpw2: bench-data
nightly-gpu: bench-data
bench_sgd-blocks: bench-data
e2e-train-text: e2e-gen
e2e-convert: e2e-gen
e2e-train-bin: e2e-convert
slot-tc-verify: verify-gen
slot-tc-verify-k128-fused: verify-gen
slot-tc-bench_als: bench-data
sgd-train-epochs: bench-data
slot-ring-blocks: bench-data
slot-ring-hogwild: bench-data
bench_load-nf: e2e-gen
ncu-kernels: bench-data
slot-runs-hogwild: bench-data
"

# untar_xz FILE DIR: unpacks FILE into DIR (Python's tarfile where the image has no xz).
untar_xz() {
    mkdir -p "$2"
    tar xJf "$1" -C "$2" 2>/dev/null ||
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2" ||
        { echo "gpu_session: cannot unpack $1" >&2; return 1; }
}

unpack() {
    # The programs travel packed: six binaries of ≈ 6 MB that each hold the same library
    # and kernels are ≈ 35 MB, ≈ 3.4 MB in one xz stream (the carry's limit is 64 MiB with
    # the working tree). Unpacked afresh by every call, so that a warm machine never runs
    # the binaries of an earlier pack.
    if [ -z "${CF_GPU_SESSION_BIN:-}" ] && [ -f build-gpu/bin.tar.xz ]; then
        rm -rf "$work/bin"
        untar_xz build-gpu/bin.tar.xz "$work" || { rm -rf "$work/bin"; exit 2; }
        bin=$work/bin
    fi
    [ -d "$bin" ] || { echo "gpu_session: $bin missing: run 'bench/gpu_session.sh pack' here and carry build-gpu" >&2; exit 2; }
    # The libraries, unpacked outside build-gpu too (≈ 60 MB). Not for a dry run or other
    # programs (CF_GPU_SESSION_BIN), which need none of them.
    if [ "$dry" != 1 ] && [ -z "${CF_GPU_SESSION_BIN:-}" ] && [ -f build-gpu/libs.tar.xz ] && [ ! -d "$libdir" ]; then
        untar_xz build-gpu/libs.tar.xz "$libdir" || { rm -rf "$libdir"; exit 2; }
    fi
    commit=$(cat build-gpu/COMMIT 2>/dev/null || echo unknown)
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
    # compute-sanitizer where the image's PATH lacks the toolkit's bin.
    if ! command -v compute-sanitizer >/dev/null 2>&1; then
        for d in /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
            if [ -x "$d/compute-sanitizer" ]; then PATH=$PATH:$d; break; fi
        done
    fi
}

# ---------------------------------------------------------------- steps with a time budget
t_start=$SECONDS
failed=0
summary=$stage/summary.txt
ran=" " # the steps run (or tried) in this call

step_row() { printf '%s\n' "$steps" | awk -v n="$1" '$1 == n {print $2, $3, $4, $5}'; }

# cut_logs KIB: logs over 4·KIB KiB cut to their first KIB and last 2·KIB KiB.
cut_logs() {
    local f k=$1
    for f in "$stage"/logs/*; do
        if [ ! -f "$f" ] || [ "$(stat -c %s "$f")" -le $((4 * k << 10)) ]; then continue; fi
        { head -c $((k << 10)) "$f"; printf '\n[... cut by gpu_session.sh ...]\n'; tail -c $((2 * k << 10)) "$f"; } >"$f.cut"
        mv "$f.cut" "$f"
    done
}

# publish: summary.txt and results.tar.gz into $out (atomically: a call cut short brings
# back the last complete pair). Logs over 4 MiB are cut to their first 1 and last 2 MiB;
# a tarball over 15 MiB (the tool brings back files of 16 MiB at most), to 128 + 256 KiB.
publish() {
    cut_logs 1024
    cp "$summary" "$out/summary.txt.part" && mv "$out/summary.txt.part" "$out/summary.txt"
    tar czf "$out/results.tar.gz.part" -C "$stage" . || return 0
    if [ "$(stat -c %s "$out/results.tar.gz.part")" -gt $((15 << 20)) ]; then
        cut_logs 128
        tar czf "$out/results.tar.gz.part" -C "$stage" . || return 0
    fi
    mv "$out/results.tar.gz.part" "$out/results.tar.gz"
}

# step NAME CMD...: runs CMD (argv, no shell) under `timeout`, its output in
# $stage/logs/NAME.log; the limit is min(the step's own, seconds left of the budget);
# skipped below the step's minimum.
step() {
    local name=$1 max min est
    shift
    read -r _ max min est < <(step_row "$name") || true
    [ -n "${max:-}" ] || { echo "gpu_session: step $name is not in the table" >&2; exit 2; }
    ran="$ran$name "
    local left=$((budget - (SECONDS - t_start)))
    local lim=$((max < left ? max : left))
    if [ "$lim" -lt "$min" ]; then
        printf '%-26s %-11s %4s %6s %6s %6s  %s\n' "$name" skipped - 0 "$lim" "$est" "only ${left}s of the budget left, needs $min" >>"$summary"
        echo "== [$name] skipped: only ${left}s left (needs $min)"
        publish
        return 0
    fi
    echo "== [$name] limit ${lim}s (estimate ${est}s)"
    local t0=$SECONDS rc=0 status log=$stage/logs/$name.log
    # The log's first line: the command (cut at 400 characters; of a `bash -c SCRIPT ARGS`
    # wrapper, the arguments: the wrapped command).
    if [ "$1" = bash ] && [ "${2:-}" = -c ]; then
        { printf '$ bash -c SCRIPT '; printf '%q ' "${@:4}" | cut -c1-400; } >"$log"
    else
        { printf '$ '; printf '%q ' "$@" | cut -c1-400; } >"$log"
    fi
    if [ "$dry" != 1 ]; then
        timeout -k 5 "$lim" env LD_LIBRARY_PATH="$ldpath" "$@" >>"$log" 2>&1 </dev/null || rc=$?
    fi
    case $rc in
    0) status=ok ;;
    124 | 137) status=TIMEOUT ;;
    *) status=FAILED ;;
    esac
    [ $rc -eq 0 ] || failed=1
    printf '%-26s %-11s %4d %6d %6d %6d\n' "$name" "$status" "$rc" $((SECONDS - t0)) "$lim" "$est" >>"$summary"
    tail -n 3 "$log" | cut -c1-200 | sed 's/^/   | /'
    echo "== [$name] $status (exit $rc, $((SECONDS - t0)) s)"
    publish
}

# verify_step NAME SET ARGS...: `cufactor verify SET --json ARGS` ; the JSON object goes to
# the log and, tagged with the step, to verify.jsonl (one line).
verify_step() {
    local name=$1 set=$2
    shift 2
    # shellcheck disable=SC2016 # the inner script's own variables
    step "$name" bash -c '
        j=$("$0" verify "$1" --json "${@:4}") || rc=$?
        printf "%s\n" "$j"
        [ -n "$j" ] && printf "{\"step\":\"%s\",\"args\":\"%s\",\"result\":%s}\n" "$2" "${*:4}" "$j" >>"$3/verify.jsonl"
        exit ${rc:-0}' "$bin/cufactor" "$set" "$name" "$stage" "$@"
}

# timed_step NAME CMD...: CMD's wall seconds (date, to the millisecond) and, when its
# standard output ends in a JSON object (train --json), that object, tagged with the step,
# the file read and its size, as one line of e2e.jsonl.
timed_step() {
    local name=$1
    shift
    # shellcheck disable=SC2016 # the inner script's own variables
    step "$name" bash -c '
        name=$1 stage=$2 file=$3; shift 3
        t0=$(date +%s.%N)
        o=$("$@") || rc=$?
        t1=$(date +%s.%N)
        printf "%s\n" "$o"
        j=$(printf "%s\n" "$o" | tail -n 1)
        case $j in "{"*"}") ;; *) j=null ;; esac
        bytes=$(stat -c %s "$file" 2>/dev/null || echo null)
        printf "{\"step\":\"%s\",\"exit\":%d,\"wall_s\":%s,\"file\":\"%s\",\"bytes\":%s,\"result\":%s}\n" "$name" \
            "${rc:-0}" "$(awk -v a="$t0" -v b="$t1" "BEGIN {printf \"%.3f\", b - a}")" "$file" "$bytes" "$j" \
            >>"$stage/e2e.jsonl"
        exit ${rc:-0}' _ "$name" "$stage" "$@"
}

# sanitize_step NAME TOOL SUMMARY-REGEX BINARY:TEST...: compute-sanitizer TOOL over each test
# (or Criterion filter pattern) alone (Criterion forks a process per test: the sanitizer
# follows the children), all at once, one log each (logs/NAME-TEST.log). The step passes
# when every log has the tool's clean summary; a test's own assertion failing (the known
# failures) does not count here: the test steps judge those.
sanitize_step() {
    local name=$1 tool=$2 clean=$3
    shift 3
    # shellcheck disable=SC2016 # the inner script's own variables
    step "$name" bash -c '
        name=$1 tool=$2 clean=$3 bin=$4 stage=$5; shift 5
        logname() { local t=${1//\//_}; printf "%s" "$stage/logs/$name-${t//\*/x}.log"; }
        for bt in "$@"; do
            b=${bt%%:*} t=${bt#*:}
            compute-sanitizer --tool "$tool" --target-processes all "$bin/$b" --filter "$t" --jobs 1 \
                >"$(logname "$t")" 2>&1 &
        done
        wait
        rc=0
        for bt in "$@"; do
            t=${bt#*:} f=$(logname "$t")
            # clean: the tool'"'"'s summary says so, and no summary line says otherwise
            if grep -Eq "$clean" "$f" && ! grep -E "(ERROR|RACECHECK) SUMMARY" "$f" | grep -vEq "$clean"; then
                r=clean
            else
                r=NOT-CLEAN rc=1
            fi
            printf "%-50s %-9s %s\n" "$t" "$r" "$(grep -m1 -o "Synthesis: .*" "$f")"
        done
        exit $rc' _ "$name" "$tool" "$clean" "$bin" "$stage" "$@"
}

# ---------------------------------------------------------------- the steps
# One function per step (run_NAME, '-' as '_'); the driver below calls them in the table's
# order, a step's producers first when their products are missing.

run_env() {
    # shellcheck disable=SC2016 # the inner script's own variables
    step env bash -c 'nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv;
        cat /proc/driver/nvidia/version; uname -r; ldd --version | head -1; nproc; free -g | head -2;
        df -h "${TMPDIR:-/tmp}" | tail -1; compute-sanitizer --version | tail -1; ldd "$1"/* | grep "not found";
        "$1"/cufactor --version; true' _ "$bin"
}
# Criterion: one process per test, 16 at a time (the host has 16 cores; the first run's
# tests took 45.9 s and 32.9 s one after the other, the longest 3.2 s and 6.4 s).
run_test_gpu_als() { step test_gpu_als "$bin/test_gpu_als" --verbose --jobs 16; }
run_test_gpu_sgd() { step test_gpu_sgd "$bin/test_gpu_sgd" --verbose --jobs 16; }
# cufactor verify on 5 M ratings (100 k × 10 k), 3 iterations: the kernels that change
# next (ALS Gram+RHS+solve, SGD hogwild and blocks) against the CPU reference.
run_verify_gen() {
    step verify-gen "$bin/cufactor" gen --users 100000 --items 10000 --ratings 5000000 --rank 16 --noise 0.5 \
        --out "$work/verify.tsv"
}
run_verify_als_k100() { verify_step verify-als-k100 "$work/verify.tsv" --factors 100 --iters 3; }
run_verify_als_k100_fused() {
    verify_step verify-als-k100-fused "$work/verify.tsv" --factors 100 --iters 3 --als-solver fused
}
run_verify_sgd_blocks_k128() {
    verify_step verify-sgd-blocks-k128 "$work/verify.tsv" --factors 128 --iters 3 --algo sgd --schedule blocks \
        --blocks 64 --lr 0.005
}
run_verify_sgd_hogwild_k128() {
    verify_step verify-sgd-hogwild-k128 "$work/verify.tsv" --factors 128 --iters 3 --algo sgd --schedule hogwild \
        --lr 0.005
}
# Issue 15's small shape (MovieLens-100k: 943 × 1,682, 100 k ratings), where hogwild
# was 15 % worse than the CPU on 2026-12-04: 20 epochs of hogwild K = 32 against the
# CPU's shuffle by test RMSE (issue 15 asks ≤ 0.5 %; verify's own bound is 1 %).
run_verify_gen_ml100k() {
    step verify-gen-ml100k "$bin/cufactor" gen --users 943 --items 1682 --ratings 100000 --rank 8 --noise 0.5 \
        --out "$work/verify-ml100k.tsv"
}
run_verify_sgd_hogwild_ml100k() {
    verify_step verify-sgd-hogwild-ml100k "$work/verify-ml100k.tsv" --factors 32 --iters 20 --algo sgd \
        --schedule hogwild --lr 0.01
}
# compute-sanitizer over the kernels that change: the Gram kernel (alone and in a whole
# ALS half step: Gram, RHS, solve), the SGD update kernels (fp32, fp16, hogwild, blocks)
# and mini-batch GD's gather of its batch lists.
run_memcheck() {
    sanitize_step memcheck memcheck 'ERROR SUMMARY: 0 errors' \
        test_gpu_als:gpu_als/gram_K7 test_gpu_als:gpu_als/gram_K256_short_segments \
        test_gpu_als:gpu_als/half_step_K32 test_gpu_als:gpu_als/chol_fused_d101 \
        test_gpu_als:gpu_als/solver_fused_K128 test_gpu_sgd:gpu_sgd/single_update_K33 \
        test_gpu_sgd:gpu_sgd/single_update_K100_fp16 test_gpu_sgd:gpu_sgd/blocks_vs_cpu_K100 \
        test_gpu_sgd:gpu_sgd/hogwild_within_half_percent_of_cpu_K32 test_gpu_sgd:gpu_sgd/single_update_K256_fp16 \
        test_gpu_sgd:gpu_sgd/blocks_vs_cpu_K256 test_gpu_sgd:gpu_sgd/blocks_vs_cpu_K300_from_memory \
        test_gpu_sgd:gpu_sgd/ring_depths_agree_blocks_K128 test_gpu_sgd:gpu_sgd/ring_depths_agree_hogwild_K32 \
        test_gpu_sgd:gpu_gd/minibatch_K1_nobias_batch97_equals_cpu
}
# racecheck looks at shared memory: the Gram kernel's staging (and a fused kernel's).
run_racecheck() {
    sanitize_step racecheck racecheck 'RACECHECK SUMMARY: 0 hazards' \
        test_gpu_als:gpu_als/gram_K100 test_gpu_als:gpu_als/half_step_K32 \
        test_gpu_als:gpu_als/chol_fused_d101 test_gpu_als:gpu_als/solver_fused_K128 \
        test_gpu_sgd:gpu_sgd/blocks_vs_cpu_K33
}
# The Netflix shape (480,189 × 17,770, 100 M ratings) once into bench/cache (binary, the
# format of cufactor convert); the benches and the nightly suite read it back.
run_bench_data() { step bench-data "$bin/bench_sgd" --data-only; }
run_bench_als() {
    step bench_als "$bin/bench_als" --factors 100,128 --iters 3 --cpu-scale 0.02 --commit "$commit" \
        --json "$stage/bench_als.jsonl"
}
# The same with the fused solve (kernels/chol.cu), GPU only: which solver is faster
# decides the default of --als-solver (docs/USAGE.md "GPU ALS solver").
run_bench_als_fused() {
    step bench_als-fused "$bin/bench_als" --factors 100,128 --iters 3 --no-cpu --als-solver fused \
        --commit "$commit" --json "$stage/bench_als.jsonl"
}
run_bench_sgd_hogwild() {
    step bench_sgd-hogwild "$bin/bench_sgd" --schedule hogwild --epochs 3 --item-write all --commit "$commit" \
        --json "$stage/bench_sgd.jsonl"
}
# The same in fp16 with the row bound loosened (min(users, items)/2 warps: the whole
# device on the Netflix shape instead of 17,770/8 = 2,221 warps): the speed the bound
# costs, and from the RMSE per epoch whether the racing it admits costs quality.
run_bench_sgd_hogwild_rpw2() {
    step bench_sgd-hogwild-rpw2 "$bin/bench_sgd" --schedule hogwild --precision fp16 --rows-per-warp 2 --epochs 3 \
        --commit "$commit" --json "$stage/bench_sgd.jsonl"
}
# The nightly suite's GPU cases with the packed cufactor (no cmake, no OpenBLAS there):
# they append to bench/results/gpu.jsonl, which comes back whole, and its new lines alone.
run_nightly_gpu() {
    local n0
    n0=$(wc -l <bench/results/gpu.jsonl 2>/dev/null || echo 0)
    step nightly-gpu env CUFACTOR_BIN="$bin/cufactor" CUFACTOR_COMMIT="$commit" bench/nightly.sh --devices gpu
    if [ -f "$stage/logs/nightly-gpu.log" ] && [ -f bench/results/gpu.jsonl ]; then
        cp bench/results/gpu.jsonl "$stage/gpu.jsonl"
        tail -n +$((n0 + 1)) bench/results/gpu.jsonl >"$stage/nightly-gpu.jsonl"
        publish
    fi
}
# Last of `all`, with its own short limit: the blocks schedule (B = 1024), one timed epoch.
run_bench_sgd_blocks() {
    step bench_sgd-blocks "$bin/bench_sgd" --schedule blocks --epochs 1 --commit "$commit" \
        --json "$stage/bench_sgd.jsonl"
}

# ---- extra: issue 16 end to end. A Netflix-shaped text file (480,189 × 17,770, 100 M
# ratings: ≈ 2.1 GB, as the 2.13 GB file of 2026-12-04), then the issue's command
# `cufactor train FILE --device gpu --algo als --factors 100 --iters 10` (bar: ≤ 8 s wall)
# with --json (the phase seconds: read, prepare, upload, iterations, evaluation, save), the
# same from its binary copy (cufactor convert; bar: ≤ 4 s once the iterations are under
# 60 ms), and bench_load on the file: reading at 1 and 16 threads (bar: ≥ 1.5 GB/s), convert,
# binary load, preparation at 1 and 16 threads, model save. Each run's wall seconds and JSON
# go to e2e.jsonl, bench_load's medians to bench_load.jsonl.
run_e2e_gen() {
    # shellcheck disable=SC2016 # the inner script's own variables
    step e2e-gen bash -c '
        f=$1; shift
        if [ -f "$f" ] && [ "$(cat "$f.args" 2>/dev/null)" = "$*" ]; then
            echo "$f: made earlier in this machine by the same command: reused"; exit 0
        fi
        rm -f "$f.args"
        "$@" --out "$f" && printf "%s\n" "$*" >"$f.args"' _ "$work/nf.tsv" "$bin/cufactor" gen --users "$nf_users" \
        --items "$nf_items" --ratings "$nf_ratings" --rank 16 --noise 0.5
}
run_e2e_train_text() {
    timed_step e2e-train-text "$work/nf.tsv" "$bin/cufactor" train "$work/nf.tsv" --device "$dev" --algo als \
        --factors 100 --iters 10 --json
}
run_e2e_convert() { timed_step e2e-convert "$work/nf.tsv" "$bin/cufactor" convert "$work/nf.tsv" "$work/nf.cfd"; }
run_e2e_train_bin() {
    timed_step e2e-train-bin "$work/nf.cfd" "$bin/cufactor" train "$work/nf.cfd" --device "$dev" --algo als \
        --factors 100 --iters 10 --json
}

# ---- issue 15's peer on this card (bench/build_cumf_sgd.sh, packed when CUMF_SGD_SRC was set):
# the bench set (bench_peer reads or makes the cache itself) as cuMF_SGD's input, cuMF_SGD at
# the settings of 2026-12-04 (K 128, λ 0.05, α 0.08, β 0.3, 6,864 workers) for 10 iterations,
# its model scored on the bench's test 1 % (a peer_cumf_sgd line in bench_sgd.jsonl: its
# update_per_sec and test RMSE), then bench_sgd hogwild fp16 at the same settings (--no-bias,
# invscale) for the same 10 epochs (a warm-up and 9 timed): updates/s and test RMSE side by side,
# on the same card in the same call. CF_GPU_SESSION_PEER_ARGS: the data options of both
# programs (a test's small shape and cache; default: the Netflix shape in bench/cache).
run_peer_cumf_sgd() {
    # shellcheck disable=SC2016,SC2086 # the inner script's own variables; the data options split into words
    step peer-cumf-sgd bash -c '
        bin=$1 stage=$2 d=$3/cumf commit=$4 iters=10; shift 4
        if [ ! -x "$bin/cumf_sgd" ]; then
            echo "peer-cumf-sgd: no cumf_sgd in the pack (bench/gpu_session.sh pack with CUMF_SGD_SRC set): no peer to run"
            exit 0
        fi
        gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
        rm -rf "$d" && mkdir -p "$d" || exit 1
        "$bin/bench_peer" "$@" --export "$d" --files 16 || exit 1
        "$bin/cumf_sgd" -g 0 -k 128 -l 0.05 -a 0.08 -b 0.3 -s 6864 -t $iters "$d/train.bin" "$d/model" >"$d/log" 2>&1
        rc=$?
        grep -v "^$" "$d/log" | tail -n 40
        rm -f "$d"/train.bin*
        [ $rc -eq 0 ] || exit $rc
        "$bin/bench_peer" "$@" --score "$d/model" --peer-log "$d/log" --peer-iters $iters --device "${gpu:-unknown}" \
            --commit "$commit" --json "$stage/bench_sgd.jsonl" || exit 1
        rm -f "$d/model" "$d/test.bin"
        "$bin/bench_sgd" "$@" --schedule hogwild --precision fp16 --no-bias --lambda 0.05 --lr 0.08 \
            --lr-schedule invscale --lr-beta 0.3 --epochs $((iters - 1)) --commit "$commit" --json "$stage/bench_sgd.jsonl"
        ' _ "$bin" "$stage" "$work" "$commit" ${CF_GPU_SESSION_PEER_ARGS:-}
}

# ==== SLOT (a): the tensor-core Gram (--als-gram tc, kernels/gram_tc.cu). Its GPU tests run
# in `all` (test_gpu_als runs every test of the binary, the 21 gpu_als_tc ones included:
# read their "long rows (tc Gram …)" line, median ≤ 1e-6 on real tensor cores is the key
# accuracy check). Here: memcheck and racecheck of a few of its tests (the kernel stages its
# tiles in shared memory), `verify --als-gram tc` against the CPU at K = 100 (cuSOLVER) and
# K = 128 (the fused solve), and `bench_als --als-gram tc` beside `all`'s simt bench_als:
# the faster Gram becomes the default (docs/USAGE.md "GPU ALS Gram").
tc_memcheck_tests="test_gpu_als:gpu_als_tc/gram_K15 test_gpu_als:gpu_als_tc/gram_K256_short_segments test_gpu_als:gpu_als_tc/half_step_K32"
tc_racecheck_tests="test_gpu_als:gpu_als_tc/gram_K100 test_gpu_als:gpu_als_tc/half_step_K128"
run_slot_tc_memcheck() {
    # shellcheck disable=SC2086 # BINARY:TEST words
    sanitize_step slot-tc-memcheck memcheck 'ERROR SUMMARY: 0 errors' $tc_memcheck_tests
}
run_slot_tc_racecheck() {
    # shellcheck disable=SC2086 # BINARY:TEST words
    sanitize_step slot-tc-racecheck racecheck 'RACECHECK SUMMARY: 0 hazards' $tc_racecheck_tests
}
run_slot_tc_verify() {
    verify_step slot-tc-verify "$work/verify.tsv" --factors 100 --iters 3 --als-gram tc
}
run_slot_tc_verify_k128_fused() {
    verify_step slot-tc-verify-k128-fused "$work/verify.tsv" --factors 128 --iters 3 --als-gram tc --als-solver fused
}
run_slot_tc_bench_als() {
    step slot-tc-bench_als "$bin/bench_als" --factors 100,128 --iters 3 --no-cpu --als-gram tc \
        --commit "$commit" --json "$stage/bench_als.jsonl"
}
# ==== SLOT (c): the SGD kernels' look-ahead ring (kernels/sgd.cu; session 7). `all` runs the
# defaults (blocks 8 ratings ahead, hogwild 1): its test_gpu_sgd has the ring tests, its
# memcheck two of them, its verify-sgd-blocks-k128 and bench_sgd-blocks run depth 8. Here,
# each depth beside the other in one process (bench_sgd --prefetch LIST): the blocks epoch
# at depths 1 and 8 (the "critical path … ns each" lines: ≈ 600–800 ns at depth 1 if each
# update waits on a DRAM read, ≈ 100 ns if the ring hides it), and hogwild fp16 at depths 1
# and 4 (updates/s and test RMSE per epoch: hogwild's default stays 1 unless 4 is faster at
# no cost in RMSE).
run_slot_ring_blocks() {
    step slot-ring-blocks "$bin/bench_sgd" --schedule blocks --precision fp32 --epochs 1 --prefetch 1,8 \
        --commit "$commit" --json "$stage/bench_sgd.jsonl"
}
run_slot_ring_hogwild() {
    step slot-ring-hogwild "$bin/bench_sgd" --schedule hogwild --precision fp16 --epochs 3 --prefetch 1,4 \
        --commit "$commit" --json "$stage/bench_sgd.jsonl"
}
# ---- issue 15 item 4 (in `all`): the SGD epoch of `cufactor train` against bench_sgd's.
# bench_sgd times each epoch also as train runs it (cf_train_step + cf_train_evaluate: the
# "as cufactor train runs it: … ratio× the bare epoch" line and train_over_bare in its
# records, bar ≤ 1.10) in the bench_sgd steps. Here: memcheck of the one-launch evaluation
# kernel (eval_all_kernel) through its tests, and the CLI itself on the bench cache at
# bench_sgd's settings (K = 128, hogwild fp16, λ 0.05 weighted, lr 0.005 const, 1 % test):
# its per-iteration seconds and phase_seconds.evaluation beside bench_sgd's line.
sgd_eval_tests="test_gpu_sgd:gpu_eval/K1_fp32_bias test_gpu_sgd:gpu_eval/K7_fp16_bias test_gpu_sgd:gpu_eval/K128_fp16_bias test_gpu_sgd:gpu_eval/K300_fp32_bias"
run_sgd_eval_memcheck() {
    # shellcheck disable=SC2086 # sgd_eval_tests: BINARY:TEST words
    sanitize_step sgd-eval-memcheck memcheck 'ERROR SUMMARY: 0 errors' $sgd_eval_tests
}
run_sgd_train_epochs() {
    # shellcheck disable=SC2016 # the inner script's own variables
    step sgd-train-epochs bash -c '
        bin=$1 dev=$2
        cache=$(ls bench/cache/*.cfd | head -1)
        "$bin/cufactor" train "$cache" --device "$dev" --algo sgd --schedule hogwild --precision fp16 \
            --factors 128 --lambda 0.05 --reg weighted --lr 0.005 --lr-schedule const --test-ratio 0.01 \
            --iters 4 --json' _ "$bin" "$dev"
}

# Last of `extra`: bench_load on the Netflix-shaped file, 3 alternating rounds, the saved
# model of the same shape (480,189 users × 17,770 items × K = 128: ≈ 520 MB, issue 16's item 5).
run_bench_load_nf() {
    # shellcheck disable=SC2016 # the inner script's own variables
    step bench_load-nf bash -c '
        set -o pipefail
        "$1/bench_load" "$2" --runs 3 --threads "$(nproc)" --model-users "$4" --json | tee "$3/bench_load.out" || rc=$?
        grep "^{" "$3/bench_load.out" >>"$3/bench_load.jsonl"; rm -f "$3/bench_load.out"
        exit ${rc:-0}' _ "$bin" "$work/nf.tsv" "$stage" "$nf_users"
}
# Call 3, `profile`, only when `all` and `extra` came back clean with the lease's time left
# for it (GPU_SESSION.md): Nsight Compute on the first launch of each
# new kernel on the Netflix shape (the SIMT and tensor-core Grams and the fused solve at
# K = 100, hogwild fp16 at K = 128), one process each, text reports in logs/ncu-KERNEL.log:
# speed of light, occupancy, launch statistics, memory and compute workloads — what a
# later session without a GPU needs to tune them (2026-12-04's ncu figures are of the old
# kernels).
run_ncu_kernels() {
    # shellcheck disable=SC2016 # the inner script's own variables
    step ncu-kernels bash -c '
        bin=$1 stage=$2 rc=0
        prof() {
            local tag=$1 k=$2
            shift 2
            ncu --clock-control none --target-processes all -k "regex:$k" -c 1 --section SpeedOfLight --section Occupancy \
                --section LaunchStats --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
                "$@" >"$stage/logs/ncu-$tag.log" 2>&1 || rc=1
            grep -E "Duration|Registers Per|Achieved Occupancy|Memory Throughput|Compute \(SM\) Throughput" \
                "$stage/logs/ncu-$tag.log" | sed "s/^/$tag: /"
        }
        prof gram "^gram_kernel" "$bin/bench_als" --factors 100 --iters 1 --no-cpu
        prof gram_tc "^gram_tc_kernel" "$bin/bench_als" --factors 100 --iters 1 --no-cpu --als-gram tc
        prof chol_fused "^chol_fused_kernel" "$bin/bench_als" --factors 100 --iters 1 --no-cpu --als-solver fused
        prof sgd_hogwild_fp16 "sgd_hogwild_kernel" "$bin/bench_sgd" --schedule hogwild --precision fp16 --epochs 1
        exit $rc' _ "$bin" "$stage"
}
# ---- session 11: hogwild's runs of whole users against fixed runs (bench_sgd --runs all),
# fp16, side by side: updates/s (whole users: heavy users first, work from a counter since
# session 12, modelled at 1.06x the mean warp on this shape) and test RMSE per epoch (a
# heavy user's row no longer raced by several warps).
run_slot_runs_hogwild() {
    step slot-runs-hogwild "$bin/bench_sgd" --schedule hogwild --precision fp16 --epochs 3 --runs all \
        --commit "$commit" --json "$stage/bench_sgd.jsonl"
}

# have STEP: its product is there (or, in a dry run, it ran in this call).
have() {
    local p
    p=$(printf '%s\n' "$products" | awk -v n="$1" '$1 == n {print $2}')
    [ -n "$p" ] || return 0
    [[ "$ran" == *" $1 "* && "$dry" == 1 ]] && return 0
    # shellcheck disable=SC2086 # p may be a glob
    compgen -G "$p" >/dev/null
}

# do_step STEP: its producers first where their products are missing (and they did not
# run in this call already), then the step.
do_step() {
    local p
    for p in $(printf '%s\n' "$needs" | awk -v n="$1:" '$1 == n {$1 = ""; print}'); do
        if ! have "$p" && [[ "$ran" != *" $p "* ]]; then do_step "$p"; fi
    done
    [[ "$ran" == *" $1 "* ]] && return 0
    "run_${1//-/_}"
}

case "$mode" in
pack)
    export PATH=/usr/local/cuda/bin:$PATH
    # The CMake build lives beside build-gpu (in build-gpu-cmake, also git-ignored) so that
    # it is incremental and does not travel: only build-gpu/ is carried.
    cm=build-gpu-cmake
    progs="test_gpu_als test_gpu_sgd cufactor bench_als bench_sgd bench_load bench_peer"
    rm -rf build-gpu
    mkdir -p build-gpu/bin
    cmake -S . -B "$cm" -DCMAKE_BUILD_TYPE=Release -DCUFACTOR_CUDA=ON -DCUFACTOR_WERROR=ON \
        -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
    # shellcheck disable=SC2086 # progs: the targets
    cmake --build "$cm" -j"${CF_PACK_JOBS:-$(nproc)}" --target $progs
    for p in $progs; do cp "$cm/$p" build-gpu/bin/; done
    # The peer of issue 15 (step peer-cumf-sgd), from a copy of its source outside the tree.
    if [ -n "${CUMF_SGD_SRC:-}" ]; then
        bench/build_cumf_sgd.sh "$CUMF_SGD_SRC" build-gpu/bin/cumf_sgd
    else
        echo "gpu_session: CUMF_SGD_SRC not set: no cuMF_SGD in the pack (step peer-cumf-sgd will say so)"
    fi
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
    # The programs in one xz stream (unpack() says why).
    tar cf - -C build-gpu bin | xz -T0 -6 >build-gpu/bin.tar.xz
    rm -rf build-gpu/bin
    du -sh build-gpu
    # The device tool carries at most 64 MiB with the working tree.
    [ "$(du -sm build-gpu | cut -f1)" -le 48 ] || { echo "gpu_session: build-gpu is over 48 MiB: too big to carry" >&2; exit 1; }
    ;;
plan)
    printf '%-26s %-6s %6s %6s %9s\n' step call limit min estimate
    printf '%s\n' "$steps" | awk 'NF == 5 {
            printf "%-26s %-6s %6d %6d %9d\n", $1, $2, $3, $4, $5; l[$2] += $3; e[$2] += $5 }
        END {printf "%-26s %-6s %6d %6s %9d   (budget 320 s, call timeout_s 345)\n", "sum", "all", l["all"], "", e["all"]
             printf "%-26s %-6s %6d %6s %9d   (budget 300 s, call timeout_s 325)\n", "sum", "extra", l["extra"], "", e["extra"]
             printf "%-26s %-6s %6d %6s %9d   (budget 120 s, call timeout_s 135)\n", "sum", "profile", l["profile"], "", e["profile"]}'
    ;;
failed)
    f=${1:?usage: bench/gpu_session.sh failed SUMMARY}
    s=$(awk '$2 == "FAILED" || $2 == "TIMEOUT" || $2 == "skipped" {printf " %s", $1}' "$f")
    if [ -z "$s" ]; then echo "gpu_session: $f: nothing failed, timed out or was skipped"; exit 0; fi
    echo "run(command=\"bench/gpu_session.sh rerun$s\", carry=[\"build-gpu\"], timeout_s=325)"
    ;;
all | extra | profile | rerun)
    [ "$mode" != rerun ] || [ -n "$sel" ] || { echo "gpu_session: rerun needs the STEPs to run (bench/gpu_session.sh plan lists them)" >&2; exit 2; }
    for s in $only; do
        row=$(step_row "$s")
        [ -n "$row" ] || { echo "gpu_session: no step '$s' (bench/gpu_session.sh plan lists them)" >&2; exit 2; }
        [ "$mode" = rerun ] || [ "${row%% *}" = "$mode" ] ||
            { echo "gpu_session: step '$s' belongs to '${row%% *}', not '$mode' (use rerun)" >&2; exit 2; }
    done
    mkdir -p "$work" "$out"
    rm -rf "$stage" && mkdir -p "$stage/logs"
    unpack
    printf '%-26s %-11s %4s %6s %6s %6s\n' step status exit "wall s" limit "est s" >"$summary"
    for s in $(printf '%s\n' "$steps" | awk -v m="$mode" 'NF == 5 && (m == "rerun" || $2 == m) {print $1}'); do
        if [ -n "$sel" ] && [[ "$only" != *" $s "* ]]; then continue; fi
        do_step "$s"
    done
    printf '%s%s: %s, %d s in all (budget %d s), commit %s\n' "$mode" "${sel:+ $sel}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        $((SECONDS - t_start)) "$budget" "$commit" >>"$summary"
    publish
    echo "== summary ($out: summary.txt, results.tar.gz of $(find "$stage" -type f | wc -l) files)"
    cat "$summary"
    exit $failed
    ;;
*)
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" # the header comment
    exit 2
    ;;
esac
