"""The cells of hwbench's terminal tables: text never read as markup, numbers that keep their digits, one table
style. Shared by the profile's tables (``render*.py``) and the report exporters (``export.py``)."""

from __future__ import annotations

import math
from typing import TypeGuard

from rich import box
from rich.table import Table
from rich.text import Text

from ..safe_text import printable


def styled(value: object, style: str = "", breaks: bool = False) -> Text:
    """Cells and titles hold file text (device, host and kernel names): every control character is escaped, a
    newline too (an ESC sequence in a device name would act on the terminal, a newline would split its row).
    ``breaks``: hwbench's own column headers, whose line breaks are kept (captions hold file text too)."""
    if not breaks:
        return Text(printable(str(value)), style=style)
    return Text("\n".join(printable(line) for line in str(value).split("\n")), style=style)


def is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return f"{value:,.{digits}f}{suffix}" if is_number(value) else "-"


def percent(value: float | None) -> str:
    return f"{value:.0%}" if is_number(value) else "-"


def new_table(title: str, **options) -> Table:
    # collapse_padding: one padding between columns, not two; a CPU kernels table then fits 80 columns (74).
    return Table(title=styled(title), title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True, **options)


def add_row(table: Table, *cells: object, style: str = "") -> None:
    table.add_row(*(styled(cell, style) for cell in cells))
