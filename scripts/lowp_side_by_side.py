"""The low-precision peaks side by side: interleaved rounds of every runnable lowp kernel (and fma_fp32 as the
reference), each round the probed run hwbench uses (blocks of the kernel with the clock probe between them, on
every selected core), then medians over rounds of the clock, the rate and the FLOP or OP per cycle per core, beside
the documented per-cycle rate.

    python scripts/lowp_side_by_side.py [--rounds 15] [--threads N]

On a shared machine the per-round medians inside each probed run drop descheduled blocks; the rounds' median drops
a round in which a neighbour took the core. Prints one line per kernel; nothing is written.
"""

from __future__ import annotations

import argparse
import statistics

from hwbench import catalog
from hwbench.cpu import fma, lowp
from hwbench.cpu.clock import calibrate_timestamp_hz
from hwbench.cpu.family import CpuContext, CpuOptions
from hwbench.cpu.machine import inspect_cpu
from hwbench.cpu.pinning import select_cpus
from hwbench.cpu.theory import assumed_core, identify_core, instruction_rate
from hwbench.cpu.workers import PinnedPool
from hwbench.kernel_spec import LowpLaunch
from hwbench.kernels import cpu_lowp
from hwbench.stats import RepetitionPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    cpu = inspect_cpu()
    core = identify_core(cpu) or assumed_core(cpu)
    cpus = select_cpus(args.threads, None, "compact")
    kernels = [k for k in catalog.kernels("cpu") if k.family == "lowp"]
    reference = catalog.kernel("cpu", "fma_fp32")
    tsc_hz = calibrate_timestamp_hz()
    rows: dict[str, list[tuple[float, float]]] = {}
    with PinnedPool(cpus) as pool:
        context = CpuContext(CpuOptions(quick=True), RepetitionPolicy.for_mode(True), cpu, core, cpus, pool,
                             lambda label: None)
        runnable = lowp.runnable(context, kernels)
        calls = {k.name: lowp.LowpCalls(context, lowp.shape_of(k)) for k in runnable}
        fma_run = fma.fma_with_clock_probe(context, reference, tsc_hz)
        fma_rounds = max(1, int(lowp.PROBE_SECONDS[True] / 210e-6))
        for _ in range(args.rounds):
            for kernel in runnable:
                mhz, _, rate = lowp.probed_rate(context, kernel, calls[kernel.name], tsc_hz)
                rows.setdefault(kernel.name, []).append((mhz, rate))
            probed = fma_run(fma_rounds)
            rows.setdefault(reference.name, []).append(
                (probed.clock_mhz, probed.flops / (probed.seconds - probed.probe_seconds) / 1e9))
    threads = len(cpus)
    print(f"{cpu.name}: {threads} threads, {args.rounds} interleaved rounds, medians")
    print(f"{'kernel':12} {'unit':8} {'MHz':>6} {'rate':>9} {'per cyc':>8} {'doc':>6} {'ratio':>6}")
    for name, pairs in rows.items():
        kernel = catalog.kernel("cpu", name)
        per_cycle = statistics.median(rate * 1e3 / (threads * mhz) for mhz, rate in pairs)
        if kernel.family == "lowp":
            launch = kernel.launch_as(LowpLaunch)
            kind, bits = launch.kind, launch.bits
            found = instruction_rate(core, kind, bits)
            per_instruction = (cpu_lowp.AMX_OPS.get(kind) or cpu_lowp.OPS_PER_LANE[kind] * cpu_lowp.lanes(kind, bits))
            documented = found[0] * per_instruction if found else None
        else:
            documented = core.flop_per_cycle("fp32")
        mhz = statistics.median(m for m, _ in pairs)
        rate = statistics.median(r for _, r in pairs)
        ratio = f"{per_cycle / documented:.3f}" if documented else "-"
        print(f"{name:12} {kernel.unit:8} {mhz:6.0f} {rate:9.1f} {per_cycle:8.2f} {documented or '-':>6} {ratio:>6}")


if __name__ == "__main__":
    main()
