"""Turn a device-neutral measurement into profile data: theoretical and measured ceilings side by side.

One builder for every device. Every figure carries where it came from: the kernel that measured it, how
bytes and FLOPs were counted, the clock and its source, and the formula of each theoretical number.

    peak FLOP/s         = units (cores or SMs) x clock x FLOP per cycle per unit
    FLOP per cycle      = measured FLOP/s / (units x the clock read while the kernel ran)
    bytes per cycle     = measured bytes/s / the clock of the level (GPU memory or SM clock)
    ridge point         = peak FLOP/s / peak bytes/s  (Williams, Waterman and Patterson, CACM 52(4), 2009)

A measured ceiling (``measured_gflops``, ``measured_gbps``, ``measured_stream_gbps``) is its kernel's
confirmed best (``stats.CEILING_RULE``, written into every profile as ``headline_rule``), never one lucky
sample; each kernel entry keeps both its ``ceiling`` and its raw ``best``.
"""

from __future__ import annotations

import statistics

from ..record import ComputeTheory, Host, MemoryTheory, SessionRecord
from ..stats import CEILING_RULE, CONTENDED_ON_CPU, KernelResult, ceiling_on_cpu, result_noise, rounded, top_spread
from .instructions import instruction_section
from .intensity import intensity_section
from .latency import latency_levels, latency_section, merge_levels
from .levels import cache_levels
from .model import SCHEMA_VERSION
from .sustained import RunCeiling, sustained_extra
from .types import (
    CachesSection,
    ComputeEntry,
    KernelEntry,
    LatencySection,
    MemoryLevel,
    ProfileData,
    ProfileOptional,
    RidgeEntry,
)

LOW_FLOP_PER_CYCLE = 0.75  # below this share of the theoretical FLOP/cycle, a cause other than the clock
# A figure this far above its physical limit is a measurement error, never a ceiling: the clock reading, the
# timing or the work count is wrong. 1% covers clock-reading granularity (NVML reports 15 MHz steps).
LIMIT_TOLERANCE = 0.01
MEASURED_ONLY = MemoryTheory(None, "not published by the vendor; measured only",
                             "bytes read + written by the kernel; STREAM convention")



def peak_gflops(units: int, mhz: float | None, flop_per_cycle: float | None) -> float | None:
    """Theoretical GFLOP/s: units x clock x FLOP per cycle per unit; None when a factor is unknown."""
    if not mhz or not flop_per_cycle:
        return None
    return units * mhz * 1e6 * flop_per_cycle / 1e9


def ridge_point(gflops: float | None, gbps: float | None) -> float | None:
    """FLOP per byte at which the roofline's two roofs meet (None if either is unknown)."""
    if not gflops or not gbps:
        return None
    return gflops / gbps


def kernel_entry(result: KernelResult) -> KernelEntry:
    s = result.summary
    clocks = [rounded(c, 1) for c in result.sample_clocks_mhz]
    entry: KernelEntry = {
        "name": result.name, "precision": result.precision, "level": result.level, "unit": result.unit,
        "ceiling": rounded(s.ceiling), "best": rounded(s.best), "median": rounded(s.median), "min": rounded(s.min),
        "max": rounded(s.max),
        "cv": rounded(s.cv, 5), "noise": rounded(result_noise(result), 4), "repetitions": s.repetitions,
        "samples": [rounded(x) for x in s.samples],
        "sample_clocks_mhz": clocks, "contention": result.contention or {},
        "working_set_bytes": result.working_set_bytes, "bytes_stream": result.bytes_stream,
        "bytes_traffic": result.bytes_traffic, "flops": result.flops, "validated": result.validated,
        "details": result.details,
    }
    if not clocks:  # written where each sample read a clock (the places of both keys in the YAML are kept above)
        del entry["sample_clocks_mhz"]
    if not result.contention:
        del entry["contention"]
    return entry


