"""LLVM IR building blocks for the CPU kernels, emitted through ``numba.extending.intrinsic``.

Plain numba cannot express three things the CPU kernels need, so they are written here as llvmlite IR:

* explicit SIMD vectors (``<16 x float>``) with ``llvm.fma`` on independent accumulator chains, which
  reach the FMA units' throughput where numba's auto-vectoriser does not;
* stores carrying ``!nontemporal`` metadata (``vmovntpd`` on x86, ``stnp`` on AArch64), which skip the
  write-allocate read;
* dependent chains of integer adds and multiplies in inline assembly, and the time-stamp counter, which
  together measure the core clock (the avx-turbo method). LLVM folds a plain ``x += 1`` loop into closed
  form, so the chain must be opaque to the optimiser: inline asm is. The add takes its operand from a
  register, never an immediate: recent Intel cores (Golden Cove and later) fold chains of ``add $1, reg``
  in the renamer and retire several per cycle (measured on a Sapphire Rapids-class Xeon: 7.7-10.6 "GHz"
  from ``add $1``, 2.5-2.7 from ``add reg, reg``). A multiply chain of another latency cross-checks it.

It is also the one home of the scaffolding every llvmlite kernel shares: the counted loop with its
loop-carried values (``emit_counted_loop``), intrinsic declaration (``declare``), the per-lane start values of
independent chains (``chain_starts``) and the lane sum that keeps every chain alive (``horizontal_sum``). Each
kernel module keeps only its own instruction, operands and checksum.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence

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

# One step of each dependent chain per architecture: ``$0`` is the tied in/out register, ``$2`` a register
# holding 1, so each instruction reads the previous result and nothing can be folded. Latencies (cycles per
# step) from Agner Fog's instruction tables and uops.info (x86: add r64,r64 = 1 and imul r64,r64 = 3 on
# every Intel core since Nehalem and AMD Zen 1-5) and Arm's Neoverse N1/N2/V1/V2 software optimisation
# guides (add = 1, 64-bit mul = 2).
_CHAIN_STEPS = {
    "add": {"x86_64": "add $2, $0", "amd64": "add $2, $0", "aarch64": "add $0, $0, $2", "arm64": "add $0, $0, $2"},
    "mul": {"x86_64": "imul $2, $0", "amd64": "imul $2, $0", "aarch64": "mul $0, $0, $2", "arm64": "mul $0, $0, $2"},
}
CHAIN_LATENCY = {"add": {"default": 1}, "mul": {"default": 3, "aarch64": 2, "arm64": 2}}
# Flags the chain clobbers: without the clobber LLVM may test the loop counter's flags after the asm.
_CLOBBERS = {"x86_64": "~{flags}", "amd64": "~{flags}", "aarch64": "~{cc}", "arm64": "~{cc}"}
ADDS_PER_BLOCK = 200  # steps of either chain per asm block
# Chain c's lane l starts at x0 + (c * lanes + l) * LANE_STEP: every lane differs, and 1/1024 is exact in binary.
LANE_STEP = 1.0 / 1024.0
CLOCK_SUPPORTED = MACHINE in _CLOBBERS


def chain_latency(kind: str, machine: str = MACHINE) -> int:
    """Cycles per step of the ``kind`` chain ("add" or "mul") on ``machine``."""
    table = CHAIN_LATENCY[kind]
    return table.get(machine, table["default"])


def llvm_float_type(precision: str) -> ir.Type:
    """The LLVM scalar type of ``precision`` ("fp64" or "fp32")."""
    return {"fp64": ir.DoubleType(), "fp32": ir.FloatType()}[precision]


def numba_float_type(precision: str) -> types.Type:
    table: dict[str, types.Type] = {"fp64": types.float64, "fp32": types.float32}
    return table[precision]


def splat(builder: ir.IRBuilder, scalar: ir.Value, vector_type: ir.VectorType) -> ir.Value:
    """A vector with ``scalar`` in every lane."""
    vec = ir.Constant(vector_type, ir.Undefined)
    for lane in range(vector_type.count):
        vec = builder.insert_element(vec, scalar, ir.Constant(I32, lane))
    return vec


def declare(module: ir.Module, name: str, return_type: ir.Type, arguments: Sequence[ir.Type]) -> ir.Function:
    """The function (an LLVM intrinsic) ``name`` of ``module``, declared on first use: a kernel may emit the same
    intrinsic in several places of one module."""
    return cgutils.get_or_insert_function(module, ir.FunctionType(return_type, list(arguments)), name)


def declare_vector_fma(module: ir.Module, vector_type: ir.VectorType) -> ir.Function:
    """``llvm.fma.v<N>f<bits>``: fused multiply-add on every lane, one rounding."""
    suffix = "f64" if isinstance(vector_type.element, ir.DoubleType) else "f32"
    return declare(module, f"llvm.fma.v{vector_type.count}{suffix}", vector_type, [vector_type] * 3)


def emit_counted_loop(builder: ir.IRBuilder, name: str, trips: ir.Value, starts: Sequence[ir.Value],
                      step: Callable[[list[ir.Value]], list[ir.Value]]) -> list[ir.Value]:
    """Emit ``for _ in range(trips): values = step(values)`` at the builder, ``values`` loop-carried from
    ``starts`` (one phi each); returns the values after the loop, which are the starts when ``trips <= 0``.

    The loop is blocks ``<name>.loop`` and ``<name>.done``: an i64 counter from 0, ``step``'s instructions, and
    the counter's increment, compare and branch; the builder is left at the end of ``<name>.done``. ``step`` may
    return no values and emit work with side effects only (the AMX tiles)."""
    entry = builder.block
    loop = builder.append_basic_block(f"{name}.loop")
    done = builder.append_basic_block(f"{name}.done")
    builder.cbranch(builder.icmp_signed(">", trips, ir.Constant(I64, 0)), loop, done)
    builder.position_at_end(loop)
    index = builder.phi(I64)
    carried = [builder.phi(start.type) for start in starts]
    updated = step(carried)
    next_index = builder.add(index, ir.Constant(I64, 1))
    index.add_incoming(ir.Constant(I64, 0), entry)
    index.add_incoming(next_index, loop)
    for phi, start, new in zip(carried, starts, updated, strict=True):
        phi.add_incoming(start, entry)
        phi.add_incoming(new, loop)
    builder.cbranch(builder.icmp_signed("<", next_index, trips), loop, done)
    builder.position_at_end(done)
    finals = []
    for start, new in zip(starts, updated, strict=True):
        final = builder.phi(start.type)
        final.add_incoming(start, entry)
        final.add_incoming(new, loop)
        finals.append(final)
    return finals


def chain_starts(builder: ir.IRBuilder, x0: ir.Value, value_type: ir.Type, chains: int) -> list[ir.Value]:
    """The start of each of ``chains`` float chains: lane l of chain c holds ``x0 + (c * lanes + l) * LANE_STEP``
    (``value_type`` a vector of ``lanes``, or a scalar: one lane). ``x0`` is a run-time argument, so LLVM cannot
    fold the chains."""
    if not isinstance(value_type, ir.VectorType):
        return [builder.fadd(x0, ir.Constant(value_type, LANE_STEP * chain)) for chain in range(chains)]
    lanes = value_type.count
    starts = []
    for chain in range(chains):
        vec = ir.Constant(value_type, ir.Undefined)
        for lane in range(lanes):
            offset = ir.Constant(value_type.element, LANE_STEP * (chain * lanes + lane))
            vec = builder.insert_element(vec, builder.fadd(x0, offset), ir.Constant(I32, lane))
        starts.append(vec)
    return starts


def horizontal_sum(builder: ir.IRBuilder, vectors: list[ir.Value]) -> ir.Value:
    """The sum of every lane of every vector (or of every scalar): a value that depends on all of them (anti
    dead-code)."""
    total = vectors[0]
    for vec in vectors[1:]:
        total = builder.fadd(total, vec)
    if not isinstance(total.type, ir.VectorType):
        return total
    result = builder.extract_element(total, ir.Constant(I32, 0))
    for lane in range(1, total.type.count):
        result = builder.fadd(result, builder.extract_element(total, ir.Constant(I32, lane)))
    return result


FloatStep = Callable[[ir.IRBuilder, ir.Value, ir.Value, ir.Value], ir.Value]


def float_chains_intrinsic(name: str, precision: str, value_type: ir.Type, chains: int, step: FloatStep):
    """An intrinsic ``op(n_iter, p, q, x0) -> lane sum``: ``chains`` independent chains of ``value_type`` (a
    vector of ``precision`` floats, or the scalar) starting at ``chain_starts(x0)``, each updated ``n_iter`` times
    as ``x = step(builder, x, p, q)`` with the run-time scalars ``p`` and ``q`` splatted to ``value_type``.
    Returns ``horizontal_sum`` of the chains, so no step is dead code."""
    nb_float = numba_float_type(precision)

    @intrinsic
    def float_chains(typingctx, n_iter, p, q, x0):
        sig = nb_float(n_iter, p, q, x0)

        def codegen(context, builder, signature, args):
            # The operands and starts are run-time arguments: with constants LLVM would fold every chain.
            n, p_scalar, q_scalar, x0_value = args
            if isinstance(value_type, ir.VectorType):
                p_scalar, q_scalar = splat(builder, p_scalar, value_type), splat(builder, q_scalar, value_type)
            starts = chain_starts(builder, x0_value, value_type, chains)
            finals = emit_counted_loop(builder, name, n, starts, lambda values: [
                step(builder, value, p_scalar, q_scalar) for value in values])
            return horizontal_sum(builder, finals)

        return sig, codegen

    return float_chains


# The time-stamp read, fenced on both sides. RDTSC (and AArch64's counter read) is not ordered with the
# instructions around it: it executes as soon as it is dispatched, while a dependent chain before it may still
# have hundreds of steps to run, and the next chain may start before it. Intel SDM vol. 2B, RDTSC: "If software
# requires RDTSC to be executed only after all previous instructions have executed ..., it can execute LFENCE
# immediately before RDTSC. If software requires RDTSC to be executed prior to execution of any subsequent
# instruction ..., it can execute LFENCE immediately after RDTSC"; AMD's LFENCE is dispatch-serializing on every
# Zen (Linux sets it, X86_FEATURE_LFENCE_RDTSC); the Arm ARM's generic-timer chapter: an ISB before and after
# orders the CNTVCT_EL0 read. Unfenced, each stamp of the clock probe was taken while the chain before it still
# ran, further ahead after the 3-cycle multiply chain than after the add chain: the add chain's interval started
# early (too long: its clock read low), the multiply chain's ended early (too short: read high). Measured on the
# 2-vCPU Zen 5 KVM guest (2026-12-03, 3000 rounds of the probe's 30k-cycle chains, median of 5): unfenced, the add
# chain read 2.65% below the multiply chain (~800 of 30k cycles), and three profiles of that guest flagged
# ceilings 1-4% above the core's FLOP per cycle; fenced, the two chains agreed to 0.00%. Deadlines and spin loops
# read the counter unfenced (``read_timestamp_unfenced``): a fence there would only slow the work it interrupts.
_FENCED_TIMESTAMP = {
    "x86_64": ("lfence\nrdtsc\nlfence\nshlq $$32, %rdx\norq %rdx, %rax", "={rax},~{rdx},~{dirflag},~{fpsr},~{flags}"),
    "aarch64": ("isb\nmrs $0, cntvct_el0\nisb", "=r"),
}
_FENCED_TIMESTAMP["amd64"], _FENCED_TIMESTAMP["arm64"] = _FENCED_TIMESTAMP["x86_64"], _FENCED_TIMESTAMP["aarch64"]


@intrinsic
def read_timestamp(typingctx):
    """The invariant time-stamp counter, read in order with the code around it: ``lfence; rdtsc; lfence`` on
    x86-64, ``isb; mrs cntvct_el0; isb`` on AArch64 (``_FENCED_TIMESTAMP``: why the fences).

    Both counters tick at a constant rate independent of the core clock (the ``constant_tsc`` flag on x86); the
    CPU session calibrates the rate against ``time.perf_counter``. Elsewhere, LLVM's cycle counter (unfenced).
    """
    sig = types.int64()

    def codegen(context, builder, signature, args):
        if MACHINE in _FENCED_TIMESTAMP:
            body, constraints = _FENCED_TIMESTAMP[MACHINE]
            return builder.asm(ir.FunctionType(I64, []), body, constraints, [], side_effect=True)
        return _unfenced_counter(builder)

    return sig, codegen


@intrinsic
def read_timestamp_unfenced(typingctx):
    """The same counter without fences (LLVM's ``readcyclecounter``; ``cntvct_el0`` on AArch64): for deadlines and
    spin loops, where a read a few hundred cycles early changes nothing and a fence would drain the loads of the
    work between two reads (the loaded-latency injectors check their deadline after every burst)."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        return _unfenced_counter(builder)

    return sig, codegen


def _unfenced_counter(builder: ir.IRBuilder) -> ir.Value:
    """The counter read with nothing around it: ``cntvct_el0`` on AArch64, LLVM's ``readcyclecounter``
    (``rdtsc`` on x86-64) elsewhere."""
    if MACHINE in ("aarch64", "arm64"):
        return builder.asm(ir.FunctionType(I64, []), "mrs $0, cntvct_el0", "=r", [], side_effect=True)
    counter = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=ir.FunctionType(I64, []))
    return builder.call(counter, [])


