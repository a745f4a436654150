"""Terminal tables of a profile (rich). Formatting only: every number shown is read from the profile."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table


def _num(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def ceilings_table(data: dict) -> Table:
    device = data["device"]
    title = f"{device['name']} ({device['id']})"
    if device["id"] == "cpu":
        title += f": {device.get('threads')} threads on {device.get('cores')} cores"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    # theory: paper peak at the nominal clock; @clock: the same formula at the measured clock;
    # FLOP/cyc: measured / theoretical FLOP per cycle per core (CPU) or per SM (GPU).
    for column in ("ceiling", "theory", "@clock", "measured", "eff", "MHz", "FLOP/cyc", "kernel"):
        table.add_column(column, justify="left" if column in ("ceiling", "kernel") else "right",
                         no_wrap=True)
    for precision, entry in data["compute"].items():
        per_cycle = entry.get("flop_per_cycle")
        theory_per_cycle = entry.get("flop_per_cycle_theoretical")
        table.add_row(
            f"{precision} GFLOP/s", _num(entry.get("theoretical_gflops")),
            _num(entry.get("theoretical_at_measured_clock_gflops")), _num(entry.get("measured_gflops")),
            _pct(entry.get("efficiency")), _num(entry.get("clock_mhz"), 0),
            f"{_num(per_cycle, 1)} / {_num(theory_per_cycle, 0)}" if per_cycle is not None else "-",
            entry.get("kernel", ""),
        )
    for level, entry in data["memory"].items():
        table.add_row(f"{level} GB/s", _num(entry.get("theoretical_gbps")), "", _num(entry.get("measured_gbps")),
                      _pct(entry.get("efficiency")), "", "", entry.get("kernel", ""))
    for precision, entry in data.get("ridge_point", {}).items():
        table.add_row(f"{precision} ridge F/B", _num(entry.get("theoretical"), 2), "",
                      _num(entry.get("measured"), 2), "", "", "", "")
    clock = data.get("clock", {})
    table.caption = (
        f"nominal clock {_num(clock.get('nominal_mhz'), 0)} MHz ({clock.get('nominal_source')}); "
        f"under FMA load {_num(clock.get('measured_mhz'), 0)} MHz; add chain alone "
        f"{_num(clock.get('scalar_mhz'), 0)} MHz. per cycle: measured / theoretical FLOP per cycle per core"
        if device["id"] == "cpu" else
        f"max SM clock {_num(clock.get('nominal_mhz'), 0)} MHz ({clock.get('nominal_source')}); "
        f"observed {_num(clock.get('measured_mhz'), 0)} MHz. per cycle: FLOP per cycle per SM"
    )
    table.caption_justify = "left"
    return table


def kernels_table(data: dict) -> Table:
    table = Table(title="kernels (bandwidth kernels in STREAM-convention GB/s)", title_justify="left",
                  box=box.SIMPLE_HEAD)
    for column in ("kernel", "level", "unit", "best", "median", "min", "max", "cv", "reps", "ok"):
        table.add_column(column, justify="left" if column in ("kernel", "level", "unit") else "right",
                         no_wrap=True)
    for k in data["kernels"]:
        table.add_row(k["name"], k["level"], k["unit"], _num(k["best"]), _num(k["median"]), _num(k["min"]),
                      _num(k["max"]), f"{k['cv']:.1%}", str(k["repetitions"]), "yes" if k["validated"] else "NO")
    return table


def print_profile(data: dict, console: Console) -> None:
    console.print(ceilings_table(data))
    console.print(kernels_table(data))
