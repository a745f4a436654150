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

FLOPS_PER_FMA = 2


@dataclass(frozen=True)
class SmModel:
    """Dense FLOP per cycle per SM of each pipe; None where the architecture has no such pipe."""

    name: str
    source: str
    flop_per_cycle: dict[str, int | None] = field(default_factory=dict)

    def per_cycle(self, precision: str) -> int | None:
        return self.flop_per_cycle.get(precision)


def _lanes(fp64: int, fp32: int, fp16: int, bf16: int | None) -> dict[str, int | None]:
    """FMA lanes per SM -> FLOP per cycle per SM (x2). fp16/bf16 count scalar lanes of the packed x2 pipe."""
    return {"fp64": FLOPS_PER_FMA * fp64, "fp32": FLOPS_PER_FMA * fp32, "fp16": FLOPS_PER_FMA * fp16,
            "bf16": FLOPS_PER_FMA * bf16 if bf16 else None}


# Compute capability -> SM model. Tensor figures are dense FLOP per cycle per SM with fp32 accumulation for
# fp16/bf16 (data-centre parts; GeForce parts run fp16-with-fp32-accumulate at half this rate).
SM_MODELS: dict[tuple[int, int], SmModel] = {
    (7, 0): SmModel("Volta (GV100)", "NVIDIA Tesla V100 whitepaper: 64 FP32, 32 FP64 lanes/SM; 8 tensor cores "
                    "x 64 FMA/cycle",
                    {**_lanes(32, 64, 128, None), "tensor_fp16": 1024}),
    (8, 0): SmModel("Ampere (GA100)", "NVIDIA A100 whitepaper: 64 FP32, 32 FP64 lanes/SM; non-tensor FP16 "
                    "4x and BF16 2x the FP32 rate; tensor: 1024 dense FP16 FMA/cycle/SM, TF32 half that, FP64 64",
                    {**_lanes(32, 64, 256, 128), "tensor_fp16": 2048, "tensor_bf16": 2048, "tensor_tf32": 1024,
                     "tensor_fp64": 128}),
    (8, 6): SmModel("Ampere (GA10x)", "NVIDIA Ampere GA102 whitepaper: 128 FP32 lanes/SM, FP64 1/64, FP16 = "
                    "FP32 rate; tensor 512 dense FP16 FMA/cycle/SM",
                    {**_lanes(2, 128, 128, 128), "tensor_fp16": 1024, "tensor_bf16": 1024, "tensor_tf32": 512}),
    (8, 9): SmModel("Ada Lovelace (AD10x)", "NVIDIA Ada Lovelace whitepaper: 128 FP32 lanes/SM, FP64 1/64, FP16 "
                    "= FP32 rate; tensor 512 dense FP16 FMA/cycle/SM",
                    {**_lanes(2, 128, 128, 128), "tensor_fp16": 1024, "tensor_bf16": 1024, "tensor_tf32": 512}),
    (9, 0): SmModel("Hopper (GH100)", "NVIDIA H100 whitepaper: 128 FP32, 64 FP64 lanes/SM; non-tensor "
                    "FP16/BF16 2x the FP32 rate; tensor: 2048 dense FP16 FMA/cycle/SM, TF32 half that, FP64 128",
                    {**_lanes(64, 128, 256, 256), "tensor_fp16": 4096, "tensor_bf16": 4096, "tensor_tf32": 2048,
                     "tensor_fp64": 256}),
}


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


def resident_blocks_per_sm(max_threads_per_sm: int, block: int, max_blocks_per_sm: int = 32) -> int:
    """Blocks of ``block`` threads one SM holds at once when registers and shared memory do not limit."""
    return max(1, min(max_threads_per_sm // block, max_blocks_per_sm))


def launch_blocks(sms: int, max_threads_per_sm: int, block: int, waves: int = 1) -> int:
    """Blocks that fill every SM ``waves`` times: SMs x resident blocks per SM x waves (BabelStream issue
    137: filling the chip took an A100's dot from 1555 to 1745 GB/s)."""
    return sms * resident_blocks_per_sm(max_threads_per_sm, block) * waves


def pcie_gbps(generation: int | None, width: int | None) -> float | None:
    """One direction of a PCIe link: lanes x transfer rate x encoding / 8 (PCI-SIG base specifications:
    2.5, 5, 8, 16, 32, 64 GT/s for generations 1-6; 8b/10b to gen 2, 128b/130b from gen 3; gen 6's FLIT
    mode is counted as 242/256)."""
    rates = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}
    if not generation or not width or generation not in rates:
        return None
    encoding = 0.8 if generation <= 2 else 242 / 256 if generation == 6 else 128 / 130
    return width * rates[generation] * encoding / 8
