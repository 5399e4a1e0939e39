#!/usr/bin/env bash
# python_test.sh [DIR] — the Python package as a user gets it, then its tests: a fresh
# virtual environment in DIR/venv (default build-py/), `pip install ".[test]"` from the
# repository (the library built by scikit-build-core; CPU-only unless CUFACTOR_CUDA is set
# to AUTO or ON), and pytest on python/tests. Then, unless CUFACTOR_PY_SIM=0, a
# libcufactor.so built on the CPU simulation of the GPU (DIR/sim) and python/tests/test_gpu.py
# on it through CUFACTOR_LIBRARY, so the GPU path of the package runs without a GPU.
# Needs python3 with venv (Debian: python3-venv) and PyPI (pip fetches scikit-build-core,
# numpy, pytest, scipy, pandas, scikit-learn).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build-py}
jobs=$(nproc)
"$root/scripts/deps.sh"
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "python_test.sh: python3 with venv is needed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p "$dir"
python3 -m venv --clear "$dir/venv"
py="$dir/venv/bin/python"
"$py" -m pip install -q --upgrade pip
CUFACTOR_CUDA=${CUFACTOR_CUDA:-OFF} CMAKE_BUILD_PARALLEL_LEVEL=$jobs "$py" -m pip install -q "$root[test]"
cd "$root"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
"$py" -m pytest -q -rs python/tests
if [ "${CUFACTOR_PY_SIM:-1}" != 0 ]; then
  cmake -S "$root" -B "$dir/sim" -DCMAKE_BUILD_TYPE=Release -DCUFACTOR_GPU_SIM=ON -DCUFACTOR_CUDA=OFF \
    -DCUFACTOR_TESTS=OFF -DCUFACTOR_BENCH=OFF >/dev/null
  cmake --build "$dir/sim" -j"$jobs" --target cufactor_shared >/dev/null
  CUFACTOR_LIBRARY="$dir/sim/libcufactor.so" "$py" -m pytest -q -rs python/tests/test_gpu.py
fi
