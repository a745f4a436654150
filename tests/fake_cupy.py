"""A stand-in for CuPy and NVML, backed by NumPy, so the GPU runner's orchestration (launch arguments, timing
loop, validation, telemetry windows, profile assembly) runs in CI without a GPU.

Each "kernel" does in NumPy what the .cu kernel of the same name does, so validation sees real results.
Times are fixed (1 ms per event pair): the rates it yields are meaningless and only tested for shape.
"""

from __future__ import annotations

import functools
import types

import numpy as np


@functools.cache
def _fma_sum(dtype, a, b, x0, iterations, chains=8):
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


class Kernel:
    def __init__(self, name: str):
        self.name = name

    def __call__(self, grid, block, args, *, shared_mem=0):  # CuPy's RawKernel: launches on the current stream
        form, _, suffix = self.name.rpartition("_")
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
            partial[:] = 0
            partial[0] = int(passes) * buffer.sum()
        elif form == "dot":
            a, b, partial, _ = args
            partial[:] = 0
            partial[0] = np.dot(a, b)
        else:
            a, b, c, scalar, _ = args
            if form == "copy":
                c[:] = a
            elif form == "scale":
                b[:] = scalar * c
            elif form == "add":
                c[:] = a + b
            elif form == "triad":
                a[:] = b + scalar * c


class RawModule:
    def __init__(self, code: str, options=()):
        self.code = code

    def compile(self):
        return None

    def get_function(self, name: str) -> Kernel:
        return Kernel(name)  # that the .cu files define every name is checked under nvcc (test_gpu.py)


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
    def record(self, stream=None):
        pass

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


def make_cupy(l2_bytes: int = 1 << 20, free_bytes: int = 96 << 20) -> types.ModuleType:
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1, runtimeGetVersion=lambda: 13000, memGetInfo=lambda: (free_bytes, 2 * free_bytes),
        getDeviceProperties=lambda index: {"name": b"Fake GPU", "major": 9, "minor": 0, "multiProcessorCount": 4,
                                           "maxThreadsPerMultiProcessor": 2048, "l2CacheSize": l2_bytes},
        CUDARuntimeError=RuntimeError)
    cuda = types.SimpleNamespace(
        runtime=runtime, Device=Device, Stream=Stream, Event=Event, get_elapsed_time=lambda start, end: 1.0,
        memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError))
    cp = types.ModuleType("cupy")
    cp.__version__ = "0.0-fake"
    cp.cuda = cuda
    cp.RawModule = RawModule
    for name in ("full", "zeros", "ones", "empty", "sum", "max", "min", "abs", "asarray", "float64", "float32",
                 "uint32", "uint16", "float16"):
        setattr(cp, name, getattr(np, name))
    cp.asnumpy = np.asarray
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
