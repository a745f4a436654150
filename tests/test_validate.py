"""``hwbench validate``: closed-form counts, the two predictions and their errors on hand-made timings, the
medians and the verdict, exit codes through the CLI, the GPU workloads on the NumPy stand-in for CuPy, and a
real quick run on this machine's CPU (marked slow).

The hand-made profile's roofs are round numbers chosen for the arithmetic (fp64: 100 GFLOP/s measured, 80 on
paper; DRAM: 40 GB/s measured, 50 on paper); they are no machine's figures.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hwbench.cli import app
from hwbench.errors import MeasurementError, UsageError
from hwbench.profile import Profile
from hwbench.stats import RepetitionPolicy
from hwbench.tools import validate as v
from hwbench.tools.validation_report import load_validation_report
from hwbench.workloads import cpu as cpu_workloads
from hwbench.workloads import gpu as gpu_workloads
from hwbench.workloads.result import WorkloadRun

ROOT = Path(__file__).resolve().parents[1]
CPU_PROFILE = ROOT / "results" / "ci-kvm-amd-epyc-zen3-2c.yaml"
GPU_PROFILE = ROOT / "tests" / "profiles" / "h100-sxm-full-2.yaml"


def hand_profile(dram_theory: float | None = 50.0) -> Profile:
    """The CI machine's profile with round roofs: fp64 100 / 80 GFLOP/s, DRAM 40 / ``dram_theory`` GB/s."""
    data = yaml.safe_load(CPU_PROFILE.read_text())
    data["compute"]["fp64"].update(measured_gflops=100.0, theoretical_gflops=80.0)
    data["memory"]["dram"].update(measured_gbps=40.0, theoretical_gbps=dram_theory)
    # No kernel or plateau of a DRAM access pattern: the calibrated DRAM roof is memory.dram.measured_gbps.
    data["kernels"] = [k for k in data["kernels"] if k["level"] != "dram"]
    data["caches"]["plateaus"] = [p for p in data["caches"]["plateaus"] if p["level"] != "dram"]
    return Profile(data, "hand-made.yaml")


def test_the_calibrated_roof_follows_the_access_pattern():
    """A read-only workload is predicted with the profile's best read-only kernel (dot), one that stores with
    the best normal-store kernel in traffic bytes (triad), never with the non-temporal copy's 39.3 GB/s."""
    profile = Profile.load(CPU_PROFILE)
    data = profile.data
    data["caches"]["plateaus"] = [p for p in data["caches"]["plateaus"] if p["level"] != "dram"]
    kernels = {k["name"]: k for k in data["kernels"]}
    dot = kernels["dot"]
    assert profile.pattern_bandwidth("dram", read_only=True) == (dot["ceiling"], "kernels[dot].ceiling")
    stores = {name: k["ceiling"] * k["bytes_traffic"] / k["bytes_stream"] for name, k in kernels.items()
              if name in ("copy", "scale", "add", "triad")}  # normal stores; the _nt kernels never count
    rate, source = profile.pattern_bandwidth("dram", read_only=False)
    best = max(stores, key=stores.get)
    assert math.isclose(rate, stores[best]) and source == f"kernels[{best}].ceiling in traffic bytes"
    l1_read = max(p["best_gbps"] for p in profile.data["caches"]["plateaus"]
                  if p["level"] == "l1" and p["kernel"] == "cache_read" and p["threads"] == 2)
    assert profile.pattern_bandwidth("l1", read_only=True)[0] == l1_read
    row = v.workload_row(profile, run("sum", (50_000_000,), 0.02))  # 4e8 bytes read, 2 threads
    assert row["predicted_seconds"]["calibrated"] == pytest.approx(4e8 / (dot["ceiling"] * 1e9))
    assert "kernels[dot]" in row["calibrated_note"]


def run(kind: str, shape: tuple[int, ...], seconds: float, name: str | None = None) -> WorkloadRun:
    return WorkloadRun(name or f"{kind}_{shape[0]}", "cpu", kind, shape, "fp64", 8, "test", "hand-made", seconds,
                       (seconds,), 2)


# Closed-form counts --------------------------------------------------------------------------------------------

