"""The mma family: the tensor pipe's own ceiling (kernels/cuda/mma.cu), one instruction per kernel, as the FMA family
measures the FMA pipe's. Warp-level ``mma.sync`` in fp16, bf16, tf32 and int8 (sm_80+) and fp8 e4m3 / e5m2 (sm_89+),
warpgroup ``wgmma`` bf16 on sm_90a only, and CTA-wide ``tcgen05.mma`` bf16 (accumulators in Tensor Memory) on sm_100a
and sm_103a only: the module is compiled for the arch-specific target on a 9.0, 10.0 or 10.3 device
(``ARCH_SPECIFIC_OPTIONS``). A kernel whose instruction the GPU lacks is skipped with the reason, into the profile's
``instruction_peaks.skipped``; the others go to ``instruction_peaks.peaks`` (not to ``compute``), int8 in GOP/s.

Validation (mma.cu's closed form): A and B hold 1 in every element, so each instruction adds K to every accumulator
element; a thread's stored sum of its 4 x CHAINS accumulators is 4 x CHAINS x iterations x K (mma.sync), of its
128 accumulators 128 x K x iterations x UNROLL (wgmma, K = 16), and of its N / (BLOCK / 128) TMEM accumulators
(tcgen05, NaN unless they are all equal) N / (BLOCK / 128) x K x iterations x UNROLL. Exact in fp32 and int32 at the
catalog's iterations.

Work: 2 x M x N x K per instruction (FLOP, or OP for int8) x instructions per warp (iterations x CHAINS) x warps, per
warpgroup (iterations x UNROLL) x warpgroups for wgmma, per CTA (iterations x UNROLL, one issuing thread) x blocks for
tcgen05.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..catalog import Kernel
from ..errors import MeasurementError
from ..kernel_spec import MmaLaunch
from ..stats import KernelResult
from ..timing import Work
from .family import GpuContext, GpuFamily, GpuFamilyResult

WARP, WARPGROUP = 32, 128
# The 32-bit operand word that holds 1.0 (or int8 1) in every element: two fp16 / bf16 halves, one tf32 (fp32 bits),
# four s8 bytes, four fp8 bytes (e4m3: bias 7, 0x38; e5m2: bias 15, 0x3C).
ONE_WORDS = {"fp16": 0x3C003C00, "bf16": 0x3F803F80, "tf32": 0x3F800000, "int8": 0x01010101,
             "fp8_e4m3": 0x38383838, "fp8_e5m2": 0x3C3C3C3C}
# The mma module is compiled for the arch-specific target where the device has one (wgmma and tcgen05 exist only
# there): CuPy appends -arch=sm_XY after these options and NVRTC keeps the arch-specific one
# (tests/test_nvrtc_compile.py).
ARCH_SPECIFIC_OPTIONS: dict[tuple[int, int], tuple[str, ...]] = {
    (9, 0): ("-arch=sm_90a",), (10, 0): ("-arch=sm_100a",), (10, 3): ("-arch=sm_103a",)}
# The compute capabilities whose arch-specific build holds each arch-specific instruction (mma.cu's guards:
# __CUDA_ARCH_FEAT_SM90_ALL for wgmma, __CUDA_ARCH_FEAT_SM100_ALL / SM103_ALL for tcgen05).
ARCH_SPECIFIC_KINDS: dict[str, tuple[tuple[int, int], ...]] = {"wgmma": ((9, 0),), "tcgen05": ((10, 0), (10, 3))}
COUNTING = ("2 x M x N x K per warp-wide mma.sync (per warpgroup wgmma, per CTA tcgen05.mma) instruction, the count "
            "of every tensor datasheet")


def kind(kernel: Kernel) -> str:
    """The instruction family of an mma.cu entry: ``mma`` (mma.sync), ``wgmma`` or ``tcgen05``."""
    entry = kernel.entry or ""
    return next((name for name in ARCH_SPECIFIC_KINDS if entry.startswith(name + "_")), "mma")


def is_wgmma(kernel: Kernel) -> bool:
    return kind(kernel) == "wgmma"


def is_tcgen05(kernel: Kernel) -> bool:
    return kind(kernel) == "tcgen05"


def _arch_name(cc: tuple[int, int]) -> str:
    return f"sm_{cc[0]}{cc[1]}"


def skip_reason(kernel: Kernel, cc: tuple[int, int]) -> str | None:
    """Why ``kernel`` cannot run on a GPU of compute capability ``cc`` (None: it can)."""
    need = tuple(kernel.launch_as(MmaLaunch).needs)
    instruction = kernel.launch_as(MmaLaunch).instruction
    targets = ARCH_SPECIFIC_KINDS.get(kind(kernel))
    if targets is not None and cc not in targets:  # compiled for the arch-specific targets (sm_90a, ...) only
        names = " or ".join(f"{_arch_name(target)}a" for target in targets)
        return f"{instruction} exists only on the arch-specific target {names}; this GPU is {_arch_name(cc)}"
    if cc < need:
        return f"{instruction} needs sm_{need[0]}{need[1]} or later; this GPU is sm_{cc[0]}{cc[1]}"
    return None


def ops_per_instruction(kernel: Kernel) -> int:
    m, n, k = kernel.launch_as(MmaLaunch).m_n_k
    return 2 * m * n * k


def instructions_per_thread_group(kernel: Kernel) -> int:
    """Instructions one warp (mma.sync: iterations x CHAINS), warpgroup (wgmma) or CTA (tcgen05: one issuing thread)
    issues (iterations x UNROLL)."""
    constants = kernel.constants
    per_trip = constants["CHAINS"] if kind(kernel) == "mma" else constants["UNROLL"]
    return kernel.launch_as(MmaLaunch).iterations * per_trip


def thread_group(kernel: Kernel) -> str:
    """What issues the instructions: a warp (mma.sync), a warpgroup (wgmma) or a CTA (tcgen05)."""
    return {"mma": "warp", "wgmma": "warpgroup", "tcgen05": "cta"}[kind(kernel)]


def work_per_launch(kernel: Kernel, blocks: int) -> int:
    block = kernel.constants["BLOCK"]
    groups = {"warp": blocks * block // WARP, "warpgroup": blocks * block // WARPGROUP, "cta": blocks}
    return ops_per_instruction(kernel) * instructions_per_thread_group(kernel) * groups[thread_group(kernel)]


def accumulators_per_thread(kernel: Kernel) -> int:
    """The accumulator elements each thread sums (mma.cu): 4 per chain (mma.sync), 128 (wgmma m64n256), or its
    share of a TMEM lane's N columns, BLOCK / 128 warpgroups splitting them (tcgen05)."""
    if is_tcgen05(kernel):
        return kernel.launch_as(MmaLaunch).m_n_k[1] // (kernel.constants["BLOCK"] // WARPGROUP)
    return 128 if is_wgmma(kernel) else 4 * kernel.constants["CHAINS"]


