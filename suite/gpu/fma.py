"""The FMA family on NVIDIA GPUs: fp64, fp32, fp16 (packed half2) and bf16 (packed bf16x2) peaks, from
``kernels/cuda/fma.cu`` compiled with the catalog's BLOCK, CHAINS and UNROLL.

Each thread runs CHAINS independent recurrences x = a x + b, ``iterations`` times, from x0 = 1 with
a = 3/4, b = 1/2 (they converge to 2: no overflow, no subnormals, data-independent timing), and stores the
sum of its chains; validation compares every stored sum with the closed form. The launch fills every SM
``waves`` times (catalog). FLOPs: 2 per FMA x lanes per instruction x CHAINS x iterations x threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import GpuFmaLaunch
from ..stats import KernelResult, Timeline
from ..timing import Work
from .family import GpuContext, GpuFamily, GpuFamilyResult, each_kernel

# Packed fp16 / bf16 words with the same value in both halves (IEEE binary16; bfloat16 = top of binary32).
HALF_BITS = {0.75: 0x3A00, 0.5: 0x3800, 1.0: 0x3C00}
BF16_BITS = {0.75: 0x3F40, 0.5: 0x3F00, 1.0: 0x3F80}
SCALAR_TYPES = {"fp64": np.float64, "fp32": np.float32}  # Kernel.precision -> argument type; else packed x2
PACKED_BF16 = {"fp16": False, "bf16": True}  # packed precisions: is the half a bfloat16?
A, B, X0 = 0.75, 0.5, 1.0  # the recurrence x = A x + B from X0 (fma.cu)
FMA_TOLERANCE = {"fp64": 1e-12, "fp32": 1e-5, "fp16": 1e-2, "bf16": 2e-2}  # relative; a few ulps of the sum


def fp16_word(value: float, bf16: bool) -> np.uint32:
    bits = (BF16_BITS if bf16 else HALF_BITS)[value]
    return np.uint32(bits << 16 | bits)


def decode_packed(words: np.ndarray, bf16: bool) -> np.ndarray:
    """uint32 words of two fp16 / bf16 halves -> float32 array of both halves."""
    halves = np.stack([words & 0xFFFF, words >> 16], axis=-1).astype(np.uint32).ravel()
    if bf16:
        return (halves << 16).view(np.float32)
    return halves.astype(np.uint16).view(np.float16).astype(np.float32)


def fma_expected(kernel: Kernel, iterations: int | None = None, x0: float = X0, a: float = A,
                 b: float = B) -> float:
    """Sum over the CHAINS chains of x_n = c + a**n (x0 - c), c = b / (1 - a) (every chain starts at x0);
    ``iterations`` defaults to the catalog's."""
    n = kernel.launch_as(GpuFmaLaunch).iterations if iterations is None else iterations
    c = b / (1 - a)
    return kernel.constants["CHAINS"] * (c + a**n * (x0 - c))


def flops_per_launch(kernel: Kernel, blocks: int) -> int:
    """2 FLOP per FMA x lanes x CHAINS x iterations x threads."""
    launch = kernel.launch_as(GpuFmaLaunch)
    return 2 * kernel.constants["CHAINS"] * launch.lanes * launch.iterations * blocks * kernel.constants["BLOCK"]


def fma_launch(session: GpuContext, kernel: Kernel) -> tuple[Any, int, Any, tuple]:
    """(function, blocks, output array, (a, b, x0) arguments) of ``kernel``'s launch."""
    cp = session.cp
    blocks = session.blocks(kernel)
    threads = blocks * kernel.constants["BLOCK"]
    if kernel.precision in SCALAR_TYPES:
        dtype = SCALAR_TYPES[kernel.precision]
        out = cp.zeros(threads, dtype=dtype)
        constants = (dtype(A), dtype(B), dtype(X0))
    else:
        bf16 = PACKED_BF16[kernel.precision]
        out = cp.zeros(threads, dtype=cp.uint32)
        constants = (fp16_word(A, bf16), fp16_word(B, bf16), fp16_word(X0, bf16))
    return session.module(kernel).get_function(kernel.entry), blocks, out, constants


