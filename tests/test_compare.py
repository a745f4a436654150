"""hwbench compare: the noise-aware gate on hand-made profiles with known numbers (golden outputs)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwbench import Profile
from hwbench.cli import app
from hwbench.tools.compare import (
    IMPROVED,
    INCONCLUSIVE,
    REGRESSED,
    UNCHANGED,
    Ceiling,
    compare_row,
    parse_threshold,
    reference_clock_mhz,
    top_spread,
)

GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()


def degraded(profile_data: dict) -> dict:
    """The hand-made profile after a bad day: fp64 throttled (clock -15%), fp32 lost 10% at the same clock
    (FLOP/cycle -10%), DRAM 3% slower (under the 5% threshold), the clock 15% lower."""
    current = copy.deepcopy(profile_data)
    current["created_at"] = "2026-11-23T12:00:00Z"
    fp64, fp32 = current["compute"]["fp64"], current["compute"]["fp32"]
    fp64["measured_gflops"] = 204.0  # 240 x 0.85
    fp64["clock_mhz"] = 3187.5  # 3750 x 0.85
    fp32["measured_gflops"] = 432.0  # 480 x 0.9
    fp32["flop_per_cycle"] = round(fp32["flop_per_cycle"] * 0.9, 2)
    current["memory"]["dram"]["measured_gbps"] = 50.44  # 52 x 0.97
    current["clock"]["measured_mhz"] = 3187.5
    return current


def write_pair(tmp_path, profile_data) -> tuple[str, str]:
    Profile(profile_data).save(tmp_path / "base.yaml")
    Profile(degraded(profile_data)).save(tmp_path / "cur.yaml")
    return "base.yaml", "cur.yaml"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("HWBENCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("fmt, golden", [("table", "compare-table.txt"), ("markdown", "compare.md"),
                                         ("json", "compare.json")])
def test_golden_outputs_and_exit_1_on_regression(tmp_path, monkeypatch, profile_data, fmt, golden):
    monkeypatch.chdir(tmp_path)
    base, cur = write_pair(tmp_path, profile_data)
    result = runner.invoke(app, ["compare", base, cur, "--format", fmt])
    assert result.exit_code == 1, result.output
    check_golden(golden, result.stdout)


def test_verdicts_and_causes(tmp_path, monkeypatch, profile_data):
    monkeypatch.chdir(tmp_path)
    base, cur = write_pair(tmp_path, profile_data)
    result = json.loads(runner.invoke(app, ["compare", base, cur, "-f", "json"]).stdout)
    rows = {row["key"]: row for row in result["rows"]}
    assert result["regressed"] is True
    assert rows["compute.fp64"]["verdict"] == REGRESSED
    assert rows["compute.fp64"]["cause"] == "clock: -15.0% (throttling); FLOP/cycle +0.0%"
    assert rows["compute.fp64"]["change"] == pytest.approx(-0.15)
    assert rows["compute.fp32"]["verdict"] == REGRESSED
    assert rows["compute.fp32"]["cause"].startswith("per-cycle: FLOP/cycle -10.0% at clock +0.0%")
    assert rows["memory.dram"]["verdict"] == UNCHANGED  # -3% is under the 5% threshold
    assert rows["clock"]["verdict"] == REGRESSED


def test_same_profile_passes_and_threshold_matters(tmp_path, monkeypatch, profile_data):
    monkeypatch.chdir(tmp_path)
    base, cur = write_pair(tmp_path, profile_data)
    assert runner.invoke(app, ["compare", base, base]).exit_code == 0
    assert runner.invoke(app, ["compare", base, cur, "--threshold", "20%"]).exit_code == 0
    assert runner.invoke(app, ["compare", base, cur, "--threshold", "12"]).exit_code == 1


@pytest.mark.parametrize("args, message", [
    (["missing.yaml", "base.yaml"], "no such file"),
    (["notprofile.yaml", "base.yaml"], "not an hwbench profile"),
    (["v2.yaml", "base.yaml"], "schema_version 2"),
    (["base.yaml", "gpu.yaml"], "different devices"),
    (["base.yaml", "base.yaml", "--threshold", "abc"], "not a number"),
    (["base.yaml", "base.yaml", "--threshold", "150%"], "between 0% and 100%"),
])
def test_bad_input_exits_2(tmp_path, monkeypatch, profile_data, args, message):
    monkeypatch.chdir(tmp_path)
    Profile(profile_data).save(tmp_path / "base.yaml")
    (tmp_path / "notprofile.yaml").write_text("a: 1\n")
    (tmp_path / "v2.yaml").write_text("schema_version: 2\n")
    other = copy.deepcopy(profile_data)
    other["device"].update(id="cuda:0", name="NVIDIA H100 80GB HBM3")
    Profile(other).save(tmp_path / "gpu.yaml")
    result = runner.invoke(app, ["compare", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_force_compares_different_devices(tmp_path, monkeypatch, profile_data):
    monkeypatch.chdir(tmp_path)
    Profile(profile_data).save(tmp_path / "base.yaml")
    other = copy.deepcopy(profile_data)
    other["device"]["name"] = "AMD EPYC 9655"
    Profile(other).save(tmp_path / "other.yaml")
    result = runner.invoke(app, ["compare", "base.yaml", "other.yaml", "--force"])
    assert result.exit_code == 0 and "different devices compared" in result.stdout


def test_noise_band_hides_a_drop_inside_the_recorded_spread():
    base = Ceiling("memory.dram", "GB/s", 100.0, 0.08)
    current = Ceiling("memory.dram", "GB/s", 93.0, 0.06)
    row = compare_row(base, current, 0.05)  # -7% against a band of hypot(8%, 6%) = 10%
    assert row.verdict == INCONCLUSIVE and row.noise == pytest.approx(0.10)
    assert compare_row(base, Ceiling("memory.dram", "GB/s", 85.0, 0.06), 0.05).verdict == REGRESSED
    assert compare_row(base, Ceiling("memory.dram", "GB/s", 115.0, 0.0), 0.05).verdict == IMPROVED


def test_top_spread_ignores_a_single_slow_sample():
    samples = [100.0] * 9 + [99.0] * 9 + [10.0]  # one descheduled repetition
    assert top_spread(samples) == pytest.approx(0.01)  # ceiling 100, median 99: the slow sample is not counted
    assert top_spread([90.0, 95.0, 100.0, 96.0]) == pytest.approx((96 - 95.5) / 96)  # ceiling 96, median 95.5
    assert top_spread([42.0]) == 0.0


def test_top_spread_ignores_a_single_lucky_sample():
    """The band describes the samples around the headline (ceiling vs median); a lucky sample lies above the
    ceiling and cannot widen it (nor narrow it)."""
    samples = [100.0, 99.0, 98.0, 97.0, 96.0] * 4
    assert top_spread(samples + [180.0]) == pytest.approx(top_spread(samples), abs=0.002)
    assert top_spread(samples) == pytest.approx((100 - 98) / 100)


def test_noise_on_the_new_rule_separates_a_regression_from_noise(profile_data):
    """compare reads the band from each profile's samples: a DRAM drop of 8% against samples that spread 1%
    is a regression; the same drop against samples that spread 10% around the headline is noise."""
    from hwbench.tools.compare import compare_profiles

    def with_dram(samples: list[float]) -> Profile:
        data = copy.deepcopy(profile_data)
        kernel = next(k for k in data["kernels"] if k["name"] == "copy_nt")
        kernel.update(samples=samples, ceiling=sorted(samples)[-2], best=max(samples), median=sorted(samples)[2])
        data["memory"]["dram"].update(measured_gbps=sorted(samples)[-2], noise=top_spread(samples))
        return Profile(data)

    tight = with_dram([52.0, 51.8, 51.6, 51.5, 51.4])  # ceiling 51.8, median 51.6: ±0.4%
    worse = with_dram([47.7, 47.6, 47.5, 47.4, 47.3])  # ceiling 47.6: -8.1%
    rows = {r.key: r for r in compare_profiles(tight, worse).rows}
    assert rows["memory.dram"].verdict == REGRESSED
    noisy = with_dram([60.0, 52.0, 50.0, 46.0, 44.0])  # a lucky 60 is not the headline: ceiling 52, ±3.8%
    noisy_worse = with_dram([47.7, 47.6, 42.0, 41.0, 40.0])  # ceiling 47.6, median 42: ±11.8%
    rows = {r.key: r for r in compare_profiles(noisy, noisy_worse).rows}
    assert rows["memory.dram"].change == pytest.approx(47.6 / 52.0 - 1)  # -8.5%, inside hypot(3.8%, 11.8%)
    assert rows["memory.dram"].verdict == INCONCLUSIVE


def test_old_profiles_without_ceilings_compare_with_a_note(profile_data):
    """A profile written before the confirmed-best rule (no headline_rule, no kernels[].ceiling) still loads and
    compares; its spread comes from its samples, and a note says the rules differ."""
    from hwbench.tools.compare import compare_profiles

    old = copy.deepcopy(profile_data)
    del old["headline_rule"]
    for kernel in old["kernels"]:
        del kernel["ceiling"]
    comparison = compare_profiles(Profile(old), Profile(profile_data))
    assert {row.verdict for row in comparison.rows} == {UNCHANGED}
    assert any("different rules" in note for note in comparison.notes)
    assert not any("different rules" in n for n in compare_profiles(Profile(old), Profile(old)).notes)


@pytest.mark.parametrize("text, value", [("5%", 0.05), ("5", 0.05), ("0.05", 0.05), ("12.5%", 0.125)])
def test_parse_threshold(text, value):
    assert parse_threshold(text) == pytest.approx(value)


REAL = Path(__file__).parent / "profiles"


def test_two_real_h100_runs_compare_clean():
    """Two full runs of one H100 SXM two minutes apart (tests/profiles, unedited hwbench 0.1.0 output): the
    tensor GEMMs ran power-capped at different clocks, which must not read as a clock change."""
    result = runner.invoke(app, ["compare", str(REAL / "h100-sxm-full-1.yaml"), str(REAL / "h100-sxm-full-2.yaml"),
                                 "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["key"]: row for row in json.loads(result.stdout)["rows"]}
    assert {row["verdict"] for row in rows.values()} == {"ok"}
    # The clock row follows the fp32 FMA kernel (1980 MHz in both), not the lowest tensor clock (1380 vs 1425).
    assert rows["clock"]["baseline"] == rows["clock"]["current"] == 1980.0


def test_clock_row_follows_the_fma_ceiling_not_the_lowest_kernel():
    base = Profile.load(REAL / "h100-sxm-full-1.yaml")
    assert base.data["clock"]["measured_mhz"] == 1380.0  # the old definition: lowest over every kernel
    assert reference_clock_mhz(base.data) == base.data["compute"]["fp32"]["clock_mhz"] == 1980.0


def test_two_cpus_of_one_name_but_another_family_are_different_devices(tmp_path):
    """"AMD EPYC" names the CI's Zen 3 (family 25 model 1) and Zen 5 (family 26 model 2) alike: the gate tells
    them apart by the family and model numbers, and history keeps them as two series."""
    results = Path(__file__).resolve().parents[1] / "results"
    zen3, zen5 = results / "ci-kvm-amd-epyc-zen3-2c.yaml", results / "ci-kvm-amd-epyc-zen5-2c.yaml"
    result = CliRunner().invoke(app, ["compare", str(zen3), str(zen5)])
    assert result.exit_code == 2
    assert "'AMD EPYC (family 25 model 1)' but" in result.stderr and "--force" in result.stderr
    from hwbench.tools.history import build_history

    series = build_history([Profile.load(zen3), Profile.load(zen5)], 0.05)
    assert sorted(s.name for s in series) == ["AMD EPYC (family 25 model 1)", "AMD EPYC (family 26 model 2)"]
