"""The FMA-peak family on the CPU: independent vector FMA chains on every pinned core (kernels/cpu_fma.py).

Shape: the full-rate vector width of the core (``CoreModel.simd_bits``) and the catalog's chain count for
the architecture; each call runs a calibrated number of iterations (about 50 ms, 20 ms with --quick) so the
call, not the pool's start-up, dominates a sample. Every call's checksum is checked against its closed form.
After the kernels, the clock probe (``clock.py``) measures the clock under each kernel's load, and each
result carries it as ``clocks_mhz["core"]``.

Consistency (``stability.py``): each call records the share of its wall time its slowest thread was on its
CPU (``contention.on_cpu``), and each batch of samples the other work, steal and quota time of its window. A
kernel whose probed run disagrees with its headline, or whose samples mostly ran with a thread off its CPU, is
measured again, interleaved with its probed run, at most ``RECHECK_ROUNDS`` times; every sample is kept, the
ceiling rule reads them all, and a disagreement that stays is recorded as ``unstable`` with no FLOP per cycle.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..catalog import Kernel
from ..check import check_close
from ..kernel_spec import CpuFmaLaunch, chains_on
from ..kernels import cpu_fma
from ..kernels.cpu_llvm import ADDS_PER_BLOCK, CLOCK_SUPPORTED, chain_latency
from ..stats import (
    CONTENDED_ON_CPU,
    KernelResult,
    RateSummary,
    Timeline,
    ceiling_rank,
    confirmed_best,
    top_spread,
)
from ..timing import Run, Sample, Work, time_and_check
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
from .contention import CpuLimit, cpu_limit, in_window, on_cpu
from .family import CpuContext, CpuFamily, CpuFamilyResult
from .stability import (
    RECHECK_ROUNDS,
    Evidence,
    ProbedRate,
    chosen_probe,
    likely_cause,
    spread,
    stability_record,
)

CALL_SECONDS = {True: 0.02, False: 0.05}  # quick, full
CALIBRATION_ITERATIONS = 500_000  # about 1 ms at 12 chains, 2 FMA per cycle, 3-4 GHz
CALIBRATION_CALLS = 3
PROBE_CALLS = 10  # a probed run is this many calls; the one at the confirmed-best rate stands for it
MUL_BLOCKS = CLOCK_PROBE_BLOCKS // chain_latency("mul")  # the multiply chain lasts about as long as the add chain


def fma_shape(context: CpuContext, kernel: Kernel) -> tuple[int, int]:
    """(lanes, chains): the full-rate vector width in elements, and the catalog's chains for this ISA."""
    chains = chains_on(kernel.launch_as(CpuFmaLaunch).chains, context.cpu.arch)
    return context.core.simd_bits // (8 * kernel.element_bytes), chains


def fma_arguments(kernel: Kernel) -> tuple:
    """(a, b, x0) of the recurrence x = a * x + b, in the kernel's precision."""
    dtype = cpu_fma.dtype_of(kernel.precision)
    return dtype(cpu_fma.FMA_A), dtype(cpu_fma.FMA_B), dtype(1.0)


def fma_tolerance(kernel: Kernel) -> float:
    """Relative tolerance of the checksum: a few ulps of the sum of all lanes."""
    return 1e-4 if kernel.element_bytes == 4 else 1e-9


def calibrate_iterations(context: CpuContext, kernel_fn, args: tuple, target_seconds: float) -> int:
    """Iterations per call so that one call takes about ``target_seconds`` (JIT compile included in the
    first, discarded, call).

    The probe call lasts about 1 ms and the fastest of ``CALIBRATION_CALLS`` is kept: the pool's window of a
    call includes the workers' wake-up skew (up to a millisecond on a small VM) and any moment another task
    held a core, either of which made a 0.1 ms probe read several times too long and the calls that short.
    (On the 2-vCPU CI machine, under other work, a 100,000-iteration probe gave 1-2 ms calls instead of 20 ms:
    149 samples of a --quick run, each as long as the skew it should dwarf.)"""
    probe = CALIBRATION_ITERATIONS
    context.pool.run([partial(kernel_fn, probe, *args) for _ in context.cpus])
    seconds = min(context.pool.run([partial(kernel_fn, probe, *args) for _ in context.cpus])[0]
                  for _ in range(CALIBRATION_CALLS))
    return max(1000, int(probe * target_seconds / max(seconds, 1e-6)))


@dataclass
class FmaSetup:
    """One FMA kernel ready to sample: its timed runner, validation and work, and the on-CPU share of every
    call (``contention.on_cpu``: the lowest over the threads)."""

    kernel: Kernel
    run: Run
    check: Callable[[], None]
    work: Work
    details: dict
    shares: list[float] = field(default_factory=list)


