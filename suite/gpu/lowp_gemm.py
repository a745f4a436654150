"""Library GEMMs in int8 and fp8: what users get from NVIDIA's libraries, beside the mma microbenchmark's ceiling.
Results go to the profile's ``instruction_peaks`` (int8 in GOP/s), each saying which path it took.

* int8: cuBLAS ``cublasGemmEx`` through CuPy (``cupy.cuda.cublas.gemmEx`` passes the data and compute types
  through): A and B ``CUDA_R_8I``, C ``CUDA_R_32I``, ``CUBLAS_COMPUTE_32I`` with int32 alpha and beta, A transposed
  (the "TN" layout cuBLAS's int8 tensor-core kernels take; cuBLAS documentation, cublasGemmEx). Random int8 in
  [-8, 8); validation: 64 entries of the product against an exact int64 reference on the host.
* fp8 (e4m3): cuBLASLt ``cublasLtMatmul`` through ctypes on the wheel's libcublasLt (``cublaslt``: TN layout, bf16
  output, fp32 compute). Random e4m3 values from a set that e4m3 holds exactly; validation: 64 entries against a
  float64 reference, within bf16's rounding of the output. A node where libcublasLt does not load skips it, one line.

A GPU without the path (compute capability below the kernel's ``needs``) is skipped with the reason, as the mma family
skips; a node without the cuBLAS library is the one-line UsageError of ``failures.missing_library``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import TensorLaunch
from ..stats import KernelResult
from ..timing import Work
from . import cublaslt
from .cublas import CUBLAS_COMPUTE_32I, CUBLAS_OP_T, CUDA_R_8I, CUDA_R_32I, after_sync, best_size, square_gemm_ex
from .failures import first_line, is_missing_library, missing_library
from .family import GpuContext, GpuFamilyResult

INT8_RANGE = (-8, 8)  # |sum| <= K x 64 stays far inside int32 at every catalog size
FP8_VALUES = (-2.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0)  # exact in e4m3; never zero (zeros run faster)
FP8_TOLERANCE = 2 ** -7  # bf16 output: 8 significant bits, relative to sum |a b|


def is_library_gemm(kernel: Kernel) -> bool:
    """Whether ``kernel`` is one of the tensor family's GEMMs timed here (int8 and fp8 data), not in ``tensor``."""
    return kernel.launch_as(TensorLaunch).data in ("int8", "fp8_e4m3")


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """The int8 (cuBLAS) and fp8 (cuBLASLt) GEMMs of the tensor family; a GEMM this GPU or its libraries cannot
    run is named with its reason in ``instruction_skipped``."""
    cc = session.gpu.compute_capability
    skipped: dict[str, str] = {}
    results = []
    for kernel in kernels:
        session.step(kernel.name)
        launch = kernel.launch_as(TensorLaunch)
        need = launch.needs or (0, 0)
        if cc < need:
            skipped[kernel.name] = (f"{launch.data} tensor GEMM needs sm_{need[0]}{need[1]} or later; this "
                                    f"GPU is sm_{cc[0]}{cc[1]}")
        elif launch.data == "fp8_e4m3":
            try:
                library = cublaslt.load_library()
            except Exception as error:
                if not is_missing_library(error) and not isinstance(error, OSError):
                    raise
                skipped[kernel.name] = f"libcublasLt did not load ({first_line(error)}); {INSTALL_HINT}"
                continue
            result = _gemm_fp8(session, kernel, library)
            if result is None:
                skipped[kernel.name] = "cuBLASLt ran no size (no e4m3 algorithm for this GPU: see the warnings)"
            else:
                results.append(result)
        else:
            result = _gemm_int8(session, kernel)
            if result is None:
                skipped[kernel.name] = "cuBLAS ran no size (see the warnings)"
            else:
                results.append(result)
    return GpuFamilyResult(tuple(results), instruction_skipped=skipped)


