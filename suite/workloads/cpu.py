"""The CPU workloads of ``hwbench validate``: NumPy, OpenBLAS and numba code, timed on the profile's cores.

Each workload is set up outside any timing (arrays allocated and first-touched, numba compiled), timed through
``hwbench.measure.time_kernel`` (warm-up calls, then samples of one call each until the repetition policy is
met; the figure is the median), then validated: a wrong result raises ``MeasurementError`` and no time is
reported.

Threads. The profile's roofs were measured on ``run.threads`` cores, so every workload runs on that many:
OpenBLAS (matmul, dot) is limited to it with threadpoolctl; numba's parallel stencil gets
``numba.set_num_threads``; NumPy's ufuncs and reductions are single-threaded, so the triad and the sum split
their arrays into that many contiguous slices and run the same NumPy call on each slice in its own thread
(NumPy releases the GIL inside those loops). Threads are not pinned (OpenBLAS is built with NO_AFFINITY).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from ..errors import MeasurementError
from ..measure import Sample, time_kernel
from ..measurement import ProgressCallback
from ..stats import RepetitionPolicy
from ..validation import STREAM_INITIAL, STREAM_SCALAR
from .cpu_latency import LatencyPlan, run_latency_workloads
from .result import WorkloadRun, count_label

# The 5-point stencil out = C0 u + C1 (north + south + west + east): 2 multiplications and 4 additions per
# interior point, as written (the counts in hwbench.tools.validate). Powers of two keep the reference exact.
STENCIL_C0, STENCIL_C1 = 0.5, 0.125
SAMPLED_ENTRIES = 32  # matmul entries checked one by one against a float64 reference, besides the checksum


@dataclass(frozen=True)
class CpuPlan:
    """The sizes of one validate run: matmul sides, the stencil grid's side, the vector workloads' length."""

    matmul_sizes: tuple[int, ...]
    stencil_side: int
    vector_elements: int

    @classmethod
    def for_machine(cls, llc_bytes: int, quick: bool) -> CpuPlan:
        """Working sets in DRAM, as STREAM sizes them: each vector and grid at least 4x the last-level cache
        (2x with ``quick``), 2^20 elements at the least. The matmul sizes span overhead-bound (256),
        cache-resident (1024: 24 MiB) and DRAM-sized (2048: 96 MiB) working sets."""
        multiple = 2 if quick else 4
        elements = 1 << max(20, (multiple * llc_bytes // 8 - 1).bit_length())
        side = 1 << ((elements.bit_length() - 1 + 1) // 2)  # a square grid of about as many points
        return cls((256, 1024) if quick else (256, 1024, 2048), side, elements)


@dataclass(frozen=True)
class _Workload:
    """A set-up workload: one call of the real code, and the check of its output."""

    name: str
    kind: str
    shape: tuple[int, ...]
    library: str
    description: str
    call: Callable[[], object]
    check: Callable[[], None]


def blas_library() -> str:
    """NumPy's version and the BLAS it calls, as threadpoolctl reports it."""
    blas = [f"{info.get('internal_api', '?')} {info.get('version') or ''}".strip()
            for info in threadpool_info() if info.get("user_api") == "blas"]
    return f"numpy {np.__version__} ({', '.join(blas) or 'BLAS not found by threadpoolctl'})"


def run_cpu_workloads(threads: int, plan: CpuPlan, policy: RepetitionPolicy,
                      progress: ProgressCallback | None = None) -> list[WorkloadRun]:
    """Set up, time and validate every CPU workload of ``plan`` on ``threads`` cores."""
    if threads < 1:
        raise ValueError(f"threads {threads} must be at least 1")
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    runs = []
    with ThreadPoolExecutor(threads) as pool, threadpool_limits(limits=threads, user_api="blas"):
        blas = blas_library()
        builders = [*(lambda n=n: _matmul(n, blas) for n in plan.matmul_sizes),
                    lambda: _stencil(plan.stencil_side), lambda: _dot(plan.vector_elements, blas),
                    lambda: _sum(plan.vector_elements, pool, threads),
                    lambda: _triad(plan.vector_elements, pool, threads)]
        for index, build in enumerate(builders):
            workload = build()
            if progress:
                progress(workload.name, index, len(builders) + 2)
            runs.append(_timed(workload, policy, threads))
    # The latency-bound programs (one thread each), over the vectors' footprint: hwbench.workloads.cpu_latency.
    runs += run_latency_workloads(LatencyPlan.for_bytes(plan.vector_elements * 8), policy, progress, len(builders),
                                  len(builders) + 2)
    return runs


def _timed(workload: _Workload, policy: RepetitionPolicy, threads: int) -> WorkloadRun:
    def run(calls: int) -> Sample:
        started = time.perf_counter()
        for _ in range(calls):
            workload.call()
        return Sample(time.perf_counter() - started)

    timing = time_kernel(run, policy)
    workload.check()
    samples = tuple(seconds / timing.calls_per_sample for seconds in timing.seconds)
    return WorkloadRun(workload.name, "cpu", workload.kind, workload.shape, "fp64", 8, workload.library,
                       workload.description, float(np.median(samples)), samples, threads)


def _random(shape: Sequence[int], seed: int) -> np.ndarray:
    """Uniform [0, 1) float64, first-touched (written) before any timing."""
    return np.random.default_rng(seed).random(tuple(shape))


def _fail(name: str, what: str) -> None:
    raise MeasurementError(f"{name} validation failed: {what}; no figure is reported")


