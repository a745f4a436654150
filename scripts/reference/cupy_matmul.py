"""cupy.matmul timed by hand, beside hwbench's tensor family (scripts/gpu_session.sh): C = A @ B on random n x n
matrices, CUDA events around each of REPS calls after WARMUP untimed ones, 2 n^3 FLOPs per call, 64 entries checked
against a float64 reference. fp32 runs with CUPY_TF32=1 (TF32 tensor cores, as hwbench's matmul_tf32); CuPy has
no bfloat16 dtype, so bf16 has no reference here.
Prints one line per precision: precision n best_gflops median_gflops.
Usage: python cupy_matmul.py [N] [REPS]"""

from __future__ import annotations

import os
import statistics
import sys

os.environ.setdefault("CUPY_TF32", "1")  # read by CuPy at import

import cupy as cp  # noqa: E402
import numpy as np  # noqa: E402

WARMUP = 3
PRECISIONS = {"fp16": np.float16, "tf32": np.float32, "fp64": np.float64}
TOLERANCE = {"fp16": 1e-2, "tf32": 5e-3, "fp64": 1e-12}


def measure(n: int, reps: int, name: str, dtype) -> tuple[float, float]:
    generator = cp.random.default_rng(1)
    a, b = ((generator.random((n, n), dtype=cp.float32) * 2 - 1).astype(dtype) for _ in range(2))
    c = cp.empty((n, n), dtype=dtype)
    for _ in range(WARMUP):
        cp.matmul(a, b, out=c)
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    rates = []
    for _ in range(reps):
        start.record()
        cp.matmul(a, b, out=c)
        stop.record()
        stop.synchronize()
        rates.append(2 * n**3 / (cp.cuda.get_elapsed_time(start, stop) / 1e3) / 1e9)
    rows, cols = np.random.default_rng(0).integers(0, n, (2, 64))
    a64, b64 = cp.asnumpy(a).astype(np.float64), cp.asnumpy(b).astype(np.float64)
    expected = np.einsum("ik,ki->i", a64[rows, :], b64[:, cols])
    scale = np.einsum("ik,ki->i", np.abs(a64[rows, :]), np.abs(b64[:, cols]))
    error = np.max(np.abs(cp.asnumpy(c)[rows, cols].astype(np.float64) - expected) / scale)
    if not error <= TOLERANCE[name]:
        sys.exit(f"cupy.matmul {name} {n}: relative error {error:g} above {TOLERANCE[name]:g}")
    return max(rates), statistics.median(rates)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    for name, dtype in PRECISIONS.items():
        best, median = measure(n, reps, name, dtype)
        print(f"{name} {n} {best:.1f} {median:.1f}")


if __name__ == "__main__":
    main()
