"""The CPU session: inspect the CPU, pin one worker per selected CPU, run each kernel family, and hand a
device-neutral ``SessionRecord`` (with the inputs of every theoretical figure) to the profile builder.

Order of a run: inspect the CPU, choose the CPUs, start one pinned worker per CPU, then each family in
catalog order through ``FAMILIES`` (STREAM: allocate, first-touch, measure; FMA: measure, then the clock
under load), then the sustained timelines. Nothing here formats output or writes the profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from .. import catalog
from ..record import (
    CacheSweep,
    ComputeTheory,
    IntensityCurve,
    LatencyRecord,
    MemoryTheory,
    ProgressCallback,
    SessionRecord,
    Sustained,
)
from ..stats import KernelResult, RepetitionPolicy, Timeline, rounded, spread_warnings
from . import caches, fma, intensity, latency, lowp, mix, stream
from .clock import CROSS_CHECK_TOLERANCE, ClockResult
from .contention import contention_between, cpu_limit, read_ticks
from .family import CpuContext, CpuRunOptions
from .features import skip_reasons
from .machine import CpuInfo, inspect_cpu
from .pinning import physical_core_count, read_topology, select_cpus
from .smbios import DramTheory, dram_theory
from .theory import CoreModel, assumed_core, identify_core
from .workers import PinnedPool

# Kernel family (catalog ``Kernel.family``) -> the module that measures it. Adding a family: a module with
# ``planned_steps`` and ``run_family``, one line here, and its kernels in the catalog.
FAMILIES: dict[str, ModuleType] = {"stream": stream, "fma": fma, "caches": caches, "intensity": intensity,
                                   "lowp": lowp, "mix": mix, "latency": latency}


DRAM_COUNTING = "actual traffic: bytes read + written + write-allocate reads for temporal stores"
LOW_PER_CYCLE_CAUSE = ("The FMA units are shared (a busy SMT sibling, or a hypervisor placing vCPUs on one "
                       "physical core) or the core model is wrong: run with --threads 1 to compare")


@dataclass(frozen=True)
class CpuRun:
    """The facts of one CPU run, before they are put in profile terms (``to_measurement``)."""

    cpu: CpuInfo
    core: CoreModel
    core_known: bool
    cpus: list[int]
    physical_cores: int
    pinning: str
    quick: bool
    policy: RepetitionPolicy
    array_elements: int
    results: list[KernelResult]
    clock: ClockResult | None
    warnings: list[str]
    sustained: tuple[Timeline, ...] = ()
    sustained_seconds: float | None = None
    sustained_interval: float | None = None
    cache_sweep: CacheSweep | None = None
    intensity_sweep: tuple[IntensityCurve, ...] = ()
    selected: tuple[catalog.Kernel, ...] = ()
    latency: LatencyRecord | None = None
    contention: dict | None = None  # the whole run's contention.Contention, and the CPU quota (cpu_limit)


def set_up(options: CpuRunOptions) -> tuple[CpuInfo, CoreModel, bool, list[int]]:
    """The session's set-up before any worker starts (``run_cpu``'s, and ``hwbench.benchmarking``'s): the CPU,
    its core model and whether hwbench's table knows it (else ``assumed_core``), and the CPUs chosen."""
    cpu = inspect_cpu()
    cpus = select_cpus(options.threads, options.cpus, options.pinning)
    known = identify_core(cpu)
    return cpu, known or assumed_core(cpu), known is not None, cpus


def run_cpu(options: CpuRunOptions, progress: ProgressCallback | None = None) -> CpuRun:
    """Measure every selected kernel on pinned threads; every result validated."""
    report = progress or (lambda label, index, total: None)
    cpu, core, known, cpus = set_up(options)
    policy = RepetitionPolicy.for_mode(options.quick)
    families = catalog.by_family(options.kernels, FAMILIES)
    counter = {"step": 0, "total": 0}

    def step(label: str) -> None:
        report(label, counter["step"], counter["total"])
        counter["step"] += 1

    results: list[KernelResult] = []
    timelines: list[Timeline] = []
    clock, elements, sweep = None, 0, None
    curves: list[IntensityCurve] = []
    latency_run = None
    limit = cpu_limit()
    before, throttled = read_ticks(), limit.throttled_seconds()
    with PinnedPool(cpus) as pool:
        context = CpuContext(options, policy, cpu, core, cpus, pool, step)
        counter["total"] = sum(FAMILIES[name].planned_steps(context, kernels) for name, kernels in families.items())
        for name, kernels in families.items():
            run = FAMILIES[name].run_family(context, kernels)
            results += run.results
            timelines += run.timelines
            clock = run.clock or clock
            elements = run.array_elements or elements
            sweep = run.cache_sweep or sweep
            curves += run.intensity_curves
            latency_run = run.latency or latency_run
        report("done", counter["total"], counter["total"])
    held = limit.throttled_seconds()
    held = None if throttled is None or held is None else held - throttled
    window = contention_between(before, read_ticks(), cpus, held)
    contention = {**(window.as_dict() if window else {}), "cpu_limit": limit.as_dict()}
    warnings = context.warnings + spread_warnings(results, options.quick)
    timelines.sort(key=lambda t: t.unit != "GFLOP/s")  # compute timelines first, as the profile lists them
    return CpuRun(cpu, core, known, cpus, physical_core_count(read_topology(set(cpus))),
                  options.pinning, options.quick, policy, elements, results, clock, warnings, tuple(timelines),
                  options.sustain_seconds, options.sustain_interval if timelines else None, sweep, tuple(curves),
                  tuple(options.kernels), latency_run, contention)


