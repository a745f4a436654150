"""Every kernel hwbench measures, declared once, as data.

likwid-bench declares ``FLOPS`` and ``BYTES`` in each kernel file's header and nvbandwidth keeps its test
cases in one list; hwbench does both here. A ``Kernel`` says what it is (device, family, memory level,
precision), how much work one element or one call does, and, for CUDA kernels, the source file and the
compile-time constants that reach it as ``-D`` options. Nothing else in hwbench spells a kernel's
precision, block size or chain count: the sessions and the profile builder read them from here.

Two byte counts are kept for bandwidth kernels (both go into the profile):

* ``bytes_stream``: what the kernel must read and write, the STREAM convention (triad: 3 x 8 bytes);
* ``bytes_traffic``: what actually crosses the memory bus. A normal CPU store first reads the line it
  writes (write-allocate, or read-for-ownership), so every written array costs one extra read; a
  non-temporal store does not, and neither does a GPU store. (Some recent Intel cores elide that read for
  full-line writes; where they do, ``bytes_traffic`` overstates the traffic of the temporal kernels.)

To add a kernel: declare it below (and in ``CPU_KERNELS`` or ``GPU_KERNELS``), then give its family a
module in ``hwbench/cpu/`` or ``hwbench/gpu/`` (or reuse one) that declares the family's ``FAMILY``
(``hwbench.family``); the session finds it through the kernel's ``family``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from types import MappingProxyType

from .errors import UsageError
from .kernel_spec import (
    ChaseLaunch,
    CpuFmaLaunch,
    CpuIntensityLaunch,
    CudaModule,
    GemmLaunch,
    GpuChaseLaunch,
    GpuFmaLaunch,
    GpuIntensityLaunch,
    GpuStreamLaunch,
    Kernel,
    L2ReadLaunch,
    LaunchShape,
    LoadedLaunch,
    LowpLaunch,
    MixLaunch,
    MmaLaunch,
    OnchipLaunch,
    PingPongLaunch,
    SweepLaunch,
    TensorLaunch,
    TransferLaunch,
)
from .kernel_spec import frozen as _frozen

# BLOCK: the largest block a STREAM launch may use (``__launch_bounds__`` and the reduction's shared array); the
# block of each launch is the launch shape's (below), chosen when the kernel runs.
STREAM_CU = CudaModule("stream.cu", MappingProxyType({"BLOCK": 1024}))
# CHAINS independent FMA chains per thread; UNROLL iterations of all chains per trip of the loop. With UNROLL 4
# the loop counter, compare and branch took 3 of every 35 issue slots, and fp32 reached 88% of an H100's
# peak (58.9 of 66.9 TFLOP/s); at 32, 256 FMAs share a trip with those 3 (98.8%; 65.7 TFLOP/s measured with
# unroll 32 on the same card, 2026-11-22). The FMA launch's iterations must stay a multiple of UNROLL.
FMA_CU = CudaModule("fma.cu", MappingProxyType({"BLOCK": 256, "CHAINS": 8, "UNROLL": 32}))
# The intensity sweep (ERT's kernel): BLOCK threads per block, one chain each; UNROLL FMA steps per loop trip.
INTENSITY_CU = CudaModule("intensity.cu", MappingProxyType({"BLOCK": 256, "UNROLL": 8}))
# Shared memory and L1: every block reads a buffer of VECTORS float4 (32 KiB) with BLOCK threads.
ONCHIP_CU = CudaModule("onchip.cu", MappingProxyType({"BLOCK": 512, "VECTORS": 2048}))
# The tensor-pipe microbenchmark (mma.sync on register operands, wgmma on sm_90a, tcgen05 on sm_100a / sm_103a;
# kernels/cuda/mma.cu): BLOCK threads, CHAINS independent accumulator fragments per warp, UNROLL iterations per loop
# trip (UNROLL MMAs per commit for wgmma and tcgen05). Compiled for sm_80, sm_89, sm_90, sm_90a, sm_100a and sm_103a
# in the tests; run by the mma family (GPU_MMA_KERNELS below).
MMA_CU = CudaModule("mma.cu", MappingProxyType({"BLOCK": 256, "CHAINS": 4, "UNROLL": 8}))
# hwbench validate's 5-point stencil: blocks of BLOCK_X x BLOCK_Y threads, one grid point each (one warp per row).
STENCIL_CU = CudaModule("stencil.cu", MappingProxyType({"BLOCK_X": 32, "BLOCK_Y": 8}))




# STREAM (McCalpin, stream.c) byte and FLOP counts per element; dot is BabelStream's read-only kernel.
STREAM_FORMS: dict[str, tuple[int, int, int]] = {  # form -> (reads, writes, FLOPs)
    "copy": (1, 1, 0), "scale": (1, 1, 1), "add": (2, 1, 1), "triad": (2, 1, 2), "dot": (2, 0, 2),
}
NT_FORMS = ("copy", "scale", "add", "triad")  # dot writes nothing, so it has no non-temporal variant

# CPU FMA: chains cover FMA latency x units (4 cycles x 2 units on x86 cores since Haswell and Zen 2, with
# headroom; Neoverse V1/V2 have 4 units of 128 bits), see kernels/cpu_fma.py.
CPU_FMA_CHAINS = _frozen(default=12, aarch64=16, arm64=16)


def _cpu_stream(form: str, nontemporal: bool = False) -> Kernel:
    reads, writes, flops = STREAM_FORMS[form]
    return Kernel(f"{form}_nt" if nontemporal else form, "cpu", "stream", "dram", "fp64", "GB/s",
                  ("nt",) if nontemporal else ("stream",), form, reads, writes, flops, 8, nontemporal)


def _cpu_fma(precision: str) -> Kernel:
    return Kernel(f"fma_{precision}", "cpu", "fma", "core", precision, "GFLOP/s", ("fma",),
                  element_bytes={"fp64": 8, "fp32": 4}[precision], launch=CpuFmaLaunch(chains=CPU_FMA_CHAINS))


# Cache sweep (kernels/cpu_cache.py, suite/cpu/caches.py): working sets from 4 KiB to 4x the last-level cache,
# per core and on all cores. form -> (reads, writes, FLOPs) per element; ``unroll`` vectors per loop trip
# (independent accumulators of the sum: add latency x FP add ports is at most 8 on current cores).
CACHE_FORMS: dict[str, tuple[int, int, int]] = {"read": (1, 0, 1), "copy": (1, 1, 0), "triad": (2, 1, 2)}


def _cpu_cache(form: str) -> Kernel:
    reads, writes, flops = CACHE_FORMS[form]
    return Kernel(f"cache_{form}", "cpu", "caches", "sweep", "fp64", "GB/s", ("caches",), form, reads, writes, flops,
                  launch=SweepLaunch(unroll=8, smallest_bytes=4096, llc_multiple=4))


# The arithmetic-intensity sweep (ERT's kernel; kernels/cpu_intensity.py, suite/cpu/intensity.py): each element
# loaded, given ``flops`` FLOPs (1: one add; 2k: k FMAs) and stored back, over a DRAM-sized working set
# (``llc_multiple`` x the last-level cache, at least ``min_bytes``). One load and one store per element, so the
# intensity is flops / (2 x element bytes): fp64 from 1/16 to 64 FLOP/byte, fp32 from 1/8 to 64.
INTENSITY_FLOPS = {"fp64": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                   "fp32": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)}


def _cpu_intensity(precision: str) -> Kernel:
    return Kernel(f"intensity_{precision}", "cpu", "intensity", "dram", precision, "GFLOP/s", ("intensity",),
                  "intensity", reads=1, writes=1, element_bytes={"fp64": 8, "fp32": 4}[precision],
                  launch=CpuIntensityLaunch(flops=INTENSITY_FLOPS[precision],
                                            quick_flops=INTENSITY_FLOPS[precision][::2], chains=CPU_FMA_CHAINS,
                                            llc_multiple=4, min_bytes=64 * 2**20))


# Low-precision peaks (kernels/cpu_lowp.py, suite/cpu/lowp.py): one instruction on ``chains`` independent
# accumulators of ``bits``-wide registers, or AMX tiles. Each runs only where CPUID reports every flag in ``needs``
# (/proc/cpuinfo names). 16 chains cover latency x pipes of the dot-product instructions (Zen 5: 2 per cycle on the
# two 512-bit FMA pipes; latency under 8 cycles), with registers to spare (32 zmm). ``counting``: cpufp's rule.
# int8 kernels count OP (GOP/s), never FLOP. ``instruction_class`` keys the clock table's licence levels.
CPU_LOWP_CHAINS = 16


def _cpu_lowp(name: str, precision: str, kind: str, bits: int, needs: tuple[str, ...], instruction: str,
              instruction_class: str, accumulate: str, counting: str) -> Kernel:
    unit = "GOP/s" if precision == "int8" else "GFLOP/s"
    return Kernel(name, "cpu", "lowp", "core", precision, unit, ("lowp",),
                  launch=LowpLaunch(kind=kind, bits=bits, chains=CPU_LOWP_CHAINS, needs=needs, instruction=instruction,
                                    instruction_class=instruction_class, accumulate=accumulate, counting=counting))


CPU_LOWP_KERNELS: tuple[Kernel, ...] = (
    _cpu_lowp("dp_bf16", "bf16", "dpbf16ps", 512, ("avx512_bf16",), "vdpbf16ps zmm", "avx512", "fp32",
              "4 FLOP per fp32 lane (2 bf16 multiplies + 2 adds) x 16 lanes per instruction"),
    _cpu_lowp("fma_fp16", "fp16", "fmaph", 512, ("avx512_fp16",), "vfmadd231ph zmm", "avx512", "fp16",
              "2 FLOP per fp16 lane x 32 lanes per instruction"),
    _cpu_lowp("dp_int8", "int8", "vpdpbusd", 512, ("avx512_vnni",), "vpdpbusd zmm", "avx512", "int32",
              "8 OP per int32 lane (4 u8 x s8 multiplies + 4 adds) x 16 lanes per instruction"),
    _cpu_lowp("dp_int8_256", "int8", "vpdpbusd", 256, ("avx_vnni",), "vpdpbusd ymm", "avx2", "int32",
              "8 OP per int32 lane (4 u8 x s8 multiplies + 4 adds) x 8 lanes per instruction"),
    _cpu_lowp("amx_bf16", "bf16", "tdpbf16ps", 0, ("amx_tile", "amx_bf16"), "tdpbf16ps", "amx", "fp32",
              "16,384 FLOP per instruction on full 16x16x32 tiles (16 x 16 x 32 bf16 products x 2)"),
    _cpu_lowp("amx_int8", "int8", "tdpbusd", 0, ("amx_tile", "amx_int8"), "tdpbusd", "amx", "int32",
              "32,768 OP per instruction on full 16x16x64 tiles (16 x 16 x 64 u8 x s8 products x 2)"),
)


# Compute peaks without FMA (kernels/cpu_mix.py, suite/cpu/mix.py): the add and multiply peaks at the FMA kernels'
# vector width and the scalar add peak, per precision (Intel Advisor's "Vector Add Peak" and "Scalar Add Peak"),
# and the library GEMM ceiling (NumPy's matmul through its BLAS at a size on its plateau). 12 chains cover add or
# multiply latency x pipes (3-4 cycles x 2 pipes on x86 cores since Haswell and Zen 2). ``lanes`` 0: the FMA
# kernels' full-rate width; 1: scalar. Written into the profile's instruction_peaks section with the clock of each.
CPU_MIX_CHAINS = 12
GEMM_SIZES = {"fp64": 2048, "fp32": 2048}  # n x n: OpenBLAS's DGEMM/SGEMM is within a few % of its plateau here


def _cpu_mix(operation: str, precision: str, scalar: bool) -> Kernel:
    name = f"{'scalar_' if scalar else ''}{operation}_{precision}"
    suffix = {"fp64": "d", "fp32": "s"}[precision]
    instruction = f"v{operation}{'s' if scalar else 'p'}{suffix}"
    return Kernel(name, "cpu", "mix", "core", precision, "GFLOP/s", ("mix",),
                  element_bytes={"fp64": 8, "fp32": 4}[precision],
                  launch=MixLaunch(operation=operation, lanes=1 if scalar else 0, chains=CPU_MIX_CHAINS,
                                   instruction=instruction, instruction_class="scalar" if scalar else "vector",
                                   accumulate=precision,
                                   counting=f"1 FLOP per lane per {instruction}; {instruction} and its inverse "
                                            f"({'vsub' if operation == 'add' else 'vmul by the reciprocal'}) "
                                            "alternate on each chain"))


def _cpu_gemm(precision: str) -> Kernel:
    routine = {"fp64": "dgemm", "fp32": "sgemm"}[precision]
    return Kernel(f"gemm_{precision}", "cpu", "mix", "core", precision, "GFLOP/s", ("mix",),
                  element_bytes={"fp64": 8, "fp32": 4}[precision],
                  launch=GemmLaunch(size=GEMM_SIZES[precision], instruction=f"np.matmul ({routine})",
                                    instruction_class="library", accumulate=precision,
                                    counting="2n^3 FLOP per n x n matmul (LAPACK Working Note 41)"))


CPU_MIX_KERNELS: tuple[Kernel, ...] = (
    *(_cpu_mix(operation, precision, scalar) for precision in ("fp64", "fp32")
      for operation, scalar in (("add", False), ("mul", False), ("add", True))),
    _cpu_gemm("fp64"), _cpu_gemm("fp32"),
)


# The CPU's throughput kernels (bandwidth, compute and instruction peaks); CPU_KERNELS adds the latency ones.
CPU_THROUGHPUT_KERNELS: tuple[Kernel, ...] = (
    *(_cpu_stream(form) for form in STREAM_FORMS),
    *(_cpu_stream(form, nontemporal=True) for form in NT_FORMS),
    _cpu_fma("fp64"), _cpu_fma("fp32"),
    *(_cpu_cache(form) for form in CACHE_FORMS),
    _cpu_intensity("fp64"), _cpu_intensity("fp32"),
    *CPU_LOWP_KERNELS,
    *CPU_MIX_KERNELS,
)


# Launch shapes of the GPU STREAM kernels: threads per block, and waves of a grid-stride launch
# (SMs x resident blocks x waves) or None for one vector per thread on a grid that covers the array in one pass
# (BabelStream's launch). On an H100 the one-pass launch of 1024-thread blocks gave triad 3078 GB/s, grid-stride
# loops 2898-2908 at one wave and 3000-3012 at 64. Simplest first: a tie goes to the earlier shape.
GPU_STREAM_SHAPES: tuple[LaunchShape, ...] = (
    LaunchShape(block=1024, waves=None), LaunchShape(block=256, waves=None),
    *(LaunchShape(block=block, waves=waves) for waves in (1, 4, 16, 64) for block in (256, 1024)),
)


def _gpu_stream(form: str, precision: str) -> Kernel:
    reads, writes, flops = STREAM_FORMS[form]
    suffix, element_bytes = {"fp64": ("f64", 8), "fp32": ("f32", 4)}[precision]
    # 16-byte vectors (double2, float4) in grid-stride loops, launched in the shape an untimed sweep of
    # GPU_STREAM_SHAPES found fastest on the device (suite/gpu/stream.py), ``sweep_launches`` launches per shape.
    return Kernel(form if precision == "fp64" else f"{form}_fp32", "gpu", "stream", "dram", precision, "GB/s",
                  ("stream",), form, reads, writes, flops, element_bytes, entry=f"{form}_{suffix}", module=STREAM_CU,
                  launch=GpuStreamLaunch(vector_bytes=16, shapes=GPU_STREAM_SHAPES, sweep_launches=3))


def _gpu_fma(precision: str, entry: str, lanes: int) -> Kernel:
    # lanes: scalar FMAs per instruction (packed half2 / bf16x2 do two).
    return Kernel(f"fma_{precision}", "gpu", "fma", "core", precision, "GFLOP/s", ("fma",), entry=entry,
                  module=FMA_CU, launch=GpuFmaLaunch(waves=4, iterations=4096, lanes=lanes))


def _gpu_matmul(data: str) -> Kernel:
    # cuBLAS cublasGemmEx on square matrices; the best size is the ceiling (quick runs skip the largest).
    return Kernel(f"matmul_{data}", "gpu", "tensor", "core", f"tensor_{data}", "GFLOP/s", ("tensor",),
                  launch=TensorLaunch(data=data, sizes=(4096, 8192, 16384), quick_sizes=(4096, 8192)))


def _gpu_transfer(direction: str) -> Kernel:
    # Pinned host memory (cudaHostAlloc) <-> device, cudaMemcpyAsync of 256 MiB.
    return Kernel(direction, "gpu", "transfer", direction, "-", "GB/s", ("transfer",), reads=1, writes=0,
                  element_bytes=1, launch=TransferLaunch(nbytes=256 << 20))


def _gpu_onchip(level: str) -> Kernel:
    # Reads of a 32 KiB buffer held in each SM's shared memory or L1, ``passes`` times per launch, on
    # ``waves`` x (SMs x resident blocks) blocks: what the SMs' load path moves per second.
    return Kernel(f"{level}_read", "gpu", "onchip", level, "fp32", "GB/s", ("caches",), reads=1, element_bytes=4,
                  entry=f"{level}_read_f32", module=ONCHIP_CU,
                  launch=OnchipLaunch(waves=2, passes=256, value=1.0))


def _gpu_intensity(precision: str) -> Kernel:
    # The intensity sweep over a DRAM-sized array (``dram_l2_multiple`` x the L2, at least ``min_bytes``) and an
    # L2-sized one (``l2_share`` of the L2); grid-stride launches of ``waves`` x (SMs x resident blocks).
    suffix, element_bytes = {"fp64": ("f64", 8), "fp32": ("f32", 4)}[precision]
    return Kernel(f"intensity_{precision}", "gpu", "intensity", "dram", precision, "GFLOP/s", ("intensity",),
                  "intensity", reads=1, writes=1, element_bytes=element_bytes, entry=f"intensity_{suffix}",
                  module=INTENSITY_CU,
                  launch=GpuIntensityLaunch(flops=INTENSITY_FLOPS[precision],
                                            quick_flops=INTENSITY_FLOPS[precision][::2], levels=("dram", "l2"),
                                            dram_l2_multiple=4, min_bytes=256 * 2**20, l2_share=0.5, waves=4))


# The GPU's throughput kernels of the compute and memory sections; GPU_KERNELS adds the latency and low-precision ones.
GPU_THROUGHPUT_KERNELS: tuple[Kernel, ...] = (
    *(_gpu_stream(form, "fp64") for form in STREAM_FORMS),
    *(_gpu_stream(form, "fp32") for form in STREAM_FORMS),
    # L2: grid-stride reads of a buffer of a quarter of the L2, ``passes`` times per launch, in one shape.
    Kernel("l2_read", "gpu", "l2", "l2", "fp64", "GB/s", ("transfer", "caches"), reads=1, entry="l2_read_f64",
           module=STREAM_CU, launch=L2ReadLaunch(vector_bytes=16, shapes=(LaunchShape(block=256, waves=1),),
                                                 passes=64, l2_share=0.25)),
    _gpu_transfer("h2d"), _gpu_transfer("d2h"),
    _gpu_fma("fp64", "fma_f64", 1), _gpu_fma("fp32", "fma_f32", 1),
    _gpu_fma("fp16", "fma_f16x2", 2), _gpu_fma("bf16", "fma_bf16x2", 2),
    _gpu_matmul("fp16"), _gpu_matmul("bf16"), _gpu_matmul("tf32"), _gpu_matmul("fp64"),
    _gpu_onchip("shared"), _gpu_onchip("l1"),
    _gpu_intensity("fp64"), _gpu_intensity("fp32"),
)

# Latency ceilings. CPU: kernels/cpu_latency.py, suite/cpu/latency.py; GPU: cuda/latency.cu,
# suite/gpu/latency.py. Unit ns (lower is better); their figures go to memory.<level>.latency_ns and the profile's
# latency section, not to the kernels list.
# latency_chase: p = *p over a random cycle of cache lines (``unroll`` dependent loads per loop trip), working
# sets from ``smallest_bytes`` to ``llc_multiple`` x the last-level cache, each power of two times every factor of
# ``steps`` (below the LLC); ``samples`` of about ``sample_seconds`` each per working set.
# latency_loaded: the chase over the largest working set while the other cores move bursts of ``burst_elements``
# float64 of ``traffic`` (kernels/cpu_latency.TRAFFIC; triad_nt, 2 reads : 1 non-temporal write, moved the most
# bytes per second from one Zen 5 core of those tried, every byte of it certain: no read for ownership to assume)
# with ``delays_ticks`` time-stamp ticks between bursts (MLC), ``repeats`` samples of ``chase_seconds`` per delay.
# latency_c2c: c2clat's ping-pong, ``rounds`` round trips per sample.
LATENCY_CU = CudaModule("latency.cu", MappingProxyType({"UNROLL": 8}))
CPU_LATENCY_KERNELS: tuple[Kernel, ...] = (
    Kernel("latency_chase", "cpu", "latency", "sweep", "-", "ns", ("latency",), "chase", reads=1,
           launch=ChaseLaunch(unroll=16, smallest_bytes=4096, llc_multiple=4, steps=(1.0, 1.5), quick_steps=(1.0,),
                              sample_seconds=0.002, quick_sample_seconds=0.002, samples=7, quick_samples=5)),
    Kernel("latency_loaded", "cpu", "latency", "dram", "-", "ns", ("latency",), "loaded", reads=1,
           launch=LoadedLaunch(unroll=16, smallest_bytes=4096, llc_multiple=4, steps=(1.0,), quick_steps=(1.0,),
                               sample_seconds=0.002, quick_sample_seconds=0.002, samples=7, quick_samples=5,
                               traffic="triad_nt", burst_elements=4096, min_bytes=64 * 2**20,
                               chase_seconds=0.001, quick_chase_seconds=0.001, repeats=7,
                               delays_ticks=(20000, 4000, 1500, 600, 200, 0),
                               quick_delays_ticks=(10000, 2000, 600, 150, 0))),
    Kernel("latency_c2c", "cpu", "latency", "core", "-", "ns", ("latency",), "pingpong",
           launch=PingPongLaunch(rounds=4000, samples=7, quick_samples=5)),
)
# GPU: one thread chases shared memory, L1 (__ldg), L2, HBM, and ``remote_bytes`` of host (h2d) and peer (d2d) memory.
GPU_LATENCY_KERNELS: tuple[Kernel, ...] = (
    Kernel("latency_chase", "gpu", "latency", "sweep", "-", "ns", ("latency",), "chase", reads=1,
           entry="chase_global_cg", module=LATENCY_CU,
           launch=GpuChaseLaunch(steps=4096, samples=7, shared_bytes=16 * 1024, l1_bytes=16 * 1024, l2_share=0.25,
                                 dram_l2_multiple=8, remote_bytes=2 * 2**20)),
)
CPU_KERNELS: tuple[Kernel, ...] = (*CPU_THROUGHPUT_KERNELS, *CPU_LATENCY_KERNELS)

# GPU low-precision peaks -> instruction_peaks, int8 in GOP/s. mma.cu (gpu/mma.py): m_n_k gives 2MNK per warp (wgmma:
# warpgroup, tcgen05: CTA) instruction; needs: the lowest capability (wgmma: sm_90a only, tcgen05: sm_100a / sm_103a
# only); iterations keep fp32 sums exact (< 2**24).
_MMA_PREFIX = {"wgmma_bf16": "wgmma.mma_async.sync.aligned.", "tcgen05_bf16": "tcgen05.mma.cta_group::1.kind::f16."}
GPU_MMA_KERNELS: tuple[Kernel, ...] = tuple(
    Kernel(name, "gpu", "mma", "core", f"{entry.split('_')[0]}_{data}", "GOP/s" if data == "int8" else "GFLOP/s",
           ("lowp",), entry=entry, module=MMA_CU, launch=MmaLaunch(
               waves=2, iterations=iterations, m_n_k=m_n_k, needs=needs, data=data,  # precision: never a compute key
               instruction=_MMA_PREFIX.get(entry, "mma.sync.aligned.") + shape))
    for name, data, entry, m_n_k, needs, iterations, shape in (
        ("mma_fp16", "fp16", "mma_f16", (16, 8, 16), (8, 0), 4096, "m16n8k16.row.col.f32.f16.f16.f32"),
        ("mma_bf16", "bf16", "mma_bf16", (16, 8, 16), (8, 0), 4096, "m16n8k16.row.col.f32.bf16.bf16.f32"),
        ("mma_tf32", "tf32", "mma_tf32", (16, 8, 8), (8, 0), 4096, "m16n8k8.row.col.f32.tf32.tf32.f32"),
        ("mma_int8", "int8", "mma_s8", (16, 8, 32), (8, 0), 4096, "m16n8k32.row.col.s32.s8.s8.s32"),
        ("mma_fp8_e4m3", "fp8_e4m3", "mma_e4m3", (16, 8, 32), (8, 9), 4096, "m16n8k32.row.col.f32.e4m3.e4m3.f32"),
        ("mma_fp8_e5m2", "fp8_e5m2", "mma_e5m2", (16, 8, 32), (8, 9), 4096, "m16n8k32.row.col.f32.e5m2.e5m2.f32"),
        ("wgmma_bf16", "bf16", "wgmma_bf16", (64, 256, 16), (9, 0), 1024, "m64n256k16.f32.bf16.bf16"),
        # tcgen05 (sm_100a / sm_103a only): the shape and types are in the instruction descriptor, not the opcode.
        ("tcgen05_bf16", "bf16", "tcgen05_bf16", (128, 256, 16), (10, 0), 512, "m128n256k16.f32.bf16.bf16")))
GPU_LOWP_GEMM_KERNELS: tuple[Kernel, ...] = tuple(  # lowp_gemm.py: int8 by cuBLAS gemmEx, fp8 by cuBLASLt (ctypes)
    Kernel(f"gemm_{data}", "gpu", "tensor", "core", f"tensor_{data}", "GOP/s" if data == "int8" else "GFLOP/s",
           ("lowp",), launch=TensorLaunch(data=data, sizes=(4096, 8192, 16384), quick_sizes=(4096, 8192), needs=needs))
    for data, needs in (("int8", (7, 5)), ("fp8_e4m3", (8, 9))))
GPU_KERNELS: tuple[Kernel, ...] = (*GPU_THROUGHPUT_KERNELS, *GPU_LATENCY_KERNELS, *GPU_MMA_KERNELS,
                                   *GPU_LOWP_GEMM_KERNELS)

CATALOG: dict[str, tuple[Kernel, ...]] = {"cpu": CPU_KERNELS, "gpu": GPU_KERNELS}
# The order --help and error messages list the groups in.
GROUP_ORDER = ("stream", "nt", "fma", "caches", "intensity", "lowp", "mix", "tensor", "transfer", "latency")
# Not measured by 'hwbench run' (so in no CATALOG entry): the raw kernel 'hwbench validate' times as a real
# workload (hwbench.workloads.gpu), 2 multiplications + 4 additions per interior point, one read + one write.
VALIDATE_STENCIL = Kernel("stencil5_fp32", "gpu", "validate", "dram", "fp32", "GFLOP/s", reads=1, writes=1,
                          flops_per_element=6, element_bytes=4, entry="stencil5_f32", module=STENCIL_CU)
CUDA_MODULES: tuple[CudaModule, ...] = (STREAM_CU, FMA_CU, INTENSITY_CU, ONCHIP_CU, STENCIL_CU, MMA_CU, LATENCY_CU)


def kernels(device: str) -> tuple[Kernel, ...]:
    """Every kernel of ``device`` ("cpu" or "gpu"), in the order a run measures them."""
    return CATALOG[device]


def kernel(device: str, name: str) -> Kernel:
    """The kernel called ``name`` on ``device``; KeyError when there is none."""
    for candidate in CATALOG[device]:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no {device} kernel {name!r}")


def groups(device: str) -> dict[str, tuple[str, ...]]:
    """Group name -> member kernel names, in catalog order; ``all`` is every kernel."""
    found: dict[str, list[str]] = {}
    for candidate in CATALOG[device]:
        for group in candidate.groups:
            found.setdefault(group, []).append(candidate.name)
    ordered = sorted(found, key=GROUP_ORDER.index)
    return {**{name: tuple(found[name]) for name in ordered},
            "all": tuple(k.name for k in CATALOG[device])}


# What a --quick run leaves out of its default selection (no --kernels): the CPU instruction kernels each compile two
# numba functions at run time (the kernel and the kernel with the clock probe: 0.2-1.3 s each on a busy 2-vCPU guest),
# and with the latency family they took a quick run from 9.3 s to 20.4 s. A quick run keeps one kernel per
# instruction class and precision family the gate reads (bf16, int8 at 512 bits, the fp64 add, multiply, scalar add
# and GEMM) and the idle latency sweep; the 256-bit int8 twin, the fp32 twins of the mix family and the
# loaded-latency curve run in a full run, or when named with --kernels.
QUICK_LEAVES_OUT: dict[str, frozenset[str]] = {
    "cpu": frozenset({"dp_int8_256", "add_fp32", "mul_fp32", "scalar_add_fp32", "gemm_fp32", "latency_loaded"}),
    "gpu": frozenset(),
}


def select(device: str, spec: str | None, quick: bool = False) -> tuple[Kernel, ...]:
    """'triad,fma' -> the named kernels and groups' members, in catalog order; an unknown name is a
    UsageError (exit 2). None or '' selects every kernel (with ``quick``: but ``QUICK_LEAVES_OUT``)."""
    every = CATALOG[device]
    if spec is None or not spec.strip():
        return tuple(k for k in every if k.name not in QUICK_LEAVES_OUT[device]) if quick else every
    named = groups(device)
    names = [k.name for k in every]  # catalog order, for the message below
    chosen: set[str] = set()
    for part in (part.strip() for part in spec.split(",")):
        if not part:  # "triad," or "triad,,dot"
            continue
        if part in named:
            chosen.update(named[part])
        elif part in names:
            chosen.add(part)
        else:
            what = "GPU kernel" if device == "gpu" else "kernel"
            raise UsageError(f"--kernels: unknown {what} {part!r}; choose from {', '.join([*named, *names])}")
    return tuple(k for k in every if k.name in chosen)


def by_family(kernels: Sequence[Kernel], families: Collection[str]) -> dict[str, list[Kernel]]:
    """The selected kernels grouped by family (catalog order kept); a kernel whose family has no module in
    ``families`` (a session's table) is a programming error."""
    grouped: dict[str, list[Kernel]] = {}
    for item in kernels:
        if item.family not in families:
            raise ValueError(f"{item.name}: no {item.device.upper()} family module for {item.family!r}")
        grouped.setdefault(item.family, []).append(item)
    return grouped
