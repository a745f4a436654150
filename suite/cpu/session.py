"""The CPU session: inspect the CPU, pin one worker per selected CPU, run each kernel family, and hand a
device-neutral ``SessionRecord`` (with the inputs of every theoretical figure) to the profile builder.

Order of a session: inspect the CPU, choose the CPUs, start one pinned worker per CPU, then each selected
family in catalog order through the family protocol (``hwbench.family``; STREAM: allocate, first-touch,
time; FMA: time, then the clock under load), then the sustained timelines. Nothing here formats output or
writes the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from ..family import Plan, merged
from ..record import (
    CacheSweep,
    ClockSection,
    ComputeTheory,
    DeviceSection,
    IntensityCurve,
    LatencyRecord,
    MemoryTheory,
    ProgressCallback,
    RunContention,
    RunSection,
    SessionRecord,
    Sustained,
)
from ..stats import KernelResult, RepetitionPolicy, Timeline, rounded, spread_warnings
from . import caches, fma, intensity, latency, lowp, mix, stream
from .clock import CROSS_CHECK_TOLERANCE, ClockResult
from .contention import cpu_limit, in_window
from .family import CpuContext, CpuFamily, CpuFamilyResult, CpuOptions
from .machine import CpuInfo, inspect_cpu
from .pinning import physical_core_count, read_topology, select_cpus
from .smbios import DramTheory, dram_theory
from .theory import CoreModel, assumed_core, identify_core
from .workers import PinnedPool

# Every CPU family (``hwbench.family``). Adding a family: a module that declares its ``FAMILY``, one entry
# here, and its kernels in the catalog.
FAMILIES: tuple[CpuFamily, ...] = (stream.FAMILY, fma.FAMILY, caches.FAMILY, intensity.FAMILY, lowp.FAMILY,
                                   mix.FAMILY, latency.FAMILY)


DRAM_COUNTING = "actual traffic: bytes read + written + write-allocate reads for temporal stores"
LOW_PER_CYCLE_CAUSE = ("The FMA units are shared (a busy SMT sibling, or a hypervisor placing vCPUs on one "
                       "physical core) or the core model is wrong: run with --threads 1 to compare")


@dataclass(frozen=True)
class CpuResult:
    """The facts of one CPU session, before they are put in profile terms (``to_record``)."""

    cpu: CpuInfo
    core: CoreModel
    core_known: bool
    cpus: list[int]
    physical_cores: int
    pinning: str
    quick: bool
    policy: RepetitionPolicy
    array_bytes: int | None  # per STREAM array; None without the stream family
    results: list[KernelResult]
    clock: ClockResult | None
    warnings: list[str]
    sustained: tuple[Timeline, ...] = ()
    sustain_seconds: float | None = None
    sustain_interval: float | None = None
    cache_sweep: CacheSweep | None = None
    intensity_sweep: tuple[IntensityCurve, ...] = ()
    instruction_skipped: dict[str, str] = field(default_factory=dict)  # low-precision kernel -> why not run here
    latency: LatencyRecord | None = None
    contention: dict | None = None  # the whole run's contention.Contention, and the CPU quota (cpu_limit)


def set_up(options: CpuOptions) -> tuple[CpuInfo, CoreModel, bool, list[int]]:
    """The session's set-up before any worker starts (``measure_families``'s, and ``hwbench.benchmarking``'s): the CPU,
    its core model and whether hwbench's table knows it (else ``assumed_core``), and the CPUs chosen."""
    cpu = inspect_cpu()
    cpus = select_cpus(options.threads, options.cpus, options.pinning)
    known = identify_core(cpu)
    return cpu, known or assumed_core(cpu), known is not None, cpus


