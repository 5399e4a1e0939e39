#!/usr/bin/env bash
# bench/cpu_vs_libmf.sh — the CPU side by side: cufactor's fp32 SIMD path against its fp64
# reference and, when a LIBMF binary is given, against LIBMF, on the same generated
# train/test split, in alternating runs (issue 18).
#
# usage: LIBMF_TRAIN=/path/to/mf-train bench/cpu_vs_libmf.sh [options]
#   --sets "ml100k 10m"   data sets: ml100k = the MovieLens-100k shape (943 × 1682, 100 000
#                          whole-star ratings, planted rank 10, noise 0.7); 10m = 100 000 ×
#                          10 000, 10 M whole-star ratings (rank 16, noise 0.5); both from
#                          `cufactor gen --seed 1`, split 90/10 by awk's srand(7)
#   --file PATH           the set `file` (--sets "file ..."): a real ratings file (MovieLens u.data, ratings.dat,
#                          ratings.csv; LIBMF text): its first three fields (user, item, rating;
#                          a header line skipped) as "user item rating" lines, the IDs numbered
#                          densely from 0 in order of appearance (LIBMF takes IDs as row
#                          numbers: MovieLens' sparse movie IDs, up to 193,609 for 9,742 movies,
#                          would cost it a factor row for every unused number), split 90/10 as
#                          the generated sets; made again when PATH is newer than the split
#   --ks "64 128"         factors K
#   --threads "1 2"       thread counts (LIBMF -s, cufactor --threads)
#   --reps 3              repetitions of every run (medians are reported)
#   --iters 20            SGD iterations (epochs) of every tool
#   --lambda 0.05         λ: LIBMF -l2, cufactor --lambda with --reg weighted (λ per rating)
#   --fp64 small|all|none the fp64 reference's SGD too: on ml100k only (default), every
#                          set, or none (on 10m it runs ≈ 1-3 M updates/s: minutes per run)
#   --als small|all|none  ALS, fp32 against fp64 (default small: ml100k; all adds 10m)
#   --als-iters "10 5"    ALS iterations on ml100k and on 10m
#   --work DIR            where the data and models go (default bench/cache/cpu_vs_libmf;
#                          the data is generated once and reused)
#   --out FILE            also write the report (markdown) there
#
# Environment: LIBMF_TRAIN (mf-train; without it the LIBMF columns are skipped), LIBMF_PREDICT
# (default: mf-predict beside LIBMF_TRAIN), CUFACTOR_BIN (default build/cufactor).
#
# Every tool at its own default learning-rate rule (LIBMF: -r 0.1 with its per-row adaptive
# step; cufactor: --lr unset), no biases (LIBMF has none: cufactor --no-bias), the same K, λ,
# iterations and threads. Measured per run:
#   cufactor  s/iteration = the `iterations` phase of `train --json` / iterations (update
#             steps only, evaluation excluded), updates/s = training ratings × iterations /
#             that phase; test RMSE after the last iteration (train --test FILE);
#   LIBMF     s/iteration = (T(iters) − T(1)) / (iters − 1), T(n) the wall time of
#             `mf-train --quiet -t n` (so reading, shuffling and its cheaper first iteration
#             cancel), updates/s likewise; test RMSE = `mf-predict -e 0` of the iters run's model.
# Runs alternate (LIBMF, cufactor fp32, LIBMF -t 1, cufactor fp64 ...) so that a change of
# the machine's load falls on both tools; the report gives medians and the spread.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sets="ml100k 10m"
ks="64 128"
threads_list="1 2"
reps=3
iters=20
lambda=0.05
fp64=small
als=small
als_iters="10 5"
work=$root/bench/cache/cpu_vs_libmf
out=
file=
while [ $# -gt 0 ]; do
    case "$1" in
    --sets) sets=${2:?}; shift 2 ;;
    --ks) ks=${2:?}; shift 2 ;;
    --threads) threads_list=${2:?}; shift 2 ;;
    --reps) reps=${2:?}; shift 2 ;;
    --iters) iters=${2:?}; shift 2 ;;
    --lambda) lambda=${2:?}; shift 2 ;;
    --fp64) fp64=${2:?}; shift 2 ;;
    --als) als=${2:?}; shift 2 ;;
    --als-iters) als_iters=${2:?}; shift 2 ;;
    --work) work=${2:?}; shift 2 ;;
    --file) file=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,43p' "$0"; exit 0 ;;
    *) echo "cpu_vs_libmf.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ "$iters" -ge 2 ] || { echo "cpu_vs_libmf.sh: --iters must be >= 2" >&2; exit 2; }
