"""What a kernel is, as data: ``Kernel`` (device, family, level, precision, bytes and FLOPs per element, launch
shape) and ``CudaModule`` (a ``.cu`` file and its ``-D`` constants). ``hwbench.catalog`` declares every kernel
with these and re-exports them; nothing here names a particular kernel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


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


@dataclass(frozen=True)
class Kernel:
    """One measured kernel. Per element: ``reads`` and ``writes`` arrays of ``element_bytes`` each and
    ``flops_per_element`` FLOPs. ``launch`` holds the shape of a launch (waves, iterations, sizes...)."""

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
    launch: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

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


def frozen(**values: Any) -> Mapping[str, Any]:
    """A read-only mapping of ``values`` (a kernel's launch shape: frozen, as the Kernel is)."""
    return MappingProxyType(values)


__all__ = ["CudaModule", "Kernel", "frozen"]
