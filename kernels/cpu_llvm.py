"""LLVM IR building blocks for the CPU kernels, emitted through ``numba.extending.intrinsic``.

Plain numba cannot express three things the CPU kernels need, so they are written here as llvmlite IR:

* explicit SIMD vectors (``<16 x float>``) with ``llvm.fma`` on independent accumulator chains, which
  reach the FMA units' throughput where numba's auto-vectoriser does not;
* stores carrying ``!nontemporal`` metadata (``vmovntpd`` on x86, ``stnp`` on AArch64), which skip the
  write-allocate read;
* a dependent chain of one-cycle integer adds in inline assembly, and the time-stamp counter, which
  together measure the core clock (the avx-turbo method). LLVM folds a plain ``x += 1`` loop into closed
  form, so the chain must be opaque to the optimiser: inline asm is.
"""

from __future__ import annotations

import platform

import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# numba initialises LLVM's native target and assembly printer but not its assembly parser, and the
# object streamer cannot emit inline asm without it ("Inline asm not supported by this streamer").
llvm_binding.initialize_native_asmparser()

MACHINE = platform.machine().lower()
I32 = ir.IntType(32)
I64 = ir.IntType(64)

# One step of the dependent add chain per architecture: each instruction reads the previous result, so
# the chain retires exactly one add per core cycle on every core this project targets (x86-64 since
# Haswell/Zen, Arm Neoverse). ``$0`` is the tied in/out register.
_ADD_STEP = {"x86_64": "add $$1, $0", "amd64": "add $$1, $0", "aarch64": "add $0, $0, #1",
             "arm64": "add $0, $0, #1"}
# Flags the chain clobbers: without the clobber LLVM may test the loop counter's flags after the asm.
_ADD_CLOBBERS = {"x86_64": "~{flags}", "amd64": "~{flags}", "aarch64": "~{cc}", "arm64": "~{cc}"}
ADDS_PER_BLOCK = 200
CLOCK_SUPPORTED = MACHINE in _ADD_STEP


def llvm_float_type(precision: str) -> ir.Type:
    """The LLVM scalar type of ``precision`` ("fp64" or "fp32")."""
    return {"fp64": ir.DoubleType(), "fp32": ir.FloatType()}[precision]


def numba_float_type(precision: str) -> types.Type:
    return {"fp64": types.float64, "fp32": types.float32}[precision]


def splat(builder: ir.IRBuilder, scalar: ir.Value, vector_type: ir.VectorType) -> ir.Value:
    """A vector with ``scalar`` in every lane."""
    vec = ir.Constant(vector_type, ir.Undefined)
    for lane in range(vector_type.count):
        vec = builder.insert_element(vec, scalar, ir.Constant(I32, lane))
    return vec


def declare_vector_fma(module: ir.Module, vector_type: ir.VectorType) -> ir.Function:
    """``llvm.fma.v<N>f<bits>``: fused multiply-add on every lane, one rounding."""
    suffix = "f64" if isinstance(vector_type.element, ir.DoubleType) else "f32"
    fnty = ir.FunctionType(vector_type, [vector_type] * 3)
    return cgutils.get_or_insert_function(module, fnty, f"llvm.fma.v{vector_type.count}{suffix}")


def horizontal_sum(builder: ir.IRBuilder, vectors: list[ir.Value]) -> ir.Value:
    """The sum of every lane of every vector: a value that depends on all of them (anti dead-code)."""
    total = vectors[0]
    for vec in vectors[1:]:
        total = builder.fadd(total, vec)
    result = builder.extract_element(total, ir.Constant(I32, 0))
    for lane in range(1, total.type.count):
        result = builder.fadd(result, builder.extract_element(total, ir.Constant(I32, lane)))
    return result


@intrinsic
def read_timestamp(typingctx):
    """The invariant time-stamp counter: ``rdtsc`` on x86-64, ``cntvct_el0`` on AArch64.

    Both tick at a constant rate independent of the core clock (the ``constant_tsc`` flag on x86); the
    runner calibrates the rate against ``time.perf_counter``.
    """
    sig = types.int64()

    def codegen(context, builder, signature, args):
        if MACHINE in ("aarch64", "arm64"):
            return builder.asm(ir.FunctionType(I64, []), "mrs $0, cntvct_el0", "=r", [], side_effect=True)
        counter = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=ir.FunctionType(I64, []))
        return builder.call(counter, [])

    return sig, codegen


@intrinsic
def dependent_add_chain(typingctx, n_blocks):
    """Run ``n_blocks * ADDS_PER_BLOCK`` dependent integer adds and return the count (it must equal it).

    At one add per cycle, the elapsed time of the chain is its length in core cycles: that is how the
    effective clock is measured without MSR access (the method of Travis Downs' avx-turbo).
    """
    sig = types.int64(types.int64)

    def codegen(context, builder, signature, args):
        (blocks,) = args
        step = _ADD_STEP[MACHINE]
        asm_type = ir.FunctionType(I64, [I64])
        body = "\n".join([step] * ADDS_PER_BLOCK)
        constraints = f"=r,0,{_ADD_CLOBBERS[MACHINE]}"
        entry = builder.block
        loop = builder.append_basic_block("chain.loop")
        done = builder.append_basic_block("chain.done")
        builder.cbranch(builder.icmp_signed(">", blocks, ir.Constant(I64, 0)), loop, done)
        builder.position_at_end(loop)
        index = builder.phi(I64)
        count = builder.phi(I64)
        next_count = builder.asm(asm_type, body, constraints, [count], side_effect=True)
        next_index = builder.add(index, ir.Constant(I64, 1))
        index.add_incoming(ir.Constant(I64, 0), entry)
        index.add_incoming(next_index, loop)
        count.add_incoming(ir.Constant(I64, 0), entry)
        count.add_incoming(next_count, loop)
        builder.cbranch(builder.icmp_signed("<", next_index, blocks), loop, done)
        builder.position_at_end(done)
        result = builder.phi(I64)
        result.add_incoming(ir.Constant(I64, 0), entry)
        result.add_incoming(next_count, loop)
        return result

    return sig, codegen
