"""The tensor family: dense matrix multiplies through cuBLAS ``cublasGemmEx`` (via CuPy), one per data type
(fp16, bf16, tf32, fp64), on random square matrices of the catalog's sizes; the best size is the ceiling.

A size cuBLAS or the GPU cannot run (no such path, no memory for it) is a warning, never a number; a wrong
product is a MeasurementError. Validation: 64 random entries against a float64 reference on the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import TensorLaunch
from ..stats import KernelResult
from ..timing import Work
from . import lowp_gemm
from .cublas import (
    COMPUTE_TYPE_NAMES,
    CUBLAS_COMPUTE_32F,
    CUBLAS_COMPUTE_32F_FAST_TF32,
    CUBLAS_COMPUTE_64F,
    CUBLAS_OP_N,
    CUDA_R_16BF,
    CUDA_R_16F,
    CUDA_R_32F,
    CUDA_R_64F,
    after_sync,
    best_size,
    cublas_module,
    square_gemm_ex,
)
from .failures import is_missing_library, missing_library
from .family import GpuContext, GpuFamily, GpuFamilyResult

# TensorLaunch.data -> (matrix data type, compute type, type of alpha and beta)
TYPES = {"fp16": (CUDA_R_16F, CUBLAS_COMPUTE_32F, np.float32),
         "bf16": (CUDA_R_16BF, CUBLAS_COMPUTE_32F, np.float32),
         "tf32": (CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, np.float32),
         "fp64": (CUDA_R_64F, CUBLAS_COMPUTE_64F, np.float64)}
TOLERANCE = {"fp16": 1e-2, "bf16": 2e-2, "tf32": 5e-3, "fp64": 1e-12}  # relative to sum |b_ik a_ki|


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
    data = kernel.launch_as(TensorLaunch).data
    data_type, compute_type, scalar_type = TYPES[data]
    gemm = square_gemm_ex(session, "the tensor family (cuBLAS)", CUBLAS_OP_N, data_type, data_type, compute_type,
                          scalar_type)

    def one_size(size: int) -> KernelResult:
        a, b, c = (random_matrix(cp, size, data, seed) for seed in (1, 2, 3))
        details = {"library": "cuBLAS cublasGemmEx (through CuPy)", "m_n_k": size,
                   "compute_type": COMPUTE_TYPE_NAMES[compute_type],
                   "flop_counting": "2 x M x N x K per multiply (dense)", "data": "uniform random in [-1, 1)"}
        check = after_sync(session, check_matmul, cp, kernel.name, a, b, c, data)
        return session.time_and_check(kernel, gemm(a, b, c), check, Work(0, flops=2 * size**3), details)

    best = best_size(session, kernel, one_size, "best_gflops_by_size")
    assert best is not None, f"{kernel.name}: the catalog lists no size"
    return best


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


def check_matmul(cp, name: str, a, b, c, data: str) -> None:
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
        raise MeasurementError(f"{name} output check failed: relative error {error:g} against a float64 "
                               f"reference (tolerance {tolerance:g}); no figure is reported")


FAMILY = GpuFamily("gpu", "tensor", run)
