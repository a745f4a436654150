"""What a device session hands to the profile builder: a device-neutral session record.

A session (``hwbench.cpu.session``, ``hwbench.gpu.session``) knows its device: it reads the facts, runs the
kernels, and states the inputs of every theoretical figure (units x FLOP per cycle x clock, with the source
of each). The builder (``hwbench.profile.build``) knows the file format: it does the arithmetic once, for
both devices, and writes every figure beside its provenance. Neither imports the other.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from .stats import KernelResult, Timeline
from .version import __version__

# A session's progress report: (what it is doing, steps done, steps in all).
ProgressCallback = Callable[[str, int, int], None]


# The three sections of a profile a session writes itself (``device``, ``run``, ``clock``), typed here, below the
# sessions, so that a session spells the profile's keys through these types without importing the profile
# format. ``hwbench.profile.types`` re-exports them beside the other sections; a test checks every key the JSON
# Schema lists (``profile/schema/profile-v1.schema.json``) against them. Python 3.10 has no ``Required``: each
# section with required keys is a base of its required keys and a ``total=False`` subclass of the others.


class _DeviceRequired(TypedDict):
    id: str  # "cpu" or "cuda:<index>"
    name: str
    vendor: str


class DeviceSection(_DeviceRequired, total=False):
    """``device``: what was measured. The keys after ``memory_bytes`` are not in the schema's contract."""

    arch: str
    cores: int
    threads: int
    simd: int
    isa: list[str]
    caches: dict[str, int | None]  # level -> bytes
    memory_bytes: int
    os: str
    # CPU
    family: Any
    model: Any
    l3_total_bytes: int | None
    core_model: dict[str, Any]
    sources: dict[str, Any]
    # GPU
    compute_capability: str
    sms: int
    max_threads_per_sm: int
    bus_width_bits: int | None
    max_sm_mhz: float | None
    max_memory_mhz: float | None
    power_limit_w: float | None
    driver: str | None
    cuda_runtime: str | None
    cupy: str | None
    sm_model: dict[str, str] | None


class _PeersRequired(TypedDict):
    devices: list[str]
    concurrent: bool


class RunPeers(_PeersRequired, total=False):
    """``run.peers``: the other devices of a ``--device cuda:all`` or ``all`` run."""

    concurrent_with: list[str]
    mode: str


class RunSlurm(TypedDict, total=False):
    """``run.slurm``: the job's SLURM_* variables as read (the schema lists the integer ones)."""

    job_id: str
    step_id: str
    procid: int
    localid: int
    nodeid: int
    nodename: str
    ntasks: int
    tasks_per_node: str


class _MpiRequired(TypedDict):
    rank: int
    size: int


class RunMpi(_MpiRequired, total=False):
    """``run.mpi``: this rank, the world size and the ranks on this host."""

    local_rank: int | None
    local_size: int | None
    kernel_barrier: str


class RunLoad(TypedDict, total=False):
    """``run.load``: the 1-minute load average before and after measuring, and the steal share in between."""

    load_1min_before: float | None
    load_1min_after: float | None
    steal_share: float | None
    cpus: int
    method: str


class RunCpuShare(TypedDict):
    """``run.cpu_share``: this rank's disjoint share of the host's CPUs under ``--mpi``."""

    cpus: list[int]
    how: str


class CpuLimit(TypedDict):
    cpus: float | None  # None: no CPU quota
    source: str


class RunContention(TypedDict, total=False):
    """``run.contention``: the whole run's shares of the measured cores used by others, stolen, or throttled."""

    other_work: float | None
    steal: float | None
    throttled: float | None
    seconds: float
    cpu_limit: CpuLimit


class RunSection(TypedDict, total=False):
    """``run``: how the session ran. The keys after ``contention`` are not in the schema's contract."""

    threads: int | None
    cpus: list[int] | None
    pinning: str | None
    prefault: bool
    quick: bool
    peers: RunPeers
    slurm: RunSlurm
    mpi: RunMpi
    load: RunLoad
    cpu_share: RunCpuShare
    contention: RunContention
    array_bytes: int | None
    repetitions: dict[str, Any]
    timing: str


