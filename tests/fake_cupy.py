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
import threading
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
        if _PEERS is not None:
            _PEERS.check_access([arg for arg in args if isinstance(arg, np.ndarray)])
        form, _, suffix = self.name.rpartition("_")
        n_vec = int(args[2 if form == "l2_read" else -1]) if form in ("copy", "scale", "add", "triad", "dot",
                                                                      "l2_read") else None
        if self.module is not None:
            launch = Launch(self.name, grid, block, self.module, n_vec)
            self.module.launches.append(launch)
            if self.module.clock is not None:
                self.module.clock.launches.append(launch)
        if self.name.startswith("chase_"):  # latency.cu: see the latency block below
            _latency_chase(self.name, args)
            return
        if self.name.startswith("fma_"):
            out, a, b, x0, iterations = args
            if suffix in ("f16x2", "bf16x2"):
                bf16 = suffix == "bf16x2"
                value = _fma_sum(np.float32, _unpack(a, bf16), _unpack(b, bf16), _unpack(x0, bf16), int(iterations))
                out[:] = _packed(float(value), bf16)
            else:
                out[:] = _fma_sum(out.dtype.type, a, b, x0, int(iterations))
        elif form == "intensity":  # intensity.cu: each element += 1 per step (alpha = beta = 1 is all hwbench uses)
            array, n, flops, alpha, beta = args
            steps = 1 if int(flops) == 1 else int(flops) // 2
            if float(alpha) != 1.0 and int(flops) > 1:
                raise NotImplementedError("the stand-in's intensity kernel models alpha = 1 only")
            array[:int(n)] += array.dtype.type(steps * float(beta))
        elif form in ("shared_read", "l1_read"):  # onchip.cu: each thread sums its VECTORS / BLOCK float4, passes x
            source, out, passes = args
            constants = {m.group(1): int(m.group(2)) for option in self.module.options
                         if (m := re.fullmatch(r"-D(\w+)=(\d+)", option))}
            vectors, bound = constants["VECTORS"], constants["BLOCK"]
            if block[0] != bound:
                raise LaunchError(f"{self.name} must be launched with BLOCK = {bound} threads, not {block[0]}")
            per_thread = source[:4 * vectors].reshape(vectors // bound, bound, 4).sum(axis=(0, 2), dtype=np.float32)
            out[:grid[0] * bound] = np.tile(per_thread * np.float32(passes), grid[0])
        elif form == "stencil5":  # stencil.cu: one interior point per thread of a 2-D grid, x along a row
            _stencil5(self, grid, block, args)
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


# --- latency.cu (the latency family's chases) ---------------------------------------------------------------
FAKE_CYCLES_PER_LOAD = {"chase_shared": 30, "chase_global_ldg": 40, "chase_global_cg": 300}  # a stand-in's clock


def _latency_chase(name: str, args: tuple) -> None:
    """chase_shared / chase_global_ldg / chase_global_cg: one thread follows j = chain[j] for warm + steps loads and
    writes the index it ends at; the cycles are the stand-in's (FAKE_CYCLES_PER_LOAD per load), no real timing."""
    if name == "chase_shared":
        chain, _, warm, steps, start, cycles, end = args
    else:
        chain, warm, steps, start, cycles, end = args
    j = int(start)
    for _ in range(int(warm) + int(steps)):
        j = int(chain[j])
    cycles[0] = FAKE_CYCLES_PER_LOAD[name] * int(steps)
    end[0] = j
# --- end of the latency block -----------------------------------------------------------------------------------


def _stencil5(kernel: Kernel, grid: tuple, block: tuple, args: tuple) -> None:
    """stencil.cu's stencil5_f32: out = c0 u + c1 (N + S + W + E) in fp32 on the interior points the launch's
    threads cover (thread (x, y) of block (bx, by) takes column bx BLOCK_X + x, row by BLOCK_Y + y); a block
    other than the module's BLOCK_X x BLOCK_Y is refused (the kernel indexes with the constants)."""
    u, out, rows, cols, c0, c1 = args
    constants = {m.group(1): int(m.group(2)) for option in kernel.module.options
                 if (m := re.fullmatch(r"-D(\w+)=(\d+)", option))}
    if tuple(block) != (constants["BLOCK_X"], constants["BLOCK_Y"]) or len(grid) != 2:
        raise LaunchError(f"{kernel.name}: block {block} x grid {grid}, the kernel needs a 2-D grid of "
                          f"({constants['BLOCK_X']}, {constants['BLOCK_Y']}) blocks")
    rows, cols = int(rows), int(cols)
    last_row, last_col = min(rows - 1, grid[1] * block[1]), min(cols - 1, grid[0] * block[0])
    grid_u, grid_out = u.reshape(rows, cols), out.reshape(rows, cols)
    inner = (slice(1, last_row), slice(1, last_col))
    neighbours = ((grid_u[0:last_row - 1, 1:last_col] + grid_u[2:last_row + 1, 1:last_col])
                  + grid_u[1:last_row, 0:last_col - 1]) + grid_u[1:last_row, 2:last_col + 1]
    grid_out[inner] = np.float32(c0) * grid_u[inner] + np.float32(c1) * neighbours


class ElementwiseKernel:
    """cupy.ElementwiseKernel for the one-line operations hwbench uses ("z = a * x + y"): the right-hand side
    is evaluated by NumPy on the arguments, named as in the kernel's parameter lists, into the output array."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel"):
        self.names = [part.split()[-1] for part in f"{in_params}, {out_params}".split(",")]
        self.target, _, self.expression = (part.strip() for part in operation.rstrip(";").partition("="))
        self.name = name

    def __call__(self, *args):
        values = dict(zip(self.names, args))
        values[self.target][...] = eval(self.expression, {"__builtins__": {}}, values)  # test stand-in only
        return values[self.target]


def _matmul(a, b, out=None):
    """cupy.matmul: cuBLAS GEMM; fp16 products accumulate in fp32 (CUBLAS_COMPUTE_32F), then round to fp16."""
    result = np.matmul(a.astype(np.float32), b.astype(np.float32)) if a.dtype == np.float16 else np.matmul(a, b)
    if out is None:
        return result.astype(a.dtype)
    out[...] = result
    return out


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


_CURRENT = threading.local()  # CUDA's current device is per host thread; CuPy's Device follows it


def current_device() -> int:
    return getattr(_CURRENT, "index", 0)


class Device:
    """cupy.cuda.Device: ``use()`` and ``with`` make it current in the calling thread (``with`` restores the
    previous one on exit)."""

    attributes = {"GlobalMemoryBusWidth": 5120}

    def __init__(self, index=0):
        self.id = index
        self._previous: list[int] = []

    def use(self):
        _CURRENT.index = self.id

    def __enter__(self):
        self._previous.append(current_device())
        self.use()
        return self

    def __exit__(self, *exc):
        _CURRENT.index = self._previous.pop()
        return False

    def synchronize(self):
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
    """An array with CuPy's ``.data.ptr`` and ``.set``, for the copies of the transfer family; ``device_id`` is
    the device that was current when it was made (results of arithmetic stay on their operand's device)."""

    def __array_finalize__(self, obj):
        self.device_id = getattr(obj, "device_id", current_device())

    @property
    def data(self):
        _BUFFERS[id(self)] = self.view(np.uint8).reshape(-1)
        _OWNERS[id(self)] = self.device_id
        return types.SimpleNamespace(ptr=id(self))

    def set(self, values):
        self[...] = values


def _memcpy_async(target: int, source: int, nbytes: int, kind: int, stream: int) -> None:
    _BUFFERS[target][:nbytes] = _BUFFERS[source][:nbytes]


class PeerRuntime:
    """Several fake GPUs: which may reach which (``cudaDeviceCanAccessPeer``), the peer access each has enabled,
    and ``cudaMemcpyPeerAsync``, which refuses a pointer that is not on the device it names."""

    def __init__(self, devices: int, peer: Callable[[int, int], bool] | None = None):
        self.devices = devices
        self.peer = peer or (lambda device, other: True)
        self.enabled: set[tuple[int, int]] = set()  # (device, the peer whose memory it may read)
        self.copies: list[tuple[int, int, int]] = []  # (source device, target device, bytes)

    def can_access(self, device: int, other: int) -> int:
        return int(device != other and self.peer(device, other))

    def enable(self, other: int) -> None:
        device = current_device()
        if not self.can_access(device, other):
            raise RuntimeError(f"cudaErrorInvalidDevice: {device} cannot access {other}")
        if (device, other) in self.enabled:
            raise RuntimeError("cudaErrorPeerAccessAlreadyEnabled: peer access is already enabled")
        self.enabled.add((device, other))

    def memcpy_peer(self, target: int, target_device: int, source: int, source_device: int, nbytes: int,
                    stream: int) -> None:
        for pointer, device in ((target, target_device), (source, source_device)):
            owner = _OWNERS.get(pointer)
            if owner is not None and owner != device:
                raise LaunchError(f"memcpyPeerAsync: a pointer of device {owner} given as device {device}'s")
        self.copies.append((source_device, target_device, nbytes))
        _BUFFERS[target][:nbytes] = _BUFFERS[source][:nbytes]

    def check_access(self, arrays) -> None:
        """A kernel on the current device reading another device's array needs peer access enabled."""
        device = current_device()
        for array in arrays:
            owner = getattr(array, "device_id", device)
            if owner != device and (device, owner) not in self.enabled:
                raise LaunchError(f"illegal address: device {device} reads device {owner}'s memory without peer "
                                  "access")


_OWNERS: dict[int, int] = {}  # "device pointer" -> device, for memcpyPeerAsync's check
_PEERS: PeerRuntime | None = None  # the latest stand-in's peer state (kernels check their arguments against it)


class FakeNccl:
    """cupy.cuda.nccl for members that all live in one process: ``allReduce`` calls are held until
    ``groupEnd`` (as NCCL does inside a group), then every member of the unique id gets the sum of all sends."""

    NCCL_FLOAT32, NCCL_SUM = 7, 0
    available = True

    def __init__(self):
        self.depth = 0
        self.pending: list[tuple] = []
        self.calls = 0

    def get_unique_id(self):
        return (len(self.pending), id(self))

    def get_version(self):
        return 22800

    def groupStart(self):
        self.depth += 1

    def groupEnd(self):
        self.depth -= 1
        if self.depth == 0:
            pending, self.pending = self.pending, []
            for uid in {entry[0].uid for entry in pending}:
                calls = [entry for entry in pending if entry[0].uid == uid]
                if len(calls) != calls[0][0].members:
                    raise RuntimeError(f"NCCL would hang: {len(calls)} of {calls[0][0].members} members called")
                total = sum(_BUFFERS[send].view(np.float32)[:count] for _, send, _, count in calls)
                for _, _, receive, count in calls:
                    _BUFFERS[receive].view(np.float32)[:count] = total

    def NcclCommunicator(self, members, uid, rank):
        nccl = self

        class Communicator:
            def __init__(self):
                self.members, self.uid, self.rank = members, uid, rank

            def allReduce(self, send, receive, count, datatype, op, stream):
                nccl.calls += 1
                nccl.pending.append((self, send, receive, count))
                if nccl.depth == 0:
                    nccl.groupStart()
                    nccl.groupEnd()

        return Communicator()


def pci_bus_id(index: int) -> str:
    """The fake PCI bus id of device ``index`` (FakeNvml maps it back)."""
    return f"00000000:{0x18 + index:02X}:00.0"


def make_cupy(l2_bytes: int = 1 << 20, free_bytes: int = 96 << 20, devices: int = 1,
              peer: Callable[[int, int], bool] | None = None) -> types.ModuleType:
    """A CuPy stand-in with ``devices`` fake GPUs; ``peer(device, other)``: whether device may access other's
    memory (default: every pair)."""
    global _PEERS
    peers = _PEERS = PeerRuntime(devices, peer)
    _CURRENT.index = 0
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: devices, runtimeGetVersion=lambda: 13000,
        memGetInfo=lambda: (free_bytes, 2 * free_bytes),
        getDeviceProperties=lambda index: {"name": b"Fake GPU", "major": 9, "minor": 0, "multiProcessorCount": 4,
                                           "maxThreadsPerMultiProcessor": 2048, "l2CacheSize": l2_bytes},
        CUDARuntimeError=RuntimeError, memcpyAsync=_memcpy_async,
        deviceCanAccessPeer=peers.can_access, deviceEnablePeerAccess=peers.enable,
        memcpyPeerAsync=peers.memcpy_peer, deviceGetPCIBusId=pci_bus_id)
    clock = Clock()
    cuda = types.SimpleNamespace(
        runtime=runtime, Device=Device, Stream=Stream, Event=type("Event", (Event,), {"clock": clock}),
        get_elapsed_time=clock.elapsed_ms,
        alloc_pinned_memory=PinnedMemory,
        memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError), nccl=FakeNccl())
    cp = types.ModuleType("cupy")
    cp.__version__ = "0.0-fake"
    cp.cuda = cuda
    cp.RawModule = type("RawModule", (RawModule,), {"created": [], "clock": clock})  # this stand-in's own modules
    cp.fake_clock = clock
    cp.empty = lambda shape, dtype=float: np.empty(shape, dtype=dtype).view(DeviceArray)
    cp.arange = lambda *args, dtype=None: np.arange(*args, dtype=dtype).view(DeviceArray)
    cp.array_equal = np.array_equal
    cp.fake_peers = peers
    for name in ("full", "zeros", "ones", "sum", "max", "min", "abs", "asarray", "float64", "float32",
                 "uint32", "uint16", "uint8", "float16"):
        setattr(cp, name, getattr(np, name))
    cp.asnumpy = lambda array: np.asarray(array).view(np.ndarray)
    cp.matmul, cp.ElementwiseKernel = _matmul, ElementwiseKernel  # hwbench validate's workloads
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

    # Several GPUs: handles are device indices; ``nvlinks[i]`` lists device i's active links as (the peer's
    # index, or "switch", NVLink version); none: the GPUs meet over PCIe gen 4 x16 as they run now.
    NVML_NVLINK_MAX_LINKS = 18
    nvlinks: dict[int, list[tuple[int | str, int]]] = {}

    def nvmlDeviceGetHandleByPciBusId_v2(self, bus_id):
        text = bus_id.decode() if isinstance(bus_id, bytes) else bus_id
        return int(text.split(":")[1], 16) - 0x18

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle):
        return 4

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle):
        return 16

    def _link(self, handle, link):
        links = self.nvlinks.get(handle, [])
        if link >= len(links):
            raise self.NVMLError("NVML_ERROR_NOT_SUPPORTED")
        return links[link]

    def nvmlDeviceGetNvLinkState(self, handle, link):
        self._link(handle, link)
        return 1

    def nvmlDeviceGetNvLinkVersion(self, handle, link):
        return self._link(handle, link)[1]

    def nvmlDeviceGetNvLinkRemoteDeviceType(self, handle, link):
        return 2 if self._link(handle, link)[0] == "switch" else 0

    def nvmlDeviceGetNvLinkRemotePciInfo_v2(self, handle, link):
        remote = self._link(handle, link)[0]
        return types.SimpleNamespace(busId=b"ffffffff:ff:00.0" if remote == "switch" else pci_bus_id(remote).encode())