def prepare_fma(context: CpuContext, kernel: Kernel) -> FmaSetup:
    """Calibrate the kernel's calls and build its runner; every call's checksum is kept for validation."""
    lanes, chains = fma_shape(context, kernel)
    kernel_fn = cpu_fma.fma_kernel(kernel.precision, lanes, chains)
    args = fma_arguments(kernel)
    n_iter = calibrate_iterations(context, kernel_fn, args, CALL_SECONDS[context.options.quick])
    tasks = [on_cpu(partial(kernel_fn, n_iter, *args)) for _ in context.cpus]
    last: list[float] = []
    shares: list[float] = []

    def run(calls: int) -> Sample:
        seconds = 0.0
        for _ in range(calls):
            elapsed, replies = context.pool.run(tasks)
            seconds += elapsed
            last[:] = [value for value, _ in replies]
            shares.append(min(share for _, share in replies))
        return Sample(seconds)

    def check() -> None:
        check_close(kernel.name, last, cpu_fma.expected_checksum(n_iter, 1.0, lanes, chains), fma_tolerance(kernel))

    flops = cpu_fma.flops_per_iteration(lanes, chains) * n_iter * len(context.cpus)
    details = {"simd_bits": lanes * 8 * kernel.element_bytes, "lanes": lanes, "chains": chains,
               "iterations_per_thread": n_iter,
               "flop_counting": f"2 FLOP per FMA x {lanes} lanes x {chains} chains x iterations x threads"}
    return FmaSetup(kernel, run, check, Work(0, flops=flops), details, shares)


def sample_fma(context: CpuContext, setup: FmaSetup, limit: CpuLimit) -> tuple[KernelResult, Evidence]:
    """One batch of the kernel's samples (``context.policy``) and the evidence of what else ran meanwhile."""
    setup.shares.clear()
    measured, window = in_window(context.cpus, limit, lambda: time_and_check(
        setup.kernel, setup.run, setup.check, setup.work, context.policy, setup.details))
    timed = setup.shares[-measured.result.summary.repetitions:]
    return measured.result, Evidence(tuple(timed), window)


def sustain(context: CpuContext, kernel: Kernel, seconds: float, interval: float) -> Timeline:
    """The sustained FMA kernel with the clock probe, on every selected core, for ``seconds``; each
    ``interval`` gives one throughput sample (checked) and the clock under that load."""
    run = fma_with_clock_probe(context, kernel, calibrate_timestamp_hz())
    rounds = max(1, int(interval / ROUND_SECONDS))
    timeline = Timeline(kernel.name, "GFLOP/s")
    start = time.perf_counter()
    while (now := time.perf_counter()) - start < seconds:
        probed = run(rounds)
        # The rate over the FMA blocks alone (ProbedRun.gflops), comparable with compute.<precision>.measured_gflops.
        clock = None if probe_problem("", probed.clock_mhz, probed.mul_clock_mhz, context.cpu.nominal_mhz) else \
            probed.clock_mhz
        timeline.add(now - start, probed.gflops, clock)
        rounds = max(1, round(rounds * interval / probed.seconds))  # keep to the interval
    return timeline


# The clock under FMA load ------------------------------------------------------------------------------


