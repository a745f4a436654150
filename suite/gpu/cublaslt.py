"""cuBLASLt's fp8 GEMM through ctypes: CuPy has no cuBLASLt binding, so hwbench calls the ``libcublasLt`` the NVIDIA
wheel ships (nvidia-cublas-cu12 / -cu13, installed by the cuda12 / cuda13 extra), found as CuPy finds its libraries,
with ``cuda.pathfinder.load_nvidia_dynamic_lib``.

The GEMM (cublasLt.h; cuBLAS documentation, "cublasLtMatmul", FP8 section): D = alpha op(A) op(B) + beta C,
column-major, A and B ``CUDA_R_8F_E4M3`` in the "TN" layout fp8 requires (A transposed, B not), C and D ``CUDA_R_16BF``,
``CUBLAS_COMPUTE_32F`` with fp32 alpha and beta, no scale pointers (scales of 1), the first algorithm
``cublasLtMatmulAlgoGetHeuristic`` returns for a workspace of ``WORKSPACE_BYTES``. Every call's status is checked; a
failure is a ``CublasLtError`` naming the call and cuBLAS's status. Values cross as explicit ctypes types (device
pointers as ``c_void_p``, sizes as ``c_uint64`` / ``c_int64``, descriptors by reference), so nothing depends on
``argtypes``.
"""

from __future__ import annotations

import ctypes
from typing import Any

from .cublas import CUBLAS_COMPUTE_32F, CUBLAS_OP_N, CUBLAS_OP_T, CUDA_R_8F_E4M3, CUDA_R_16BF, CUDA_R_32F, STATUS

# cublasLt.h (CUDA 12.9 / 13.0: the values are the same); the data, compute and operation types are cuBLAS's
CUBLASLT_MATMUL_DESC_TRANSA, CUBLASLT_MATMUL_DESC_TRANSB = 3, 4
CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1
WORKSPACE_BYTES = 32 << 20  # what PyTorch gives cuBLASLt on Hopper (CUBLASLT_WORKSPACE_SIZE default, 32 MiB)
# Every function this module calls: tests/test_gpu_real_api.py checks them (and the stand-in's) in the real library.
FUNCTIONS = ("cublasLtCreate", "cublasLtDestroy", "cublasLtMatmulDescCreate", "cublasLtMatmulDescDestroy",
             "cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate", "cublasLtMatrixLayoutDestroy",
             "cublasLtMatmulPreferenceCreate", "cublasLtMatmulPreferenceDestroy",
             "cublasLtMatmulPreferenceSetAttribute",
             "cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul")


class MatmulAlgo(ctypes.Structure):
    """cublasLtMatmulAlgo_t: uint64_t data[8]."""

    _fields_ = [("data", ctypes.c_uint64 * 8)]


class HeuristicResult(ctypes.Structure):
    """cublasLtMatmulHeuristicResult_t: algo, workspaceSize, state, wavesCount, reserved[4]."""

    _fields_ = [("algo", MatmulAlgo), ("workspaceSize", ctypes.c_size_t), ("state", ctypes.c_int),
                ("wavesCount", ctypes.c_float), ("reserved", ctypes.c_int * 4)]


class CublasLtError(RuntimeError):
    """A cuBLASLt call returned a status other than CUBLAS_STATUS_SUCCESS."""


def check(call: str, status: int) -> None:
    if status != 0:
        raise CublasLtError(f"{call} returned {STATUS.get(status, 'status ' + str(status))}")


def load_library() -> Any:
    """The wheel's libcublasLt as a ctypes library; cuda.pathfinder's DynamicLibNotFoundError where there is none (the
    session turns it into one line through ``failures.missing_library``)."""
    from cuda.pathfinder import load_nvidia_dynamic_lib

    return ctypes.CDLL(load_nvidia_dynamic_lib("cublasLt").abs_path)


