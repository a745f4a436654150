"""Turn a CPU measurement into profile data: theoretical and measured ceilings side by side.

Every figure carries where it came from: the kernel that measured it, how bytes and FLOPs were counted,
the clock and its source, and the formula of each theoretical number.
"""

from __future__ import annotations

import datetime as dt
import platform
import socket
from typing import TYPE_CHECKING

from . import __version__
from .profile import SCHEMA_VERSION
from .smbios import DramTheory
from .stats import KernelResult
from .sustain import sustained_extra
from .theory import peak_gflops, ridge_point

if TYPE_CHECKING:  # the CPU runner (numba) is needed only to produce a measurement, not to read one
    from .cpu_runner import CpuMeasurement

PRECISIONS = ("fp64", "fp32")
LOW_FLOP_PER_CYCLE = 0.75  # below this share of the theoretical FLOP/cycle, a cause other than the clock


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def kernel_entry(result: KernelResult) -> dict:
    s = result.summary
    return {
        "name": result.name, "precision": result.precision, "level": result.level, "unit": result.unit,
        "best": _round(s.best), "median": _round(s.median), "min": _round(s.min), "max": _round(s.max),
        "cv": _round(s.cv, 5), "repetitions": s.repetitions, "samples": [_round(x) for x in s.samples],
        "working_set_bytes": result.working_set_bytes, "bytes_stream": result.bytes_stream,
        "bytes_traffic": result.bytes_traffic, "flops": result.flops, "validated": result.validated,
        "details": result.details,
    }


def _compute_entry(m: CpuMeasurement, precision: str, result: KernelResult, warnings: list[str]) -> dict:
    cores = m.physical_cores
    fpc_theory = m.core.flop_per_cycle(precision)
    nominal = m.cpu.nominal_mhz
    theoretical = peak_gflops(cores, nominal, fpc_theory) if nominal else None
    clock = m.clock.under_load_mhz.get(precision) if m.clock else None
    at_clock = peak_gflops(cores, clock, fpc_theory) if clock else None
    measured = result.summary.best
    efficiency = measured / theoretical if theoretical else None
    if efficiency is not None and efficiency > 1.0:
        warnings.append(
            f"{precision}: measured {measured:.1f} GFLOP/s exceeds the theoretical peak at the nominal clock "
            f"({theoretical:.1f} GFLOP/s, efficiency {efficiency:.2f}): the nominal clock ({nominal:.0f} MHz, "
            f"{m.cpu.nominal_source}) is below the clock the cores ran at"
            + (f" ({clock:.0f} MHz measured); compare with theoretical_at_measured_clock_gflops" if clock else ""))
    per_cycle = measured * 1e3 / (cores * clock) if clock else None
    if per_cycle is not None and per_cycle < LOW_FLOP_PER_CYCLE * fpc_theory:
        warnings.append(
            f"{precision}: {per_cycle:.1f} FLOP per cycle per core at {clock:.0f} MHz, against {fpc_theory} "
            "possible: the clock is not the cause. The FMA units are shared (a busy SMT sibling, or a hypervisor "
            "placing vCPUs on one physical core) or the core model is wrong: run with --threads 1 to compare")
    return {
        "kernel": result.name,
        "theoretical_gflops": _round(theoretical),
        "theoretical_source": (f"{cores} cores x {nominal:.0f} MHz ({m.cpu.nominal_source}) x "
                               f"{fpc_theory} FLOP/cycle ({m.core.fma_units} FMA units x "
                               f"{m.core.simd_bits // (64 if precision == 'fp64' else 32)} lanes x 2); "
                               f"core: {m.core.name}, {m.core.source}") if nominal else
                              f"unknown: {m.cpu.nominal_source}",
        "theoretical_at_measured_clock_gflops": _round(at_clock),
        "measured_gflops": _round(measured),
        "efficiency": _round(efficiency, 4),
        "efficiency_at_measured_clock": _round(measured / at_clock, 4) if at_clock else None,
        "clock_mhz": _round(clock, 1),
        "flop_per_cycle": _round(per_cycle, 2),
        "flop_per_cycle_theoretical": fpc_theory,
    }