def _throttled(result: KernelResult, reported: bool, warnings: list[str]) -> bool | None:
    """True (with a warning) when the kernel ran throttled; None on devices that report no throttle reasons."""
    if result.throttle_note is None:
        return False if reported else None
    warnings.append(f"{result.name}: {result.throttle_note}")
    return True


def flop_per_cycle(result: KernelResult, theory: ComputeTheory) -> float | None:
    """FLOP per cycle per unit, from figures of the same samples.

    Where the device read a clock during each sample (NVML, inside every timed batch), each sample's rate is
    divided by its own clock and the median of those ratios is taken: a power-capped GPU's clock swings from
    sample to sample, and the best sample's rate over the window's median clock gave an H100 4,227 FLOP per
    cycle per SM against 4,096 possible. Where the device measured a rate together with the clock (the CPU's
    probed FMA run: the FMA blocks' rate and the add chain's clock, in the same call on the same cores), that
    pair is divided: the kernel's own samples and the probe run at different moments, and a VM's clock can
    move in between. Otherwise the kernel's ceiling is divided by the clock read under that load."""
    paired = [rate * 1e3 / (theory.units * clock)
              for rate, clock in zip(result.summary.samples, result.sample_clocks_mhz) if clock]
    if paired:
        return statistics.median(paired)
    clock = result.clocks_mhz.get(theory.clock)
    if not clock:
        return None
    rate = result.paired_gflops if result.paired_gflops is not None else result.summary.ceiling
    return rate * 1e3 / (theory.units * clock)


def compute_entry(precision: str, result: KernelResult, theory: ComputeTheory, warnings: list[str],
                  reports_throttling: bool = False) -> ComputeEntry:
    fpc_theory = theory.flop_per_cycle
    theoretical = peak_gflops(theory.units, theory.nominal_mhz, fpc_theory)
    clock = result.clocks_mhz.get(theory.clock)
    at_clock = peak_gflops(theory.units, clock, fpc_theory)
    measured = result.summary.ceiling
    efficiency = measured / theoretical if theoretical else None
    above_limit = []
    if efficiency is not None and efficiency > 1.0 and theory.nominal_is_max:
        if efficiency > 1 + LIMIT_TOLERANCE:
            above_limit.append(f"measured {measured:.1f} GFLOP/s is above the theoretical peak at the highest clock "
                               f"the device allows ({theoretical:.1f} GFLOP/s)")
    elif efficiency is not None and efficiency > 1.0:
        warnings.append(
            f"{precision}: measured {measured:.1f} GFLOP/s exceeds the theoretical peak at the nominal clock "
            f"({theoretical:.1f} GFLOP/s, efficiency {efficiency:.2f}): the nominal clock "
            f"({theory.nominal_mhz:.0f} MHz, {theory.nominal_source}) is below the clock the {theory.per}s ran at"
            + (f" ({clock:.0f} MHz measured); compare with theoretical_at_measured_clock_gflops" if clock else ""))
    unstable = (result.stability or {}).get("status") == "unstable"
    # An unstable ceiling's headline and probed run disagree (cpu/stability.py): no FLOP per cycle describes both.
    per_cycle = None if unstable else flop_per_cycle(result, theory)
    rejected = None
    if per_cycle is not None and fpc_theory and per_cycle > fpc_theory * (1 + LIMIT_TOLERANCE):
        above_limit.append(f"{per_cycle:.1f} FLOP per cycle per {theory.per} is above the hardware's {fpc_theory}")
        rejected, per_cycle = per_cycle, None
    if (per_cycle is not None and fpc_theory and theory.low_per_cycle_cause
            and per_cycle < LOW_FLOP_PER_CYCLE * fpc_theory):
        share = ceiling_on_cpu(result.summary.samples, (result.contention or {}).get("on_cpu"))
        cause = (f"The measuring threads were on their CPUs {share:.0%} of the time at the ceiling: other work "
                 "shared the cores (kernels[].contention); run again when the machine is idle"
                 if share is not None and share < CONTENDED_ON_CPU else theory.low_per_cycle_cause)
        warnings.append(f"{precision}: {per_cycle:.1f} FLOP per cycle per {theory.per} at {clock:.0f} MHz, against "
                        f"{fpc_theory} possible: the clock is not the cause. {cause}")
    if above_limit:
        warnings.append(f"{precision}: measurement error, not a ceiling: {'; '.join(above_limit)} (the clock reading, "
                        "the timing or the work count is wrong; the figure is flagged in the profile)")
    entry: ComputeEntry = {
        "kernel": result.name,
        "theoretical_gflops": rounded(theoretical),
        "theoretical_source": theory.source,
        "theoretical_at_measured_clock_gflops": rounded(at_clock),
        "measured_gflops": rounded(measured),
        "noise": rounded(result_noise(result), 4),
        "efficiency": rounded(efficiency, 4),
        "efficiency_at_measured_clock": rounded(per_cycle / fpc_theory, 4) if per_cycle and fpc_theory else None,
        "clock_mhz": rounded(clock, 1),
        "clock_source": theory.clock_source if clock else None,
        "flop_per_cycle": rounded(per_cycle, 2),
        "flop_per_cycle_theoretical": fpc_theory,
        "per": theory.per,
        "throttled": _throttled(result, reports_throttling, warnings),
    }
    if result.stability:
        entry["stability"] = result.stability
    if above_limit:
        entry["measurement_error"] = "; ".join(above_limit)
        if rejected is not None:
            entry["flop_per_cycle_rejected"] = rounded(rejected, 2)
    return entry


