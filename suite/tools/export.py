"""A report as data, and the writers shared by every report command (hyperfine's ``Exporter``, pytest-benchmark's
table module).

A report command (``compare``, ``history``, ``fleet``, ``validate``) computes its result once and describes it as a
``Document``: tables of typed columns and text cells, lines of notes, a summary line, the JSON document and, where the
report has them, Prometheus metrics. The writers here render any ``Document`` in each ``--format``:

- ``table``: the blocks in order, each table through ``render.fitted`` (a figure is never cut), then the summary;
- ``markdown``: the heading, each table as a pipe table (``|`` escaped) with its caption, the lines as a list, the
  summary in bold, separated by blank lines;
- ``json``: the report's own data (its records as they are, not the formatted cells);
- ``prometheus``: the text exposition format 0.0.4 for node-exporter's textfile collector.

No report writes Markdown, JSON or Prometheus text itself. Every string from a file or the command line passes
``safe_text.printable`` on its way out (a terminal escape in a host name never reaches a terminal or a document).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..safe_text import printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable


@dataclass(frozen=True)
class Column:
    """A column: its name, the unit of its figures, and what it holds: figures (right-aligned, never wrapped or cut)
    or words (left-aligned, wrapped between words: names, causes, paths). ``stacked``: on the terminal the header
    is the name's two parts (split at its first '.') over the unit, three lines in every such column, so that a
    table of many dotted keys (history's) stays narrow."""

    name: str
    unit: str = ""
    words: bool = False
    stacked: bool = False

    @property
    def header(self) -> str:
        """The header on the terminal."""
        if self.stacked:
            group, _, part = self.name.partition(".")
            return f"{group}\n{part}\n{self.unit}"
        return f"{self.name}\n{self.unit}" if self.unit else self.name

    @property
    def label(self) -> str:
        """The header on one line (Markdown)."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


@dataclass(frozen=True)
class Cell:
    """One formatted cell; ``style`` (a rich style: a regression in red) is for the terminal only."""

    text: str
    style: str = ""


def cells(*texts: str, style: str = "") -> tuple[Cell, ...]:
    """A row whose cells share one style."""
    return tuple(Cell(text, style) for text in texts)


@dataclass(frozen=True)
class Table:
    """A table: its title (on the terminal; in Markdown only when ``titled``: a report of several tables, whose
    heading cannot name each), columns, rows and caption (under it in every format)."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    titled: bool = False

    def __post_init__(self) -> None:
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError(f"{self.title}: every row needs one cell per column ({len(self.columns)})")

    def text_rows(self) -> list[list[str]]:
        """The header (column names) and every row as plain text."""
        return [[column.name for column in self.columns], *([cell.text for cell in row] for row in self.rows)]


@dataclass(frozen=True)
class Lines:
    """Lines of text under a table (notes, a model, bound tests): ``prefix`` goes in front of each on the
    terminal ("note: "); Markdown makes each a list item."""

    lines: tuple[str, ...]
    prefix: str = ""


@dataclass(frozen=True)
class Metric:
    """A Prometheus gauge: its name, help text and samples (labels, value)."""

    name: str
    help: str
    samples: tuple[tuple[Mapping[str, str], float], ...]


@dataclass(frozen=True)
class Document:
    """A report, computed once: ``heading`` opens the Markdown (it is Markdown already: the command in bold, file
    names as code); ``blocks`` are its tables and lines in order; ``summary`` is the verdict line (last, bold in
    Markdown; empty when the report has none); ``data`` is its JSON document (empty: no JSON form); ``metrics``
    its Prometheus gauges (empty: no Prometheus form)."""

    heading: str
    blocks: tuple[Table | Lines, ...]
    summary: str = ""
    data: Mapping[str, object] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()

    @property
    def tables(self) -> list[Table]:
        return [block for block in self.blocks if isinstance(block, Table)]


# The terminal -----------------------------------------------------------------------------------------------


def rich_table(table: Table) -> RichTable:
    """``table`` in hwbench's table style; every cell is a ``Text`` (never read as console markup)."""
    from .cells import new_table, styled

    shown = new_table(table.title)
    for column in table.columns:
        shown.add_column(styled(column.header, breaks=True), justify="left" if column.words else "right",
                         no_wrap=not column.words)
    for row in table.rows:
        shown.add_row(*(styled(cell.text, cell.style) for cell in row))
    if table.caption:
        shown.caption = styled(table.caption)
        shown.caption_justify = "left"
    return shown


def write_table(document: Document, console: Console) -> None:
    """Every block in order: tables as they fit the console (``render.fitted``), lines, then the summary."""
    from .render import print_table

    for block in document.blocks:
        if isinstance(block, Table):
            print_table(rich_table(block), console)
        else:
            for line in block.lines:
                console.print(printable(block.prefix + line), markup=False)
    if document.summary:
        console.print(printable(document.summary), markup=False)


# Markdown, JSON, Prometheus ---------------------------------------------------------------------------------


def _markdown_cell(text: str) -> str:
    return printable(text).strip().replace("|", "\\|")


def _paragraph(text: str) -> str:
    """A line of text as a Markdown paragraph: a leading list or heading mark ("* baseline") is escaped."""
    text = printable(text)
    return "\\" + text if text[:1] in ("*", "-", "+", "#", ">") else text


def _markdown_table(table: Table) -> str:
    lines = [f"**{printable(table.title)}**", ""] if table.titled else []
    lines += ["| " + " | ".join(_markdown_cell(column.label) for column in table.columns) + " |",
             "| " + " | ".join("---" if column.words else "---:" for column in table.columns) + " |"]
    lines += ["| " + " | ".join(_markdown_cell(cell.text) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines + (["", _paragraph(table.caption)] if table.caption else []))


def to_markdown(document: Document) -> str:
    parts = [printable(document.heading)]
    for block in document.blocks:
        if isinstance(block, Table):
            parts.append(_markdown_table(block))
        elif block.lines:
            parts.append("\n".join(f"- {printable(line)}" for line in block.lines))
    if document.summary:
        parts.append(f"**{printable(document.summary)}**")
    return "\n\n".join(parts) + "\n"


def to_json(document: Document) -> str:
    return json.dumps(document.data, indent=2) + "\n"


def _label(value: str) -> str:
    """A label value of the Prometheus text format: backslash, double quote and newline escaped as the format
    requires (a newline reads back as one); any other control character (ESC, NUL, tab: a host name is user
    text) is first shown as its escape (``safe_text.printable``), so ``\\x1b`` reads back as the four characters
    it shows, never as a byte that acts on a terminal."""
    shown = "\n".join(printable(part) for part in value.split("\n"))
    return shown.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf") if math.isinf(value) else repr(value)


def to_prometheus(document: Document) -> str:
    """The text exposition format (0.0.4): each gauge with samples, its HELP and TYPE lines first. No timestamps
    (node-exporter's textfile collector refuses them)."""
    lines = []
    for metric in document.metrics:
        if metric.samples:
            lines += [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} gauge"]
            lines += [metric.name + "{" + ",".join(f'{name}="{_label(str(value))}"' for name, value in labels.items())
                      + "} " + _number(value) for labels, value in metric.samples]
    return "\n".join(lines) + "\n"


def write(document: Document, output_format: str, console: Console) -> None:
    """``document`` on stdout in ``output_format`` (``console.OutputFormat``'s value); tables go to ``console``."""
    if output_format == "json":
        sys.stdout.write(to_json(document))
    elif output_format == "markdown":
        sys.stdout.write(to_markdown(document))
    else:
        write_table(document, console)


def figure_columns(*names: str, words: Sequence[str] = ()) -> tuple[Column, ...]:
    """Columns named ``names``; those in ``words`` hold words, the others figures."""
    return tuple(Column(name, words=name in words) for name in names)


__all__ = ["Cell", "Column", "Document", "Lines", "Metric", "Table", "cells", "figure_columns",
           "rich_table", "to_json", "to_markdown", "to_prometheus", "write", "write_table"]
