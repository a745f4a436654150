"""The GPU low-precision targets side by side (scripts/gpu_session.sh): reads the first full profile's
instruction_peaks and the output of scripts/reference/torch_lowp_gemm.py, prints one row per target with its figure,
the bar and ok / MISS. A report, not a gate: every row is printed, exit code 0 unless an input is missing.

Targets (docs/precisions.md): every mma / wgmma / tcgen05 kernel >= 90% of the dense tensor peak at the clock
measured during it (efficiency_at_measured_clock); the library int8 and fp8 GEMMs not below torch._int_mm /
torch._scaled_mm at the same size in the same batch (best of each). Skipped kernels are listed with their reasons.
Usage: python gpu_lowp_targets.py PROFILE.yaml TORCH.txt"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

PAIRS = {"gemm_int8": ("torch._int_mm", "best_gops_by_size"),
         "gemm_fp8_e4m3": ("torch._scaled_mm", "best_gflops_by_size")}


def torch_figures(path: str) -> dict[tuple[str, int], float]:
    found = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0].startswith("torch."):
            found[(parts[0], int(parts[1]))] = float(parts[2])
    return found


def main(profile_path: str, torch_path: str) -> None:
    data = yaml.safe_load(Path(profile_path).read_text())
    section = data.get("instruction_peaks") or {"peaks": {}, "skipped": {}}
    kernels = {k["name"]: k for k in data["kernels"]}
    rows = []
    for name, entry in section["peaks"].items():
        if name in PAIRS:
            continue
        share = entry.get("efficiency_at_measured_clock")
        rows.append((f"{name} at its clock", share and f"{share:.1%}", ">= 90%", share and share >= 0.9))
    torch = torch_figures(torch_path)
    for name, (reference, key) in PAIRS.items():
        by_size = (kernels.get(name) or {}).get("details", {}).get(key, {})
        for size, figure in sorted(by_size.items()):
            other = torch.get((reference, int(size)))
            ratio = figure / other if other else None
            rows.append((f"{name} {size} / {reference}", ratio and f"{ratio:.3f}", ">= 1.0", ratio and ratio >= 1.0))
    width = max((len(row[0]) for row in rows), default=10)
    for label, figure, bar, ok in rows:
        print(f"{label:<{width}}  {figure or 'n/a':>8}  {bar:>8}  {'ok' if ok else 'MISS'}")
    for name, reason in section.get("skipped", {}).items():
        print(f"{name}: skipped: {reason}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.splitlines()[-1])
    main(*sys.argv[1:])
