"""The profile: schema, golden YAML, loading errors, atomic writes and the roofline model."""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from hwbench import Profile
from hwbench.errors import UsageError
from hwbench.profile import json_schema
from hwbench.profile.files import dump_yaml, write_atomic

GOLDEN = Path(__file__).parent / "golden" / "cpu-profile.yaml"


def test_profile_matches_schema(profile_data):
    jsonschema.Draft202012Validator(json_schema()).validate(profile_data)


def test_golden_yaml(profile_data):
    """A stored expected profile: any change to keys or their meaning shows up here (hyperfine's exporter
    snapshots). Regenerate with HWBENCH_UPDATE_GOLDEN=1 after a deliberate change, and bump
    schema_version if a key was renamed or removed."""
    text = dump_yaml(profile_data)
    if os.environ.get("HWBENCH_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_known_ceilings(profile_data):
    fp64 = profile_data["compute"]["fp64"]
    # 2 cores x 2600 MHz x 32 FLOP/cycle (Zen 5: 2 FMA x 8 lanes x 2)
    assert fp64["theoretical_gflops"] == pytest.approx(166.4)
    assert fp64["theoretical_at_measured_clock_gflops"] == pytest.approx(240.0)
    assert fp64["measured_gflops"] == 240.0
    assert fp64["efficiency_at_measured_clock"] == pytest.approx(1.0)
    assert fp64["flop_per_cycle"] == pytest.approx(32.0)
    dram = profile_data["memory"]["dram"]
    # triad best 36 GB/s STREAM = 48 GB/s traffic (x 32/24); copy_nt 52 GB/s, no write-allocate: copy_nt wins.
    assert dram["measured_gbps"] == pytest.approx(52.0)
    assert dram["kernel"] == "copy_nt" and dram["measured_stream_gbps"] == 52.0
    assert profile_data["ridge_point"]["fp64"] == {"theoretical": pytest.approx(166.4 / 76.8, abs=1e-3),
                                                   "measured": pytest.approx(240 / 52, abs=1e-3)}
    assert any("exceeds the theoretical peak" in w for w in profile_data["warnings"])


def test_roofline_model(profile_data):
    profile = Profile(profile_data)
    # fp64: peak 240 GFLOP/s, DRAM 52 GB/s, ridge 4.6 FLOP/byte
    assert profile.attainable(1.0, "fp64") == pytest.approx(52e9)
    assert profile.attainable(100.0, "fp64") == pytest.approx(240e9)
    assert profile.predict_time(240e9, 1e9, "fp64") == pytest.approx(1.0)
    assert profile.predict_time(1e9, 52e9, "fp64") == pytest.approx(1.0)
    assert profile.attainable(1.0, "fp64", theoretical=True) == pytest.approx(76.8e9)
    with pytest.raises(UsageError, match="no fp16"):
        profile.attainable(1.0, "fp16")


def test_round_trip_and_atomic_write(tmp_path, profile_data):
    path = tmp_path / "p.yaml"
    Profile(profile_data).save(path)
    assert Profile.load(path).data == profile_data
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"]  # no temporary file left behind


@pytest.mark.parametrize("content, message", [
    ("schema_version: 2\ndevice: {}\n", "schema_version 2"),
    ("just: a mapping\n", "not an hwbench profile"),
    ("[1, 2\n", "not valid YAML"),
    ("schema_version: 1\n", "missing"),
])
def test_load_refuses_non_profiles(tmp_path, content, message):
    path = tmp_path / "x.yaml"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        Profile.load(path)


def test_load_refuses_schema_violations(tmp_path, profile_data):
    profile_data["kernels"][0]["validated"] = False
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(profile_data))
    with pytest.raises(UsageError, match="kernels/0/validated"):
        Profile.load(path)


def test_write_atomic_refuses_missing_directory(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "p.yaml", "x")


def test_low_flop_per_cycle_names_a_cause_other_than_the_clock(monkeypatch):
    from conftest import cpu_profile, make_measurement
    from hwbench.cpu.smbios import DramTheory
    from hwbench.stats import RateSummary

    m = make_measurement()
    half = [r if r.name != "fma_fp64" else type(r)(**{**r.__dict__, "summary": RateSummary((120.0,))})
            for r in m.results]
    data = cpu_profile(type(m)(**{**m.__dict__, "results": half}), DramTheory(None, "unknown"))
    assert data["compute"]["fp64"]["flop_per_cycle"] == 16.0
    assert any("the clock is not the cause" in w and w.startswith("fp64") for w in data["warnings"])
    assert not any("the clock is not the cause" in w and w.startswith("fp32") for w in data["warnings"])


REAL_PROFILES = sorted((Path(__file__).parent / "profiles").glob("*.yaml"))


@pytest.mark.parametrize("path", REAL_PROFILES, ids=lambda p: p.name)
def test_the_fast_check_and_the_shipped_schema_agree(path):
    """hwbench checks per-sample arrays in a loop instead of through jsonschema (0.2 s per H100 profile); the
    shipped schema, which other tools use, keeps the same rule."""
    import jsonschema
    import yaml

    from hwbench.profile.format import check_profile

    data = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    check_profile(data, str(path))
    data["kernels"][0]["samples"][0] = 0.0
    assert not jsonschema.Draft202012Validator(json_schema()).is_valid(data)
    with pytest.raises(UsageError, match=r"kernels\[0\]\.samples\[0\] is 0; it must be a number greater than 0"):
        check_profile(data, str(path))
