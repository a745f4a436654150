#!/usr/bin/env bash
# One batched GPU session (for the device tool or any machine with an NVIDIA GPU and CuPy installed):
# the GPU tests, then a full profile written to results/ under the GPU's name, plus copies under $OUT.
#   bash scripts/gpu_session.sh            # from the repository root
set -euo pipefail
export PYTHONUNBUFFERED=1
out="${OUT:-/tmp/hwbench-gpu}"
mkdir -p "$out"
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || python3 -m pip install -q --no-deps -e .
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,power.limit --format=csv | tee "$out/nvidia-smi.csv"
python3 -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tee "$out/gpu-tests.log"
name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-')
hwbench run --device cuda:0 -o "results/${name}.yaml" 2>&1 | tee "$out/run.log"
cp "results/${name}.yaml" "$out/"
