"""What a kernel is, as data: ``Kernel`` (device, family, level, precision, bytes and FLOPs per element, launch
parameters) and ``CudaModule`` (a ``.cu`` file and its ``-D`` constants). ``hwbench.catalog`` declares every kernel
with these and re-exports them; nothing here names a particular kernel.

A kernel's launch parameters are one frozen dataclass per launch kind (``CpuFmaLaunch``, ``GpuStreamLaunch``,
``ChaseLaunch``, ...), never a mapping of string keys: its family reads them with ``kernel.launch_as(Kind)``, which
fails at once where the catalog gave the kernel another kind. A ``quick_<name>`` field is what a ``--quick`` run
uses instead of ``<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar


@dataclass(frozen=True)
class CudaModule:
    """A ``.cu`` file under ``hwbench/kernels/cuda`` and the constants it is compiled with.

    The file keeps ``#ifndef NAME / #define NAME value / #endif`` defaults equal to ``constants`` so that
    plain ``nvcc`` builds the same kernel hwbench runs (BabelStream's ``TBSIZE``); a test checks that they
    agree."""

    source: str
    constants: Mapping[str, int]

    def compile_options(self) -> tuple[str, ...]:
        """NVRTC options: the C++ standard, then ``-DNAME=value`` for every constant."""
        return ("-std=c++17", *(f"-D{name}={value}" for name, value in self.constants.items()))


@dataclass(frozen=True, kw_only=True)
class Launch:
    """Launch parameters of a kernel; each launch kind below is a subclass (keyword arguments only: a catalog
    declaration names every figure)."""


# CPU ---------------------------------------------------------------------------------------------------------------

def chains_on(table: Mapping[str, int], arch: str) -> int:
    """The chain count of ``table`` (machine architecture -> chains, with a ``default``) on ``arch``."""
    return table.get(arch, table["default"])


@dataclass(frozen=True, kw_only=True)
class CpuFmaLaunch(Launch):
    """The CPU FMA kernels: independent accumulator chains per thread, by machine architecture."""

    chains: Mapping[str, int]


@dataclass(frozen=True, kw_only=True)
class CpuIntensityLaunch(Launch):
    """The CPU intensity sweep: FLOPs per element of each point, the FMA chains, and the working set
    (``llc_multiple`` x the last-level cache, at least ``min_bytes``)."""

    flops: tuple[int, ...]
    quick_flops: tuple[int, ...]
    chains: Mapping[str, int]
    llc_multiple: int
    min_bytes: int

    def flops_for(self, quick: bool) -> tuple[int, ...]:
        return self.quick_flops if quick else self.flops


@dataclass(frozen=True, kw_only=True)
class SweepLaunch(Launch):
    """A working-set sweep from ``smallest_bytes`` to ``llc_multiple`` x the last-level cache, ``unroll`` vectors
    (or dependent loads) per loop trip: the cache sweep."""

    unroll: int
    smallest_bytes: int
    llc_multiple: int


@dataclass(frozen=True, kw_only=True)
class InstructionLaunch(Launch):
    """A kernel that runs one instruction (or library call) the profile names: its class (the clock table's
    licence level), the precision it accumulates in, how its work is counted, and the CPUID flags it needs."""

    instruction: str
    instruction_class: str
    accumulate: str
    counting: str
    needs: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LowpLaunch(InstructionLaunch):
    """A CPU low-precision peak: ``kind`` of instruction on ``chains`` accumulators of ``bits``-wide registers
    (0: AMX tiles)."""

    kind: str
    bits: int
    chains: int


@dataclass(frozen=True, kw_only=True)
class MixLaunch(InstructionLaunch):
    """A compute peak without FMA: ``operation`` (add, mul) on ``chains`` chains of ``lanes`` lanes (0: the FMA
    kernels' full-rate width; 1: scalar)."""

    operation: str
    lanes: int
    chains: int


@dataclass(frozen=True, kw_only=True)
class GemmLaunch(InstructionLaunch):
    """The CPU library GEMM: one ``size`` x ``size`` matmul per call."""

    size: int


@dataclass(frozen=True, kw_only=True)
class ChaseLaunch(SweepLaunch):
    """The CPU pointer chase: each power of two of the sweep times every factor of ``steps`` (below the LLC);
    ``samples`` of about ``sample_seconds`` each per working set."""

    steps: tuple[float, ...]
    quick_steps: tuple[float, ...]
    sample_seconds: float
    quick_sample_seconds: float
    samples: int
    quick_samples: int


@dataclass(frozen=True, kw_only=True)
class LoadedLaunch(ChaseLaunch):
    """The loaded latency (MLC's): the chase over a working set of at least ``min_bytes`` while the other cores
    move bursts of ``burst_elements`` float64 of ``traffic`` (kernels/cpu_latency.TRAFFIC) with ``delays_ticks``
    time-stamp ticks between bursts, ``repeats`` per delay."""

    traffic: str
    burst_elements: int
    min_bytes: int
    chase_seconds: float
    quick_chase_seconds: float
    repeats: int
    delays_ticks: tuple[int, ...]
    quick_delays_ticks: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class PingPongLaunch(Launch):
    """The core-to-core ping-pong (c2clat's): ``rounds`` round trips per sample."""

    rounds: int
    samples: int
    quick_samples: int


# GPU ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class LaunchShape:
    """Threads per block, and waves of a grid-stride launch (SMs x resident blocks x waves) or None for one vector
    per thread on a grid that covers the array in one pass."""

    block: int
    waves: int | None


@dataclass(frozen=True, kw_only=True)
class VectorLaunch(Launch):
    """Grid-stride loops over ``vector_bytes`` vectors, in one of ``shapes``."""

    vector_bytes: int
    shapes: tuple[LaunchShape, ...]


@dataclass(frozen=True, kw_only=True)
class GpuStreamLaunch(VectorLaunch):
    """The GPU STREAM kernels: the shape an untimed sweep of ``sweep_launches`` launches per shape found fastest."""

    sweep_launches: int


@dataclass(frozen=True, kw_only=True)
class L2ReadLaunch(VectorLaunch):
    """The L2 read: a buffer of ``l2_share`` of the L2, read ``passes`` times per launch."""

    passes: int
    l2_share: float


@dataclass(frozen=True, kw_only=True)
class GridLaunch(Launch):
    """A launch of ``waves`` x (SMs x resident blocks) blocks of the module's BLOCK threads."""

    waves: int


@dataclass(frozen=True, kw_only=True)
class GpuFmaLaunch(GridLaunch):
    """The GPU FMA kernels: ``iterations`` of the loop, ``lanes`` scalar FMAs per instruction (packed: 2)."""

    iterations: int
    lanes: int


@dataclass(frozen=True, kw_only=True)
class OnchipLaunch(GridLaunch):
    """Shared memory and L1 reads: ``passes`` over the buffer per launch, every element ``value``."""

    passes: int
    value: float


@dataclass(frozen=True, kw_only=True)
class GpuIntensityLaunch(GridLaunch):
    """The GPU intensity sweep, in each of ``levels``: DRAM (``dram_l2_multiple`` x the L2, at least
    ``min_bytes``) and L2 (``l2_share`` of it)."""

    flops: tuple[int, ...]
    quick_flops: tuple[int, ...]
    levels: tuple[str, ...]

    def flops_for(self, quick: bool) -> tuple[int, ...]:
        return self.quick_flops if quick else self.flops

    dram_l2_multiple: int
    min_bytes: int
    l2_share: float


@dataclass(frozen=True, kw_only=True)
class MmaLaunch(GridLaunch):
    """The tensor-pipe microbenchmark: ``instruction`` (``m_n_k`` per warp or warpgroup) on ``data``,
    ``iterations`` of the loop; ``needs`` the lowest compute capability."""

    iterations: int
    m_n_k: tuple[int, int, int]
    needs: tuple[int, int]
    data: str
    instruction: str


@dataclass(frozen=True, kw_only=True)
class TensorLaunch(Launch):
    """A library GEMM (cuBLAS, cuBLASLt) on square ``data`` matrices of each of ``sizes``; ``needs``: the lowest
    compute capability, where it has one."""

    data: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    needs: tuple[int, int] | None = None

    def sizes_for(self, quick: bool) -> tuple[int, ...]:
        return self.quick_sizes if quick else self.sizes


@dataclass(frozen=True, kw_only=True)
class TransferLaunch(Launch):
    """Host <-> device copies of ``nbytes`` bytes."""

    nbytes: int


@dataclass(frozen=True, kw_only=True)
class GpuChaseLaunch(Launch):
    """The GPU pointer chase: ``steps`` dependent loads per sample, ``samples`` per level; the working set of each
    level (shared, L1, ``l2_share`` of the L2, ``dram_l2_multiple`` x the L2, ``remote_bytes`` of host and peer)."""

    steps: int
    samples: int
    shared_bytes: int
    l1_bytes: int
    l2_share: float
    dram_l2_multiple: int
    remote_bytes: int


L = TypeVar("L", bound=Launch)


@dataclass(frozen=True)
class Kernel:
    """One measured kernel. Per element: ``reads`` and ``writes`` arrays of ``element_bytes`` each and
    ``flops_per_element`` FLOPs. ``launch``: its launch parameters (None: the family needs none)."""

    name: str
    device: str  # "cpu" or "gpu"
    family: str  # the module that runs it: stream, fma, caches, intensity, l2, transfer, tensor
    level: str  # dram, l2, h2d, d2h, core for compute kernels, or sweep (every level, by working set)
    precision: str  # profile compute key (fp64, fp32, fp16, bf16, tensor_fp16, ...) or data type; "-" for bytes
    unit: str  # "GB/s", "GFLOP/s", or "GOP/s" (integer kernels: never counted as FLOP)
    groups: tuple[str, ...] = ()
    form: str = ""  # STREAM form (copy, scale, add, triad, dot) or cache form (read, copy, triad)
    reads: int = 0
    writes: int = 0
    flops_per_element: int = 0
    element_bytes: int = 8
    nontemporal: bool = False
    entry: str | None = None  # CUDA: the __global__ function
    module: CudaModule | None = None
    launch: Launch | None = None

    def launch_as(self, kind: type[L]) -> L:
        """The launch parameters, which the catalog declared of ``kind``; TypeError where it declared another."""
        if not isinstance(self.launch, kind):
            raise TypeError(f"{self.device} kernel {self.name}: launch parameters are "
                            f"{type(self.launch).__name__}, not {kind.__name__}")
        return self.launch

    @property
    def bytes_stream(self) -> int:
        """Bytes per element by the STREAM convention: each array read or written once."""
        return (self.reads + self.writes) * self.element_bytes

    @property
    def bytes_traffic(self) -> int:
        """Bytes per element actually moved: plus one write-allocate read per array written, unless the
        stores are non-temporal or on a GPU (whose stores allocate no read)."""
        allocate = 0 if self.nontemporal or self.device == "gpu" else self.writes
        return (self.reads + self.writes + allocate) * self.element_bytes

    @property
    def constants(self) -> Mapping[str, int]:
        """Compile-time constants of a CUDA kernel (empty for CPU kernels)."""
        return self.module.constants if self.module else MappingProxyType({})

    def traffic_model(self) -> str:
        """How ``bytes_traffic`` is counted, in words (written into the profile)."""
        if self.device == "gpu":
            return (f"{self.reads} read(s) + {self.writes} write(s) of {self.element_bytes} bytes per element "
                    "(GPU stores allocate no read)")
        allocate = "none (non-temporal stores)" if self.nontemporal else f"{self.writes} write-allocate read(s)"
        return f"{self.reads} read(s) + {self.writes} write(s) + {allocate}, {self.element_bytes} bytes each"


def frozen(**values: int) -> Mapping[str, int]:
    """A read-only mapping of ``values`` (a table in a kernel's launch parameters: frozen, as the Kernel is)."""
    return MappingProxyType(values)


__all__ = ["ChaseLaunch", "CpuFmaLaunch", "CpuIntensityLaunch", "CudaModule", "GemmLaunch", "GpuChaseLaunch",
           "GpuFmaLaunch", "GpuIntensityLaunch", "GpuStreamLaunch", "GridLaunch", "InstructionLaunch", "Kernel",
           "L2ReadLaunch", "Launch", "LaunchShape", "LoadedLaunch", "LowpLaunch", "MixLaunch", "MmaLaunch",
           "OnchipLaunch", "PingPongLaunch", "SweepLaunch", "TensorLaunch", "TransferLaunch", "VectorLaunch",
           "chains_on", "frozen"]
