#!/usr/bin/env bash
# demo.sh — builds cufactor and runs `cufactor demo`: synthetic MovieLens-sized data,
# training, metrics and recommendations.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" "$root/build" >/dev/null
exec "$root/build/cufactor" demo "$@"
