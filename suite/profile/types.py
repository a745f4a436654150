"""The profile's sections as types: what ``build_profile`` writes, what ``Profile.data`` holds, what the tools read.

Each section of a schema-1 profile (``schema/profile-v1.schema.json``) is a ``TypedDict`` here, keyed as the
YAML is: ``ProfileData`` is the whole file, ``ComputeEntry`` one ``compute.<precision>``, ``MemoryLevel`` one
``memory.<level>`` (its ``latency_*`` keys included), ``KernelEntry`` one ``kernels[]`` item, and so on.
``tests/test_profile_types.py`` checks that every key the schema lists for a section is a key of its type and
that the schema's required keys are the type's required keys, so the two cannot drift. A type may hold more
keys than the schema lists (the schema allows extra keys; its listed keys are the contract with other tools).

The sections a session writes itself (``device``, ``run``, ``clock``) are declared in ``hwbench.record``, below
the sessions, which must not import the profile format; they are re-exported here.

Python 3.10 has no ``Required``: a section with required keys is a base holding them and a ``total=False``
subclass holding the rest. Numbers a builder rounds with ``stats.rounded`` are ``float | None``: ``None`` is
how a profile says "unknown" (the schema's ``positive_or_null``).

Room for what comes next: ``compute`` and ``instruction_peaks.peaks`` are keyed by precision and by kernel,
so compute roofs by instruction class and low precisions counted in OP/s (``unit: GOP/s``) add entries, not
keys; ``memory.<level>`` already holds a latency per level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from ..record import (
    ClassClock,
    ClockSection,
    CpuLimit,
    DeviceSection,
    RunContention,
    RunCpuShare,
    RunLoad,
    RunMpi,
    RunPeers,
    RunSection,
    RunSlurm,
)

Unit = Literal["GB/s", "GFLOP/s", "GOP/s"]  # a kernel's unit (integer kernels: never counted as FLOP)

# A profile as the report tools read it: a ProfileData, a plain dict of the run path, the keys fleet's fast reader
# kept (``subset``), or a profile an older hwbench wrote. Their readers check each figure they use (a key may be
# missing or, after loading, changed), so they take the read-only mapping rather than ProfileData.
ProfileMapping = Mapping[str, Any]


# compute.<precision> ---------------------------------------------------------------------------------------------

class _StabilityRequired(TypedDict):
    status: Literal["consistent", "unstable"]
    rounds: int


class Stability(_StabilityRequired, total=False):
    """``compute.<precision>.stability`` (CPU FMA ceilings): whether the headline agrees with its probed run."""

    rule: str
    headline_gflops: list[float]
    probed_gflops: list[float]
    spread: float
    probed_run: int
    cause: str


class _ComputeRequired(TypedDict):
    theoretical_gflops: float | None
    measured_gflops: float | None
    efficiency: float | None
    flop_per_cycle: float | None


class ComputeEntry(_ComputeRequired, total=False):
    """``compute.<precision>``: the FMA kernel's ceiling beside the paper peak, per unit and per cycle."""

    kernel: str
    clock_mhz: float | None
    theoretical_at_measured_clock_gflops: float | None
    flop_per_cycle_theoretical: float | None
    noise: float | None
    stability: dict[str, Any]  # the keys of Stability (stats.KernelResult.stability, which cannot import them)
    # not in the schema's contract
    theoretical_source: str
    efficiency_at_measured_clock: float | None
    clock_source: str | None
    per: str
    throttled: bool | None
    measurement_error: str
    flop_per_cycle_rejected: float | None


# memory.<level> --------------------------------------------------------------------------------------------------

class _MemoryRequired(TypedDict):
    theoretical_gbps: float | None
    measured_gbps: float | None
    kernel: str