def measure_families(options: CpuOptions, progress: ProgressCallback | None = None) -> CpuResult:
    """Time every selected kernel on pinned threads, family by family; every result checked."""
    report = progress or (lambda label, index, total: None)
    cpu, core, known, cpus = set_up(options)
    policy = RepetitionPolicy.for_mode(options.quick)
    plan = Plan.of(FAMILIES, options.kernels, options.sustain_seconds, options.sustain_interval)
    counter = {"step": 0, "total": 0}

    def step(label: str) -> None:
        report(label, counter["step"], counter["total"])
        counter["step"] += 1

    limit = cpu_limit()

    def measure_all() -> tuple[CpuContext, list[CpuFamilyResult], tuple[Timeline, ...]]:
        with PinnedPool(cpus) as pool:
            context = CpuContext(options, policy, cpu, core, cpus, pool, step)
            counter["total"] = plan.steps(context)
            families, timelines = plan.run(context, step)
            report("done", counter["total"], counter["total"])
        return context, families, timelines

    (context, families, timelines), window = in_window(cpus, limit, measure_all)  # the whole run's contention
    found = merged(families)
    contention = {**(window.as_dict() if window else {}), "cpu_limit": limit.as_dict()}
    results = list(found.results)
    warnings = context.warnings + spread_warnings(results, options.quick)
    return CpuResult(cpu, core, known, cpus, physical_core_count(read_topology(set(cpus))),
                     options.pinning, options.quick, policy, found.array_bytes, results, found.clock, warnings,
                     timelines, options.sustain_seconds, options.sustain_interval if timelines else None,
                     found.cache_sweep, found.intensity_curves, dict(found.instruction_skipped), found.latency,
                     contention)


def compute_theory(result: CpuResult, precision: str) -> ComputeTheory:
    """cores x nominal clock x FLOP per cycle (FMA units x lanes x 2), with the source of every factor."""
    cpu, core, cores = result.cpu, result.core, result.physical_cores
    fpc = core.flop_per_cycle(precision)
    lanes = core.simd_bits // (64 if precision == "fp64" else 32)
    source = (f"{cores} cores x {cpu.nominal_mhz:.0f} MHz ({cpu.nominal_source}) x {fpc} FLOP/cycle "
              f"({core.fma_units} FMA units x {lanes} lanes x 2); core: {core.name}, {core.source}"
              if cpu.nominal_mhz else f"unknown: {cpu.nominal_source}")
    return ComputeTheory(units=cores, per="core", clock="core",
                         clock_source="add-chain probe interleaved with the FMA kernel (clock.method)",
                         flop_per_cycle=fpc, nominal_mhz=cpu.nominal_mhz, nominal_source=cpu.nominal_source,
                         source=source, low_per_cycle_cause=LOW_PER_CYCLE_CAUSE)


def clock_noise(under_load: dict[str, float], noise: dict[str, float]) -> float:
    """The noise of the clock under FMA load: the largest spread of one precision's probed calls, or the spread
    between the precisions' clocks (two readings of one state: measured_mhz is their lowest), if larger."""
    return max(max(noise.values()), (max(under_load.values()) - min(under_load.values())) / max(under_load.values()))


