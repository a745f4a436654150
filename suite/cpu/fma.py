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
from ..kernels.cpu_llvm import ADDS_PER_BLOCK, CLOCK_SUPPORTED, chain_latency
from ..measure import Work, measure_kernel
from ..stats import KernelResult, Timeline
from ..validation import check_close
from .clock import (
    CLOCK_PROBE_BLOCKS,
    FMA_BLOCK_SECONDS,
    ROUND_SECONDS,
    ChainTicks,
    ClockResult,
    ProbedRun,
    calibrate_timestamp_hz,
    median_clock_mhz,
    new_ticks,
    probe_problem,
)
from .family import CpuContext, FamilyRun, pool_runner

CALL_SECONDS = {True: 0.02, False: 0.05}  # quick, full
MUL_BLOCKS = CLOCK_PROBE_BLOCKS // chain_latency("mul")  # the multiply chain lasts about as long as the add chain


def fma_shape(context: CpuContext, kernel: Kernel) -> tuple[int, int]:
    """(lanes, chains): the full-rate vector width in elements, and the catalog's chains for this ISA."""
    chains = kernel.launch["chains"]
    return context.core.simd_bits // (8 * kernel.element_bytes), chains.get(context.cpu.arch, chains["default"])


def fma_arguments(kernel: Kernel) -> tuple:
    """(a, b, x0) of the recurrence x = a * x + b, in the kernel's precision."""
    dtype = cpu_fma.dtype_of(kernel.precision)
    return dtype(cpu_fma.FMA_A), dtype(cpu_fma.FMA_B), dtype(1.0)


def fma_tolerance(kernel: Kernel) -> float:
    """Relative tolerance of the checksum: a few ulps of the sum of all lanes."""
    return 1e-4 if kernel.element_bytes == 4 else 1e-9


def calibrate_iterations(context: CpuContext, kernel_fn, args: tuple, target_seconds: float) -> int:
    """Iterations per call so that one call takes about ``target_seconds`` (JIT compile included in the
    first, discarded, call)."""
    probe = 100_000
    context.pool.run([partial(kernel_fn, probe, *args) for _ in context.cpus])
    seconds, _ = context.pool.run([partial(kernel_fn, probe, *args) for _ in context.cpus])
    return max(probe, int(probe * target_seconds / max(seconds, 1e-6)))


def measure_fma(context: CpuContext, kernel: Kernel) -> KernelResult:
    lanes, chains = fma_shape(context, kernel)
    kernel_fn = cpu_fma.fma_kernel(kernel.precision, lanes, chains)
    args = fma_arguments(kernel)
    n_iter = calibrate_iterations(context, kernel_fn, args, CALL_SECONDS[context.options.quick])
    tasks = [partial(kernel_fn, n_iter, *args) for _ in context.cpus]
    last: list[float] = []

    run = pool_runner(context, tasks, last)

    def validate() -> None:
        check_close(kernel.name, last, cpu_fma.expected_checksum(n_iter, 1.0, lanes, chains), fma_tolerance(kernel))

    flops = cpu_fma.flops_per_iteration(lanes, chains) * n_iter * len(context.cpus)
    details = {"simd_bits": lanes * 8 * kernel.element_bytes, "lanes": lanes, "chains": chains,
               "iterations_per_thread": n_iter,
               "flop_counting": f"2 FLOP per FMA x {lanes} lanes x {chains} chains x iterations x threads"}
    return measure_kernel(kernel, run, validate, Work(0, flops=flops), context.policy, details).result


def sustain_fma(context: CpuContext, kernel: Kernel) -> Timeline:
    """The FMA kernel with the clock probe, on every selected core, for ``sustain_seconds``; each interval
    gives one throughput sample (validated) and the clock under that load."""
    options = context.options
    run = fma_with_clock_probe(context, kernel, calibrate_timestamp_hz())
    rounds = max(1, int(options.sustain_interval / ROUND_SECONDS))
    timeline = Timeline(kernel.name, "GFLOP/s")
    start = time.perf_counter()
    while (now := time.perf_counter()) - start < options.sustain_seconds:
        probed = run(rounds)
        # The rate over the FMA blocks alone: the probes' time (about 5%) is subtracted, so the sustained
        # figure is comparable with compute.<precision>.measured_gflops.
        clock = None if probe_problem("", probed.clock_mhz, probed.mul_clock_mhz, context.cpu.nominal_mhz) else \
            probed.clock_mhz
        timeline.add(now - start, probed.flops / (probed.seconds - probed.probe_seconds) / 1e9, clock)
        rounds = max(1, round(rounds * options.sustain_interval / probed.seconds))  # keep to the interval
    return timeline


# The clock under FMA load ------------------------------------------------------------------------------


def fma_with_clock_probe(context: CpuContext, kernel: Kernel, tsc_hz: float) -> Callable[[int], ProbedRun]:
    """``run(rounds)``: on every selected core, ``rounds`` x (an FMA block of ~200 us, then the ~10 us add
    chain and the ~10 us multiply chain, each timed by the TSC). Every call's checksums are validated."""
    lanes, chains = fma_shape(context, kernel)
    probed = cpu_fma.fma_clock_kernel(kernel.precision, lanes, chains)
    args = fma_arguments(kernel)
    iterations = calibrate_iterations(context, cpu_fma.fma_kernel(kernel.precision, lanes, chains), args,
                                      FMA_BLOCK_SECONDS)
    block_checksum = cpu_fma.expected_checksum(iterations, 1.0, lanes, chains)
    block_flops = cpu_fma.flops_per_iteration(lanes, chains) * iterations * len(context.cpus)
    # Compile (numba JIT) outside any timed call: the first call's wall time would include the compiler.
    context.pool.run([partial(probed, 1, 1, 1, *args, *new_ticks(1)) for _ in context.cpus])

    def run(rounds: int) -> ProbedRun:
        buffers = [new_ticks(rounds) for _ in context.cpus]
        seconds, replies = context.pool.run([partial(probed, iterations, CLOCK_PROBE_BLOCKS, MUL_BLOCKS, *args,
                                                     add_ticks, mul_ticks) for add_ticks, mul_ticks in buffers])
        check_close(f"{kernel.name} with clock probe", [r[0] for r in replies], rounds * block_checksum,
                    fma_tolerance(kernel))
        add_mhz, mul_mhz = chain_clocks([r[1:] for r in replies], buffers, tsc_hz)
        probe_seconds = float(np.mean([add.sum() + mul.sum() for add, mul in buffers])) / tsc_hz
        return ProbedRun(seconds, add_mhz, probe_seconds, rounds * block_flops, mul_mhz)

    return run


