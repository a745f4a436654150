"""The ``intensity_sweep`` section: the measured roofline curves, each point beside the roofline built from the
same profile's ceilings.

For a point of intensity I (FLOPs per element / bytes per element), the roofline of the profile says

    roofline_gflops = min(compute.<precision>.measured_gflops, I x memory.<level>.measured_gbps)

(Williams, Waterman and Patterson, CACM 52(4), 2009), and ``error_pct`` = 100 x (measured - roofline) /
roofline. Negative errors near the ridge point are expected (a real kernel overlaps computation and memory
traffic imperfectly, which is what the sweep shows); a point far above the roofline means a ceiling of the
profile is too low. A curve whose precision or level has no measured ceiling in the profile (``--kernels
intensity`` alone) keeps its points without a roofline figure.
"""

from __future__ import annotations

import statistics

from ..record import IntensityCurve
from ..stats import rounded
from .types import ComputeEntry, IntensityCurveEntry, IntensityPoint, MemoryLevel


def roofline_gflops(intensity: float, peak_gflops: float | None, bandwidth_gbps: float | None) -> float | None:
    """min(peak, intensity x bandwidth); None when either roof is unknown."""
    if not peak_gflops or not bandwidth_gbps:
        return None
    return min(peak_gflops, intensity * bandwidth_gbps)


def curve_entry(curve: IntensityCurve, compute: dict[str, ComputeEntry], memory: dict[str, MemoryLevel]
                ) -> IntensityCurveEntry:
    """One curve of the section, its points against the profile's own roofline."""
    roof_compute, roof_memory = compute.get(curve.precision), memory.get(curve.level)
    peak = roof_compute["measured_gflops"] if roof_compute else None
    bandwidth = roof_memory["measured_gbps"] if roof_memory else None
    points: list[IntensityPoint] = []
    errors: list[float] = []
    for flops, gflops, median in curve.points:
        intensity = flops / curve.bytes_per_element
        roof = roofline_gflops(intensity, peak, bandwidth)
        error = 100 * (gflops - roof) / roof if roof else None
        if error is not None:
            errors.append(abs(error))
        # flops_per_byte and gflops: round(float(x)) as stats.rounded, never unknown for a measured point
        points.append({"flops_per_element": flops, "flops_per_byte": round(float(intensity), 5),
                       "gflops": round(float(gflops), 3),
                       "median_gflops": rounded(median), "gbps": rounded(gflops / intensity),
                       "roofline_gflops": rounded(roof), "error_pct": rounded(error, 2)})
    return {
        "kernel": curve.kernel, "precision": curve.precision, "level": curve.level,
        "working_set_bytes": curve.working_set_bytes, "bytes_per_element": curve.bytes_per_element,
        "counting": curve.counting, "method": curve.method,
        "roofline": (f"min(compute.{curve.precision}.measured_gflops, intensity x memory.{curve.level}.measured_gbps) "
                     "of this profile" if peak and bandwidth else
                     f"none: this profile has no measured {curve.precision} compute or {curve.level} memory ceiling"),
        "points": points,
        "median_abs_error_pct": rounded(statistics.median(errors), 2) if errors else None,
    }


def intensity_section(curves: tuple[IntensityCurve, ...], compute: dict[str, ComputeEntry],
                      memory: dict[str, MemoryLevel]) -> list[IntensityCurveEntry]:
    """The profile's ``intensity_sweep``: one entry per curve, in the order measured."""
    return [curve_entry(curve, compute, memory) for curve in curves]


__all__ = ["intensity_section", "roofline_gflops"]
