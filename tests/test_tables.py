"""Every table at 80 columns and in a pipe: no figure is ever cut (as once happened: compare's cause
column all '…', history's '!' marks lost, "1,9…" MHz in a pipe). Golden files keep the layouts; regenerate
with HWBENCH_UPDATE_GOLDEN=1 after a deliberate change."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from rich.console import Console
from test_compare import write_pair
from test_sustain_history import save_history

from hwbench.console import TABLE_WIDTH
from hwbench.profile import Profile
from hwbench.tools.compare import compare_profiles, comparison_document
from hwbench.tools.export import rich_table
from hwbench.tools.history import build_history, load_profiles, series_table
from hwbench.tools.render import print_profile, print_table

GOLDEN = Path(__file__).parent / "golden" / "tables"
H100 = Path(__file__).parent / "profiles" / "h100-sxm-full-1.yaml"
WIDTHS = {"80": 80, "pipe": TABLE_WIDTH}


def render(draw, width: int) -> str:
    console = Console(width=width, markup=False, emoji=False, highlight=False, record=True, force_terminal=False,
                      file=open(os.devnull, "w"))
    draw(console)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def check(name: str, text: str, width: int) -> None:
    assert "…" not in text, f"{name}: a cell was cut"
    assert max(map(len, text.splitlines())) <= width, f"{name}: wider than {width} columns"
    path = GOLDEN / name
    if os.environ.get("HWBENCH_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def figures(data: dict) -> list[str]:
    """Every ceiling figure of a profile as the tables print it (1 decimal, thousands separators)."""
    values = [e["measured_gflops"] for e in data["compute"].values()] + [e["measured_gbps"] for e in
                                                                          data["memory"].values()]
    values += [e["measured_stream_gbps"] for e in data["memory"].values() if "measured_stream_gbps" in e]
    return [f"{v:,.1f}" for v in values] + [f"{e['clock_mhz']:,.0f}" for e in data["compute"].values()]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("profile", ["cpu", "h100"])
def test_show_tables_keep_every_figure(profile_data, profile, width):
    data = profile_data if profile == "cpu" else Profile.load(H100).data
    text = render(lambda console: print_profile(data, console), WIDTHS[width])
    check(f"show-{profile}-{width}.txt", text, WIDTHS[width])
    for figure in figures(data):
        assert re.search(rf"(?<![\d,.]){re.escape(figure)}(?![\d])", text), f"{figure} missing or cut"


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_table_keeps_causes(tmp_path, monkeypatch, profile_data, width):
    monkeypatch.chdir(tmp_path)
    base, cur = write_pair(tmp_path, profile_data)
    comparison = compare_profiles(Profile.load(base), Profile.load(cur), 0.05)
    table = rich_table(comparison_document(comparison).tables[0])
    text = render(lambda console: print_table(table, console), WIDTHS[width])
    check(f"compare-{width}.txt", text, WIDTHS[width])
    for cause in ("clock: -15.0% (throttling); FLOP/cycle +0.0%", "per-cycle: FLOP/cycle -10.0% at clock +0.0%"):
        assert cause in " ".join(text.split())  # whole (wrapped between words in the table layout, never cut)


@pytest.mark.parametrize("width", WIDTHS)
def test_history_table_keeps_its_marks(tmp_path, profile_data, width):
    root = tmp_path / "results"
    save_history(root, profile_data, [240.0, 238.0, 200.0])
    profiles, _ = load_profiles(root)
    series = build_history(profiles, 0.05)[0]
    text = render(lambda console: print_table(rich_table(series_table(series)), console), WIDTHS[width])
    check(f"history-{width}.txt", text.replace(str(tmp_path), "<tmp>"), WIDTHS[width])
    assert "-16.7%!" in text  # the latest run's regression mark survives at every width


def cells(table) -> list[dict[str, str]]:
    """The rows of a rich table as {header: cell text}."""
    headers = [str(column.header) for column in table.columns]
    return [dict(zip(headers, map(str, row))) for row in zip(*(column.cells for column in table.columns))]


@pytest.mark.parametrize("lucky", [False, True])
def test_every_peak_names_its_convention_and_matches_a_kernel_row(lucky):
    """Issue 11: the peaks table showed 'dram GB/s 58.2 ... scale' where scale's best in the kernels table was
    38.8 (58.2 was traffic, x 1.5). Each memory figure now names its byte convention and kernel, and is the
    kernel's ceiling (STREAM) or its traffic column in the kernels table."""
    import dataclasses

    from conftest import cpu_profile, make_measurement
    from hwbench.cpu.smbios import DramTheory
    from hwbench.stats import RateSummary
    from hwbench.tools.render import ceilings_table, kernels_table

    run = make_measurement()
    if lucky:  # triad's confirmed best (40 STREAM, 53.3 traffic) wins traffic; its lucky 60 is no headline
        run = dataclasses.replace(run, results=[dataclasses.replace(r, summary=RateSummary((35.0, 40.0, 60.0, 40.0)))
                                                if r.name == "triad" else r for r in run.results])
    data = cpu_profile(run, DramTheory(76.8, "SMBIOS type 17: test"))
    peaks = {row["ceiling"]: row for row in cells(ceilings_table(data))}
    kernels = {row["kernel"]: row for row in cells(kernels_table(data))}
    traffic, stream = peaks["dram GB/s traffic"], peaks["dram GB/s STREAM"]
    assert traffic["kernel"] == ("triad" if lucky else "copy_nt") and traffic["measured"] == kernels[traffic["kernel"]][
        "traffic"]
    assert stream["kernel"] == "copy_nt" and stream["measured"] == kernels["copy_nt"]["ceiling"] == "52.0"
    assert kernels["triad"]["best"] == ("60.0" if lucky else "36.0")
    for row in peaks.values():  # every compute figure is its kernel's ceiling too
        if row["ceiling"].endswith("GFLOP/s"):
            assert row["measured"] == kernels[row["kernel"]]["ceiling"]