def compute_theory(run: CpuRun, precision: str) -> ComputeTheory:
    """cores x nominal clock x FLOP per cycle (FMA units x lanes x 2), with the source of every factor."""
    cpu, core, cores = run.cpu, run.core, run.physical_cores
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


def to_measurement(run: CpuRun, dram: DramTheory) -> SessionRecord:
    """The device-neutral measurement of a CPU run: its facts and the inputs of every paper figure."""
    cpu, core = run.cpu, run.core
    warnings = list(run.warnings)
    if not run.core_known:
        warnings.append(f"micro-architecture not in hwbench's table ({core.name}): theoretical peaks assume "
                        f"2 FMA units of {core.simd_bits} bits; report the CPU to get it added")
    probe = run.clock
    under_load = probe.trusted_under_load if probe else {}
    device = {
        "id": "cpu", "name": cpu.name, "vendor": cpu.vendor, "arch": cpu.arch, "family": cpu.family,
        "model": cpu.model, "cores": run.physical_cores, "threads": len(run.cpus), "simd": cpu.widest_simd_bits,
        "isa": cpu.isa, "caches": cpu.caches, "l3_total_bytes": cpu.l3_total_bytes, "memory_bytes": cpu.memory_bytes,
        "core_model": {"name": core.name, "fma_units": core.fma_units, "simd_bits": core.simd_bits,
                       "source": core.source, "known": run.core_known},
        "sources": cpu.sources,
    }
    run_section = {
        "threads": len(run.cpus), "cpus": run.cpus, "pinning": run.pinning, "prefault": True, "quick": run.quick,
        "array_bytes": run.array_elements * 8 if run.array_elements else None,
        "repetitions": run.policy.as_dict(),
        **({"contention": run.contention} if run.contention else {}),
    }
    clock = {
        "nominal_mhz": rounded(cpu.nominal_mhz, 1), "nominal_source": cpu.nominal_source,
        "measured_mhz": rounded(min(under_load.values()), 1) if under_load else None,
        **({"noise": rounded(clock_noise(under_load, probe.under_load_noise), 4)}
           if probe and probe.under_load_noise and under_load else {}),
        "measured_under": "FMA kernel on every selected core (lowest over precisions)" if under_load else None,
        "scalar_mhz": rounded(probe.scalar_mhz, 1) if probe and not probe.failure else None,
        "tsc_mhz": rounded(probe.tsc_mhz, 1) if probe else None,
        "method": probe.method if probe else None,
    }
    if probe and probe.cross_check_mhz is not None:
        clock["cross_check_mhz"] = {state: rounded(mhz, 1) for state, mhz in probe.cross_check_mhz.items()}
        clock["probe_status"] = (f"failed: {probe.failure}" if probe.failure else
                                 f"ok: the add and multiply chains agree within {CROSS_CHECK_TOLERANCE:.0%}")
        if probe.failure:  # kept to diagnose the probe, never used as a clock
            clock["untrusted_mhz"] = {"scalar": rounded(probe.scalar_mhz, 1),
                                      **{p: rounded(mhz, 1) for p, mhz in probe.under_load_mhz.items()}}
    precisions = {r.precision for r in run.results if r.unit == "GFLOP/s" and r.name not in lowp.KERNELS
                  and r.name not in mix.KERNELS}
    lowp_results = [r for r in run.results if r.name in lowp.KERNELS]
    if lowp_results and (classes := lowp.clock_by_instruction_class(probe, core, lowp_results)):
        clock["by_instruction_class"] = classes
    results = [mix.with_fma_clock(probe, r) if r.name in mix.KERNELS else r for r in run.results]
    mix_results = [r for r in results if r.name in mix.KERNELS]
    sustained = None
    if run.sustained:
        sustained = Sustained(run.sustained, run.sustained_seconds, run.sustained_interval,
                              "FMA timeline: the add-chain probe interleaved with the FMA kernel, as clock.method; "
                              "bandwidth timeline: no clock (the cores wait on memory)")
    return SessionRecord(device, run_section, clock, results,
                       {p: compute_theory(run, p) for p in sorted(precisions)},
                       {"dram": MemoryTheory(dram.gbps, dram.source, DRAM_COUNTING)}, warnings, sustained,
                       cache_sweep=run.cache_sweep, intensity_sweep=run.intensity_sweep,
                       instruction_theory={**{r.name: lowp.instruction_theory(cpu, core, run.core_known,
                                                                              run.physical_cores, r)
                                              for r in lowp_results},
                                           **{r.name: mix.mix_theory(cpu, core, run.core_known, run.physical_cores, r,
                                                                     compute_theory(run, r.precision))
                                              for r in mix_results}},
                       instruction_skipped=skip_reasons([k for k in run.selected if k.family == "lowp"], cpu.flags,
                                                        cpu.arch),
                       latency=run.latency)


def measure_cpu(options: CpuRunOptions, progress: ProgressCallback | None = None) -> SessionRecord:
    """``hwbench run --device cpu``: run, then read the DRAM paper figure (SMBIOS) and assemble."""
    return to_measurement(run_cpu(options, progress), dram_theory())



__all__ = ["CpuRun", "CpuRunOptions", "FAMILIES", "measure_cpu", "run_cpu", "set_up", "to_measurement"]