class LevelLatency(TypedDict, total=False):
    """The ``latency_*`` keys of ``memory.<level>``: the dependent-load latency of one level (the latency family)."""

    latency_ns: float | None
    latency_median_ns: float | None
    latency_spread: float | None
    latency_cycles: float | None
    latency_median_cycles: float | None
    latency_clock_mhz: float | None
    latency_clock_source: str | None
    latency_working_set_bytes: int
    latency_kernel: str
    latency_measurement_error: str


class MemoryLevel(_MemoryRequired, LevelLatency, total=False):
    """``memory.<level>``: a level's bandwidth ceiling (DRAM from the STREAM kernels, l1/l2/l3 from the cache
    sweep's plateaus, GPU l2/h2d/d2h from their kernels) and, where the latency family ran, its latency
    (``LevelLatency``; a level no bandwidth kernel measured has null GB/s)."""

    theoretical_source: str
    efficiency: float | None
    theoretical_at_measured_clock_gbps: float | None
    measured_stream_gbps: float | None
    measured_traffic_gbps: float | None
    bytes_per_cycle: float | None
    bytes_per_cycle_per_core: float | None
    bytes_per_cycle_per_core_theoretical: float | None
    bytes_per_cycle_per_sm: float | None
    working_set_bytes: list[int]
    working_set_per_thread_bytes: list[int]
    threads: int
    noise: float | None
    on_cpu: float | None
    # not in the schema's contract
    efficiency_at_measured_clock: float | None
    clock_source: str | None
    counting: str
    stream_kernel: str
    clock_mhz: float | None
    bytes_per_cycle_clock: str | None
    throttled: bool | None
    measurement_error: str


class RidgeEntry(TypedDict):
    """``ridge_point.<precision>``: FLOP per byte where the compute roof meets the DRAM roof."""

    theoretical: float | None
    measured: float | None


# kernels[] -------------------------------------------------------------------------------------------------------

class KernelContention(TypedDict, total=False):
    """``kernels[].contention`` (CPU): each sample's on-CPU share and each batch window's shares of the cores."""

    on_cpu: list[float]
    windows: list[dict[str, Any]]


class _KernelRequired(TypedDict):
    name: str
    precision: str
    level: str
    unit: str
    best: float | None
    median: float | None
    min: float | None
    max: float | None
    cv: float | None
    repetitions: int
    working_set_bytes: int
    bytes_stream: int | None
    bytes_traffic: int | None
    validated: bool


class KernelEntry(_KernelRequired, total=False):
    """``kernels[]``: one kernel's samples and its headline (``ceiling``, by ``headline_rule``)."""

    ceiling: float | None
    noise: float | None
    samples: list[float | None]
    contention: dict[str, Any]
    # not in the schema's contract
    sample_clocks_mhz: list[float | None]
    flops: float | None
    details: dict[str, Any]


# instruction_peaks -----------------------------------------------------------------------------------------------

class _PeakRequired(TypedDict):
    kernel: str
    instruction: str | None
    precision: str
    unit: str
    measured: float | None
    theoretical: float | None
    theoretical_source: str
    clock_mhz: float | None
    op_per_cycle: float | None
    op_per_cycle_theoretical: float | None


class InstructionPeak(_PeakRequired, total=False):
    """``instruction_peaks.peaks.<kernel>``: one instruction's (or library GEMM's) peak in its own unit."""

    instruction_class: str | None
    accumulate: str | None
    theoretical_at_measured_clock: float | None
    efficiency: float | None
    efficiency_at_measured_clock: float | None
    clock_source: str | None
    op_per_cycle_rejected: float | None
    measurement_error: str
    per: str
    counting: str | None
    stability: dict[str, Any]  # the keys of Stability: the CPU chain kernels' headline against its probed run


class InstructionPeaks(TypedDict):
    """``instruction_peaks``: low-precision and non-FMA peaks by kernel, and the kernels skipped with why."""

    counting: str
    peaks: dict[str, InstructionPeak]
    skipped: dict[str, str]


# sustained -------------------------------------------------------------------------------------------------------

class _SustainedKernelRequired(TypedDict):
    unit: str
    burst: float
    sustained: float
    drop_percent: float
    drop_began_s: float | None
    timeline: dict[str, Any]