def _matmul(n: int, blas: str) -> _Workload:
    a, b = _random((n, n), 1), _random((n, n), 2)
    c = np.zeros((n, n))
    name = f"numpy_matmul_{n}"

    def check() -> None:
        # The checksum identity sum(A B) = (1^T A)(B 1) over every entry, then entries against a float64
        # reference computed without BLAS. Inputs in [0, 1): no cancellation, so a relative bound holds.
        expected = float(a.sum(axis=0) @ b.sum(axis=1))
        if not abs(float(c.sum()) - expected) <= 1e-9 * expected:
            _fail(name, f"checksum {float(c.sum())!r}, expected {expected!r}")
        rng = np.random.default_rng(3)
        for i, j in zip(rng.integers(0, n, SAMPLED_ENTRIES), rng.integers(0, n, SAMPLED_ENTRIES)):
            reference = float(np.sum(a[i, :] * b[:, j]))
            if not abs(float(c[i, j]) - reference) <= 1e-9 * reference:
                _fail(name, f"C[{i}, {j}] = {float(c[i, j])!r}, expected {reference!r}")

    return _Workload(name, "matmul", (n,), blas, f"C = A @ B (np.matmul, out=C), {n} x {n}, fp64",
                     lambda: np.matmul(a, b, out=c), check)


@numba.njit(parallel=True, cache=False)
def _apply_five_point(u, out):
    """The loop a numba user writes: rows split across the threads (prange), columns vectorised by LLVM. Three
    rows of the grid stay in cache while a row is computed, so DRAM sees each point read once."""
    rows, cols = u.shape
    for i in numba.prange(1, rows - 1):
        for j in range(1, cols - 1):
            out[i, j] = STENCIL_C0 * u[i, j] + STENCIL_C1 * (((u[i - 1, j] + u[i + 1, j]) + u[i, j - 1]) + u[i, j + 1])


def _stencil(side: int) -> _Workload:
    u, out = _random((side, side), 4), np.zeros((side, side))
    _apply_five_point(u, out)  # compile (numba's parallel stencil) outside the timing
    name = f"numba_stencil5_{side}"

    def check() -> None:
        reference = np.zeros_like(u)
        reference[1:-1, 1:-1] = STENCIL_C0 * u[1:-1, 1:-1] + STENCIL_C1 * (
            ((u[:-2, 1:-1] + u[2:, 1:-1]) + u[1:-1, :-2]) + u[1:-1, 2:])
        if not np.allclose(out, reference, rtol=1e-12, atol=0.0):
            worst = np.unravel_index(np.argmax(np.abs(out - reference)), out.shape)
            _fail(name, f"out{tuple(int(i) for i in worst)} = {out[worst]!r}, expected {reference[worst]!r}")

    library = f"numba {numba.__version__} (njit, parallel=True, prange over rows)"
    return _Workload(name, "stencil5", (side, side), library,
                     f"5-point stencil out = {STENCIL_C0} u + {STENCIL_C1} (N + S + W + E), {side} x {side}, fp64",
                     lambda: _apply_five_point(u, out), check)


def _dot(n: int, blas: str) -> _Workload:
    a, b = np.full(n, STREAM_INITIAL["a"]), np.full(n, STREAM_INITIAL["b"])
    result: list[float] = []
    name = f"numpy_dot_{count_label(n)}"

    def call() -> None:
        result[:] = [float(np.dot(a, b))]

    def check() -> None:  # a sum of n equal products: exact in float64 in any order (n a b < 2^53)
        expected = n * STREAM_INITIAL["a"] * STREAM_INITIAL["b"]
        if result != [expected]:
            _fail(name, f"result {result!r}, expected {expected!r}")

    return _Workload(name, "dot", (n,), blas, f"np.dot(a, b), 2 x {n} fp64 (BLAS ddot)", call, check)


def _slices(array: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.array_split(array, parts)


def _sum(n: int, pool: ThreadPoolExecutor, threads: int) -> _Workload:
    x = np.full(n, STREAM_INITIAL["c"])
    parts = _slices(x, threads)
    result: list[float] = []
    name = f"numpy_sum_{count_label(n)}"

    def call() -> None:
        result[:] = [sum(pool.map(np.sum, parts))]

    def check() -> None:
        expected = n * STREAM_INITIAL["c"]  # exact: halves summed in float64
        if result != [expected]:
            _fail(name, f"result {result!r}, expected {expected!r}")

    return _Workload(name, "sum", (n,), f"numpy {np.__version__}",
                     f"np.sum(x), {n} fp64, one slice per thread", call, check)


def _triad(n: int, pool: ThreadPoolExecutor, threads: int) -> _Workload:
    a, b, c = (np.full(n, STREAM_INITIAL[key]) for key in "abc")
    slices = list(zip(_slices(a, threads), _slices(b, threads), _slices(c, threads)))
    name = f"numpy_triad_{count_label(n)}"

    def part(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        a_part, b_part, c_part = arrays
        np.multiply(c_part, STREAM_SCALAR, out=a_part)  # pass 1: a = s c
        a_part += b_part  # pass 2: a = a + b

    def call() -> None:
        list(pool.map(part, slices))

    def check() -> None:
        expected = STREAM_INITIAL["b"] + STREAM_SCALAR * STREAM_INITIAL["c"]  # 3.5, exact
        wrong = np.flatnonzero(a != expected)
        if wrong.size:
            _fail(name, f"a[{int(wrong[0])}] = {a[wrong[0]]!r}, expected {expected!r} ({wrong.size} wrong)")

    return _Workload(name, "triad_two_pass", (n,), f"numpy {np.__version__}",
                     f"STREAM triad a = b + s c as np.multiply(c, s, out=a); a += b, {n} fp64, one slice per thread",
                     call, check)
