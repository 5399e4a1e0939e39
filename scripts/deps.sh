#!/usr/bin/env bash
# deps.sh — makes sure the Debian packages the build needs are installed (g++: the CPU
# simulation of the GPU, scripts/sim.sh, compiles the kernels as C++).
# Installs what is missing when run as root (or with sudo available); otherwise says
# what to install and fails. When another apt or dpkg holds the lock (an unattended
# upgrade, a second session), it waits and tries again, bounded: CUFACTOR_APT_TRIES
# attempts (default 30) CUFACTOR_APT_WAIT seconds apart (default 10), saying so each
# time; any other apt failure stops at once.
set -euo pipefail
pkgs=(cmake make gcc g++ pkg-config libopenblas-dev liblapacke-dev libcriterion-dev libcjson-dev libdeflate-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "cufactor: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "cufactor: please install: ${missing[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
tries=${CUFACTOR_APT_TRIES:-30}
wait_s=${CUFACTOR_APT_WAIT:-10}

# apt_retry ARGS...: apt-get ARGS, retried while the failure is a held lock.
apt_retry() {
  local log out rc k
  log=$(mktemp "${TMPDIR:-/tmp}/cufactor-apt.XXXXXX")
  for ((k = 1; ; k++)); do
    rc=0
    $SUDO apt-get -o DPkg::Lock::Timeout="$wait_s" "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then rm -f "$log"; return 0; fi
    out=$(cat "$log")
    if ! grep -qiE 'could not get lock|unable to acquire the dpkg frontend lock|unable to lock' <<<"$out"; then
      echo "$out" >&2
      rm -f "$log"
      echo "cufactor: apt-get $* failed (exit $rc)" >&2
      return "$rc"
    fi
    if [ "$k" -ge "$tries" ]; then
      echo "$out" >&2
      rm -f "$log"
      echo "cufactor: another apt/dpkg still holds the lock after $tries attempts; try again when it is done" >&2
      return "$rc"
    fi
    echo "cufactor: another apt/dpkg holds the lock; waiting ${wait_s} s (attempt $k of $tries)" >&2
    sleep "$wait_s"
  done
}

apt_retry update -qq
apt_retry install -y -qq --no-install-recommends "${missing[@]}"