class SustainedCeiling(TypedDict, total=False):
    """The run's own ceiling of a sustained kernel, beside its timeline (``sustained.kernels.<kernel>``)."""

    ceiling: float | None
    ceiling_key: str
    ceiling_spread: float | None
    ceiling_clock_mhz: float | None
    of_ceiling: float | None


class SustainedKernel(_SustainedKernelRequired, SustainedCeiling, total=False):
    """``sustained.kernels.<kernel>``: burst, sustained, the drop and its onset, clocks, the run's own ceiling."""

    clock_burst_mhz: float | None
    clock_sustained_mhz: float | None
    spread: float
    samples: int


class _SustainedRequired(TypedDict):
    duration_s: float
    interval_s: float
    kernels: dict[str, SustainedKernel]


class SustainedSection(_SustainedRequired, total=False):
    """``sustained`` (``hwbench run --sustain``): each kernel kept busy for ``duration_s``."""

    definitions: str
    clock_method: str


# caches ----------------------------------------------------------------------------------------------------------

class CacheSweepInfo(TypedDict, total=False):
    """``caches.sweep``: how the working-set sweep ran (``hwbench.cpu.caches``, its ``definition``)."""

    threads: list[int]
    top_bytes: int
    seconds: float
    call_seconds: float
    sizes_per_thread_bytes: dict[str, list[int]]  # thread count -> the working sets per thread, in bytes
    llc_multiple: int
    vector_bits: int
    unroll: int
    pad_bytes: int
    repetitions: dict[str, Any]  # the repetition policy (RepetitionPolicy.as_dict)
    counting: str
    method: str


class PlateauRule(TypedDict, total=False):
    tolerance: float
    min_points: int
    rule: str


class CacheTheory(TypedDict, total=False):
    bytes_per_cycle_per_core: dict[str, dict[str, float]]
    sources: dict[str, str]


class _CacheCurveRequired(TypedDict):
    kernel: str
    threads: int
    working_set_bytes: list[int]
    best_gbps: list[float | None]
    median_gbps: list[float | None]


class CacheCurve(_CacheCurveRequired, total=False):
    """``caches.curves[]``: working set -> GB/s for one kernel on one thread count."""

    form: str


class _PlateauRequired(TypedDict):
    kernel: str
    threads: int
    level: str
    working_set_bytes: list[int]
    points: int
    best_gbps: float | None


class CachePlateau(_PlateauRequired, total=False):
    """``caches.plateaus[]``: a flat stretch of a curve, named by the cache level its working sets fit."""

    median_gbps: float | None
    noise: float | None


class _CachesRequired(TypedDict):
    sizes: dict[str, int | None]
    sweep: dict[str, Any]  # CacheSweepInfo's keys and the sweep's own definition
    curves: list[CacheCurve]
    plateaus: list[CachePlateau]


class CachesSection(_CachesRequired, total=False):
    """``caches`` (the CPU cache sweep): sizes, the sweep, every curve and the plateaus found in them."""

    plateau_rule: PlateauRule
    theory: CacheTheory


# latency ---------------------------------------------------------------------------------------------------------

class _LatencyPointRequired(TypedDict):
    working_set_bytes: int
    latency_ns: float | None
    spread: float | None


class LatencyCurvePoint(_LatencyPointRequired, total=False):
    """``latency.curve[]``: the dependent-load chase at one working set."""

    median_ns: float | None
    samples_ns: list[float]
    level: str | None
    samples_cycles: list[float | None]


class _LatencyRequired(TypedDict):
    definition: dict[str, Any]
    curve: list[LatencyCurvePoint]


class LatencySection(_LatencyRequired, total=False):
    """``latency``: the chase curve, the rule naming ``memory.<level>.latency_ns``, loaded, core-to-core, NUMA."""

    headline: str
    level_rule: str
    levels: dict[str, Any]
    loaded: dict[str, Any]
    core_to_core: dict[str, Any]
    numa: dict[str, Any]