def test_counts_are_the_closed_forms():
    matmul = v.counts(run("matmul", (4,), 1.0))
    assert (matmul.flops, matmul.bytes_read, matmul.bytes_written, matmul.bytes_allocated) == (128, 256, 128, 128)
    assert matmul.bytes_moved("stream") == 384 and matmul.bytes_moved("traffic") == 512
    stencil = v.counts(run("stencil5", (5, 4), 1.0))  # 3 x 2 interior points
    assert (stencil.flops, stencil.bytes_read, stencil.bytes_written) == (36, 160, 48)
    dot, total = v.counts(run("dot", (10,), 1.0)), v.counts(run("sum", (10,), 1.0))
    assert (dot.flops, dot.bytes_moved("traffic")) == (20, 160)
    assert (total.flops, total.bytes_moved("traffic")) == (9, 80)
    triad = v.counts(run("triad_two_pass", (10,), 1.0))  # c -> a, then a + b -> a
    assert (triad.flops, triad.bytes_moved("stream"), triad.bytes_moved("traffic")) == (20, 400, 480)
    axpy = v.counts(WorkloadRun("axpy", "gpu", "axpy", (10,), "fp32", 4, "t", "t", 1.0))
    assert (axpy.flops, axpy.bytes_moved("stream"), axpy.working_set_bytes) == (20, 120, 120)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown workload kind"):
        run("fft", (8,), 1.0)


def test_byte_convention_follows_the_profile_roofs():
    assert v.byte_convention("cpu", "dram") == "traffic"  # memory.dram.measured_gbps counts write-allocate
    assert v.byte_convention("cpu", "l2") == "stream"  # the cache levels count loads and stores
    assert v.byte_convention("gpu", "dram") == "stream"