def _chain_intrinsic(kind: str):
    """An intrinsic ``chain(n_blocks, one) -> value`` running ``n_blocks * ADDS_PER_BLOCK`` dependent steps of
    the ``kind`` chain, each with ``one`` (which must be 1) as its second operand. The add chain returns its
    step count (the CPU session checks it); the multiply chain returns its start value (1 x 1 x ... = 1).

    At ``chain_latency(kind)`` cycles per step, the elapsed time of the chain is its length in core cycles:
    that is how the effective clock is measured without MSR access (the method of Travis Downs' avx-turbo).
    """

    @intrinsic
    def chain(typingctx, n_blocks, one):
        sig = types.int64(types.int64, types.int64)

        def codegen(context, builder, signature, args):
            blocks, operand = args
            asm_type = ir.FunctionType(I64, [I64, I64])
            body = "\n".join([_CHAIN_STEPS[kind][MACHINE]] * ADDS_PER_BLOCK)
            constraints = f"=r,0,r,{_CLOBBERS[MACHINE]}"
            start = ir.Constant(I64, 0 if kind == "add" else 1)
            (result,) = emit_counted_loop(builder, kind, blocks, [start], lambda values: [
                builder.asm(asm_type, body, constraints, [values[0], operand], side_effect=True)])
            return result

        return sig, codegen

    return chain


dependent_add_chain = _chain_intrinsic("add")
dependent_mul_chain = _chain_intrinsic("mul")
