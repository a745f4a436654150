"""hwbench fleet: synthetic fleets derived from real profiles, with a few planted slow devices.

Every device gets small multiplicative noise (seeded, uniform within ±1%) on every measured ceiling and
clock; planted devices lose more: "throttled" (compute -15% with its clock -15%; on GPUs the kernels also
record NVML reasons), "fpc" (compute -12% at the same clock), "memory" (memory.dram -10%).
"""

from __future__ import annotations

import copy
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from hwbench.cli import app
from hwbench.tools.export import to_json, to_markdown, to_prometheus
from hwbench.tools.fleet import (
    K_MAD,
    MAD_SCALE,
    Member,
    Reading,
    fleet_document,
    fleet_report,
    load_fleet,
    robust_sigma,
)

HERE = Path(__file__).parent
BASES = {"gpu": HERE / "profiles" / "h100-sxm-full-1.yaml", "cpu": HERE / "golden" / "cpu-profile.yaml"}
THROTTLE_REASONS = ["hw_slowdown", "sw_thermal"]
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
runner = CliRunner()


def _base(kind: str) -> dict:
    return yaml.load(BASES[kind].read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def synthesize(base: dict, index: int, rng: np.random.Generator, plant: str | None = None) -> dict:
    """One synthetic device derived from ``base``: noise within ±1% on every ceiling and clock, and a plant."""
    data = copy.deepcopy(base)
    gpu = data["device"]["id"] != "cpu"
    data["host"] = f"node{index // 8:04d}" if gpu else f"node{index:04d}"
    if gpu:
        data["device"]["id"] = f"cuda:{index % 8}"

    def noise() -> float:
        return 1 + rng.uniform(-0.01, 0.01)

    kernels = {kernel["name"]: kernel for kernel in data["kernels"]}
    for entry in data["compute"].values():
        value, clock = noise(), noise()
        if plant == "throttled":
            value, clock = value * 0.85, clock * 0.85
        elif plant == "fpc":
            value *= 0.88
        entry["measured_gflops"] = round(entry["measured_gflops"] * value, 3)
        if entry.get("clock_mhz"):
            entry["clock_mhz"] = round(entry["clock_mhz"] * clock, 1)
        if entry.get("flop_per_cycle"):
            entry["flop_per_cycle"] = round(entry["flop_per_cycle"] * value / clock, 2)
        if plant == "throttled" and gpu:
            entry["throttled"] = True
            telemetry = kernels[entry["kernel"]]["details"]["telemetry"]
            telemetry["clock_event_reasons"] = sorted(set(telemetry["clock_event_reasons"]) | set(THROTTLE_REASONS))
    for level, entry in data["memory"].items():
        if entry.get("measured_gbps") is None:
            continue
        value, clock = noise(), noise()
        if plant == "memory" and level == "dram":
            value *= 0.90
        entry["measured_gbps"] = round(entry["measured_gbps"] * value, 3)
        if entry.get("clock_mhz"):
            entry["clock_mhz"] = round(entry["clock_mhz"] * clock, 1)
        if entry.get("bytes_per_cycle"):
            entry["bytes_per_cycle"] = round(entry["bytes_per_cycle"] * value / clock, 1)
    clocks = [e["clock_mhz"] for p, e in data["compute"].items() if not p.startswith("tensor_") and e.get("clock_mhz")]
    data["clock"]["measured_mhz"] = min(clocks)
    return data


def make_fleet(tmp_path: Path, n: int, planted: dict[int, str], kind: str = "gpu", seed: int = 13) -> Path:
    """``n`` synthetic profiles of ``kind`` under ``tmp_path/kind``, laid out as 'run --save' does
    (host/device/stamp.yaml); ``planted`` maps a device index to "throttled", "fpc" or "memory"."""
    base, rng = _base(kind), np.random.default_rng(seed)
    root = tmp_path / kind
    for index in range(n):
        data = synthesize(base, index, rng, planted.get(index))
        path = root / data["host"] / data["device"]["id"].replace(":", "") / "20261122T174313Z.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=110))
    return root


def device_of(index: int, kind: str) -> tuple[str, str]:
    return (f"node{index // 8:04d}", f"cuda:{index % 8}") if kind == "gpu" else (f"node{index:04d}", "cpu")


PLANTED = {3: "throttled", 10: "fpc", 17: "memory"}


@pytest.fixture(scope="module")
def gpu_fleet(tmp_path_factory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("fleet"), 24, PLANTED, "gpu")


@pytest.fixture(scope="module")
def cpu_fleet(tmp_path_factory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("fleet"), 12, {2: "throttled", 5: "fpc", 9: "memory"}, "cpu")


def flags_by_device(report) -> dict[tuple[str, str], dict[str, str]]:
    found: dict[tuple[str, str], dict[str, str]] = {}
    for flag in report.flags:
        found.setdefault((flag.host, flag.device), {})[flag.ceiling] = flag.cause
    return found


@pytest.mark.parametrize("kind, planted", [("gpu", PLANTED), ("cpu", {2: "throttled", 5: "fpc", 9: "memory"})])
def test_every_planted_device_is_flagged_with_its_cause(kind, planted, gpu_fleet, cpu_fleet):
    members, skipped = load_fleet([gpu_fleet if kind == "gpu" else cpu_fleet], workers=1)
    report = fleet_report(members)
    assert skipped == [] and len(report.groups) == 1 and report.groups[0].judged
    found = flags_by_device(report)
    assert set(found) == {device_of(index, kind) for index in planted}
    assert report.groups[0].flagged_devices == len(planted)
    for index, plant in planted.items():
        causes = found[device_of(index, kind)]
        compute = {key: cause for key, cause in causes.items() if key.startswith("compute.")}
        if plant == "throttled":
            assert compute and all(cause.startswith("throttling (clock -1") for cause in compute.values())
            assert causes["clock"].startswith("throttling (clock -1")
            if kind == "gpu":  # the NVML reasons recorded with the kernel are named
                assert all("NVML: " in c and all(r in c for r in THROTTLE_REASONS) for c in compute.values())
        elif plant == "fpc":
            assert compute and all(cause.startswith("not the clock (FLOP/cycle -1") for cause in compute.values())
            assert "clock" not in causes
        else:
            assert set(causes) == {"memory.dram"}
            if kind == "gpu":  # HBM records its clock: bytes per cycle fell, not the memory clock
                assert causes["memory.dram"].startswith("not the clock (bytes/cycle -")


def test_a_clean_fleet_has_no_flags(tmp_path):
    report = fleet_report(load_fleet([make_fleet(tmp_path, 12, {}, "cpu")])[0])
    assert not report.flagged and report.flags == [] and report.groups[0].devices == 12


def test_models_and_kinds_form_separate_groups(gpu_fleet, cpu_fleet):
    members, _ = load_fleet([gpu_fleet, cpu_fleet, gpu_fleet])  # a folder given twice is read once
    report = fleet_report(members)
    assert sorted((g.kind, g.devices) for g in report.groups) == [("cpu", 12), ("cuda", 24)]
    assert len({(f.host, f.device) for f in report.flags}) == 6


def test_only_the_newest_run_of_a_device_counts(tmp_path):
    root = make_fleet(tmp_path, 6, {0: "fpc"}, "cpu")
    fixed = copy.deepcopy(yaml.safe_load(next((root / "node0001").rglob("*.yaml")).read_text()))
    fixed["host"], fixed["created_at"] = "node0000", "2026-11-23T12:00:00Z"  # node0000 measured again, healthy
    (root / "node0000" / "cpu" / "20261123T120000Z.yaml").write_text(yaml.safe_dump(fixed, sort_keys=False))
    report = fleet_report(load_fleet([root])[0])
    assert not report.flagged and len(report.devices) == 6
    assert any("1 older profile" in note for note in report.notes)


def member(host: str, value: float, clock: float = 2000.0, model: str = "X") -> Member:
    reading = Reading(value, "GFLOP/s", clock, value / clock)
    return Member(host, "cuda:0", model, "cuda", None, f"{host}.yaml", "2026-11-22T00:00:00Z", False,
                  {"compute.fp32": reading, "clock": Reading(clock, "MHz", clock)})


def test_both_the_threshold_and_k_robust_sigmas_must_be_exceeded():
    assert robust_sigma([1, 2, 3, 4, 100]) == pytest.approx(MAD_SCALE * 1)
    # A tight group: 6% below the median is beyond 5% and beyond 3 sigma -> flagged.
    tight = [member(f"n{i}", 100 + (i % 3 - 1) * 0.5) for i in range(9)] + [member("slow", 94)]
    assert [f.host for f in fleet_report(tight).flags] == ["slow"]
    # A noisy group (sigma about 4.4%): 6% below is inside 3 sigma -> not flagged.
    noisy = [member(f"n{i}", 100 + (i % 3 - 1) * 3) for i in range(9)] + [member("slow", 94)]
    assert fleet_report(noisy).flags == []
    # A very tight group: 3% below is beyond 3 sigma but inside the 5% threshold -> not flagged.
    assert fleet_report([member(f"n{i}", 100.0) for i in range(9)] + [member("slow", 97)]).flags == []
    # Fewer than 3 devices: no robust median, a note, no flags.
    small = fleet_report([member("a", 100), member("b", 50)])
    assert small.flags == [] and "not judged" in small.notes[0]


def test_500_devices_in_memory_find_exactly_the_planted_ones():
    rng = random.Random(5)
    planted = {17: (0.85, 0.85), 230: (0.88, 1.0), 499: (0.80, 0.99)}  # (value, clock) factors
    members = []
    for i in range(500):
        value, clock = planted.get(i, (1.0, 1.0))
        clock_mhz = 1980 * clock * (1 + rng.uniform(-0.01, 0.01))
        members.append(member(f"n{i:03d}", 59000 * value * (1 + rng.uniform(-0.01, 0.01)), clock_mhz, "H100"))
    report = fleet_report(members)
    found = flags_by_device(report)
    assert set(found) == {(f"n{i:03d}", "cuda:0") for i in planted}
    assert found[("n017", "cuda:0")]["compute.fp32"].startswith("throttling (clock -1")
    assert found[("n230", "cuda:0")]["compute.fp32"].startswith("not the clock (FLOP/cycle -1")
    assert found[("n499", "cuda:0")]["compute.fp32"].startswith("not the clock (FLOP/cycle -1")


def test_exporters(gpu_fleet):
    report = fleet_report(load_fleet([gpu_fleet])[0])
    document = fleet_document(report)
    header, *body = document.tables[1].text_rows()
    assert header[:3] == ["host", "device", "ceiling"] and len(body) == len(report.flags)
    data = json.loads(to_json(document))
    assert data["flagged"] is True and data["k"] == K_MAD and data["devices"] == 24
    assert {(f["host"], f["device"]) for f in data["flags"]} == {device_of(i, "gpu") for i in PLANTED}
    markdown = to_markdown(document)
    assert markdown.startswith("**hwbench fleet**") and "| node0000 | cuda:3 |" in markdown
    assert markdown.rstrip().endswith("**") and "FLAGGED: 3 of 24 devices" in markdown


def test_prometheus_parses_back_with_every_ceiling(gpu_fleet):
    members, _ = load_fleet([gpu_fleet])
    odd = copy.deepcopy(members[0])
    odd = Member('we"ird\\host\nx', odd.device, odd.model, odd.kind, odd.threads, odd.source, odd.created_at,
                  odd.quick, odd.readings)
    report = fleet_report([*members[1:], odd])
    families = {family.name: family for family in text_string_to_metric_families(to_prometheus(fleet_document(report)))}
    assert all(families[name].type == "gauge" for name in families)
    ceilings, flagged = families["hwbench_ceiling"].samples, families["hwbench_flagged"].samples
    expected = sum(len(m.readings) for m in report.devices)
    assert len(ceilings) == len(flagged) == expected
    by_device = {(m.host, m.device): m for m in report.devices}
    for sample in ceilings:
        reading = by_device[sample.labels["host"], sample.labels["device"]].readings[sample.labels["ceiling"]]
        assert math.isclose(sample.value, reading.value) and sample.labels["unit"] == reading.unit
    ones = {(s.labels["host"], s.labels["device"], s.labels["ceiling"]) for s in flagged if s.value == 1}
    assert ones == {(f.host, f.device, f.ceiling) for f in report.flags}
    assert 'we"ird\\host\nx' in {s.labels["host"] for s in ceilings}  # escaped and read back intact
    assert len(families["hwbench_profile_created_seconds"].samples) == 24
    assert len(families["hwbench_fleet_median"].samples) == len(report.groups[0].medians)


def invoke(*args: str):
    return runner.invoke(app, ["fleet", *args])


def test_cli_exit_codes_and_formats(tmp_path, gpu_fleet, cpu_fleet):
    clean = make_fleet(tmp_path, 6, {}, "cpu")
    result = invoke(str(clean))
    assert result.exit_code == 0, result.output
    assert "fleet clean: none of 6 devices" in result.stdout
    result = invoke(str(gpu_fleet), str(cpu_fleet))
    assert result.exit_code == 1 and "FLAGGED: 6 of 36 devices" in result.stdout
    assert "throttling (clock" in result.stdout and "not the clock" in result.stdout
    result = invoke(str(gpu_fleet), "-f", "json", "--threshold", "5%")
    assert result.exit_code == 1 and json.loads(result.stdout)["threshold"] == 0.05
    result = invoke(str(gpu_fleet), "--format", "markdown")
    assert result.exit_code == 1 and result.stdout.startswith("**hwbench fleet**")
    metrics = tmp_path / "textfile" / "hwbench.prom"
    metrics.parent.mkdir()
    result = invoke(str(cpu_fleet), "--prometheus", str(metrics))
    assert result.exit_code == 1 and "written to" in result.stderr
    assert [p.name for p in metrics.parent.iterdir()] == ["hwbench.prom"]  # no temporary file left
    assert len(list(text_string_to_metric_families(metrics.read_text()))) == 4


def test_cli_prints_host_names_as_they_are(tmp_path):
    root = make_fleet(tmp_path, 4, {1: "fpc"}, "cpu")
    path = next((root / "node0001").rglob("*.yaml"))
    data = yaml.safe_load(path.read_text())
    data["host"] = "[bold]rack:3[/bold] :smile:"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = invoke(str(root))
    assert result.exit_code == 1 and "[bold]rack:3[/bold] :smile:" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["{empty}"], "no hwbench profiles found"),
    (["{empty}/nosuch"], "not a directory"),
    (["{fleet}", "--threshold", "0"], "must be between 0% and 100%"),
    (["{fleet}", "--threshold", "abc"], "is not a number"),
    (["{fleet}", "--prometheus", "/nonexistent-dir/x.prom"], "does not exist"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, cpu_fleet, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.yaml").write_text("hello: world\n")
    result = invoke(*(a.format(empty=empty, fleet=cpu_fleet) for a in args))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("hwbench: error:") and message in lines[-1]
    assert "Traceback" not in result.output


def test_cli_without_a_folder_is_one_line_and_exit_2():
    result = subprocess.run([sys.executable, "-m", "hwbench", "fleet"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "hwbench: error: Missing argument 'DIR'; see 'hwbench fleet --help'"


def test_files_that_are_not_profiles_are_skipped_with_a_warning(tmp_path):
    root = make_fleet(tmp_path, 4, {}, "cpu")
    (root / "notes.yaml").write_text("hello: world\n")
    (root / "broken.yaml").write_text("a: [\n")
    result = invoke(str(root))
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("hwbench: warning: skipped")]
    assert len(warnings) == 2 and any("not valid YAML" in line for line in warnings)


# Latencies (lower is better) and the instruction peaks (each in its own unit) ---------------------------------

ZEN5 = HERE / "profiles" / "ci-kvm-amd-epyc-zen5-2c-2026-12-02-2317.yaml"  # a latency at every level (README there)
LATENCY_PLANTS = {2: "dram_latency", 5: "l1_clock", 7: "int8", 9: "faster_dram"}


def latency_fleet(tmp_path: Path, n: int, planted: dict[int, str], seed: int = 3) -> Path:
    """``n`` CPUs from a real Zen 5 profile with latencies and instruction peaks, noise within ±1% on each;
    plants: "dram_latency" (DRAM +25% at the same clock: more cycles), "l1_clock" (L1 at a 15% lower clock, the
    same cycles), "int8" (dp_int8 -15% at the same clock) and "faster_dram" (DRAM -25%: better, never flagged)."""
    base = yaml.load(ZEN5.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    rng = np.random.default_rng(seed)
    root = tmp_path / "zen5"
    for index in range(n):
        data, plant = copy.deepcopy(base), planted.get(index)
        data["host"] = f"node{index:04d}"
        for level, entry in data["memory"].items():
            ns, clock = 1 + rng.uniform(-0.01, 0.01), 1 + rng.uniform(-0.01, 0.01)
            if (plant, level) == ("dram_latency", "dram"):
                ns *= 1.25
            elif (plant, level) == ("faster_dram", "dram"):
                ns *= 0.75
            elif (plant, level) == ("l1_clock", "l1"):
                clock *= 0.85
                ns /= 0.85
            entry["latency_ns"] = round(entry["latency_ns"] * ns, 3)
            entry["latency_clock_mhz"] = round(entry["latency_clock_mhz"] * clock, 1)
            entry["latency_cycles"] = round(entry["latency_cycles"] * ns * clock, 2)  # ns = cycles / clock
        for name, entry in data["instruction_peaks"]["peaks"].items():
            value = (1 + rng.uniform(-0.01, 0.01)) * (0.85 if (plant, name) == ("int8", "dp_int8") else 1)
            entry["measured"] = round(entry["measured"] * value, 3)
            if entry.get("op_per_cycle") is not None:  # None where the profile flagged it above the hardware's
                entry["op_per_cycle"] = round(entry["op_per_cycle"] * value, 2)
        path = root / data["host"] / "cpu" / "20261202T084802Z.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=110))
    return root


def test_a_latency_above_the_median_and_a_low_instruction_peak_are_flagged_with_their_cause(tmp_path):
    members, skipped = load_fleet([latency_fleet(tmp_path, 12, LATENCY_PLANTS)], workers=1)
    report = fleet_report(members)
    assert skipped == [] and report.groups[0].judged
    found = {(f.host, f.ceiling): f for f in report.flags}
    assert set(found) == {("node0002", "latency.dram"), ("node0005", "latency.l1"), ("node0007", "instruction.dp_int8")}
    dram = found["node0002", "latency.dram"]
    assert dram.unit == "ns" and dram.direction == -1 and dram.change == pytest.approx(0.25, abs=0.03)
    assert dram.cause.startswith("latency above the model's median: not the clock (cycles +2")
    assert found["node0005", "latency.l1"].cause.startswith("latency above the model's median: throttling (clock -1")
    int8 = found["node0007", "instruction.dp_int8"]
    assert int8.unit == "GOP/s" and int8.direction == 1 and int8.change == pytest.approx(-0.15, abs=0.03)
    assert int8.cause.startswith("not the clock (OP/cycle -1")
    # every device reads the latencies in ns and each peak in its own unit
    readings = members[0].readings
    assert {key: readings[key].unit for key in ("latency.dram", "instruction.dp_bf16", "instruction.dp_int8")} == \
        {"latency.dram": "ns", "instruction.dp_bf16": "GFLOP/s", "instruction.dp_int8": "GOP/s"}
    assert "or a latency as far above it" in to_markdown(fleet_document(report))
    assert [f["direction"] for f in json.loads(to_json(fleet_document(report)))["flags"]] == [-1, -1, 1]


def test_a_figure_in_two_units_is_never_judged_as_one():
    def device(host: str, value: float, unit: str) -> Member:
        return Member(host, "cpu", "X", "cpu", 2, f"{host}.yaml", "2026-12-02T00:00:00Z", False,
                      {"instruction.dp_int8": Reading(value, unit, 3800.0, value / 3800.0)})

    fleet = [device(f"n{i}", 1900.0, "GOP/s") for i in range(5)] + [device("odd", 900.0, "GFLOP/s")]
    report = fleet_report(fleet)
    assert report.flags == [] and any("instruction.dp_int8 is in GFLOP/s and GOP/s" in n for n in report.notes)
