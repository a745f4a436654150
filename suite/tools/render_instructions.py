"""Terminal tables of a profile's low-precision peaks (``instruction_peaks``) and of the clock under each instruction
class (``clock.by_instruction_class``). Formatting only; every figure is read from the profile."""

from __future__ import annotations

from rich.table import Table

from .cells import _num, _pct, _row, _table, _text


def instruction_peaks_table(section: dict) -> Table:
    """One row per instruction kernel, in its own unit (GFLOP/s or GOP/s); skipped kernels in the caption."""
    table = _table("low-precision peaks by instruction (bf16 and fp16 in GFLOP/s, int8 in GOP/s)")
    for column in ("ceiling", "instruction", "theory", "@clock", "measured", "eff", "MHz", "per cyc", "kernel"):
        table.add_column(column, justify="left" if column in ("ceiling", "instruction", "kernel") else "right",
                         no_wrap=True)
    for name, entry in section.get("peaks", {}).items():
        per_cycle = entry.get("op_per_cycle")
        _row(table, f"{entry.get('precision')} {entry.get('unit')}", entry.get("instruction", ""),
             _num(entry.get("theoretical")), _num(entry.get("theoretical_at_measured_clock")),
             _num(entry.get("measured")), _pct(entry.get("efficiency_at_measured_clock")),
             _num(entry.get("clock_mhz"), 0),
             f"{_num(per_cycle, 1)}/{_num(entry.get('op_per_cycle_theoretical'), 0)}" if per_cycle is not None
             else "-", name)
    skipped = section.get("skipped", {})
    notes = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
    table.caption = _text("eff: measured per cycle / the documented per cycle, both at the clock measured under the "
                          "kernel's own load (FLOP or OP per cycle per core). " + section.get("counting", "") + "."
                          + (f" Not run: {notes}." if notes else ""))
    table.caption_justify = "left"
    return table


def clock_classes_table(classes: dict) -> Table:
    """The clock under each instruction class and its drop below the scalar clock (the licence drop)."""
    table = _table("clock by instruction class")
    for column in ("class", "MHz", "drop", "under"):
        table.add_column(column, justify="right" if column in ("MHz", "drop") else "left", no_wrap=column != "under")
    for name, entry in classes.items():
        drop = entry.get("drop_percent")
        _row(table, name, _num(entry.get("mhz"), 0), "" if drop is None else f"{drop:.1f}%",
             ", ".join(entry.get("under", ())))
    table.caption = _text("drop: below the scalar clock (add and multiply chains alone); each class's clock is the "
                          "lowest measured under its kernels")
    table.caption_justify = "left"
    return table
