#!/usr/bin/env bash
# test.sh — builds and runs the whole test suite (CPU tests run; GPU tests skip where
# no GPU is usable).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" "$root/build"
cd "$root/build"
ctest --output-on-failure
