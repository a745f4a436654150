"""AMX tile kernels for the CPU (``tdpbf16ps``, ``tdpbusd``) in llvmlite IR: four accumulator tiles busy on two A
and two B tiles held in tile registers. Part of the low-precision family (kernels/cpu_lowp.py has the counting and
the assembly check); compiled only on a CPU with AMX after the OS granted the tile state (LLVM aborts the process
on an AMX intrinsic for a target without it)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .cpu_fma import probe_round
from .cpu_llvm import I64, declare, emit_counted_loop, read_timestamp

I8 = ir.IntType(8)
BF16_ONE = 0x3F80

# AMX (Intel SDM vol. 1 ch. 3 / ISE ch. 3): palette 1 has 8 tiles of up to 16 rows x 64 bytes.
AMX_ROWS, AMX_ROW_BYTES = 16, 64
AMX_OPS = {"tdpbf16ps": AMX_ROWS * AMX_ROWS * (AMX_ROW_BYTES // 2) * 2,  # M x N x K(32 bf16) x 2 = 16,384
           "tdpbusd": AMX_ROWS * AMX_ROWS * AMX_ROW_BYTES * 2}  # K = 64 int8: 32,768
AMX_ACCUMULATORS = ((0, 4, 6), (1, 4, 7), (2, 5, 6), (3, 5, 7))  # (C, A, B) tiles: C[i][j] += A[i] B[j]
AMX_INPUT_TILES = (4, 5, 6, 7)
AMX_STEP = {"tdpbf16ps": AMX_ROW_BYTES // 2, "tdpbusd": AMX_ROW_BYTES}  # all-ones inputs: K products of 1 per step
# fp32 stays exact below 2**24: 32 per step, so at most 2**19 steps per call.
MAX_AMX_ITERATIONS = {"tdpbf16ps": 2**19 - 1, "tdpbusd": 2**24}


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
    return {name: declare(module, name, void, arguments) for name, arguments in signatures.items()}


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

    def step(carried: list[ir.Value]) -> list[ir.Value]:  # the tiles live in tile registers, not in values
        for c_tile, a_tile, b_tile in AMX_ACCUMULATORS:
            builder.call(fns[f"llvm.x86.{kind}"], [ir.Constant(I8, c_tile), ir.Constant(I8, a_tile),
                                                    ir.Constant(I8, b_tile)])
        return []

    emit_counted_loop(builder, "amx", n, [], step)
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
