"""The figures of a profile that the compare gate reads: each with its unit, noise, direction and the run's
own evidence (see ``compare`` for the verdict).

A row source turns a profile's data into ``Ceiling`` figures. ``CEILING_SOURCES`` are the ceilings;
``FLEET_SOURCES`` (what 'hwbench fleet' reads) adds the latencies and the instruction peaks; ``ROW_SOURCES`` adds
the run's own figures (the CPU quota). To gate another kind of
figure, add a source that yields it with its direction (-1 where lower is better, e.g. a latency): the verdict
and the causes read nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..profile import Profile
from ..profile.types import ProfileMapping
from ..stats import ceiling_on_cpu, top_spread


@dataclass(frozen=True)
class Evidence:
    """A run's own evidence of what else had its cores (profile ``run.contention``, kernels' ``contention``)."""

    on_cpu: float | None = None  # the measuring threads' on-CPU share at the figure's ceiling samples
    other_work: float | None = None  # share of the measured cores used by other processes over the run
    steal: float | None = None  # share stolen by the hypervisor over the run
    throttled: float | None = None  # share of the run the cgroup's CPU quota held the process
    quota_cpus: float | None = None  # the CPUs the quota allows (None: no quota)
    quota_source: str | None = None


@dataclass(frozen=True)
class Ceiling:
    """One comparable figure of a profile."""

    key: str  # compute.fp64, memory.dram, clock, sustained.fma_fp64, cpu_quota
    unit: str
    value: float
    spread: float  # the figure's relative noise (see the module docstring; 0 when unknown)
    clock_mhz: float | None = None
    flop_per_cycle: float | None = None
    direction: int = 1  # +1: higher is better; -1: lower is better
    unstable: str | None = None  # why the figure cannot be trusted to compare (None: it can)
    evidence: Evidence = field(default_factory=Evidence)
    advisory: bool = False  # a worse figure fails only with --strict, or with --history on a throttle's cause
    #                         (compare.ADVISORY, compare.ADVISORY_CAUSE)
    run_to_run: float | None = None  # how far quiet runs of this machine fell from their median (noise.py)
    typical: float | None = None  # the figure's median over those runs (noise.py)

    @property
    def within_run_only(self) -> bool:
        """An advisory figure whose noise is within-run only (no --history covered it): its change is not gated."""
        return self.advisory and self.run_to_run is None

    @property
    def noise(self) -> float:
        """The noise the gate reads: the larger of the recorded (within-run) and the run-to-run noise."""
        return max(self.spread, self.run_to_run or 0.0)


def _kernel(data: ProfileMapping, name: str | None) -> dict:
    return next((k for k in data.get("kernels", []) if k.get("name") == name), {})


def _noise(data: ProfileMapping, entry: dict) -> float:
    """The figure's recorded ``noise``, else its kernel's top spread (profiles written before figures had one)."""
    if entry.get("noise") is not None:
        return float(entry["noise"])
    kernel = _kernel(data, entry.get("kernel"))
    if kernel.get("samples"):
        return top_spread(kernel["samples"])
    ceiling, median = kernel.get("ceiling"), kernel.get("median")
    if ceiling and median is not None:
        return max(0.0, (ceiling - median) / ceiling)
    return float(kernel.get("cv") or 0.0)  # the cv of all the samples: the only (wider) estimate recorded


def _run_evidence(data: ProfileMapping, on_cpu: float | None = None) -> Evidence:
    found = (data.get("run") or {}).get("contention") or {}
    limit = found.get("cpu_limit") or {}
    return Evidence(on_cpu, found.get("other_work"), found.get("steal"), found.get("throttled"), limit.get("cpus"),
                    limit.get("source"))


def kernel_on_cpu(kernel: dict) -> float | None:
    """``stats.ceiling_on_cpu`` of a profile's kernel entry (its samples and ``contention.on_cpu``)."""
    return ceiling_on_cpu(kernel.get("samples") or (), (kernel.get("contention") or {}).get("on_cpu"))


def _unstable(entry: Mapping[str, Any]) -> str | None:
    """Why a ceiling whose headline and probed run disagreed cannot be compared (its ``stability``), else None."""
    stability = entry.get("stability") or {}
    return (f"unstable: {stability.get('cause') or 'its headline and probed run disagreed'}"
            if stability.get("status") == "unstable" else None)


def compute_rows(data: ProfileMapping) -> Iterable[Ceiling]:
    for precision, entry in data.get("compute", {}).items():
        if entry.get("measured_gflops") is None:
            continue
        unstable = _unstable(entry)
        yield Ceiling(f"compute.{precision}", "GFLOP/s", float(entry["measured_gflops"]), _noise(data, entry),
                      entry.get("clock_mhz"), entry.get("flop_per_cycle"), unstable=unstable,
                      evidence=_run_evidence(data, kernel_on_cpu(_kernel(data, entry.get("kernel")))))


def memory_rows(data: ProfileMapping) -> Iterable[Ceiling]:
    for level, entry in data.get("memory", {}).items():
        if entry.get("measured_gbps") is not None:
            yield Ceiling(f"memory.{level}", "GB/s", float(entry["measured_gbps"]), _noise(data, entry),
                          evidence=_run_evidence(data, entry.get("on_cpu")))


