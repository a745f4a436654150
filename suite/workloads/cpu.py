"""The CPU workloads of ``hwbench validate``: NumPy, OpenBLAS and numba code, timed on the profile's cores.

Each workload is set up outside any timing (arrays allocated and first-touched, numba compiled), timed through
``hwbench.timing.time_kernel`` (warm-up calls, then samples of one call each until the repetition policy is
met; the figure is the median), then validated: a wrong result raises ``MeasurementError`` and no time is
reported.

Threads. The profile's roofs were measured on ``run.threads`` cores, so every workload runs on that many:
OpenBLAS (matmul, dot) is limited to it with threadpoolctl; numba's parallel stencil gets
``numba.set_num_threads``; NumPy's ufuncs and reductions are single-threaded, so the triad and the sum split
their arrays into that many contiguous slices and run the same NumPy call on each slice in its own thread
(NumPy releases the GIL inside those loops). Threads are not pinned (OpenBLAS is built with NO_AFFINITY).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from ..check import STREAM_INITIAL, STREAM_SCALAR
from ..record import ProgressCallback
from ..stats import RepetitionPolicy
from . import cpu_numba as nb
from .cpu_latency import LatencyPlan, run_latency_workloads
from .host_state import HostState
from .result import WorkloadRun, count_label
from .workload import (
    ELEMENT_BYTES,
    STENCIL_C0,
    STENCIL_C1,
    Workload,
    all_equal,
    check_matmul,
    fail,
    random_array,
    time_calls,
)


@dataclass(frozen=True)
class CpuPlan:
    """The sizes of one validate run: matmul sides, the stencil grid's side, the vector workloads' length."""

    matmul_sizes: tuple[int, ...]
    stencil_side: int
    vector_elements: int
    cube_side: int = 64  # the 7-point stencil's grid: cube_side^3 points
    blocked_matmul_size: int = 512
    bodies: int = 4096

    @classmethod
    def for_machine(cls, llc_bytes: int, quick: bool) -> CpuPlan:
        """Working sets in DRAM, as STREAM sizes them: each vector and grid at least 4x the last-level cache
        (2x with ``quick``), 2^20 elements at the least. The matmul sizes span overhead-bound (256),
        cache-resident (1024: 24 MiB) and DRAM-sized (2048: 96 MiB) working sets. The compute-bound numba
        programs are sized to take tens of milliseconds on two cores: a 1024 blocked matmul (2.1 GFLOP) and 8192
        bodies (1.3 GFLOP); 512 and 4096 with ``quick``."""
        multiple = 2 if quick else 4
        elements = 1 << max(20, (multiple * llc_bytes // 8 - 1).bit_length())
        side = 1 << ((elements.bit_length() - 1 + 1) // 2)  # a square grid of about as many points
        cube = 1 << -(-(elements.bit_length() - 1) // 3)  # a cube of at least as many points
        return cls((256, 1024) if quick else (256, 1024, 2048), side, elements, cube, 512 if quick else 1024,
                   4096 if quick else 8192)


def blas_library() -> str:
    """NumPy's version and the BLAS it calls, as threadpoolctl reports it."""
    blas = [f"{info.get('internal_api', '?')} {info.get('version') or ''}".strip()
            for info in threadpool_info() if info.get("user_api") == "blas"]
    return f"numpy {np.__version__} ({', '.join(blas) or 'BLAS not found by threadpoolctl'})"


# The cores' clock now: (MHz, None), or (None, why it was refused) (hwbench.cpu.clock_now.ClockNow.sample).
ClockProbe = Callable[[ThreadPoolExecutor], tuple[float | None, str | None]]


