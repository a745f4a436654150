"""A stand-in for CuPy and NVML, backed by NumPy, so the GPU session's orchestration (launch arguments, timing
loop, validation, telemetry windows, profile assembly) runs in CI without a GPU.

Each "kernel" does in NumPy what the .cu kernel of the same name does, so validation sees real results;
host <-> device copies copy the bytes. cuBLAS (the tensor family) has no stand-in. The STREAM kernels follow
stream.cu's launch semantics: a grid-stride loop over the first ``n_vec`` 16-byte vectors (thread t of
grid x block threads takes vectors t, t + grid x block, ...), dot and l2_read write one partial sum per block
to ``partial[:grid]`` and leave the rest alone; a launch CUDA would refuse (more threads per block than the
module's ``-DBLOCK`` bound, a reduction block that is not whole warps, partials or vectors out of bounds)
raises ``LaunchError``.
Times are fixed (1 ms per event pair) unless a test sets ``cp.fake_clock.cost_ms``: the rates are meaningless
and only tested for shape, or for what a launch-shape sweep makes of a made-up cost.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hwbench import catalog

CHAINS = catalog.FMA_CU.constants["CHAINS"]  # what fma.cu is compiled with: the stand-in sums as many chains


@functools.cache
def _fma_sum(dtype, a, b, x0, iterations, chains=CHAINS):
    x = dtype(x0)
    for _ in range(iterations):
        x = dtype(x * dtype(a) + dtype(b))
    return dtype(chains * x)


def _packed(value: float, bf16: bool) -> np.uint32:
    half = (int(np.float32(value).view(np.uint32)) >> 16 if bf16 else int(np.float16(value).view(np.uint16)))
    return np.uint32(half << 16 | half)


def _unpack(word: np.uint32, bf16: bool) -> float:
    half = int(word) & 0xFFFF
    return float(np.uint32(half << 16).view(np.float32)) if bf16 else float(np.uint16(half).view(np.float16))


class LaunchError(RuntimeError):
    """A launch the CUDA driver would refuse (cudaErrorInvalidConfiguration, too many resources requested)
    or one that would read or write out of bounds."""


@dataclass(frozen=True)
class Launch:
    """One recorded kernel launch: the function, its grid and block, the module it came from, and for the
    STREAM kernels the vectors it covers."""

    name: str
    grid: tuple
    block: tuple
    module: RawModule
    n_vec: int | None = None

    @property
    def trips(self) -> int | None:
        """Trips of the grid-stride loop the busiest thread makes (1: one vector per thread)."""
        return None if self.n_vec is None else -(-self.n_vec // (self.grid[0] * self.block[0]))


class Clock:
    """Every launch in order, and what the CUDA events read: 1 ms per event pair, or, with ``cost_ms`` set,
    the sum of ``cost_ms(launch)`` over the launches between the two events."""

    def __init__(self):
        self.launches: list[Launch] = []
        self.cost_ms: Callable[[Launch], float] | None = None

    def elapsed_ms(self, start: Event, end: Event) -> float:
        if self.cost_ms is None:
            return 1.0
        return sum(self.cost_ms(launch) for launch in self.launches[start.mark:end.mark])


def _owners(n_vec: int, grid: int, block: int) -> np.ndarray:
    """The block whose thread takes each vector in a grid-stride loop."""
    return np.arange(n_vec) % (grid * block) // block


def _vectors(array: np.ndarray, n_vec: int) -> np.ndarray:
    """The first ``n_vec`` 16-byte vectors of ``array``, one row each (a launch past the end is refused)."""
    width = 16 // array.itemsize
    if n_vec * width > array.size:
        raise LaunchError(f"{n_vec} vectors of {width} elements run past an array of {array.size}")
    return array[:n_vec * width].reshape(n_vec, width)


def _block_partials(partial: np.ndarray, values: np.ndarray, grid: int, block: int) -> None:
    """partial[:grid] = each block's sum of its threads' values (block_sum in stream.cu); the rest untouched."""
    if block % 32:
        raise LaunchError(f"block_sum needs whole warps, not a block of {block}")
    if grid > partial.size:
        raise LaunchError(f"{grid} blocks write past {partial.size} partial sums")
    partial[:grid] = np.bincount(_owners(values.size, grid, block), weights=values, minlength=grid)


class Kernel:
    def __init__(self, name: str, module: RawModule | None = None):
        self.name = name
        self.module = module

    def _check(self, grid: tuple, block: tuple) -> None:
        """What the driver refuses: an empty grid, a block over 1024 threads or over the module's
        ``__launch_bounds__(BLOCK)``."""
        options = self.module.options if self.module is not None else ()
        bound = min([1024, *(int(value) for option in options for value in re.findall(r"^-DBLOCK=(\d+)$", option))])
        if not 1 <= grid[0] < 2**31 or not 1 <= block[0] <= bound:
            raise LaunchError(f"{self.name}: grid {grid} x block {block} (at most {bound} threads per block)")

    def __call__(self, grid, block, args, *, shared_mem=0):  # CuPy's RawKernel: launches on the current stream
        grid, block = tuple(grid), tuple(block)
        self._check(grid, block)
        form, _, suffix = self.name.rpartition("_")
        n_vec = int(args[2 if form == "l2_read" else -1]) if form in ("copy", "scale", "add", "triad", "dot",
                                                                      "l2_read") else None
        if self.module is not None:
            launch = Launch(self.name, grid, block, self.module, n_vec)
            self.module.launches.append(launch)
            if self.module.clock is not None:
                self.module.clock.launches.append(launch)
        if self.name.startswith("fma_"):
            out, a, b, x0, iterations = args
            if suffix in ("f16x2", "bf16x2"):
                bf16 = suffix == "bf16x2"
                value = _fma_sum(np.float32, _unpack(a, bf16), _unpack(b, bf16), _unpack(x0, bf16), int(iterations))
                out[:] = _packed(float(value), bf16)
            else:
                out[:] = _fma_sum(out.dtype.type, a, b, x0, int(iterations))
        elif form == "l2_read":
            buffer, partial, _, passes = args
            sums = _vectors(buffer, n_vec).sum(axis=1, dtype=np.float64) * int(passes)
            _block_partials(partial, sums, grid[0], block[0])
        elif form == "dot":
            a, b, partial, _ = args
            products = (_vectors(a, n_vec).astype(np.float64) * _vectors(b, n_vec)).sum(axis=1)
            _block_partials(partial, products, grid[0], block[0])
        else:
            a, b, c, scalar, _ = args
            a, b, c = (_vectors(array, n_vec) for array in (a, b, c))  # views: writes reach the arrays
            if form == "copy":
                c[:] = a
            elif form == "scale":
                b[:] = scalar * c
            elif form == "add":
                c[:] = a + b
            elif form == "triad":
                a[:] = b + scalar * c


class RawModule:
    """Records the source, the NVRTC options and every launch of its kernels; ``created`` lists every module
    made through one ``make_cupy()`` stand-in (set there)."""

    created: list[RawModule] = []
    clock: Clock | None = None

    def __init__(self, code: str, options=()):
        self.code = code
        self.options = tuple(options)
        self.launches: list[Launch] = []
        self.created.append(self)

    def compile(self):
        return None

    def get_function(self, name: str) -> Kernel:
        return Kernel(name, self)  # that the .cu files define every name is checked under nvcc (test_gpu.py)


class Stream:
    ptr = 0

    def __init__(self, non_blocking=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass


class Event:
    clock: Clock | None = None  # set per stand-in (make_cupy)
    mark = 0  # launches recorded before this event

    def record(self, stream=None):
        self.mark = len(self.clock.launches) if self.clock is not None else 0

    def synchronize(self):
        pass


class Device:
    attributes = {"GlobalMemoryBusWidth": 5120}

    def __init__(self, index=0):
        pass

    def use(self):
        pass


class OutOfMemoryError(Exception):
    pass


_BUFFERS: dict[int, np.ndarray] = {}  # "device pointer" -> the bytes behind it, for memcpyAsync


class PinnedMemory(bytearray):
    """cupy.cuda.alloc_pinned_memory: a host buffer with a pointer."""

    @property
    def ptr(self) -> int:
        _BUFFERS[id(self)] = np.frombuffer(self, dtype=np.uint8)
        return id(self)


class DeviceArray(np.ndarray):
    """An array with CuPy's ``.data.ptr`` and ``.set``, for the copies of the transfer family."""

    @property
    def data(self):
        _BUFFERS[id(self)] = self.view(np.uint8).reshape(-1)
        return types.SimpleNamespace(ptr=id(self))

    def set(self, values):
        self[...] = values