class _ClassClockRequired(TypedDict):
    mhz: float | None
    under: list[str]


class ClassClock(_ClassClockRequired, total=False):
    """``clock.by_instruction_class.<class>``: the lowest clock over the kernels of one instruction class."""

    drop_percent: float | None


class _ClockRequired(TypedDict):
    nominal_mhz: float | None
    nominal_source: str
    measured_mhz: float | None


class ClockSection(_ClockRequired, total=False):
    """``clock``: the nominal and the measured clock. The keys after ``noise`` are not in the schema's contract."""

    scalar_mhz: float | None
    by_instruction_class: dict[str, ClassClock]
    noise: float | None
    measured_under: str | None
    tsc_mhz: float | None
    method: str | None
    cross_check_mhz: dict[str, float | None]
    probe_status: str
    untrusted_mhz: dict[str, float | None]
    max_memory_mhz: float | None


@dataclass(frozen=True)
class ComputeTheory:
    """The inputs of one compute ceiling's paper figure: units x FLOP per cycle per unit x clock."""

    units: int  # cores (CPU) or SMs (GPU)
    per: str  # "core" or "SM"
    clock: str  # the key in KernelResult.clocks_mhz of this unit's clock: "core" or "SM"
    clock_source: str  # how that clock was read
    flop_per_cycle: float | None  # per unit, from the device's table; None when the table has no figure
    nominal_mhz: float | None
    nominal_source: str
    source: str  # the formula with its inputs and sources, or why the figure is unknown
    low_per_cycle_cause: str | None = None  # what a FLOP/cycle under 75% of the table's means on this device
    nominal_is_max: bool = False  # True where no unit can run above the nominal clock (a GPU's NVML max clock)


@dataclass(frozen=True)
class MemoryTheory:
    """The paper figure of one memory level, how its bytes are counted, and the clock that drives it."""

    gbps: float | None
    source: str
    counting: str
    clock: str | None = None  # the key in KernelResult.clocks_mhz for bytes per cycle ("memory", "SM")


@dataclass(frozen=True)
class Sustained:
    """Timelines of a sustained run and how it was sampled."""

    timelines: tuple[Timeline, ...]
    seconds: float | None
    interval: float | None
    clock_method: str


@dataclass(frozen=True)
class SweepCurve:
    """One kernel's working-set sweep on ``threads`` threads: the curve a profile keeps whole.

    ``points``: (working set in bytes over all threads, best GB/s, median GB/s), smallest first, rates counted
    the STREAM way (bytes the kernel loads and stores); ``traffic_per_stream`` converts them to the traffic
    convention (plus write-allocate reads)."""

    kernel: str
    form: str
    threads: int
    points: tuple[tuple[int, float, float], ...]
    traffic_per_stream: float = 1.0
    on_cpu: tuple[float, ...] = ()  # per point, where measured: the on-CPU share of its best sample's threads


@dataclass(frozen=True)
class CacheSweep:
    """The cache sweep of a CPU run: its curves, how it was run, and the paper figures of the cache levels
    (theoretical bytes per cycle per core by level and kernel, STREAM convention, with their source or the
    reason there are none)."""

    curves: tuple[SweepCurve, ...]
    definition: dict[str, Any]
    bytes_per_cycle_per_core: dict[str, dict[str, float]] = field(default_factory=dict)
    theory_source: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IntensityCurve:
    """One arithmetic-intensity sweep (the ERT kernel, kernels/cpu_intensity.py and kernels/cuda/intensity.cu)
    over a working set that lives in ``level``: the measured roofline of one precision.

    ``points``: (FLOPs per element, ceiling GFLOP/s, median GFLOP/s), fewest FLOPs first; each element is loaded
    and stored once, ``bytes_per_element`` in all, so a point's intensity is FLOPs / ``bytes_per_element``."""

    kernel: str
    precision: str
    level: str
    working_set_bytes: int
    bytes_per_element: int
    counting: str
    points: tuple[tuple[int, float, float], ...]
    method: str = ""


