"""The tensor family: dense matrix multiplies through cuBLAS ``cublasGemmEx`` (via CuPy), one per data type
(fp16, bf16, tf32, fp64), on random square matrices of the catalog's sizes; the best size is the ceiling.

A size cuBLAS or the GPU cannot run (no such path, no memory for it) is a warning, never a number; a wrong
product is a MeasurementError. Validation: 64 random entries against a float64 reference on the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..stats import KernelResult
from ..timing import Work
from . import lowp_gemm
from .failures import is_missing_library, missing_library
from .family import GpuContext, GpuFamily, GpuFamilyResult

# cuBLAS / CUDA library constants (cublas_api.h, library_types.h).
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_16BF = 0, 1, 2, 14
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_64F = 68, 77, 70
CUBLAS_OP_N, CUBLAS_GEMM_DEFAULT = 0, -1
COMPUTE_TYPE_NAMES = {CUBLAS_COMPUTE_32F: "CUBLAS_COMPUTE_32F", CUBLAS_COMPUTE_32F_FAST_TF32:
                      "CUBLAS_COMPUTE_32F_FAST_TF32", CUBLAS_COMPUTE_64F: "CUBLAS_COMPUTE_64F"}
# launch["data"] -> (matrix data type, compute type, type of alpha and beta)
TYPES = {"fp16": (CUDA_R_16F, CUBLAS_COMPUTE_32F, np.float32),
         "bf16": (CUDA_R_16BF, CUBLAS_COMPUTE_32F, np.float32),
         "tf32": (CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, np.float32),
         "fp64": (CUDA_R_64F, CUBLAS_COMPUTE_64F, np.float64)}
TOLERANCE = {"fp16": 1e-2, "bf16": 2e-2, "tf32": 5e-3, "fp64": 1e-12}  # relative to sum |b_ik a_ki|


def cublas_module(cp):
    """CuPy's cuBLAS bindings (``cupy.cuda.cublas``, loaded on first use); a node without the cuBLAS library
    (CuPy without its ``[ctk]`` extra, no CUDA toolkit) is a UsageError naming the install."""
    try:
        return cp.cuda.cublas
    except Exception as error:
        if is_missing_library(error):
            raise missing_library("the tensor family (cuBLAS)", error) from None
        raise


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """The tensor family: cuBLAS GEMMs of the float types here, the int8 and fp8 ones in ``lowp_gemm`` (their
    peaks go to the profile's instruction_peaks)."""
    library = [k for k in kernels if lowp_gemm.is_library_gemm(k)]
    floats = [k for k in kernels if k not in library]
    gemms = lowp_gemm.run(session, library)
    return GpuFamilyResult(tuple(time_float_gemms(session, floats)) + gemms.results,
                           instruction_skipped=gemms.instruction_skipped)


def time_float_gemms(session: GpuContext, kernels: Sequence[Kernel]) -> list[KernelResult]:
    """The float-type GEMMs (cuBLAS ``gemmEx``); a GEMM this GPU has no path for is a warning, never a number."""
    results = []
    if kernels:
        cublas_module(session.cp)
    for kernel in kernels:
        session.step(kernel.name)
        try:
            results.append(_matmul(session, kernel))
        except MeasurementError:
            raise
        except Exception as error:  # cuBLAS or the GPU has no such path: a note, never a number
            if is_missing_library(error):
                raise missing_library(f"{kernel.name} (cuBLAS)", error) from None
            session.warnings.append(f"{kernel.name} not measured: {error.__class__.__name__}: {error}")
    return results


def _matmul(session: GpuContext, kernel: Kernel) -> KernelResult:
    """cublasGemmEx at every size of the catalog (``quick_sizes`` with --quick); the best size is kept."""
    cp = session.cp
    cublas = cublas_module(cp)
    handle = cp.cuda.device.get_cublas_handle()
    data = kernel.launch["data"]
    data_type, compute_type, scalar_type = TYPES[data]
    alpha, beta = np.array(1.0, dtype=scalar_type), np.array(0.0, dtype=scalar_type)
    best: KernelResult | None = None
    per_size = {}
    for size in kernel.launch["quick_sizes" if session.quick else "sizes"]:
        a, b, c = (random_matrix(cp, size, data, seed) for seed in (1, 2, 3))

        def launch(a=a, b=b, c=c, size=size) -> None:
            cublas.setStream(handle, session.stream.ptr)
            cublas.gemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, size, size, size, alpha.ctypes.data, a.data.ptr,
                          data_type, size, b.data.ptr, data_type, size, beta.ctypes.data, c.data.ptr,
                          data_type, size, compute_type, CUBLAS_GEMM_DEFAULT)

        def check(a=a, b=b, c=c) -> None:
            session.stream.synchronize()
            validate_matmul(cp, kernel.name, a, b, c, data)

        details = {"library": "cuBLAS cublasGemmEx (through CuPy)", "m_n_k": size,
                   "compute_type": COMPUTE_TYPE_NAMES[compute_type],
                   "flop_counting": "2 x M x N x K per multiply (dense)", "data": "uniform random in [-1, 1)"}
        result = session.time_and_check(kernel, launch, check, Work(0, flops=2 * size**3), details)
        per_size[size] = round(result.summary.best, 1)
        if best is None or result.summary.best > best.summary.best:
            best = result
        del a, b, c
        cp.get_default_memory_pool().free_all_blocks()
    assert best is not None, f"{kernel.name}: the catalog lists no size"
    return replace(best, details={**best.details, "best_gflops_by_size": per_size})


def random_matrix(cp, size: int, data: str, seed: int):
    """Random data (never zeros: they run faster). bf16 is stored as uint16 (the top half of fp32)."""
    generator = cp.random.default_rng(seed)
    values = generator.random((size, size), dtype=cp.float32) * 2 - 1
    if data == "fp16":
        return values.astype(cp.float16)
    if data == "bf16":
        return (values.view(cp.uint32) >> 16).astype(cp.uint16)
    if data == "fp64":
        return values.astype(cp.float64)
    return values


def validate_matmul(cp, name: str, a, b, c, data: str) -> None:
    """64 random entries against a float64 reference on the host. cuBLAS is column-major: on row-major
    arrays it computes C = B @ A."""

    def host(matrix) -> np.ndarray:
        values = cp.asnumpy(matrix)
        if data == "bf16":
            return (values.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        return values.astype(np.float64)

    size = a.shape[0]
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, size, 64), rng.integers(0, size, 64)
    a_cols = host(a[:, cp.asarray(cols)])  # a[:, j] for the chosen j
    b_rows = host(b[cp.asarray(rows), :])  # b[i, :] for the chosen i
    got = host(c[cp.asarray(rows), cp.asarray(cols)])
    expected = np.einsum("ik,ki->i", b_rows, a_cols)
    scale = np.einsum("ik,ki->i", np.abs(b_rows), np.abs(a_cols))
    tolerance = TOLERANCE[data]
    error = np.max(np.abs(got - expected) / scale)
    if not error <= tolerance:
        raise MeasurementError(f"{name} validation failed: relative error {error:g} against a float64 "
                               f"reference (tolerance {tolerance:g}); no figure is reported")


FAMILY = GpuFamily("gpu", "tensor", run)
