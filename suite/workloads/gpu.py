"""The GPU workloads of ``hwbench validate``: cuBLAS through ``cupy.matmul``, a CuPy elementwise kernel,
``cupy.sum``, ``cupy.cumsum`` (a prefix scan), ``cupy.bincount`` (a histogram) and the raw kernels of
``kernels/cuda/stencil.cu`` (a 5-point and a 3-D 7-point stencil, an all-pairs n-body step, a CSR sparse
matrix-vector product): the ideas of the CPU's programs, in the code a CuPy user writes.

Each workload is set up untimed (arrays on the device, the raw kernel compiled by NVRTC with the catalog's
``-D`` constants), timed through ``hwbench.timing.time_kernel`` with CUDA events around batches of
back-to-back calls of about ``SAMPLE_SECONDS`` (the first call untimed: cuBLAS heuristics, kernel loading),
then validated on the host; a wrong result raises ``MeasurementError``.

Precisions: fp32 matmul runs on the CUDA cores (``compute.fp32``) unless CuPy is told to use TF32
(``CUPY_TF32=1``: ``compute.tensor_tf32``); fp16 matmul goes through cublasGemmEx on the tensor cores
(``compute.tensor_fp16``). There is no bf16 workload: CuPy has no bfloat16 dtype (NumPy has none).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from .. import catalog
from ..check import STREAM_INITIAL, STREAM_SCALAR
from ..errors import MeasurementError, UsageError
from ..record import ProgressCallback
from ..stats import RepetitionPolicy
from ..timing import Sample, time_kernel
from .result import WorkloadRun, count_label

SAMPLE_SECONDS = 0.005  # each timed sample covers ~5 ms of back-to-back calls
SAMPLED_ENTRIES = 32
# Relative tolerance of a matmul entry against its float64 reference: fp32 sums of n products err by about
# sqrt(n) x 6e-8 (5e-6 at n = 8192), fp16 outputs are rounded to 11 bits (5e-4); a wrong entry is off by O(1).
MATMUL_TOLERANCE = {"float32": 1e-3, "float16": 1e-2}
STENCIL_C0, STENCIL_C1 = 0.5, 0.125  # as the CPU stencil: out = C0 u + C1 (N + S + W + E)
# The sparse matrix and the n-body softening as the CPU's numba programs (hwbench.workloads.cpu_numba).
SPMV_PER_ROW, SPMV_BAND = 16, 128
NBODY_SOFTENING2 = 0.01
SCAN_STRIDE = 1024  # the prefix sum's input: a one every SCAN_STRIDE elements, zeros between (exact in fp32)
HISTOGRAM_BINS = 1024


@dataclass(frozen=True)
class GpuPlan:
    """The sizes of one run on a GPU: fp32 and fp16 matmul sides, the vector length, the stencil's side."""

    matmul_sizes: tuple[int, ...]
    half_matmul_sizes: tuple[int, ...]
    vector_elements: int
    stencil_side: int
    cube_side: int = 16  # the 7-point stencil's grid: cube_side^3 points
    bodies: int = 256

    @classmethod
    def for_device(cls, l2_bytes: int, free_bytes: int, quick: bool) -> GpuPlan:
        """Vectors and the grid of fp32 at least 8x the L2 (4x with ``quick``; a power of two), three of them
        within half the free memory: on an H100 (50 MiB L2) 2^27 elements, so that a sum (one read of 512 MiB)
        takes some 170 us, above validate's 100 us floor; a 512 matmul (launch-bound, to be excluded), and
        8192 (4096 with ``quick``); the 7-point stencil's cube of at least as many points; 65536 bodies (32768 with
        ``quick``): 20 x 2^32 FLOPs, about 1.3 ms at an H100's 67 TFLOP/s fp32, compute-bound."""
        multiple = 4 if quick else 8
        elements = 1 << max(20, (multiple * l2_bytes // 4 - 1).bit_length())
        while 3 * 4 * elements > free_bytes // 2 and elements > 1 << 20:
            elements //= 2
        side = 1 << ((elements.bit_length() - 1 + 1) // 2)
        cube = 1 << -(-(elements.bit_length() - 1) // 3)  # a cube of at least as many points
        big = 4096 if quick else 8192
        return cls((512, big), (big,), elements, side, cube, 32768 if quick else 65536)


@dataclass(frozen=True)
class _Workload:
    name: str
    kind: str
    shape: tuple[int, ...]
    precision: str
    element_bytes: int
    library: str
    description: str
    call: Callable[[], object]
    check: Callable[[], None]


def use_device(cp: Any, index: int) -> str:
    """Make device ``index`` of CuPy ``cp`` current (``cp`` comes from the one device check,
    ``hwbench.gpu.failures.checked_cupy``); return the device's name."""
    cp.cuda.Device(index).use()
    name = cp.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def run_gpu_workloads(cp: Any, plan: GpuPlan, policy: RepetitionPolicy,
                      progress: ProgressCallback | None = None) -> list[WorkloadRun]:
    """Set up, time and validate every GPU workload of ``plan`` on CuPy's current device."""
    if plan.matmul_sizes or plan.half_matmul_sizes:
        require_cublas(cp)
    stream = cp.cuda.Stream(non_blocking=True)
    tf32 = os.environ.get("CUPY_TF32") == "1"
    raw = _RawKernels(cp)
    # The list is fixed here, before anything is measured (hwbench.tools.validate.EXCLUSION_REASONS are the only ways
    # a workload leaves the verdict).
    builders = [*(lambda n=n: _matmul(cp, n, np.float32, "tensor_tf32" if tf32 else "fp32")
                  for n in plan.matmul_sizes),
                *(lambda n=n: _matmul(cp, n, np.float16, "tensor_fp16") for n in plan.half_matmul_sizes),
                lambda: _axpy(cp, plan.vector_elements), lambda: _sum(cp, plan.vector_elements),
                lambda: _stencil(cp, raw, plan.stencil_side), lambda: _stencil7(cp, raw, plan.cube_side),
                lambda: _nbody(cp, raw, plan.bodies),
                lambda: _spmv(cp, raw, plan.vector_elements // SPMV_PER_ROW),
                lambda: _cumsum(cp, plan.vector_elements), lambda: _histogram(cp, plan.vector_elements)]
    runs = []
    for index, build in enumerate(builders):
        with stream:
            workload = build()
        if progress:
            progress(workload.name, index, len(builders))
        runs.append(_timed(cp, stream, workload, policy))
    return runs


def require_cublas(cp: Any) -> Any:
    """``cupy.matmul`` needs the cuBLAS library, which CuPy loads on first use (``cupy.cuda.cublas``): a node
    with only the NVIDIA driver (CuPy without its ``[ctk]`` extra) fails there with cuda.pathfinder's "Failure
    finding libcublas..." ImportError; that is a UsageError naming the install, not a traceback."""
    try:
        return cp.cuda.cublas
    except ImportError as error:
        raise UsageError(f"hwbench validate on a GPU needs cuBLAS, which CuPy could not load "
                         f"({str(error).splitlines()[0]}); pip install 'hwbench[cuda12]' (CUDA 12 driver) or "
                         "'hwbench[cuda13]' (CUDA 13 driver)") from None


def _timed(cp: Any, stream: Any, workload: _Workload, policy: RepetitionPolicy) -> WorkloadRun:
    start, end = cp.cuda.Event(), cp.cuda.Event()

    def run(calls: int) -> Sample:
        with stream:
            start.record(stream)
            for _ in range(calls):
                workload.call()
            end.record(stream)
            end.synchronize()
        return Sample(cp.cuda.get_elapsed_time(start, end) / 1e3)

    timing = time_kernel(run, policy, SAMPLE_SECONDS)
    with stream:
        stream.synchronize()
        workload.check()
    samples = tuple(seconds / timing.calls_per_sample for seconds in timing.seconds)
    return WorkloadRun(workload.name, "gpu", workload.kind, workload.shape, workload.precision,
                       workload.element_bytes, workload.library, workload.description, float(np.median(samples)),
                       samples, None, {"calls_per_sample": timing.calls_per_sample})


def _fail(name: str, what: str) -> None:
    raise MeasurementError(f"{name} output check failed: {what}; no figure is reported")


def _matmul(cp: Any, n: int, dtype: Any, precision: str) -> _Workload:
    rng = np.random.default_rng(n)
    host_a, host_b = (rng.random((n, n)).astype(dtype) for _ in range(2))
    a, b = cp.asarray(host_a), cp.asarray(host_b)
    c = cp.empty((n, n), dtype=dtype)
    kind = np.dtype(dtype).name
    name = f"cupy_matmul_{'fp16' if kind == 'float16' else 'fp32'}_{n}"
    tolerance = MATMUL_TOLERANCE[kind]

    def check() -> None:
        # The float64 checksum identity sum(A B) = (1^T A)(B 1), then sampled entries against a float64 reference.
        result = cp.asnumpy(c).astype(np.float64)
        a64, b64 = host_a.astype(np.float64), host_b.astype(np.float64)
        expected = float(a64.sum(axis=0) @ b64.sum(axis=1))
        if not abs(float(result.sum()) - expected) <= tolerance * expected:
            _fail(name, f"checksum {float(result.sum())!r}, expected {expected!r}")
        for i, j in zip(rng.integers(0, n, SAMPLED_ENTRIES), rng.integers(0, n, SAMPLED_ENTRIES)):
            reference = float(np.sum(a64[i, :] * b64[:, j]))
            if not abs(result[i, j] - reference) <= tolerance * reference:
                _fail(name, f"C[{i}, {j}] = {result[i, j]!r}, expected {reference!r}")

    return _Workload(name, "matmul", (n,), precision, np.dtype(dtype).itemsize, f"cupy {cp.__version__} (cuBLAS)",
                     f"C = A @ B (cupy.matmul, out=C), {n} x {n}, {kind}", lambda: cp.matmul(a, b, out=c), check)


def _axpy(cp: Any, n: int) -> _Workload:
    kernel = cp.ElementwiseKernel("float32 a, float32 x, float32 y", "float32 z", "z = a * x + y", "hwbench_axpy")
    x, y = cp.full(n, STREAM_INITIAL["c"], dtype=np.float32), cp.full(n, STREAM_INITIAL["b"], dtype=np.float32)
    z = cp.empty(n, dtype=np.float32)
    scalar = np.float32(STREAM_SCALAR)
    name = f"cupy_axpy_{count_label(n)}"

    def check() -> None:
        expected = STREAM_INITIAL["b"] + STREAM_SCALAR * STREAM_INITIAL["c"]  # 3.5, exact in fp32
        result = cp.asnumpy(z)
        wrong = np.flatnonzero(result != np.float32(expected))
        if wrong.size:
            _fail(name, f"z[{int(wrong[0])}] = {float(result[wrong[0]])!r}, expected {expected!r}")

    return _Workload(name, "axpy", (n,), "fp32", 4, f"cupy {cp.__version__} (ElementwiseKernel)",
                     f"z = a * x + y, one fused elementwise kernel, {n} fp32", lambda: kernel(scalar, x, y, z), check)


def _sum(cp: Any, n: int) -> _Workload:
    x = cp.full(n, STREAM_INITIAL["a"], dtype=np.float32)
    result: list[Any] = []
    name = f"cupy_sum_{count_label(n)}"

    def check() -> None:
        value, expected = float(result[-1]), n * STREAM_INITIAL["a"]
        if not abs(value - expected) <= 1e-6 * expected:  # fp32 tree reduction of ones: exact up to rounding
            _fail(name, f"result {value!r}, expected {expected!r}")

    def call() -> None:
        result[:] = [cp.sum(x)]  # a 0-d device array: no synchronisation inside the timed batch

    return _Workload(name, "sum", (n,), "fp32", 4, f"cupy {cp.__version__} (reduction)", f"cupy.sum(x), {n} fp32",
                     call, check)


class _RawKernels:
    """The validate raw kernels (``kernels/cuda/stencil.cu``, the catalog's ``STENCIL_CU`` constants), compiled by NVRTC
    once, on first use, outside any timing."""

    def __init__(self, cp: Any):
        self.cp = cp
        self.module: Any = None

    def get(self, entry: str) -> Any:
        if self.module is None:
            kernel = catalog.VALIDATE_STENCIL
            assert kernel.module is not None
            source = resources.files("hwbench.kernels").joinpath(f"cuda/{kernel.module.source}").read_text()
            module = self.cp.RawModule(code=source, options=kernel.module.compile_options())
            try:
                module.compile()  # NVRTC now, outside any timing
            except RuntimeError as error:  # cuda.pathfinder's DynamicLibNotFoundError: CuPy without NVRTC
                if type(error).__name__ != "DynamicLibNotFoundError":
                    raise
                raise UsageError(f"hwbench validate on a GPU needs NVRTC, which CuPy could not load "
                                 f"({str(error).splitlines()[0]}); pip install 'hwbench[cuda12]' (CUDA 12 driver) or "
                                 "'hwbench[cuda13]' (CUDA 13 driver)") from None
            self.module = module
        return self.module.get_function(entry)


BLOCK_X, BLOCK_Y = catalog.STENCIL_CU.constants["BLOCK_X"], catalog.STENCIL_CU.constants["BLOCK_Y"]
THREADS_1D = BLOCK_X * BLOCK_Y  # the 1-D raw kernels' block (their __launch_bounds__)


def _grid_check(name: str, result: np.ndarray, reference: np.ndarray, rtol: float, atol: float) -> None:
    if not np.allclose(result, reference, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(result - reference)), result.shape)
        _fail(name, f"out{tuple(int(i) for i in worst)} = {result[worst]!r}, expected {reference[worst]!r}")


def _stencil(cp: Any, raw: _RawKernels, side: int) -> _Workload:
    kernel = catalog.VALIDATE_STENCIL
    assert kernel.entry is not None
    function = raw.get(kernel.entry)
    grid = (-(-side // BLOCK_X), -(-side // BLOCK_Y))
    host_u = np.random.default_rng(side).random((side, side)).astype(np.float32)
    u, out = cp.asarray(host_u), cp.zeros((side, side), dtype=np.float32)
    args = (u, out, np.int32(side), np.int32(side), np.float32(STENCIL_C0), np.float32(STENCIL_C1))
    name = f"cuda_stencil5_{side}"

    def check() -> None:
        u64 = host_u.astype(np.float64)
        reference = np.zeros_like(u64)
        reference[1:-1, 1:-1] = STENCIL_C0 * u64[1:-1, 1:-1] + STENCIL_C1 * (
            ((u64[:-2, 1:-1] + u64[2:, 1:-1]) + u64[1:-1, :-2]) + u64[1:-1, 2:])
        _grid_check(name, cp.asnumpy(out).astype(np.float64), reference, 1e-5, 1e-6)

    return _Workload(name, "stencil5", (side, side), "fp32", 4, f"cupy {cp.__version__} (RawKernel stencil.cu)",
                     f"5-point stencil raw kernel ({kernel.entry}), {side} x {side}, fp32",
                     lambda: function(grid, (BLOCK_X, BLOCK_Y), args), check)


def _stencil7(cp: Any, raw: _RawKernels, side: int) -> _Workload:
    function = raw.get("stencil7_f32")
    grid = (-(-side // BLOCK_X), -(-side // BLOCK_Y), side)
    host_u = np.random.default_rng(side + 7).random((side, side, side)).astype(np.float32)
    u, out = cp.asarray(host_u), cp.zeros((side, side, side), dtype=np.float32)
    args = (u, out, np.int32(side), np.int32(side), np.int32(side), np.float32(STENCIL_C0), np.float32(STENCIL_C1))
    name = f"cuda_stencil7_{side}"

    def check() -> None:
        u64 = host_u.astype(np.float64)
        reference = np.zeros_like(u64)
        reference[1:-1, 1:-1, 1:-1] = STENCIL_C0 * u64[1:-1, 1:-1, 1:-1] + STENCIL_C1 * (
            ((((u64[:-2, 1:-1, 1:-1] + u64[2:, 1:-1, 1:-1]) + u64[1:-1, :-2, 1:-1]) + u64[1:-1, 2:, 1:-1])
             + u64[1:-1, 1:-1, :-2]) + u64[1:-1, 1:-1, 2:])
        _grid_check(name, cp.asnumpy(out).astype(np.float64), reference, 1e-5, 1e-6)

    return _Workload(name, "stencil7", (side, side, side), "fp32", 4,
                     f"cupy {cp.__version__} (RawKernel stencil.cu)",
                     f"3-D 7-point stencil raw kernel (stencil7_f32), {side}^3, fp32",
                     lambda: function(grid, (BLOCK_X, BLOCK_Y), args), check)


def _nbody(cp: Any, raw: _RawKernels, n: int) -> _Workload:
    function = raw.get("nbody_f32")
    rng = np.random.default_rng(n + 9)
    host = [rng.random(n, dtype=np.float32) for _ in range(3)] + [rng.random(n, dtype=np.float32) + np.float32(0.5)]
    x, y, z, m = (cp.asarray(array) for array in host)
    ax, ay, az = (cp.zeros(n, dtype=np.float32) for _ in range(3))
    args = (x, y, z, m, ax, ay, az, np.int32(n), np.float32(NBODY_SOFTENING2))
    grid = (-(-n // THREADS_1D),)
    name = f"cuda_nbody_{n}"

    def check() -> None:  # sampled bodies against a float64 reference; fp32 sums of n terms with rsqrtf's 2 ulp
        positions, masses = np.stack(host[:3]).astype(np.float64), host[3].astype(np.float64)
        got = np.stack([cp.asnumpy(ax), cp.asnumpy(ay), cp.asnumpy(az)]).astype(np.float64)
        for i in np.random.default_rng(3).integers(0, n, SAMPLED_ENTRIES):
            d = positions - positions[:, i:i + 1]
            reference = d @ (masses / (np.sum(d * d, axis=0) + NBODY_SOFTENING2) ** 1.5)
            if not np.all(np.abs(got[:, i] - reference) <= 1e-3 * np.linalg.norm(reference) + 1e-6):
                _fail(name, f"a[{int(i)}] = {got[:, i].tolist()}, expected {reference.tolist()}")

    return _Workload(name, "nbody", (n,), "fp32", 4, f"cupy {cp.__version__} (RawKernel stencil.cu)",
                     f"all-pairs gravitational accelerations of {n} bodies, one per thread (nbody_f32), fp32",
                     lambda: function(grid, (THREADS_1D,), args), check)


def _spmv(cp: Any, raw: _RawKernels, rows: int) -> _Workload:
    """The CPU's banded random matrix (SPMV_PER_ROW non-zeros per row within SPMV_BAND of the diagonal) in fp32."""
    function = raw.get("spmv_csr_f32")
    rng = np.random.default_rng(rows + 6)
    offsets = rng.integers(-SPMV_BAND, SPMV_BAND, (rows, SPMV_PER_ROW))
    host_columns = np.clip(np.arange(rows)[:, None] + offsets, 0, rows - 1).astype(np.int32).ravel()
    host_values, host_x = rng.random(host_columns.size, dtype=np.float32), rng.random(rows, dtype=np.float32)
    pointers = cp.asarray(np.arange(0, host_columns.size + 1, SPMV_PER_ROW, dtype=np.int64))
    columns, values, x = cp.asarray(host_columns), cp.asarray(host_values), cp.asarray(host_x)
    y = cp.zeros(rows, dtype=np.float32)
    args = (pointers, columns, values, x, y, np.int32(rows))
    grid = (-(-rows // THREADS_1D),)
    name = f"cuda_spmv_csr_{count_label(rows)}"

    def check() -> None:
        products = host_values.astype(np.float64) * host_x.astype(np.float64)[host_columns]
        _grid_check(name, cp.asnumpy(y).astype(np.float64), products.reshape(rows, SPMV_PER_ROW).sum(axis=1),
                    1e-5, 1e-6)

    return _Workload(name, "spmv_csr", (rows, host_columns.size), "fp32", 4,
                     f"cupy {cp.__version__} (RawKernel stencil.cu)",
                     f"CSR y = A x, one row per thread (spmv_csr_f32), {rows} rows, {SPMV_PER_ROW} non-zeros per row "
                     f"within {SPMV_BAND} of the diagonal, fp32 values, int32 columns", lambda: function(
                         grid, (THREADS_1D,), args), check)


def _cumsum(cp: Any, n: int) -> _Workload:
    """cupy.cumsum of fp32 with a one every SCAN_STRIDE elements and zeros between: every partial sum, in any order
    of additions, is an integer below 2^24, so the prefix sum is exact in fp32."""
    host = np.zeros(n, dtype=np.float32)
    host[::SCAN_STRIDE] = 1.0
    x, y = cp.asarray(host), cp.zeros(n, dtype=np.float32)
    name = f"cupy_cumsum_{count_label(n)}"

    def check() -> None:
        result = cp.asnumpy(y)
        expected = (np.arange(n) // SCAN_STRIDE + 1).astype(np.float32)
        wrong = np.flatnonzero(result != expected)
        if wrong.size:
            _fail(name, f"y[{int(wrong[0])}] = {float(result[wrong[0]])!r}, expected {float(expected[wrong[0]])!r} "
                        f"({wrong.size} wrong)")

    return _Workload(name, "scan", (n,), "fp32", 4, f"cupy {cp.__version__} (cupy.cumsum)",
                     f"inclusive prefix sum cupy.cumsum(x, out=y), {n} fp32", lambda: cp.cumsum(x, out=y), check)


def _histogram(cp: Any, n: int) -> _Workload:
    """cupy.bincount of n int32 keys, uniform over HISTOGRAM_BINS bins: one increment per key into int64 counts."""
    host = np.random.default_rng(n + 11).integers(0, HISTOGRAM_BINS, n, dtype=np.int32)
    keys = cp.asarray(host)
    result: list[Any] = []
    name = f"cupy_histogram_{count_label(n)}"

    def call() -> None:
        result[:] = [cp.bincount(keys, minlength=HISTOGRAM_BINS)]

    def check() -> None:
        got, expected = cp.asnumpy(result[-1]), np.bincount(host, minlength=HISTOGRAM_BINS)
        if got.shape != expected.shape or not np.array_equal(got, expected):
            wrong = int(np.flatnonzero(got != expected)[0]) if got.shape == expected.shape else -1
            _fail(name, f"count[{wrong}] = {got[wrong] if wrong >= 0 else got.shape!r}, expected "
                        f"{expected[wrong] if wrong >= 0 else expected.shape!r}")

    return _Workload(name, "histogram", (n, HISTOGRAM_BINS), "fp32", 4, f"cupy {cp.__version__} (cupy.bincount)",
                     f"histogram cupy.bincount(keys, minlength={HISTOGRAM_BINS}), {n} int32 keys", call, check)
