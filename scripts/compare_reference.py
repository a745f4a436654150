#!/usr/bin/env python3
"""Side by side: hwbench's CPU kernels against hand-written C references, interleaved, same pinned CPUs.

Builds ``scripts/reference/*.c`` with ``gcc -O3 -march=native -fopenmp`` (FMA peak with AVX-512/AVX2
intrinsics, an OpenMP STREAM triad), then for each of ``--rounds`` rounds runs hwbench's kernel and the C
kernel one after the other, so slow phases of a noisy machine hit both. Reports each side's median over
rounds of its best-of-round rate, and the ratio. Not a test: it prints the figures docs/comparison.md quotes.

    python scripts/compare_reference.py [--rounds 7] [--cpus 0-1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from hwbench import catalog
from hwbench.cpu.machine import inspect_cpu
from hwbench.cpu.pinning import format_cpu_list, select_cpus
from hwbench.cpu.session import CpuOptions, measure_families

HERE = Path(__file__).resolve().parent
SOURCES = {"fma_peak": HERE / "reference" / "fma_peak.c", "stream_triad": HERE / "reference" / "stream_triad.c"}
SOURCES["chase"] = HERE / "reference" / "chase.c"  # the latency peer (scripts/compare_latency.py)
BUILD = HERE / "reference" / "build"


def build() -> dict[str, Path]:
    BUILD.mkdir(parents=True, exist_ok=True)
    binaries = {}
    for name, source in SOURCES.items():
        binary = BUILD / name
        subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", str(source), "-o", str(binary)], check=True)
        binaries[name] = binary
    return binaries


def omp_env(cpus: list[int]) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(len(cpus)), "OMP_PROC_BIND": "close",
            "OMP_PLACES": ",".join(f"{{{c}}}" for c in cpus)}


def run_c(binary: Path, args: list[str], cpus: list[int]) -> list[float]:
    out = subprocess.run([str(binary), *args], env=omp_env(cpus), check=True, capture_output=True, text=True)
    return [float(x) for x in out.stdout.split()]


def hwbench_best(kernel: str, cpus: list[int]) -> tuple[float, dict]:
    options = CpuOptions(kernels=(catalog.kernel("cpu", kernel),), cpus=format_cpu_list(cpus), quick=True)
    result = measure_families(options).results[0]
    return result.summary.best, result.details


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cpus", default=None, help="CPU list, default: one per physical core")
    args = parser.parse_args()
    cpus = select_cpus(cpus=args.cpus)
    binaries = build()
    cpu = inspect_cpu()
    print(f"machine: {cpu.name}, {len(cpus)} threads pinned to CPUs {format_cpu_list(cpus)}, "
          f"{args.rounds} interleaved rounds", flush=True)
    rows = []
    for precision in ("fp32", "fp64"):
        ours, theirs = [], []
        for _ in range(args.rounds):
            best, details = hwbench_best(f"fma_{precision}", cpus)
            ours.append(best)
            # Same work per call as hwbench's quick mode (about 20 ms), 10 repetitions, best taken.
            t_best, _, flops = run_c(binaries["fma_peak"], [precision, str(details["iterations_per_thread"]), "10"],
                                     cpus)
            theirs.append(flops / t_best / 1e9)
        rows.append((f"fma_{precision} GFLOP/s", "C intrinsics, 12 chains", ours, theirs))
    ours, theirs = [], []
    for _ in range(args.rounds):
        best, details = hwbench_best("triad", cpus)
        ours.append(best)
        n = details["elements"]
        t_best, _ = run_c(binaries["stream_triad"], [str(n), "10"], cpus)
        theirs.append(24 * n / t_best / 1e9)
    rows.append(("triad GB/s (STREAM bytes)", "C OpenMP triad", ours, theirs))
    print(f"{'kernel':<28}{'reference':<26}{'hwbench':>10}{'reference':>11}{'ratio':>8}")
    for name, reference, ours, theirs in rows:
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{name:<28}{reference:<26}{a:>10.1f}{b:>11.1f}{a / b:>8.1%}")
    print("(medians over rounds of each round's best repetition)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