def probed_run(run: Callable[[int], ProbedRun], rounds: int, calls: int = PROBE_CALLS) -> ProbedRun:
    """``rounds`` of the probed kernel as ``calls`` calls; the call at the confirmed-best rate (``stats.
    confirmed_best``, as a headline is chosen) stands for the run, its rate with the clock measured in it.

    One long call gives the mean rate over it, which any moment of other work on a core pulls down, while the
    headline is the K-th best of short samples: on a shared machine the two then disagree although nothing
    changed but the load (stability.py). Short calls chosen by the same rule compare like with like."""
    runs = [run(max(1, rounds // calls)) for _ in range(calls)]
    target = confirmed_best([r.gflops for r in runs])
    return dataclasses.replace(next(r for r in runs if r.gflops == target),
                               call_clocks=tuple(r.clock_mhz for r in runs))


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
        seconds, wrapped = context.pool.run([on_cpu(partial(probed, iterations, CLOCK_PROBE_BLOCKS, MUL_BLOCKS, *args,
                                                            add_ticks, mul_ticks)) for add_ticks, mul_ticks in buffers])
        replies = [reply for reply, _ in wrapped]
        check_close(f"{kernel.name} with clock probe", [r[0] for r in replies], rounds * block_checksum,
                    fma_tolerance(kernel))
        add_mhz, mul_mhz = chain_clocks([r[1:] for r in replies], buffers, tsc_hz)
        probe_seconds = float(np.mean([add.sum() + mul.sum() for add, mul in buffers])) / tsc_hz
        return ProbedRun(seconds, add_mhz, probe_seconds, rounds * block_flops, mul_mhz,
                         min(share for _, share in wrapped))

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
    duration = probe_rounds(context) * ROUND_SECONDS
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
    under_load: dict[str, float] = {}
    rates: dict[str, float] = {}
    runs: dict[str, tuple[ProbedRun, ...]] = {}
    for kernel in kernels:
        probed = probed_run(fma_with_clock_probe(context, kernel, tsc_hz), probe_rounds(context))
        under_load[kernel.precision], cross[kernel.precision] = probed.clock_mhz, probed.mul_clock_mhz
        rates[kernel.precision], runs[kernel.precision] = probed.gflops, (probed,)
        problems.append(probe_problem(f"under {kernel.name}", probed.clock_mhz, probed.mul_clock_mhz, nominal))
    failure = next((problem for problem in problems if problem), None)
    return ClockResult(
        method=f"dependent chain of 1-cycle register-register integer adds ({blocks * ADDS_PER_BLOCK} per probe), "
               f"cross-checked by a chain of {chain_latency('mul')}-cycle multiplies "
               f"({MUL_BLOCKS * ADDS_PER_BLOCK} per probe), timed with the invariant time-stamp counter read between "
               "fences (lfence; rdtsc; lfence on x86-64), interleaved with the FMA kernel on every selected core",
        tsc_mhz=tsc_hz / 1e6, scalar_mhz=scalar, under_load_mhz=under_load, cross_check_mhz=cross, failure=failure,
        under_load_gflops=rates, probed=runs)


def probe_rounds(context: CpuContext) -> int:
    """Rounds of one probed run: about 0.25 s (--quick) or 1 s of FMA blocks and probes."""
    return max(1, int((0.25 if context.options.quick else 1.0) / ROUND_SECONDS))


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    """Progress steps of ``run``: one per kernel, and the clock."""
    return len(kernels) + (1 if CLOCK_SUPPORTED else 0)


def run(context: CpuContext, kernels: Sequence[Kernel]) -> CpuFamilyResult:
    """Every selected FMA kernel, then the clock under their load (the add-chain probe), then each kernel
    checked against the probed runs (``checked``)."""
    limit = cpu_limit()
    setups, batches = [], {}
    for kernel in kernels:
        context.step(kernel.name)
        setups.append(prepare_fma(context, kernel))
        batches[kernel.name] = [sample_fma(context, setups[-1], limit)]
    if not CLOCK_SUPPORTED:
        context.warnings.append(f"clock not measured: no add-chain probe for {context.cpu.arch}")
        return CpuFamilyResult(tuple(pooled(batches[k.name]) for k in kernels))
    context.step("clock")
    clock = measure_clock(context, kernels)
    if clock.failure:
        context.warnings.append(f"clock probe failed ({clock.failure}): no clock, FLOP per cycle or theory at "
                                "the measured clock is reported; the FMA ceilings themselves stand")
        return CpuFamilyResult(tuple(pooled(batches[k.name]) for k in kernels), clock=clock)
    clock, results = checked(context, setups, batches, clock, limit)
    return CpuFamilyResult(tuple(results), clock=clock)


def checked(context: CpuContext, setups: Sequence[FmaSetup], batches: dict[str, list[tuple[KernelResult, Evidence]]],
            clock: ClockResult, limit: CpuLimit) -> tuple[ClockResult, list[KernelResult]]:
    """Each ceiling against its probed run (``stability.agrees``); on a disagreement both are measured again,
    interleaved, up to ``RECHECK_ROUNDS`` times. Returns the clock with each precision's chosen probed run, and
    the results: pooled samples, the chosen run's clock, and the ``stability`` record."""
    tsc_hz = clock.tsc_mhz * 1e6
    nominal = context.cpu.nominal_mhz
    runs = {s.kernel.name: list((clock.probed or {})[s.kernel.precision]) for s in setups}
    probes = {name: [as_rate(run, nominal) for run in first] for name, first in runs.items()}
    disagreed: dict[str, str] = {}

    def samples(name: str) -> list[float]:
        return [x for result, _ in batches[name] for x in result.summary.samples]

    def settled(name: str) -> bool:
        """A probed run agrees with the samples, and enough samples to confirm a ceiling ran uncontended."""
        return chosen_probe(samples(name), probes[name]) is not None and uncontended(batches[name])

    for _ in range(RECHECK_ROUNDS):
        for setup in setups:
            name = setup.kernel.name
            if settled(name):
                continue
            if chosen_probe(samples(name), probes[name]) is None:
                disagreed.setdefault(name, likely_cause([e for _, e in batches[name]], probes[name]))
            batches[name].append(sample_fma(context, setup, limit))
            runs[name].append(probed_run(fma_with_clock_probe(context, setup.kernel, tsc_hz), probe_rounds(context)))
            probes[name].append(as_rate(runs[name][-1], nominal))
    results, under_load, cross, rates = [], dict(clock.under_load_mhz), dict(clock.cross_check_mhz or {}), {}
    # The clock's noise: the spread of every call's clock over all the kernel's probed runs (seconds apart).
    noise = {s.kernel.precision: top_spread([c for run in runs[s.kernel.name] for c in run.call_clocks])
             for s in setups}
    for setup in setups:
        name, precision = setup.kernel.name, setup.kernel.precision
        index = chosen_probe(samples(name), probes[name])
        consistent = index is not None
        if not consistent:
            disagreed[name] = likely_cause([e for _, e in batches[name]], probes[name])
            context.warnings.append(f"{precision}: unstable ceiling: the headline and its probed run disagreed in "
                                    f"{len(batches[name])} interleaved rounds (spread "
                                    f"{record_spread(batches[name], probes[name]):.0%}); likely cause: "
                                    f"{disagreed[name]}; no FLOP per cycle is reported")
        record = stability_record([r.summary.samples for r, _ in batches[name]], probes[name],
                                  index, disagreed.get(name))
        result = pooled(batches[name], record)
        if index is not None:
            chosen = probes[name][index]
            # chosen_probe picks only a probe with a trusted clock, and as_rate trusts both chains or neither.
            assert chosen.clock_mhz is not None and chosen.mul_clock_mhz is not None
            under_load[precision], cross[precision], rates[precision] = chosen.clock_mhz, chosen.mul_clock_mhz, \
                chosen.gflops
            # The probed run agrees with the headline, so its clock is the headline's: FLOP per cycle is the
            # headline over that clock (profile.build), never a rate the headline contradicts.
            result = dataclasses.replace(result, clocks_mhz={"core": chosen.clock_mhz})
        else:  # the clock of the first probed run stands as the clock; no rate is paired with it
            result = dataclasses.replace(result, clocks_mhz={"core": clock.under_load_mhz[precision]})
        results.append(result)
    probed = {s.kernel.precision: tuple(runs[s.kernel.name]) for s in setups}
    return dataclasses.replace(clock, under_load_mhz=under_load, cross_check_mhz=cross, under_load_gflops=rates,
                               probed=probed, under_load_noise=noise), results


def uncontended(batches: Sequence[tuple[KernelResult, Evidence]]) -> bool:
    """Whether at least K samples (the ceiling rule's) ran with every thread on its CPU (``CONTENDED_ON_CPU``):
    if not, the headline describes the other work on the cores, and the kernel is measured again."""
    shares = [share for _, evidence in batches for share in evidence.on_cpu]
    return sum(share >= CONTENDED_ON_CPU for share in shares) >= ceiling_rank(len(shares))


def as_rate(run: ProbedRun, nominal: float | None) -> ProbedRate:
    """A probed run's rate and clock (None when its chains cannot be believed)."""
    trusted = probe_problem("", run.clock_mhz, run.mul_clock_mhz, nominal) is None
    return ProbedRate(run.gflops, run.clock_mhz if trusted else None, run.mul_clock_mhz if trusted else None,
                      run.on_cpu)


def record_spread(batches: Sequence[tuple[KernelResult, Evidence]], probes: Sequence[ProbedRate]) -> float:
    """``stability.spread`` over each batch's ceiling and each probed rate."""
    return spread([r.summary.ceiling for r, _ in batches] + [p.gflops for p in probes])


def pooled(batches: Sequence[tuple[KernelResult, Evidence]], stability: dict | None = None) -> KernelResult:
    """One result from every batch of a kernel: all samples (the ceiling rule over them), the evidence."""
    first = batches[0][0]
    samples = tuple(x for result, _ in batches for x in result.summary.samples)
    on_cpu = [round(s, 3) for _, evidence in batches for s in evidence.on_cpu]
    windows = [evidence.window.as_dict() for _, evidence in batches if evidence.window is not None]
    contention = {"on_cpu": on_cpu, "windows": windows}
    return dataclasses.replace(first, summary=RateSummary(samples), contention=contention, stability=stability)


# A sustained run keeps fma_fp64 busy, with the add-chain probe for its clock (so only where the probe runs).
FAMILY = CpuFamily("cpu", "fma", run, planned_steps, sustained_kernel="fma_fp64" if CLOCK_SUPPORTED else None,
                   sustain=sustain if CLOCK_SUPPORTED else None)


__all__ = ["FAMILY", "fma_shape", "planned_steps", "run", "sustain"]
