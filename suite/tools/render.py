"""Terminal tables of a profile (rich). Formatting only: every number shown is read from the profile.

Every string put in a table (cells, titles, captions) is a ``rich.text.Text``: text from a profile or the
command line (a device name, a path, a kernel name) is shown as written, never read as rich markup
(``[bold]``) or emoji codes (``:abc:``), whatever console prints it. Styles (a regression in red) are set
on the ``Text``, not written as markup.
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table

from ..profile.types import ProfileMapping
from .cells import add_row, is_number, new_table, number, percent, styled


def ceilings_table(data: ProfileMapping) -> Table:
    device = data["device"]
    title = f"{device['name']} ({device['id']})"
    if device["id"] == "cpu":
        title += f": {device.get('threads')} threads on {device.get('cores')} cores"
    table = new_table(title)
    # theory: paper peak at the nominal clock; @clock: the same formula at the measured clock;
    # FLOP/cyc: measured / theoretical FLOP per cycle per core (CPU) or per SM (GPU).
    for column in ("ceiling", "theory", "@clock", "measured", "eff", "MHz", "FLOP/cyc", "kernel"):
        table.add_column(column, justify="left" if column in ("ceiling", "kernel") else "right",
                         no_wrap=True)
    for precision, entry in data["compute"].items():
        per_cycle = entry.get("flop_per_cycle")
        theory_per_cycle = entry.get("flop_per_cycle_theoretical")
        add_row(
            table, f"{precision} GFLOP/s", number(entry.get("theoretical_gflops")),
            number(entry.get("theoretical_at_measured_clock_gflops")), number(entry.get("measured_gflops")),
            percent(entry.get("efficiency")), number(entry.get("clock_mhz"), 0),
            f"{number(per_cycle, 1)}/{number(theory_per_cycle, 0)}" if per_cycle is not None else "-",
            entry.get("kernel", ""),
        )
    for level, entry in data["memory"].items():
        for convention, value, kernel, is_measured in memory_figures(entry):
            theory = number(entry.get("theoretical_gbps")) if is_measured else ""
            # A cache's paper bandwidth scales with the core clock: shown at the measured clock too, as compute is.
            at_clock = number(entry.get("theoretical_at_measured_clock_gbps")) \
                if is_measured and entry.get("theoretical_at_measured_clock_gbps") is not None else ""
            add_row(table, f"{level} GB/s {convention}".rstrip(), theory, at_clock, number(value),
                    percent(entry.get("efficiency")) if is_measured else "", "", "", kernel)
    for precision, entry in data.get("ridge_point", {}).items():
        add_row(table, f"{precision} ridge F/B", number(entry.get("theoretical"), 2), "",
             number(entry.get("measured"), 2), "", "", "", "")
    clock = data.get("clock", {})
    table.caption = styled(
        f"measured: {headline(data)}. GB/s traffic: bytes actually moved (write-allocate reads included); "
        "STREAM: bytes the kernel reads and writes; both match the kernels table. " + (
        f"nominal clock {number(clock.get('nominal_mhz'), 0)} MHz ({clock.get('nominal_source')}); "
        f"under FMA load {number(clock.get('measured_mhz'), 0)} MHz; add chain alone "
        f"{number(clock.get('scalar_mhz'), 0)} MHz. per cycle: measured / theoretical FLOP per cycle per core"
        if device["id"] == "cpu" else
        f"max SM clock {number(clock.get('nominal_mhz'), 0)} MHz ({clock.get('nominal_source')}); "
        f"observed {number(clock.get('measured_mhz'), 0)} MHz. per cycle: FLOP per cycle per SM"
    ))
    table.caption_justify = "left"
    return table


def memory_figures(entry: dict) -> list[tuple[str, float | None, str, bool]]:
    """(byte convention, figure, kernel, whether it is ``measured_gbps``) of a memory level: both conventions
    where the profile has both (``measured_gbps`` is traffic beside ``measured_stream_gbps``, or STREAM beside
    the cache levels' ``measured_traffic_gbps``); profiles without them name the one from ``counting``."""
    kernel = entry.get("kernel", "")
    if "measured_stream_gbps" in entry:
        return [("traffic", entry.get("measured_gbps"), kernel, True),
                ("STREAM", entry.get("measured_stream_gbps"), entry.get("stream_kernel") or kernel, False)]
    if "measured_traffic_gbps" in entry:
        return [("traffic", entry.get("measured_traffic_gbps"), kernel, False),
                ("STREAM", entry.get("measured_gbps"), kernel, True)]
    counting = str(entry.get("counting", ""))
    convention = "traffic" if counting.startswith("actual traffic") else "STREAM" if "STREAM" in counting else ""
    return [(convention, entry.get("measured_gbps"), kernel, True)]


def headline(data: ProfileMapping) -> str:
    """What ``measured`` means in this profile, in a few words."""
    if data.get("headline_rule"):
        return "each kernel's confirmed best (the K-th highest sample, K = max(2, 10% of the samples); headline_rule)"
    return "each kernel's single best sample (a profile written before the confirmed-best rule)"


def kernel_ceiling(k: dict) -> float | None:
    """The figure a kernel entry gives the peaks table: its ``ceiling``; in profiles written before the
    confirmed-best rule, its ``best`` (which was their headline)."""
    return k["ceiling"] if is_number(k.get("ceiling")) else k.get("best")


def traffic(k: dict, ceiling: float | None) -> float | None:
    """The ceiling of a bandwidth kernel in bytes actually moved: x bytes_traffic / bytes_stream."""
    stream, moved = k.get("bytes_stream"), k.get("bytes_traffic")
    if k.get("unit") != "GB/s" or not is_number(ceiling) or not stream or not moved:
        return None
    return ceiling * moved / stream


def kernels_table(data: ProfileMapping) -> Table:
    table = new_table("kernels (bandwidth kernels in STREAM-convention GB/s)")
    for column in ("kernel", "level", "unit", "ceiling", "traffic", "best", "median", "cv", "reps", "ok"):
        table.add_column(column, justify="left" if column in ("kernel", "level", "unit") else "right",
                         no_wrap=True)
    for k in data["kernels"]:
        ceiling = kernel_ceiling(k)
        moved = traffic(k, ceiling)
        add_row(table, k["name"], k["level"], k["unit"], number(ceiling), number(moved) if moved is not None else "",
             number(k["best"]), number(k["median"]), f"{k['cv']:.1%}", k["repetitions"],
             "yes" if k["validated"] else "NO")
    table.caption = styled(f"ceiling: {headline(data)}; traffic: the ceiling in bytes actually moved (x bytes_traffic "
                          "/ bytes_stream); best: the single best sample")
    table.caption_justify = "left"
    return table


def sustained_table(section: dict, kernels: list | tuple = ()) -> Table:
    table = new_table(f"sustained run: {section['duration_s']:g} s per kernel, sampled every "
                   f"{section['interval_s']:g} s")
    # of ceiling: sustained / the same kernel's ceiling in this run; burst is only the start of the timeline.
    own = {k.get("name"): kernel_ceiling(k) for k in kernels}
    for column in ("kernel", "unit", "burst", "sustained", "of ceiling", "drop", "began at", "MHz burst",
                   "MHz sustained", "samples"):
        table.add_column(column, justify="left" if column in ("kernel", "unit") else "right", no_wrap=True)
    for name, entry in section["kernels"].items():
        began = entry.get("drop_began_s")
        ceiling = entry.get("ceiling") or own.get(name)  # profiles written before "ceiling": the kernel's
        of_ceiling = entry.get("of_ceiling") or (entry["sustained"] / ceiling if is_number(ceiling) else None)
        add_row(table, name, entry["unit"], number(entry["burst"]), number(entry["sustained"]), percent(of_ceiling),
             number(entry["drop_percent"], 1, "%"), number(began, 0, " s"),
             number(entry.get("clock_burst_mhz"), 0), number(entry.get("clock_sustained_mhz"), 0),
             entry.get("samples", "-"))
    definitions = section.get("definitions", "")
    table.caption = styled(definitions + ("" if "ceiling" in definitions else
                                          "; of ceiling: sustained / the same kernel's ceiling"))
    table.caption_justify = "left"
    return table


def _bytes(value: object) -> str:
    """4096 -> 4 KiB, 33554432 -> 32 MiB (sizes are powers of two, or near them)."""
    if not is_number(value):
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            scaled = value / size
            return f"{scaled:.0f} {unit}" if scaled >= 10 else f"{scaled:.3g} {unit}"
    return f"{value:g} B"


def caches_table(data: ProfileMapping) -> Table:
    """The cache levels the sweep found: each level's plateau, its ceiling on all threads and on one, and bytes
    per cycle per core beside the core table's paper figure."""
    threads = data["device"].get("threads")
    table = new_table(f"cache levels (working-set sweep; GB/s by the STREAM convention, {threads} threads and 1)")
    for column in ("level", "size", "plateau", "kernel", "GB/s", "1 thread", "B/cyc/core", "paper"):
        table.add_column(column, justify="left" if column in ("level", "plateau", "kernel") else "right",
                         no_wrap=True)
    sizes = data["caches"].get("sizes", {})
    one_thread: dict[str, float] = {}
    for plateau in data["caches"].get("plateaus", []):
        if plateau.get("threads") == 1 and is_number(plateau.get("best_gbps")):
            one_thread[plateau["level"]] = max(one_thread.get(plateau["level"], 0.0), plateau["best_gbps"])
    for level in ("l1", "l2", "l3", "dram"):
        entry = data["memory"].get(level)
        if entry is None:
            continue
        low, high = (entry.get("working_set_bytes") or [None, None])[:2]
        plateau = f"{_bytes(low)}-{_bytes(high)}" if low else "(STREAM arrays)"
        size = sizes.get("l1d" if level == "l1" else "l3_total" if level == "l3" else level)
        add_row(table, level, _bytes(size), plateau, entry.get("stream_kernel") or entry.get("kernel"),
             number(entry.get("measured_stream_gbps") or entry.get("measured_gbps")), number(one_thread.get(level)),
             number(entry.get("bytes_per_cycle_per_core")), number(entry.get("bytes_per_cycle_per_core_theoretical")))
    table.caption = styled("plateau: the working sets (all threads) over which the rate stays within the plateau "
                          "rule (caches.plateau_rule); B/cyc/core at the level's clock_mhz (the probe alone: "
                          "clock.scalar_mhz); paper: the core "
                          "table's load/store or fill width (theoretical_source)")
    table.caption_justify = "left"
    return table


def _ratio(value: float) -> str:
    """An intensity as people write it: 1/16, 1/8, ... below 1, else the number."""
    return f"1/{round(1 / value)}" if 0 < value < 1 and float(1 / value).is_integer() else f"{value:g}"


def intensity_table(curves: list) -> Table:
    """The ``intensity_sweep``: a row per intensity, a column per curve; each cell the measured GFLOP/s and its
    error against min(peak, intensity x bandwidth) of the same profile."""
    table = new_table("intensity sweep: the measured roofline (GFLOP/s, and its error against the profile's roofline)")
    table.add_column("FLOP/byte", justify="right", no_wrap=True)
    cells: dict[float, dict[int, str]] = {}
    for index, curve in enumerate(curves):
        error = curve.get("median_abs_error_pct")
        table.add_column(f"{curve['precision']} {curve['level']}" + (f"\n(median |err| {error:.1f}%)"
                                                                      if is_number(error) else ""),
                         justify="right", no_wrap=True)
        for point in curve["points"]:
            err = point.get("error_pct")
            cells.setdefault(point["flops_per_byte"], {})[index] = (
                number(point["gflops"]) + (f" {err:+.0f}%" if is_number(err) else ""))
    for intensity in sorted(cells):
        add_row(table, _ratio(intensity), *(cells[intensity].get(index, "") for index in range(len(curves))))
    return table


TEXT_MIN_WIDTH = 30  # a text column's floor: its longest word, up to this many characters
UNBOUNDED = 100_000


def fitted(table: Table, console: Console) -> RenderableType:
    """``table`` as it fits the console's width without cutting a figure ("1,9…" MHz in a pipe would be a lie).

    Right-justified columns hold figures: they never wrap and never get narrower than their widest cell. Text
    columns (names, causes) wrap between words, never narrower than their longest word (up to
    ``TEXT_MIN_WIDTH``; a longer word, a path, folds). When even that is wider than the console, every row is
    stacked as "header  value" lines instead, so a figure is never cut or folded, at 80 columns or in a pipe."""
    for column in table.columns:
        lines = [line for cell in [*column.cells, column.header] for line in str(cell).splitlines()]
        if column.justify == "right":
            column.no_wrap = True
            column.min_width = max(map(len, lines), default=1)
        else:
            words = [word for line in lines for word in line.split()]
            column.no_wrap, column.overflow = False, "fold"
            column.min_width = min(max(map(len, words), default=1), TEXT_MIN_WIDTH)
    # Measured against a boundless width: Measurement.get clamps the minimum to the width it is given.
    needed = Measurement.get(console, console.options.update_width(UNBOUNDED), table).minimum
    return table if needed <= console.width else stacked(table)


def stacked(table: Table) -> Group:
    """Every row of ``table`` as a block: its first cell as a heading, then "header  value" lines for the other
    cells, under the table's title and over its caption."""
    headers = [styled(str(column.header).replace("\n", " ")) for column in table.columns]
    parts: list[RenderableType] = [table.title] if table.title else []
    for first, *rest in zip(*(list(column.cells) for column in table.columns)):
        block = Table(box=None, show_header=False, padding=(0, 2, 0, 2))
        block.add_column(no_wrap=True)
        block.add_column(overflow="fold")
        for header, cell in zip(headers[1:], rest):
            if str(cell).strip():
                block.add_row(header, cell)
        parts += [first, block]
    if table.caption:
        parts.append(table.caption)
    return Group(*parts)


def print_table(table: Table, console: Console) -> None:
    console.print(fitted(table, console))


def print_profile(data: ProfileMapping, console: Console) -> None:
    print_table(ceilings_table(data), console)
    print_table(kernels_table(data), console)
    if isinstance(data.get("instruction_peaks"), dict) or isinstance(data.get("clock", {}).get("by_instruction_class"),
                                                                      dict):
        from .render_instructions import clock_classes_table, instruction_peaks_table

        if isinstance(data.get("instruction_peaks"), dict):
            print_table(instruction_peaks_table(data["instruction_peaks"]), console)
        if isinstance(data["clock"].get("by_instruction_class"), dict):
            print_table(clock_classes_table(data["clock"]["by_instruction_class"]), console)
    if data.get("caches"):
        print_table(caches_table(data), console)
    if data.get("intensity_sweep"):
        print_table(intensity_table(data["intensity_sweep"]), console)
    if data.get("latency"):
        from .render_latency import latency_table

        print_table(latency_table(data), console)
    if data.get("sustained"):
        print_table(sustained_table(data["sustained"], data.get("kernels", ())), console)
    if isinstance(data.get("links"), dict) or isinstance(data.get("interconnect"), dict):
        from .render_cluster import interconnect_table, links_table

        if isinstance(data.get("links"), dict):
            print_table(links_table(data["links"]), console)
        if isinstance(data.get("interconnect"), dict):
            print_table(interconnect_table(data["interconnect"]), console)
