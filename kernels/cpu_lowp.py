"""Low-precision peak kernels for the CPU: bf16 and int8 dot products, fp16 FMA and AMX tiles, in llvmlite IR.

Each vector kernel runs ``chains`` independent accumulators of ``bits``-wide registers through one instruction:

* ``dpbf16ps``  (AVX512_BF16): ``acc.f32[i] += a.bf16[2i] * b.bf16[2i] + a.bf16[2i+1] * b.bf16[2i+1]``
  (``llvm.x86.avx512bf16.dpbf16ps.512``), counted 4 FLOP per fp32 lane;
* ``vpdpbusd``  (AVX512_VNNI, or AVX-VNNI at 256 bits): ``acc.i32[i] += sum_j a.u8[4i+j] * b.s8[4i+j]``
  (``llvm.x86.avx512.vpdpbusd.512/.256``), counted 8 OP per int32 lane;
* ``fmaph``     (AVX512_FP16): ``x.f16 = fma(x, a, b)`` (``llvm.fma.v32f16``, ``vfmadd...ph``), 2 FLOP per lane;

and the AMX kernel keeps four accumulator tiles busy with ``tdpbf16ps`` or ``tdpbusd`` on two A and two B tiles
held in tile registers (16 rows x 64 bytes each): 16 x 16 x 32 x 2 = 16,384 FLOP (bf16) or 16 x 16 x 64 x 2 =
32,768 OP (int8) per instruction. These are the counts cpufp uses.

The operands are chosen so that the exact result is known and representable (``expected_checksum``): a bf16
accumulator grows by 3 per step (1*1 + 1*2) and stays an exact fp32 integer below 2**24; an int8 one by -3
(1*1 + 2*(-1) + 3*2 + 4*(-2)), exact in int32; the fp16 recurrence is replayed with one rounding per step. The
loop-carried accumulators go through target intrinsics LLVM cannot fold, and every lane reaches the result.

The intrinsics take ``<N x i32>`` operands: LLVM's auto-upgrader turns them into the ``bfloat``/``i8`` vector
forms of newer releases, so the same IR compiles on every llvmlite hwbench supports. An instruction the target
lacks must never be compiled: LLVM then emulates fp16 in scalar code or aborts the process (AMX), so the family
compiles a kernel only where CPUID reports its feature, and ``assembly`` compiles for a named CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import llvmlite.binding as llvm_binding
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .cpu_amx import AMX_ACCUMULATORS, AMX_OPS, MAX_AMX_ITERATIONS, emit_amx
from .cpu_fma import probe_round
from .cpu_llvm import I32, I64, declare, emit_counted_loop, read_timestamp, splat

I16 = ir.IntType(16)
HALF = ir.HalfType()
FLOAT = ir.FloatType()
DOUBLE = ir.DoubleType()

# Operand words, each an int32 lane of the source registers (little-endian pairs and quads).
BF16_ONE, BF16_TWO = 0x3F80, 0x4000
DPBF16_A = (BF16_ONE << 16) | BF16_ONE  # bf16 pair (1.0, 1.0)
DPBF16_B = (BF16_TWO << 16) | BF16_ONE  # bf16 pair (1.0, 2.0): each step adds 1*1 + 1*2 = 3
DPBF16_STEP = 3
VNNI_A = int.from_bytes(bytes([1, 2, 3, 4]), "little")  # unsigned bytes
VNNI_B = int.from_bytes(bytes([1, 0xFF, 2, 0xFE]), "little")  # signed bytes 1, -1, 2, -2
VNNI_STEP = 1 * 1 + 2 * -1 + 3 * 2 + 4 * -2  # -3 per step
FP16_A, FP16_B = 0.75, 0.5  # x = 0.75 x + 0.5, fixed point 2 (all exact in fp16)
FP16_START, FP16_LANE_STEP = 1.0, 1.0 / 1024.0
# fp32 integers are exact below 2**24: the bf16 accumulators start at most at chains x lanes and grow by 3.
MAX_DPBF16_ITERATIONS = 2**22

# Operations counted per output lane of one instruction (cpufp's rule): a bf16 pair product summed into fp32 is
# 2 multiplies + 2 adds; four u8 x s8 products summed into int32 are 4 multiplies + 4 adds; an FMA is 2.
OPS_PER_LANE = {"dpbf16ps": 4, "vpdpbusd": 8, "fmaph": 2}
LANE_BITS = {"dpbf16ps": 32, "vpdpbusd": 32, "fmaph": 16}



def lanes(kind: str, bits: int) -> int:
    """Output lanes of one ``bits``-wide instruction."""
    return bits // LANE_BITS[kind]


def ops_per_iteration(kind: str, bits: int, chains: int) -> int:
    """FLOP or OP of one loop iteration: one instruction on every chain."""
    if kind in AMX_OPS:
        return AMX_OPS[kind] * len(AMX_ACCUMULATORS)
    return OPS_PER_LANE[kind] * lanes(kind, bits) * chains


def max_iterations(kind: str) -> int:
    """Iterations one call may run with its result still exact."""
    if kind in AMX_OPS:
        return MAX_AMX_ITERATIONS[kind]
    return MAX_DPBF16_ITERATIONS


# Vector kernels -----------------------------------------------------------------------------------------


def _vector_types(kind: str, bits: int) -> tuple[ir.VectorType, ir.VectorType]:
    """(accumulator vector, operand vector) types of ``kind`` at ``bits``."""
    count = lanes(kind, bits)
    if kind == "fmaph":
        return ir.VectorType(HALF, count), ir.VectorType(HALF, count)
    acc = FLOAT if kind == "dpbf16ps" else I32
    return ir.VectorType(acc, count), ir.VectorType(I32, count)


def _declare(module: ir.Module, kind: str, bits: int) -> ir.Function:
    acc, operand = _vector_types(kind, bits)
    if kind == "fmaph":
        name = f"llvm.fma.v{acc.count}f16"
    elif kind == "dpbf16ps":
        name = f"llvm.x86.avx512bf16.dpbf16ps.{bits}"
    else:
        name = f"llvm.x86.avx512.vpdpbusd.{bits}"
    return declare(module, name, acc, [acc, operand, operand])


def _start_vector(builder: ir.IRBuilder, kind: str, vector: ir.VectorType, chain: int) -> ir.Value:
    """The start of chain ``chain``: lane l holds its global index (bf16, int8) or 1 + index/1024 (fp16)."""
    vec = ir.Constant(vector, ir.Undefined)
    for lane in range(vector.count):
        index = chain * vector.count + lane
        if kind == "fmaph":
            value = builder.fptrunc(ir.Constant(DOUBLE, FP16_START + FP16_LANE_STEP * index), HALF)
        elif kind == "dpbf16ps":
            value = ir.Constant(FLOAT, float(index))
        else:
            value = ir.Constant(I32, index)
        vec = builder.insert_element(vec, value, ir.Constant(I32, lane))
    return vec


def _operand(builder: ir.IRBuilder, kind: str, word: ir.Value, vector: ir.VectorType) -> ir.Value:
    """A splat of the i64 argument ``word``: its low 32 bits (bf16 pair, int8 quad) or low 16 (one fp16)."""
    if kind == "fmaph":
        return splat(builder, builder.bitcast(builder.trunc(word, I16), HALF), vector)
    return splat(builder, builder.trunc(word, I32), vector)


def _lane_sum(builder: ir.IRBuilder, kind: str, vectors: list[ir.Value]) -> ir.Value:
    """The sum of every lane of every chain as a double (int32 and fp32 lanes: exact; fp16: exact too)."""
    total = ir.Constant(DOUBLE, 0.0)
    for vec in vectors:
        for lane in range(vec.type.count):
            element = builder.extract_element(vec, ir.Constant(I32, lane))
            value = builder.sitofp(element, DOUBLE) if kind == "vpdpbusd" else builder.fpext(element, DOUBLE)
            total = builder.fadd(total, value)
    return total


def emit_chains(builder: ir.IRBuilder, kind: str, bits: int, chains: int, n: ir.Value, a_word: ir.Value,
                b_word: ir.Value) -> ir.Value:
    """Emit ``n`` iterations of ``chains`` independent ``kind`` instructions at the builder; returns the lane sum."""
    acc_type, operand_type = _vector_types(kind, bits)
    function = _declare(builder.module, kind, bits)
    va, vb = _operand(builder, kind, a_word, operand_type), _operand(builder, kind, b_word, operand_type)
    starts = [_start_vector(builder, kind, acc_type, chain) for chain in range(chains)]
    finals = emit_counted_loop(builder, kind, n, starts,
                               lambda accumulators: [builder.call(function, [acc, va, vb]) for acc in accumulators])
    return _lane_sum(builder, kind, finals)


def operand_words(kind: str) -> tuple[int, int]:
    """(a, b) arguments of a vector kernel: packed bf16 pairs, int8 quads, or fp16 bit patterns."""
    if kind == "dpbf16ps":
        return DPBF16_A, DPBF16_B
    if kind == "vpdpbusd":
        return VNNI_A, VNNI_B
    return int(np.float16(FP16_A).view(np.uint16)), int(np.float16(FP16_B).view(np.uint16))


def _fp16_lane(start: float, n_iter: int) -> float:
    """One fp16 lane after ``n_iter`` steps of x = fma(x, a, b), one rounding per step (a float64 product of two
    fp16 values is exact and the sum is exact at these magnitudes, so rounding it once is the fused result).
    The sequence reaches its fixed point within a few dozen steps; it is replayed until it stops moving."""
    x = np.float16(start)
    for _ in range(n_iter):
        following = np.float16(float(FP16_A) * float(x) + float(FP16_B))
        if following == x:
            break
        x = following
    return float(x)


def expected_checksum(kind: str, n_iter: int, bits: int, chains: int) -> float:
    """The exact lane sum of a vector kernel after ``n_iter`` iterations."""
    count = lanes(kind, bits) * chains
    if kind == "fmaph":
        return float(sum(_fp16_lane(FP16_START + FP16_LANE_STEP * index, n_iter) for index in range(count)))
    step = DPBF16_STEP if kind == "dpbf16ps" else VNNI_STEP
    return float(count * (count - 1) // 2 + count * step * n_iter)


def _vector_intrinsic(kind: str, bits: int, chains: int):
    @intrinsic
    def chains_op(typingctx, n_iter, a_word, b_word):
        sig = types.float64(types.int64, types.int64, types.int64)

        def codegen(context, builder, signature, args):
            return emit_chains(builder, kind, bits, chains, *args)

        return sig, codegen

    return chains_op


@functools.cache
def vector_kernel(kind: str, bits: int, chains: int) -> Callable[[int, int, int], float]:
    """A compiled ``kernel(n_iter, a_word, b_word) -> lane sum``. Compile it only where the CPU has the feature."""
    chains_op = _vector_intrinsic(kind, bits, chains)

    @njit(nogil=True)
    def kernel(n_iter, a_word, b_word):
        return chains_op(n_iter, a_word, b_word)

    return kernel


@functools.cache
def vector_clock_kernel(kind: str, bits: int, chains: int):
    """``kernel(n_iter, n_blocks, n_mul_blocks, a, b, block_ticks, add_ticks, mul_ticks) -> (lane sums, adds,
    muls)``: rounds of one block of the kernel, timed by the TSC into ``block_ticks[round]``, then the clock probe's
    add and multiply chains (as ``cpu_fma.fma_clock_kernel``). Per-round block and chain times let the caller
    take medians over rounds, so a round in which the thread was descheduled is dropped, not averaged in."""
    chains_op = _vector_intrinsic(kind, bits, chains)

    @njit(nogil=True)
    def kernel(n_iter, n_blocks, n_mul_blocks, a_word, b_word, block_ticks, add_ticks, mul_ticks):
        checksum = 0.0
        adds = muls = 0
        for i in range(add_ticks.size):
            start = read_timestamp()
            checksum += chains_op(n_iter, a_word, b_word)
            block_ticks[i] = read_timestamp() - start
            round_adds, round_muls = probe_round(n_blocks, n_mul_blocks, add_ticks, mul_ticks, i)
            adds += round_adds
            muls += round_muls
        return checksum, adds, muls

    return kernel


# Assembly for a named CPU (tests; no execution) ------------------------------------------------------------


def _module(kind: str, bits: int, chains: int) -> ir.Module:
    module = ir.Module(name=f"lowp_{kind}")
    module.triple = "x86_64-unknown-linux-gnu"
    if kind in AMX_OPS:
        fnty = ir.FunctionType(ir.VoidType(), [I64] * 4)
        function = ir.Function(module, fnty, f"lowp_{kind}")
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        emit_amx(builder, kind, *function.args)
        builder.ret_void()
        return module
    fnty = ir.FunctionType(DOUBLE, [I64] * 3)
    function = ir.Function(module, fnty, f"lowp_{kind}_{bits}")
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    builder.ret(emit_chains(builder, kind, bits, chains, *function.args))
    return module


def assembly(kind: str, bits: int, chains: int, cpu: str, features: str = "") -> str:
    """The x86-64 assembly of a kernel compiled for ``cpu`` (an LLVM CPU name: "znver5", "sapphirerapids").
    Never pass a CPU without the kernel's feature for AMX: LLVM aborts the process on an unselectable intrinsic."""
    llvm_binding.initialize_all_targets()
    llvm_binding.initialize_all_asmprinters()
    module = llvm_binding.parse_assembly(str(_module(kind, bits, chains)))
    module.verify()
    target = llvm_binding.Target.from_triple("x86_64-unknown-linux-gnu")
    machine = target.create_target_machine(cpu=cpu, features=features, opt=3)
    return machine.emit_assembly(module)