def _memcpy_async(target: int, source: int, nbytes: int, kind: int, stream: int) -> None:
    _BUFFERS[target][:nbytes] = _BUFFERS[source][:nbytes]


def make_cupy(l2_bytes: int = 1 << 20, free_bytes: int = 96 << 20) -> types.ModuleType:
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1, runtimeGetVersion=lambda: 13000, memGetInfo=lambda: (free_bytes, 2 * free_bytes),
        getDeviceProperties=lambda index: {"name": b"Fake GPU", "major": 9, "minor": 0, "multiProcessorCount": 4,
                                           "maxThreadsPerMultiProcessor": 2048, "l2CacheSize": l2_bytes},
        CUDARuntimeError=RuntimeError, memcpyAsync=_memcpy_async)
    clock = Clock()
    cuda = types.SimpleNamespace(
        runtime=runtime, Device=Device, Stream=Stream, Event=type("Event", (Event,), {"clock": clock}),
        get_elapsed_time=clock.elapsed_ms,
        alloc_pinned_memory=PinnedMemory,
        memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError))
    cp = types.ModuleType("cupy")
    cp.__version__ = "0.0-fake"
    cp.cuda = cuda
    cp.RawModule = type("RawModule", (RawModule,), {"created": [], "clock": clock})  # this stand-in's own modules
    cp.fake_clock = clock
    cp.empty = lambda shape, dtype=float: np.empty(shape, dtype=dtype).view(DeviceArray)
    for name in ("full", "zeros", "ones", "sum", "max", "min", "abs", "asarray", "float64", "float32",
                 "uint32", "uint16", "uint8", "float16"):
        setattr(cp, name, getattr(np, name))
    cp.asnumpy = lambda array: np.asarray(array).view(np.ndarray)
    cp.get_default_memory_pool = lambda: types.SimpleNamespace(free_all_blocks=lambda: None)
    return cp


class FakeNvml:
    """The few pynvml calls hwbench makes: a steady 1500 MHz SM clock, power capped on every sample."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    class NVMLError(Exception):
        pass

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetClockInfo(self, handle, clock):
        return 1500 if clock == self.NVML_CLOCK_SM else 2500

    def nvmlDeviceGetMaxClockInfo(self, handle, clock):
        return 2000 if clock == self.NVML_CLOCK_SM else 2500

    def nvmlDeviceGetPowerUsage(self, handle):
        return 650_000

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 70

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return 0x4

    def nvmlDeviceGetMemoryBusWidth(self, handle):
        return 5120

    def nvmlSystemGetDriverVersion(self):
        return "000.00-fake"

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle):
        return 5

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle):
        return 16
