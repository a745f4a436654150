"""The shared exporters: one Document, every format, the same rows; file text escaped in each."""

from __future__ import annotations

import io

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from hwbench.tools.export import (
    Cell,
    Column,
    Document,
    Lines,
    Metric,
    Table,
    cells,
    to_json,
    to_markdown,
    to_prometheus,
    write_table,
)

COLUMNS = (Column("host", words=True), Column("rate", "GB/s"), Column("cause", words=True))


def document(**changes) -> Document:
    table = Table("devices", COLUMNS, (cells("a|b\x1b[2J", "1.0", "fine"), (Cell("c"), Cell("2.0", "bold red"),
                                                                          Cell(""))), caption="- a legend")
    fields = dict(heading="**hwbench test**", blocks=(table, Lines(("one note",), prefix="note: ")),
                  summary="all clean", data={"rows": [1, 2]})
    return Document(**{**fields, **changes})


def test_markdown_escapes_pipes_and_control_characters_and_aligns_figures_right():
    text = to_markdown(document())
    assert text.splitlines() == [
        "**hwbench test**", "",
        "| host | rate (GB/s) | cause |", "| --- | ---: | --- |",
        "| a\\|b\\x1b[2J | 1.0 | fine |", "| c | 2.0 |  |", "", "\\- a legend", "",
        "- one note", "",
        "**all clean**"]


def test_the_terminal_shows_every_block_in_order_without_escapes():
    out = io.StringIO()
    write_table(document(), Console(file=out, width=80, markup=False, emoji=False, highlight=False))
    text = out.getvalue()
    assert "\x1b" not in text and "a|b\\x1b[2J" in text and "GB/s" in text
    assert text.index("devices") < text.index("- a legend") < text.index("note: one note") < text.index("all clean")


def test_json_is_the_data_not_the_cells():
    assert to_json(document()) == '{\n  "rows": [\n    1,\n    2\n  ]\n}\n'


def test_prometheus_writes_only_gauges_with_samples_and_escapes_labels():
    metrics = (Metric("hwbench_x", "An x.", (({"host": 'a"b\\c\nd'}, 1.5), ({"host": "e"}, 2))),
               Metric("hwbench_empty", "Nothing.", ()))
    text = to_prometheus(document(metrics=metrics))
    (family,) = text_string_to_metric_families(text)
    assert family.name == "hwbench_x" and family.type == "gauge"
    assert [(s.labels["host"], s.value) for s in family.samples] == [('a"b\\c\nd', 1.5), ("e", 2.0)]
    assert "hwbench_empty" not in text


def test_a_row_with_a_missing_cell_is_refused():
    with pytest.raises(ValueError, match="one cell per column"):
        Table("t", COLUMNS, (cells("a", "1.0"),))


def test_a_prometheus_label_shows_a_control_character_as_its_escape():
    metrics = (Metric("hwbench_x", "An x.", (({"host": "esc\x1b[31mred\x00"}, 1.0),)),)
    text = to_prometheus(document(metrics=metrics))
    assert "\x1b" not in text and "\x00" not in text
    (family,) = text_string_to_metric_families(text)
    assert family.samples[0].labels["host"] == "esc\\x1b[31mred\\x00"
