"""Terminal tables of a profile's low-precision peaks (``instruction_peaks``) and of the clock under each instruction
class (``clock.by_instruction_class``). Formatting only; every figure is read from the profile."""

from __future__ import annotations

from rich.table import Table

from .cells import add_row, new_table, number, percent, styled


def instruction_peaks_table(section: dict) -> Table:
    """One row per instruction kernel, in its own unit (GFLOP/s or GOP/s); skipped kernels in the caption."""
    table = new_table("low-precision peaks by instruction (bf16 and fp16 in GFLOP/s, int8 in GOP/s)")
    for column in ("ceiling", "instruction", "theory", "@clock", "measured", "eff", "MHz", "per cyc", "kernel"):
        table.add_column(column, justify="left" if column in ("ceiling", "instruction", "kernel") else "right",
                         no_wrap=True)
    for name, entry in section.get("peaks", {}).items():
        per_cycle = entry.get("op_per_cycle")
        add_row(table, f"{entry.get('precision')} {entry.get('unit')}", entry.get("instruction", ""),
             number(entry.get("theoretical")), number(entry.get("theoretical_at_measured_clock")),
             number(entry.get("measured")), percent(entry.get("efficiency_at_measured_clock")),
             number(entry.get("clock_mhz"), 0),
             f"{number(per_cycle, 1)}/{number(entry.get('op_per_cycle_theoretical'), 0)}" if per_cycle is not None
             else "-", name)
    skipped = section.get("skipped", {})
    notes = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
    table.caption = styled("eff: measured per cycle / the documented per cycle, both at the clock measured under the "
                          "kernel's own load (FLOP or OP per cycle per core). " + section.get("counting", "") + "."
                          + (f" Not run: {notes}." if notes else ""))
    table.caption_justify = "left"
    return table


def clock_classes_table(classes: dict) -> Table:
    """The clock under each instruction class and its drop below the scalar clock (the licence drop)."""
    table = new_table("clock by instruction class")
    for column in ("class", "MHz", "drop", "under"):
        table.add_column(column, justify="right" if column in ("MHz", "drop") else "left", no_wrap=column != "under")
    for name, entry in classes.items():
        drop = entry.get("drop_percent")
        add_row(table, name, number(entry.get("mhz"), 0), "" if drop is None else f"{drop:.1f}%",
             ", ".join(entry.get("under", ())))
    table.caption = styled("drop: below the scalar clock (add and multiply chains alone); each class's clock is the "
                          "lowest measured under its kernels")
    table.caption_justify = "left"
    return table