def run_cpu_workloads(threads: int, plan: CpuPlan, policy: RepetitionPolicy,
                      progress: ProgressCallback | None = None, clock: ClockProbe | None = None) -> list[WorkloadRun]:
    """Set up, time and validate every CPU workload of ``plan`` on ``threads`` cores. Just before each program the
    host's state is read: the profile's DRAM roof kernels timed again (``HostState``) and, given ``clock``, the
    cores' clock on the pool's threads (None, and ``host_clock_problem`` saying why, where it cannot be believed)."""
    if threads < 1:
        raise ValueError(f"threads {threads} must be at least 1")
    # numba.config sets its NUMBA_* names at run time (from the environment), which its stubs do not declare
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    runs = []
    with ThreadPoolExecutor(threads) as pool, threadpool_limits(limits=threads, user_api="blas"):
        blas = blas_library()
        n = plan.vector_elements
        # The list is fixed here, before anything is measured; hwbench.tools.validate.EXCLUSION_REASONS are the only
        # ways a workload leaves the verdict.
        builders = [*(lambda n=n: _matmul(n, blas) for n in plan.matmul_sizes),
                    lambda: _stencil(plan.stencil_side), lambda: _dot(n, blas),
                    lambda: _sum(n, pool, threads), lambda: _triad(n, pool, threads),
                    lambda: _add(n, pool, threads), lambda: _scale(n, pool, threads),
                    lambda: _dot_fp32(n, blas), lambda: nb.saxpy(n), lambda: nb.stencil7(plan.cube_side),
                    lambda: nb.spmv(n // nb.SPMV_PER_ROW), lambda: _scan(n, pool, threads),
                    lambda: nb.blocked_matmul(plan.blocked_matmul_size), lambda: nb.nbody(plan.bodies)]
        host = HostState(n, pool, threads)
        for index, build in enumerate(builders):
            workload = build()
            if progress:
                progress(workload.name, index, len(builders) + 2)
            host_clock_mhz, clock_problem = clock(pool) if clock else (None, None)
            state: dict[str, object] = {"host_stream_gbps": host.sample(),  # just before the program (host_state.py)
                                        "host_clock_mhz": host_clock_mhz}
            if clock_problem:
                state["host_clock_problem"] = clock_problem
            runs.append(_timed(workload, policy, threads, state))
        del host  # its arrays freed before the latency programs allocate theirs
    # The latency-bound programs (one thread each), over the vectors' footprint: hwbench.workloads.cpu_latency.
    runs += run_latency_workloads(LatencyPlan.for_bytes(plan.vector_elements * 8), policy, progress, len(builders),
                                  len(builders) + 2)
    return runs


def _timed(workload: Workload, policy: RepetitionPolicy, threads: int, details: dict) -> WorkloadRun:
    samples = time_calls(workload.call, policy)
    workload.check()
    return WorkloadRun(workload.name, "cpu", workload.kind, workload.shape, workload.precision,
                       ELEMENT_BYTES[workload.precision], workload.library, workload.description,
                       float(np.median(samples)), samples, threads, details, roof=workload.roof)


def _matmul(n: int, blas: str) -> Workload:
    a, b = random_array((n, n), 1), random_array((n, n), 2)
    c = np.zeros((n, n))
    name = f"numpy_matmul_{n}"

    return Workload(name, "matmul", (n,), blas, f"C = A @ B (np.matmul, out=C), {n} x {n}, fp64",
                     lambda: np.matmul(a, b, out=c), lambda: check_matmul(name, a, b, c), roof="gemm")


@numba.njit(parallel=True, cache=False)
def _apply_five_point(u, out):
    """The loop a numba user writes: rows split across the threads (prange), columns vectorised by LLVM. Three
    rows of the grid stay in cache while a row is computed, so DRAM sees each point read once."""
    rows, cols = u.shape
    for i in numba.prange(1, rows - 1):
        for j in range(1, cols - 1):
            out[i, j] = STENCIL_C0 * u[i, j] + STENCIL_C1 * (((u[i - 1, j] + u[i + 1, j]) + u[i, j - 1]) + u[i, j + 1])


def _stencil(side: int) -> Workload:
    u, out = random_array((side, side), 4), np.zeros((side, side))
    _apply_five_point(u, out)  # compile (numba's parallel stencil) outside the timing
    name = f"numba_stencil5_{side}"

    def check() -> None:
        reference = np.zeros_like(u)
        reference[1:-1, 1:-1] = STENCIL_C0 * u[1:-1, 1:-1] + STENCIL_C1 * (
            ((u[:-2, 1:-1] + u[2:, 1:-1]) + u[1:-1, :-2]) + u[1:-1, 2:])
        if not np.allclose(out, reference, rtol=1e-12, atol=0.0):
            worst = np.unravel_index(np.argmax(np.abs(out - reference)), out.shape)
            fail(name, f"out{tuple(int(i) for i in worst)} = {out[worst]!r}, expected {reference[worst]!r}")

    library = f"numba {numba.__version__} (njit, parallel=True, prange over rows)"
    return Workload(name, "stencil5", (side, side), library,
                     f"5-point stencil out = {STENCIL_C0} u + {STENCIL_C1} (N + S + W + E), {side} x {side}, fp64",
                     lambda: _apply_five_point(u, out), check, roof="add")  # multiplies and adds, no fastmath: no FMA


def _dot(n: int, blas: str) -> Workload:
    a, b = np.full(n, STREAM_INITIAL["a"]), np.full(n, STREAM_INITIAL["b"])
    result: list[float] = []
    name = f"numpy_dot_{count_label(n)}"

    def call() -> None:
        result[:] = [float(np.dot(a, b))]

    def check() -> None:  # a sum of n equal products: exact in float64 in any order (n a b < 2^53)
        expected = n * STREAM_INITIAL["a"] * STREAM_INITIAL["b"]
        if result != [expected]:
            fail(name, f"result {result!r}, expected {expected!r}")

    return Workload(name, "dot", (n,), blas, f"np.dot(a, b), 2 x {n} fp64 (BLAS ddot)", call, check)


def _slices(array: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.array_split(array, parts)


def _sum(n: int, pool: ThreadPoolExecutor, threads: int) -> Workload:
    x = np.full(n, STREAM_INITIAL["c"])
    parts = _slices(x, threads)
    result: list[float] = []
    name = f"numpy_sum_{count_label(n)}"

    def call() -> None:
        result[:] = [sum(pool.map(np.sum, parts))]

    def check() -> None:
        expected = n * STREAM_INITIAL["c"]  # exact: halves summed in float64
        if result != [expected]:
            fail(name, f"result {result!r}, expected {expected!r}")

    # NumPy's pairwise sum (DOUBLE_pairwise_sum) runs 8 scalar accumulators, vaddsd with a memory operand (perf
    # annotate on the Zen 5 guest, numpy 2.4): the scalar add roof, not the vector one.
    return Workload(name, "sum", (n,), f"numpy {np.__version__}",
                     f"np.sum(x), {n} fp64, one slice per thread", call, check, roof="scalar_add")


def _triad(n: int, pool: ThreadPoolExecutor, threads: int) -> Workload:
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
            fail(name, f"a[{int(wrong[0])}] = {a[wrong[0]]!r}, expected {expected!r} ({wrong.size} wrong)")

    return Workload(name, "triad_two_pass", (n,), f"numpy {np.__version__}",
                     f"STREAM triad a = b + s c as np.multiply(c, s, out=a); a += b, {n} fp64, one slice per thread",
                     call, check, roof="add")


def _sliced(name: str, kind: str, n: int, pool: ThreadPoolExecutor, threads: int, arrays: tuple[np.ndarray, ...],
            part: Callable[..., object], check: Callable[[], None], description: str, roof: str) -> Workload:
    """A NumPy ufunc call split into one contiguous slice per thread (NumPy's ufuncs are single-threaded and
    release the GIL), as the triad and the sum are."""
    slices = list(zip(*(_slices(array, threads) for array in arrays)))

    def call() -> None:
        list(pool.map(lambda views: part(*views), slices))

    return Workload(name, kind, (n,), f"numpy {np.__version__}", f"{description}, {n} fp64, one slice per thread",
                     call, check, roof=roof)


def _add(n: int, pool: ThreadPoolExecutor, threads: int) -> Workload:
    a, b, c = np.full(n, STREAM_INITIAL["a"]), np.full(n, STREAM_INITIAL["b"]), np.zeros(n)
    name = f"numpy_add_{count_label(n)}"
    return _sliced(name, "add", n, pool, threads, (a, b, c), lambda x, y, z: np.add(x, y, out=z),
                   lambda: all_equal(name, c, STREAM_INITIAL["a"] + STREAM_INITIAL["b"]),
                   "c = a + b (np.add, out=c)", "add")


def _scale(n: int, pool: ThreadPoolExecutor, threads: int) -> Workload:
    a, b = np.full(n, STREAM_INITIAL["a"]), np.zeros(n)
    name = f"numpy_scale_{count_label(n)}"
    return _sliced(name, "scale", n, pool, threads, (a, b), lambda x, y: np.multiply(x, STREAM_SCALAR, out=y),
                   lambda: all_equal(name, b, STREAM_SCALAR * STREAM_INITIAL["a"]),
                   "b = s a (np.multiply, out=b)", "mul")


def _dot_fp32(n: int, blas: str) -> Workload:
    a, b = np.full(n, 0.5, dtype=np.float32), np.full(n, 0.25, dtype=np.float32)
    result: list[float] = []
    name = f"numpy_sdot_{count_label(n)}"

    def call() -> None:
        result[:] = [float(np.dot(a, b))]

    def check() -> None:  # fp32 partial sums round: a relative bound, far below any wrong result's error
        expected = n * 0.5 * 0.25
        if not abs(result[0] - expected) <= 1e-3 * expected:
            fail(name, f"result {result!r}, expected {expected!r}")

    return Workload(name, "dot", (n,), blas, f"np.dot(a, b), 2 x {n} fp32 (BLAS sdot)", call, check,
                     precision="fp32")


def _scan(n: int, pool: ThreadPoolExecutor, threads: int) -> Workload:
    """The inclusive prefix sum a NumPy user parallelises: np.cumsum of each slice in its own thread, then each later
    slice gets the total of the slices before it added (np.add, in place)."""
    x, y = np.full(n, 0.5), np.zeros(n)
    parts = list(zip(_slices(x, threads), _slices(y, threads)))
    name = f"numpy_cumsum_{count_label(n)}"

    def call() -> None:
        list(pool.map(lambda views: np.cumsum(views[0], out=views[1]), parts))
        carries = np.cumsum([float(view[-1]) for _, view in parts])
        list(pool.map(lambda item: np.add(item[0], item[1], out=item[0]),
                      [(view, carry) for (_, view), carry in zip(parts[1:], carries[:-1])]))

    def check() -> None:  # 0.5 (i + 1): exact in fp64
        expected = 0.5 * np.arange(1, n + 1, dtype=np.float64)
        wrong = np.flatnonzero(y != expected)
        if wrong.size:
            fail(name, f"y[{int(wrong[0])}] = {y[wrong[0]]!r}, expected {expected[wrong[0]]!r} ({wrong.size} wrong)")

    return Workload(name, "scan_two_pass", (n, threads), f"numpy {np.__version__}",
                     f"inclusive prefix sum: np.cumsum per slice, then the carries added (np.add), {n} fp64, "
                     f"{threads} slices", call, check, roof="scalar_add")  # a dependent chain of scalar adds
