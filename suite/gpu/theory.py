"""Theoretical peaks of NVIDIA GPUs: per-SM throughput by compute capability, and DRAM bandwidth.

    peak FLOP/s (precision) = SMs x FLOP per cycle per SM (precision) x SM clock
    FLOP per cycle per SM   = lanes per SM x 2 (one FMA is two FLOPs)            (non-tensor pipes)
    DRAM bytes/s            = 2 (double data rate) x memory clock x bus width / 8
    PCIe bytes/s            = lanes x transfer rate x encoding / 8                  (one direction)

The per-SM figures are dense rates (never the 2:4-sparse ones) from NVIDIA's architecture whitepapers and
the CUDA C++ Programming Guide's "Arithmetic Instructions" throughput table. The memory clock is the one
NVML's max clock reports (for HBM it is the clock whose double data rate gives the datasheet bandwidth:
A100 40GB 1215 MHz x 5120 bits -> 1555 GB/s; H100 SXM 2619 MHz x 5120 bits -> 3352 GB/s). CUDA 13 removed
``cudaDeviceProp.clockRate`` and ``memoryClockRate``, so the clocks come from NVML (or device attributes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..record import ComputeTheory, MemoryTheory

if TYPE_CHECKING:
    from .family import GpuInfo

FLOPS_PER_FMA = 2


@dataclass(frozen=True)
class SmModel:
    """One compute capability's dense rates per cycle per SM, each group of figures with the document it is from:
    ``flop_per_cycle`` of the non-tensor pipes by precision (None where there is no such pipe; ``source``), and
    ``tensor`` of the tensor cores by input precision, FLOP (OP for int8) with fp32 accumulation for the
    floating-point inputs and int32 for int8 (``tensor_source``); a precision absent from ``tensor`` has no tensor
    path, or no figure NVIDIA derives per SM."""

    name: str
    source: str
    flop_per_cycle: dict[str, int | None] = field(default_factory=dict)
    tensor_source: str = "unknown: no tensor figures in hwbench's table (measured only)"
    tensor: dict[str, int] = field(default_factory=dict)

    def per_cycle(self, precision: str) -> int | None:
        """FLOP per cycle per SM of a profile compute key: ``fp32``, ... (the pipes) or ``tensor_fp16``, ..."""
        if precision.startswith(TENSOR_PREFIX):
            return self.tensor.get(precision.removeprefix(TENSOR_PREFIX))
        return self.flop_per_cycle.get(precision)

    def source_of(self, precision: str) -> str:
        return self.tensor_source if precision.startswith(TENSOR_PREFIX) else self.source


TENSOR_PREFIX = "tensor_"  # the profile's compute keys of the tensor cores: tensor_<input precision>


def _lanes(fp64: int, fp32: int, fp16: int, bf16: int | None) -> dict[str, int | None]:
    """FMA lanes per SM -> FLOP per cycle per SM (x2). fp16/bf16 count scalar lanes of the packed x2 pipe."""
    return {"fp64": FLOPS_PER_FMA * fp64, "fp32": FLOPS_PER_FMA * fp32, "fp16": FLOPS_PER_FMA * fp16,
            "bf16": FLOPS_PER_FMA * bf16 if bf16 else None}


# Compute capability -> SM model: the one table of per-SM rates (the compute section's paper figures and the
# instruction_peaks section's). Tensor figures are dense: per SM = the datasheet's dense whole-chip figure / (SMs x the
# boost clock it is quoted at); the sparse (2:4) figures, twice these, are never used. Data-centre parts: GeForce parts
# run fp16/bf16/fp8 with fp32 accumulation at half rate.
_BLACKWELL_TENSOR = ("unknown: NVIDIA's Blackwell technical brief quotes whole-GPU tensor figures without their clock "
                     "(measured only); mma.sync is not Blackwell's peak path (tcgen05 is)")
SM_MODELS: dict[tuple[int, int], SmModel] = {
    (7, 0): SmModel("Volta (GV100)", "NVIDIA Tesla V100 whitepaper: 64 FP32, 32 FP64 lanes/SM (CUDA 12 only: CUDA "
                    "13's NVRTC has no sm_70)", _lanes(32, 64, 128, None),
                    "NVIDIA Tesla V100 whitepaper: 8 tensor cores x 64 FMA/cycle per SM", {"fp16": 1024}),
    (7, 5): SmModel("Turing (TU10x)", "NVIDIA Turing architecture whitepaper: 64 FP32 lanes/SM, FP64 1/32 of FP32, "
                    "FP16 (half2) 2x FP32, no BF16 (T4: 40 SMs, 1590 MHz -> 8.1 TFLOP/s FP32)",
                    _lanes(2, 64, 128, None),
                    "NVIDIA Turing architecture whitepaper: 8 tensor cores x 64 FP16 FMA/cycle per SM (T4: 40 SMs, "
                    "1590 MHz -> 65 TFLOP/s FP16 tensor)", {"fp16": 1024}),
    (8, 0): SmModel("Ampere (GA100)", "NVIDIA A100 whitepaper: 64 FP32, 32 FP64 lanes/SM; non-tensor FP16 4x and "
                    "BF16 2x the FP32 rate", _lanes(32, 64, 256, 128),
                    "NVIDIA A100 Tensor Core GPU Architecture whitepaper: 312 TFLOPS dense FP16/BF16, 156 TF32, 624 "
                    "TOPS INT8 on 108 SMs at 1410 MHz (1024 dense FP16 FMA/cycle/SM, TF32 half that, FP64 64)",
                    {"fp16": 2048, "bf16": 2048, "tf32": 1024, "fp64": 128, "int8": 4096}),
    (8, 6): SmModel("Ampere (GA10x)", "NVIDIA Ampere GA102 whitepaper: 128 FP32 lanes/SM, FP64 1/64, FP16 = FP32 "
                    "rate", _lanes(2, 128, 128, 128),
                    "NVIDIA Ampere GA102 GPU Architecture whitepaper: 3rd-generation tensor cores, 512 dense FP16 "
                    "FMA/cycle/SM (data-centre A10/A40 rate), TF32 half, INT8 double",
                    {"fp16": 1024, "bf16": 1024, "tf32": 512, "int8": 2048}),
    (8, 9): SmModel("Ada Lovelace (AD10x)", "NVIDIA Ada Lovelace whitepaper: 128 FP32 lanes/SM, FP64 1/64, FP16 = "
                    "FP32 rate", _lanes(2, 128, 128, 128),
                    "NVIDIA Ada Lovelace GPU Architecture whitepaper and L40S datasheet: 362 TFLOPS dense FP16/BF16 "
                    "(FP32 accumulate), 183 TF32, 733 FP8 and 733 TOPS INT8 on 142 SMs: 512 dense FP16 FMA/cycle/SM, "
                    "TF32 half, FP8 and INT8 double",
                    {"fp16": 1024, "bf16": 1024, "tf32": 512, "int8": 2048, "fp8_e4m3": 2048, "fp8_e5m2": 2048}),
    (9, 0): SmModel("Hopper (GH100)", "NVIDIA H100 whitepaper: 128 FP32, 64 FP64 lanes/SM; non-tensor FP16/BF16 2x "
                    "the FP32 rate", _lanes(64, 128, 256, 256),
                    "NVIDIA H100 Tensor Core GPU Architecture whitepaper: H100 SXM5 989.4 TFLOPS dense FP16/BF16, "
                    "494.7 TF32, 1978.9 FP8 and 1978.9 TOPS INT8 on 132 SMs at 1830 MHz (2048 dense FP16 "
                    "FMA/cycle/SM, TF32 half that, FP64 128)",
                    {"fp16": 4096, "bf16": 4096, "tf32": 2048, "fp64": 256, "int8": 8192, "fp8_e4m3": 8192,
                     "fp8_e5m2": 8192}),
    (10, 0): SmModel("Blackwell (GB100)", "CUDA C++ Programming Guide, arithmetic instruction throughput of "
                     "compute capability 10.0: 128 FP32, 64 FP64 results/cycle/SM, FP16/BF16 (x2) 2x FP32",
                     _lanes(64, 128, 256, 256), _BLACKWELL_TENSOR),
    (12, 0): SmModel("Blackwell (GB20x)", "CUDA C++ Programming Guide, arithmetic instruction throughput of "
                     "compute capability 12.0: 128 FP32 results/cycle/SM, FP64 1/64 of FP32, FP16/BF16 (x2) at the "
                     "FP32 rate", _lanes(2, 128, 128, 128), _BLACKWELL_TENSOR),
}

# The architectures hwbench compiles its kernels for (docs/gpu.md; tests/test_nvrtc_compile.py compiles every
# kernel for each through CuPy's NVRTC path). sm_70 only with CUDA 12's NVRTC: CUDA 13 dropped Volta.
ARCHITECTURES = ("sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120")

# Per-SM limits by architecture: (resident threads, resident blocks), CUDA C++ Programming Guide, "Technical
# Specifications per Compute Capability" (the session reads the threads from the device; these serve the
# occupancy arithmetic where no device is at hand, as in CI).
SM_LIMITS = {"sm_70": (2048, 32), "sm_75": (1024, 16), "sm_80": (2048, 32), "sm_86": (1536, 16),
             "sm_89": (1536, 24), "sm_90": (2048, 32), "sm_100": (2048, 32), "sm_120": (1536, 24)}


def sm_model(major: int, minor: int) -> SmModel | None:
    return SM_MODELS.get((major, minor))


def peak_gflops(sms: int, clock_mhz: float | None, flop_per_cycle_per_sm: int | None) -> float | None:
    """SMs x FLOP per cycle per SM x clock, in GFLOP/s; None when a factor is unknown."""
    if not clock_mhz or not flop_per_cycle_per_sm:
        return None
    return sms * flop_per_cycle_per_sm * clock_mhz * 1e6 / 1e9


def dram_gbps(memory_clock_mhz: float | None, bus_width_bits: int | None) -> float | None:
    """2 x memory clock x bus width / 8, in GB/s (double data rate, as NVML reports the clock)."""
    if not memory_clock_mhz or not bus_width_bits:
        return None
    return 2 * memory_clock_mhz * 1e6 * bus_width_bits / 8 / 1e9


# Register file and its allocation (CUDA C++ Programming Guide, "Technical Specifications per Compute Capability":
# 64 K 32-bit registers per SM for every compute capability from 5.0 to 12.x; CUDA Occupancy Calculator: registers
# are allocated per warp in units of 256).
REGISTERS_PER_SM = 65536
REGISTER_ALLOCATION_UNIT = 256
WARP = 32


def blocks_by_registers(regs_per_thread: int, block: int, regs_per_sm: int = REGISTERS_PER_SM) -> int:
    """Blocks of ``block`` threads whose registers fit one SM's register file: each warp takes
    ``regs_per_thread`` x 32 registers rounded up to the allocation unit (the CUDA Occupancy Calculator's rule)."""
    per_warp = -(-regs_per_thread * WARP // REGISTER_ALLOCATION_UNIT) * REGISTER_ALLOCATION_UNIT
    warps = -(-block // WARP)
    return regs_per_sm // (per_warp * warps) if per_warp else 1 << 30


def resident_blocks_per_sm(max_threads_per_sm: int, block: int, max_blocks_per_sm: int = 32,
                           regs_per_thread: int | None = None) -> int:
    """Blocks of ``block`` threads one SM holds at once: the thread limit, the block limit and, where the
    kernel's register count is known, the register file (shared memory does not limit hwbench's kernels:
    the largest, onchip.cu's 32 KiB, fits every SM from sm_75 up several times)."""
    limit = min(max_threads_per_sm // block, max_blocks_per_sm)
    if regs_per_thread:
        limit = min(limit, blocks_by_registers(regs_per_thread, block))
    return max(1, limit)


def launch_blocks(sms: int, max_threads_per_sm: int, block: int, waves: int = 1, resident: int | None = None) -> int:
    """Blocks that fill every SM ``waves`` times: SMs x resident blocks per SM x waves (BabelStream issue
    137: filling the chip took an A100's dot from 1555 to 1745 GB/s). ``resident``: blocks per SM as the driver's
    occupancy API gives them for the loaded kernel (registers included); else the thread limit alone."""
    per_sm = resident if resident else resident_blocks_per_sm(max_threads_per_sm, block)
    return sms * per_sm * waves


def pcie_gbps(generation: int | None, width: int | None) -> float | None:
    """One direction of a PCIe link: lanes x transfer rate x encoding / 8 (PCI-SIG base specifications:
    2.5, 5, 8, 16, 32, 64 GT/s for generations 1-6; 8b/10b to gen 2, 128b/130b from gen 3; gen 6's FLIT
    mode is counted as 242/256)."""
    rates = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}
    if not generation or not width or generation not in rates:
        return None
    encoding = 0.8 if generation <= 2 else 242 / 256 if generation == 6 else 128 / 130
    return width * rates[generation] * encoding / 8


# The paper figures of one GPU, as the profile builder takes them ---------------------------------------------

COUNTING = "bytes read + written by the kernel (GPU stores allocate no read); STREAM convention"
CLOCK_SOURCE = "NVML SM clock, median over the timed window"


def compute_theory(gpu: GpuInfo, precision: str) -> ComputeTheory:
    """SMs x FLOP per cycle per SM (the compute capability's table) x NVML's max SM clock, with sources."""
    model = sm_model(*gpu.compute_capability)
    per_cycle = model.per_cycle(precision) if model else None
    cc = f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"
    source = (f"{gpu.sms} SMs x {per_cycle} FLOP/cycle/SM ({model.name}: {model.source_of(precision)}) x "
              f"{gpu.max_sm_mhz:.0f} MHz ({gpu.clock_source})" if model and peak_gflops(gpu.sms, gpu.max_sm_mhz,
                                                                                        per_cycle) else
              f"unknown: no {precision} figure for compute capability {cc} in hwbench's table" if not per_cycle
              else "unknown: NVML gave no max SM clock")
    return ComputeTheory(units=gpu.sms, per="SM", clock="SM", clock_source=CLOCK_SOURCE, flop_per_cycle=per_cycle,
                         nominal_mhz=gpu.max_sm_mhz, nominal_source=gpu.clock_source, source=source,
                         nominal_is_max=True)


SHARED_BANKS, SHARED_BANK_BYTES = 32, 4  # per SM, one 32-bit word per bank per clock: CUDA C++ Programming Guide,
# "Shared Memory" of compute capabilities 5.x and later (the same through 9.0 and 10.0)
ONCHIP_COUNTING = "bytes the SMs load from shared memory or L1 (passes x buffer x blocks)"


def shared_theory(gpu: GpuInfo) -> MemoryTheory:
    """Shared memory: SMs x 32 banks x 4 bytes per clock x NVML's max SM clock."""
    if not gpu.max_sm_mhz:
        return MemoryTheory(None, "unknown: NVML gave no max SM clock", ONCHIP_COUNTING, "SM")
    gbps = gpu.sms * SHARED_BANKS * SHARED_BANK_BYTES * gpu.max_sm_mhz * 1e6 / 1e9
    source = (f"{gpu.sms} SMs x {SHARED_BANKS} banks x {SHARED_BANK_BYTES} bytes per clock x {gpu.max_sm_mhz:.0f} "
              f"MHz ({gpu.clock_source}); CUDA C++ Programming Guide, shared memory of compute capability 5.x+")
    return MemoryTheory(gbps, source, ONCHIP_COUNTING, "SM")


def memory_theory(gpu: GpuInfo, pcie: dict | None) -> dict[str, MemoryTheory]:
    """The paper figure of every GPU memory level: DRAM from NVML's memory clock and bus width, the PCIe
    link for h2d and d2h, none for the L2 (NVIDIA publishes no L2 bandwidth)."""
    dram = dram_gbps(gpu.max_memory_mhz, gpu.bus_width_bits)
    dram_source = (f"2 x {gpu.max_memory_mhz:.0f} MHz ({gpu.clock_source}) x {gpu.bus_width_bits} bits / 8"
                   if dram else "unknown: NVML gave no max memory clock or bus width")
    link = pcie or {}
    pcie_theory = pcie_gbps(link.get("generation"), link.get("width"))
    pcie_source = (f"PCIe gen {link['generation']} x{link['width']}, one direction" if pcie_theory else
                   "unknown: NVML gave no PCIe link (NVLink-C2C or a virtual GPU?)")
    return {"dram": MemoryTheory(dram, dram_source, COUNTING, "memory"),
            "l2": MemoryTheory(None, "not published by NVIDIA; measured only", COUNTING, "SM"),
            "shared": shared_theory(gpu),
            "l1": MemoryTheory(None, "not published by NVIDIA (the L1 shares its data array with shared memory, but "
                               "its tag path may deliver less); measured only", ONCHIP_COUNTING, "SM"),
            "h2d": MemoryTheory(pcie_theory, pcie_source, COUNTING),
            "d2h": MemoryTheory(pcie_theory, pcie_source, COUNTING)}


# Dense tensor-core rates (the instruction_peaks section's paper figures: SM_MODELS' tensor figures) ---------

TENSOR_CLOCK_SOURCE = "NVML SM clock, median over the kernel's timed window"
TENSOR_LOW_PER_CYCLE_CAUSE = ("mma.sync issues from one warp at a time and reaches a fraction of Hopper's and "
                              "Blackwell's tensor rate (wgmma / tcgen05 reach it); elsewhere the SM clock NVML read is "
                              "above the tensor cores' own, or too few warps were resident")


def tensor_theory(gpu: GpuInfo, precision: str, unit: str) -> ComputeTheory:
    """SMs x dense FLOP (OP) per cycle per SM of the ``precision`` inputs (SM_MODELS' tensor figures) x NVML's max SM
    clock."""
    model = sm_model(*gpu.compute_capability)
    per_cycle = model.tensor.get(precision) if model else None
    cc = f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"
    what = unit[1:-2]
    if model is None or per_cycle is None:
        source = (f"unknown: no dense {precision} tensor figure for compute capability {cc} in hwbench's table"
                  + (f" ({model.tensor_source})" if model else ""))
    elif not gpu.max_sm_mhz:
        source = "unknown: NVML gave no max SM clock"
    else:
        source = (f"{gpu.sms} SMs x {per_cycle} {what}/cycle/SM ({model.name}: {model.tensor_source}) x "
                  f"{gpu.max_sm_mhz:.0f} MHz ({gpu.clock_source})")
    return ComputeTheory(units=gpu.sms, per="SM", clock="SM", clock_source=TENSOR_CLOCK_SOURCE,
                         flop_per_cycle=per_cycle, nominal_mhz=gpu.max_sm_mhz, nominal_source=gpu.clock_source,
                         source=source, low_per_cycle_cause=TENSOR_LOW_PER_CYCLE_CAUSE, nominal_is_max=True)
