"""Sustained-run summaries on synthetic timelines, run --save, and hwbench history."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from typer.testing import CliRunner

from hwbench import Profile, cli
from hwbench.profile import json_schema
from hwbench.profile.sustained import summarize_timeline, sustain_warnings, sustained_section
from hwbench.run import path as run_path
from hwbench.stats import Timeline

runner = CliRunner()


def timeline(rates, clocks=None) -> Timeline:
    line = Timeline("fma_fp64", "GFLOP/s")
    for i, rate in enumerate(rates):
        line.add(float(i), rate, clocks[i] if clocks else None)
    return line


def test_throttling_timeline():
    # 10 s at 100 GFLOP/s and 3.0 GHz, then 10 s at 80 and 2.4 GHz: a 20% drop that began at t = 10 s.
    entry = summarize_timeline(timeline([100.0] * 10 + [80.0] * 10, [3000.0] * 10 + [2400.0] * 10))
    assert entry["burst"] == 100.0 and entry["sustained"] == 80.0
    assert entry["drop_percent"] == pytest.approx(20.0) and entry["drop_began_s"] == 10.0
    assert entry["clock_burst_mhz"] == 3000.0 and entry["clock_sustained_mhz"] == 2400.0
    assert entry["timeline"]["clock_mhz"][-1] == 2400.0


def test_one_slow_sample_is_not_a_drop():
    entry = summarize_timeline(timeline([100.0, 70.0] + [99.0] * 18))
    assert entry["drop_percent"] == pytest.approx(1.0) and entry["drop_began_s"] is None
    assert "clock_mhz" not in entry["timeline"]  # no clock was sampled


def test_section_validates_and_warns():
    section = sustained_section([timeline([100.0] * 5 + [60.0] * 5)], 10.0, 1.0, "test clock")
    (warning,) = sustain_warnings(section)
    assert "100.0 -> 60.0 GFLOP/s (40.0% drop from t = 5 s)" in warning


def test_sustain_options_are_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args, message in ((["--sustain", "0"], "positive number of seconds"),
                          (["--sustain", "5", "--interval", "0.01"], "--interval 0.01 must be between"),
                          (["--sustain", "1", "--interval", "2"], "--interval 2 must be between")):
        result = runner.invoke(cli.app, ["run", "--device", "cpu", *args])
        assert result.exit_code == 2 and message in result.stderr, result.output
    assert list(tmp_path.iterdir()) == []


def fake_measure(profile_data):
    def measure(*args, **kwargs):
        return copy.deepcopy(profile_data)
    return measure


def test_run_save_writes_the_history_layout(tmp_path, monkeypatch, profile_data):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_path, "measure", fake_measure(profile_data))
    for _ in range(2):
        result = runner.invoke(cli.app, ["run", "--device", "cpu", "--save", "-o", "p.yaml"])
        assert result.exit_code == 0, result.output
    saved = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "hwbench-results").rglob("*.yaml"))
    assert saved == ["hwbench-results/testhost/cpu/20261122T120000Z-1.yaml",
                     "hwbench-results/testhost/cpu/20261122T120000Z.yaml"]
    assert Profile.load(tmp_path / saved[0]).data == profile_data


def save_history(root, profile_data, fp64_values):
    directory = root / "testhost" / "cpu"
    directory.mkdir(parents=True)
    for day, value in enumerate(fp64_values, start=20):
        data = copy.deepcopy(profile_data)
        data["created_at"] = f"2026-11-{day}T12:00:00Z"
        data["compute"]["fp64"]["measured_gflops"] = value
        Profile(data).save(directory / f"{day}.yaml")


def test_history_flags_the_latest_regression(tmp_path, profile_data):
    save_history(tmp_path / "results", profile_data, [240.0, 238.0, 200.0])
    (tmp_path / "results" / "notes.yaml").write_text("not: a profile\n")
    result = runner.invoke(cli.app, ["history", str(tmp_path / "results")])
    assert result.exit_code == 1, result.output
    assert "3 runs, baseline 2026-11-20T12:00:00Z" in result.stdout
    assert "200.0 -16.7%!" in result.stdout and "238.0 -0.8%" in result.stdout
    assert "REGRESSION in the latest run of cpu on testhost: compute.fp64" in result.stdout
    assert "skipped" in result.stderr and "notes.yaml" in result.stderr


def test_history_with_a_chosen_baseline_and_no_regression(tmp_path, profile_data):
    save_history(tmp_path / "results", profile_data, [200.0, 238.0, 240.0])
    baseline = tmp_path / "results" / "testhost" / "cpu" / "21.yaml"
    result = runner.invoke(cli.app, ["history", str(tmp_path / "results"), "--baseline", str(baseline)])
    assert result.exit_code == 0, result.output
    assert "baseline 2026-11-21T12:00:00Z" in result.stdout and "2026-11-21T12:00:00Z *" in result.stdout


def test_history_as_json_and_markdown_holds_the_same_rows(tmp_path, profile_data):
    save_history(tmp_path / "results", profile_data, [240.0, 238.0, 200.0])
    result = runner.invoke(cli.app, ["history", str(tmp_path / "results"), "-f", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    (series,) = data["series"]
    assert data["regressed"] is True and series["latest_regressed"] == ["compute.fp64"]
    assert series["regressed_since"] == {"compute.fp64": "2026-11-22T12:00:00Z"}
    latest = {row["key"]: row for row in series["runs"][-1]["rows"]}
    assert latest["compute.fp64"]["current"] == 200.0 and latest["compute.fp64"]["verdict"] == "REGRESSED"
    markdown = runner.invoke(cli.app, ["history", str(tmp_path / "results"), "-f", "markdown"]).stdout
    assert "**AMD EPYC 9555 (cpu) on testhost: 3 runs, baseline 2026-11-20T12:00:00Z**" in markdown
    assert "| 2026-11-22T12:00:00Z | 200.0 -16.7%! |" in markdown and "| compute.fp64 (GFLOP/s) |" in markdown
    assert "\\* baseline." in markdown and "- REGRESSION in the latest run of cpu on testhost" in markdown


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "not a directory"),
    (lambda root: root.mkdir(), "no hwbench profiles found"),
])
def test_history_bad_input(tmp_path, make, message):
    root = tmp_path / "results"
    make(root)
    result = runner.invoke(cli.app, ["history", str(root)])
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.slow
def test_real_sustained_run_is_in_the_profile(tmp_path):
    out = tmp_path / "s.yaml"
    result = runner.invoke(cli.app, ["run", "--device", "cpu", "--quick", "--kernels", "fma_fp64,triad",
                                     "--sustain", "1", "--interval", "0.25", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = Profile.load(out).data
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    fma, triad = data["sustained"]["kernels"]["fma_fp64"], data["sustained"]["kernels"]["triad"]
    assert fma["samples"] >= 3 and all(c > 100 for c in fma["timeline"]["clock_mhz"])
    assert triad["unit"] == "GB/s" and triad["sustained"] > 0
    assert "sustained run" in result.stdout