def _traffic_rate(result: KernelResult) -> float:
    """The ceiling in bytes actually moved (STREAM-convention ceiling x traffic / STREAM bytes)."""
    if result.bytes_traffic is None or result.bytes_stream is None:  # every GB/s result counts both (timing.Work)
        raise ValueError(f"{result.name}: a bandwidth result without its byte counts")
    return result.summary.ceiling * result.bytes_traffic / result.bytes_stream


def memory_entry(results: list[KernelResult], theory: MemoryTheory, warnings: list[str],
                 reports_throttling: bool = False) -> MemoryLevel:
    """The ceiling of one memory level: the kernel whose ceiling moved the most bytes per second (traffic),
    and the kernel with the highest ceiling by the STREAM convention."""
    top = max(results, key=_traffic_rate)
    top_stream = max(results, key=lambda r: r.summary.ceiling)
    measured = _traffic_rate(top)
    clock = top.clocks_mhz.get(theory.clock) if theory.clock else None
    efficiency = measured / theory.gbps if theory.gbps else None
    entry: MemoryLevel = {
        "theoretical_gbps": rounded(theory.gbps),
        "theoretical_source": theory.source,
        "measured_gbps": rounded(measured),
        "noise": rounded(result_noise(top), 4),
        "kernel": top.name,
        "counting": theory.counting,
        "measured_stream_gbps": rounded(top_stream.summary.ceiling),
        "stream_kernel": top_stream.name,
        "efficiency": rounded(efficiency, 4),
        "clock_mhz": rounded(clock, 1),
        "bytes_per_cycle": rounded(measured * 1e3 / clock, 1) if clock else None,
        "bytes_per_cycle_clock": theory.clock if clock else None,
        "throttled": _throttled(top, reports_throttling, warnings),
    }
    if efficiency is not None and efficiency > 1 + LIMIT_TOLERANCE:  # a paper bandwidth is a hard limit
        entry["measurement_error"] = (f"measured {measured:.1f} GB/s is above the theoretical {theory.gbps:.1f} GB/s "
                                      f"({theory.source})")
        warnings.append(f"{top.level}: measurement error, not a ceiling: {entry['measurement_error']}")
    return entry


def run_ceilings(results: list[KernelResult], compute: dict[str, ComputeEntry]) -> dict[str, RunCeiling]:
    """Each kernel's own ceiling in this run, in its unit and convention (bandwidth: STREAM, as timelines
    count), for comparing a sustained timeline of the same kernel with it."""
    found: dict[str, RunCeiling] = {}
    for result in results:
        key = next((f"compute.{precision}.measured_gflops" for precision, entry in compute.items()
                    if entry["kernel"] == result.name), f"kernels[{result.name}].ceiling")
        clock = result.clocks_mhz.get("core") or result.clocks_mhz.get("SM")  # the clock a timeline reads
        found.setdefault(result.name, RunCeiling(result.summary.ceiling, top_spread(result.summary.samples), clock,
                                                 key))
    return found


