#!/usr/bin/env python3
"""Side by side: hwbench's latency ceilings against a plain C pointer chase (scripts/reference/chase.c), in
interleaved rounds on the same pinned CPU, and against the core's documented load-to-use latency.

Each round runs hwbench's latency sweep (``--kernels latency_chase``, the profile's own level rule picks each
level's working set), then the C chase at each of those working sets, with samples of the same length. Both sides
are summarised the same way (the confirmed best of the samples' load rates, as ns per load) and turned into
cycles at the clock hwbench measured in that round (``clock.scalar_mhz``). Prints each side's median over rounds
and the ratio, then the L1 and L2 cycles beside the documented figures. Not a test: it prints figures for
docs/latency.md.

    python scripts/compare_latency.py [--rounds 5] [--cpu 0]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from compare_reference import build

from hwbench import catalog
from hwbench.cpu.machine import inspect_cpu
from hwbench.cpu.session import CpuOptions, measure_cpu
from hwbench.kernel_spec import ChaseLaunch
from hwbench.profile.build import build_profile
from hwbench.profile.latency import summary
from hwbench.record import Host

LEVELS = ("l1", "l2", "l3", "dram")
# AMD, "Software Optimization Guide for the AMD Zen 5 Microarchitecture" (publication 58455, rev. 1.00, 2024):
# L1 data cache load-to-use 4 cycles for integer loads (7-8 for FP), L2 14 cycles, L3 about 50 cycles on average.
DOCUMENTED_ZEN5 = {"l1": (4, 5), "l2": (14, 14), "l3": (50, 50)}


def c_samples(binary, cpu: int, working_set: int, steps: int, samples: int) -> list[float]:
    out = subprocess.run([str(binary), str(cpu), str(working_set), str(steps), str(samples)], check=True,
                         capture_output=True, text=True)
    return [float(x) for x in out.stdout.split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    binary = build()["chase"]
    kernel = catalog.kernel("cpu", "latency_chase")
    launch = kernel.launch_as(ChaseLaunch)
    cpu = inspect_cpu()
    print(f"machine: {cpu.name}, chase pinned to CPU {args.cpu}, {args.rounds} interleaved rounds", flush=True)
    ours: dict[str, list[float]] = {level: [] for level in LEVELS}
    theirs: dict[str, list[float]] = {level: [] for level in LEVELS}
    ours_cyc: dict[str, list[float]] = {level: [] for level in LEVELS}
    theirs_cyc: dict[str, list[float]] = {level: [] for level in LEVELS}
    clocks = []
    for round_index in range(args.rounds):
        data = build_profile(measure_cpu(CpuOptions(kernels=(kernel,), cpus=str(args.cpu))), Host.current())
        mhz = data["clock"]["scalar_mhz"]
        clocks.append(mhz)
        samples = launch.samples
        for level in LEVELS:
            entry = data["memory"].get(level)
            if not entry or not entry.get("latency_ns"):
                continue
            steps = max(1024, int(launch.sample_seconds / (entry["latency_ns"] * 1e-9)))
            theirs_ns = summary(c_samples(binary, args.cpu, entry["latency_working_set_bytes"], steps,
                                          samples))["latency_ns"]
            ours[level].append(entry["latency_ns"])
            theirs[level].append(theirs_ns)
            ours_cyc[level].append(entry["latency_ns"] * mhz / 1e3)
            theirs_cyc[level].append(theirs_ns * mhz / 1e3)
        print(f"round {round_index + 1}: clock {mhz:.0f} MHz; " + "; ".join(
            f"{level} {ours[level][-1]:.2f}/{theirs[level][-1]:.2f} ns" for level in LEVELS if ours[level]),
              flush=True)
    print(f"\n{'level':<6}{'working set':>13}{'hwbench ns':>12}{'C ns':>9}{'ratio':>8}{'hwbench cyc':>13}"
          f"{'C cyc':>8}{'documented':>12}")
    for level in LEVELS:
        if not ours[level]:
            continue
        a, b = statistics.median(ours[level]), statistics.median(theirs[level])
        ca, cb = statistics.median(ours_cyc[level]), statistics.median(theirs_cyc[level])
        low, high = DOCUMENTED_ZEN5.get(level, (None, None))
        documented = "-" if low is None else f"{low}" if low == high else f"{low}-{high}"
        size = data["memory"][level]["latency_working_set_bytes"]
        print(f"{level:<6}{size / 1024:>10.0f} KiB{a:>12.2f}{b:>9.2f}{a / b:>8.1%}{ca:>13.1f}{cb:>8.1f}"
              f"{documented:>12}")
    print(f"(medians over rounds of each round's confirmed-best latency; cycles at clock.scalar_mhz, median "
          f"{statistics.median(clocks):.0f} MHz; documented: AMD Zen 5 Software Optimization Guide)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
