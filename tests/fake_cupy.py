"""A stand-in for CuPy and NVML, backed by NumPy, so the GPU session's orchestration (launch arguments, timing
loop, validation, telemetry windows, profile assembly) runs in CI without a GPU.

Each "kernel" does in NumPy what the .cu kernel of the same name does, so validation sees real results;
host <-> device copies copy the bytes; cuBLAS's gemmEx (the tensor family, int8 included) and cuBLASLt's fp8
cublasLtMatmul (``FakeCublasLt``, which ``install`` puts in place of the ctypes library) multiply in NumPy; the mma
kernels store mma.cu's closed form computed from the operand words they are given. The STREAM
kernels follow stream.cu's launch semantics: a grid-stride loop over the first ``n_vec`` 16-byte vectors (thread t of
grid x block threads takes vectors t, t + grid x block, ...), dot and l2_read write one partial sum per block
to ``partial[:grid]`` and leave the rest alone; a launch CUDA would refuse (more threads per block than the
module's ``-DBLOCK`` bound, a reduction block that is not whole warps, partials or vectors out of bounds)
raises ``LaunchError``.
Times are fixed (1 ms per event pair) unless a test sets ``cp.fake_clock.cost_ms``: the rates are meaningless
and only tested for shape, or for what a launch-shape sweep makes of a made-up cost.

Held to the real packages (cupy-cuda12x/13x 14.x, nvidia-ml-py 13; tests/test_gpu_real_api.py checks every name
below against them): only names they have, their formats (CUDA's 12-character PCI bus id, NVML's
``%08X:%02X:%02X.0`` one, ``nvmlNvlinkVersion_t`` enum values, 128-entry NCCL unique ids, tuple options) and their
failure modes (``get_function`` of a name the module does not define: ``CUDADriverError``; a source NVRTC
refuses: ``cupy.cuda.compiler.CompileException``; no NVRTC / cuBLAS library: cuda.pathfinder's
``DynamicLibNotFoundError`` / ImportError; no NVML: ``NVMLError_LibraryNotFound``; a query a GPU does not
support: ``NVMLError_NotSupported``).

Stream order: every write (``zeros``, ``full``, ``fill``, ``set``, kernels, copies) is recorded with the stream it
was issued on (CuPy's current stream, or the stream given) until something waits for that stream; an operation
on another stream that touches the same bytes without an order between the two (the legacy default stream is
ordered with blocking streams, never with ``non_blocking=True`` ones) raises ``RaceError``, as the real race
would spoil results on a GPU at random.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import re
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.array_utils import byte_bounds

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


class CUDADriverError(RuntimeError):
    """cupy.cuda.driver.CUDADriverError."""


class CUDARuntimeError(RuntimeError):
    """cupy.cuda.runtime.CUDARuntimeError."""


class LaunchError(CUDADriverError):
    """A launch the CUDA driver would refuse (cudaErrorInvalidConfiguration, too many resources requested)
    or one that would read or write out of bounds (CUDA_ERROR_ILLEGAL_ADDRESS)."""


class RaceError(RuntimeError):
    """Two operations on the same device bytes, on streams with no order between them. On a GPU nothing would
    be raised (results would be spoiled at random); the stand-in stops the test instead."""


class Stream:
    """cupy.cuda.Stream(null=False, non_blocking=False, ptds=False, priority=None): ``with`` makes it CuPy's
    current stream in the calling thread; ``ptr`` is 0 for the legacy default stream."""

    null: Stream  # the legacy default stream (set below)

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.is_non_blocking = bool(non_blocking)
        self.ptr = 0 if null else next(_STREAM_IDS)
        self.device_id = current_device()
        _STREAMS[self.ptr] = self

    def __enter__(self):
        _stream_stack().append(self)
        return self

    def __exit__(self, *exc):
        _stream_stack().pop()
        return False

    def use(self):
        stack = _stream_stack()
        stack[:] = [*stack[:-1], self] if stack else [self]
        return self

    def synchronize(self):
        _ORDER.waited(stream=self)

    def __repr__(self):
        return f"<fake Stream {self.ptr}{' non-blocking' if self.is_non_blocking else ''}>"


_STREAM_IDS = itertools.count(1)
_STREAMS: dict[int, Stream] = {}
_STREAM_STACK = threading.local()


def _stream_stack() -> list:
    if not hasattr(_STREAM_STACK, "stack"):
        _STREAM_STACK.stack = []
    return _STREAM_STACK.stack


def get_current_stream() -> Stream:
    stack = _stream_stack()
    return stack[-1] if stack else Stream.null


def _ordered(first: Stream, first_device: int, second: Stream, second_device: int) -> bool:
    """Whether work on ``second`` is ordered after earlier work on ``first`` (CUDA Programming Guide, "Default
    Stream": each device's legacy default stream waits for, and is waited for by, that device's blocking
    streams; ``non_blocking`` streams are ordered with nothing but themselves)."""
    if first_device != second_device:
        return False
    if first is second:
        return True
    return (first.ptr == 0 or second.ptr == 0) and not (first.is_non_blocking or second.is_non_blocking)


class StreamOrder:
    """Writes not yet waited for: (first byte, end, stream, device) -> the operation that wrote them."""

    def __init__(self):
        self.pending: dict[tuple[int, int, int, int], str] = {}
        self.lock = threading.Lock()

    def touch(self, arrays, stream: Stream, what: str, writes: bool = True) -> None:
        """``what`` on ``stream`` reads (and, if ``writes``, writes) ``arrays``: a race with an unordered pending
        write is refused; the write is recorded."""
        device = current_device() if stream.ptr == 0 else stream.device_id
        with self.lock:
            for array in arrays:
                low, high = byte_bounds(np.asarray(array))
                for (start, end, ptr, owner), writer in self.pending.items():
                    other = _STREAMS[ptr]
                    if start < high and low < end and not _ordered(other, owner, stream, device):
                        raise RaceError(f"{what} on {stream!r} touches memory that {writer} on {other!r} wrote, with "
                                        "nothing ordering the two streams: synchronise, or issue both on one stream")
                if writes and high > low:
                    self.pending[(low, high, stream.ptr, device)] = what

    def waited(self, stream: Stream | None = None, device: int | None = None) -> None:
        """The host waited for ``stream`` (or for every stream of ``device``): its writes are done."""
        stream_device = None if stream is None else current_device() if stream.ptr == 0 else stream.device_id
        with self.lock:
            self.pending = {key: writer for key, writer in self.pending.items()
                            if not ((stream is not None and key[2] == stream.ptr and key[3] == stream_device)
                                    or (device is not None and key[3] == device))}


_ORDER = StreamOrder()


def _host_read(*arrays) -> None:
    """A host read (``asnumpy``, a reduction's scalar): a copy on the current stream, then the host waits for it."""
    stream = get_current_stream()
    _ORDER.touch([a for a in arrays if isinstance(a, np.ndarray)], stream, "a device-to-host read", writes=False)
    _ORDER.waited(stream=stream)


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
    """cupy.RawKernel as ``RawModule.get_function`` returns it: ``num_regs`` (the module's ``registers`` table,
    32 by default: 2048 threads fill an SM's 64 K registers), ``kernel.ptr`` for the driver's occupancy API."""

    def __init__(self, name: str, module: RawModule | None = None):
        self.name = name
        self.module = module
        self.num_regs = module.registers.get(name, DEFAULT_REGISTERS) if module is not None else DEFAULT_REGISTERS
        self.max_threads_per_block = 1024
        self.kernel = types.SimpleNamespace(ptr=id(self))
        _FUNCTIONS[id(self)] = self

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
        arrays = [arg for arg in args if isinstance(arg, np.ndarray)]
        if _PEERS is not None:
            _PEERS.check_access(arrays)
        _ORDER.touch(arrays, get_current_stream(), f"kernel {self.name}")
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
        if self.name.startswith(("mma_", "wgmma_", "tcgen05_")):  # mma.cu: see the mma block below
            _mma(self, grid, block, args)
            return
        if self.name.startswith("fma_"):
            out, a, b, x0, iterations = args
            if suffix in ("f16x2", "bf16x2"):
                bf16 = suffix == "bf16x2"
                value = _fma_sum(np.float32, _unpack(a, bf16), _unpack(b, bf16), _unpack(x0, bf16), int(iterations))
                out[:] = _packed(float(value), bf16)
            else:
                out[:] = _fma_sum(out.dtype.type, a, b, x0, int(iterations))
        elif form == "intensity":  # intensity.cu: each element += 1 per step and pass (alpha = beta = 1, as hwbench)
            array, n, flops, passes, alpha, beta = args
            steps = (1 if int(flops) == 1 else int(flops) // 2) * int(passes)
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
        elif form in ("stencil7", "nbody", "spmv_csr"):  # stencil.cu's other validate kernels
            _VALIDATE_KERNELS[form](self, grid, block, args)
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
FAKE_CYCLES_PER_LOAD = {"chase_shared": 30, "chase_global_ldg": 40, "chase_global_cg": 300,
                        "chase_remote": 1500}  # a stand-in's clock


def _latency_chase(name: str, args: tuple) -> None:
    """chase_shared / chase_global_ldg / chase_global_cg / chase_remote: one thread follows j = chain[j] for warm +
    steps loads and writes the index it ends at; the cycles are the stand-in's (FAKE_CYCLES_PER_LOAD per load), no real
    timing. A chain given as a pointer-sized integer is pinned host memory (the address of alloc_pinned_memory's
    buffer, as a kernel reads it under unified addressing); an address of nothing is an illegal address."""
    if name == "chase_shared":
        chain, _, warm, steps, start, cycles, end = args
    else:
        chain, warm, steps, start, cycles, end = args
    if isinstance(chain, np.integer):
        if int(chain) not in _BUFFERS:
            raise LaunchError(f"{name}: illegal address {int(chain):#x}")
        chain = _BUFFERS[int(chain)].view(np.uint32)
    j = int(start)
    for _ in range(int(warm) + int(steps)):
        j = int(chain[j])
    cycles[0] = FAKE_CYCLES_PER_LOAD[name] * int(steps)
    end[0] = j
# --- end of the latency block -----------------------------------------------------------------------------------


# --- mma.cu (the mma family's tensor-pipe kernels) ---------------------------------------------------------------
# Each thread stores the sum of its accumulators after ``iterations`` steps, each step adding K x a x b to every
# accumulator element (mma.cu's closed form); the stand-in computes that sum from the operand words it is given, so a
# wrong word, a wrong iteration count or a launch over the module's BLOCK shows in the validation.
MMA_SHAPES = {"mma_f16": 16, "mma_bf16": 16, "mma_tf32": 8, "mma_s8": 32, "mma_e4m3": 32, "mma_e5m2": 32,
              "wgmma_bf16": 16, "tcgen05_bf16": 16}  # entry -> K of its instruction shape
# Arch-specific entries: the -arch option their module needs, else the driver finds no such symbol (mma.cu's guards).
MMA_ARCH_SPECIFIC = {"wgmma_bf16": ("-arch=sm_90a",), "tcgen05_bf16": ("-arch=sm_100a", "-arch=sm_103a")}
TCGEN05_N = 256  # tcgen05_bf16's accumulator columns per TMEM lane, split over BLOCK / 128 warpgroups


def _mma_element(name: str, word: int) -> float:
    """The value every element of an operand word holds (all of a word's elements must agree)."""
    if name in ("mma_f16", "mma_bf16", "wgmma_bf16", "tcgen05_bf16"):
        halves = {word & 0xFFFF, word >> 16}
        if len(halves) != 1:
            raise ValueError(f"{name}: the two halves of {word:#x} differ")
        return _unpack(np.uint32(word), name != "mma_f16")
    if name == "mma_tf32":
        return float(np.uint32(word).view(np.float32))
    octets = {(word >> shift) & 0xFF for shift in (0, 8, 16, 24)}
    if len(octets) != 1:
        raise ValueError(f"{name}: the bytes of {word:#x} differ")
    octet = octets.pop()
    if name == "mma_s8":
        return float(np.int8(np.uint8(octet)))
    exponent_bits, bias = (4, 7) if name == "mma_e4m3" else (5, 15)
    mantissa_bits = 7 - exponent_bits
    exponent, mantissa = (octet >> mantissa_bits) & ((1 << exponent_bits) - 1), octet & ((1 << mantissa_bits) - 1)
    value = (1 + mantissa / (1 << mantissa_bits)) * 2.0 ** (exponent - bias) if exponent else 0.0  # normals only
    return -value if octet & 0x80 else value


def _mma(kernel: Kernel, grid: tuple, block: tuple, args: tuple) -> None:
    out, a, b, iterations = args
    constants = {m.group(1): int(m.group(2)) for option in kernel.module.options
                 if (m := re.fullmatch(r"-D(\w+)=(\d+)", option))}
    targets = MMA_ARCH_SPECIFIC.get(kernel.name)
    if targets and not set(targets) & set(kernel.module.options):
        raise CUDADriverError(f"CUDA_ERROR_NOT_FOUND: named symbol not found ({kernel.name} is built for "
                              f"{' / '.join(t.removeprefix('-arch=') for t in targets)} only)")
    if kernel.name.startswith("tcgen05") and block[0] != constants["BLOCK"]:
        raise LaunchError(f"{kernel.name}: block {block[0]} is not the module's BLOCK {constants['BLOCK']}")
    k = MMA_SHAPES[kernel.name]
    if kernel.name.startswith("tcgen05"):  # one accumulator per (TMEM lane, column); a thread sums its columns
        accumulators, steps = TCGEN05_N // (block[0] // 128), int(iterations) * constants["UNROLL"]
    elif kernel.name.startswith("wgmma"):
        accumulators, steps = 128, int(iterations) * constants["UNROLL"]
    else:
        accumulators, steps = 4 * constants["CHAINS"], int(iterations)
    product = _mma_element(kernel.name, int(a)) * _mma_element(kernel.name, int(b))
    threads = grid[0] * block[0]
    if threads > out.size:
        raise LaunchError(f"{kernel.name}: {threads} threads write past {out.size} sums")
    out[:threads] = out.dtype.type(accumulators * k * steps * product)
# --- end of the mma block -----------------------------------------------------------------------------------------


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


def _block_constants(kernel: Kernel) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for option in kernel.module.options
            if (m := re.fullmatch(r"-D(\w+)=(\d+)", option))}


def _stencil7(kernel: Kernel, grid: tuple, block: tuple, args: tuple) -> None:
    """stencil.cu's stencil7_f32: out = c0 u + c1 (6 neighbours) in fp32 on the interior points of an nz x ny x nx
    grid that a grid of (ceil(nx / BLOCK_X), ceil(ny / BLOCK_Y), nz) blocks of BLOCK_X x BLOCK_Y threads covers."""
    u, out, nz, ny, nx, c0, c1 = args
    constants = _block_constants(kernel)
    if tuple(block) != (constants["BLOCK_X"], constants["BLOCK_Y"]) or len(grid) != 3:
        raise LaunchError(f"{kernel.name}: block {block} x grid {grid}, the kernel needs a 3-D grid of "
                          f"({constants['BLOCK_X']}, {constants['BLOCK_Y']}) blocks")
    nz, ny, nx = int(nz), int(ny), int(nx)
    last_k, last_j, last_i = min(nz - 1, grid[2]), min(ny - 1, grid[1] * block[1]), min(nx - 1, grid[0] * block[0])
    g, o = u.reshape(nz, ny, nx), out.reshape(nz, ny, nx)
    k, j, i = slice(1, last_k), slice(1, last_j), slice(1, last_i)
    neighbours = (((((g[0:last_k - 1, j, i] + g[2:last_k + 1, j, i]) + g[k, 0:last_j - 1, i]) + g[k, 2:last_j + 1, i])
                   + g[k, j, 0:last_i - 1]) + g[k, j, 2:last_i + 1])
    o[k, j, i] = np.float32(c0) * g[k, j, i] + np.float32(c1) * neighbours


def _one_dimensional(kernel: Kernel, grid: tuple, block: tuple, count: int) -> int:
    """How many of ``count`` items a 1-D launch of BLOCK_X x BLOCK_Y threads per block covers."""
    constants = _block_constants(kernel)
    if tuple(block) != (constants["BLOCK_X"] * constants["BLOCK_Y"],) or len(grid) != 1:
        raise LaunchError(f"{kernel.name}: block {block} x grid {grid}, the kernel needs a 1-D grid of "
                          f"{constants['BLOCK_X'] * constants['BLOCK_Y']}-thread blocks")
    return min(count, grid[0] * block[0])


def _nbody(kernel: Kernel, grid: tuple, block: tuple, args: tuple) -> None:
    """stencil.cu's nbody_f32: each covered body's acceleration from every body (fp32, 1 / sqrt for rsqrtf)."""
    x, y, z, m, ax, ay, az, n, eps2 = args
    covered = _one_dimensional(kernel, grid, block, int(n))
    d = [p[None, :] - p[:covered, None] for p in (x, y, z)]
    inverse = np.float32(1.0) / np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + np.float32(eps2))
    s = m[None, :] * inverse * inverse * inverse
    for target, component in zip((ax, ay, az), d):
        target[:covered] = np.sum(component * s, axis=1, dtype=np.float32)


