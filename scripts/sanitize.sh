#!/usr/bin/env bash
# sanitize.sh — the whole CPU test suite under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer: configures build-asan (gcc, CUFACTOR_SANITIZE=ON, CUDA off,
# RelWithDebInfo), builds the library, the CLI and the tests, and runs ctest. The tests
# that spawn the cufactor CLI run this build's sanitized CLI, and fail on any sanitizer
# report in its stderr. A report exits with code 86 (ASAN_OPTIONS / UBSAN_OPTIONS are
# set per test in CMakeLists.txt). tests/lsan.supp holds the one suppression: a leak inside
# libcriterion itself (see that file).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build-asan
"$root/scripts/deps.sh"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUFACTOR_CUDA=OFF -DCUFACTOR_SANITIZE=ON \
  -DCUFACTOR_WERROR=ON -DCUFACTOR_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure
