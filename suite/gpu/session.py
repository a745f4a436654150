"""Run the GPU kernels (CuPy raw kernels from ``hwbench/kernels/cuda``, cuBLAS, copies) and collect samples.

Order of a run: open the device and NVML, compile the modules (outside any timing), then per kernel: one
untimed launch, a calibrated batch size, timed batches (CUDA events around ``batch`` back-to-back launches),
validation of the result, and the NVML summary of the timed window. Nothing here formats output or computes
ceilings (see ``gpu_ceilings``).

Scalars are passed to raw kernels as NumPy scalars of the kernel's type: CuPy passes a Python float as a
double and checks nothing, so a float kernel would read garbage. Raw kernels launch on CuPy's current
stream, so every launch happens inside ``with self.stream``; the CUDA events are recorded on that stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ..errors import MeasurementError, UsageError
from ..gpu.theory import launch_blocks
from ..catalog import BANDWIDTH_SPECS, select_kernels
from ..stats import KernelResult, RepetitionPolicy, repeat_timed, spread_warning, summarize
from ..profile.sustained import Timeline
from ..gpu.telemetry import NvmlSampler, WindowSummary
from ..validation import STREAM_INITIAL, STREAM_SCALAR, check_close, replay_stream

STREAM_FORMS = ("copy", "scale", "add", "triad", "dot")
STREAM_KERNELS = STREAM_FORMS + tuple(f"{form}_fp32" for form in STREAM_FORMS)
FMA_KERNELS = ("fma_fp64", "fma_fp32", "fma_fp16", "fma_bf16")
TENSOR_KERNELS = ("matmul_fp16", "matmul_bf16", "matmul_tf32", "matmul_fp64")
TRANSFER_KERNELS = ("l2_read", "h2d", "d2h")
GPU_KERNELS = STREAM_KERNELS + TRANSFER_KERNELS + FMA_KERNELS + TENSOR_KERNELS
KERNEL_GROUPS = {"stream": STREAM_KERNELS, "fma": FMA_KERNELS, "tensor": TENSOR_KERNELS,
                 "transfer": TRANSFER_KERNELS, "all": GPU_KERNELS}

BLOCK = 256  # threads per block; must match BLOCK in the .cu files
FMA_CHAINS = 8  # must match CHAINS in fma.cu
VECTOR_BYTES = 16  # double2 / float4
L2_MULTIPLE = 4  # DRAM arrays at least 4x the L2 (gpu-benches issue 6)
MIN_ARRAY_BYTES = 1 << 30  # per array; bigger arrays amortize the tail of each launch
MEMORY_FRACTION = 0.6  # the three STREAM arrays may take at most this share of free device memory
L2_WORKING_SET_SHARE = 0.25  # the L2 kernel reads a buffer of a quarter of the L2, far inside it
BATCH_SECONDS = 0.005  # each timed sample covers ~5 ms of back-to-back launches
MATMUL_SIZES = {True: (4096, 8192), False: (4096, 8192, 16384)}  # quick: smaller set
TRANSFER_BYTES = 256 << 20

# Packed fp16 / bf16 words with the same value in both halves (IEEE binary16; bfloat16 = top of binary32).
HALF_BITS = {0.75: 0x3A00, 0.5: 0x3800, 1.0: 0x3C00}
BF16_BITS = {0.75: 0x3F40, 0.5: 0x3F00, 1.0: 0x3F80}

# cuBLAS / CUDA library constants (cublas_api.h, library_types.h).
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_16BF = 0, 1, 2, 14
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_64F = 68, 77, 70
CUBLAS_OP_N, CUBLAS_GEMM_DEFAULT = 0, -1
MEMCPY_HOST_TO_DEVICE, MEMCPY_DEVICE_TO_HOST = 1, 2  # cudaMemcpyKind (driver_types.h)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    compute_capability: tuple[int, int]
    sms: int
    max_threads_per_sm: int
    l2_bytes: int
    memory_bytes: int
    free_bytes: int
    bus_width_bits: int | None
    max_sm_mhz: float | None
    max_memory_mhz: float | None
    clock_source: str
    driver: str | None
    cuda_runtime: str
    cupy_version: str
    power_limit_w: float | None


@dataclass(frozen=True)
class GpuMeasurement:
    gpu: GpuInfo
    quick: bool
    policy: RepetitionPolicy
    results: list[KernelResult]
    telemetry: dict[str, WindowSummary]
    warnings: list[str]
    sustained: tuple[Timeline, ...] = ()
    sustained_seconds: float | None = None
    sustained_interval: float | None = None
    array_bytes: int | None = None
    details: dict = field(default_factory=dict)


ProgressCallback = Callable[[str, int, int], None]


def resolve_gpu_kernels(spec: str | None) -> tuple[str, ...]:
    return select_kernels(spec, GPU_KERNELS, KERNEL_GROUPS, "GPU kernel")


def stream_array_bytes(l2_bytes: int, free_bytes: int) -> tuple[int, list[str]]:
    """Bytes per STREAM array: max(4 x L2, 1 GiB), capped so three arrays fit in 60% of free memory; a
    multiple of 16 bytes x BLOCK so every vector is whole."""
    warnings = []
    wanted = max(L2_MULTIPLE * l2_bytes, MIN_ARRAY_BYTES)
    cap = int(free_bytes * MEMORY_FRACTION / 3)
    if wanted > cap:
        wanted = cap
        if wanted < L2_MULTIPLE * l2_bytes:
            warnings.append(f"STREAM arrays capped at {cap / 2**20:.0f} MiB by free device memory, under 4x the "
                            f"L2 ({l2_bytes / 2**20:.0f} MiB): DRAM figures may include L2 hits; free GPU memory")
    granule = VECTOR_BYTES * BLOCK
    return max(granule, wanted // granule * granule), warnings


def fp16_word(value: float, bf16: bool) -> np.uint32:
    bits = (BF16_BITS if bf16 else HALF_BITS)[value]
    return np.uint32(bits << 16 | bits)


def decode_packed(words: np.ndarray, bf16: bool) -> np.ndarray:
    """uint32 words of two fp16 / bf16 halves -> float32 array of both halves."""
    halves = np.stack([words & 0xFFFF, words >> 16], axis=-1).astype(np.uint32).ravel()
    if bf16:
        return (halves << 16).view(np.float32)
    return halves.astype(np.uint16).view(np.float16).astype(np.float32)


def fma_expected(precision: str, iterations: int, x0: float = 1.0, a: float = 0.75, b: float = 0.5) -> float:
    """Sum over the chains of x_n = c + a**n (x0 - c), c = b / (1 - a) (every chain starts at x0)."""
    c = b / (1 - a)
    return FMA_CHAINS * (c + a**iterations * (x0 - c))


FMA_TOLERANCE = {"fp64": 1e-12, "fp32": 1e-5, "fp16": 1e-2, "bf16": 2e-2}  # relative; a few ulps of the sum


class GpuRunner:
    def __init__(self, index: int, kernels: Sequence[str], quick: bool, progress: ProgressCallback | None = None,
                 sustain: tuple[float, float] | None = None):
        try:
            import cupy
        except ImportError:
            raise UsageError("--device cuda needs CuPy: pip install 'hwbench[cuda]'") from None
        self.cp = cupy
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as error:
            raise UsageError(f"--device cuda:{index}: no usable NVIDIA GPU or driver ({error}); use --device cpu"
                             ) from None
        if not 0 <= index < count:
            raise UsageError(f"--device cuda:{index}: this machine has {count} CUDA GPU(s) (cuda:0 .. "
                             f"cuda:{count - 1})")
        self.index = index
        self.kernels = tuple(kernels)
        self.quick = quick
        self.sustain = sustain
        self.progress = progress or (lambda label, i, total: None)
        self.policy = RepetitionPolicy.for_mode(quick)
        self.device = cupy.cuda.Device(index)
        self.device.use()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        try:
            self.sampler = NvmlSampler(index)
        except ImportError:
            raise UsageError("--device cuda needs nvidia-ml-py for clocks and throttle reasons: "
                             "pip install 'hwbench[cuda]'") from None
        except Exception as error:  # pynvml.NVMLError: no NVML library or driver
            raise UsageError(f"--device cuda:{index}: NVML is not usable ({error}); hwbench needs it to read "
                             "the clocks: install the NVIDIA driver's NVML") from None
        self.gpu = self._inspect()
        self.warnings: list[str] = []
        self.telemetry: dict[str, WindowSummary] = {}

    # Inspection ------------------------------------------------------------------------------------------

    def _inspect(self) -> GpuInfo:
        cp, runtime = self.cp, self.cp.cuda.runtime
        props = runtime.getDeviceProperties(self.index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        free, total = runtime.memGetInfo()
        max_sm, max_mem = self.sampler.max_clocks_mhz()
        bus = self.sampler.bus_width_bits() or self.device.attributes.get("GlobalMemoryBusWidth")
        version = runtime.runtimeGetVersion()
        return GpuInfo(
            index=self.index, name=name, compute_capability=(props["major"], props["minor"]),
            sms=props["multiProcessorCount"], max_threads_per_sm=props["maxThreadsPerMultiProcessor"],
            l2_bytes=props["l2CacheSize"], memory_bytes=total, free_bytes=free, bus_width_bits=bus,
            max_sm_mhz=max_sm, max_memory_mhz=max_mem,
            clock_source="NVML nvmlDeviceGetMaxClockInfo (SM and memory)",
            driver=self.sampler.driver_version(), cuda_runtime=f"{version // 1000}.{version % 1000 // 10}",
            cupy_version=cp.__version__, power_limit_w=self.sampler.power_limit_w(),
        )

    def _module(self, filename: str):
        source = resources.files("hwbench.kernels").joinpath(f"cuda/{filename}").read_text()
        module = self.cp.RawModule(code=source, options=("-std=c++17",))
        module.compile()  # NVRTC now, so no compile time lands in a timed window
        return module

    # Timing ----------------------------------------------------------------------------------------------

    def _time(self, name: str, launch: Callable[[], None], work_per_launch: float):
        """Calibrate a batch of ~BATCH_SECONDS, then time batches per the repetition policy; returns the
        summary of rates and the batch size. The NVML window covers the timed batches only."""
        cp = self.cp
        start, end = cp.cuda.Event(), cp.cuda.Event()
        with self.stream:
            launch()  # first call: module load, cuBLAS heuristics; never timed
            self.stream.synchronize()
            start.record(self.stream)
            launch()
            end.record(self.stream)
            end.synchronize()
            one = max(cp.cuda.get_elapsed_time(start, end) / 1e3, 1e-7)
            batch = max(1, round(BATCH_SECONDS / one))

            def once() -> float:
                start.record(self.stream)
                for _ in range(batch):
                    launch()
                end.record(self.stream)
                self.sampler.mark()  # while the batch runs: every window has samples, however short
                end.synchronize()
                return cp.cuda.get_elapsed_time(start, end) / 1e3

            window_start = time.monotonic()
            seconds = repeat_timed(once, self.policy)
            self.telemetry[name] = self.sampler.window(window_start, time.monotonic())
        return summarize(work_per_launch * batch, seconds), batch

    # STREAM ----------------------------------------------------------------------------------------------

    def _stream(self, module, names: Sequence[str]) -> list[KernelResult]:
        cp = self.cp
        results = []
        array_bytes, warnings = stream_array_bytes(self.gpu.l2_bytes, self.gpu.free_bytes)
        self.warnings += warnings
        self.array_bytes = array_bytes
        blocks = launch_blocks(self.gpu.sms, self.gpu.max_threads_per_sm, BLOCK)
        for precision, suffix, dtype in (("fp64", "f64", np.float64), ("fp32", "f32", np.float32)):
            chosen = [n for n in names if (n.endswith("_fp32")) == (precision == "fp32")]
            if not chosen:
                continue
            n = array_bytes // np.dtype(dtype).itemsize
            n_vec = np.int64(array_bytes // VECTOR_BYTES)
            arrays = {key: cp.full(n, value, dtype=dtype) for key, value in STREAM_INITIAL.items()}
            partial = cp.zeros(blocks, dtype=dtype)
            scalar = dtype(STREAM_SCALAR)
            state = dict(STREAM_INITIAL)
            for name in chosen:
                form = name.removesuffix("_fp32")
                self.progress(name, self._step, self._total)
                kernel = module.get_function(f"{form}_{suffix}")
                a, b, c = arrays["a"], arrays["b"], arrays["c"]
                args = (a, b, partial, n_vec) if form == "dot" else (a, b, c, scalar, n_vec)

                def launch(kernel=kernel, args=args) -> None:
                    kernel((blocks,), (BLOCK,), args)

                spec = BANDWIDTH_SPECS[form]
                element_bytes = np.dtype(dtype).itemsize
                bytes_stream = (spec.reads + spec.writes) * element_bytes * n
                summary, batch = self._time(name, launch, bytes_stream)
                self.stream.synchronize()
                self._validate_stream(form, arrays, partial, state, n, precision)
                results.append(KernelResult(
                    name=name, precision=precision, level="dram", unit="GB/s", summary=summary,
                    working_set_bytes=bytes_stream, bytes_stream=bytes_stream, bytes_traffic=bytes_stream,
                    flops=spec.flops_per_element * n, validated=True,
                    details={"elements": int(n), "vector_bytes": VECTOR_BYTES, "blocks": blocks, "block": BLOCK,
                             "launches_per_sample": batch,
                             "traffic_model": f"{spec.reads} read(s) + {spec.writes} write(s) of {element_bytes} "
                                              "bytes per element (GPU stores allocate no read)",
                             "timing": "CUDA events around back-to-back launches on one stream",
                             "telemetry": self.telemetry[name].as_dict()}))
                self._step += 1
            del arrays, partial
            cp.get_default_memory_pool().free_all_blocks()
        return results

    def _validate_stream(self, form: str, arrays: dict, partial, state: dict, n: int, precision: str) -> None:
        cp = self.cp
        tolerance = 1e-12 if precision == "fp64" else 1e-6
        if form == "dot":
            check_close(f"dot ({precision})", [float(cp.sum(partial, dtype=cp.float64))],
                        n * state["a"] * state["b"], 1e-9 if precision == "fp64" else 1e-4)
            return
        target, value = replay_stream(form, state)
        deviation = float(cp.max(cp.abs(arrays[target] - value)))
        if not deviation <= tolerance * abs(value):
            raise MeasurementError(f"{form} ({precision}) validation failed: array {target} deviates from {value} "
                                   f"by {deviation:g}; no figure is reported")

    # L2 --------------------------------------------------------------------------------------------------

    def _l2(self, module) -> KernelResult:
        cp = self.cp
        granule = VECTOR_BYTES * BLOCK
        buffer_bytes = max(granule, int(self.gpu.l2_bytes * L2_WORKING_SET_SHARE) // granule * granule)
        n = buffer_bytes // 8
        buffer = cp.ones(n, dtype=cp.float64)
        blocks = launch_blocks(self.gpu.sms, self.gpu.max_threads_per_sm, BLOCK)
        partial = cp.zeros(blocks, dtype=cp.float64)
        passes = np.int32(64)
        kernel = module.get_function("l2_read_f64")
        n_vec = np.int64(buffer_bytes // VECTOR_BYTES)

        def launch() -> None:
            kernel((blocks,), (BLOCK,), (buffer, partial, n_vec, passes))

        bytes_read = int(passes) * buffer_bytes
        summary, batch = self._time("l2_read", launch, bytes_read)
        self.stream.synchronize()
        check_close("l2_read", [float(cp.sum(partial))], float(int(passes) * n), 1e-12)
        return KernelResult(
            name="l2_read", precision="fp64", level="l2", unit="GB/s", summary=summary,
            working_set_bytes=buffer_bytes, bytes_stream=bytes_read, bytes_traffic=bytes_read, flops=0,
            validated=True,
            details={"buffer_bytes": buffer_bytes, "l2_bytes": self.gpu.l2_bytes, "passes": int(passes),
                     "blocks": blocks, "block": BLOCK, "launches_per_sample": batch,
                     "traffic_model": "passes x buffer bytes read; the buffer is a quarter of the L2",
                     "telemetry": self.telemetry["l2_read"].as_dict()})

    # Host <-> device -------------------------------------------------------------------------------------

    def _transfer(self, direction: str) -> KernelResult:
        cp = self.cp
        nbytes = TRANSFER_BYTES
        runtime = cp.cuda.runtime
        pinned = cp.cuda.alloc_pinned_memory(nbytes)
        host = np.frombuffer(pinned, dtype=np.uint8, count=nbytes)
        pattern = (np.arange(nbytes, dtype=np.uint64) * 2654435761 % 251).astype(np.uint8)
        device = cp.empty(nbytes, dtype=cp.uint8)
        if direction == "h2d":
            host[:] = pattern
            source, target, kind = pinned.ptr, device.data.ptr, MEMCPY_HOST_TO_DEVICE
        else:
            device.set(pattern)
            source, target, kind = device.data.ptr, pinned.ptr, MEMCPY_DEVICE_TO_HOST

        def launch() -> None:
            runtime.memcpyAsync(target, source, nbytes, kind, self.stream.ptr)

        summary, batch = self._time(direction, launch, nbytes)
        self.stream.synchronize()
        moved = cp.asnumpy(device) if direction == "h2d" else host
        if not np.array_equal(moved, pattern):
            raise MeasurementError(f"{direction} validation failed: the copied bytes differ from the source")
        return KernelResult(
            name=direction, precision="-", level=direction, unit="GB/s", summary=summary,
            working_set_bytes=nbytes, bytes_stream=nbytes, bytes_traffic=nbytes, flops=0, validated=True,
            details={"bytes": nbytes, "host_memory": "pinned (cudaHostAlloc)", "launches_per_sample": batch,
                     "telemetry": self.telemetry[direction].as_dict()})

    # FMA -------------------------------------------------------------------------------------------------

    def fma_launch(self, module, precision: str):
        """(kernel, blocks, args builder) of the FMA kernel of ``precision``."""
        cp = self.cp
        blocks = launch_blocks(self.gpu.sms, self.gpu.max_threads_per_sm, BLOCK, waves=4)
        if precision in ("fp64", "fp32"):
            dtype = np.float64 if precision == "fp64" else np.float32
            out = cp.zeros(blocks * BLOCK, dtype=dtype)
            kernel = module.get_function("fma_f64" if precision == "fp64" else "fma_f32")
            constants = (dtype(0.75), dtype(0.5), dtype(1.0))
        else:
            bf16 = precision == "bf16"
            out = cp.zeros(blocks * BLOCK, dtype=cp.uint32)
            kernel = module.get_function("fma_bf16x2" if bf16 else "fma_f16x2")
            constants = (fp16_word(0.75, bf16), fp16_word(0.5, bf16), fp16_word(1.0, bf16))
        return kernel, blocks, out, constants

    def _fma(self, module, precision: str) -> KernelResult:
        kernel, blocks, out, constants = self.fma_launch(module, precision)
        lanes = 2 if precision in ("fp16", "bf16") else 1
        iterations = np.int32(4096)

        def launch() -> None:
            kernel((blocks,), (BLOCK,), (out, *constants, iterations))

        flops = 2 * FMA_CHAINS * lanes * int(iterations) * blocks * BLOCK
        name = f"fma_{precision}"
        summary, batch = self._time(name, launch, flops)
        self.stream.synchronize()
        self._validate_fma(name, out, precision, int(iterations))
        return KernelResult(
            name=name, precision=precision, level="core", unit="GFLOP/s", summary=summary, working_set_bytes=0,
            bytes_stream=None, bytes_traffic=None, flops=flops, validated=True,
            details={"chains": FMA_CHAINS, "lanes_per_instruction": lanes, "iterations": int(iterations),
                     "blocks": blocks, "block": BLOCK, "launches_per_sample": batch,
                     "flop_counting": f"2 FLOP per FMA x {lanes} lane(s) x {FMA_CHAINS} chains x iterations x "
                                      "threads",
                     "telemetry": self.telemetry[name].as_dict()})

    def _validate_fma(self, name: str, out, precision: str, iterations: int) -> None:
        """Every thread's stored sum of chains against the closed form (packed halves decoded)."""
        values = self.cp.asnumpy(out)
        if precision in ("fp16", "bf16"):
            values = decode_packed(values, precision == "bf16")
        expected = fma_expected(precision, iterations)
        worst = float(np.max(np.abs(values.astype(np.float64) - expected)))
        if not worst <= FMA_TOLERANCE[precision] * expected:
            raise MeasurementError(f"{name} validation failed: a thread's sum is off by {worst:g} from {expected:g};"
                                   " no figure is reported")

    # Tensor cores through cuBLAS ------------------------------------------------------------------------

    def _matmul(self, precision: str) -> KernelResult | None:
        """cublasGemmEx on random square matrices of a few sizes; the best size is the ceiling."""
        cp = self.cp
        from cupy_backends.cuda.libs import cublas

        handle = cp.cuda.device.get_cublas_handle()
        types = {"fp16": (CUDA_R_16F, CUBLAS_COMPUTE_32F, np.float32),
                 "bf16": (CUDA_R_16BF, CUBLAS_COMPUTE_32F, np.float32),
                 "tf32": (CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, np.float32),
                 "fp64": (CUDA_R_64F, CUBLAS_COMPUTE_64F, np.float64)}
        data_type, compute_type, scalar_type = types[precision]
        alpha, beta = np.array(1.0, dtype=scalar_type), np.array(0.0, dtype=scalar_type)
        best = None
        per_size = {}
        name = f"matmul_{precision}"
        for size in MATMUL_SIZES[self.quick]:
            a, b, c = (self._random_matrix(size, precision, seed) for seed in (1, 2, 3))

            def launch(a=a, b=b, c=c, size=size) -> None:
                cublas.setStream(handle, self.stream.ptr)
                cublas.gemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, size, size, size, alpha.ctypes.data, a.data.ptr,
                              data_type, size, b.data.ptr, data_type, size, beta.ctypes.data, c.data.ptr,
                              data_type, size, compute_type, CUBLAS_GEMM_DEFAULT)

            flops = 2 * size**3
            summary, batch = self._time(f"{name}@{size}", launch, flops)
            self.stream.synchronize()
            self._validate_matmul(name, a, b, c, precision)
            per_size[size] = round(summary.best, 1)
            if best is None or summary.best > best[1].best:
                best = (size, summary, batch)
            del a, b, c
            cp.get_default_memory_pool().free_all_blocks()
        size, summary, batch = best
        self.telemetry[name] = self.telemetry[f"{name}@{size}"]
        return KernelResult(
            name=name, precision=f"tensor_{precision}", level="core", unit="GFLOP/s", summary=summary,
            working_set_bytes=0, bytes_stream=None, bytes_traffic=None, flops=2 * size**3, validated=True,
            details={"library": "cuBLAS cublasGemmEx (through CuPy)", "m_n_k": size, "best_gflops_by_size": per_size,
                     "compute_type": {68: "CUBLAS_COMPUTE_32F", 77: "CUBLAS_COMPUTE_32F_FAST_TF32",
                                      70: "CUBLAS_COMPUTE_64F"}[compute_type],
                     "flop_counting": "2 x M x N x K per multiply (dense)", "data": "uniform random in [-1, 1)",
                     "launches_per_sample": batch, "telemetry": self.telemetry[name].as_dict()})

    def _random_matrix(self, size: int, precision: str, seed: int):
        """Random data (never zeros: they run faster). bf16 is stored as uint16 (the top half of fp32)."""
        cp = self.cp
        generator = cp.random.default_rng(seed)
        values = generator.random((size, size), dtype=cp.float32) * 2 - 1
        if precision == "fp16":
            return values.astype(cp.float16)
        if precision == "bf16":
            return (values.view(cp.uint32) >> 16).astype(cp.uint16)
        if precision == "fp64":
            return values.astype(cp.float64)
        return values

    def _validate_matmul(self, name: str, a, b, c, precision: str) -> None:
        """64 random entries against a float64 reference on the host. cuBLAS is column-major: on row-major
        arrays it computes C = B @ A."""
        cp = self.cp

        def host(matrix) -> np.ndarray:
            values = cp.asnumpy(matrix)
            if precision == "bf16":
                return (values.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
            return values.astype(np.float64)

        size = a.shape[0]
        rng = np.random.default_rng(0)
        rows, cols = rng.integers(0, size, 64), rng.integers(0, size, 64)
        a_cols = host(a[:, cp.asarray(cols)])  # a[:, j] for the chosen j
        b_rows = host(b[cp.asarray(rows), :])  # b[i, :] for the chosen i
        got = host(c[cp.asarray(rows), cp.asarray(cols)])
        expected = np.einsum("ik,ki->i", b_rows, a_cols)
        scale = np.einsum("ik,ki->i", np.abs(b_rows), np.abs(a_cols))
        tolerance = {"fp16": 1e-2, "bf16": 2e-2, "tf32": 5e-3, "fp64": 1e-12}[precision]
        error = np.max(np.abs(got - expected) / scale)
        if not error <= tolerance:
            raise MeasurementError(f"{name} validation failed: relative error {error:g} against a float64 "
                                   f"reference (tolerance {tolerance:g}); no figure is reported")

    # Sustained --------------------------------------------------------------------------------------------

    def _sustain(self, module, kernel_name: str, seconds: float, interval: float) -> Timeline:
        """Keep one kernel busy for ``seconds``; one sample per ``interval``, with NVML's view of it."""
        cp = self.cp
        if kernel_name.startswith("fma_"):
            precision = kernel_name.split("_")[1]
            kernel, blocks, out, constants = self.fma_launch(module, precision)
            lanes = 2 if precision in ("fp16", "bf16") else 1
            iterations = np.int32(4096)
            args = (out, *constants, iterations)
            work = 2 * FMA_CHAINS * lanes * int(iterations) * blocks * BLOCK
            unit = "GFLOP/s"
        else:
            array_bytes = self.array_bytes or stream_array_bytes(self.gpu.l2_bytes, self.gpu.free_bytes)[0]
            n = array_bytes // 8
            a, b, c = (cp.full(n, value) for value in STREAM_INITIAL.values())
            kernel = module.get_function("triad_f64")
            blocks = launch_blocks(self.gpu.sms, self.gpu.max_threads_per_sm, BLOCK)
            args = (a, b, c, np.float64(STREAM_SCALAR), np.int64(array_bytes // VECTOR_BYTES))
            work = 3 * array_bytes
            unit = "GB/s"
        timeline = Timeline(kernel_name, unit)
        start_event, end_event = cp.cuda.Event(), cp.cuda.Event()
        with self.stream:
            kernel((blocks,), (BLOCK,), args)
            self.stream.synchronize()
            begin = time.monotonic()
            batch = 1
            while (now := time.monotonic()) - begin < seconds:
                start_event.record(self.stream)
                for _ in range(batch):
                    kernel((blocks,), (BLOCK,), args)
                end_event.record(self.stream)
                self.sampler.mark()
                end_event.synchronize()
                elapsed = cp.cuda.get_elapsed_time(start_event, end_event) / 1e3
                window = self.sampler.window(now, time.monotonic())
                timeline.add(now - begin, work * batch / elapsed / 1e9, window.sm_mhz, power_w=window.power_w,
                             temperature_c=window.temperature_c, memory_mhz=window.memory_mhz,
                             clock_event_reasons=window.reasons)
                batch = max(1, round(batch * interval / elapsed))
        self.stream.synchronize()
        if kernel_name.startswith("fma_"):
            self._validate_fma(f"sustained {kernel_name}", out, precision, int(iterations))
        else:
            target, value = replay_stream("triad", dict(STREAM_INITIAL))
            check_close("sustained triad", [float(cp.min(a)), float(cp.max(a))], value, 1e-12)
        return timeline

    # Run -------------------------------------------------------------------------------------------------

    def run(self) -> GpuMeasurement:
        self.array_bytes = None
        stream = [k for k in self.kernels if k in STREAM_KERNELS]
        fma = [k for k in self.kernels if k in FMA_KERNELS]
        tensor = [k for k in self.kernels if k in TENSOR_KERNELS]
        transfer = [k for k in self.kernels if k in TRANSFER_KERNELS]
        sustained_kernels = []
        if self.sustain:
            sustained_kernels = (["fma_fp32"] if fma else []) + (["triad"] if stream else [])
        self._total = len(self.kernels) + len(sustained_kernels) + 1
        self._step = 0
        results: list[KernelResult] = []
        timelines: list[Timeline] = []
        self.sampler.start()
        try:
            self.progress("compile kernels (NVRTC)", self._step, self._total)
            stream_module = self._module("stream.cu")
            fma_module = self._module("fma.cu") if fma or "fma_fp32" in sustained_kernels else None
            self._step += 1
            if stream:
                results += self._stream(stream_module, stream)
            for name in transfer:
                self.progress(name, self._step, self._total)
                results.append(self._l2(stream_module) if name == "l2_read" else self._transfer(name))
                self._step += 1
            for name in fma:
                self.progress(name, self._step, self._total)
                results.append(self._fma(fma_module, name.split("_")[1]))
                self._step += 1
            for name in tensor:
                self.progress(name, self._step, self._total)
                precision = name.split("_")[1]
                try:
                    results.append(self._matmul(precision))
                except MeasurementError:
                    raise
                except Exception as error:  # cuBLAS or the GPU has no such path: a note, never a number
                    self.warnings.append(f"{name} not measured: {error.__class__.__name__}: {error}")
                self._step += 1
            for name in sustained_kernels:
                self.progress(f"sustained {name} ({self.sustain[0]:g} s)", self._step, self._total)
                module = fma_module if name.startswith("fma_") else stream_module
                timelines.append(self._sustain(module, name, *self.sustain))
                self._step += 1
            self.progress("done", self._total, self._total)
        except self.cp.cuda.memory.OutOfMemoryError as error:
            raise UsageError(f"cuda:{self.index} is out of memory ({error}); free GPU memory (other processes) "
                             "or measure fewer kernels with --kernels") from None
        finally:
            self.sampler.stop()
        for result in results:
            warning = spread_warning(result.name, result.summary, self.quick)
            if warning:
                self.warnings.append(warning)
        return GpuMeasurement(self.gpu, self.quick, self.policy, results, self.telemetry, self.warnings,
                              tuple(timelines), self.sustain[0] if self.sustain else None,
                              self.sustain[1] if self.sustain else None, self.array_bytes,
                              {"pcie": self.sampler.pcie_link()})


def measure_gpu(target: str, kernels: str | None, quick: bool, progress: ProgressCallback | None = None,
                sustain: tuple[float, float] | None = None) -> dict:
    """The profile of ``target`` ('cuda:N'): run every selected kernel and build the schema-1 profile."""
    from ..profile.build_gpu import gpu_profile

    index = int(target.split(":")[1])
    runner = GpuRunner(index, resolve_gpu_kernels(kernels), quick, progress, sustain)
    return gpu_profile(runner.run())