INSTALL_HINT = "pip install 'hwbench[cuda12]' installs it (nvidia-cublas-cu12)"


def random_int8(cp, size: int, seed: int):
    generator = cp.random.default_rng(seed)
    values = generator.random((size, size), dtype=cp.float32) * (INT8_RANGE[1] - INT8_RANGE[0]) + INT8_RANGE[0]
    return cp.floor(values).astype(cp.int8)


def _gemm_int8(session: GpuContext, kernel: Kernel) -> KernelResult | None:
    """cublasGemmEx in int8 with int32 accumulation at every catalog size; the best size is kept (None: no size
    ran)."""
    cp = session.cp
    gemm = square_gemm_ex(session, "the int8 GEMM (cuBLAS)", CUBLAS_OP_T, CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I,
                          np.int32)

    def one_size(size: int) -> KernelResult | None:
        a, b = random_int8(cp, size, 1), random_int8(cp, size, 2)
        c = cp.zeros((size, size), dtype=cp.int32)
        check = after_sync(session, check_int8, cp, kernel.name, a, b, c)
        details = {"instruction": "cublasGemmEx (CUDA_R_8I x CUDA_R_8I -> CUDA_R_32I, CUBLAS_COMPUTE_32I, A "
                                  "transposed)", "instruction_class": "library",
                   "library": "cuBLAS cublasGemmEx (through CuPy)", "accumulate": "int32",
                   "m_n_k": size, "data": f"uniform random integers in [{INT8_RANGE[0]}, {INT8_RANGE[1]})",
                   "counting": "2 x M x N x K OP per multiply (dense), int8 counted as OP, never FLOP"}
        try:
            return session.time_and_check(kernel, gemm(a, b, c), check, Work(0, flops=2 * size**3), details)
        except MeasurementError:
            raise
        except Exception as error:  # cuBLAS or the GPU has no such path: a note, never a number
            if is_missing_library(error):
                raise missing_library(f"{kernel.name} (cuBLAS)", error) from None
            session.warnings.append(f"{kernel.name} at {size}: not measured: {error.__class__.__name__}: {error}")
            return None

    return best_size(session, kernel, one_size, "best_gops_by_size")


def e4m3_byte(value: float) -> int:
    """The e4m3 encoding (sign, 4 exponent bits with bias 7, 3 mantissa bits) of a normal ``value``."""
    magnitude = abs(value)
    exponent = int(np.floor(np.log2(magnitude)))
    mantissa = round((magnitude / 2.0**exponent - 1) * 8)
    assert -6 <= exponent <= 8 and mantissa < 8 and (1 + mantissa / 8) * 2.0**exponent == magnitude, value
    return (0x80 if value < 0 else 0) | (exponent + 7) << 3 | mantissa


def random_e4m3(cp, size: int, seed: int):
    """(device bytes, host picks: the index into FP8_VALUES of every element, one byte each) of a size x size matrix
    of FP8_VALUES."""
    picks = np.random.default_rng(seed).integers(0, len(FP8_VALUES), (size, size), dtype=np.uint8)
    codes = np.array([e4m3_byte(v) for v in FP8_VALUES], dtype=np.uint8)
    return cp.asarray(codes[picks]), picks


