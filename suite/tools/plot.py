"""``hwbench roofline``: the hierarchical roofline of one or more profiles, drawn to be read.

The model (Williams, Waterman and Patterson, CACM 2009): attainable GFLOP/s = min(peak, intensity x bandwidth).
The chart follows ERT's and Intel Advisor's cache-aware rooflines: each memory level is a diagonal (intensity x
bandwidth) that ends at the highest compute roof drawn, each precision a flat roof that starts where it meets
the fastest diagonal. Measured roofs are solid; theoretical (datasheet) ones dashed and lighter, only where the
profile has the figure. Dots mark the ridge points against DRAM (hollow: theoretical). Every roof is named on
its line (along each diagonal at its angle on screen; above each flat roof near its right end), never in a
legend; no two labels overlap (``labels.py``). Marks: the profile's ``intensity_sweep`` curves, the workloads of
a validation report, and ``--point`` kernels. A legend appears only to tell overlaid profiles apart.

matplotlib is the ``plot`` extra; this module imports it only when a chart is drawn.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import warnings
from pathlib import Path

from ..errors import UsageError
from ..profile import Profile
from ..safe_text import without_controls
from ..version import __version__
from .labels import LabelPlacer, Place, along, around, display_angle, leader, spread
from .marks import KernelMark, KernelPoint, kernel_marks, sweep_curves
from .roofs import ProfileRoofs, Roof, Units, chart_units, choose_roofs, format_figure, level_label, number
from .validate_report import ValidationReport

FORMATS = ("png", "svg", "pdf")
FIGURE_SIZE = (10.0, 6.4)  # inches
DPI = 110
ROOF_FONT = 8.0
MARK_FONT = 7.5

# Fixed colours, so a roof looks the same in every chart of one profile (tab10 and ColorBrewer hues).
PRECISION_COLORS = {"fp64": "#1f5fbf", "fp32": "#e6550d", "fp16": "#31a354", "bf16": "#17becf",
                    "tensor_fp64": "#3182bd", "tensor_tf32": "#756bb1", "tensor_fp16": "#de2d26",
                    "tensor_bf16": "#c51b7d"}
LEVEL_COLORS = {"l1": "#238b45", "shared": "#74c476", "l2": "#00838f", "l3": "#6a51a3", "dram": "#252525",
                "h2d": "#a0522d", "d2h": "#cd853f"}
PROFILE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
OTHER_COLOR = "#555555"
MARK_COLOR = "#222222"
VIOLATION_COLOR = "#c0392b"  # a workload that beat a roof: the roof is wrong there


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


def _plain(text: object) -> str:
    """``text`` shown as written: matplotlib would read a pair of '$' as mathematics (and fail on bad TeX), and a
    control character (from a --title, a --point name, a report's workload) is escaped, not drawn as a missing
    glyph with a warning; the rest of the text, in any script, is drawn as it is."""
    return without_controls(str(text)).replace("$", r"\$")


def _slug(text: str) -> str:
    """An SVG-id-safe form of a name (ids of labels and lines, found by tests in the SVG)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def render_roofline(profiles: list[Profile], labels: list[str], points: list[KernelPoint],
                    precisions: list[str] | None = None, title: str | None = None, fmt: str = "png",
                    levels: list[str] | None = None, validation: ValidationReport | None = None,
                    notes: list[str] | None = None) -> bytes:
    """The roofline chart as image bytes in ``fmt`` (``draw_roofline``'s figure, saved). Characters the font
    cannot draw (a name in a script DejaVu Sans lacks, an unassigned code point) are drawn as boxes; matplotlib
    would warn once per character with a Python warning on stderr, so they are gathered into one note in
    ``notes`` for the command to print as a hwbench warning."""
    plt = import_pyplot()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = draw_roofline(profiles, labels, points, precisions, title, levels, validation)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        plt.close(figure)
    missing = sorted({match.group(1) for warning in caught
                      if (match := _MISSING_GLYPH.search(str(warning.message))) is not None})
    if missing and notes is not None:
        notes.append(f"the chart's font has no glyph for {len(missing)} character(s) of its text, drawn as boxes: "
                     f"{', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}")
    for warning in caught:  # anything else matplotlib says is shown as it would have been
        if _MISSING_GLYPH.search(str(warning.message)) is None:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return buffer.getvalue()


# matplotlib's text for a character its font lacks: "Glyph 342428 (\U0005399c) missing from font(s) DejaVu Sans."
_MISSING_GLYPH = re.compile(r"Glyph \d+ \((.+?)\) missing from font")


def draw_roofline(profiles: list[Profile], labels: list[str], points: list[KernelPoint],
                  precisions: list[str] | None = None, title: str | None = None, levels: list[str] | None = None,
                  validation: ValidationReport | None = None):
    """The roofline chart as a matplotlib Figure (the caller closes it). Labels carry gids: ``label-roof-...``,
    ``label-sweep-...``, ``label-workload-...``, ``label-point-...``; roof lines ``roof-...``."""
    plt = import_pyplot()
    chosen = choose_roofs(profiles, labels, precisions, levels)
    units = chart_units(profiles, chosen)
    if units.work != "FLOP" and (points or validation):
        raise UsageError("--point and --validation mark FLOP-counted kernels: they have no place on a chart of "
                         f"{units.flops} roofs; draw them with FLOP/s precisions")
    single = len(chosen) == 1
    drawn_precisions = {r.key for roofs in chosen for r in roofs.compute}
    drawn_levels = {r.key for roofs in chosen for r in roofs.memory}
    sweeps = [(i, curve) for i, roofs in enumerate(chosen) for curve in sweep_curves(roofs.profile)
              if curve["precision"] in drawn_precisions and curve["level"] in drawn_levels]
    marks = kernel_marks(points, chosen[0], units.scale)
    workloads = validation.workloads if validation else []

    figure = plt.figure(figsize=FIGURE_SIZE, dpi=DPI)
    key = "\n".join(textwrap.wrap(_key_line(chosen, sweeps, workloads, marks) + f" · drawn by hwbench {__version__}",
                                  width=190))
    # A fixed layout: label angles and extents are computed in display space and must not move afterwards.
    figure.subplots_adjust(left=0.085, right=0.975, top=0.925, bottom=0.105 + 0.018 * key.count("\n"))
    axes = figure.add_subplot()
    axes.set_xscale("log")
    axes.set_yscale("log")
    x_low, x_high, y_low, y_high = _limits(chosen, units, sweeps, marks, workloads)
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    _axes_style(axes, units)
    placer = LabelPlacer(axes)

    def color(index: int, roof: Roof) -> str:
        if not single:
            return PROFILE_COLORS[index % len(PROFILE_COLORS)]
        table = PRECISION_COLORS if roof.kind == "compute" else LEVEL_COLORS
        return table.get(roof.key, OTHER_COLOR)

    # Marks first: their boxes are obstacles that the roof labels keep off.
    for index, curve in sweeps:
        curve_color = color(index, Roof("compute", curve["precision"], "", None, None))
        xs = [p["flops_per_byte"] for p in curve["points"]]
        ys = [p["gflops"] / units.scale for p in curve["points"]]
        axes.plot(xs, ys, color=curve_color, linewidth=0.8, marker="o", markersize=3.2, alpha=0.9, zorder=4,
                  gid=f"sweep-{index}-{_slug(curve['precision'])}-{_slug(curve['level'])}")
        for xy in zip(xs, ys):
            placer.add_point_obstacle(xy, 2.2)
    for workload in workloads:
        xy = (workload.intensity, workload.measured_gflops / units.scale)
        axes.plot(*xy, marker="X" if workload.violates else "D", markersize=7 if workload.violates else 5.5,
                  color=VIOLATION_COLOR if workload.violates else MARK_COLOR, linestyle="none", zorder=5,
                  markerfacecolor="white" if workload.excluded else None,
                  gid=f"workload-{_slug(workload.name)}" + ("-violation" if workload.violates else ""))
        placer.add_point_obstacle(xy, 3.5)
    for mark in marks:
        axes.plot(*mark.xy, marker="*", markersize=12, color=MARK_COLOR, linestyle="none", zorder=5,
                  gid=f"point-{_slug(mark.point.name)}")
        placer.add_point_obstacle(mark.xy, 6)

    if not single:  # which profile is which: the only legend, in the upper-left corner (above every diagonal)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=PROFILE_COLORS[i % len(PROFILE_COLORS)], linewidth=2) for i in
                   range(len(chosen))]
        legend = axes.legend(handles, [_plain(r.name) for r in chosen], loc="upper left", fontsize=8,
                             framealpha=0.9, title="profiles", title_fontsize=8)
        placer.add_obstacle(legend.get_window_extent(placer.renderer))

    segments = [_draw_roofs(axes, placer, roofs, units, lambda roof, i=index: color(i, roof), index,
                            (x_low, x_high)) for index, roofs in enumerate(chosen)]
    for index, roofs in enumerate(chosen):  # labels once every line is drawn: they keep off all of them
        _label_roofs(axes, placer, roofs, units, lambda roof, i=index: color(i, roof), index, segments[index])

    for index, curve in sweeps:
        curve_color = color(index, Roof("compute", curve["precision"], "", None, None))
        text = f"{curve['precision']} sweep, {level_label(curve['level'], chosen[index].profile)}"
        error = number(curve, "median_abs_error_pct")
        if error is not None or curve.get("median_abs_error_pct") == 0:
            text += f" (median |error| {curve['median_abs_error_pct']:.1f}%)"
        label = axes.text(0, 0, _plain(text), fontsize=MARK_FONT, color=curve_color, zorder=6,
                          gid=f"label-sweep-{index}-{_slug(curve['precision'])}-{_slug(curve['level'])}")
        xys = [(p["flops_per_byte"], p["gflops"] / units.scale) for p in curve["points"]]
        placer.place(label, around(xys[len(xys) // 2:] + xys[:len(xys) // 2][::-1], prefer_below=True))
    for workload in workloads:
        text = workload.name
        if workload.excluded:
            text += " (excluded)"
        elif workload.calibrated_error_pct is not None:
            text += f" {workload.calibrated_error_pct:+.0f}%"
        if workload.violates:
            text += f" VIOLATES {' and '.join(workload.violates)}"
        label = axes.text(0, 0, _plain(text), fontsize=MARK_FONT,
                          color=VIOLATION_COLOR if workload.violates else MARK_COLOR, zorder=6,
                          gid=f"label-workload-{_slug(workload.name)}")
        xy = (workload.intensity, workload.measured_gflops / units.scale)
        leader(axes, placer.place(label, around([xy])), xy, 5.0)
    for mark in marks:
        label = axes.text(0, 0, _plain(f"{mark.point.name}: {units.rate(mark.xy[1] * units.scale)} {mark.how}"),
                          fontsize=MARK_FONT, color=MARK_COLOR, zorder=6, gid=f"label-point-{_slug(mark.point.name)}")
        leader(axes, placer.place(label, around([mark.xy], radius=8)), mark.xy, 8.0)

    axes.set_title(_plain(title) if title else _title(profiles), fontsize=11)
    figure.text(0.01, 0.008, key, fontsize=7, color="#666666", va="bottom", linespacing=1.4)
    return figure


def _axes_style(axes, units: Units) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def plain(value: float, _position: object) -> str:
        return f"{value:,.0f}" if value >= 1 else f"{value:g}"

    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_locator(LogLocator(base=10))
        axis.set_major_formatter(FuncFormatter(plain))
        axis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(f"arithmetic intensity ({units.work}/byte)")
    axes.set_ylabel(f"performance ({units.flops})")
    axes.grid(True, which="major", linewidth=0.5, alpha=0.5)
    axes.grid(True, which="minor", linewidth=0.3, alpha=0.2)


def _draw_roofs(axes, placer: LabelPlacer, roofs: ProfileRoofs, units: Units, color, index: int,
                x_span: tuple[float, float]) -> dict[str, tuple[float, float]]:
    """The diagonals, the flat roofs and the ridge points of one profile; each line and dot is registered with
    ``placer`` as something labels keep off. Returns each measured roof's visible x range, by key."""
    x_low, x_high = x_span
    top = {False: roofs.top(False) / units.scale, True: roofs.top(True) / units.scale}
    fastest = {False: max(r.measured for r in roofs.memory if r.measured) / units.scale}
    fastest[True] = max([r.theoretical for r in roofs.memory if r.theoretical] or [fastest[False] * units.scale]) \
        / units.scale
    segments: dict[str, tuple[float, float]] = {}
    for roof in roofs.memory:
        for theoretical in (False, True):
            bandwidth = roof.theoretical if theoretical else roof.measured
            if not bandwidth:
                continue
            slope = bandwidth / units.scale
            x_end = min(top[theoretical] / slope, x_high)
            axes.plot([x_low, x_end], [x_low * slope, x_end * slope], **_line_style(color(roof), theoretical),
                      gid=f"roof-{index}-{_slug(roof.key)}-{'theoretical' if theoretical else 'measured'}")
            placer.add_line((x_low, x_low * slope), (x_end, x_end * slope), _owner(index, roof, theoretical))
            if not theoretical:
                segments[roof.key] = (x_low, x_end)
    ridge = roofs.ridge_level
    for roof in roofs.compute:
        for theoretical in (False, True):
            peak = roof.theoretical if theoretical else roof.measured
            if not peak:
                continue
            y = peak / units.scale
            x_start = y / fastest[theoretical]
            axes.plot([x_start, x_high], [y, y], **_line_style(color(roof), theoretical),
                      gid=f"roof-{index}-{_slug(roof.key)}-{'theoretical' if theoretical else 'measured'}")
            placer.add_line((x_start, y), (x_high, y), _owner(index, roof, theoretical))
            bandwidth = (ridge.theoretical if theoretical else ridge.measured) if ridge else None
            if bandwidth:
                xy = (y / (bandwidth / units.scale), y)
                axes.plot(*xy, marker="o", markersize=5.5 if theoretical else 6,
                          color=color(roof), alpha=0.6 if theoretical else 1.0, linestyle="none", zorder=3,
                          markerfacecolor="white" if theoretical else color(roof),
                          gid=f"ridge-{index}-{_slug(roof.key)}-{'theoretical' if theoretical else 'measured'}")
                placer.add_point_obstacle(xy, 3, soft=True, owner=_owner(index, roof))
            if not theoretical:
                segments[roof.key] = (x_start, x_high)
    return segments


def _owner(index: int, roof: Roof, theoretical: bool = False) -> str:
    """The name a line is registered under: a roof's label may sit on its own measured line only."""
    return f"{index}-{roof.kind}-{roof.key}{'-theoretical' if theoretical else ''}"


def _label_roofs(axes, placer: LabelPlacer, roofs: ProfileRoofs, units: Units, color, index: int,
                 segments: dict[str, tuple[float, float]]) -> None:
    """Each measured roof named on its line: flat roofs first (highest first), then the diagonals (fastest
    first). A theoretical figure is given in the same label, in brackets."""
    for roof in roofs.compute:
        if not roof.measured:
            continue
        short = f"{roof.label}  {units.rate(roof.measured)}"
        text = short + (f" (theory {format_figure(roof.theoretical / units.scale)})" if roof.theoretical else "")
        _label_flat(axes, placer, roof, (text, short), roof.measured / units.scale, segments[roof.key], color(roof),
                    index)
    for roof in roofs.memory:
        if not roof.measured:
            continue
        short = f"{roof.label}  {units.speed(roof.measured)}"
        text = short
        if roof.theoretical:
            figure, unit = units.speed(roof.theoretical).split()
            text += f" (theory {figure})" if unit == short.split()[-1] else f" (theory {figure} {unit})"
        _label_diagonal(axes, placer, roof, (text, short), roof.measured / units.scale, segments[roof.key], color(roof),
                        index)


def _line_style(color: str, theoretical: bool) -> dict:
    if theoretical:
        return {"color": color, "linewidth": 1.3, "linestyle": (0, (5, 3)), "alpha": 0.5, "zorder": 2}
    return {"color": color, "linewidth": 2.0, "linestyle": "-", "zorder": 3}


def _roof_text(axes, text: str, color: str, gid: str):
    return axes.text(0, 0, _plain(text), fontsize=ROOF_FONT, color=color, zorder=6, gid=gid,
                     bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.75})


def _label_flat(axes, placer: LabelPlacer, roof: Roof, texts: tuple[str, str], y: float, segment: tuple[float, float],
                color: str, index: int) -> None:
    """Above the flat roof, right-aligned near its right end; further left (still over the line), then below
    it, when that place is taken."""
    label = _roof_text(axes, texts[0], color, f"label-roof-{index}-compute-{_slug(roof.key)}")
    x_start, x_end = segment
    start_px = axes.transData.transform((x_start, y))[0]
    positions = [along(axes, segment, 1 - f) for f in spread(0.015, 0.015, 0.985, 0.02)]
    places = [Place((x, y), (0, 2.5), "right", "bottom") for x in positions]
    places += [Place((x, y), (0, -2.5), "right", "top") for x in positions]
    placer.place(label, places, accept=lambda box: box.x0 >= start_px, owner=_owner(index, roof),
                 variants=(_plain(texts[1]),))


def _label_diagonal(axes, placer: LabelPlacer, roof: Roof, texts: tuple[str, str], slope: float,
                    segment: tuple[float, float], color: str, index: int) -> None:
    """Along the diagonal at its angle on screen, in the lower-left part of its visible length first (where the
    diagonals are alone), above the line; below it when every place above is taken."""
    label = _roof_text(axes, texts[0], color, f"label-roof-{index}-memory-{_slug(roof.key)}")
    x_start, x_end = segment
    y_low = axes.get_ylim()[0]
    x_start = max(x_start, y_low / slope)  # where the line enters the axes
    visible = (x_start, x_end)
    angle = display_angle(axes, (x_start, x_start * slope), (x_end, x_end * slope))
    normal = (-math.sin(math.radians(angle)), math.cos(math.radians(angle)))
    end_px = axes.transData.transform((x_end, x_end * slope))[0]
    places = []
    for side, va in ((1, "bottom"), (-1, "top")):
        for fraction in spread(0.12, 0.0, 0.9, 0.03):
            x = along(axes, visible, fraction)
            places.append(Place((x, x * slope), (side * 2.5 * normal[0], side * 2.5 * normal[1]), "left", va,
                                angle))
    placer.place(label, places, accept=lambda box: box.x1 <= end_px + 4, owner=_owner(index, roof),
                 variants=(_plain(texts[1]),))


def _limits(chosen: list[ProfileRoofs], units: Units, sweeps: list, marks: list[KernelMark],
            workloads: list) -> tuple[float, float, float, float]:
    """Axes limits from the roofs and the marks, with margins: x from a sixteenth of the smallest ridge (any
    precision against any level) to 10x the largest (room for the top roof's label right of its ridge); y from
    the slowest diagonal at the left edge to 3x the highest roof (room for the flat roofs' labels)."""
    ridges, peaks, slopes = [], [], []
    for roofs in chosen:
        for c in roofs.compute:
            for m in roofs.memory:
                ridges += [p / b for p in (c.measured, c.theoretical) for b in (m.measured, m.theoretical) if p and b]
        peaks += [v / units.scale for c in roofs.compute for v in (c.measured, c.theoretical) if v]
        slopes += [v / units.scale for m in roofs.memory for v in (m.measured, m.theoretical) if v]
    mark_xy = [m.xy for m in marks] + [(w.intensity, w.measured_gflops / units.scale) for w in workloads]
    mark_xy += [(p["flops_per_byte"], p["gflops"] / units.scale) for _, curve in sweeps for p in curve["points"]]
    x_low = min(ridges + [x for x, _ in mark_xy]) / 16
    x_high = max(ridges + [x for x, _ in mark_xy]) * 10
    y_high = max(peaks + [y for _, y in mark_xy]) * 3
    y_low = min([min(slopes) * x_low] + [y / 2 for _, y in mark_xy])
    y_low = max(y_low, y_high / 1e7)  # a host link's diagonal must not squash the chart into its bottom
    return x_low, x_high, y_low, y_high


def _title(profiles: list[Profile]) -> str:
    """The device(s), the date(s) measured and the hwbench version(s) that measured."""
    devices = dict.fromkeys(f"{p.data['device'].get('name', '?')} ({p.device_id})" for p in profiles)
    dates = dict.fromkeys(str(p.data.get("created_at", "?"))[:10] for p in profiles)
    versions = dict.fromkeys(str(p.data.get("hwbench_version", "?")) for p in profiles)
    return _plain(f"{', '.join(devices)} · measured {', '.join(dates)} · hwbench {', '.join(versions)}")


def _key_line(chosen: list[ProfileRoofs], sweeps: list, workloads: list, marks: list) -> str:
    """The footnote that replaces a legend of line styles: only what this chart shows."""
    parts = ["solid: measured roofs", "dashed: theoretical (datasheet)"]
    ridge_levels = dict.fromkeys(r.ridge_level.label for r in chosen if r.ridge_level)
    ridges = ""
    level = chosen[0].ridge_level if len(chosen) == 1 else None
    if level is not None and level.measured:
        bandwidth = level.measured
        per_byte = " OP/B" if any(r.work == "OP" for r in chosen[0].compute) else " F/B"
        ridges = ": " + ", ".join(f"{r.key} {format_figure(r.measured / bandwidth)}" for r in chosen[0].compute
                                  if r.measured) + per_byte
    parts.append(f"dots: ridge points against {'/'.join(ridge_levels)}{ridges} (hollow: theoretical)")
    if sweeps:
        parts.append("small dots: intensity sweep")
    if workloads:
        parts.append("diamonds: validate workloads, measured (hollow: excluded; % = error of the calibrated "
                     "prediction; red crosses: faster than a roofline allows beyond the measured noise)")
    if marks:
        parts.append("stars: --point kernels")
    return " · ".join(parts)
