"""The profile's ``instruction_peaks`` section: low-precision ceilings by instruction class and precision.

Each entry is one kernel (one instruction: ``vdpbf16ps``, ``vpdpbusd``, ``vfmadd231ph``, ``tdpbf16ps``,
``tdpbusd``) in its own unit: GFLOP/s for floating point, GOP/s for integers, never mixed. As for ``compute``:

    theoretical            = cores x nominal clock x (instructions per cycle x FLOP or OP per instruction)
    theoretical at clock   = the same at the clock measured under that kernel's own load
    op_per_cycle           = the probed run's rate / (cores x that clock), both from one call on the same cores

A figure above the hardware's per-cycle rate, or on a GPU above the peak at the highest clock it allows (NVML's max
SM clock), is a measurement error: flagged, its per-cycle figure rejected.
"""

from __future__ import annotations

from ..record import ComputeTheory, SessionRecord
from ..stats import KernelResult, rounded
from .types import InstructionPeak, InstructionPeaks

COUNTING_RULE = ("cpufp's counting: vdpbf16ps = 4 FLOP per fp32 lane (2 bf16 multiplies + 2 adds); vpdpbusd = 8 OP "
                 "per int32 lane (4 u8 x s8 multiplies + 4 adds); vfmadd231ph = 2 FLOP per fp16 lane; AMX tdpbf16ps "
                 "on full 16x16x32 tiles = 16,384 FLOP, tdpbusd on 16x16x64 = 32,768 OP. Integer kernels are in "
                 "GOP/s, never counted as FLOP")
GPU_COUNTING_RULE = ("2 x M x N x K FLOP (OP for int8) per tensor instruction: per warp for mma.sync, per warpgroup "
                     "for wgmma; 2 x M x N x K per library GEMM (dense), the count of every tensor datasheet. Integer "
                     "kernels are in GOP/s, never counted as FLOP")
LIMIT_TOLERANCE = 0.01  # as build.LIMIT_TOLERANCE: clock-reading granularity


def _per_cycle(result: KernelResult, theory: ComputeTheory) -> float | None:
    clock = result.clocks_mhz.get(theory.clock)
    if not clock:
        return None
    rate = result.paired_gflops if result.paired_gflops is not None else result.summary.ceiling
    return rate * 1e3 / (theory.units * clock)


def _peak(units: int, mhz: float | None, per_cycle: float | None) -> float | None:
    return units * mhz * per_cycle / 1e3 if mhz and per_cycle else None


def instruction_entry(result: KernelResult, theory: ComputeTheory, warnings: list[str]) -> InstructionPeak:
    details = result.details
    unit = result.unit[1:-2]  # FLOP or OP
    clock = result.clocks_mhz.get(theory.clock)
    table = theory.flop_per_cycle
    theoretical = _peak(theory.units, theory.nominal_mhz, table)
    measured = result.summary.ceiling
    per_cycle = _per_cycle(result, theory)
    entry: InstructionPeak = {
        "kernel": result.name, "instruction": details.get("instruction"),
        "instruction_class": details.get("instruction_class"), "precision": result.precision,
        "accumulate": details.get("accumulate"), "unit": result.unit,
        "measured": rounded(measured), "theoretical": rounded(theoretical), "theoretical_source": theory.source,
        "theoretical_at_measured_clock": rounded(_peak(theory.units, clock, table)),
        "efficiency": rounded(measured / theoretical, 4) if theoretical else None,
        "clock_mhz": rounded(clock, 1), "clock_source": theory.clock_source if clock else None,
        "op_per_cycle": rounded(per_cycle, 2), "op_per_cycle_theoretical": table,
        "efficiency_at_measured_clock": rounded(per_cycle / table, 4) if per_cycle and table else None,
        "per": theory.per, "counting": details.get("counting"),
    }
    if result.stability:  # CPU chain kernels: the headline against its probed run (cpu/recheck.py)
        entry["stability"] = result.stability  # an unstable one has no clock
    if theoretical and measured > theoretical and not theory.nominal_is_max:
        warnings.append(f"{result.name}: measured {measured:.1f} {result.unit} exceeds the theoretical peak at the "
                        f"nominal clock ({theoretical:.1f}): the nominal clock ({theory.nominal_mhz:.0f} MHz, "
                        f"{theory.nominal_source}) is below the clock the cores ran at"
                        + (f" ({clock:.0f} MHz measured); compare with theoretical_at_measured_clock" if clock else ""))
    errors = []
    if per_cycle is not None and table and per_cycle > table * (1 + LIMIT_TOLERANCE):
        errors.append(f"{per_cycle:.1f} {unit} per cycle per {theory.per} is above the hardware's {table}")
    if theoretical and theory.nominal_is_max and measured > theoretical * (1 + LIMIT_TOLERANCE):  # a GPU's max clock
        errors.append(f"measured {measured:.1f} {result.unit} is above the theoretical peak at the highest clock the "
                      f"device allows ({theoretical:.1f})")
    if errors:
        entry["measurement_error"] = "; ".join(errors)
        entry["op_per_cycle_rejected"], entry["op_per_cycle"], entry["efficiency_at_measured_clock"] = \
            rounded(per_cycle, 2), None, None
        warnings.append(f"{result.name}: measurement error, not a ceiling: {entry['measurement_error']} (the clock "
                        "reading, the timing or the work count is wrong; the figure is flagged in the profile)")
    elif per_cycle is not None and table and per_cycle < 0.75 * table and theory.low_per_cycle_cause:
        warnings.append(f"{result.name}: {per_cycle:.1f} {unit} per cycle per {theory.per} at {clock:.0f} MHz, against "
                        f"{table} possible: the clock is not the cause. {theory.low_per_cycle_cause}")
    return entry


def instruction_section(m: SessionRecord, warnings: list[str]) -> InstructionPeaks | None:
    """The section, or None when the run selected no low-precision kernel."""
    if not m.instruction_theory and not m.instruction_skipped:
        return None
    peaks = {result.name: instruction_entry(result, m.instruction_theory[result.name], warnings)
             for result in m.results if result.name in m.instruction_theory}
    rule = GPU_COUNTING_RULE if m.device.get("sms") else COUNTING_RULE  # a GPU's device facts name its SMs
    return {"counting": rule, "peaks": peaks, "skipped": dict(m.instruction_skipped)}
