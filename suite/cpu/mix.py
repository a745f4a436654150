"""Compute roofs by instruction mix on the CPU: the add, multiply and scalar add peaks (kernels/cpu_mix.py) on every
pinned core, each with the clock under its own load, and the library GEMM ceiling (NumPy's matmul through its BLAS).

The chain kernels are measured like the FMA peak (calls of about 50 ms, 20 ms with --quick; every call's checksum
checked against its closed form), then run again interleaved with the FMA family's clock probe (clock.py), which
gives the clock under that instruction's load and the rate measured with it, as the low-precision family does.

The GEMM ceiling is NumPy's ``matmul`` of two n x n matrices (``catalog.GEMM_SIZES``) with its BLAS limited to the
run's thread count by threadpoolctl; the BLAS's own threads are not pinned (OpenBLAS is built with NO_AFFINITY).
Every call's result is checked with the checksum identity sum(A B) = (1^T A)(B 1). The library and its version
(threadpoolctl's report) are in the kernel's details and so in the profile: a figure users plan with.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from functools import partial

import numpy as np

from .. import catalog
from ..catalog import Kernel
from ..check import check_close
from ..errors import MeasurementError
from ..kernel_spec import GemmLaunch, MixLaunch
from ..kernels import cpu_mix
from ..kernels.cpu_llvm import CLOCK_SUPPORTED
from ..record import ComputeTheory
from ..stats import KernelResult
from ..timing import Sample, Work, time_and_check
from .clock import (
    CLOCK_PROBE_BLOCKS,
    FMA_BLOCK_SECONDS,
    ROUND_SECONDS,
    ClockResult,
    calibrate_timestamp_hz,
    new_ticks,
)
from .contention import cpu_limit
from .family import CpuContext, CpuFamily, CpuFamilyResult, pool_runner
from .fma import MUL_BLOCKS, calibrate_iterations, chain_clocks
from .lowp import per_core_theory
from .machine import CpuInfo
from .recheck import checked_kernel
from .theory import CoreModel, mix_rate

CALL_SECONDS = {True: 0.02, False: 0.05}  # quick, full: as the FMA kernels
PROBE_SECONDS = {True: 0.1, False: 0.25}  # the probed run per kernel
GEMM_TOLERANCE = {"fp64": 1e-9, "fp32": 1e-3}  # relative error of the checksum: fp32 sums of 2048 products


def chain_shape(context: CpuContext, kernel: Kernel) -> tuple[int, int]:
    """(lanes, chains): the FMA kernels' full-rate vector width in elements (1 for the scalar kernels)."""
    launch = kernel.launch_as(MixLaunch)
    return launch.lanes or context.core.simd_bits // (8 * kernel.element_bytes), launch.chains


def _tolerance(kernel: Kernel) -> float:
    return 0.0  # every step is exact (kernels/cpu_mix.py): any difference is a wrong result


def measure_chains(context: CpuContext, kernel: Kernel) -> KernelResult:
    lanes, chains = chain_shape(context, kernel)
    operation = kernel.launch_as(MixLaunch).operation
    kernel_fn = cpu_mix.mix_kernel(operation, kernel.precision, lanes, chains)
    args = cpu_mix.operands(operation, kernel.precision)
    n_iter = calibrate_iterations(context, kernel_fn, args, CALL_SECONDS[context.options.quick])
    last: list[float] = []
    run = pool_runner(context, [partial(kernel_fn, n_iter, *args) for _ in context.cpus], last)
    expected = cpu_mix.expected_checksum(lanes, chains)
    flops = cpu_mix.flops_per_iteration(lanes, chains) * n_iter * len(context.cpus)
    launch = kernel.launch_as(MixLaunch)
    details = {"instruction": launch.instruction, "instruction_class": launch.instruction_class,
               "accumulate": launch.accumulate, "simd_bits": lanes * 8 * kernel.element_bytes,
               "lanes": lanes, "chains": chains, "iterations_per_thread": n_iter,
               "counting": f"{launch.counting}; {cpu_mix.STEPS_PER_ITERATION} instructions x {lanes} "
                           f"lanes x {chains} chains x iterations x threads"}
    return time_and_check(kernel, run, lambda: check_close(kernel.name, last, expected, _tolerance(kernel)),
                          Work(0, flops=flops), context.policy, details).result