def to_record(result: CpuResult, dram: DramTheory) -> SessionRecord:
    """The device-neutral record of a CPU session: its facts and the inputs of every paper figure."""
    cpu, core = result.cpu, result.core
    warnings = list(result.warnings)
    if not result.core_known:
        warnings.append(f"micro-architecture not in hwbench's table ({core.name}): theoretical peaks assume "
                        f"2 FMA units of {core.simd_bits} bits; report the CPU to get it added")
    probe = result.clock
    under_load = probe.trusted_under_load if probe else {}
    device: DeviceSection = {
        "id": "cpu", "name": cpu.name, "vendor": cpu.vendor, "arch": cpu.arch, "family": cpu.family,
        "model": cpu.model, "cores": result.physical_cores, "threads": len(result.cpus), "simd": cpu.widest_simd_bits,
        "isa": cpu.isa, "caches": cpu.caches, "l3_total_bytes": cpu.l3_total_bytes, "memory_bytes": cpu.memory_bytes,
        "core_model": {"name": core.name, "fma_units": core.fma_units, "simd_bits": core.simd_bits,
                       "source": core.source, "known": result.core_known},
        "sources": cpu.sources,
    }
    run_section: RunSection = {
        "threads": len(result.cpus), "cpus": result.cpus, "pinning": result.pinning, "prefault": True,
        "quick": result.quick, "array_bytes": result.array_bytes,
        "repetitions": result.policy.as_dict(),
    }
    if result.contention:
        run_section["contention"] = cast(RunContention, result.contention)
    clock = cast(ClockSection, {  # a literal with an optional key in place, so the file's key order is kept
        "nominal_mhz": rounded(cpu.nominal_mhz, 1), "nominal_source": cpu.nominal_source,
        "measured_mhz": rounded(min(under_load.values()), 1) if under_load else None,
        **({"noise": rounded(clock_noise(under_load, probe.under_load_noise), 4)}
           if probe and probe.under_load_noise and under_load else {}),
        "measured_under": "FMA kernel on every selected core (lowest over precisions)" if under_load else None,
        "scalar_mhz": rounded(probe.scalar_mhz, 1) if probe and not probe.failure else None,
        "tsc_mhz": rounded(probe.tsc_mhz, 1) if probe else None,
        "method": probe.method if probe else None,
    })
    if probe and probe.cross_check_mhz is not None:
        clock["cross_check_mhz"] = {state: rounded(mhz, 1) for state, mhz in probe.cross_check_mhz.items()}
        clock["probe_status"] = (f"failed: {probe.failure}" if probe.failure else
                                 f"ok: the add and multiply chains agree within {CROSS_CHECK_TOLERANCE:.0%}")
        if probe.failure:  # kept to diagnose the probe, never used as a clock
            clock["untrusted_mhz"] = {"scalar": rounded(probe.scalar_mhz, 1),
                                      **{p: rounded(mhz, 1) for p, mhz in probe.under_load_mhz.items()}}
    precisions = {r.precision for r in result.results if r.unit == "GFLOP/s" and r.name not in lowp.KERNELS
                  and r.name not in mix.KERNELS}
    lowp_results = [r for r in result.results if r.name in lowp.KERNELS]
    if lowp_results and (classes := lowp.clock_by_instruction_class(probe, core, lowp_results)):
        clock["by_instruction_class"] = classes
    results = [mix.with_fma_clock(probe, r) if r.name in mix.KERNELS else r for r in result.results]
    mix_results = [r for r in results if r.name in mix.KERNELS]
    sustained = None
    if result.sustained:
        sustained = Sustained(result.sustained, result.sustain_seconds, result.sustain_interval,
                              "FMA timeline: the add-chain probe interleaved with the FMA kernel, as clock.method; "
                              "bandwidth timeline: no clock (the cores wait on memory)")
    return SessionRecord(device, run_section, clock, results,
                       {p: compute_theory(result, p) for p in sorted(precisions)},
                       {"dram": MemoryTheory(dram.gbps, dram.source, DRAM_COUNTING)}, warnings, sustained,
                       cache_sweep=result.cache_sweep, intensity_sweep=result.intensity_sweep,
                       instruction_theory={**{r.name: lowp.instruction_theory(cpu, core, result.core_known,
                                                                              result.physical_cores, r)
                                              for r in lowp_results},
                                           **{r.name: mix.mix_theory(cpu, core, result.core_known,
                                                                     result.physical_cores, r,
                                                                     compute_theory(result, r.precision))
                                              for r in mix_results}},
                       instruction_skipped=result.instruction_skipped,
                       latency=result.latency)


def measure_cpu(options: CpuOptions, progress: ProgressCallback | None = None) -> SessionRecord:
    """``hwbench run --device cpu``: time the families, then read the DRAM paper figure (SMBIOS) and assemble."""
    return to_record(measure_families(options, progress), dram_theory())



__all__ = ["FAMILIES", "CpuOptions", "CpuResult", "measure_cpu", "measure_families", "set_up", "to_record"]