def build_profile(m: SessionRecord, host: Host) -> ProfileData:
    """The schema-1 profile of a session record of any device (a plain dict, ready for YAML)."""
    warnings = list(m.warnings)
    compute = {result.precision: compute_entry(result.precision, result, m.compute_theory[result.precision],
                                               warnings, m.reports_throttling)
               for result in m.results if result.unit == "GFLOP/s" and result.precision in m.compute_theory
               and result.name not in m.instruction_theory}  # instruction peaks have their own section
    by_level: dict[str, list[KernelResult]] = {}
    for result in m.results:
        if result.unit == "GB/s":
            by_level.setdefault(result.level, []).append(result)
    memory = {level: memory_entry(results, m.memory_theory.get(level, MEASURED_ONLY), warnings, m.reports_throttling)
              for level, results in by_level.items()}
    if m.device.get("sms"):  # GPU levels clocked by the SM clock: bytes per cycle per SM too
        for entry in memory.values():
            per_cycle = entry.get("bytes_per_cycle")
            if entry.get("bytes_per_cycle_clock") == "SM" and per_cycle is not None:
                entry["bytes_per_cycle_per_sm"] = rounded(per_cycle / m.device["sms"], 2)
    caches: CachesSection | None = None
    if m.cache_sweep is not None:  # memory.l1/l2/l3 and the caches section
        levels, caches = cache_levels(m.cache_sweep, m.device, m.clock, warnings)
        memory = {**levels, **memory}
    dram = memory.get("dram")
    dram_gbps = (dram["theoretical_gbps"], dram["measured_gbps"]) if dram else (None, None)
    ridge: dict[str, RidgeEntry] = {
        precision: {"theoretical": rounded(ridge_point(entry["theoretical_gflops"], dram_gbps[0])),
                    "measured": rounded(ridge_point(entry["measured_gflops"], dram_gbps[1]))}
        for precision, entry in compute.items()}
    latency: LatencySection | None = None
    if m.latency is not None:  # memory.<level>.latency_* and the latency section
        found = latency_levels(m.latency, m.device, m.clock, warnings)
        memory = merge_levels(memory, found)
        latency = latency_section(m.latency, found)
    extra: ProfileOptional = {}
    if m.sustained is not None:
        extra = sustained_extra(list(m.sustained.timelines), m.sustained.seconds, m.sustained.interval,
                                m.sustained.clock_method, warnings, run_ceilings(m.results, compute))
    instructions = instruction_section(m, warnings)
    rule = CEILING_RULE + ("; memory levels found by the cache sweep (l1, l2, l3) are plateaus of its curves "
                           "(caches.plateau_rule)" if caches else "")
    # The optional keys, each where it applies; the YAML keeps the order of the literal below.
    label: ProfileOptional = {"node_label": host.node_label} if host.node_label else {}
    peaks: ProfileOptional = {"instruction_peaks": instructions} if instructions else {}
    sweeps: ProfileOptional = {"caches": caches} if caches else {}
    if m.intensity_sweep:
        sweeps["intensity_sweep"] = intensity_section(m.intensity_sweep, compute, memory)
    if latency:
        sweeps["latency"] = latency
    return {
        "schema_version": SCHEMA_VERSION, "hwbench_version": host.hwbench_version,
        "created_at": host.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "host": host.name,
        **label,
        "device": {**m.device, "os": host.os},
        "run": m.run,
        "clock": m.clock,
        "headline_rule": rule,
        "compute": compute,
        "memory": memory,
        "ridge_point": ridge,
        **peaks,
        "kernels": [kernel_entry(r) for r in m.results],
        **extra,
        **sweeps,
        "warnings": warnings,
    }