def _spmv_csr(kernel: Kernel, grid: tuple, block: tuple, args: tuple) -> None:
    """stencil.cu's spmv_csr_f32: y[row] = sum of values[k] x[columns[k]] over the row, for each covered row."""
    pointers, columns, values, x, y, rows = args
    for row in range(_one_dimensional(kernel, grid, block, int(rows))):
        lo, hi = int(pointers[row]), int(pointers[row + 1])
        y[row] = np.sum(values[lo:hi] * x[columns[lo:hi]], dtype=np.float32)


_VALIDATE_KERNELS = {"stencil7": _stencil7, "nbody": _nbody, "spmv_csr": _spmv_csr}


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


DEFAULT_REGISTERS = 32
_FUNCTIONS: dict[int, Kernel] = {}  # kernel.ptr -> the function, for the occupancy API


def entry_names(code: str) -> set[str]:
    """The ``extern "C" __global__`` functions a .cu source defines, directly or through a macro invoked at the
    start of a line (``copy_##SUFFIX`` in STREAM_KERNELS(double, double2, f64) is copy_f64); test_gpu.py checks
    the result against the entries nvcc builds."""
    text = code.replace("\\\n", " ")
    entry = r'extern "C" __global__ void (?:__launch_bounds__\([^)]*\)\s*)?([\w#]+)\s*\('
    defines = re.findall(r"^#define (\w+)\(([^)]*)\)(.*)$", text, flags=re.MULTILINE)
    plain = re.sub(r"^#define .*$", "", text, flags=re.MULTILINE)
    names = set(re.findall(entry, plain))
    for macro, params, body in defines:
        templates = re.findall(entry, body)
        for args in re.findall(rf"^{macro}\(([^)]*)\)", plain, flags=re.MULTILINE) if templates else ():
            values = dict(zip((p.strip() for p in params.split(",")), (a.strip() for a in args.split(","))))
            names |= {"".join(values.get(token.strip(), token.strip()) for token in template.split("##"))
                      for template in templates}
    return names


