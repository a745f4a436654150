"""The low-precision peak family on the CPU: bf16 and int8 dot products, fp16 FMA and AMX tiles on every pinned core
(kernels/cpu_lowp.py), each only where CPUID reports its instruction (features.py).

Each kernel is measured like the FMA peak (calls of about 30 ms, 10 ms with --quick, capped where the result
would stop being exact; every call's result checked against its closed form), then run again interleaved with
the FMA family's clock probe (clock.py: the add and multiply chains after each ~200 us block), which gives the
clock under that instruction's load and the rate measured with it. FLOP or OP per cycle divides that pair, as
``compute.<precision>.flop_per_cycle`` does for the FMA kernels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from .. import catalog
from ..catalog import Kernel
from ..check import check_close
from ..errors import MeasurementError, UsageError
from ..kernel_spec import InstructionLaunch, LowpLaunch
from ..kernels import cpu_amx, cpu_lowp
from ..kernels.cpu_llvm import CLOCK_SUPPORTED
from ..record import ComputeTheory
from ..stats import KernelResult, rounded
from ..timing import Work, time_and_check
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
from .features import needs_amx, request_amx_state, skip_reasons
from .fma import MUL_BLOCKS, chain_clocks
from .machine import CpuInfo
from .recheck import checked_kernel
from .theory import CoreModel, instruction_rate

CALL_SECONDS = {True: 0.01, False: 0.03}  # quick, full: the kernels are compute-bound, steady within a call
PROBE_SECONDS = {True: 0.1, False: 0.25}  # the probed run per kernel
CALIBRATION_ITERATIONS = 20_000
TOLERANCE = 0.0  # every result is exact (kernels/cpu_lowp.py)


@dataclasses.dataclass(frozen=True)
class LowpShape:
    """What one kernel runs: its kind (kernels/cpu_lowp.py), register bits (0 for AMX tiles) and chains."""

    kind: str
    bits: int
    chains: int

    @property
    def amx(self) -> bool:
        return self.kind in cpu_lowp.AMX_OPS


def shape_of(kernel: Kernel) -> LowpShape:
    launch = kernel.launch_as(LowpLaunch)
    return LowpShape(launch.kind, launch.bits, launch.chains)


class LowpCalls:
    """Per-thread calls of one kernel and the check of their results."""

    def __init__(self, context: CpuContext, shape: LowpShape):
        self.shape = shape
        self.threads = len(context.cpus)
        if shape.amx:
            self.config = cpu_amx.amx_tile_config()
            self.inputs = cpu_amx.amx_inputs(shape.kind)
            self.outputs = [cpu_amx.amx_output_buffer() for _ in context.cpus]
            self.kernel = cpu_amx.amx_kernel(shape.kind)
        else:
            self.words = cpu_lowp.operand_words(shape.kind)
            self.kernel = cpu_lowp.vector_kernel(shape.kind, shape.bits, shape.chains)

    def tasks(self, n_iter: int) -> list[Callable[[], Any]]:
        if self.shape.amx:
            return [partial(self.kernel, n_iter, self.config, self.inputs, out) for out in self.outputs]
        return [partial(self.kernel, n_iter, *self.words) for _ in range(self.threads)]

    def check(self, name: str, values: Sequence[Any], n_iter: int, rounds: int = 1) -> None:
        if self.shape.amx:
            wrong = [i for i, out in enumerate(self.outputs)
                     if not cpu_amx.amx_outputs_correct(self.shape.kind, out, n_iter)]
            if wrong or any(int(v) != rounds * n_iter for v in values):
                raise MeasurementError(f"{name}: wrong result: accumulator tiles of thread(s) {wrong} differ from "
                                       f"{cpu_amx.amx_expected(self.shape.kind, n_iter)} in every element")
            return
        expected = rounds * cpu_lowp.expected_checksum(self.shape.kind, n_iter, self.shape.bits, self.shape.chains)
        check_close(name, [float(v) for v in values], expected, TOLERANCE)


def _calibrate(context: CpuContext, calls: LowpCalls, target_seconds: float) -> int:
    """Iterations per call for about ``target_seconds``, capped where the result stays exact (the first call
    compiles and is discarded)."""
    context.pool.run(calls.tasks(CALIBRATION_ITERATIONS))
    seconds, _ = context.pool.run(calls.tasks(CALIBRATION_ITERATIONS))
    wanted = int(CALIBRATION_ITERATIONS * target_seconds / max(seconds, 1e-6))
    return max(1, min(cpu_lowp.max_iterations(calls.shape.kind), wanted))


def measure_lowp(context: CpuContext, kernel: Kernel, calls: LowpCalls) -> KernelResult:
    shape = calls.shape
    n_iter = _calibrate(context, calls, CALL_SECONDS[context.options.quick])
    last: list[Any] = []
    run = pool_runner(context, calls.tasks(n_iter), last)
    ops = cpu_lowp.ops_per_iteration(shape.kind, shape.bits, shape.chains) * n_iter * len(context.cpus)
    per_instruction = (cpu_lowp.AMX_OPS[shape.kind] if shape.amx else
                       cpu_lowp.OPS_PER_LANE[shape.kind] * cpu_lowp.lanes(shape.kind, shape.bits))
    unit = "OP" if kernel.unit == "GOP/s" else "FLOP"
    launch = kernel.launch_as(LowpLaunch)
    details = {"instruction": launch.instruction, "instruction_class": launch.instruction_class,
               "accumulate": launch.accumulate, "cpuid": list(launch.needs),
               "register_bits": shape.bits or None,
               "chains": len(cpu_amx.AMX_ACCUMULATORS) if shape.amx else shape.chains,
               "ops_per_instruction": per_instruction, "iterations_per_thread": n_iter,
               "counting": f"{launch.counting}; {per_instruction} {unit} x instructions x threads"}
    return time_and_check(kernel, run, lambda: calls.check(kernel.name, last, n_iter), Work(0, flops=ops),
                          context.policy, details).result


def probed_rate(context: CpuContext, kernel: Kernel, calls: LowpCalls, tsc_hz: float) -> tuple[float, float, float]:
    """(add-chain MHz, multiply-chain MHz, rate in the kernel's unit) of blocks of the kernel interleaved with the
    clock probe on every selected core, as the FMA family's probe runs. The rate is each thread's median over
    rounds of one block's work over its own time (TSC), summed over threads: a round in which a thread was
    descheduled is dropped, as the clock's median over rounds drops it."""
    shape = calls.shape
    n_iter = _calibrate(context, calls, FMA_BLOCK_SECONDS)
    rounds = max(1, int(PROBE_SECONDS[context.options.quick] / ROUND_SECONDS))
    buffers = [new_ticks(rounds) for _ in context.cpus]
    blocks = [np.zeros(rounds, dtype=np.int64) for _ in context.cpus]
    if shape.amx:
        probed = cpu_amx.amx_clock_kernel(shape.kind)
        head = [(n_iter, CLOCK_PROBE_BLOCKS, MUL_BLOCKS, calls.config, calls.inputs, out) for out in calls.outputs]
    else:
        probed = cpu_lowp.vector_clock_kernel(shape.kind, shape.bits, shape.chains)
        head = [(n_iter, CLOCK_PROBE_BLOCKS, MUL_BLOCKS, *calls.words) for _ in context.cpus]
    # Compile (numba JIT) outside the timed call.
    context.pool.run([partial(probed, *args, np.zeros(1, dtype=np.int64), *new_ticks(1)) for args in head])
    _, replies = context.pool.run([partial(probed, *args, block, *ticks)
                                   for args, block, ticks in zip(head, blocks, buffers)])
    calls.check(f"{kernel.name} with clock probe", [r[0] for r in replies], n_iter, rounds)
    add_mhz, mul_mhz = chain_clocks([r[1:] for r in replies], buffers, tsc_hz)
    ops_per_block = cpu_lowp.ops_per_iteration(shape.kind, shape.bits, shape.chains) * n_iter
    rate = sum(float(np.median(ops_per_block / (block / tsc_hz))) for block in blocks) / 1e9
    return add_mhz, mul_mhz, rate


def runnable(context: CpuContext, kernels: Sequence[Kernel]) -> list[Kernel]:
    """The kernels whose instructions this CPU has (the others are listed with their reason in the profile)."""
    skipped = skip_reasons(kernels, context.cpu.flags, context.cpu.arch)
    return [kernel for kernel in kernels if kernel.name not in skipped]


def planned_steps(context: CpuContext, kernels: Sequence[Kernel]) -> int:
    return len(runnable(context, kernels))


def run(context: CpuContext, kernels: Sequence[Kernel]) -> CpuFamilyResult:
    results = []
    chosen = runnable(context, kernels)
    if not chosen and all(kernel.family == "lowp" for kernel in context.options.kernels):
        reasons = skip_reasons(kernels, context.cpu.flags, context.cpu.arch)
        raise UsageError(f"--kernels: this CPU runs none of {', '.join(reasons)} ({'; '.join(reasons.values())}); "
                         "choose kernels it has, e.g. --kernels fma")
    tsc_hz = calibrate_timestamp_hz() if CLOCK_SUPPORTED and chosen else None
    limit = cpu_limit()
    for kernel in chosen:
        context.step(kernel.name)
        if needs_amx(kernel) and (problem := request_amx_state()):
            context.warnings.append(f"{kernel.name} not measured: the OS did not grant the AMX tile state ({problem})")
            continue
        calls = LowpCalls(context, shape_of(kernel))
        measure = partial(measure_lowp, context, kernel, calls)
        if tsc_hz is None:
            results.append(measure())
            continue
        # the headline against its probed run, rechecked on a disagreement (recheck.py, as the FMA family)
        results.append(checked_kernel(context, limit, measure, partial(probed_rate, context, kernel, calls, tsc_hz)))
    skipped = skip_reasons(kernels, context.cpu.flags, context.cpu.arch)
    return CpuFamilyResult(tuple(results), instruction_skipped=skipped)


# Theory and the clock table (the session calls these when it builds the measurement) -----------------------

KERNELS = {kernel.name: kernel for kernel in catalog.kernels("cpu") if kernel.family == "lowp"}
LOW_PER_CYCLE_CAUSE = ("The vector units are shared (a busy SMT sibling, or a hypervisor placing vCPUs on one "
                       "physical core) or the core model is wrong: run with --threads 1 to compare")


def per_core_theory(cpu: CpuInfo, core: CoreModel, cores: int, kernel: Kernel, found: tuple[float, str] | None,
                    per_instruction: float, counted: str, unit: str = "FLOP") -> ComputeTheory:
    """cores x nominal clock x (documented instructions per cycle (``found``: rate, source) x ``per_instruction``
    FLOP or OP): the paper figure of one instruction's peak; ``counted`` says what one instruction does."""
    per_cycle = found[0] * per_instruction if found else None
    if per_cycle is not None and float(per_cycle).is_integer():
        per_cycle = int(per_cycle)
    instruction = kernel.launch_as(InstructionLaunch).instruction  # a low-precision or a mix kernel
    if found is None:
        source = f"unknown: no documented {instruction} rate for {core.name} in hwbench's table"
    elif not cpu.nominal_mhz:
        source = f"unknown: {cpu.nominal_source}"
    else:
        source = (f"{cores} cores x {cpu.nominal_mhz:.0f} MHz ({cpu.nominal_source}) x {per_cycle:g} {unit}/cycle "
                  f"({found[0]:g} {instruction} per cycle x {counted}); core: {core.name}, {found[1]}")
    return ComputeTheory(units=cores, per="core", clock="core",
                         clock_source=f"add-chain probe interleaved with {kernel.name} (clock.method)",
                         flop_per_cycle=per_cycle, nominal_mhz=cpu.nominal_mhz, nominal_source=cpu.nominal_source,
                         source=source, low_per_cycle_cause=LOW_PER_CYCLE_CAUSE)


def instruction_theory(cpu: CpuInfo, core: CoreModel, core_known: bool, cores: int,
                       result: KernelResult) -> ComputeTheory:
    """cores x nominal clock x (instructions per cycle x FLOP or OP per instruction) of a low-precision kernel."""
    kernel = KERNELS[result.name]
    launch = kernel.launch_as(LowpLaunch)
    found = instruction_rate(core, launch.kind, launch.bits) if core_known else None
    unit = result.unit[1:-2]  # FLOP or OP
    per_instruction = result.details["ops_per_instruction"]
    return per_core_theory(cpu, core, cores, kernel, found, per_instruction, f"{per_instruction} {unit}", unit)


def clock_by_instruction_class(probe: ClockResult | None, core: CoreModel, results: Sequence[KernelResult]) -> dict:
    """The clock under each instruction class (scalar, the FMA kernels' width, and each low-precision class), the
    lowest over the kernels of the class: the licence drop, where the CPU has one, is the difference from scalar."""
    scalar = probe.scalar_mhz if probe and not probe.failure else None
    fma_class = {512: "avx512", 256: "avx2"}.get(core.simd_bits, f"simd{core.simd_bits}")
    under: dict[str, list[tuple[str, float]]] = {}
    for precision, mhz in (probe.trusted_under_load.items() if probe else ()):
        under.setdefault(fma_class, []).append((f"fma_{precision}", mhz))
    for result in results:
        if result.clocks_mhz.get("core"):
            under.setdefault(KERNELS[result.name].launch_as(LowpLaunch).instruction_class, []).append(
                (result.name, result.clocks_mhz["core"]))
    table: dict[str, dict] = {"scalar": {"mhz": rounded(scalar, 1), "under": ["add and multiply chains alone"]}
                              } if scalar else {}
    for name, pairs in under.items():
        mhz = min(m for _, m in pairs)
        table[name] = {"mhz": rounded(mhz, 1), "under": [kernel for kernel, _ in pairs],
                       "drop_percent": rounded((scalar - mhz) / scalar * 100, 2) if scalar else None}
    return table


FAMILY = CpuFamily("cpu", "lowp", run, planned_steps)


__all__ = ["FAMILY", "KERNELS", "clock_by_instruction_class", "instruction_theory", "planned_steps", "run", "runnable"]