def _dram_entry(m: CpuMeasurement, dram: DramTheory) -> dict | None:
    bandwidth = [r for r in m.results if r.unit == "GB/s" and r.level == "dram"]
    if not bandwidth:
        return None

    def traffic_rate(r: KernelResult) -> float:
        return r.summary.best * r.bytes_traffic / r.bytes_stream

    top = max(bandwidth, key=traffic_rate)
    top_stream = max(bandwidth, key=lambda r: r.summary.best)
    return {
        "theoretical_gbps": _round(dram.gbps),
        "theoretical_source": dram.source,
        "measured_gbps": _round(traffic_rate(top)),
        "kernel": top.name,
        "counting": "actual traffic: bytes read + written + write-allocate reads for temporal stores",
        "measured_stream_gbps": _round(top_stream.summary.best),
        "stream_kernel": top_stream.name,
        "efficiency": _round(traffic_rate(top) / dram.gbps, 4) if dram.gbps else None,
    }


def profile_header(now: dt.datetime) -> dict:
    """The keys every profile starts with."""
    return {"schema_version": SCHEMA_VERSION, "hwbench_version": __version__,
            "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "host": socket.gethostname()}


def cpu_profile(m: CpuMeasurement, dram: DramTheory, now: dt.datetime | None = None) -> dict:
    """The schema-1 profile of a CPU measurement (a plain dict, ready for YAML)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    warnings = list(m.warnings)
    if not m.core_known:
        warnings.append(f"micro-architecture not in hwbench's table ({m.core.name}): theoretical peaks assume "
                        f"2 FMA units of {m.core.simd_bits} bits; report the CPU to get it added")
    by_name = {r.name: r for r in m.results}
    compute = {p: _compute_entry(m, p, by_name[f"fma_{p}"], warnings)
               for p in PRECISIONS if f"fma_{p}" in by_name}
    memory = {}
    dram_entry = _dram_entry(m, dram)
    if dram_entry:
        memory["dram"] = dram_entry
    ridge = {}
    for precision, entry in compute.items():
        ridge[precision] = {
            "theoretical": _round(ridge_point(entry["theoretical_gflops"], dram.gbps)),
            "measured": _round(ridge_point(entry["measured_gflops"], dram_entry and dram_entry["measured_gbps"])),
        }
    under_load = m.clock.under_load_mhz if m.clock else {}
    cpu = m.cpu
    extra = sustained_extra(
        list(m.sustained), m.sustained_seconds, m.sustained_interval,
        "FMA timeline: the add-chain probe interleaved with the FMA kernel, as clock.method; bandwidth "
        "timeline: no clock (the cores wait on memory)", warnings)
    return {
        **profile_header(now),
        "device": {
            "id": "cpu", "name": cpu.name, "vendor": cpu.vendor, "arch": cpu.arch,
            "family": cpu.family, "model": cpu.model,
            "cores": m.physical_cores, "threads": len(m.cpus), "simd": cpu.widest_simd_bits, "isa": cpu.isa,
            "caches": cpu.caches, "l3_total_bytes": cpu.l3_total_bytes, "memory_bytes": cpu.memory_bytes,
            "core_model": {"name": m.core.name, "fma_units": m.core.fma_units, "simd_bits": m.core.simd_bits,
                           "source": m.core.source, "known": m.core_known},
            "os": f"{platform.system()} {platform.release()}",
            "sources": cpu.sources,
        },
        "run": {
            "threads": len(m.cpus), "cpus": m.cpus, "pinning": m.pinning, "prefault": True, "quick": m.quick,
            "array_bytes": m.array_elements * 8 if m.array_elements else None,
            "repetitions": m.policy.as_dict(),
        },
        "clock": {
            "nominal_mhz": _round(cpu.nominal_mhz, 1), "nominal_source": cpu.nominal_source,
            "measured_mhz": _round(min(under_load.values()), 1) if under_load else None,
            "measured_under": "FMA kernel on every selected core (lowest over precisions)" if under_load else None,
            "scalar_mhz": _round(m.clock.scalar_mhz, 1) if m.clock else None,
            "tsc_mhz": _round(m.clock.tsc_mhz, 1) if m.clock else None,
            "method": m.clock.method if m.clock else None,
        },
        "compute": compute,
        "memory": memory,
        "ridge_point": ridge,
        "kernels": [kernel_entry(r) for r in m.results],
        **extra,
        "warnings": warnings,
    }
