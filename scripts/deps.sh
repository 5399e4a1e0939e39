#!/usr/bin/env bash
# deps.sh — makes sure the Debian packages the build needs are installed (g++: the CPU
# simulation of the GPU, scripts/sim.sh, compiles the kernels as C++).
# Installs what is missing when run as root (or with sudo available); otherwise says
# what to install and fails.
set -euo pipefail
pkgs=(cmake make gcc g++ pkg-config libopenblas-dev liblapacke-dev libcriterion-dev libcjson-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "cufactor: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "cufactor: please install: ${missing[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
