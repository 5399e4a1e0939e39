#!/usr/bin/env bash
# build.sh [BUILD_DIR] — installs missing dependencies, configures (Release; the CUDA
# backend when a toolkit is found) and builds everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
"$root/scripts/deps.sh"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCUFACTOR_WERROR=ON ${CUFACTOR_CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j"$(nproc)"
