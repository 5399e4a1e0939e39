#!/usr/bin/env bash
# bench/nightly.sh — the nightly benchmark: builds cufactor (Release), runs the nightly suite
# of bench/suites.conf on every device present (the CPU always, the GPU when one is usable),
# compares each case with the last record of the same device and config in
# bench/results/<device>.jsonl, prints the table (case, before, now, change), appends the new
# records there and redraws bench/results/history-<device>.svg with gnuplot.
#
# usage: bench/nightly.sh [--threshold PCT (10)] [--suite NAME (nightly)] [--build DIR (build-release)]
#                         [--devices "cpu gpu" (those present)] [--plot-only]
#
# --plot-only runs nothing: it redraws the plots of bench/results/<device>.jsonl (e.g. after
# copying in the gpu.jsonl a GPU session brought back; see bench/GPU_SESSION.md).
#
# Exit codes: 0 all cases passed their checks and none regressed; 1 a case failed its check or
# an error; 3 a case is slower than its last record by more than the threshold.
# Environment: CUFACTOR_CMAKE_ARGS is passed to cmake (e.g. -DCUFACTOR_CUDA=OFF).
#   CUFACTOR_BIN=PATH uses that cufactor instead of building one (no cmake, no OpenBLAS
#   needed: e.g. the CUDA build packed by bench/gpu_session.sh, on the GPU machine).
#   CUFACTOR_COMMIT=SHA is the commit recorded (default: git rev-parse HEAD, +dirty with
#   local changes; a copy of the tree without .git needs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threshold=10
suite=nightly
build=$root/build-release
only_devices=
plot_only=0
while [ $# -gt 0 ]; do
    case "$1" in
    --threshold) threshold=${2:?--threshold needs a percentage}; shift 2 ;;
    --suite) suite=${2:?--suite needs a name}; shift 2 ;;
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --devices) only_devices=${2:?--devices needs a list: cpu, gpu or "cpu gpu"}; shift 2 ;;
    --plot-only) plot_only=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "nightly.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ -n "${CUFACTOR_BIN:-}" ]; then
    cf=$CUFACTOR_BIN
    [ -x "$cf" ] || { echo "nightly.sh: CUFACTOR_BIN=$cf is not an executable" >&2; exit 1; }
    echo "== using $cf (CUFACTOR_BIN): no build"
else
    echo "== build (Release) in $build"
    "$root/scripts/deps.sh"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCUFACTOR_WERROR=ON -DCUFACTOR_TESTS=OFF \
        -DCUFACTOR_BENCH=OFF ${CUFACTOR_CMAKE_ARGS:-} >/dev/null
    cmake --build "$build" -j"$(nproc)" --target cufactor >/dev/null
    cf=$build/cufactor
fi

if [ -n "${CUFACTOR_COMMIT:-}" ]; then
    commit=$CUFACTOR_COMMIT
else
    commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    # Local changes outside bench/results make the numbers those of no commit: say so in the record.
    if [ -n "$(git status --porcelain --untracked-files=no -- . ':!bench/results' 2>/dev/null)" ]; then
        commit="$commit+dirty"
    fi
fi

devices=cpu
if [ $plot_only -eq 1 ]; then
    devices=
    for d in cpu gpu; do [ ! -s "bench/results/$d.jsonl" ] || devices="$devices $d"; done
elif "$cf" --version | grep -q '^GPU: usable'; then devices="cpu gpu"; else
    echo "== no usable GPU ($("$cf" --version | sed -n 's/^GPU: //p')): GPU cases are skipped"; fi
if [ -n "$only_devices" ]; then
    want=
    for d in $only_devices; do
        case "$d" in cpu|gpu) ;; *) echo "nightly.sh: --devices: '$d' is not cpu or gpu" >&2; exit 2 ;; esac
        case " $devices " in *" $d "*) want="$want $d" ;; *) echo "== $d: not usable here (or no results to plot), skipped" ;; esac
    done
    devices=$want
    [ -n "$devices" ] || { echo "nightly.sh: none of the devices '$only_devices' is usable here" >&2; exit 1; }
fi

mkdir -p bench/results
status=0
regressed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for dev in $devices; do
    hist=bench/results/$dev.jsonl
    new=$tmp/$dev.jsonl
    if [ $plot_only -eq 1 ]; then
        tail -n 1 "$hist" >"$new"
    else
        echo "== $dev: suite $suite, commit $commit"
        "$cf" bench run --suite "$suite" --device "$dev" --commit "$commit" --out "$new" || status=1
        [ -s "$new" ] || { echo "== $dev: no results"; continue; }
        echo "== $dev: compared with the last records in $hist (threshold $threshold%)"
        rc=0
        "$cf" bench compare "$hist" "$new" --threshold "$threshold" || rc=$?
        if [ $rc -eq 3 ]; then regressed=1; elif [ $rc -ne 0 ]; then status=1; fi
        cat "$new" >>"$hist"
        "$cf" bench validate "$hist" >/dev/null || status=1
    fi

    svg=bench/results/history-$dev.svg
    if ! command -v gnuplot >/dev/null; then
        echo "== gnuplot not found: $svg not redrawn (Debian: apt-get install gnuplot-nox)"
        continue
    fi
    "$cf" bench history "$hist" --out "$tmp/$dev.dat" >"$tmp/$dev.hist"
    series=$(sed -n 's/.*: \([0-9]*\) series over.*/\1/p' "$tmp/$dev.hist")
    name=$(sed -n 's/.*"device":{"kind":"[a-z]*","name":"\([^"]*\)".*/\1/p' "$new" | head -1)
    cpu=$(sed -n 's/.*"cpu_model":"\([^"]*\)".*/\1/p' "$new" | head -1)
    [ "${series:-0}" -gt 0 ] || continue
    gnuplot <<GP
set terminal svg size 1100,620 dynamic enhanced font 'sans,11' background rgb 'white'
set output '$svg'
set title "cufactor $suite suite: throughput per case over commits — $name, $cpu"
set xlabel 'run (commit)'
set ylabel 'ratings updated per second (log scale; higher is better)'
set logscale y
set grid
set key outside right top
set xtics rotate by -30 font ',9'
set offsets 0.25, 0.25, 0, 0
plot for [i=0:$((series - 1))] '$tmp/$dev.dat' index i using 1:3:xtic(2) with linespoints lw 2 pt 7 title columnheader(1)
GP
    echo "== $dev: $svg redrawn ($series series)"
done
if [ $regressed -eq 1 ]; then
    echo "nightly.sh: a case regressed by more than $threshold%" >&2
    exit 3
fi
exit $status
