#!/usr/bin/env bash
# The GPU check of the CuPy backend, for a machine with an NVIDIA GPU, CuPy
# and PyTorch (no network needed), run from anywhere in the checkout:
#
#     bash benchmarks/gpu_check.sh
#
# 1. pytest -m gpu: every test marked gpu (the ops on CuPy arrays, the CUDA
#    kernels against NumPy float64);
# 2. benchmarks/gpu.py: our CPU path, our GPU path and PyTorch with cuDNN, one
#    table, written to benchmarks/results/gpu.{md,json} and into RESULTS.md.
# Both steps are time-boxed (110 s and 220 s: under 6 minutes in all); the exit status is
# non-zero when either fails. The package is used from the checkout
# (PYTHONPATH), so nothing is installed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PYTHON="${PYTHON:-python3}"
mkdir -p benchmarks/results

if ! "$PYTHON" -c "import sys, nnscratch.backend as b; sys.exit(not b.gpu_available())"; then
    echo "gpu_check: no CUDA device is usable here (cupy is missing or sees no GPU); nothing to check." >&2
    exit 1
fi
"$PYTHON" -c "import cupy; p = cupy.cuda.runtime.getDeviceProperties(0); print('gpu_check on', p['name'].decode() if isinstance(p['name'], bytes) else p['name'])"

echo "== pytest -m gpu"
# --continue-on-collection-errors: a test file that needs a package this
# machine lacks (pycocoevalcap, say) must not stop the GPU tests of the others.
timeout 110 "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider --continue-on-collection-errors \
    2>&1 | tee benchmarks/results/pytest_gpu.txt
tests=${PIPESTATUS[0]}
summary=$(grep -E "passed|failed|error|no tests ran" benchmarks/results/pytest_gpu.txt | tail -n 1)

echo "== benchmarks"
timeout 220 "$PYTHON" benchmarks/gpu.py --budget 180 --pytest-summary "${summary:-no summary} (exit $tests)"
benchmarks=$?

echo "gpu_check: pytest exit $tests, benchmarks exit $benchmarks"
[ "$tests" -eq 0 ] && [ "$benchmarks" -eq 0 ]
