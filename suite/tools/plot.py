"""``hwbench roofline``: the log-log roofline of one or more profiles, with application kernels placed on it.

Roofs (Williams, Waterman and Patterson, CACM 2009): attainable GFLOP/s = min(peak, intensity x bandwidth).
Per profile and precision: the measured roof (solid, compute.<p>.measured_gflops with memory.dram.measured_gbps)
and the theoretical roof (dashed, the paper figures; where the paper bandwidth is unknown only the paper compute
roof is drawn, from the measured ridge on). Other memory levels (l2, h2d, d2h) are thinner slanted roofs under
the highest compute peak. Ridge points, where the memory and compute roofs meet, are marked.

matplotlib is the ``plot`` extra; this module imports it only when a plot is drawn.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..profile import Profile

FORMATS = ("png", "svg", "pdf")
PRECISION_ORDER = ("fp64", "fp32", "fp16", "bf16", "tensor_fp16", "tensor_bf16", "tensor_tf32",
                   "tensor_fp64")


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


def output_format(path: str | Path, stream: bool = False) -> str:
    """The image format named by the file's suffix; a stream (``-``, a device, a FIFO) without one gets PNG."""
    suffix = Path(path).suffix.lower().lstrip(".") if str(path) != "-" else ""
    if stream and not suffix:
        return "png"
    if suffix not in FORMATS:
        raise UsageError(f"-o {path}: unknown image format {suffix or '(none)'!r}; end the name with "
                         f"{', '.join('.' + f for f in FORMATS)}")
    return suffix


def import_pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("the roofline plot needs matplotlib: pip install 'hwbench[plot]'") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _precisions(profile: Profile, wanted: list[str] | None) -> list[str]:
    have = profile.precisions
    if wanted:
        missing = [p for p in wanted if p not in have]
        if missing:
            raise UsageError(f"{profile.source} has no {', '.join(missing)} compute ceiling; it has "
                             f"{', '.join(have) or 'none'}")
        return wanted
    return sorted(have, key=lambda p: PRECISION_ORDER.index(p) if p in PRECISION_ORDER else len(PRECISION_ORDER))


def _value(entry: dict | None, key: str) -> float | None:
    value = entry.get(key) if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value > 0 and math.isfinite(value) else None


def _plain(text: object) -> str:
    """``text`` shown as written: matplotlib would read a pair of '$' as mathematics (and fail on bad TeX)."""
    return str(text).replace("$", r"\$")