def probed_rate(context: CpuContext, kernel: Kernel, tsc_hz: float) -> tuple[float, float, float]:
    """(add-chain MHz, multiply-chain MHz, GFLOP/s) of blocks of the kernel interleaved with the clock probe on every
    selected core; the rate is each thread's median over rounds of a block's FLOPs over its own time (TSC)."""
    lanes, chains = chain_shape(context, kernel)
    operation = kernel.launch_as(MixLaunch).operation
    args = cpu_mix.operands(operation, kernel.precision)
    n_iter = calibrate_iterations(context, cpu_mix.mix_kernel(operation, kernel.precision, lanes, chains), args,
                                  FMA_BLOCK_SECONDS)
    rounds = max(1, int(PROBE_SECONDS[context.options.quick] / ROUND_SECONDS))
    probed = cpu_mix.mix_clock_kernel(operation, kernel.precision, lanes, chains)
    context.pool.run([partial(probed, 1, 1, 1, *args, np.zeros(1, dtype=np.int64), *new_ticks(1))
                      for _ in context.cpus])  # compile outside the timed call
    buffers = [new_ticks(rounds) for _ in context.cpus]
    blocks = [np.zeros(rounds, dtype=np.int64) for _ in context.cpus]
    _, replies = context.pool.run([partial(probed, n_iter, CLOCK_PROBE_BLOCKS, MUL_BLOCKS, *args, block, *ticks)
                                   for block, ticks in zip(blocks, buffers)])
    check_close(f"{kernel.name} with clock probe", [r[0] for r in replies],
                rounds * cpu_mix.expected_checksum(lanes, chains), _tolerance(kernel))
    add_mhz, mul_mhz = chain_clocks([r[1:] for r in replies], buffers, tsc_hz)
    block_flops = cpu_mix.flops_per_iteration(lanes, chains) * n_iter
    rate = sum(float(np.median(block_flops / (block / tsc_hz))) for block in blocks) / 1e9
    return add_mhz, mul_mhz, rate


def blas_library() -> str:
    """NumPy's version and the BLAS it calls (threadpoolctl's report)."""
    from threadpoolctl import threadpool_info

    blas = [f"{info.get('internal_api', '?')} {info.get('version') or ''} ({info.get('architecture') or '?'} kernels, "
            f"{info.get('threading_layer') or '?'} threads)".strip()
            for info in threadpool_info() if info.get("user_api") == "blas"]
    return f"numpy {np.__version__}, {', '.join(blas) or 'BLAS not found by threadpoolctl'}"


def measure_gemm(context: CpuContext, kernel: Kernel) -> KernelResult:
    from threadpoolctl import threadpool_limits

    launch = kernel.launch_as(GemmLaunch)
    n = launch.size
    dtype = {"fp64": np.float64, "fp32": np.float32}[kernel.precision]
    rng = np.random.default_rng(n)
    a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    c = np.zeros((n, n), dtype=dtype)
    threads = len(context.cpus)
    expected = float(a.sum(axis=0, dtype=np.float64) @ b.sum(axis=1, dtype=np.float64))

    def run(calls: int) -> Sample:
        started = time.perf_counter()
        for _ in range(calls):
            np.matmul(a, b, out=c)
        return Sample(time.perf_counter() - started)

    def check() -> None:
        total = float(c.sum(dtype=np.float64))
        if not abs(total - expected) <= GEMM_TOLERANCE[kernel.precision] * expected:
            raise MeasurementError(f"{kernel.name}: wrong result: checksum of C is {total!r}, expected {expected!r} "
                                   "(sum(A B) = (1^T A)(B 1)); no figure is reported")

    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=c)  # the BLAS's threads started and its buffers allocated outside the timing
        details = {"instruction": launch.instruction, "instruction_class": "library",
                   "accumulate": kernel.precision, "library": blas_library(), "size": n, "blas_threads": threads,
                   "counting": f"{launch.counting}: {2 * n**3} FLOP per call"}
        return time_and_check(kernel, run, check, Work(3 * n * n * a.itemsize, flops=2 * n**3), context.policy,
                              details).result


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    return len(kernels)