def expected_sum(kernel: Kernel) -> int:
    """Every thread's stored sum (mma.cu): accumulators per thread x K x the instructions that accumulated into each
    (mma.sync: iterations, one per chain; wgmma and tcgen05: iterations x UNROLL)."""
    steps = kernel.launch_as(MmaLaunch).iterations * (1 if kind(kernel) == "mma" else kernel.constants["UNROLL"])
    return accumulators_per_thread(kernel) * kernel.launch_as(MmaLaunch).m_n_k[2] * steps


def operands(kernel: Kernel) -> str:
    """Where the kernel's A and B operands live, for the result's details."""
    return {"mma": "registers (A and B words as kernel arguments, 1 in every element)",
            "wgmma": "registers (A and B words as kernel arguments, 1 in every element); B in shared memory through a "
                     "matrix descriptor",
            "tcgen05": "shared memory (A and B words as kernel arguments, 1 in every element) through shared memory "
                       "descriptors; fp32 accumulators in Tensor Memory"}[kind(kernel)]


def run(session: GpuContext, kernels: Sequence[Kernel]) -> GpuFamilyResult:
    """Every selected mma kernel this GPU has the instruction of; the others named in ``instruction_skipped``."""
    cc = session.gpu.compute_capability
    skipped: dict[str, str] = {}
    results = []
    for kernel in kernels:
        session.step(kernel.name)
        reason = skip_reason(kernel, cc)
        if reason is not None:
            skipped[kernel.name] = reason
            continue
        results.append(_time_one(session, kernel))
    return GpuFamilyResult(tuple(results), instruction_skipped=skipped)


def _time_one(session: GpuContext, kernel: Kernel) -> KernelResult:
    cp = session.cp
    function: Any = session.module(kernel).get_function(kernel.entry)
    blocks, block = session.blocks(kernel), kernel.constants["BLOCK"]
    integer = kernel.launch_as(MmaLaunch).data == "int8"
    out = cp.zeros(blocks * block, dtype=np.int32 if integer else np.float32)
    word = np.uint32(ONE_WORDS[kernel.launch_as(MmaLaunch).data])
    iterations = np.int32(kernel.launch_as(MmaLaunch).iterations)

    def launch() -> None:
        function((blocks,), (block,), (out, word, word, iterations))

    def check() -> None:
        session.stream.synchronize()
        check_mma(cp, kernel, out)

    unit = "OP" if integer else "FLOP"
    per_instruction = ops_per_instruction(kernel)
    group = thread_group(kernel)
    details = {"instruction": kernel.launch_as(MmaLaunch).instruction, "instruction_class": "tensor",
               "accumulate": "int32" if integer else "fp32", "ops_per_instruction": per_instruction,
               "instructions_per_" + group: instructions_per_thread_group(kernel), "blocks": blocks, "block": block,
               "operands": operands(kernel),
               "counting": f"{COUNTING}: {per_instruction} {unit} x instructions x {group}s"}
    return session.time_and_check(kernel, launch, check, Work(0, flops=work_per_launch(kernel, blocks)), details)


def check_mma(cp, kernel: Kernel, out) -> None:
    """Every thread's sum against mma.cu's closed form, exactly (fp32 and int32 hold it at the catalog's sizes)."""
    values = cp.asnumpy(out).astype(np.float64)
    expected = expected_sum(kernel)
    wrong = np.flatnonzero(values != expected)
    if wrong.size:
        raise MeasurementError(f"{kernel.name} output check failed: {wrong.size} of {values.size} threads' sums differ "
                               f"from {expected} (thread {int(wrong[0])}: {values[wrong[0]]:g}); no figure is reported")


__all__ = ["ARCH_SPECIFIC_KINDS", "ARCH_SPECIFIC_OPTIONS", "FAMILY", "expected_sum", "run", "skip_reason",
           "check_mma", "work_per_launch"]


FAMILY = GpuFamily("gpu", "mma", run)
