"""The GPU session's targets side by side (scripts/gpu_session.sh): reads the first full profile, the plain CUDA
triad's and cupy.matmul's outputs and the run's wall time, prints one row per target with its figure, the bar
and ok / MISS. A report, not a gate: every row is printed, the exit code is 0 unless an input is missing.

Targets (docs/gpu.md): FMA fp64, fp32, fp16, bf16 >= 97% of the peak at the clock observed during the kernel;
STREAM triad and copy >= 90% of theoretical_gbps and not below the plain triad; tensor within 3% of cupy.matmul
timed by hand (same size); a full run under 60 s. Two runs comparing clean is hwbench compare's exit code.
Usage: python gpu_targets.py PROFILE.yaml TRIAD.txt MATMUL.txt RUN_SECONDS"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def main(profile_path: str, triad_path: str, matmul_path: str, seconds: str) -> None:
    data = yaml.safe_load(Path(profile_path).read_text())
    kernels = {k["name"]: k for k in data["kernels"]}
    rows = []
    for precision in ("fp64", "fp32", "fp16", "bf16"):
        entry = data["compute"].get(precision) or {}
        share = entry.get("efficiency_at_measured_clock")
        rows.append((f"FMA {precision} at its clock", share and f"{share:.1%}", ">= 97%", share and share >= 0.97))
    dram = data["memory"]["dram"]
    triad_best = float(Path(triad_path).read_text().split()[0])
    for name in ("triad", "copy"):
        gbps = kernels[name]["best"]
        share = gbps / dram["theoretical_gbps"]
        rows.append((f"STREAM {name} / theoretical_gbps", f"{gbps:.0f} GB/s = {share:.1%}", ">= 90%", share >= 0.90))
    rows.append(("STREAM triad / plain CUDA triad", f"{kernels['triad']['best']:.0f} / {triad_best:.0f} GB/s",
                 ">= 100%", kernels["triad"]["best"] >= triad_best))
    for line in Path(matmul_path).read_text().splitlines():
        precision, size, best, _ = line.split()
        kernel = kernels.get(f"matmul_{precision}")
        by_size = (kernel or {}).get("details", {}).get("best_gflops_by_size", {})
        ours = by_size.get(int(size)) or by_size.get(size)
        ratio = ours / float(best) if ours else None
        rows.append((f"tensor {precision} {size} / cupy.matmul", ratio and f"{ours:.0f} / {float(best):.0f} GFLOP/s",
                     "within 3%", ratio is not None and abs(ratio - 1) <= 0.03))
    rows.append(("full run wall time", f"{float(seconds):.0f} s", "< 60 s", float(seconds) < 60))
    width = max(len(row[0]) for row in rows)
    for name, figure, bar, ok in rows:
        print(f"{name:<{width}}  {figure or 'n/a':>28}  {bar:>10}  {'ok' if ok else 'MISS'}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__.splitlines()[-1])
    main(*sys.argv[1:])