def test_memory_level_is_the_nearest_that_holds_the_working_set():
    profile = hand_profile()
    for level, high in (("l1", 15 << 10), ("l2", (1 << 20) - (1 << 10)), ("l3", 2 << 20)):  # plateaus' tops
        profile.data["memory"][level]["working_set_bytes"] = [4 << 10, high]
    assert v.memory_level(profile, 8 << 10) == "l1"
    assert v.memory_level(profile, 512 << 10) == "l2"
    assert v.memory_level(profile, (3 << 20) // 2) == "l3"
    assert v.memory_level(profile, 64 << 20) == "dram"
    del profile.data["memory"]["l3"]["working_set_bytes"]  # no plateau: the cache size (32 MiB L3) decides
    assert v.memory_level(profile, 24 << 20) == "l3"


# Predictions, errors, medians, verdict -----------------------------------------------------------------------

def test_both_predictions_and_errors_on_hand_made_timings():
    profile = hand_profile()
    matmul = v.workload_row(profile, run("matmul", (1000,), 0.022))  # 2e9 FLOPs: 20 ms at 100, 25 ms at 80
    assert matmul["level"] == "dram" and matmul["bytes"] == 32_000_000  # 3n^2 x 8 + write-allocate of C
    assert math.isclose(matmul["predicted_seconds"]["calibrated"], 0.02)
    assert math.isclose(matmul["predicted_seconds"]["theoretical"], 0.025)
    assert matmul["error_pct"] == {"calibrated": 10.0, "theoretical": -12.0}
    assert matmul["bound"] == {"calibrated": "compute", "theoretical": "compute"}
    triad = v.workload_row(profile, run("triad_two_pass", (1_000_000,), 0.0015))  # 48e6 bytes at 40 and 50 GB/s
    assert math.isclose(triad["predicted_seconds"]["calibrated"], 0.0012)
    assert math.isclose(triad["predicted_seconds"]["theoretical"], 0.00096)
    assert triad["error_pct"] == {"calibrated": 25.0, "theoretical": 56.25}
    assert triad["excluded"] is None and triad["intensity"] == round(2 / 48, 4)


def test_medians_leave_excluded_workloads_out():
    profile = hand_profile()
    rows = [v.workload_row(profile, run("matmul", (1000,), 0.022)),  # +10 / -12
            v.workload_row(profile, run("triad_two_pass", (1_000_000,), 0.0015)),  # +25 / +56.25
            v.workload_row(profile, run("dot", (10_000_000,), 0.006)),  # 1.6e8 B: 4 / 3.2 ms: +50 / +87.5
            v.workload_row(profile, run("matmul", (100,), 1.0))]  # 2e6 FLOPs, 20 us predicted: excluded
    assert rows[3]["excluded"] and "under the 100 us" in rows[3]["excluded"]
    summary = v.summarize(rows)
    assert summary["median_abs_error_pct"] == {"calibrated": 25.0, "theoretical": 56.25}
    assert summary["verdict"] == "calibrated_better"
    assert v.exit_code(summary) == 0


def test_calibrated_worse_exits_1():
    profile = hand_profile()
    rows = [v.workload_row(profile, run("matmul", (1000,), 0.025)),  # +25 / 0
            v.workload_row(profile, run("matmul", (2000,), 0.2))]  # 1.6e10: +25 / 0
    summary = v.summarize(rows)
    assert summary["verdict"] == "calibrated_worse" and v.exit_code(summary) == 1


def test_without_a_paper_bandwidth_only_compute_bound_workloads_get_a_theory():
    profile = hand_profile(dram_theory=None)
    matmul = v.workload_row(profile, run("matmul", (1000,), 0.022))
    triad = v.workload_row(profile, run("triad_two_pass", (1_000_000,), 0.0015))
    assert math.isclose(matmul["predicted_seconds"]["theoretical"], 0.025)  # the paper peak alone
    assert "compute-bound even at the measured bandwidth" in matmul["theoretical_note"]
    assert triad["predicted_seconds"]["theoretical"] is None and triad["error_pct"]["theoretical"] is None
    summary = v.summarize([matmul, triad])
    assert summary["compared"]["workloads"] == [matmul["name"]]
    assert summary["median_abs_error_pct"] == {"calibrated": 17.5, "theoretical": 12.0}
    only_memory = v.summarize([triad])
    assert only_memory["verdict"] == "no_theory" and v.exit_code(only_memory) == 0


def test_every_workload_excluded_is_a_measurement_error():
    with pytest.raises(UsageError, match="every workload was excluded"):
        v.summarize([v.workload_row(hand_profile(), run("matmul", (100,), 1.0))])


def test_a_profile_of_another_device_or_without_a_roof_is_bad_input():
    with pytest.raises(UsageError, match="profile of cuda:0, not of cpu"):
        v.check_profile_fits(Profile.load(GPU_PROFILE), "cpu")
    profile = hand_profile()
    del profile.data["compute"]["fp64"]
    with pytest.raises(UsageError, match="no fp64 compute ceiling"):
        v.check_profile_fits(profile, "cpu")


def test_report_renders_as_table_rows_markdown_and_json_ready():
    profile = hand_profile(dram_theory=None)
    runs = [run("matmul", (1000,), 0.022), run("triad_two_pass", (1_000_000,), 0.0015), run("matmul", (100,), 1.0)]
    report = v.build_report(profile, runs, "AMD EPYC", "hand-made.yaml", "2026-11-23T12:00:00+00:00")
    assert report["hwbench_validation"] == 1 and report["threads"] == 2 and report["verdict"] == "calibrated_better"
    assert any("memory.dram.theoretical_gbps is unknown" in note for note in report["notes"])
    header, *rows = v.table_rows(report)
    assert header[0] == "workload" and [row[-1] for row in rows] == ["", "no theory", "excluded"]
    assert "| matmul_1000 | dram |" in v.to_markdown(report)
    assert json.loads(json.dumps(report)) == report


# The CLI, with the workload runner replaced by hand-made timings ------------------------------------------------

@pytest.fixture
def hand_made_runs(monkeypatch):
    """``run_cpu_workloads`` returns the given timings; the CI profile's fp64 and DRAM roofs are set round."""
    timings: list[WorkloadRun] = []
    monkeypatch.setattr(cpu_workloads, "run_cpu_workloads", lambda threads, plan, policy, progress=None: timings)
    return timings


def invoke(*args: str):
    return CliRunner().invoke(app, ["validate", *args])


def test_cli_exit_0_writes_the_report_and_reads_it_back(hand_made_runs, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text(hand_profile().to_yaml())
    hand_made_runs += [run("matmul", (1000,), 0.022), run("triad_two_pass", (1_000_000,), 0.0015)]
    report = tmp_path / "report.yaml"
    result = invoke(str(profile), "-o", str(report))
    assert result.exit_code == 0, result.output
    assert "calibrated_better" in result.output and "matmul_1000" in result.output
    written = yaml.safe_load(report.read_text())
    assert written["profile"] == str(profile) and written["verdict"] == "calibrated_better"
    marks = load_validation_report(report).workloads  # what `hwbench roofline --validation` reads
    assert [(m.name, m.calibrated_error_pct) for m in marks] == [("matmul_1000", 10.0),
                                                                 ("triad_two_pass_1000000", 25.0)]
    assert [w["error_pct"] for w in written["workloads"]] == [{"calibrated": 10.0, "theoretical": -12.0},
                                                              {"calibrated": 25.0, "theoretical": 56.25}]
    result = invoke(str(profile), "-f", "json")
    assert json.loads(result.stdout)["median_abs_error_pct"] == {"calibrated": 17.5, "theoretical": 34.12}


def test_cli_exit_1_when_calibrated_is_worse(hand_made_runs, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text(hand_profile().to_yaml())
    hand_made_runs += [run("matmul", (1000,), 0.025)]
    result = invoke(str(profile), "-f", "markdown")
    assert result.exit_code == 1 and "verdict: calibrated_worse" in result.output


@pytest.mark.parametrize("args, message", [
    (["missing.yaml"], "no such file"),
    ([str(GPU_PROFILE), "--device", "cpu"], "profile of cuda:0, not of cpu"),
    ([str(CPU_PROFILE), "--device", "tpu"], "--device 'tpu' is not known"),
])
def test_cli_bad_input_exits_2_with_one_line(hand_made_runs, args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_without_a_profile_measures_one_first(hand_made_runs, monkeypatch):
    from hwbench.commands import validate as command

    calls = []

    def quick_run(target):
        calls.append(target)
        return hand_profile().data

    monkeypatch.setattr(command, "quick_profile", quick_run)
    hand_made_runs += [run("matmul", (1000,), 0.022)]
    result = invoke("--device", "cpu")
    assert result.exit_code == 0, result.output
    assert calls == ["cpu"] and "measuring cpu first with a quick 'hwbench run'" in result.output


# CPU workloads: validation is real ------------------------------------------------------------------------------

def test_cpu_plan_sizes_working_sets_from_the_last_level_cache():
    plan = cpu_workloads.CpuPlan.for_machine(32 << 20, quick=False)
    assert plan == cpu_workloads.CpuPlan((256, 1024, 2048), 4096, 1 << 24)  # 128 MiB vectors: 4 x 32 MiB
    assert cpu_workloads.CpuPlan.for_machine(32 << 20, quick=True).vector_elements == 1 << 23


def test_cpu_workloads_run_and_validate_on_small_sizes():
    plan = cpu_workloads.CpuPlan((32,), 64, 4096)
    runs = cpu_workloads.run_cpu_workloads(2, plan, RepetitionPolicy(warmups=0, min_repetitions=2, min_seconds=0))
    assert [r.kind for r in runs] == ["matmul", "stencil5", "dot", "sum", "triad_two_pass", "random_walk",
                                      "hash_walk"]
    assert all(r.seconds > 0 and len(r.samples) >= 2 for r in runs)
    assert [r.threads for r in runs] == [2] * 5 + [1, 1]  # a dependent chain runs on one thread


def test_a_wrong_matmul_entry_is_a_measurement_error():
    workload = cpu_workloads._matmul(16, "test")
    product = workload.call()
    product[3, 4] += 1.0
    with pytest.raises(MeasurementError, match="numpy_matmul_16 validation failed"):
        workload.check()


def test_a_wrong_stencil_is_a_measurement_error(monkeypatch):
    def shifted(u, out):
        out[1:-1, 1:-1] = u[1:-1, 1:-1]

    monkeypatch.setattr(cpu_workloads, "_apply_five_point", shifted)
    workload = cpu_workloads._stencil(16)
    workload.call()
    with pytest.raises(MeasurementError, match="numba_stencil5_16 validation failed"):
        workload.check()


# GPU workloads on the NumPy stand-in for CuPy (no figure: the stand-in's times are made up) --------------------

SMALL_GPU_PLAN = gpu_workloads.GpuPlan((32,), (32,), 4096, 64)


@pytest.fixture
def fake_cupy(monkeypatch):
    from fake_cupy import make_cupy

    cupy = make_cupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cupy


def test_gpu_workloads_run_and_validate_on_the_stand_in(fake_cupy):
    policy = RepetitionPolicy(warmups=0, min_repetitions=2, min_seconds=0)
    runs = gpu_workloads.run_gpu_workloads(fake_cupy, SMALL_GPU_PLAN, policy)
    assert [(r.kind, r.precision) for r in runs] == [("matmul", "fp32"), ("matmul", "tensor_fp16"), ("axpy", "fp32"),
                                                     ("sum", "fp32"), ("stencil5", "fp32")]
    (module,) = fake_cupy.RawModule.created
    assert module.options == ("-std=c++17", "-DBLOCK_X=32", "-DBLOCK_Y=8")
    assert {(launch.grid, launch.block) for launch in module.launches} == {((2, 8), (32, 8))}
    counts = v.counts(runs[-1])
    assert (counts.flops, counts.bytes_moved("stream")) == (6 * 62 * 62, 4 * (64 * 64 + 62 * 62))


def test_a_wrong_gpu_stencil_is_a_measurement_error(fake_cupy, monkeypatch):
    import fake_cupy as fake

    original = fake._stencil5

    def off_by_one(kernel, grid, block, args):
        original(kernel, grid, block, args)
        args[1][5, 7] += np.float32(1)

    monkeypatch.setattr(fake, "_stencil5", off_by_one)
    with pytest.raises(MeasurementError, match="cuda_stencil5_64 validation failed"):
        gpu_workloads.run_gpu_workloads(fake_cupy, SMALL_GPU_PLAN, RepetitionPolicy(0, 1, 0))


def test_cli_runs_the_gpu_workloads_on_the_stand_in(fake_cupy, monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_workloads.GpuPlan, "for_device", classmethod(lambda cls, l2, free, quick: SMALL_GPU_PLAN))
    monkeypatch.setitem(v.MIN_PREDICTABLE_SECONDS, "gpu", 0.0)  # the small plan's workloads would all be excluded
    report = tmp_path / "gpu.yaml"
    result = invoke(str(GPU_PROFILE), "--device", "cuda:0", "--quick", "-o", str(report))
    assert result.exit_code in (0, 1), result.output  # the stand-in's made-up times decide the verdict
    written = yaml.safe_load(report.read_text())
    assert written["device"] == {"id": "cuda:0", "name": "Fake GPU"}
    assert {w["precision"] for w in written["workloads"]} == {"fp32", "tensor_fp16"}
    assert any("measured on NVIDIA H100 80GB HBM3" in note for note in written["notes"])


def test_gpu_plan_fits_in_free_memory():
    plan = gpu_workloads.GpuPlan.for_device(50 << 20, 80 << 30, quick=False)
    assert plan.vector_elements == 1 << 27 and plan.stencil_side == 16384 and plan.matmul_sizes == (512, 8192)
    assert gpu_workloads.GpuPlan.for_device(50 << 20, 96 << 20, quick=True).vector_elements == 1 << 22


# A real run on this machine ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_quick_validate_on_this_cpu(tmp_path):
    """Every workload runs for real and validates; the verdict is whatever this machine gives (exit 0 or 1)."""
    report = tmp_path / "report.yaml"
    result = invoke(str(CPU_PROFILE), "--quick", "-o", str(report))
    assert result.exit_code in (0, 1), result.output
    written = yaml.safe_load(report.read_text())
    assert {w["name"].split("_")[1] for w in written["workloads"]} == {"matmul", "stencil5", "dot", "sum", "triad"}
    assert all(w["seconds"] > 0 and w["threads"] == written["threads"] for w in written["workloads"])
    assert written["median_abs_error_pct"]["calibrated"] is not None