# intensity_sweep[] -----------------------------------------------------------------------------------------------

class _IntensityPointRequired(TypedDict):
    flops_per_element: int
    flops_per_byte: float
    gflops: float


class IntensityPoint(_IntensityPointRequired, total=False):
    """``intensity_sweep[].points[]``: one FLOPs-per-element step beside the roofline's prediction."""

    median_gflops: float | None
    gbps: float | None
    roofline_gflops: float | None
    error_pct: float | None


class _IntensityCurveRequired(TypedDict):
    kernel: str
    precision: str
    level: str
    working_set_bytes: int
    bytes_per_element: int
    points: list[IntensityPoint]


class IntensityCurveEntry(_IntensityCurveRequired, total=False):
    """``intensity_sweep[]``: the measured roofline curve of one precision in one memory level."""

    counting: str
    method: str
    roofline: str
    median_abs_error_pct: float | None


# links, interconnect ---------------------------------------------------------------------------------------------

class _LinkPairRequired(TypedDict):
    source: str
    target: str
    ce_unidirectional: dict[str, Any]


class LinkPair(_LinkPairRequired, total=False):
    """``links.pairs[]``: peer-to-peer bandwidth between two GPUs (nvbandwidth's copy-engine and SM tests)."""

    peer_access: bool
    theoretical_gbps: float | None
    theoretical_source: str
    link: str
    sm_read: dict[str, Any]
    ce_bidirectional: dict[str, Any]
    sm_bidirectional: dict[str, Any]


class _LinksRequired(TypedDict):
    devices: list[str]
    pairs: list[LinkPair]


class LinksSection(_LinksRequired, total=False):
    """``links`` (two or more GPUs): the peer-to-peer bandwidth matrix."""

    method: str
    counting: str


class InterconnectSection(TypedDict, total=False):
    """``interconnect`` (``--mpi``): MPI ping-pong by message size and, on GPUs, NCCL all-reduce bus bandwidth."""

    mpi: dict[str, Any]
    nccl: dict[str, Any]


# the file --------------------------------------------------------------------------------------------------------

class _ProfileRequired(TypedDict):
    schema_version: int
    hwbench_version: str
    created_at: str
    device: DeviceSection
    run: RunSection
    clock: ClockSection
    compute: dict[str, ComputeEntry]
    memory: dict[str, MemoryLevel]
    ridge_point: dict[str, RidgeEntry]
    kernels: list[KernelEntry]


class ProfileOptional(TypedDict, total=False):
    """The keys of a profile written only where they apply (a builder adds them one by one)."""

    host: str
    node_label: str
    headline_rule: str
    instruction_peaks: InstructionPeaks
    sustained: SustainedSection
    caches: CachesSection
    latency: LatencySection
    intensity_sweep: list[IntensityCurveEntry]
    links: LinksSection
    interconnect: InterconnectSection
    warnings: list[str]


class ProfileData(_ProfileRequired, ProfileOptional, total=False):
    """A whole schema-1 profile, as parsed from (or dumped to) YAML."""


__all__ = [
    "CacheCurve", "CachePlateau", "CacheSweepInfo", "CacheTheory", "CachesSection", "ClassClock", "ClockSection",
    "ComputeEntry", "CpuLimit", "DeviceSection", "InstructionPeak", "InstructionPeaks", "IntensityCurveEntry",
    "IntensityPoint", "InterconnectSection", "KernelContention", "KernelEntry", "LatencyCurvePoint",
    "LatencySection", "LevelLatency", "LinkPair", "LinksSection", "MemoryLevel", "PlateauRule", "ProfileData",
    "ProfileMapping", "ProfileOptional", "RidgeEntry", "RunContention", "RunCpuShare", "RunLoad", "RunMpi",
    "RunPeers", "RunSection", "RunSlurm", "Stability", "SustainedCeiling", "SustainedKernel", "SustainedSection",
    "Unit",
]