cf=${CUFACTOR_BIN:-$root/build/cufactor}
[ -x "$cf" ] || { echo "cpu_vs_libmf.sh: no cufactor at $cf (build it, or set CUFACTOR_BIN)" >&2; exit 1; }
libmf=${LIBMF_TRAIN:-}
if [ -n "$libmf" ]; then
    [ -x "$libmf" ] || { echo "cpu_vs_libmf.sh: LIBMF_TRAIN=$libmf is not executable" >&2; exit 1; }
    predict=${LIBMF_PREDICT:-$(dirname "$libmf")/mf-predict}
    [ -x "$predict" ] || { echo "cpu_vs_libmf.sh: no mf-predict at $predict (set LIBMF_PREDICT)" >&2; exit 1; }
else
    echo "cpu_vs_libmf.sh: LIBMF_TRAIN not set: cufactor only" >&2
fi
mkdir -p "$work"
raw=$work/runs.tsv
: > "$raw"

now() { date +%s.%N; }
num() { # num JSON KEY: the number after "KEY":
    printf '%s' "$1" | grep -o "\"$2\":[-0-9.eE+]*" | head -n1 | cut -d: -f2
}

make_set() { # make_set NAME: $work/NAME.train, NAME.test
    local name=$1 args
    case "$name" in
    file)
        if [ -z "$file" ] || [ ! -r "$file" ]; then
            echo "cpu_vs_libmf.sh: set 'file' needs --file PATH (readable)" >&2
            exit 2
        fi
        if [ ! -s "$work/file.train" ] || [ "$file" -nt "$work/file.train" ]; then
            # the first three fields of every line whose rating is a number (a header is not),
            # the IDs as dense row numbers
            awk -F'::|[,\t ]+' -v tr="$work/file.train" -v te="$work/file.test" 'BEGIN { srand(7) }
                $3 ~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/ {
                    if (!($1 in U)) U[$1] = nu++
                    if (!($2 in I)) I[$2] = ni++
                    if (rand() < 0.1) print U[$1], I[$2], $3 > te; else print U[$1], I[$2], $3 > tr }' "$file"
        fi
        return 0 ;;
    ml100k) args="--users 943 --items 1682 --ratings 100000 --rank 10 --noise 0.7" ;;
    10m) args="--users 100000 --items 10000 --ratings 10000000 --rank 16 --noise 0.5" ;;
    *) echo "cpu_vs_libmf.sh: unknown set '$name'" >&2; exit 2 ;;
    esac
    if [ ! -s "$work/$name.train" ] || [ ! -s "$work/$name.test" ]; then
        # shellcheck disable=SC2086
        "$cf" gen $args --round --seed 1 --out "$work/$name.all" >&2
        awk -v tr="$work/$name.train" -v te="$work/$name.test" 'BEGIN { srand(7) }
            { if (rand() < 0.1) print > te; else print > tr }' "$work/$name.all"
        rm -f "$work/$name.all"
    fi
}

# One cufactor training: prints "s_per_iter updates_per_s test_rmse device"
cf_run() { # cf_run SET K THREADS PRECISION ALGO ITERS
    local j it n rmse dev
    j=$("$cf" train "$work/$1.train" --test "$work/$1.test" --algo "$5" --no-bias --factors "$2" \
        --lambda "$lambda" --reg weighted --iters "$6" --threads "$3" --device cpu --precision "$4" \
        --json --quiet)
    it=$(printf '%s' "$j" | grep -o '"iterations":[-0-9.eE+]*' | tail -n1 | cut -d: -f2)
    n=$(num "$j" n_train)
    rmse=$(num "$j" test_rmse)
    dev=$(printf '%s' "$j" | grep -o '"device":"[^"]*"' | cut -d'"' -f4 | tr ' ' '_')
    awk -v it="$it" -v n="$n" -v k="$6" -v r="$rmse" -v d="$dev" \
        'BEGIN { printf "%.6f %.4e %.6f %s\n", it / k, n * k / it, r, d }'
}

libmf_time() { # libmf_time SET K THREADS ITERS MODEL: wall seconds
    local t0 t1
    t0=$(now)
    "$libmf" -f 0 -k "$2" -l2 "$lambda" -t "$4" -s "$3" --quiet "$work/$1.train" "$5" > /dev/null
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }

host=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
commit=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "# cufactor fp32 / fp64 and LIBMF on the CPU — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "host: ${host:-?}, $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "cufactor: $cf (commit $commit); LIBMF: ${libmf:-not given}"
    echo "settings: $iters iterations, λ = $lambda (LIBMF -l2; cufactor --reg weighted), no biases, $reps repetitions, medians (spread)"
    echo
} | tee "$work/report.md"

