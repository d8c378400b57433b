#!/usr/bin/env bash
# One prepared run on a CUDA machine: the GPU-marked tests and the launch benchmark, results under
# $OUT (or ./gpu-results). Meant for a lent GPU machine with no network: Python packages it lacks
# (lark, platformdirs; tilelang for the TileLang GPU tests) travel as wheels in ./.whl, fetched on
# a networked machine with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl lark platformdirs
# Usage: bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -n 3

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
    python3 -c "import tilelang; print('tilelang', tilelang.__version__)" 2>/dev/null \
        || echo "tilelang: not installed (TileLang GPU tests are skipped)"
} 2>&1 | tee "$OUT/environment.txt"

python3 -m pytest -q -m gpu -p no:cacheprovider --junitxml="$OUT/gpu_tests.xml" tests 2>&1 \
    | tee "$OUT/gpu_tests.log"
python3 benchmarks/bench_launch.py --out "$OUT/launch_gpu.json" 2>&1 | tee "$OUT/launch_gpu.log"
