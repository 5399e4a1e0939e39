#!/usr/bin/env bash
# fuzz.sh [SECONDS_PER_TARGET] — builds the libFuzzer targets (clang, ASan + UBSan) in
# build-fuzz and runs each of fuzz_delim, fuzz_mm, fuzz_model, fuzz_checkpoint for SECONDS_PER_TARGET
# (default 60) on a scratch copy of its seed corpus and regression inputs
# (tests/fuzz/corpus/<target>, tests/fuzz/regress/<target>). Prints the executions per
# target; exits 1 if a target crashes or breaks a harness invariant, printing the path
# of the saved input (add it to tests/fuzz/regress/<target>/ once fixed).
# Needs clang, libclang-rt-14-dev (the libFuzzer runtime) and libomp-dev (Debian).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
case $secs in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2; exit 2;; esac
dir=$root/build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (Debian: apt-get install clang libclang-rt-14-dev libomp-dev)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cufactor-fuzz.XXXXXX")
if ! { cmake -S "$root" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUFACTOR_CUDA=OFF \
         -DCUFACTOR_FUZZ=ON -DCUFACTOR_TESTS=OFF -DCUFACTOR_BENCH=OFF -DCUFACTOR_WERROR=ON &&
       cmake --build "$dir" -j"$(nproc)" --target fuzz_delim fuzz_mm fuzz_model fuzz_checkpoint; } >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  echo "fuzz.sh: building the fuzz targets failed; log: $work/build.log" >&2
  exit 1
fi
failed=0
for t in delim mm model checkpoint; do
  corpus=$work/$t/corpus
  mkdir -p "$corpus" "$work/$t/crashes"
  cp "$root/tests/fuzz/corpus/$t/"* "$corpus/"
  find "$root/tests/fuzz/regress/$t" -type f ! -name '.*' -exec cp {} "$corpus/" \;
  dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  log=$work/$t/log
  rc=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: memory is bounded by the input
  "$dir/fuzz_$t" "$corpus" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/$t/crashes/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  units=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    failed=1
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} executions; log: $log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz invariant broken|.*runtime error)' "$log" | head -5 | sed 's/^/  /'
    for f in "$work/$t/crashes/"*; do [ -e "$f" ] && echo "  crash input: $f"; done
  else
    echo "fuzz_$t: ${execs:-?} executions in ${secs} s, no crash (corpus: $units inputs)"
  fi
done
if [ "$failed" -eq 0 ]; then rm -rf "$work"; else echo "fuzz.sh: crash inputs and logs kept under $work"; fi
exit "$failed"