def clock_rows(data: ProfileMapping) -> Iterable[Ceiling]:
    clock = reference_clock_mhz(data)
    if clock is not None:
        yield Ceiling("clock", "MHz", float(clock), float((data.get("clock") or {}).get("noise") or 0.0),
                      evidence=_run_evidence(data))


def sustained_rows(data: ProfileMapping) -> Iterable[Ceiling]:
    for name, entry in (data.get("sustained") or {}).get("kernels", {}).items():
        if entry.get("sustained") is not None:
            yield Ceiling(f"sustained.{name}", entry["unit"], float(entry["sustained"]),
                          float(entry.get("spread") or 0.0), entry.get("clock_sustained_mhz"),
                          evidence=_run_evidence(data))


def quota_rows(data: ProfileMapping) -> Iterable[Ceiling]:
    """The CPUs a cgroup quota leaves the measuring threads: min(quota / period, threads), or the threads when
    there is none (run.contention.cpu_limit; profiles written before it have no such row)."""
    contention = (data.get("run") or {}).get("contention") or {}
    threads = (data.get("run") or {}).get("threads")
    if "cpu_limit" not in contention or not threads:
        return
    cpus = contention["cpu_limit"].get("cpus")
    yield Ceiling("cpu_quota", "CPUs", float(threads if cpus is None else min(cpus, threads)), 0.0,
                  evidence=_run_evidence(data))


def latency_rows(data: ProfileMapping) -> Iterable[Ceiling]:
    """Load-to-use latency of each memory level (``memory.<level>.latency_ns``): lower is better, its noise the
    level's ``latency_spread`` ((median - ns) / median of the chase's samples)."""
    for level, entry in data.get("memory", {}).items():
        if entry.get("latency_ns") is not None:
            yield Ceiling(f"latency.{level}", "ns", float(entry["latency_ns"]),
                          float(entry.get("latency_spread") or 0.0), direction=-1, evidence=_run_evidence(data),
                          advisory=True)


def instruction_rows(data: ProfileMapping) -> Iterable[Ceiling]:
    """The instruction peaks (``instruction_peaks.peaks``: low-precision, tensor, add/multiply and library GEMM),
    each in its own unit (GFLOP/s or GOP/s, never mixed), with the clock and the FLOP or OP per cycle measured
    under it, so that compare's causes (clock or per-cycle) read them as they read the FMA ceilings."""
    for name, entry in ((data.get("instruction_peaks") or {}).get("peaks") or {}).items():
        if entry.get("measured") is not None:
            yield Ceiling(f"instruction.{name}", entry["unit"], float(entry["measured"]), _noise(data, entry),
                          entry.get("clock_mhz"), entry.get("op_per_cycle"), unstable=_unstable(entry),
                          evidence=_run_evidence(data), advisory=True)


RowSource = Callable[[ProfileMapping], Iterable[Ceiling]]
# The ceilings of a profile, then the run's own figures: the latencies, the instruction peaks and the CPU quota
# (compare and history gate on them all). 'hwbench fleet' reads FLEET_SOURCES: every one but the CPU quota (a
# property of the run's cgroup, not of the device).
CEILING_SOURCES: tuple[RowSource, ...] = (compute_rows, memory_rows, clock_rows, sustained_rows)
FLEET_SOURCES: tuple[RowSource, ...] = (*CEILING_SOURCES, latency_rows, instruction_rows)
ROW_SOURCES: tuple[RowSource, ...] = (*FLEET_SOURCES, quota_rows)


def ceilings_of(profile: Profile) -> dict[str, Ceiling]:
    """Every ceiling of a profile that two runs can be compared on, keyed like the profile's YAML."""
    return {c.key: c for source in CEILING_SOURCES for c in source(profile.data)}


def fleet_figures_of(profile: Profile) -> dict[str, Ceiling]:
    """The figures 'hwbench fleet' compares across devices (``FLEET_SOURCES``; ``fleet_load`` reads them from the
    profile's text and a test keeps the two in step)."""
    return {c.key: c for source in FLEET_SOURCES for c in source(profile.data)}


def figures_of(profile: Profile) -> dict[str, Ceiling]:
    """Every figure the gate reads: the ceilings and the run's own (``ROW_SOURCES``)."""
    return {c.key: c for source in ROW_SOURCES for c in source(profile.data)}


def reference_clock_mhz(data: ProfileMapping) -> float | None:
    """The clock ``compare`` tracks as its own row: the lowest clock over the non-tensor FMA ceilings.

    On CPUs that is ``clock.measured_mhz`` (the lowest under-load clock over precisions). On GPUs, profiles
    written before hwbench 0.2 put the lowest clock over *every* kernel there, i.e. whichever tensor GEMM the
    power cap hit hardest: two identical H100 runs then differed by 6.5%. Tensor ceilings still carry their
    own clock, and every compute change is split against that ceiling's own clock (``explain``)."""
    clocks = [float(entry["clock_mhz"]) for precision, entry in data.get("compute", {}).items()
              if not precision.startswith("tensor_") and isinstance(entry, dict) and entry.get("clock_mhz")]
    return min(clocks) if clocks else data.get("clock", {}).get("measured_mhz")
