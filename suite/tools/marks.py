"""What ``hwbench roofline`` marks on a chart besides the roofs: ``--point`` kernels and the profile's
``intensity_sweep`` curves. Data only; ``plot.py`` draws them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError
from ..profile import Profile
from .roofs import PRECISION_ORDER, ProfileRoofs, number


@dataclass(frozen=True)
class KernelPoint:
    """An application kernel: its FLOPs and bytes (and, when known, the seconds it took)."""

    name: str
    flops: float
    bytes_moved: float
    seconds: float | None = None

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes_moved


def parse_point(text: str) -> KernelPoint:
    """NAME:FLOPS:BYTES[:SECONDS], e.g. 'gemv:2e9:8e9' or 'stencil:1.2e10:4.8e9:0.35'. The numbers must be
    finite and positive; errors quote ``text`` as given (it is never read as markup)."""
    parts = text.split(":")
    hint = "give NAME:FLOPS:BYTES[:SECONDS], e.g. --point gemv:2e9:8e9"
    if len(parts) not in (3, 4) or not parts[0]:
        raise UsageError(f"--point {text!r}: {hint}")
    try:
        numbers = [float(x) for x in parts[1:]]
    except ValueError:
        raise UsageError(f"--point {text!r}: FLOPS, BYTES and SECONDS must be numbers; {hint}") from None
    if not all(x > 0 and math.isfinite(x) for x in numbers):
        raise UsageError(f"--point {text!r}: FLOPS, BYTES and SECONDS must be positive; {hint}")
    return KernelPoint(parts[0], numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)


def sweep_curves(profile: Profile) -> list[dict]:
    """The profile's intensity_sweep curves that can be drawn (points with a positive intensity and rate)."""
    curves = profile.data.get("intensity_sweep") or []
    result = []
    for curve in curves:
        if not isinstance(curve, dict) or not isinstance(curve.get("precision"), str):
            continue
        points = [p for p in curve.get("points") or [] if number(p, "flops_per_byte") and number(p, "gflops")]
        if points:
            result.append({**curve, "level": str(curve.get("level", "dram")),
                           "points": sorted(points, key=lambda p: p["flops_per_byte"])})
    return result


@dataclass(frozen=True)
class KernelMark:
    point: KernelPoint
    xy: tuple[float, float]
    how: str


def kernel_marks(points: list[KernelPoint], roofs: ProfileRoofs, scale: float) -> list[KernelMark]:
    """--point kernels: at the rate achieved when SECONDS is given, else on the first profile's roof: its
    first measured compute roof drawn in PRECISION_ORDER (fp64 first), against its ridge level (DRAM); y in
    GFLOP/s / ``scale`` (the chart's unit)."""
    marks = []
    for point in points:
        if point.seconds is not None:
            gflops, how = point.flops / point.seconds / 1e9, "(achieved)"
        else:
            compute = min(roofs.compute, key=lambda r: (not r.measured, rank(r.key)))
            level = roofs.ridge_level
            if level is None or level.measured is None:  # roofs.choose_roofs keeps no profile without one
                raise ValueError(f"{roofs.name}: no measured bandwidth to bound {point.name} by")
            gflops = min(compute.measured or compute.theoretical or 0.0, point.intensity * level.measured)
            how = f"(bound: {compute.key}, {level.label})"
        marks.append(KernelMark(point, (point.intensity, gflops / scale), how))
    return marks


def rank(precision: str) -> int:
    return PRECISION_ORDER.index(precision) if precision in PRECISION_ORDER else len(PRECISION_ORDER)


__all__ = ["KernelMark", "KernelPoint", "kernel_marks", "parse_point", "rank", "sweep_curves"]