class CompileException(Exception):
    """cupy.cuda.compiler.CompileException(msg, source, name, options, backend='nvrtc')."""

    def __init__(self, msg, source, name, options, backend="nvrtc"):
        self._msg, self.source, self.name, self.options, self.backend = msg, source, name, options, backend
        super().__init__()

    def __str__(self):
        return self._msg


class DynamicLibNotFoundError(RuntimeError):
    """cuda.pathfinder's error for a CUDA library it cannot find (what CuPy 14 raises without NVRTC)."""


def _missing(library: str) -> str:
    return f'Failure finding "{library}.so.13 or {library}.so.12": No such file'


class RawModule:
    """cupy.RawModule(code=..., options=()): records the source, the NVRTC options and every launch of its
    kernels; ``created`` lists every module made through one ``make_cupy()`` stand-in (set there).
    ``compile()`` fails as NVRTC does on a source with no kernel or an option that is not ``-X`` form, and as
    CuPy does without the NVRTC library (``missing``); ``get_function`` of a name the source does not define
    fails as ``cuModuleGetFunction`` does."""

    created: list[RawModule] = []
    clock: Clock | None = None
    missing: set[str] = set()  # libraries this stand-in lacks: "nvrtc", "cublas"
    registers: dict[str, int] = {}  # entry -> registers per thread (num_regs); DEFAULT_REGISTERS otherwise

    def __init__(self, code: str = "", options=(), **kwargs):
        if not isinstance(options, tuple) or not all(isinstance(o, str) for o in options):
            raise TypeError(f"options must be a tuple of str, not {options!r}")
        self.code = code
        self.options = options
        self.launches: list[Launch] = []
        self.created.append(self)
        self._compiled = False

    def compile(self, log_stream=None):
        if "nvrtc" in self.missing:
            raise DynamicLibNotFoundError(_missing("libnvrtc"))
        bad = [o for o in self.options if not o.startswith("-")]
        if bad or not entry_names(self.code):
            raise CompileException(f"kern.cu: error: {'unknown option ' + bad[0] if bad else 'no kernel'}",
                                   self.code, "kern.cu", self.options)
        self._compiled = True

    def get_function(self, name: str) -> Kernel:
        if not self._compiled:
            self.compile()
        if name not in entry_names(self.code):
            raise CUDADriverError("CUDA_ERROR_NOT_FOUND: named symbol not found")
        return Kernel(name, self)