MIN_CAPABILITY = {"bf16": (8, 0)}  # fma.rn.bf16x2 (PTX ISA): fma.cu compiles fma_bf16x2 only from sm_80


def runnable(session: GpuContext, kernels: Sequence[Kernel]) -> list[Kernel]:
    """The kernels whose packed FMA this GPU has (``MIN_CAPABILITY``)."""
    cc = session.gpu.compute_capability
    return [k for k in kernels if cc >= MIN_CAPABILITY.get(k.precision, (0, 0))]


def planned_steps(session: GpuContext, kernels: Sequence[Kernel]) -> int:
    """One progress step per kernel this GPU runs."""
    return len(runnable(session, kernels))


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """Every selected FMA kernel this GPU runs; the others are named in the warnings."""
    cc = session.gpu.compute_capability
    chosen = runnable(session, kernels)
    for kernel in kernels:
        if kernel not in chosen:
            need = MIN_CAPABILITY[kernel.precision]
            session.warnings.append(f"{kernel.name} not measured: its packed FMA needs sm_{need[0]}{need[1]}, this "
                                    f"GPU is sm_{cc[0]}{cc[1]}")
    return each_kernel(session, chosen, _time_one)


def _time_one(session: GpuContext, kernel: Kernel) -> KernelResult:
    function, blocks, out, constants = fma_launch(session, kernel)
    block, chains, lanes = kernel.constants["BLOCK"], kernel.constants["CHAINS"], kernel.launch_as(GpuFmaLaunch).lanes
    iterations = np.int32(kernel.launch_as(GpuFmaLaunch).iterations)

    def launch() -> None:
        function((blocks,), (block,), (out, *constants, iterations))

    def check() -> None:
        session.stream.synchronize()
        check_fma(session.cp, kernel.name, kernel, out)

    details = {"chains": chains, "lanes_per_instruction": lanes, "iterations": int(iterations), "blocks": blocks,
               "block": block,
               "flop_counting": f"2 FLOP per FMA x {lanes} lane(s) x {chains} chains x iterations x threads"}
    return session.time_and_check(kernel, launch, check, Work(0, flops=flops_per_launch(kernel, blocks)), details)


def check_fma(cp, name: str, kernel: Kernel, out) -> None:
    """Every thread's stored sum of chains against the closed form (packed halves decoded)."""
    values = cp.asnumpy(out)
    if kernel.precision in PACKED_BF16:
        values = decode_packed(values, PACKED_BF16[kernel.precision])
    expected = fma_expected(kernel)
    worst = float(np.max(np.abs(values.astype(np.float64) - expected)))
    if not worst <= FMA_TOLERANCE[kernel.precision] * expected:
        raise MeasurementError(f"{name} output check failed: a thread's sum is off by {worst:g} from {expected:g};"
                               " no figure is reported")


def sustain(session: GpuContext, kernel: Kernel, seconds: float, interval: float) -> Timeline:
    """fma_fp32 kept busy for ``seconds``; every thread's sum validated afterwards."""
    function, blocks, out, constants = fma_launch(session, kernel)
    block = kernel.constants["BLOCK"]
    args = (out, *constants, np.int32(kernel.launch_as(GpuFmaLaunch).iterations))

    def launch() -> None:
        function((blocks,), (block,), args)

    timeline = session.sustain(kernel, launch, flops_per_launch(kernel, blocks), seconds, interval)
    session.stream.synchronize()
    check_fma(session.cp, f"sustained {kernel.name}", kernel, out)
    return timeline


# A sustained run keeps fma_fp32 busy: the compute kernel every GPU runs at full rate.
FAMILY = GpuFamily("gpu", "fma", run, planned_steps, sustained_kernel="fma_fp32", sustain=sustain)