def render_roofline(profiles: list[Profile], labels: list[str], points: list[KernelPoint],
                    precisions: list[str] | None = None, title: str | None = None, fmt: str = "png") -> bytes:
    """The roofline figure as image bytes in ``fmt``."""
    plt = import_pyplot()
    figure, axes = plt.subplots(figsize=(9, 6), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color_index = 0
    peaks, ridges = [], []
    for profile in profiles:
        peaks += [p for e in profile.data["compute"].values() for p in (_value(e, "measured_gflops"),
                                                                        _value(e, "theoretical_gflops")) if p]
        dram = profile.data["memory"].get("dram")
        for entry in profile.data["compute"].values():
            for bw in (_value(dram, "measured_gbps"), _value(dram, "theoretical_gbps")):
                peak = _value(entry, "measured_gflops")
                if bw and peak:
                    ridges.append(peak / bw)
    if not peaks:
        raise UsageError("no compute ceilings in the profiles: run 'hwbench run' with an FMA kernel")
    intensities = [p.intensity for p in points]
    x_low = 2 ** math.floor(math.log2(min([1 / 16, *[r / 64 for r in ridges], *intensities])))
    x_high = 2 ** math.ceil(math.log2(max([64, *[r * 16 for r in ridges], *intensities])))
    xs = [x_low * (x_high / x_low) ** (i / 400) for i in range(401)]

    labels = [_plain(label) for label in labels]
    for profile, label in zip(profiles, labels):
        memory = profile.data["memory"]
        dram = memory.get("dram")
        bw_measured, bw_theory = _value(dram, "measured_gbps"), _value(dram, "theoretical_gbps")
        if bw_measured is None:
            raise UsageError(f"{profile.source} has no measured DRAM bandwidth: run 'hwbench run' with a "
                             "bandwidth kernel (e.g. --kernels stream,fma)")
        chosen = _precisions(profile, precisions)
        for precision in chosen:
            entry = profile.data["compute"][precision]
            color = colors[color_index % len(colors)]
            color_index += 1
            peak = _value(entry, "measured_gflops")
            if peak:
                axes.plot(xs, [min(peak, x * bw_measured) for x in xs], color=color, linewidth=2,
                          label=f"{label} {_plain(precision)} measured: {peak:,.0f} GFLOP/s, {bw_measured:,.0f} GB/s, "
                                f"ridge {peak / bw_measured:.3g} F/B")
                axes.plot([peak / bw_measured], [peak], "o", color=color, markersize=6)
            theory = _value(entry, "theoretical_gflops")
            if theory:
                start = theory / bw_theory if bw_theory else theory / bw_measured
                ys = [min(theory, x * bw_theory) if bw_theory else (theory if x >= start else math.nan) for x in xs]
                axes.plot(xs, ys, color=color, linewidth=1.2, linestyle="--",
                          label=f"{label} {_plain(precision)} theoretical: {theory:,.0f} GFLOP/s, "
                                + (f"{bw_theory:,.0f} GB/s, ridge {start:.3g} F/B" if bw_theory
                                   else "bandwidth unknown"))
                if bw_theory:
                    axes.plot([start], [theory], "o", color=color, markersize=5, markerfacecolor="none")
        top = max(_value(profile.data["compute"][p], "measured_gflops") or 0 for p in chosen)
        for level, entry in memory.items():
            bandwidth = _value(entry, "measured_gbps")
            if level == "dram" or not bandwidth or not top:
                continue
            color = colors[color_index % len(colors)]
            color_index += 1
            axes.plot(xs, [min(top, x * bandwidth) for x in xs], color=color, linewidth=1, linestyle="-.",
                      label=f"{label} {_plain(level)} measured ({bandwidth:,.0f} GB/s)")

    first = profiles[0]
    first_precision = _precisions(first, precisions)[0]
    for point in points:
        if point.seconds is not None:
            y = point.flops / point.seconds / 1e9
            how = "achieved"
        else:
            y = first.attainable(point.intensity, first_precision) / 1e9
            how = f"bound on {labels[0]} {first_precision}"
        axes.plot([point.intensity], [y], marker="*", markersize=13, color="black", linestyle="none")
        right_half = math.log(point.intensity / x_low) > math.log(x_high / x_low) / 2
        axes.annotate(f"{_plain(point.name)}\n{point.intensity:.3g} F/B, {y:,.3g} GFLOP/s ({_plain(how)})",
                      (point.intensity, y),
                      textcoords="offset points", xytext=(-8, 6) if right_half else (8, 6),
                      ha="right" if right_half else "left", fontsize=8)

    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlim(x_low, x_high)
    y_top = max(peaks) * 3
    axes.set_ylim(min(x_low * min(bw for bw in _all_bandwidths(profiles)), max(peaks) / 1000), y_top)
    axes.set_xlabel("arithmetic intensity (FLOP per byte of DRAM traffic)")
    axes.set_ylabel("attainable GFLOP/s")
    devices = dict.fromkeys(f"{p.data['device']['name']} ({p.data['device']['id']})" for p in profiles)
    axes.set_title(_plain(title or "roofline: " + ", ".join(devices)), fontsize=11)
    axes.grid(True, which="major", linewidth=0.5, alpha=0.6)
    axes.grid(True, which="minor", linewidth=0.3, alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    figure.text(0.01, 0.01, "solid: measured roofs; dashed: theoretical; dots: ridge points; "
                "stars: kernels given with --point (on the first profile's roof unless SECONDS is given)",
                fontsize=7, color="gray")
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(figure)
    return buffer.getvalue()


def _all_bandwidths(profiles: list[Profile]) -> list[float]:
    values = [_value(e, "measured_gbps") for p in profiles for e in p.data["memory"].values()]
    return [v for v in values if v] or [1.0]
