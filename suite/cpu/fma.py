"""The FMA-peak family on the CPU: independent vector FMA chains on every pinned core (kernels/cpu_fma.py).

Shape: the full-rate vector width of the core (``CoreModel.simd_bits``) and the catalog's chain count for
the architecture; each call runs a calibrated number of iterations (about 50 ms, 20 ms with --quick) so the
call, not the pool's start-up, dominates a sample. Every call's checksum is checked against its closed form.
After the kernels, the clock probe (``clock.py``) measures the clock under each kernel's load, and each
result carries it as ``clocks_mhz["core"]``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np


from ..catalog import Kernel
from ..kernels import cpu_fma
from ..kernels.cpu_llvm import ADDS_PER_BLOCK, CLOCK_SUPPORTED
from ..measure import Sample, Work, measure_kernel
from ..stats import KernelResult, Timeline
from ..validation import check_close
from .clock import (
    CLOCK_PROBE_BLOCKS,
    FMA_BLOCK_SECONDS,
    ROUND_SECONDS,
    ClockResult,
    ProbedRun,
    calibrate_timestamp_hz,
    median_clock_mhz,
)
from .family import CpuContext, FamilyRun

CALL_SECONDS = {True: 0.02, False: 0.05}  # quick, full


def fma_shape(session: CpuContext, kernel: Kernel) -> tuple[int, int]:
    """(lanes, chains): the full-rate vector width in elements, and the catalog's chains for this ISA."""
    return session.core.simd_bits // (8 * kernel.element_bytes), kernel.launch["chains"].get(session.cpu.arch, kernel.launch["chains"]["default"])


def fma_arguments(kernel: Kernel) -> tuple:
    """(a, b, x0) of the recurrence x = a * x + b, in the kernel's precision."""
    dtype = cpu_fma.dtype_of(kernel.precision)
    return dtype(cpu_fma.FMA_A), dtype(cpu_fma.FMA_B), dtype(1.0)


def fma_tolerance(kernel: Kernel) -> float:
    """Relative tolerance of the checksum: a few ulps of the sum of all lanes."""
    return 1e-4 if kernel.element_bytes == 4 else 1e-9


def calibrate_iterations(session: CpuContext, kernel_fn, args: tuple, target_seconds: float) -> int:
    """Iterations per call so that one call takes about ``target_seconds`` (JIT compile included in the
    first, discarded, call)."""
    probe = 100_000
    session.pool.run([partial(kernel_fn, probe, *args) for _ in session.cpus])
    seconds, _ = session.pool.run([partial(kernel_fn, probe, *args) for _ in session.cpus])
    return max(probe, int(probe * target_seconds / max(seconds, 1e-6)))


def measure_fma(session: CpuContext, kernel: Kernel) -> KernelResult:
    lanes, chains = fma_shape(session, kernel)
    kernel_fn = cpu_fma.fma_kernel(kernel.precision, lanes, chains)
    args = fma_arguments(kernel)
    n_iter = calibrate_iterations(session, kernel_fn, args, CALL_SECONDS[session.options.quick])
    tasks = [partial(kernel_fn, n_iter, *args) for _ in session.cpus]
    last: list[float] = []

    def run(calls: int) -> Sample:
        seconds = 0.0
        for _ in range(calls):
            elapsed, sums = session.pool.run(tasks)
            seconds += elapsed
            last[:] = sums
        return Sample(seconds)

    def validate() -> None:
        check_close(kernel.name, last, cpu_fma.expected_checksum(n_iter, 1.0, lanes, chains), fma_tolerance(kernel))

    flops = cpu_fma.flops_per_iteration(lanes, chains) * n_iter * len(session.cpus)
    details = {"simd_bits": lanes * 8 * kernel.element_bytes, "lanes": lanes, "chains": chains,
               "iterations_per_thread": n_iter,
               "flop_counting": f"2 FLOP per FMA x {lanes} lanes x {chains} chains x iterations x threads"}
    return measure_kernel(kernel, run, validate, Work(0, flops=flops), session.policy, details).result


def sustain_fma(session: CpuContext, kernel: Kernel) -> Timeline:
    """The FMA kernel with the clock probe, on every selected core, for ``sustain_seconds``; each interval
    gives one throughput sample (validated) and the clock under that load."""
    options = session.options
    run = fma_with_clock_probe(session, kernel, calibrate_timestamp_hz())
    rounds = max(1, int(options.sustain_interval / ROUND_SECONDS))
    timeline = Timeline(kernel.name, "GFLOP/s")
    start = time.perf_counter()
    while (now := time.perf_counter()) - start < options.sustain_seconds:
        probed = run(rounds)
        # The rate over the FMA blocks alone: the probes' time (about 5%) is subtracted, so the sustained
        # figure is comparable with compute.<precision>.measured_gflops.
        timeline.add(now - start, probed.flops / (probed.seconds - probed.probe_seconds) / 1e9, probed.clock_mhz)
        rounds = max(1, round(rounds * options.sustain_interval / probed.seconds))  # keep to the interval
    return timeline


