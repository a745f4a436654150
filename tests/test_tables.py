"""Every table at 80 columns and in a pipe: no figure is ever cut (issue 10, item 6; issue 11: compare's cause
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
from hwbench.tools.compare import compare_profiles
from hwbench.tools.history import build_history, load_profiles
from hwbench.tools.render import comparison_table, print_profile, print_table

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
    text = render(lambda console: print_table(comparison_table(comparison), console), WIDTHS[width])
    check(f"compare-{width}.txt", text, WIDTHS[width])
    for cause in ("throttling: clock -15.0%, FLOP/cycle +0.0%", "not the clock: clock +0.0%, FLOP/cycle -10.0%"):
        assert cause in " ".join(text.split())  # whole (wrapped between words in the table layout, never cut)


@pytest.mark.parametrize("width", WIDTHS)
def test_history_table_keeps_its_marks(tmp_path, profile_data, width):
    from hwbench.tools.render import history_table

    root = tmp_path / "results"
    save_history(root, profile_data, [240.0, 238.0, 200.0])
    profiles, _ = load_profiles(root)
    series = build_history(profiles, 0.05)[0]
    text = render(lambda console: print_table(history_table(series), console), WIDTHS[width])
    check(f"history-{width}.txt", text.replace(str(tmp_path), "<tmp>"), WIDTHS[width])
    assert "-16.7%!" in text  # the latest run's regression mark survives at every width