def occupancy_max_active_blocks(func: int, block_size: int, dynamic_smem_size: int) -> int:
    """cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(func, blockSize, dynamicSMemSize) for the
    stand-in's SM (2048 threads, 32 blocks, 64 K registers allocated per warp in units of 256: the CUDA Occupancy
    Calculator's rules)."""
    kernel = _FUNCTIONS[func]
    per_warp = -(-kernel.num_regs * 32 // 256) * 256
    warps = -(-block_size // 32)
    return max(0, min(2048 // block_size, 32, 65536 // (per_warp * warps)))


class Event:
    """cupy.cuda.Event(block=False, disable_timing=False, interprocess=False)."""

    clock: Clock | None = None  # set per stand-in (make_cupy)
    mark = 0  # launches recorded before this event

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.stream: Stream | None = None

    def record(self, stream=None):
        self.stream = stream if stream is not None else get_current_stream()
        self.mark = len(self.clock.launches) if self.clock is not None else 0

    def synchronize(self):
        if self.stream is not None:
            _ORDER.waited(stream=self.stream)


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
        _ORDER.waited(device=self.id)

    @property
    def pci_bus_id(self) -> str:
        return pci_bus_id(self.id)


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

    def set(self, arr, stream=None):
        """ndarray.set: a host-to-device copy on ``stream`` (CuPy's current stream when None)."""
        _ORDER.touch([self], stream or get_current_stream(), "ndarray.set")
        self[...] = arr

    def fill(self, value):
        """ndarray.fill: a kernel (a memset for zero) on CuPy's current stream."""
        _ORDER.touch([self], get_current_stream(), "ndarray.fill")
        super().fill(value)

    def get(self, stream=None):
        _host_read(self)
        return np.asarray(self).view(np.ndarray).copy()


def _memcpy_async(dst: int, src: int, size: int, kind: int, stream: int) -> None:
    """cudaMemcpyAsync on the stream whose ``ptr`` is ``stream``."""
    _ORDER.touch([_BUFFERS[src][:size]], _STREAMS[stream], "memcpyAsync (source)", writes=False)
    _ORDER.touch([_BUFFERS[dst][:size]], _STREAMS[stream], "memcpyAsync")
    _BUFFERS[dst][:size] = _BUFFERS[src][:size]


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
            raise CUDARuntimeError(f"cudaErrorInvalidDevice: {device} cannot access {other}")
        if (device, other) in self.enabled:
            raise CUDARuntimeError("cudaErrorPeerAccessAlreadyEnabled: peer access is already enabled")
        self.enabled.add((device, other))

    def memcpy_peer(self, target: int, target_device: int, source: int, source_device: int, nbytes: int,
                    stream: int) -> None:
        for pointer, device in ((target, target_device), (source, source_device)):
            owner = _OWNERS.get(pointer)
            if owner is not None and owner != device:
                raise LaunchError(f"memcpyPeerAsync: a pointer of device {owner} given as device {device}'s")
        self.copies.append((source_device, target_device, nbytes))
        with Device(target_device):
            _ORDER.touch([_BUFFERS[source][:nbytes]], _STREAMS[stream], "memcpyPeerAsync (source)", writes=False)
            _ORDER.touch([_BUFFERS[target][:nbytes]], _STREAMS[stream], "memcpyPeerAsync")
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


NCCL_UNIQUE_ID_BYTES = 128  # nccl.h: ncclUniqueId is char internal[128]; CuPy hands it around as a tuple


class FakeNccl:
    """cupy.cuda.nccl for members that all live in one process: ``allReduce`` calls are held until
    ``groupEnd`` (as NCCL does inside a group), then every member of the unique id gets the sum of all sends.
    The unique id is a tuple of 128 ints (signed chars), as CuPy's ``get_unique_id`` returns it."""

    NCCL_FLOAT32, NCCL_SUM = 7, 0
    available = True

    def __init__(self):
        self.depth = 0
        self.pending: list[tuple] = []
        self.calls = 0
        self._ids = itertools.count(1)

    def get_unique_id(self):
        serial = next(self._ids).to_bytes(8, "little", signed=False) + id(self).to_bytes(8, "little", signed=False)
        return tuple(int(b) - 256 if b > 127 else int(b) for b in serial.ljust(NCCL_UNIQUE_ID_BYTES, b"\0"))

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
                total = sum(_BUFFERS[send].view(np.float32)[:count] for _, send, _, count, _ in calls)
                for _, _, receive, count, _ in calls:
                    _BUFFERS[receive].view(np.float32)[:count] = total

    def NcclCommunicator(self, ndev, commId, rank):
        nccl = self
        if not isinstance(commId, tuple):
            raise TypeError(f"commId must be a tuple, not {type(commId).__name__}")
        if len(commId) != NCCL_UNIQUE_ID_BYTES:
            raise ValueError(f"commId must have {NCCL_UNIQUE_ID_BYTES} entries, not {len(commId)}")

        class NcclCommunicator:
            def __init__(self):
                self.members, self.uid, self.rank = ndev, commId, rank

            def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
                nccl.calls += 1
                on = _STREAMS[stream]
                _ORDER.touch([_BUFFERS[sendbuf].view(np.float32)[:count]], on, "ncclAllReduce (send)", writes=False)
                _ORDER.touch([_BUFFERS[recvbuf].view(np.float32)[:count]], on, "ncclAllReduce")
                nccl.pending.append((self, sendbuf, recvbuf, count, stream))
                if nccl.depth == 0:
                    nccl.groupStart()
                    nccl.groupEnd()

        return NcclCommunicator()


class FakeCublas:
    """cupy.cuda.cublas (cupy_backends.cuda.libs.cublas) for what the tensor family calls: ``setStream`` and
    ``gemmEx`` on column-major operands (on row-major arrays: C = B @ A), computed by NumPy."""

    TYPES = {0: np.float32, 1: np.float64, 2: np.float16, 14: np.uint16}  # library_types.h cudaDataType
    SCALARS = {68: np.float32, 77: np.float32, 70: np.float64}  # cublasComputeType_t -> alpha, beta type

    def __init__(self):
        self.streams: dict[int, int] = {}
        self.calls: list[tuple] = []

    def setStream(self, handle, stream):
        self.streams[handle] = stream

    def gemmEx(self, handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
               computeType, algo):
        if computeType == CUBLAS_COMPUTE_32I:  # the int8 GEMM: see the library GEMM block below
            return _gemm_int8(self, handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C,
                              Ctype, ldc)
        if transa or transb or (m, n, k) != (lda, ldb, ldc) or not m == n == k:
            raise NotImplementedError("the stand-in's gemmEx models square, untransposed operands only")
        scalar = self.SCALARS[computeType]
        size = np.dtype(scalar).itemsize
        alpha_value = np.frombuffer(ctypes.string_at(alpha, size), dtype=scalar)[0]
        beta_value = np.frombuffer(ctypes.string_at(beta, size), dtype=scalar)[0]

        def matrix(pointer, kind):
            values = _BUFFERS[pointer].view(self.TYPES[kind])[:m * m].reshape(m, m)
            return (values.astype(np.uint32) << 16).view(np.float32) if kind == 14 else values

        stream = _STREAMS[self.streams.get(handle, 0)]
        _ORDER.touch([_BUFFERS[A], _BUFFERS[B]], stream, "cublasGemmEx (A, B)", writes=False)
        _ORDER.touch([_BUFFERS[C]], stream, "cublasGemmEx")
        a, b = matrix(A, Atype).astype(np.float64), matrix(B, Btype).astype(np.float64)
        result = alpha_value * (b @ a) + beta_value * matrix(C, Ctype).astype(np.float64)
        out = _BUFFERS[C].view(self.TYPES[Ctype])[:m * m].reshape(m, m)
        if Ctype == 14:
            out[...] = (result.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        else:
            out[...] = result.astype(out.dtype)
        self.calls.append((m, Atype, computeType))


# --- library int8 GEMM (suite/gpu/lowp_gemm.py): cublasGemmEx with CUDA_R_8I inputs and CUBLAS_COMPUTE_32I -------
CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I = 3, 10, 72  # library_types.h, cublas_api.h


def _gemm_int8(cublas: FakeCublas, handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C,
               Ctype, ldc) -> None:
    """Column-major C = alpha op(A) op(B) + beta C in exact integers: int8 inputs, int32 scalars and output (what
    cuBLAS accepts for CUBLAS_COMPUTE_32I); square operands only."""
    if (Atype, Btype, Ctype) != (CUDA_R_8I, CUDA_R_8I, CUDA_R_32I) or not m == n == k == lda == ldb == ldc:
        raise NotImplementedError("the stand-in's int8 gemmEx models square int8 x int8 -> int32 operands only")
    alpha_value = int(np.frombuffer(ctypes.string_at(alpha, 4), dtype=np.int32)[0])
    beta_value = int(np.frombuffer(ctypes.string_at(beta, 4), dtype=np.int32)[0])

    def column_major(pointer, dtype, transposed):
        stored = _BUFFERS[pointer].view(dtype)[:m * m].reshape(m, m)  # row-major view: the column-major matrix's T
        return stored if transposed else stored.T

    stream = _STREAMS[cublas.streams.get(handle, 0)]
    _ORDER.touch([_BUFFERS[A], _BUFFERS[B]], stream, "cublasGemmEx int8 (A, B)", writes=False)
    _ORDER.touch([_BUFFERS[C]], stream, "cublasGemmEx int8")
    a = column_major(A, np.int8, transa).astype(np.int64)
    b = column_major(B, np.int8, transb).astype(np.int64)
    out = _BUFFERS[C].view(np.int32)[:m * m].reshape(m, m)  # row-major: out.T is column-major C
    out.T[...] = (alpha_value * (a @ b) + beta_value * out.T.astype(np.int64)).astype(np.int32)
    cublas.calls.append((m, Atype, CUBLAS_COMPUTE_32I))


class FakeCublasLt:
    """libcublasLt as ctypes sees it, for what suite/gpu/cublaslt.py calls (every name is one of the real library's:
    tests/test_gpu_real_api.py checks): descriptors by reference, statuses as ints (0 success, 7 invalid value), and
    cublasLtMatmul computing D = alpha op(A) op(B) + beta C column-major in NumPy, e4m3 inputs and bf16 C and D. Without
    a GPU the real cublasLtCreate returns CUBLAS_STATUS_NOT_INITIALIZED; ``no_algorithm``: the heuristic finds none."""

    CUDA_R_32F, CUDA_R_16BF, CUDA_R_8F_E4M3 = 0, 14, 28

    def __init__(self):
        self.objects: dict[int, dict] = {}
        self.ids = itertools.count(0x1000)
        self.no_algorithm = False
        self.matmuls: list[tuple[int, int]] = []  # (size, stream)

    def _new(self, reference, **fields) -> int:
        key = next(self.ids)
        self.objects[key] = fields
        reference._obj.value = key
        return 0

    def _get(self, handle) -> dict:
        return self.objects[handle.value if isinstance(handle, ctypes.c_void_p) else handle]

    def cublasLtCreate(self, lightHandle):
        return self._new(lightHandle, kind="handle")

    def cublasLtMatmulDescCreate(self, matmulDesc, computeType, scaleType):
        return self._new(matmulDesc, kind="desc", compute=computeType, scale=scaleType, attributes={})

    def cublasLtMatmulDescSetAttribute(self, matmulDesc, attr, buf, sizeInBytes):
        value = buf._obj
        if ctypes.sizeof(value) != sizeInBytes:
            return 7
        self._get(matmulDesc)["attributes"][attr] = value.value
        return 0

    def cublasLtMatrixLayoutCreate(self, matLayout, type, rows, cols, ld):
        return self._new(matLayout, kind="layout", type=type, rows=rows.value, cols=cols.value, ld=ld.value)

    def cublasLtMatmulPreferenceCreate(self, pref):
        return self._new(pref, kind="preference", attributes={})

    def cublasLtMatmulPreferenceSetAttribute(self, pref, attr, buf, sizeInBytes):
        if ctypes.sizeof(buf._obj) != sizeInBytes:
            return 7
        self._get(pref)["attributes"][attr] = buf._obj.value
        return 0

    def cublasLtMatmulAlgoGetHeuristic(self, lightHandle, operationDesc, Adesc, Bdesc, Cdesc, Ddesc, preference,
                                       requestedAlgoCount, heuristicResultsArray, returnAlgoCount):
        returnAlgoCount._obj.value = 0 if self.no_algorithm else 1
        if not self.no_algorithm:
            heuristicResultsArray[0].state = 0
            heuristicResultsArray[0].workspaceSize = 1 << 20
        return 0

    def cublasLtMatmul(self, lightHandle, computeDesc, alpha, A, Adesc, B, Bdesc, beta, C, Cdesc, D, Ddesc, algo,
                       workspace, workspaceSizeInBytes, stream):
        desc = self._get(computeDesc)
        layouts = [self._get(x) for x in (Adesc, Bdesc, Cdesc, Ddesc)]
        if [x["type"] for x in layouts] != [self.CUDA_R_8F_E4M3] * 2 + [self.CUDA_R_16BF] * 2:
            raise NotImplementedError("the stand-in's cublasLtMatmul models e4m3 x e4m3 -> bf16 only")
        if len({(x["rows"], x["cols"], x["ld"]) for x in layouts}) != 1 or layouts[0]["rows"] != layouts[0]["ld"]:
            raise NotImplementedError("the stand-in's cublasLtMatmul models square, packed operands only")
        size = layouts[0]["rows"]
        on = _STREAMS[stream.value or 0]
        _ORDER.touch([_BUFFERS[A.value], _BUFFERS[B.value]], on, "cublasLtMatmul (A, B)", writes=False)
        _ORDER.touch([_BUFFERS[D.value]], on, "cublasLtMatmul")

        def operand(pointer, transposed):
            stored = _E4M3[_BUFFERS[pointer][:size * size]].reshape(size, size)  # row-major: the column-major T
            return stored if transposed else stored.T

        a = operand(A.value, desc["attributes"].get(3, 0))
        b = operand(B.value, desc["attributes"].get(4, 0))
        c_bits = _BUFFERS[C.value].view(np.uint16)[:size * size].reshape(size, size)
        c = (c_bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64).T
        result = alpha._obj.value * (a @ b) + beta._obj.value * c
        out = _BUFFERS[D.value].view(np.uint16)[:size * size].reshape(size, size)
        out.T[...] = (result.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)  # bf16 by truncation
        self.matmuls.append((size, stream.value or 0))
        return 0

    def cublasLtMatrixLayoutDestroy(self, matLayout):
        return 0

    def cublasLtMatmulPreferenceDestroy(self, pref):
        return 0

    def cublasLtMatmulDescDestroy(self, matmulDesc):
        return 0

    def cublasLtDestroy(self, lightHandle):
        return 0


def _e4m3_table() -> np.ndarray:
    """Every e4m3 byte's value (OCP FP8: bias 7, subnormals at exponent 0; 0x7F and 0xFF are NaN)."""
    codes = np.arange(256)
    exponent, mantissa = (codes >> 3) & 0xF, codes & 7
    values = np.where(exponent == 0, mantissa / 8 * 2.0**-6, (1 + mantissa / 8) * 2.0 ** (exponent - 7))
    values = np.where(codes & 0x80, -values, values)
    values[[0x7F, 0xFF]] = np.nan
    return values


_E4M3 = _e4m3_table()
# --- end of the library GEMM block --------------------------------------------------------------------------------


def pci_bus_id(index: int) -> str:
    """CUDA's PCI bus id of device ``index`` (cudaDeviceGetPCIBusId: 4-digit domain, 12 characters)."""
    return f"0000:{0x18 + index:02x}:00.0"


def nvml_pci_bus_id(index: int) -> bytes:
    """NVML's (nvmlPciInfo_t.busId: NVML_DEVICE_PCI_BUS_ID_FMT, %08X:%02X:%02X.0)."""
    return f"00000000:{0x18 + index:02X}:00.0".encode()


def _device_array(values) -> DeviceArray:
    return np.asarray(values).view(DeviceArray)


def _writer(make, what: str):
    """An allocation that writes (a memset or a fill kernel) on CuPy's current stream."""
    def call(*args, **kwargs):
        array = _device_array(make(*args, **kwargs))
        _ORDER.touch([array], get_current_stream(), what)
        return array
    return call


def _reader(function):
    """A reduction or comparison whose scalar the host reads (a copy on the current stream, then a wait)."""
    def call(*args, **kwargs):
        _host_read(*args)
        result = function(*args, **kwargs)
        return result.view(DeviceArray) if isinstance(result, np.ndarray) else result
    return call


def make_cupy(l2_bytes: int = 1 << 20, free_bytes: int = 96 << 20, devices: int = 1,
              peer: Callable[[int, int], bool] | None = None, compute_capability: tuple[int, int] = (9, 0),
              missing: frozenset[str] = frozenset()) -> types.ModuleType:
    """A CuPy stand-in with ``devices`` fake GPUs of ``compute_capability``; ``peer(device, other)``: whether
    device may access other's memory (default: every pair); ``missing``: the CUDA libraries it lacks ("nvrtc",
    "cublas", "cublaslt": the library hwbench loads itself through cuda.pathfinder), to fail as CuPy and
    cuda.pathfinder do on a node with only the driver."""
    global _PEERS
    peers = _PEERS = PeerRuntime(devices, peer)
    _CURRENT.index = 0
    _ORDER.pending.clear()
    _stream_stack().clear()
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: devices, runtimeGetVersion=lambda: 13000, driverGetVersion=lambda: 13000,
        memGetInfo=lambda: (free_bytes, 2 * free_bytes),
        getDeviceProperties=lambda device: {"name": b"Fake GPU", "major": compute_capability[0],
                                            "minor": compute_capability[1], "multiProcessorCount": 4,
                                            "maxThreadsPerMultiProcessor": 2048, "l2CacheSize": l2_bytes},
        CUDARuntimeError=CUDARuntimeError, memcpyAsync=_memcpy_async,
        deviceCanAccessPeer=peers.can_access, deviceEnablePeerAccess=peers.enable,
        memcpyPeerAsync=peers.memcpy_peer, deviceGetPCIBusId=pci_bus_id,
        deviceSynchronize=lambda: _ORDER.waited(device=current_device()))
    clock = Clock()
    cublas = FakeCublas()
    cuda = types.ModuleType("cupy.cuda")
    cuda.__dict__.update(
        runtime=runtime, Device=Device, Stream=Stream, Event=type("Event", (Event,), {"clock": clock}),
        get_elapsed_time=clock.elapsed_ms, get_current_stream=get_current_stream,
        alloc_pinned_memory=PinnedMemory,
        memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError), nccl=FakeNccl(),
        compiler=types.SimpleNamespace(CompileException=CompileException),
        driver=types.SimpleNamespace(CUDADriverError=CUDADriverError,
                                     occupancyMaxActiveBlocksPerMultiprocessor=occupancy_max_active_blocks),
        device=types.SimpleNamespace(get_cublas_handle=lambda: 1))

    def lazy_library(name: str):  # cupy.cuda.__getattr__ loads cuBLAS on first use, as CuPy 14 does
        if name == "cublas":
            if "cublas" in missing:
                raise ImportError(_missing("libcublasLt"))
            return cublas
        raise AttributeError(f"module 'cupy.cuda' has no attribute {name!r}")

    cuda.__getattr__ = lazy_library
    cp = types.ModuleType("cupy")
    cp.__version__ = "0.0-fake"
    cp.cuda = cuda
    cp.RawModule = type("RawModule", (RawModule,), {"created": [], "clock": clock, "missing": set(missing),
                                                    "registers": {}})  # this stand-in's own modules
    cp.fake_clock = clock
    cp.fake_cublas = cublas
    cp.fake_cublaslt = None if "cublaslt" in missing else FakeCublasLt()  # what install() puts in place of libcublasLt
    cp.empty = lambda shape, dtype=float: np.empty(shape, dtype=dtype).view(DeviceArray)
    cp.zeros = _writer(np.zeros, "cupy.zeros (memset)")
    cp.ones = _writer(np.ones, "cupy.ones")
    cp.full = _writer(np.full, "cupy.full")
    cp.arange = _writer(np.arange, "cupy.arange")
    cp.asarray = _writer(np.asarray, "cupy.asarray (host-to-device copy)")
    cp.fake_peers = peers
    for name in ("sum", "max", "min", "array_equal"):
        setattr(cp, name, _reader(getattr(np, name)))
    cp.abs = np.abs
    cp.floor = np.floor
    for name in ("float64", "float32", "uint32", "uint16", "uint8", "float16", "int8", "int32"):
        setattr(cp, name, getattr(np, name))

    def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
        _host_read(a)
        return np.asarray(a).view(np.ndarray)

    def matmul(a, b, out=None, **kwargs):
        lazy_library("cublas")
        _ORDER.touch([a, b], get_current_stream(), "cupy.matmul (cuBLAS)", writes=False)
        if out is not None:
            _ORDER.touch([out], get_current_stream(), "cupy.matmul (cuBLAS)")
        return _matmul(a, b, out)

    def cumsum(a, axis=None, dtype=None, out=None):  # cupy.cumsum: a scan kernel on the current stream
        _ORDER.touch([a], get_current_stream(), "cupy.cumsum", writes=False)
        result = np.cumsum(a, axis=axis, dtype=dtype)
        if out is None:
            return _writer(lambda: result, "cupy.cumsum")()
        _ORDER.touch([out], get_current_stream(), "cupy.cumsum")
        out[...] = result
        return out

    def bincount(x, weights=None, minlength=None):  # cupy.bincount: atomic increments into a new array
        _ORDER.touch([x], get_current_stream(), "cupy.bincount", writes=False)
        return _writer(lambda: np.bincount(x, weights, minlength or 0), "cupy.bincount")()

    cp.asnumpy = asnumpy
    cp.matmul, cp.ElementwiseKernel = matmul, ElementwiseKernel  # hwbench validate's workloads
    cp.cumsum, cp.bincount = cumsum, bincount
    cp.random = types.SimpleNamespace(default_rng=lambda seed=None: _Generator(seed))
    cp.get_default_memory_pool = lambda: types.SimpleNamespace(free_all_blocks=lambda: None)
    return cp


class _Generator:
    """cupy.random.default_rng(seed): ``random`` writes its array on the current stream."""

    def __init__(self, seed):
        self._numpy = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64, out=None):
        return _writer(lambda: self._numpy.random(size, dtype=dtype), "cupy.random (a kernel)")()


class FakeNvml:
    """The pynvml calls hwbench makes, by nvidia-ml-py's names: a steady 1500 MHz SM clock, power capped on
    every sample; devices found by index or by NVML's PCI bus id.

    ``missing_library``: nvmlInit fails as without the driver's libnvidia-ml; ``unsupported``: the queries that
    raise NVML_ERROR_NOT_SUPPORTED; ``state``: what the pre-checks read (MIG, ECC, processes, persistence, the
    clock-event reasons at idle)."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0
    NVML_FEATURE_ENABLED, NVML_DEVICE_MIG_ENABLE = 1, 1
    NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NOT_FOUND, NVML_ERROR_LIBRARY_NOT_FOUND = 3, 6, 12
    NVML_NVLINK_MAX_LINKS = 36  # nvml.h (NVML 13)
    NVML_NVLINK_VERSION_3_0, NVML_NVLINK_VERSION_3_1, NVML_NVLINK_VERSION_4_0, NVML_NVLINK_VERSION_5_0 = 4, 5, 6, 7

    class NVMLError(Exception):
        """pynvml.NVMLError(value): ``value`` is the nvmlReturn_t."""

        MESSAGES = {3: "Not Supported", 6: "Not Found", 12: "NVML Shared Library Not Found"}

        def __init__(self, value):
            self.value = value
            super().__init__(value)

        def __str__(self):
            return self.MESSAGES.get(self.value, f"Unknown Error {self.value}")

    class NVMLError_NotSupported(NVMLError):
        def __init__(self, value=3):
            super().__init__(value)

    class NVMLError_NotFound(NVMLError):
        def __init__(self, value=6):
            super().__init__(value)

    class NVMLError_LibraryNotFound(NVMLError):
        def __init__(self, value=12):
            super().__init__(value)

    def __init__(self, devices: int = 8, missing_library: bool = False, unsupported: frozenset[str] = frozenset()):
        self.devices = devices
        self.missing_library = missing_library
        self.unsupported = set(unsupported)
        # Several GPUs: ``nvlinks[i]`` lists device i's active links as (the peer's index, or "switch",
        # nvmlNvlinkVersion_t); none: the GPUs meet over PCIe.
        self.nvlinks: dict[int, list[tuple[int | str, int]]] = {}
        self.state = {"mig": (0, 0), "ecc": (1, 1), "processes": [], "persistence": 1,
                      "reasons": 0x4}  # sw_power_cap: set while idle too, so the pre-check warns of it
        self.initialised = False

    def __getattribute__(self, name):
        if name.startswith("nvmlDevice") and name in object.__getattribute__(self, "unsupported"):
            def unsupported(*args):
                raise FakeNvml.NVMLError_NotSupported()
            return unsupported
        return object.__getattribute__(self, name)

    def nvmlInit(self):
        if self.missing_library:
            raise self.NVMLError_LibraryNotFound()
        self.initialised = True

    def _handle(self, index: int) -> int:
        if not self.initialised:
            raise self.NVMLError(1)  # NVML_ERROR_UNINITIALIZED
        if not 0 <= index < self.devices:
            raise self.NVMLError_NotFound()
        return index

    def nvmlDeviceGetHandleByIndex(self, index):
        return self._handle(index)

    def nvmlDeviceGetHandleByPciBusId(self, pciBusId):
        """NVML reads domain:bus:device.function (nvml.h); a bus id of no GPU is NVML_ERROR_NOT_FOUND."""
        text = pciBusId.decode() if isinstance(pciBusId, bytes) else pciBusId
        match = re.fullmatch(r"([0-9a-fA-F]{1,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])", text)
        if not match or int(match.group(3), 16) or int(match.group(1), 16):
            raise self.NVMLError_NotFound()
        return self._handle(int(match.group(2), 16) - 0x18)

    def nvmlDeviceGetPciInfo(self, handle):
        return types.SimpleNamespace(busId=nvml_pci_bus_id(handle), busIdLegacy=nvml_pci_bus_id(handle)[4:])

    def nvmlDeviceGetClockInfo(self, handle, type):
        return 1500 if type == self.NVML_CLOCK_SM else 2500

    def nvmlDeviceGetMaxClockInfo(self, handle, type):
        return 2000 if type == self.NVML_CLOCK_SM else 2500

    def nvmlDeviceGetPowerUsage(self, handle):
        return 650_000

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 70

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self.state["reasons"]

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle):  # the name before NVML 12.2
        return self.state["reasons"]

    def nvmlDeviceGetMemoryBusWidth(self, device):
        return 5120

    def nvmlSystemGetDriverVersion(self):
        return "000.00-fake"

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle):
        return 5

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle):
        return 16

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle):
        return 1  # an idle GPU downshifts its link

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle):
        return 16

    def nvmlDeviceGetMigMode(self, device):
        return self.state["mig"]

    def nvmlDeviceGetEccMode(self, handle):
        return self.state["ecc"]

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [types.SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid in self.state["processes"]]

    def nvmlDeviceGetPersistenceMode(self, handle):
        return self.state["persistence"]

    def _link(self, handle, link):
        links = self.nvlinks.get(handle, [])
        if link >= len(links):
            raise self.NVMLError_NotSupported()
        return links[link]

    def nvmlDeviceGetNvLinkState(self, device, link):
        self._link(device, link)
        return 1

    def nvmlDeviceGetNvLinkVersion(self, device, link):
        return self._link(device, link)[1]

    def nvmlDeviceGetNvLinkRemoteDeviceType(self, handle, link):
        return 2 if self._link(handle, link)[0] == "switch" else 0

    def nvmlDeviceGetNvLinkRemotePciInfo(self, device, link):
        remote = self._link(device, link)[0]
        bus = b"FFFFFFFF:FF:00.0" if remote == "switch" else nvml_pci_bus_id(remote)
        return types.SimpleNamespace(busId=bus, busIdLegacy=bus[4:])


Stream.null = Stream(null=True)


def install(monkeypatch, cupy: types.ModuleType, nvml: FakeNvml | None = None) -> None:
    """Put the stand-in in place of the real packages for one test: ``cupy`` and its submodules the code imports
    by name (``from cupy.cuda import nccl``), so a real CuPy imported earlier (at collection, by another test)
    is never reached, and ``pynvml``."""
    import sys

    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cupy.cuda)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", cupy.cuda.nccl)
    monkeypatch.setitem(sys.modules, "pynvml", nvml if nvml is not None else FakeNvml())
    from hwbench.gpu import cublaslt  # libcublasLt (ctypes, not CuPy): the stand-in's, or the failure of a node without

    def load_library():
        if cupy.fake_cublaslt is None:
            raise DynamicLibNotFoundError(_missing("libcublasLt"))
        return cupy.fake_cublaslt

    monkeypatch.setattr(cublaslt, "load_library", load_library)