def chain_clocks(steps_done: Sequence[Sequence[int]], buffers: Sequence[tuple[np.ndarray, np.ndarray]],
                 tsc_hz: float) -> tuple[float, float]:
    """(add-chain MHz, multiply-chain MHz) from each thread's (adds, muls) and per-round tick buffers."""
    pairs = list(zip(steps_done, buffers))
    add = [ChainTicks(CLOCK_PROBE_BLOCKS * ADDS_PER_BLOCK, done[0], ticks[0]) for done, ticks in pairs]
    mul = [ChainTicks(MUL_BLOCKS * ADDS_PER_BLOCK, done[1], ticks[1]) for done, ticks in pairs]
    return median_clock_mhz(add, tsc_hz), median_clock_mhz(mul, tsc_hz, chain_latency("mul"))


def measure_clock(context: CpuContext, kernels: Sequence[Kernel]) -> ClockResult:
    """Both chains alone (the highest clock the selected cores reach), then under each FMA kernel; the
    probe fails (``ClockResult.failure``) when the chains disagree or give an impossible clock."""
    tsc_hz = calibrate_timestamp_hz()
    blocks = CLOCK_PROBE_BLOCKS
    duration = 0.25 if context.options.quick else 1.0
    cpu_fma.scalar_clock_kernel(1, 1, *new_ticks(1))  # compile outside the measurement
    # Sized for about half of ``duration`` at up to 3 GHz (one add per cycle); slower clocks take longer.
    rounds = max(1, int(duration * 3e9 / (2 * blocks * ADDS_PER_BLOCK) / 2))
    buffers = [new_ticks(rounds) for _ in context.cpus]
    _, counts = context.pool.run([partial(cpu_fma.scalar_clock_kernel, blocks, MUL_BLOCKS, add_ticks, mul_ticks)
                                  for add_ticks, mul_ticks in buffers])
    scalar, mul_scalar = chain_clocks(counts, buffers, tsc_hz)
    cross = {"scalar": mul_scalar}
    nominal = context.cpu.nominal_mhz
    problems = [probe_problem("alone", scalar, cross["scalar"], nominal)]
    rounds = max(1, int(duration / ROUND_SECONDS))
    under_load, rates = {}, {}
    for kernel in kernels:
        probed = fma_with_clock_probe(context, kernel, tsc_hz)(rounds)
        under_load[kernel.precision], cross[kernel.precision] = probed.clock_mhz, probed.mul_clock_mhz
        rates[kernel.precision] = probed.flops / (probed.seconds - probed.probe_seconds) / 1e9
        problems.append(probe_problem(f"under {kernel.name}", probed.clock_mhz, probed.mul_clock_mhz, nominal))
    failure = next((problem for problem in problems if problem), None)
    return ClockResult(
        method=f"dependent chain of 1-cycle register-register integer adds ({blocks * ADDS_PER_BLOCK} per probe), "
               f"cross-checked by a chain of {chain_latency('mul')}-cycle multiplies "
               f"({MUL_BLOCKS * ADDS_PER_BLOCK} per probe), timed with the invariant time-stamp counter, "
               "interleaved with the FMA kernel on every selected core",
        tsc_mhz=tsc_hz / 1e6, scalar_mhz=scalar, under_load_mhz=under_load, cross_check_mhz=cross, failure=failure,
        under_load_gflops=rates)


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps of ``run_family``: one per kernel, the clock, and the sustained run."""
    probe = 1 if CLOCK_SUPPORTED else 0
    return len(kernels) + probe + (probe if context.options.sustain_seconds else 0)


def run_family(context: CpuContext, kernels: Sequence[Kernel]) -> FamilyRun:
    results = []
    for kernel in kernels:
        context.step(kernel.name)
        results.append(measure_fma(context, kernel))
    if not CLOCK_SUPPORTED:
        context.warnings.append(f"clock not measured: no add-chain probe for {context.cpu.arch}")
        return FamilyRun(results)
    context.step("clock")
    clock = measure_clock(context, kernels)
    if clock.failure:
        context.warnings.append(f"clock probe failed ({clock.failure}): no clock, FLOP per cycle or theory at "
                                "the measured clock is reported; the FMA ceilings themselves stand")
    trusted = clock.trusted_under_load
    rates = clock.under_load_gflops or {}
    results = [dataclasses.replace(r, clocks_mhz={"core": trusted[r.precision]}, paired_gflops=rates.get(r.precision))
               if r.precision in trusted else r for r in results]
    timelines = []
    if context.options.sustain_seconds:
        context.step(f"sustained {kernels[0].name} ({context.options.sustain_seconds:g} s)")
        timelines.append(sustain_fma(context, kernels[0]))
    return FamilyRun(results, timelines, clock=clock)


__all__ = ["fma_shape", "measure_fma", "planned_steps", "run_family"]
