"""The STREAM family on the CPU: copy, scale, add, triad, dot and the non-temporal variants (kernels/cpu_stream.py).

Set-up (STREAM's rules): three float64 arrays of at least 4x the last-level cache each, capped by available
memory; every pinned worker first-touches its own slice (prefault and NUMA placement) before any timing,
and runs its slice of each kernel; a sample lasts from the earliest start to the latest end (workers.py).
The output check is STREAM's scalar replay (BabelStream's check_solution) on every element written.

Timing (STREAM's own loop): the kernels are timed in ``PASSES`` interleaved passes, each pass a share of every
kernel's repetitions in catalog order, rather than each kernel in one block. STREAM's main loop runs copy, scale,
add and triad once per iteration for the same reason: the machine's state (a shared host's other guests' memory
traffic, which on the 2-vCPU Zen 5 KVM guest moved DRAM bandwidth between about 35 and 65 GB/s from one second to
the next) then falls on every kernel alike, so the kernels' ceilings, and the roofs ``validate`` picks among them by
read/write mix, are comparable. Each pass starts from the initial values (the arrays refilled, untimed), and each
kernel's calls are checked against the replay of what the same pass's earlier kernels left (no kernel reads the
array it writes, so its calls within a pass give one result). A kernel's samples are kept in time order, and
``details.samples_per_pass`` says where each pass starts: a host whose DRAM state moved during the run shows as
passes whose medians disagree.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

import numpy as np

from .. import check
from ..catalog import Kernel
from ..check import STREAM_INITIAL, STREAM_SCALAR
from ..kernels import cpu_stream
from ..kernels.cpu_stream import chunks
from ..stats import KernelResult, Timeline
from ..timing import Timing, Work, joined, pass_policy, time_kernel, timed_result
from .family import CpuContext, CpuFamily, CpuFamilyResult, pool_runner
from .machine import CpuInfo
from .workers import PinnedPool

MIN_ARRAY_BYTES = 64 * 2**20
# Interleaved passes over the kernels (STREAM runs NTIMES = 10 iterations of its four kernels); each pass takes a
# fifth of every kernel's repetitions (rounded up), so the sample count is about unchanged.
PASSES = 5
LLC_MULTIPLE = 4  # STREAM rule: each array at least 4x the total last-level cache
MEMORY_FRACTION = 0.6  # the three arrays may take at most this share of available memory


def array_elements(cpu: CpuInfo, threads: int, array_bytes: int | None) -> tuple[int, list[str]]:
    """Elements per STREAM array: at least 4x the last-level cache, capped by available memory, and a
    multiple of 8 x threads so every thread's slice starts on a 64-byte boundary."""
    warnings = []
    llc = cpu.l3_total_bytes or (cpu.caches.get("l2") or 0) * cpu.physical_cores
    wanted = array_bytes or max(LLC_MULTIPLE * llc, MIN_ARRAY_BYTES)
    cap = int(cpu.available_memory_bytes * MEMORY_FRACTION / 3)
    if wanted > cap:
        warnings.append(f"STREAM arrays capped at {cap / 2**20:.0f} MiB each by available memory; "
                        f"{wanted / 2**20:.0f} MiB wanted: free memory for a DRAM-bound measurement")
        wanted = cap
    if llc and wanted < LLC_MULTIPLE * llc:
        warnings.append(f"STREAM arrays of {wanted / 2**20:.1f} MiB are under 4x the last-level cache "
                        f"({llc / 2**20:.0f} MiB): bandwidth kernels may measure the cache, not DRAM")
    granule = 8 * threads
    return max(granule, wanted // 8 // granule * granule), warnings


def allocate_arrays(pool: PinnedPool, n: int) -> dict[str, np.ndarray]:
    """The three STREAM arrays, 64-byte aligned, each worker first-touching (filling) its own slice."""
    arrays = {name: cpu_stream.aligned_empty(n) for name in STREAM_INITIAL}
    fill_arrays(pool, arrays)
    return arrays


def fill_arrays(pool: PinnedPool, arrays: dict[str, np.ndarray]) -> None:
    """Every array to its STREAM initial value, each worker writing its own slice."""
    bounds = chunks(arrays["a"].size, len(pool.cpus))
    for name, value in STREAM_INITIAL.items():
        pool.run([partial(cpu_stream.fill, arrays[name], value, lo, hi) for lo, hi in bounds])


def stream_tasks(kernel: Kernel, arrays: dict[str, np.ndarray], workers: int, simd_bits: int) -> list[partial]:
    """One task per worker, each running ``kernel`` on its slice of the arrays."""
    if kernel.nontemporal:
        kernel_fn = cpu_stream.nontemporal_kernel(kernel.form, simd_bits // (8 * kernel.element_bytes))
    else:
        kernel_fn = cpu_stream.TEMPORAL_KERNELS[kernel.form]
    a, b, c = arrays["a"], arrays["b"], arrays["c"]
    return [partial(kernel_fn, a, b, c, STREAM_SCALAR, lo, hi) for lo, hi in chunks(a.size, workers)]


def check_stream(form: str, arrays: dict[str, np.ndarray], state: dict[str, float], dot_sum: float,
                 n: int) -> None:
    """``hwbench.check.check_stream`` with the compiled deviation of ``kernels/cpu_stream.py``."""
    check.check_stream(form, arrays, state, dot_sum, n, cpu_stream.max_deviation)


def measure_bandwidth(context: CpuContext, kernels: Sequence[Kernel], arrays: dict[str, np.ndarray],
                      passes: int = PASSES) -> list[KernelResult]:
    """Every kernel of ``kernels``, timed in ``passes`` interleaved passes (module docstring) and checked after each
    of its passes; one result per kernel with every sample of every pass. Each pass starts from the initial values
    (the arrays refilled, untimed), so the replayed values stay small exact numbers."""
    n = arrays["a"].size
    runs, lasts = [], []
    for kernel in kernels:
        last: list[float] = []
        runs.append(pool_runner(context, stream_tasks(kernel, arrays, len(context.cpus), context.core.simd_bits),
                                last))
        lasts.append(last)
    timings: list[list[Timing]] = [[] for _ in kernels]
    for index in range(passes):
        share = pass_policy(context.policy, passes, first=index == 0)
        if index:
            fill_arrays(context.pool, arrays)
        state = dict(STREAM_INITIAL)
        for kernel, run, last, timed in zip(kernels, runs, lasts, timings):
            context.step(f"{kernel.name} (pass {index + 1} of {passes})" if passes > 1 else kernel.name)
            timed.append(time_kernel(run, share))
            check_stream(kernel.form, arrays, state, sum(last), n)
    results = []
    for kernel, timed in zip(kernels, timings):
        details = {"elements": n, "nontemporal": kernel.nontemporal, "bytes_per_element_stream": kernel.bytes_stream,
                   "bytes_per_element_traffic": kernel.bytes_traffic, "traffic_model": kernel.traffic_model(),
                   "passes": passes, "samples_per_pass": [len(timing.samples) for timing in timed]}
        results.append(timed_result(kernel, joined(timed), Work.of_stream(kernel, n), details).result)
    return results


def sustain(context: CpuContext, kernel: Kernel, seconds: float, interval: float) -> Timeline:
    """``kernel`` (triad) kept busy for ``seconds`` on fresh arrays of the run's size (first-touched by the workers);
    one sample per ``interval``.

    Repeating a STREAM kernel leaves its arrays as one run does (no kernel reads the array it writes),
    so one scalar replay checks the whole sustained run."""
    n, _ = array_elements(context.cpu, len(context.cpus), context.options.array_bytes)  # warned by run()
    arrays = allocate_arrays(context.pool, n)
    tasks = stream_tasks(kernel, arrays, len(context.cpus), context.core.simd_bits)
    timeline = Timeline(kernel.name, "GB/s")
    last: list[float] = []
    start = time.perf_counter()
    while (now := time.perf_counter()) - start < seconds:
        busy, repetitions = 0.0, 0
        while time.perf_counter() - now < interval:
            elapsed, last = context.pool.run(tasks)
            busy += elapsed
            repetitions += 1
        timeline.add(now - start, kernel.bytes_stream * n * repetitions / busy / 1e9)
    check_stream(kernel.form, arrays, dict(STREAM_INITIAL), sum(last), n)
    return timeline


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps of ``run``: allocation and one per kernel and pass."""
    return 1 + PASSES * len(kernels)


def run(context: CpuContext, kernels: Sequence[Kernel]) -> CpuFamilyResult:
    """Every selected STREAM kernel, in catalog order, on one set of arrays first-touched by the workers."""
    context.step("allocate and first-touch arrays")
    n, warnings = array_elements(context.cpu, len(context.cpus), context.options.array_bytes)
    context.warnings.extend(warnings)
    arrays = allocate_arrays(context.pool, n)
    results = measure_bandwidth(context, kernels, arrays)
    return CpuFamilyResult(tuple(results), array_bytes=n * arrays["a"].itemsize)


FAMILY = CpuFamily("cpu", "stream", run, planned_steps, sustained_kernel="triad", sustain=sustain)