def run(context: CpuContext, kernels: Sequence[Kernel]) -> CpuFamilyResult:
    results = []
    tsc_hz = calibrate_timestamp_hz() if CLOCK_SUPPORTED else None
    limit = cpu_limit()
    for kernel in kernels:
        context.step(kernel.name)
        if isinstance(kernel.launch, GemmLaunch):
            results.append(measure_gemm(context, kernel))
            continue
        measure = partial(measure_chains, context, kernel)
        if tsc_hz is None:
            results.append(measure())
            continue
        # the headline against its probed run, rechecked on a disagreement (recheck.py, as the FMA family)
        results.append(checked_kernel(context, limit, measure, partial(probed_rate, context, kernel, tsc_hz)))
    return CpuFamilyResult(tuple(results))



# Theory and the GEMM's clock (the session calls these when it builds the measurement) ------------------------

KERNELS = {kernel.name: kernel for kernel in catalog.kernels("cpu") if kernel.family == "mix"}


def mix_theory(cpu: CpuInfo, core: CoreModel, core_known: bool, cores: int, result: KernelResult,
               fma: ComputeTheory) -> ComputeTheory:
    """The paper figure of a compute roof without FMA: cores x nominal clock x (instructions per cycle x lanes x 1
    FLOP) for the add, multiply and scalar add peaks; the FMA peak of the precision (``fma``, the session's
    ``compute_theory``) for the library GEMM, whose paper bound is the FMA units'."""
    kernel = KERNELS[result.name]
    if isinstance(kernel.launch, GemmLaunch):
        return dataclasses.replace(fma, clock_source="the FMA kernel's clock under load (clock.measured_mhz): a GEMM "
                                                     "runs FMA instructions; not probed under the library call",
                                   source=f"the FMA peak: {fma.source}",
                                   low_per_cycle_cause=gemm_low_per_cycle_cause(result.details.get("library")))
    found = mix_rate(core, kernel.launch_as(MixLaunch).operation) if core_known else None
    lanes = result.details.get("lanes") or 1
    return per_core_theory(cpu, core, cores, kernel, found, lanes, f"{lanes} lanes x 1 FLOP")


def gemm_low_per_cycle_cause(library: str | None) -> str:
    """What a library GEMM well below the FMA units' table means: first the library's own kernels, which it picks
    by its own CPU table (OpenBLAS 0.3 runs its 'Haswell' kernels, 256-bit AVX2, on Zen cores: half an AVX-512
    core's FMA width; threadpoolctl names them), then packing and shared FMA units."""
    return (f"A library GEMM runs its own kernels ({library or 'library not reported'}): a BLAS built for a "
            "narrower vector ISA than the core's (OpenBLAS's 'Haswell' kernels are 256-bit AVX2, half the FMA width of "
            "an AVX-512 core) or packing its blocks reaches less of the FMA units' table; shared FMA units (a busy SMT "
            "sibling, or a hypervisor placing vCPUs on one physical core) lower it too: run with --threads 1 to "
            "compare")


def with_fma_clock(probe: ClockResult | None, result: KernelResult) -> KernelResult:
    """A library GEMM's result with the FMA kernel's clock under load of its precision, where the probe has one."""
    mhz = (probe.trusted_under_load if probe else {}).get(result.precision)
    if not isinstance(KERNELS[result.name].launch, GemmLaunch) or mhz is None:
        return result
    return dataclasses.replace(result, clocks_mhz={"core": mhz})


FAMILY = CpuFamily("cpu", "mix", run, planned_steps)


__all__ = ["FAMILY", "KERNELS", "gemm_low_per_cycle_cause", "mix_theory", "planned_steps", "run", "with_fma_clock"]