@dataclass(frozen=True)
class LatencyPoint:
    """One working set of a dependent-load chase: every sample's nanoseconds per load. ``level`` is set where the
    kernel targets a level by construction (a GPU's shared memory, L1 through ``__ldg``); None where the
    profile builder names it from the cache sizes (the CPU sweep). ``samples_cycles``: where the device counts
    cycles itself (a GPU's ``clock64``)."""

    working_set_bytes: int
    samples_ns: tuple[float, ...]
    level: str | None = None
    samples_cycles: tuple[float, ...] = ()


@dataclass(frozen=True)
class LatencyRecord:
    """The latency family of a run (suite/cpu/latency.py, suite/gpu/latency.py): the idle chase over working
    sets, the loaded-latency curve, the core-to-core and NUMA matrices, each with how it was measured."""

    points: tuple[LatencyPoint, ...]
    definition: dict[str, Any]
    # {delay_ticks, samples_ns, injected_gbps} per injection rate, lightest first
    loaded: tuple[dict[str, Any], ...] = ()
    loaded_definition: dict[str, Any] = field(default_factory=dict[str, Any])
    core_to_core: dict[str, Any] | None = None  # {cpus, samples_ns: {"i-j": [...]}, method}
    numa: dict[str, Any] | None = None  # {nodes, matrix_ns | None, method or note}


@dataclass(frozen=True)
class SessionRecord:
    """Everything one run of one device produced. ``device``, ``run`` and ``clock`` are the profile's sections
    of the same names, as the session read them (facts, no arithmetic)."""

    device: DeviceSection
    run: RunSection
    clock: ClockSection
    results: list[KernelResult]
    compute_theory: dict[str, ComputeTheory]  # precision -> inputs
    memory_theory: dict[str, MemoryTheory]  # level -> inputs; a level without one is "measured only"
    warnings: list[str] = field(default_factory=list)
    sustained: Sustained | None = None
    reports_throttling: bool = False  # the device says why it throttled (NVML clock-event reasons)
    cache_sweep: CacheSweep | None = None  # CPU: the working-set sweep (memory.l1/l2/l3, profile section caches)
    intensity_sweep: tuple[IntensityCurve, ...] = ()  # the measured roofline curves (profile section intensity_sweep)
    # Low-precision instruction peaks (profile section instruction_peaks): kernel name -> the inputs of its paper
    # figure (``flop_per_cycle`` holds FLOP or OP per cycle, in the kernel's unit), and kernel name -> why a kernel was
    # not run on this device (its instruction is missing).
    instruction_theory: dict[str, ComputeTheory] = field(default_factory=dict)
    instruction_skipped: dict[str, str] = field(default_factory=dict)
    latency: LatencyRecord | None = None  # the latency family (memory.<level>.latency_ns, profile section latency)


# The environment variable that labels a node (written as the profile's ``node_label``): cloned VMs or
# containers that share one host name, or runs of one machine kept apart on purpose, become distinct members of
# a 'hwbench fleet'.
NODE_LABEL_VARIABLE = "HWBENCH_NODE_LABEL"


@dataclass(frozen=True)
class Host:
    """Where and when a profile was made: the profile builder takes this instead of reading the OS."""

    name: str
    os: str
    hwbench_version: str
    created_at: dt.datetime
    node_label: str | None = None  # NODE_LABEL_VARIABLE: names the node where the host name does not tell nodes apart

    @classmethod
    def current(cls) -> Host:
        label = os.environ.get(NODE_LABEL_VARIABLE, "").strip()
        return cls(socket.gethostname(), f"{platform.system()} {platform.release()}", __version__,
                   dt.datetime.now(dt.timezone.utc), label or None)
