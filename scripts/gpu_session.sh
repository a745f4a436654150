#!/usr/bin/env bash
# One batched GPU session, under 10 minutes, for a machine with an NVIDIA GPU (the device tool or any other): the
# install for the driver's CUDA version, the GPU tests, two full runs in a row (compared), a plain 60-line CUDA
# triad and cupy.matmul timed by hand in the same batch, and the targets of docs/gpu.md side by side; the
# low-precision peaks (the mma family, the int8 / fp8 library GEMMs) beside PyTorch's torch._int_mm / torch._scaled_mm
# in the same batch, and their targets (docs/precisions.md). The first
# profile goes to results/<gpu-name>.yaml; every output also under $OUT (default /tmp/hwbench-gpu).
#   bash scripts/gpu_session.sh            # from the repository root
# Budget (H100, 2026-11-22: a full run took 39 s, before the mma family and the int8 / fp8 GEMMs, which no GPU has
# run yet): install 1-2 min, tests 1 min, runs 2 x 1-3 min, references 1-2 min.
set -euo pipefail
export PYTHONUNBUFFERED=1
out="${OUT:-/tmp/hwbench-gpu}"
mkdir -p "$out"
cd "$(dirname "$0")/.."

# The extra of the driver's CUDA major version (nvidia-smi prints "CUDA Version: 13.0"); CUDA 12 wheels run under
# a CUDA 13 driver too, CUDA 13 wheels need one.
cuda_major=$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -1)
extra=$([ "${cuda_major:-12}" -ge 13 ] && echo cuda13 || echo cuda12)
timeout 240 python3 -m pip install -q -e ".[$extra,test]" 2>&1 | tail -3
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit,persistence_mode,mig.mode.current \
    --format=csv | tee "$out/nvidia-smi.csv"

# The GPU tests: the real quick run, then the real-API and NVRTC tests on this machine's wheels.
timeout 180 python3 -m pytest -q -m "gpu or real_cuda" tests/test_gpu.py tests/test_gpu_real_api.py \
    tests/test_nvrtc_compile.py tests/test_gpu_mma_cublaslt.py 2>&1 | tee "$out/gpu-tests.log" | tail -3

# Two full runs in a row; the first is the profile committed to results/, the second must compare clean.
name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-')
start=$(date +%s)
timeout 240 hwbench run --device cuda:0 -o "results/${name}.yaml" 2>&1 | tee "$out/run-1.log" | tail -5
seconds=$(( $(date +%s) - start ))
timeout 240 hwbench run --device cuda:0 -o "$out/${name}-2.yaml" 2>&1 | tee "$out/run-2.log" | tail -5
cp "results/${name}.yaml" "$out/"
timeout 30 hwbench compare "results/${name}.yaml" "$out/${name}-2.yaml" 2>&1 | tee "$out/compare.txt" \
    || echo "compare: the two runs differ (exit $?)" | tee -a "$out/compare.txt"

# References in the same batch: a plain CUDA triad (BabelStream's launch) on arrays of the profile's size, and
# cupy.matmul timed by hand at 8192 (the tensor family's middle size).
elements=$(python3 -c "import yaml; d = yaml.safe_load(open('results/${name}.yaml')); print(d['run']['array_bytes'] // 8)")
nvcc=$(command -v nvcc || true)
if [ -z "$nvcc" ]; then
    timeout 120 python3 -m pip install -q "nvidia-cuda-nvcc-cu${cuda_major:-12}" 2>&1 | tail -1 || true
    nvcc=$(python3 -c "import nvidia, pathlib; print(next(pathlib.Path(nvidia.__path__[0]).glob('*/bin/nvcc')))")
fi
"$nvcc" -O3 -arch=native scripts/reference/cuda_triad.cu -o "$out/cuda_triad"
timeout 60 "$out/cuda_triad" "$elements" 20 | tee "$out/cuda-triad.txt"
timeout 120 python3 scripts/reference/cupy_matmul.py 8192 20 | tee "$out/cupy-matmul.txt"

python3 scripts/gpu_targets.py "results/${name}.yaml" "$out/cuda-triad.txt" "$out/cupy-matmul.txt" "$seconds" \
    | tee "$out/targets.txt"

# Low precision in the same batch: PyTorch's int8 / fp8 GEMMs at the library GEMMs' sizes (the image's PyTorch; the
# script prints why and goes on without it), then the mma and library targets side by side.
timeout 180 python3 scripts/reference/torch_lowp_gemm.py 20 4096 8192 16384 | tee "$out/torch-lowp.txt" || true
python3 scripts/gpu_lowp_targets.py "results/${name}.yaml" "$out/torch-lowp.txt" | tee "$out/lowp-targets.txt"