class Fp8Matmul:
    """The descriptors of one square e4m3 GEMM of ``size`` (host-side objects: built without a GPU), and its run."""

    def __init__(self, lib: Any, size: int):
        self.lib, self.size = lib, size
        self.desc, self.pref = ctypes.c_void_p(), ctypes.c_void_p()
        self.layouts = {name: ctypes.c_void_p() for name in "ABCD"}
        check("cublasLtMatmulDescCreate",
              lib.cublasLtMatmulDescCreate(ctypes.byref(self.desc), CUBLAS_COMPUTE_32F, CUDA_R_32F))
        for attribute, value in ((CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T),
                                 (CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N)):
            operation = ctypes.c_int32(value)  # cublasOperation_t
            check("cublasLtMatmulDescSetAttribute", lib.cublasLtMatmulDescSetAttribute(
                self.desc, attribute, ctypes.byref(operation), ctypes.sizeof(operation)))
        # op(A) = A^T: A is stored K x M (ld K); B K x N (ld K); C and D M x N (ld M). Square: all size x size.
        for name, data_type in (("A", CUDA_R_8F_E4M3), ("B", CUDA_R_8F_E4M3), ("C", CUDA_R_16BF), ("D", CUDA_R_16BF)):
            check("cublasLtMatrixLayoutCreate", lib.cublasLtMatrixLayoutCreate(
                ctypes.byref(self.layouts[name]), data_type, ctypes.c_uint64(size), ctypes.c_uint64(size),
                ctypes.c_int64(size)))
        check("cublasLtMatmulPreferenceCreate", lib.cublasLtMatmulPreferenceCreate(ctypes.byref(self.pref)))
        workspace = ctypes.c_uint64(WORKSPACE_BYTES)
        check("cublasLtMatmulPreferenceSetAttribute", lib.cublasLtMatmulPreferenceSetAttribute(
            self.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ctypes.byref(workspace), ctypes.sizeof(workspace)))
        self.alpha, self.beta = ctypes.c_float(1.0), ctypes.c_float(0.0)
        self.heuristic: HeuristicResult | None = None

    def choose(self, handle: ctypes.c_void_p) -> HeuristicResult:
        """cuBLASLt's first algorithm for this GEMM on the handle's GPU; none is CUBLAS_STATUS_NOT_SUPPORTED."""
        results, found = (HeuristicResult * 1)(), ctypes.c_int(0)
        layouts = self.layouts
        check("cublasLtMatmulAlgoGetHeuristic", self.lib.cublasLtMatmulAlgoGetHeuristic(
            handle, self.desc, layouts["A"], layouts["B"], layouts["C"], layouts["D"], self.pref, 1, results,
            ctypes.byref(found)))
        if found.value < 1 or results[0].state != 0:
            raise CublasLtError("cublasLtMatmulAlgoGetHeuristic found no algorithm for an e4m3 GEMM "
                                f"({STATUS.get(results[0].state, results[0].state)})")
        self.heuristic = results[0]
        return results[0]

    def run(self, handle: ctypes.c_void_p, a: int, b: int, d: int, workspace: int, stream: int) -> None:
        """D = A^T B on ``stream`` (device pointers as integers; C is D, beta 0)."""
        assert self.heuristic is not None, "choose() before run()"
        layouts = self.layouts
        check("cublasLtMatmul", self.lib.cublasLtMatmul(
            handle, self.desc, ctypes.byref(self.alpha), ctypes.c_void_p(a), layouts["A"], ctypes.c_void_p(b),
            layouts["B"], ctypes.byref(self.beta), ctypes.c_void_p(d), layouts["C"], ctypes.c_void_p(d), layouts["D"],
            ctypes.byref(self.heuristic.algo), ctypes.c_void_p(workspace), ctypes.c_size_t(WORKSPACE_BYTES),
            ctypes.c_void_p(stream)))

    def close(self) -> None:
        for layout in self.layouts.values():
            self.lib.cublasLtMatrixLayoutDestroy(layout)
        self.lib.cublasLtMatmulPreferenceDestroy(self.pref)
        self.lib.cublasLtMatmulDescDestroy(self.desc)


def create_handle(lib: Any) -> ctypes.c_void_p:
    handle = ctypes.c_void_p()
    check("cublasLtCreate", lib.cublasLtCreate(ctypes.byref(handle)))
    return handle


__all__ = ["CublasLtError", "Fp8Matmul", "FUNCTIONS", "HeuristicResult", "create_handle", "load_library"]
