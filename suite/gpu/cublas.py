"""cuBLAS for the library GEMMs (the tensor family's float types, the int8 GEMM, and cuBLASLt's fp8 GEMM): the
library's constants, CuPy's binding, one square ``cublasGemmEx`` launch, and the sweep over the catalog's sizes that
keeps the best.

Constants from cuBLAS's headers (library_types.h, cublas_api.h; CUDA 12.9 and 13.0 give the same values). cuBLAS is
column-major: on row-major arrays a GEMM with no transposition computes C = B A, one with A transposed C = a b^T
(each family's check says which).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from ..catalog import Kernel
from ..kernel_spec import TensorLaunch
from ..stats import KernelResult
from .failures import is_missing_library, missing_library
from .family import GpuContext

# cudaDataType_t (library_types.h)
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_8I, CUDA_R_32I, CUDA_R_16BF, CUDA_R_8F_E4M3 = 0, 1, 2, 3, 10, 14, 28
# cublasComputeType_t, cublasOperation_t, cublasGemmAlgo_t (cublas_api.h)
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_32I, CUBLAS_COMPUTE_32F_FAST_TF32 = 68, 70, 72, 77
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUBLAS_GEMM_DEFAULT = -1
COMPUTE_TYPE_NAMES = {CUBLAS_COMPUTE_32F: "CUBLAS_COMPUTE_32F", CUBLAS_COMPUTE_32F_FAST_TF32:
                      "CUBLAS_COMPUTE_32F_FAST_TF32", CUBLAS_COMPUTE_64F: "CUBLAS_COMPUTE_64F",
                      CUBLAS_COMPUTE_32I: "CUBLAS_COMPUTE_32I"}
# cublasStatus_t (cublas_api.h)
STATUS = {0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
          7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
          13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
          16: "CUBLAS_STATUS_LICENSE_ERROR"}

Launch = Callable[[], None]


def cublas_module(cp: Any, what: str = "the tensor family (cuBLAS)") -> Any:
    """CuPy's cuBLAS bindings (``cupy.cuda.cublas``, loaded on first use); a node without the cuBLAS library (CuPy
    without its ``[ctk]`` extra, no CUDA toolkit) is a UsageError naming ``what`` and the install."""
    try:
        return cp.cuda.cublas
    except Exception as error:
        if is_missing_library(error):
            raise missing_library(what, error) from None
        raise


def square_gemm_ex(session: GpuContext, what: str, op_a: int, input_type: int, output_type: int, compute_type: int,
                   scalar_type: type) -> Callable[[Any, Any, Any], Launch]:
    """``launcher(a, b, c) -> launch``: ``launch()`` runs ``cublasGemmEx`` on the session's stream on the square
    device arrays a and b (``input_type``, a transposed by ``op_a``) into c (``output_type``), alpha 1 and beta 0 of
    ``scalar_type``, with ``compute_type`` and cuBLAS's default algorithm. The binding and handle are set up once."""
    cp = session.cp
    cublas = cublas_module(cp, what)
    handle = cp.cuda.device.get_cublas_handle()
    alpha: np.ndarray = np.array(1, dtype=scalar_type)
    beta: np.ndarray = np.array(0, dtype=scalar_type)

    def launcher(a: Any, b: Any, c: Any) -> Launch:
        size = a.shape[0]

        def launch() -> None:
            cublas.setStream(handle, session.stream.ptr)
            cublas.gemmEx(handle, op_a, CUBLAS_OP_N, size, size, size, alpha.ctypes.data, a.data.ptr, input_type,
                          size, b.data.ptr, input_type, size, beta.ctypes.data, c.data.ptr, output_type, size,
                          compute_type, CUBLAS_GEMM_DEFAULT)

        return launch

    return launcher


def after_sync(session: GpuContext, check_output: Callable[..., None], *args: Any) -> Callable[[], None]:
    """A library GEMM's check: wait for the session's stream (cuBLAS returns before the product is written), then
    ``check_output(*args)``."""

    def check() -> None:
        session.stream.synchronize()
        check_output(*args)

    return check


def best_size(session: GpuContext, kernel: Kernel, measure_size: Callable[[int], KernelResult | None],
              by_size_key: str) -> KernelResult | None:
    """``measure_size`` at every size of the catalog (``quick_sizes`` with --quick); the best rate is the ceiling,
    its details gaining every size's best rate under ``by_size_key``. None: no size ran (``measure_size`` returned
    None for each, having said why). CuPy's memory pool is emptied after each size, so the next has the memory."""
    best: KernelResult | None = None
    per_size = {}
    for size in kernel.launch_as(TensorLaunch).sizes_for(session.quick):
        result = measure_size(size)
        if result is None:
            continue
        per_size[size] = round(result.summary.best, 1)
        if best is None or result.summary.best > best.summary.best:
            best = result
        session.cp.get_default_memory_pool().free_all_blocks()
    if best is None:
        return None
    return replace(best, details={**best.details, by_size_key: per_size})


__all__ = ["COMPUTE_TYPE_NAMES", "STATUS", "after_sync", "best_size", "cublas_module", "square_gemm_ex"]
