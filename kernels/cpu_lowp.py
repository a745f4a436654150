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

from .cpu_fma import probe_round
from .cpu_llvm import I32, I64, read_timestamp, splat

I8 = ir.IntType(8)
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

# AMX (Intel SDM vol. 1 ch. 3 / ISE ch. 3): palette 1 has 8 tiles of up to 16 rows x 64 bytes.
AMX_ROWS, AMX_ROW_BYTES = 16, 64
AMX_OPS = {"tdpbf16ps": AMX_ROWS * AMX_ROWS * (AMX_ROW_BYTES // 2) * 2,  # M x N x K(32 bf16) x 2 = 16,384
           "tdpbusd": AMX_ROWS * AMX_ROWS * AMX_ROW_BYTES * 2}  # K = 64 int8: 32,768
AMX_ACCUMULATORS = ((0, 4, 6), (1, 4, 7), (2, 5, 6), (3, 5, 7))  # (C, A, B) tiles: C[i][j] += A[i] B[j]
AMX_INPUT_TILES = (4, 5, 6, 7)
AMX_STEP = {"tdpbf16ps": AMX_ROW_BYTES // 2, "tdpbusd": AMX_ROW_BYTES}  # all-ones inputs: K products of 1 per step
# fp32 stays exact below 2**24: 32 per step, so at most 2**19 steps per call.
MAX_AMX_ITERATIONS = {"tdpbf16ps": 2**19 - 1, "tdpbusd": 2**24}


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
    fnty = ir.FunctionType(acc, [acc, operand, operand])
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, fnty, name)


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
    entry = builder.block
    loop = builder.append_basic_block(f"{kind}.loop")
    done = builder.append_basic_block(f"{kind}.done")
    builder.cbranch(builder.icmp_signed(">", n, ir.Constant(I64, 0)), loop, done)
    builder.position_at_end(loop)
    index = builder.phi(I64)
    accumulators = [builder.phi(acc_type) for _ in range(chains)]
    updated = [builder.call(function, [acc, va, vb]) for acc in accumulators]
    next_index = builder.add(index, ir.Constant(I64, 1))
    index.add_incoming(ir.Constant(I64, 0), entry)
    index.add_incoming(next_index, loop)
    for acc, start, new in zip(accumulators, starts, updated):
        acc.add_incoming(start, entry)
        acc.add_incoming(new, loop)
    builder.cbranch(builder.icmp_signed("<", next_index, n), loop, done)
    builder.position_at_end(done)
    finals = []
    for start, new in zip(starts, updated):
        final = builder.phi(acc_type)
        final.add_incoming(start, entry)
        final.add_incoming(new, loop)
        finals.append(final)
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


# AMX ------------------------------------------------------------------------------------------------------


def amx_tile_config() -> np.ndarray:
    """The 64-byte LDTILECFG operand: palette 1, every tile 16 rows of 64 bytes (Intel SDM vol. 2, LDTILECFG)."""
    config = np.zeros(64, dtype=np.uint8)
    config[0] = 1  # palette
    colsb = config[16:48].view(np.uint16)
    colsb[:8] = AMX_ROW_BYTES
    config[48:56] = AMX_ROWS
    return config


def amx_inputs(kind: str) -> np.ndarray:
    """The four input tiles (A0, A1, B0, B1), 16 x 64 bytes each: every element 1 (bf16 1.0, or u8/s8 1)."""
    if kind == "tdpbf16ps":
        return np.full(len(AMX_INPUT_TILES) * AMX_ROWS * AMX_ROW_BYTES // 2, BF16_ONE, dtype=np.uint16).view(np.uint8)
    return np.ones(len(AMX_INPUT_TILES) * AMX_ROWS * AMX_ROW_BYTES, dtype=np.uint8)


def amx_expected(kind: str, n_iter: int) -> int:
    """Every element of every accumulator tile after ``n_iter`` steps from zero: K ones times ones per step."""
    return AMX_STEP[kind] * n_iter


def _amx_declarations(module: ir.Module, pointer: ir.Type) -> dict[str, ir.Function]:
    void = ir.VoidType()
    signatures = {
        "llvm.x86.ldtilecfg": [pointer], "llvm.x86.tilerelease": [],
        "llvm.x86.tileloadd64": [I8, pointer, I64], "llvm.x86.tilestored64": [I8, pointer, I64],
        "llvm.x86.tilezero": [I8], "llvm.x86.tdpbf16ps": [I8, I8, I8], "llvm.x86.tdpbusd": [I8, I8, I8],
    }
    found = {}
    for name, arguments in signatures.items():
        existing = module.globals.get(name)
        found[name] = existing if existing is not None else ir.Function(module, ir.FunctionType(void, arguments), name)
    return found


def emit_amx(builder: ir.IRBuilder, kind: str, n: ir.Value, config: ir.Value, inputs: ir.Value,
             outputs: ir.Value) -> None:
    """Configure the tiles, load A0, A1, B0, B1 from ``inputs``, zero four accumulators, run ``n`` iterations
    of four ``kind`` instructions, store the accumulators to ``outputs`` (4 x 1 KiB) and release the tiles.
    ``config``, ``inputs`` and ``outputs`` are i64 addresses."""
    pointer = I8.as_pointer()
    fns = _amx_declarations(builder.module, pointer)
    tile_bytes = ir.Constant(I64, AMX_ROWS * AMX_ROW_BYTES)
    stride = ir.Constant(I64, AMX_ROW_BYTES)
    builder.call(fns["llvm.x86.ldtilecfg"], [builder.inttoptr(config, pointer)])
    for position, tile in enumerate(AMX_INPUT_TILES):
        address = builder.add(inputs, builder.mul(ir.Constant(I64, position), tile_bytes))
        builder.call(fns["llvm.x86.tileloadd64"], [ir.Constant(I8, tile), builder.inttoptr(address, pointer), stride])
    for c_tile, _, _ in AMX_ACCUMULATORS:
        builder.call(fns["llvm.x86.tilezero"], [ir.Constant(I8, c_tile)])
    entry = builder.block
    loop = builder.append_basic_block("amx.loop")
    done = builder.append_basic_block("amx.done")
    builder.cbranch(builder.icmp_signed(">", n, ir.Constant(I64, 0)), loop, done)
    builder.position_at_end(loop)
    index = builder.phi(I64)
    for c_tile, a_tile, b_tile in AMX_ACCUMULATORS:
        builder.call(fns[f"llvm.x86.{kind}"], [ir.Constant(I8, c_tile), ir.Constant(I8, a_tile),
                                                ir.Constant(I8, b_tile)])
    next_index = builder.add(index, ir.Constant(I64, 1))
    index.add_incoming(ir.Constant(I64, 0), entry)
    index.add_incoming(next_index, loop)
    builder.cbranch(builder.icmp_signed("<", next_index, n), loop, done)
    builder.position_at_end(done)
    for position, (c_tile, _, _) in enumerate(AMX_ACCUMULATORS):
        address = builder.add(outputs, builder.mul(ir.Constant(I64, position), tile_bytes))
        builder.call(fns["llvm.x86.tilestored64"], [ir.Constant(I8, c_tile), builder.inttoptr(address, pointer),
                                                    stride])
    builder.call(fns["llvm.x86.tilerelease"], [])


def _amx_intrinsic(kind: str):
    @intrinsic
    def amx_op(typingctx, n_iter, config, inputs, outputs):
        sig = types.int64(types.int64, types.int64, types.int64, types.int64)

        def codegen(context, builder, signature, args):
            emit_amx(builder, kind, *args)
            return args[0]

        return sig, codegen

    return amx_op


@functools.cache
def amx_kernel(kind: str) -> Callable[[int, np.ndarray, np.ndarray, np.ndarray], int]:
    """A compiled ``kernel(n_iter, config, inputs, outputs) -> n_iter`` (uint8 arrays: ``amx_tile_config``,
    ``amx_inputs``, 4 KiB of output). Compile it only on a CPU with AMX, after the OS granted the tile state."""

    amx_op = _amx_intrinsic(kind)

    @njit(nogil=True)
    def kernel(n_iter, config, inputs, outputs):
        return amx_op(n_iter, config.ctypes.data, inputs.ctypes.data, outputs.ctypes.data)

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


@functools.cache
def amx_clock_kernel(kind: str):
    """``kernel(n_iter, n_blocks, n_mul_blocks, config, inputs, outputs, block_ticks, add_ticks, mul_ticks) ->
    (steps, adds, muls)``: rounds of one AMX block, then the clock probe's chains (as ``vector_clock_kernel``)."""

    amx_op = _amx_intrinsic(kind)

    @njit(nogil=True)
    def kernel(n_iter, n_blocks, n_mul_blocks, config, inputs, outputs, block_ticks, add_ticks, mul_ticks):
        steps = adds = muls = 0
        for i in range(add_ticks.size):
            start = read_timestamp()
            steps += amx_op(n_iter, config.ctypes.data, inputs.ctypes.data, outputs.ctypes.data)
            block_ticks[i] = read_timestamp() - start
            round_adds, round_muls = probe_round(n_blocks, n_mul_blocks, add_ticks, mul_ticks, i)
            adds += round_adds
            muls += round_muls
        return steps, adds, muls

    return kernel


def amx_output_buffer() -> np.ndarray:
    """Room for the four accumulator tiles (4 x 16 x 64 bytes)."""
    return np.zeros(len(AMX_ACCUMULATORS) * AMX_ROWS * AMX_ROW_BYTES, dtype=np.uint8)


def amx_outputs_correct(kind: str, outputs: np.ndarray, n_iter: int) -> bool:
    """Every accumulator element equals ``amx_expected`` (fp32 for bf16, int32 for int8)."""
    values = outputs.view(np.float32 if kind == "tdpbf16ps" else np.int32)
    return bool(np.all(values == amx_expected(kind, n_iter)))
