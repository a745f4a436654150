"""The cache sweep on the CPU: read, copy and triad over working sets from 4 KiB to 4x the last-level cache
(kernels/cpu_cache.py), on one core and on every selected core.

Set-up: every pinned worker allocates one private buffer for its largest working set and first-touches it
(prefault, NUMA placement) before any timing. A point of the sweep is one kernel over one working set per
core, laid out as the kernel's arrays back to back in that buffer (``PAD_BYTES`` apart, so that no two arrays
alias on 4 KiB boundaries). Before each point every active worker refills its arrays (the kernel's inputs,
and the data is then warm in the caches it fits in); ``passes`` is chosen so that one call takes about
``CALL_SECONDS``, and the call is timed through ``timing.time_kernel`` with ``POLICY``.

Modes: one thread (the first selected CPU; the other workers run a no-op) and all selected CPUs (every worker
its own working set of the same size). A call's time is the slowest active thread's own time around its kernel
call, not the pool's window: on a small or shared machine the workers wake from the pool's barrier up to a
millisecond apart, which the window would count (measured on the 2-vCPU CI machine: 180 instead of 400 GB/s
from the L1s). Rates are counted the STREAM way: bytes the kernel loads and stores x elements x passes x
threads. Every point is validated (the sum against passes x n x value; every element copy or triad wrote), or
the run fails. Each call also records the share of its time the thread was on its CPU (thread CPU time over
wall time): a point whose samples ran with a thread descheduled (other work on the core) is sampled again, at
most ``RECHECKS`` times, and every sample is kept; its median, and so the level's noise (profile/levels.py),
shows how much the other work moved it. On the 2-vCPU CI machine shared with other jobs, the L1 ceiling of
back-to-back runs moved 1,315 -> 1,076 GB/s with a plateau noise of 3%.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from functools import partial

import numpy as np

from ..catalog import Kernel
from ..check import STREAM_SCALAR, check_close
from ..errors import MeasurementError
from ..kernel_spec import SweepLaunch
from ..kernels import cpu_cache, cpu_stream
from ..kernels.cpu_llvm import CLOCK_SUPPORTED
from ..record import CacheSweep, SweepCurve
from ..stats import CONTENDED_ON_CPU, RepetitionPolicy, ceiling_rank, summarize
from ..timing import Sample, time_kernel
from .family import CpuContext, CpuFamily, CpuFamilyResult
from .machine import CpuInfo
from .theory import CoreModel, cache_widths

CALL_SECONDS = 0.0015  # one timed call: long against the pool's barrier skew, short enough for ~100 points
POLICY = RepetitionPolicy(warmups=1, min_repetitions=5, min_seconds=0.01, max_repetitions=50)
RECHECKS = 3  # a point whose samples mostly ran with a thread off its CPU is sampled again, at most this often
PAD_BYTES = 320  # between a kernel's arrays (five cache lines, so no 4 KiB aliasing of src[i] and dst[i])
BUFFER_ALIGN = 2 * 2**20  # a huge page (x86-64, AArch64 with 4 KiB pages): small working sets sit in one page
MEMORY_FRACTION = 0.4  # the buffers may take at most this share of available memory
SCALAR = STREAM_SCALAR  # the triad's scalar, as in STREAM
# Initial values per form, per array (a, b, c), and what validation expects afterwards.
INITIAL = {"read": (2.0, 0.0, 0.0), "copy": (1.5, 0.0, 0.0), "triad": (0.0, 1.0, 2.0)}
ARRAYS = {"read": 1, "copy": 2, "triad": 3}


def top_working_set(cpu: CpuInfo, llc_multiple: int) -> int:
    """The largest working set of the sweep over all threads: ``llc_multiple`` x the last-level cache (L3,
    or L2 x cores without one), capped by available memory."""
    llc = cpu.l3_total_bytes or (cpu.caches.get("l2") or 0) * cpu.physical_cores
    return min(llc_multiple * llc, int(cpu.available_memory_bytes * MEMORY_FRACTION)) or 64 * 2**20


def sweep_sizes(smallest: int, top: int, threads: int) -> list[int]:
    """Working sets per thread: ``smallest``, doubling, until the total over ``threads`` reaches ``top``."""
    sizes = [smallest]
    while sizes[-1] * threads < top:
        sizes.append(sizes[-1] * 2)
    return sizes


def layout(form: str, per_core_bytes: int, granule: int) -> tuple[int, int]:
    """(elements per array, elements from one array's start to the next) of ``form`` at that working set."""
    n = max(granule, per_core_bytes // 8 // ARRAYS[form] // granule * granule)
    return n, n + PAD_BYTES // 8


def arrays_of(buffer: np.ndarray, form: str, n: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's arguments (a, b, c): its arrays in ``buffer``; unused ones repeat the first."""
    views = [buffer[j * stride:j * stride + n] for j in range(ARRAYS[form])]
    a, b, c = (views[j] if j < len(views) else views[0] for j in range(3))
    return a, b, c


def prepare(form: str, arrays: tuple[np.ndarray, ...]) -> None:
    """Set the kernel's inputs and outputs to their initial values (on the worker that owns them)."""
    for array, value in zip(arrays[:ARRAYS[form]], INITIAL[form]):
        cpu_cache.fill(array, value)


def check(form: str, arrays: Sequence[tuple[np.ndarray, ...]], sums: Sequence[float], passes: int) -> None:
    """Raise MeasurementError unless every active worker's result is exact: the read's sum equals passes x n x
    value; every element copy or triad wrote holds the replayed value."""
    a0, b0, c0 = INITIAL[form]
    for (a, b, _c), total in zip(arrays, sums):
        if form == "read":
            check_close(f"cache_read over {a.size * 8} bytes", [total], passes * a.size * a0, 1e-12)
            continue
        target, expected = (b, a0) if form == "copy" else (a, b0 + SCALAR * c0)
        deviation = cpu_stream.max_deviation(target, expected)
        if not deviation <= 1e-12 * abs(expected):
            raise MeasurementError(f"cache_{form} output check failed over {target.size * 8 * ARRAYS[form]} bytes: "
                                   f"deviation {deviation:g} from {expected}; no figure is reported")


def _idle() -> tuple[float, float, float]:
    return 0.0, 0.0, 1.0


def timed_call(kernel_fn, a: np.ndarray, b: np.ndarray, c: np.ndarray, passes: int) -> tuple[float, float, float]:
    """(the kernel's result, its own seconds, the share of them the thread was on its CPU), timed on the worker
    around the call alone."""
    start, cpu = time.perf_counter(), time.thread_time()
    result = kernel_fn(a, b, c, SCALAR, passes)
    seconds = time.perf_counter() - start
    return result, seconds, min(1.0, (time.thread_time() - cpu) / seconds) if seconds > 0 else 1.0


def measure_point(context: CpuContext, kernel_fn, form: str, buffers: list[np.ndarray], active: int,
                  per_core_bytes: int, granule: int) -> tuple[int, list[float], list[float]]:
    """One point: (working set over the active threads, every sample's GB/s, each sample's on-CPU share of its
    slowest thread), validated."""
    n, stride = layout(form, per_core_bytes, granule)
    workers = len(context.cpus)
    arrays = [arrays_of(buffers[i], form, n, stride) for i in range(active)]
    context.pool.run([partial(prepare, form, arrays[i]) if i < active else _idle for i in range(workers)])
    sums: list[float] = []
    shares: list[float] = []

    def run_passes(passes: int) -> float:
        tasks = [partial(timed_call, kernel_fn, *arrays[i], passes) if i < active else _idle for i in range(workers)]
        _, results = context.pool.run(tasks)
        sums[:] = [result for result, _, _ in results[:active]]
        shares.append(min(share for _, _, share in results[:active]))
        return max(seconds for _, seconds, _ in results[:active])  # the slowest active thread's own time

    passes = 1
    for _ in range(8):  # calibrate: about CALL_SECONDS a call (the faster of two, so one hiccup cannot stop it)
        call_seconds = min(run_passes(passes), run_passes(passes))
        if call_seconds >= CALL_SECONDS / 2:
            break
        passes = max(passes + 1, min(passes * 100, math.ceil(passes * CALL_SECONDS / max(call_seconds, 1e-7))))

    def run(calls: int) -> Sample:
        return Sample(sum(run_passes(passes) for _ in range(calls)))

    seconds: list[float] = []
    timed: list[float] = []
    for _ in range(1 + RECHECKS):  # measured again while fewer than K samples ran with every thread on its CPU
        shares.clear()
        timing = time_kernel(run, POLICY)
        seconds += timing.seconds
        timed += shares[-len(timing.seconds):]
        if sum(share >= CONTENDED_ON_CPU for share in timed) >= ceiling_rank(len(timed)):
            break
    check(form, arrays, sums, passes)
    summary = summarize(8 * ARRAYS[form] * n * passes * active, seconds)
    return ARRAYS[form] * n * 8 * active, list(summary.samples), timed


def point_of(working_set: int, rates: list[float], shares: list[float]) -> tuple[int, float, float, float]:
    """(working set, best GB/s, median GB/s, the on-CPU share of the best sample) of a point's samples."""
    fastest = max(range(len(rates)), key=rates.__getitem__)
    return working_set, rates[fastest], statistics.median(rates), shares[fastest]


def level_sizes(cpu: CpuInfo, threads: int, per_thread: list[int]) -> list[int]:
    """Indices of the working sets per thread that a cache level holds (up to the thread's L3 share)."""
    l3 = cpu.caches.get("l3") or cpu.caches.get("l2") or 0
    share = min(l3, (cpu.l3_total_bytes or l3) // max(threads, 1)) if l3 else 0
    return [i for i, size in enumerate(per_thread) if size <= share]


def huge_aligned_empty(n: int) -> np.ndarray:
    """``n`` float64 starting on a ``BUFFER_ALIGN`` boundary, untouched.

    Where transparent huge pages back the buffer, a working set at the start of a buffer that is only 64-byte
    aligned straddles a 4 KiB page and a huge page; measured on the CI machine (Zen 3 under KVM), that alone
    cut the L1 read from 205 to 90-160 GB/s at 8-32 KiB. Aligned, every small working set is in one page."""
    raw = np.empty(n * 8 + BUFFER_ALIGN, dtype=np.uint8)
    offset = (-raw.ctypes.data) % BUFFER_ALIGN
    return raw[offset:offset + n * 8].view(np.float64)


def allocate_buffers(context: CpuContext, elements: list[int]) -> list[np.ndarray]:
    """One private buffer per worker, first-touched by that worker."""
    buffers = [huge_aligned_empty(n) for n in elements]
    context.pool.run([partial(cpu_cache.fill, buffer, 0.0) for buffer in buffers])
    return buffers


def cache_theory(core: CoreModel, kernels: Sequence[Kernel]) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Theoretical bytes per cycle per core (STREAM convention) by level and kernel, and their sources."""
    widths = cache_widths(core)
    unknown = f"unknown: no cache widths for the {core.name} core in hwbench's table (hwbench/cpu/theory.py)"
    if widths is None:
        return {}, {"l1": unknown, "l2": unknown, "l3": "not modelled: L3 bandwidth depends on the fabric"}
    per_cycle = {"l1": {k.name: widths.l1_bytes_per_cycle(k.reads, k.writes) for k in kernels}}
    sources = {"l1": f"cores x nominal clock x L1D bytes per cycle per core (load and store ports x width, the "
                     f"kernel's loads and stores per element); {widths.source}",
               "l3": "not modelled: L3 bandwidth depends on the fabric and the number of active cores"}
    if widths.l2_fill:
        # The fill path carries every line read and every write-allocate read: STREAM bytes of read, copy and
        # triad per filled byte are 1, so l2_fill bounds each (write-backs of dirty lines not counted).
        per_cycle["l2"] = {k.name: float(widths.l2_fill) for k in kernels}
        sources["l2"] = f"cores x nominal clock x {widths.l2_fill} bytes per cycle per core from L2 into L1D; " \
                        f"{widths.source}"
    else:
        sources["l2"] = f"unknown: the L2 fill width of {core.name} is not in hwbench's table"
    return per_cycle, sources


def modes(context: CpuContext) -> list[int]:
    """Active threads of each sweep: one, then every selected CPU (when there is more than one)."""
    return [1] if len(context.cpus) == 1 else [1, len(context.cpus)]


def _probe_clock(context: CpuContext) -> bool:
    """Whether this family measures the clock: only when no FMA kernel (which measures it) is selected."""
    return CLOCK_SUPPORTED and not any(k.family == "fma" for k in context.options.kernels)


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps of ``run``: allocation, one per kernel and mode, the second pass over the cache
    levels, and the clock when probed."""
    return 2 + len(kernels) * len(modes(context)) + (1 if _probe_clock(context) else 0)


def run(context: CpuContext, kernels: Sequence[Kernel]) -> CpuFamilyResult:
    started = time.perf_counter()
    launch = kernels[0].launch_as(SweepLaunch)
    lanes = context.core.simd_bits // 64
    granule = cpu_cache.granule(lanes, launch.unroll)
    top = top_working_set(context.cpu, launch.llc_multiple)
    sizes = {threads: sweep_sizes(launch.smallest_bytes, top, threads) for threads in modes(context)}
    context.step("allocate and first-touch cache buffers")
    largest = {threads: max(s) // 8 + 3 * PAD_BYTES // 8 for threads, s in sizes.items()}
    elements = [max(n for threads, n in largest.items() if i < threads) for i in range(len(context.cpus))]
    buffers = allocate_buffers(context, elements)
    raw: dict[tuple[str, int], list[tuple[int, list[float], list[float]]]] = {}
    for threads, per_core in sizes.items():
        for kernel in kernels:
            context.step(f"{kernel.name}, {threads} thread{'s' if threads > 1 else ''}")
            kernel_fn = cpu_cache.cache_kernel(kernel.form, lanes, launch.unroll)
            kernel_fn(*arrays_of(buffers[0], kernel.form, granule, granule + PAD_BYTES // 8), SCALAR, 1)  # compile
            raw[kernel.name, threads] = [measure_point(context, kernel_fn, kernel.form, buffers, threads, size,
                                                       granule) for size in per_core]
    # The cache levels' points (all threads, up to the L3 share) once more, seconds after the first pass: on the
    # CI guest a whole curve sometimes ran at half its rate with the threads on their CPUs (the host's placement
    # of a vCPU), for the length of one kernel's sweep; a second pass lets the level's ceiling and its noise see
    # both states instead of one.
    widest = max(sizes)
    context.step("cache levels again, seconds later")
    for kernel in kernels:
        kernel_fn = cpu_cache.cache_kernel(kernel.form, lanes, launch.unroll)
        for i in level_sizes(context.cpu, widest, sizes[widest]):
            _, rates, shares = measure_point(context, kernel_fn, kernel.form, buffers, widest, sizes[widest][i],
                                             granule)
            raw[kernel.name, widest][i][1].extend(rates)
            raw[kernel.name, widest][i][2].extend(shares)
    curves = []
    for (name, threads), measured in raw.items():
        kernel = next(k for k in kernels if k.name == name)
        points = [point_of(*point) for point in measured]
        curves.append(SweepCurve(name, kernel.form, threads, tuple(p[:3] for p in points),
                                 kernel.bytes_traffic / kernel.bytes_stream, tuple(p[3] for p in points)))
    seconds = time.perf_counter() - started
    clock = None
    if _probe_clock(context):
        from .fma import measure_clock  # the scalar add-chain probe alone: cores run no vector load here

        context.step("clock")
        clock = measure_clock(context, [])
    per_cycle, sources = cache_theory(context.core, kernels)
    definition = {
        "sizes_per_thread_bytes": {str(threads): s for threads, s in sizes.items()},
        "threads": list(sizes), "top_bytes": top, "llc_multiple": launch.llc_multiple,
        "vector_bits": lanes * 64, "unroll": launch.unroll, "pad_bytes": PAD_BYTES,
        "call_seconds": CALL_SECONDS, "repetitions": POLICY.as_dict(), "seconds": round(seconds, 3),
        "counting": "STREAM convention: bytes the kernel loads and stores (read 8, copy 16, triad 24 per "
                    "element) x elements x passes x threads; the working set is every array of every thread",
        "method": "each thread first-touches a private buffer; before each point it refills the kernel's arrays; "
                  f"passes per call chosen for about {CALL_SECONDS * 1e3:g} ms; best and median over the samples",
    }
    return CpuFamilyResult(clock=clock, cache_sweep=CacheSweep(tuple(curves), definition, per_cycle, sources))


FAMILY = CpuFamily("cpu", "caches", run, planned_steps)


__all__ = ["FAMILY", "planned_steps", "run", "sweep_sizes", "check"]