for set in $sets; do
    make_set "$set"
    ntrain=$(wc -l < "$work/$set.train")
    for K in $ks; do
        for T in $threads_list; do
            for rep in $(seq 1 "$reps"); do
                if [ -n "$libmf" ]; then
                    tl=$(libmf_time "$set" "$K" "$T" "$iters" "$work/libmf.model")
                    lr=$("$predict" -e 0 "$work/$set.test" "$work/libmf.model" "$work/libmf.out" | awk '/RMSE/ { print $3 }')
                fi
                read -r s ups r dev <<< "$(cf_run "$set" "$K" "$T" fp32 sgd "$iters")"
                printf 'sgd\t%s\t%s\t%s\tcufactor-fp32\t%s\t%s\t%s\t%s\n' "$set" "$K" "$T" "$s" "$ups" "$r" "$dev" >> "$raw"
                if [ -n "$libmf" ]; then
                    t1=$(libmf_time "$set" "$K" "$T" 1 "$work/libmf1.model")
                    awk -v a="$tl" -v b="$t1" -v k="$iters" -v n="$ntrain" -v r="$lr" -v s="$set" -v K="$K" -v T="$T" \
                        'BEGIN { x = (a - b) / (k - 1); printf "sgd\t%s\t%s\t%s\tlibmf\t%.6f\t%.4e\t%s\twall_%.2fs\n", s, K, T, x, n / x, r, a }' >> "$raw"
                fi
                if [ "$fp64" = all ] || { [ "$fp64" = small ] && [ "$set" = ml100k ]; }; then
                    read -r s ups r dev <<< "$(cf_run "$set" "$K" "$T" fp64 sgd "$iters")"
                    printf 'sgd\t%s\t%s\t%s\tcufactor-fp64\t%s\t%s\t%s\t%s\n' "$set" "$K" "$T" "$s" "$ups" "$r" "$dev" >> "$raw"
                fi
            done
            echo "done: sgd $set K=$K threads=$T" >&2
        done
        if [ "$als" = all ] || { [ "$als" = small ] && [ "$set" = ml100k ]; }; then
            ai=$(echo "$als_iters" | awk -v s="$set" '{ print (s == "ml100k" ? $1 : $2) }')
            T=$(echo "$threads_list" | awk '{ print $NF }')
            for rep in $(seq 1 "$reps"); do
                for p in fp32 fp64; do
                    read -r s ups r dev <<< "$(cf_run "$set" "$K" "$T" "$p" als "$ai")"
                    printf 'als\t%s\t%s\t%s\tcufactor-%s\t%s\t%s\t%s\t%s\n' "$set" "$K" "$T" "$p" "$s" "$ups" "$r" "$dev" >> "$raw"
                done
            done
            echo "done: als $set K=$K threads=$T" >&2
        fi
    done
done

# The report: one line per (algo, set, K, threads, tool), medians over the repetitions.
{
    echo "| algo | set | K | threads | tool | s / iteration (spread) | updates / s (M) | test RMSE | updates/s vs ref | RMSE vs ref | device |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    cut -f1-5 "$raw" | sort -u -t$'\t' -k1,1 -k2,2 -k3,3n -k4,4n -k5,5 | while IFS=$'\t' read -r a s K T tool; do
        sel() { awk -F'\t' -v a="$a" -v s="$s" -v K="$K" -v T="$T" -v t="$1" -v c="$2" \
            '$1 == a && $2 == s && $3 == K && $4 == T && $5 == t { print $c }' "$raw"; }
        sp=$(sel "$tool" 6 | median); spr=$(sel "$tool" 6 | spread)
        up=$(sel "$tool" 7 | median); rm=$(sel "$tool" 8 | median); dv=$(sel "$tool" 9 | head -n1)
        # the reference of a row: LIBMF for SGD (RMSE difference in %), fp64 for ALS (absolute)
        if [ "$a" = sgd ]; then ref=libmf; else ref=cufactor-fp64; fi
        rup=$(sel "$ref" 7 | median); rrm=$(sel "$ref" 8 | median)
        vs=$(awk -v x="$up" -v y="$rup" -v t="$tool" -v r="$ref" 'BEGIN { if (y == "" || y == 0 || t == r) print "–"; else printf "%.2f×", x / y }')
        dr=$(awk -v x="$rm" -v y="$rrm" -v t="$tool" -v r="$ref" -v a="$a" 'BEGIN {
            if (y == "" || t == r) print "–"; else if (a == "sgd") printf "%+.2f %%", 100 * (x - y) / y; else printf "%+.1e", x - y }')
        awk -v a="$a" -v s="$s" -v K="$K" -v T="$T" -v t="$tool" -v sp="$sp" -v spr="$spr" -v up="$up" -v rm="$rm" \
            -v vs="$vs" -v dr="$dr" -v dv="$dv" \
            'BEGIN { printf "| %s | %s | %s | %s | %s | %.4f (%s) | %.2f | %.4f | %s | %s | %s |\n", a, s, K, T, t, sp, spr, up / 1e6, rm, vs, dr, dv }'
    done
    echo
    echo "SGD rows compare with LIBMF (updates/s ratio; test RMSE difference in %), ALS rows with cufactor's fp64 reference (speed ratio; RMSE difference)."
    echo
    echo "Raw runs (algo, set, K, threads, tool, s/iteration, updates/s, test RMSE, device or LIBMF wall): $raw"
} | tee -a "$work/report.md"
[ -z "$out" ] || cp "$work/report.md" "$out"