def _gemm_fp8(session: GpuContext, kernel: Kernel, library) -> KernelResult | None:
    """cublasLtMatmul in e4m3 (bf16 out, fp32 compute) at every catalog size; the best size is kept (None: no size
    ran)."""
    cp = session.cp
    handle = cublaslt.create_handle(library)
    workspace = cp.zeros(cublaslt.WORKSPACE_BYTES, dtype=cp.uint8)

    def one_size(size: int) -> KernelResult | None:
        (a, a_picks), (b, b_picks) = random_e4m3(cp, size, 1), random_e4m3(cp, size, 2)
        d = cp.zeros((size, size), dtype=cp.uint16)
        plan = cublaslt.Fp8Matmul(library, size)
        try:
            algorithm = plan.choose(handle)

            def launch() -> None:
                plan.run(handle, a.data.ptr, b.data.ptr, d.data.ptr, workspace.data.ptr, session.stream.ptr)

            check = after_sync(session, check_fp8, cp, kernel.name, a_picks, b_picks, d)
            details = {"instruction": "cublasLtMatmul (CUDA_R_8F_E4M3 x CUDA_R_8F_E4M3 -> CUDA_R_16BF, "
                                      "CUBLAS_COMPUTE_32F, A transposed)", "instruction_class": "library",
                       "library": "cuBLASLt cublasLtMatmul (ctypes on the wheel's libcublasLt)", "accumulate": "fp32",
                       "m_n_k": size, "workspace_bytes": cublaslt.WORKSPACE_BYTES,
                       "heuristic_workspace_bytes": int(algorithm.workspaceSize),
                       "data": f"uniform random picks of {list(FP8_VALUES)} (exact in e4m3)",
                       "counting": "2 x M x N x K FLOP per multiply (dense)"}
            return session.time_and_check(kernel, launch, check, Work(0, flops=2 * size**3), details)
        except MeasurementError:
            raise
        except cublaslt.CublasLtError as error:  # no fp8 path for this size or GPU: a note, never a number
            session.warnings.append(f"{kernel.name} at {size}: not measured: {error}")
            return None
        finally:
            plan.close()

    best = best_size(session, kernel, one_size, "best_gflops_by_size")
    library.cublasLtDestroy(handle)
    return best


def check_fp8(cp, name: str, a_picks: np.ndarray, b_picks: np.ndarray, d) -> None:
    """64 entries of the bf16 product against float64 (the same layout as the int8 GEMM: d[i, j] = sum_k a[j, k]
    b[i, k]), within bf16's rounding relative to sum |a b|."""
    size = a_picks.shape[0]
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, size, 64), rng.integers(0, size, 64)
    got_bits = cp.asnumpy(d[cp.asarray(rows), cp.asarray(cols)]).astype(np.uint32)
    got = (got_bits << 16).view(np.float32).astype(np.float64)
    values = np.asarray(FP8_VALUES)
    a_rows, b_rows = values[a_picks[cols]], values[b_picks[rows]]
    expected = np.einsum("ik,ik->i", b_rows, a_rows)
    scale = np.einsum("ik,ik->i", np.abs(b_rows), np.abs(a_rows))
    error = float(np.max(np.abs(got - expected) / scale))
    if not error <= FP8_TOLERANCE:
        raise MeasurementError(f"{name} output check failed: relative error {error:g} against a float64 reference "
                               f"(tolerance {FP8_TOLERANCE:g}); no figure is reported")


def check_int8(cp, name: str, a, b, c) -> None:
    """64 entries against an exact int64 reference. cuBLAS is column-major: the row-major arrays read as A = a^T and
    B = b^T, so C = op(A) B = a b^T and the row-major c[i, j] = C[j, i] = sum_k a[j, k] x b[i, k]."""
    size = a.shape[0]
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, size, 64), rng.integers(0, size, 64)
    b_rows = cp.asnumpy(b[cp.asarray(rows), :]).astype(np.int64)
    a_rows = cp.asnumpy(a[cp.asarray(cols), :]).astype(np.int64)
    got = cp.asnumpy(c[cp.asarray(rows), cp.asarray(cols)]).astype(np.int64)
    expected = np.einsum("ik,ik->i", b_rows, a_rows)
    wrong = np.flatnonzero(got != expected)
    if wrong.size:
        raise MeasurementError(f"{name} output check failed: {wrong.size} of 64 sampled entries differ from the exact "
                               f"int64 product (first: {int(got[wrong[0]])} instead of {int(expected[wrong[0]])}); "
                               "no figure is reported")


__all__ = ["e4m3_byte", "is_library_gemm", "run", "check_fp8", "check_int8"]
