"""The latency table of ``hwbench show``: each memory level's load-to-use latency in ns and cycles with its
spread, the loaded-latency curve and the core-to-core latency. Formatting only: every number is read from the
profile (``memory.<level>.latency_*`` and the ``latency`` section)."""

from __future__ import annotations

from rich.table import Table

from ..profile.types import ProfileMapping
from .cells import add_row, is_number, new_table, number, percent, styled

LEVELS = ("shared", "l1", "l2", "l3", "dram")


def _size(value: object) -> str:
    if not is_number(value):
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g} B"


def latency_table(data: ProfileMapping) -> Table:
    """A row per level (working set, ns, cycles, spread), then the loaded curve and the core-to-core pairs."""
    section = data.get("latency") or {}
    table = new_table("load-to-use latency (dependent-load chase; lower is better)")
    for column in ("level", "working set", "ns", "cycles", "spread", "note"):
        table.add_column(column, justify="left" if column in ("level", "note") else "right", no_wrap=column != "note")
    memory = data.get("memory") or {}
    for level in [*LEVELS, *(k for k in memory if k not in LEVELS)]:
        entry = memory.get(level) or {}
        if not is_number(entry.get("latency_ns")):
            continue
        note = "measurement error" if entry.get("latency_measurement_error") else ""
        add_row(table, level, _size(entry.get("latency_working_set_bytes")), number(entry["latency_ns"], 2),
             number(entry.get("latency_cycles"), 1), percent(entry.get("latency_spread")), note)
    loaded = section.get("loaded") or {}
    for point in loaded.get("points", []):
        add_row(table, "dram loaded", f"{number(point.get('injected_gbps'), 1)} GB/s",
                number(point.get("latency_ns"), 2), "", percent(point.get("spread")),
                f"delay {point.get('delay_ticks')} ticks, x{number(point.get('of_idle'), 2)} idle")
    pairs = (section.get("core_to_core") or {}).get("pairs") or {}
    for pair, figure in pairs.items():
        add_row(table, "core to core", f"CPUs {pair}", number(figure.get("latency_ns"), 2), "",
                percent(figure.get("spread")), "one way (round trip / 2)")
    clock = next((memory[level].get("latency_clock_mhz") for level in memory
                  if is_number((memory[level] or {}).get("latency_clock_mhz"))), None)
    table.caption = styled(
        "ns: the K-th fastest sample (a confirmed best; a loaded point: its median); spread: (median - ns) / median; "
        f"cycles at {number(clock, 0)} MHz (latency_clock_source). loaded: {loaded.get('injecting_cores', 0)} core(s) "
        f"injecting {loaded.get('traffic', 'read')} traffic (MLC's method; profiles before the traffic key: reads)."
        if section else "no latency section")
    table.caption_justify = "left"
    return table