# The clock under FMA load ------------------------------------------------------------------------------


def fma_with_clock_probe(session: CpuContext, kernel: Kernel, tsc_hz: float) -> Callable[[int], ProbedRun]:
    """``run(rounds)``: on every selected core, ``rounds`` x (an FMA block of ~200 us, then a ~10 us
    dependent add chain timed by the TSC). Every call's checksums are validated."""
    lanes, chains = fma_shape(session, kernel)
    probed = cpu_fma.fma_clock_kernel(kernel.precision, lanes, chains)
    args = fma_arguments(kernel)
    iterations = calibrate_iterations(session, cpu_fma.fma_kernel(kernel.precision, lanes, chains), args,
                                      FMA_BLOCK_SECONDS)
    block_checksum = cpu_fma.expected_checksum(iterations, 1.0, lanes, chains)
    block_flops = cpu_fma.flops_per_iteration(lanes, chains) * iterations * len(session.cpus)

    def run(rounds: int) -> ProbedRun:
        seconds, replies = session.pool.run([partial(probed, rounds, iterations, CLOCK_PROBE_BLOCKS, *args)
                                             for _ in session.cpus])
        check_close(f"{kernel.name} with clock probe", [r[0] for r in replies], rounds * block_checksum,
                    fma_tolerance(kernel))
        clock = median_clock_mhz([r[1:] for r in replies], tsc_hz, rounds * CLOCK_PROBE_BLOCKS * ADDS_PER_BLOCK)
        probe_seconds = float(np.mean([r[2] for r in replies])) / tsc_hz
        return ProbedRun(seconds, clock, probe_seconds, rounds * block_flops)

    return run


def measure_clock(session: CpuContext, kernels: Sequence[Kernel]) -> ClockResult:
    """The add chain alone (the highest clock the selected cores reach), then under each FMA kernel."""
    tsc_hz = calibrate_timestamp_hz()
    blocks = CLOCK_PROBE_BLOCKS
    duration = 0.25 if session.options.quick else 1.0
    cpu_fma.scalar_clock_kernel(1, 1)  # compile outside the measurement
    # Sized for about half of ``duration`` at up to 3 GHz (one add per cycle); slower clocks take longer.
    outer = max(1, int(duration * 3e9 / (blocks * ADDS_PER_BLOCK) / 2))
    _, counts = session.pool.run([partial(cpu_fma.scalar_clock_kernel, outer, blocks) for _ in session.cpus])
    scalar = median_clock_mhz(counts, tsc_hz, outer * blocks * ADDS_PER_BLOCK)
    rounds = max(1, int(duration / ROUND_SECONDS))
    under_load = {kernel.precision: fma_with_clock_probe(session, kernel, tsc_hz)(rounds).clock_mhz
                  for kernel in kernels}
    return ClockResult(
        method=f"dependent chain of 1-cycle integer adds ({blocks * ADDS_PER_BLOCK} per probe) timed with "
               "the invariant time-stamp counter, interleaved with the FMA kernel on every selected core",
        tsc_mhz=tsc_hz / 1e6, scalar_mhz=scalar, under_load_mhz=under_load)


def planned_steps(session: CpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps of ``run_family``: one per kernel, the clock, and the sustained run."""
    probe = 1 if CLOCK_SUPPORTED else 0
    return len(kernels) + probe + (probe if session.options.sustain_seconds else 0)


def run_family(session: CpuContext, kernels: Sequence[Kernel]) -> FamilyRun:
    results = []
    for kernel in kernels:
        session.step(kernel.name)
        results.append(measure_fma(session, kernel))
    if not CLOCK_SUPPORTED:
        session.warnings.append(f"clock not measured: no add-chain probe for {session.cpu.arch}")
        return FamilyRun(results)
    session.step("clock")
    clock = measure_clock(session, kernels)
    results = [dataclasses.replace(r, clocks_mhz={"core": clock.under_load_mhz[r.precision]}) for r in results]
    timelines = []
    if session.options.sustain_seconds:
        session.step(f"sustained {kernels[0].name} ({session.options.sustain_seconds:g} s)")
        timelines.append(sustain_fma(session, kernels[0]))
    return FamilyRun(results, timelines, clock=clock)


__all__ = ["fma_shape", "measure_fma", "planned_steps", "run_family"]
