"""``hwbench validate``: closed-form counts, the two predictions and their errors on hand-made timings, the
medians and the verdict, exit codes through the CLI, the GPU workloads on the NumPy stand-in for CuPy, and a
real quick run on this machine's CPU (marked slow).

The hand-made profile's roofs are round numbers chosen for the arithmetic (fp64: 100 GFLOP/s measured, 80 on
paper; DRAM: 40 GB/s measured, 50 on paper); they are no machine's figures.
"""

from __future__ import annotations

import copy
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
from hwbench.tools.export import to_markdown
from hwbench.tools.validate_report import load_validation_report
from hwbench.tools.validate_table import summary_lines, validate_document
from hwbench.workloads import cpu as cpu_workloads
from hwbench.workloads import cpu_numba as numba_workloads
from hwbench.workloads import gpu as gpu_workloads
from hwbench.workloads.result import WorkloadRun

ROOT = Path(__file__).resolve().parents[1]
CPU_PROFILE = ROOT / "results" / "ci-kvm-amd-epyc-zen3-2c.yaml"
GPU_PROFILE = ROOT / "tests" / "profiles" / "h100-sxm-full-2.yaml"


def hand_profile(dram_theory: float | None = 50.0) -> Profile:
    """The CI machine's profile with round roofs: fp64 FMA 100 / 80 GFLOP/s, fp64 add 50 / 40, fp64 GEMM 90 / 80
    (the GEMM's paper bound is the FMA peak), fp32 FMA 200 / 160; DRAM 40 / ``dram_theory`` GB/s. Every roof's
    samples are steady (cv 0, each median at its ceiling: the typical figures are the ceilings): a violation is
    then any workload faster than its roof by more than 1%."""
    data = yaml.safe_load(CPU_PROFILE.read_text())
    data["compute"]["fp64"].update(measured_gflops=100.0, theoretical_gflops=80.0,
                                   theoretical_at_measured_clock_gflops=120.0)
    data["compute"]["fp32"].update(measured_gflops=200.0, theoretical_gflops=160.0)
    data["memory"]["dram"].update(measured_gbps=40.0, theoretical_gbps=dram_theory)
    # No kernel or plateau of a DRAM access pattern: the calibrated DRAM roof is memory.dram.measured_gbps.
    data["kernels"] = [dict(k, cv=0.0) for k in data["kernels"] if k["level"] != "dram"]
    data["caches"]["plateaus"] = [p for p in data["caches"]["plateaus"] if p["level"] != "dram"]
    peak = {"unit": "GFLOP/s", "theoretical_source": "hand-made", "clock_mhz": 3000.0, "op_per_cycle": None,
            "op_per_cycle_theoretical": None, "precision": "fp64"}
    data["instruction_peaks"] = {"counting": "hand-made", "skipped": {}, "peaks": {
        "add_fp64": {**peak, "kernel": "add_fp64", "instruction": "vaddpd", "measured": 50.0, "theoretical": 40.0,
                     "theoretical_at_measured_clock": 60.0},
        "gemm_fp64": {**peak, "kernel": "gemm_fp64", "instruction": "np.matmul (dgemm)", "measured": 90.0,
                      "theoretical": 80.0, "theoretical_at_measured_clock": 120.0}}}
    ceilings = {data["compute"][p]["kernel"]: data["compute"][p]["measured_gflops"] for p in ("fp64", "fp32")}
    ceilings.update(add_fp64=50.0, gemm_fp64=90.0)
    for kernel in data["kernels"]:  # steady samples: each kernel's median is its ceiling
        kernel["median"] = ceilings.get(kernel["name"], kernel["ceiling"])
    return Profile(data, "hand-made.yaml")


def run(kind: str, shape: tuple[int, ...], seconds: float, name: str | None = None, roof: str = "fma",
        precision: str = "fp64", samples: tuple[float, ...] | None = None) -> WorkloadRun:
    return WorkloadRun(name or f"{kind}_{shape[0]}", "cpu", kind, shape, precision, 8 if precision == "fp64" else 4,
                       "test", "hand-made", seconds, samples or (seconds,), 2, roof=roof)


def test_the_calibrated_memory_roof_follows_the_read_write_mix():
    """The roof of the profile's kernel whose share of written bytes is nearest the workload's: read-only (dot) for a
    sum, a 1/3-written kernel (copy, scale) for a 1/3-written workload, a 1/4-written one (add, triad) for np.add;
    never the non-temporal copy, however fast. At DRAM only the STREAM-sized kernels: the cache sweep's DRAM plateau
    (2-4x the last-level cache over all its arrays) is used only by a profile without them."""
    profile = Profile.load(CPU_PROFILE)
    kernels = {k["name"]: k for k in profile.data["kernels"]}
    traffic = {"copy": 1.5, "scale": 1.5, "add": 4 / 3, "triad": 4 / 3, "dot": 1.0}
    rates = {name: kernels[name]["ceiling"] * traffic[name] for name in traffic}
    for share, names in ((0.0, ("dot",)), (1 / 3, ("copy", "scale")), (0.25, ("add", "triad")),
                         (0.3, ("copy", "scale"))):
        roof = profile.memory_roof("dram", share)
        best = max(names, key=rates.__getitem__)
        assert roof.kernel == best and math.isclose(roof.gbps, rates[best]), share
    assert all(not profile.memory_roof("dram", share).kernel.endswith("_nt") for share in (0, 0.25, 1 / 3, 0.5))
    # without the STREAM kernels, the sweep's DRAM plateau is the roof
    sweep_only = Profile(copy.deepcopy(profile.data), "sweep-only")
    sweep_only.data["kernels"] = [k for k in sweep_only.data["kernels"] if k.get("level") != "dram"]
    assert sweep_only.memory_roof("dram", 0.0).kernel == "cache_read"
    l1 = profile.memory_roof("l1", 0.0)
    assert l1.kernel == "cache_read" and l1.where == "caches.plateaus: cache_read best_gbps on 2 threads at l1"
    row = v.workload_row(profile, run("sum", (50_000_000,), 0.02))  # 4e8 bytes read, 2 threads
    assert row["roofs"]["calibrated"]["memory_source"] == profile.memory_roof("dram", 0.0, "median").where
    assert row["bound_roofs"]["calibrated"]["memory_source"] == max(profile.memory_candidates("dram"),
                                                                    key=lambda roof: roof.gbps).where


# Closed-form counts --------------------------------------------------------------------------------------------

def test_counts_are_the_closed_forms():
    matmul = v.counts(run("matmul", (4,), 1.0))
    assert (matmul.flops, matmul.bytes_read, matmul.bytes_written, matmul.bytes_allocated) == (128, 256, 128, 128)
    assert matmul.bytes_moved("stream") == 384 and matmul.bytes_moved("traffic") == 512
    assert v.counts(run("matmul_blocked", (4,), 1.0)) == matmul
    stencil = v.counts(run("stencil5", (5, 4), 1.0))  # 3 x 2 interior points
    assert (stencil.flops, stencil.bytes_read, stencil.bytes_written) == (36, 160, 48)
    cube = v.counts(run("stencil7", (4, 5, 6), 1.0))  # 2 x 3 x 4 interior points
    assert (cube.flops, cube.bytes_read, cube.bytes_written, cube.bytes_allocated) == (192, 960, 192, 192)
    dot, total = v.counts(run("dot", (10,), 1.0)), v.counts(run("sum", (10,), 1.0))
    assert (dot.flops, dot.bytes_moved("traffic")) == (20, 160)
    assert (total.flops, total.bytes_moved("traffic"), total.write_share("traffic")) == (9, 80, 0.0)
    triad = v.counts(run("triad_two_pass", (10,), 1.0))  # c -> a, then a + b -> a
    assert (triad.flops, triad.bytes_moved("stream"), triad.bytes_moved("traffic")) == (20, 400, 480)
    assert triad.write_share("traffic") == pytest.approx(1 / 3)
    axpy = v.counts(WorkloadRun("axpy", "gpu", "axpy", (10,), "fp32", 4, "t", "t", 1.0))
    assert (axpy.flops, axpy.bytes_moved("stream"), axpy.working_set_bytes) == (20, 120, 120)
    add, scale = v.counts(run("add", (10,), 1.0)), v.counts(run("scale", (10,), 1.0))
    assert (add.flops, add.bytes_moved("traffic"), scale.flops, scale.bytes_moved("traffic")) == (10, 320, 10, 240)
    saxpy = v.counts(run("saxpy", (10,), 1.0, precision="fp32"))  # y read before it is written: no allocate
    assert (saxpy.flops, saxpy.bytes_moved("traffic")) == (20, 120)
    spmv = v.counts(run("spmv_csr", (4, 12), 1.0))  # 12 non-zeros: values 8 B, columns 4 B; 5 pointers; x; y
    assert (spmv.flops, spmv.bytes_read, spmv.bytes_written) == (24, 12 * 12 + 5 * 8 + 4 * 8, 32)
    scan = v.counts(run("scan_two_pass", (10, 2), 1.0))  # slices of 5: 8 adds, then 5 carries added
    assert (scan.flops, scan.bytes_read, scan.bytes_written, scan.bytes_allocated) == (13, 120, 120, 80)
    nbody = v.counts(run("nbody", (100,), 1.0, precision="fp32"))
    assert (nbody.flops, nbody.bytes_read, nbody.bytes_written) == (200_000, 1600, 1200)


def test_an_unknown_kind_or_roof_is_refused():
    with pytest.raises(ValueError, match="unknown workload kind"):
        run("fft", (8,), 1.0)
    with pytest.raises(ValueError, match="unknown compute roof"):
        run("sum", (8,), 1.0, roof="tensor")


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


# Predictions, violations, tightness, verdict --------------------------------------------------------------------

def test_each_workload_is_predicted_with_the_roof_of_what_it_executes():
    profile = hand_profile()
    tiled = v.workload_row(profile, run("matmul_blocked", (1000,), 0.022))  # 2e9 FLOPs: FMA 20 ms, paper 25 ms
    assert tiled["level"] == "dram" and tiled["bytes"] == 32_000_000  # 3n^2 x 8 + write-allocate of C
    assert tiled["predicted_seconds"] == pytest.approx({"calibrated": 0.02, "theoretical": 0.025,
                                                        "theoretical_at_measured_clock": 2e9 / 120e9})
    assert tiled["error_pct"]["calibrated"] == 10.0 and tiled["error_pct"]["theoretical"] == -12.0
    assert tiled["roof"]["compute_kernel"] == "fma_fp64" and tiled["limited_by"]["calibrated"] == "compute"
    assert tiled["fraction_of_roof"]["calibrated"] == pytest.approx(0.02 / 0.022, abs=1e-4)
    # The same FLOPs of vector adds are bound by the add roof: 50 / 40 GFLOP/s.
    adds = v.workload_row(profile, run("matmul_blocked", (1000,), 0.044, roof="add"))
    assert adds["predicted_seconds"]["calibrated"] == pytest.approx(0.04)
    assert adds["roofs"]["calibrated"]["compute_source"] == "instruction_peaks.peaks.add_fp64.measured"
    triad = v.workload_row(profile, run("triad_two_pass", (1_000_000,), 0.0015, roof="add"))  # 48e6 B at 40 / 50
    assert triad["predicted_seconds"]["calibrated"] == pytest.approx(0.0012)
    assert triad["predicted_seconds"]["theoretical"] == pytest.approx(0.00096)
    assert triad["error_pct"]["calibrated"] == 25.0 and triad["limited_by"]["calibrated"] == "memory"
    assert triad["excluded"] is None and triad["intensity"] == round(2 / 48, 4)


def test_a_workload_faster_than_its_roof_beyond_the_noise_is_a_violation():
    profile = hand_profile()
    beat = v.workload_row(profile, run("matmul_blocked", (1000,), 0.018))  # 10% faster than the 20 ms FMA bound
    assert beat["violation"]["calibrated"] is True and beat["error_pct"]["calibrated"] == -10.0
    assert beat["violation"]["theoretical"] is True  # 25 ms on paper
    within = v.workload_row(profile, run("matmul_blocked", (1000,), 0.0199))  # 0.5%: within the 1% floor
    assert within["violation"]["calibrated"] is False
    noisy = v.workload_row(profile, run("matmul_blocked", (1000,), 0.018, samples=(0.015, 0.018, 0.021)))
    assert noisy["tolerance_pct"]["calibrated"] == pytest.approx(16.67, abs=0.01)  # MAD 3 ms over 18 ms
    assert noisy["violation"]["calibrated"] is False


def test_exclusions_are_the_declared_reasons_only():
    profile = hand_profile()
    numpy_matmul = v.workload_row(profile, run("matmul", (1000,), 0.025, roof="gemm"))  # the library's own GEMM
    assert numpy_matmul["excluded"].startswith("own_code: predicted from gemm_fp64")
    assert v.workload_row(profile, run("matmul", (100,), 1.0, roof="fma"))["excluded"].startswith("too_short")
    no_roof = v.workload_row(profile, run("sum", (10_000_000,), 0.01, roof="scalar_add"))
    assert no_roof["excluded"].startswith("no_matching_roof") and no_roof["predicted_seconds"]["calibrated"] is None
    assert set(v.EXCLUSION_REASONS) == {"too_short", "own_code", "no_matching_roof"}


def test_bound_failures_decide_before_the_medians():
    profile = hand_profile(dram_theory=None)  # the paper roofline cannot bound a memory-bound workload
    rows = [v.workload_row(profile, run("matmul_blocked", (1000,), 0.03)),  # +50% calibrated, +20% paper
            v.workload_row(profile, run("triad_two_pass", (1_000_000,), 0.0015, roof="add")),  # +25%, no paper
            v.workload_row(profile, run("matmul", (1000,), 0.025, roof="gemm"))]  # excluded: own code
    summary = v.summarize(rows)
    assert summary["in_verdict"] == ["matmul_blocked_1000", "triad_two_pass_1000000"]
    assert summary["rooflines"]["theoretical"]["no_bound"] == ["triad_two_pass_1000000"]
    assert summary["compared"] == {"workloads": ["matmul_blocked_1000"], "calibrated": 50.0, "theoretical": 20.0}
    assert summary["verdict"] == "calibrated_better" and "bound failures" in summary["verdict_basis"]
    tight = summary["rooflines"]["calibrated"]["tightness"]
    assert tight["memory_bound"] == {"median_abs_error_pct": 25.0, "workloads": ["triad_two_pass_1000000"]}
    assert tight["compute_bound"]["median_abs_error_pct"] == 50.0 and tight["all"]["median_abs_error_pct"] == 37.5


def test_with_equal_bound_failures_the_median_over_both_decides():
    profile = hand_profile()
    rows = [v.workload_row(profile, run("matmul_blocked", (1000,), 0.03)),  # +50 / +20
            v.workload_row(profile, run("triad_two_pass", (1_000_000,), 0.0015, roof="add"))]  # +25 / +56.25
    summary = v.summarize(rows)
    assert summary["compared"]["calibrated"] == 37.5 and summary["compared"]["theoretical"] == 38.12
    assert summary["verdict"] == "calibrated_better" and v.exit_code(summary) == 0
    worse = v.summarize([v.workload_row(profile, run("matmul_blocked", (1000,), 0.025))])  # +25 / 0
    assert worse["verdict"] == "calibrated_worse" and v.exit_code(worse) == 1
    violated = v.summarize([v.workload_row(profile, run("matmul_blocked", (1000,), 0.015)),  # beats both
                            v.workload_row(profile, run("matmul_blocked", (2000,), 0.19))])  # 160 ms / 200 ms
    assert violated["rooflines"]["calibrated"]["violations"] == ["matmul_blocked_1000"]
    assert violated["rooflines"]["theoretical"]["violations"] == ["matmul_blocked_1000", "matmul_blocked_2000"]
    assert violated["verdict"] == "calibrated_better"
    tie = v.summarize([v.workload_row(profile, run("matmul_blocked", (1000,), 0.015))])  # both violated once
    assert tie["verdict"] == "tie" and tie["compared"]["workloads"] == []


def test_without_any_paper_figure_the_verdict_is_no_theory():
    profile = hand_profile(dram_theory=None)
    only_memory = v.summarize([v.workload_row(profile, run("triad_two_pass", (1_000_000,), 0.0015, roof="add"))])
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


def test_a_workload_is_predicted_by_its_median_and_bounded_by_its_confirmed_best():
    """Like with like: the median time against the roofs' medians (the prediction), the K-th fastest sample against
    the ceilings (the bound). 20 samples, K = 2; the fp64 FMA kernel's median 80 GFLOP/s under its 100 ceiling."""
    profile = hand_profile()
    fma = next(k for k in profile.data["kernels"] if k["name"] == profile.data["compute"]["fp64"]["kernel"])
    fma["median"] = 80.0
    samples = (0.0195, 0.0199, *(0.026,) * 18)  # 2e9 FLOPs: typical 25 ms, bound 20 ms
    timed = run("matmul_blocked", (1000,), 0.026, samples=samples)
    assert timed.best_seconds == 0.0199
    row = v.workload_row(profile, timed)
    assert row["seconds"] == 0.026 and row["best_seconds"] == 0.0199
    assert row["predicted_seconds"]["calibrated"] == pytest.approx(0.025)
    assert row["roofs"]["calibrated"]["compute_source"] == f"kernels[{fma['name']}].median"
    assert row["error_pct"]["calibrated"] == pytest.approx(4.0)
    assert row["bound_seconds"]["calibrated"] == pytest.approx(0.02)
    assert row["bound_roofs"]["calibrated"]["compute_source"] == "compute.fp64.measured_gflops"
    assert row["fraction_of_roof"]["calibrated"] == pytest.approx(0.02 / 0.0199, abs=1e-4)
    assert row["violation"]["calibrated"] is False  # 0.5% faster: within the 1% floor (MAD 0, the roof's cv 0)
    beaten = v.workload_row(profile, run("matmul_blocked", (1000,), 0.026, samples=(0.0190, 0.0195, *samples[2:])))
    assert beaten["violation"]["calibrated"] is True and beaten["error_pct"]["calibrated"] == pytest.approx(4.0)
    # The paper roofline has one figure per roof: its prediction and its bound are the same 25 ms.
    assert row["predicted_seconds"]["theoretical"] == row["bound_seconds"]["theoretical"] == pytest.approx(0.025)
    # A median above its ceiling is no typical figure: the ceiling stands.
    fma["median"] = 120.0
    assert v.workload_row(profile, timed)["predicted_seconds"]["calibrated"] == pytest.approx(0.02)
    # no samples (or none above zero): the median stands for the best too
    assert run("sum", (1000,), 0.5).best_seconds == 0.5
    assert run("sum", (1000,), 0.5, samples=(0.0,)).best_seconds == 0.5


def test_the_bound_at_a_level_is_its_fastest_kernel_whatever_the_mix():
    """The prediction picks the kernel nearest the workload's mix at its median; the bound, the fastest ceiling of
    the level: a read-only program on the CI profile is predicted from dot and bounded by the fastest kernel."""
    profile = Profile.load(CPU_PROFILE)
    candidates = profile.memory_candidates("dram")
    fastest = max(candidates, key=lambda roof: roof.gbps)
    row = v.workload_row(profile, run("sum", (50_000_000,), 0.02, roof="fma"))
    assert row["bound_roofs"]["calibrated"]["memory_gbps"] == pytest.approx(fastest.gbps, abs=1e-3)
    typical = profile.memory_roof("dram", 0.0, "median")
    assert typical.kernel == "dot" and typical.where == "kernels[dot].median"
    assert row["roofs"]["calibrated"]["memory_gbps"] == pytest.approx(typical.gbps, abs=1e-3)
    assert all(roof.gbps <= fastest.gbps for roof in profile.memory_candidates("dram", "median"))
    with pytest.raises(ValueError, match="unknown statistic"):
        profile.memory_candidates("dram", "mean")


def test_a_typical_memory_roof_is_a_median_never_above_its_ceiling():
    """The prediction's memory roofs are medians: a median above its own ceiling (two samples) gives way to the
    ceiling, named so; a ceiling never sits beside medians (it would win every tie of write share); a profile
    before 0.2.0 (medians alone, no ceiling) offers its medians to the prediction and nothing to the bound."""
    profile = Profile.load(CPU_PROFILE)
    kernels = {k["name"]: k for k in profile.data["kernels"]}
    kernels["dot"]["median"] = kernels["dot"]["ceiling"] * 1.5
    read_only = [roof for roof in profile.memory_candidates("dram", "median") if roof.write_share == 0.0]
    assert read_only == [] and profile.memory_roof("dram", 0.0, "median").typical  # another kernel's median
    kernels["dot"]["median"] = kernels["dot"]["ceiling"] * 0.5
    assert profile.memory_roof("dram", 0.0, "median").where == "kernels[dot].median"
    assert profile.memory_roof("dram", 0.0, "median").gbps == pytest.approx(kernels["dot"]["ceiling"] * 0.5)
    old = Profile.load(GPU_PROFILE)  # an H100 profile of hwbench 0.1: kernels with a median and no ceiling
    assert old.memory_candidates("dram") == [] and old.memory_roof("dram", 0.0, "median").where.endswith(".median")


def test_prediction_and_bound_leave_out_the_same_workloads():
    """``summarize`` counts a roofline's missing bounds from ``bound_seconds`` and its tightness from
    ``predicted_seconds``: both are None for exactly the same workloads, on a CPU and on a GPU profile."""
    cpu, gpu = Profile.load(CPU_PROFILE), Profile.load(GPU_PROFILE)
    runs = [(cpu, run(kind, shape, 0.02, roof=roof)) for kind, shape, roof in (
        ("sum", (50_000_000,), "fma"), ("dot", (50_000_000,), "fma"), ("matmul_blocked", (1000,), "fma"),
        ("stencil5", (4096, 4096), "fma"), ("nbody", (8192,), "fma"))]
    runs += [(gpu, WorkloadRun(name, "gpu", kind, shape, "fp32", 4, "t", "t", 0.001, (0.001,), roof="fma"))
             for name, kind, shape in (("axpy", "axpy", (1 << 26,)), ("nbody", "nbody", (1 << 15,)),
                                       ("sum", "sum", (1 << 26,)))]
    for profile, timed in runs:
        row = v.workload_row(profile, timed)
        for roofline in v.ROOFLINES:
            assert (row["predicted_seconds"][roofline] is None) == (row["bound_seconds"][roofline] is None), \
                (timed.name, roofline)


def test_a_cache_level_without_a_paper_figure_has_no_paper_prediction():
    """DRAM's paper figure does not depend on the core clock, so a compute-bound workload at DRAM keeps its paper
    prediction without it; a cache's does, and in a VM its paper figure at the nominal clock can sit below what is
    measured (the Zen 5 guest's L1: 997 GB/s on paper, 1160 and 1285 measured in two profiles of 2026-12-02), so
    none is made there."""
    profile = hand_profile()
    profile.data["memory"]["l2"]["theoretical_gbps"] = None
    profile.data["memory"]["l2"]["working_set_bytes"] = [64 << 10, 1 << 20]
    for level in ("l1",):
        profile.data["memory"][level]["working_set_bytes"] = [4 << 10, 32 << 10]
    row = v.workload_row(profile, run("matmul_blocked", (200,), 0.02))  # 3 x 200^2 x 8 B = 960 KB: L2
    assert row["level"] == "l2" and row["predicted_seconds"]["theoretical"] is None
    assert row["roofs"]["theoretical"]["note"] == "memory.l2 has no paper bandwidth: no paper prediction"


def test_without_a_paper_bandwidth_the_paper_roofline_predicts_what_it_bounds():
    """The paper roofline predicts and bounds the same workloads: those compute-bound even at the level's fastest
    measured bandwidth (a paper bandwidth is never below it), not at the typical one. A sum on the 40 GFLOP/s paper
    add roof is compute-bound above 320 GB/s: so at a dot kernel whose ceiling is 400 GB/s, not at its median 200."""
    profile = hand_profile(dram_theory=None)
    dot = next(k for k in Profile.load(CPU_PROFILE).data["kernels"] if k["name"] == "dot")
    profile.data["kernels"].append(dict(dot, ceiling=400.0, median=200.0, cv=0.0))
    row = v.workload_row(profile, run("sum", (50_000_000,), 0.002, roof="add"))
    assert row["bound_seconds"]["theoretical"] == row["predicted_seconds"]["theoretical"] == pytest.approx(5e7 / 40e9)
    assert "fastest measured" in row["roofs"]["theoretical"]["note"]
    assert row["predicted_seconds"]["calibrated"] == pytest.approx(4e8 / 200e9)  # the typical roof: the median


def test_report_renders_roofs_flags_markdown_and_json_ready():
    profile = hand_profile(dram_theory=None)
    runs = [run("matmul_blocked", (1000,), 0.022), run("triad_two_pass", (1_000_000,), 0.0015, roof="add"),
            run("matmul_blocked", (2000,), 0.1), run("matmul", (100,), 1.0, roof="gemm")]
    report = v.build_report(profile, runs, "AMD EPYC", "hand-made.yaml", "2026-11-23T12:00:00+00:00")
    assert report["hwbench_validation"] == 6 and report["threads"] == 2
    assert any("memory.dram has no paper bandwidth" in note for note in report["notes"])
    assert any(note == "calibrated roofline violated by 1 workload(s) in the verdict: matmul_blocked_2000"
               for note in report["notes"])
    header, *rows = validate_document(report).tables[0].text_rows()
    assert header[:2] == ["workload", "roof"] and [row[1] for row in rows] == ["FMA fp64", "add fp64", "FMA fp64",
                                                                              "GEMM fp64"]
    assert [row[-1] for row in rows] == ["VIOLATES paper", "no paper bound", "VIOLATES calibrated, VIOLATES paper",
                                         "excluded: own_code"]  # 22 ms against the paper's 25 ms
    assert "| matmul_blocked_1000 | FMA fp64 | dram |" in to_markdown(validate_document(report))
    assert json.loads(json.dumps(report)) == report
    assert report["verdict_basis"] in report["notes"][-1]
    # No DRAM kernel in the hand-made profile: no host state, and no line for it; with one, its own line.
    assert report["at_host_state"] == {"median_abs_error_pct": None, "workloads": [],
                                       "compute_bound": {"median_abs_error_pct": None, "workloads": []}}
    assert not any("host's state" in line for line in summary_lines(report))
    report["at_host_state"]["median_abs_error_pct"] = 4.2
    report["at_host_state"]["workloads"] = ["triad_two_pass_1000000"]
    assert any(line.endswith("calibrated median |error| 4.2% over 1 memory-bound workload(s)")
               for line in summary_lines(report))
    report["at_host_state"]["compute_bound"] = {"median_abs_error_pct": 12.0, "workloads": ["matmul_blocked_1000"]}
    assert any(line.endswith("4.2% over 1 memory-bound workload(s); 12.0% over 1 compute-bound workload(s)")
               for line in summary_lines(report))
    del report["at_host_state"]["compute_bound"]  # a format-5 report: the memory-bound line alone
    assert any(line.endswith("4.2% over 1 memory-bound workload(s)") for line in summary_lines(report))


# The CLI, with the workload runner replaced by hand-made timings ------------------------------------------------

@pytest.fixture
def hand_made_runs(monkeypatch):
    """``run_cpu_workloads`` returns the given timings; the CI profile's fp64 and DRAM roofs are set round."""
    timings: list[WorkloadRun] = []
    def runner(threads, plan, policy, progress=None, clock=None):
        runner.clocks.append(clock)
        return timings

    runner.clocks = []
    monkeypatch.setattr(cpu_workloads, "run_cpu_workloads", runner)
    # The hand-made profile is the CI Zen 3's; the runs are made up, so this host need not be that CPU.
    monkeypatch.setattr(v, "check_same_cpu", lambda *args: None)
    return timings


def test_a_profile_of_another_cpu_or_more_threads_is_refused_before_anything_runs():
    profile = hand_profile()  # AuthenticAMD family 25 model 1 (Zen 3), 2 threads
    v.check_same_cpu(profile, "AuthenticAMD", 25, 1, 2)  # the same CPU: accepted
    with pytest.raises(UsageError, match=r"measured on another CPU \(AuthenticAMD family 25 model 1, Zen 3\); "
                                         r"this host's is AuthenticAMD family 26 model 2: validate on the machine"):
        v.check_same_cpu(profile, "AuthenticAMD", 26, 2, 2)
    with pytest.raises(UsageError, match="measured with 2 threads; this process may use 1 CPU"):
        v.check_same_cpu(profile, "AuthenticAMD", 25, 1, 1)


def invoke(*args: str):
    return CliRunner().invoke(app, ["validate", *args])


def test_cli_exit_0_writes_the_report_and_reads_it_back(hand_made_runs, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text(hand_profile().to_yaml())
    hand_made_runs += [run("matmul_blocked", (1000,), 0.03), run("triad_two_pass", (1_000_000,), 0.0015, roof="add"),
                       run("matmul_blocked", (2000,), 0.1)]
    report = tmp_path / "report.yaml"
    result = invoke(str(profile), "-o", str(report))
    assert result.exit_code == 0, result.output
    assert "calibrated_better" in result.output and "matmul_blocked_1000" in result.output
    # the CLI hands the runner the clock probe of hwbench.cpu.clock_now, on the profile's threads
    (clock,) = cpu_workloads.run_cpu_workloads.clocks
    assert clock.__self__.__class__.__name__ == "ClockNow" and clock.__self__.threads == 2
    written = yaml.safe_load(report.read_text())
    assert written["profile"] == str(profile) and written["verdict"] == "calibrated_better"
    marks = load_validation_report(report).workloads  # what `hwbench roofline --validation` reads
    assert [(m.name, m.calibrated_error_pct, m.violates) for m in marks] == [
        ("matmul_blocked_1000", 50.0, ()), ("triad_two_pass_1000000", 25.0, ()),
        ("matmul_blocked_2000", -37.5, ("calibrated", "paper"))]
    assert [w["error_pct"] for w in written["workloads"]][:2] == [
        {"calibrated": 50.0, "theoretical": 20.0, "theoretical_at_measured_clock": 80.0},
        {"calibrated": 25.0, "theoretical": 56.25, "theoretical_at_measured_clock": 56.25}]
    result = invoke(str(profile), "-f", "json")
    assert json.loads(result.stdout)["rooflines"]["calibrated"]["violations"] == ["matmul_blocked_2000"]


def test_cli_exit_1_when_calibrated_is_worse(hand_made_runs, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text(hand_profile().to_yaml())
    hand_made_runs += [run("matmul_blocked", (1000,), 0.025)]
    result = invoke(str(profile), "-f", "markdown")
    assert result.exit_code == 1 and "verdict on cpu: calibrated_worse" in result.output


def test_a_version_1_report_still_draws(tmp_path):
    old = tmp_path / "v1.yaml"
    old.write_text(yaml.safe_dump({"hwbench_validation": 1, "workloads": [
        {"name": "dot", "intensity": 0.125, "measured_gflops": 3.2, "error_pct": {"calibrated": 4.9},
         "excluded": None}]}))
    (mark,) = load_validation_report(old).workloads
    assert mark.violates == () and mark.calibrated_error_pct == 4.9


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
    from hwbench.cli import validate as command

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
    # 128 MiB vectors: 4 x 32 MiB; a 256^3 cube of as many points; compute-bound sizes of tens of ms
    assert plan == cpu_workloads.CpuPlan((256, 1024, 2048), 4096, 1 << 24, 256, 1024, 8192)
    assert cpu_workloads.CpuPlan.for_machine(32 << 20, quick=True).vector_elements == 1 << 23


def test_cpu_workloads_run_and_validate_on_small_sizes():
    plan = cpu_workloads.CpuPlan((32,), 64, 4096, 8, 128, 64)
    clock_calls = []

    def clock(pool) -> tuple[float | None, str | None]:  # stands in for ClockNow.sample, called with the programs' pool
        clock_calls.append(pool)
        if len(clock_calls) == 2:
            return None, "beside a program, the chains disagree"
        return 3000.0 + len(clock_calls), None

    runs = cpu_workloads.run_cpu_workloads(2, plan, RepetitionPolicy(warmups=0, min_repetitions=2, min_seconds=0),
                                           clock=clock)
    roofline, chains = runs[:-2], runs[-2:]
    assert [(r.kind, r.roof, r.precision) for r in roofline] == [
        ("matmul", "gemm", "fp64"), ("stencil5", "add", "fp64"), ("dot", "fma", "fp64"), ("sum", "scalar_add", "fp64"),
        ("triad_two_pass", "add", "fp64"), ("add", "add", "fp64"), ("scale", "mul", "fp64"), ("dot", "fma", "fp32"),
        ("saxpy", "fma", "fp32"), ("stencil7", "add", "fp64"), ("spmv_csr", "scalar_add", "fp64"),
        ("scan_two_pass", "scalar_add", "fp64"), ("matmul_blocked", "fma", "fp64"), ("nbody", "fma", "fp32")]
    assert [r.kind for r in chains] == ["random_walk", "hash_walk"]
    assert all(r.seconds > 0 and len(r.samples) >= 2 for r in runs)
    assert [r.threads for r in runs] == [2] * len(roofline) + [1, 1]  # a dependent chain runs on one thread
    assert len({r.name for r in runs}) == len(runs)
    # every roofline program carries the host's state just before it: each DRAM roof kernel's median, positive
    assert all(set(r.details["host_stream_gbps"]) == {"copy", "scale", "add", "triad", "dot"}
               and min(r.details["host_stream_gbps"].values()) > 0 for r in roofline)
    assert all("host_stream_gbps" not in r.details for r in chains)
    # and the cores' clock, probed once just before each of them on the pool that runs them
    assert [r.details["host_clock_mhz"] for r in roofline] == [3001.0, None] + [3003.0 + i
                                                                              for i in range(len(roofline) - 2)]
    assert [r.details.get("host_clock_problem") for r in roofline[:3]] == [
        None, "beside a program, the chains disagree", None]  # a refused clock keeps its reason, never a figure
    assert len(clock_calls) == len(roofline) and len(set(map(id, clock_calls))) == 1


def test_a_memory_roof_whose_passes_disagree_gets_a_note():
    """The medians of a roof kernel's passes (its samples split at details.samples_per_pass) 1.5x apart: the note
    names the kernel and the range; passes within PASS_SPREAD, or not recorded, give none."""
    data = yaml.safe_load(CPU_PROFILE.read_text())
    dot = next(k for k in data["kernels"] if k["name"] == "dot")
    slow, fast = 14.0, 21.0  # under the CI profile's dot ceiling (22.2), so the median is a typical roof
    assert dot["ceiling"] > fast
    dot["samples"], dot["details"] = [slow] * 4 + [fast] * 4 + [slow] * 2, {"samples_per_pass": [4, 4, 2]}
    dot["median"] = slow
    profile = Profile(data, "passes.yaml")
    assert profile.kernel_pass_medians("dot") == [slow, fast, slow]
    row = v.workload_row(profile, run("sum", (50_000_000,), 0.02, roof="fma"))
    assert row["roofs"]["calibrated"]["memory_median_of"] == "dot"
    assert v.moving_roof_notes(profile, [row]) == [
        "the profile's dot median (14.0 GB/s) comes from 3 passes whose medians ran 14.0-21.0 GB/s: the host's memory "
        "moved while the profile ran; each program's host_state says what it met"]
    dot["samples"] = [slow] * 4 + [1.1 * slow] * 4 + [slow] * 2  # 10% apart
    assert v.moving_roof_notes(Profile(data, "steady.yaml"), [row]) == []
    dot["details"] = {}
    assert Profile(data, "unrecorded.yaml").kernel_pass_medians("dot") is None


def test_the_host_state_kernels_are_counted_and_checked(monkeypatch):
    """The re-timed STREAM kernels: STREAM's bytes per element over each call's time (a clock that advances 1 ms
    per call), and validated like the profile's: a wrong element, or a wrong dot, is a measurement error."""
    from concurrent.futures import ThreadPoolExecutor

    from hwbench.kernels import cpu_stream
    from hwbench.workloads import host_state

    with ThreadPoolExecutor(2) as pool:
        state = host_state.HostState(1000, pool, 2)
        assert state.n == 992 and state.bounds == [(0, 496), (496, 992)]  # slices on 64-byte boundaries
        ticks = iter(range(10_000))
        monkeypatch.setattr(host_state.time, "perf_counter", lambda: next(ticks) * 1e-3)  # read twice a call: 1 ms
        rates = state.sample()  # GB/s rounded to 3 decimals
        assert rates == {form: round(per_element * 992 / 1e-3 / 1e9, 3) for form, per_element in
                         (("copy", 16), ("scale", 16), ("add", 24), ("triad", 24), ("dot", 16))}
        real_add, real_dot = cpu_stream.TEMPORAL_KERNELS["add"], cpu_stream.TEMPORAL_KERNELS["dot"]

        def wrong_add(a, b, c, scalar, lo, hi):  # the second thread's slice left as copy wrote it
            return real_add(a, b, c, scalar, lo, hi) if lo == 0 else 0.0

        monkeypatch.setitem(cpu_stream.TEMPORAL_KERNELS, "add", wrong_add)
        with pytest.raises(MeasurementError, match="add output check failed"):
            state.sample()
        monkeypatch.setitem(cpu_stream.TEMPORAL_KERNELS, "add", real_add)
        monkeypatch.setitem(cpu_stream.TEMPORAL_KERNELS, "dot", lambda *args: real_dot(*args) + 1.0)
        with pytest.raises(MeasurementError, match="dot output check failed"):
            state.sample()


def test_the_host_state_reading_scales_the_memory_roof_beside_the_verdict():
    """A memory-bound program whose roof kernel ran at half its profile median just before it: predicted at the
    host's state it takes twice the time, and the verdict's figures are unchanged. A host 1.9x faster than the
    profile moves the program past the ridge: the compute roof then sets the time. None without the re-timed
    kernel, for a compute-bound program, or where the roof is a ceiling; a violated row is left out of the
    median."""
    profile = Profile.load(CPU_PROFILE)
    dot = profile.kernel_median("dot")

    def with_state(timed: WorkloadRun, **gbps: float) -> WorkloadRun:
        return WorkloadRun(**{**timed.__dict__, "details": {"host_stream_gbps": gbps}})

    timed = run("sum", (50_000_000,), 0.02, roof="fma")
    plain = v.workload_row(profile, timed)
    assert plain["host_state"] is None and plain["roofs"]["calibrated"]["memory_source"] == "kernels[dot].median"
    row = v.workload_row(profile, with_state(timed, dot=dot / 2, copy=1.0))
    assert row["error_pct"] == plain["error_pct"] and row["predicted_seconds"] == plain["predicted_seconds"]
    state = row["host_state"]
    assert state["kernel"] == "dot" and state["now_over_profile"] == pytest.approx(0.5)
    assert state["predicted_seconds"] == pytest.approx(2 * plain["predicted_seconds"]["calibrated"])
    assert state["error_pct"] == pytest.approx(v.error_pct(0.02, state["predicted_seconds"]), abs=0.01)
    assert v.workload_row(profile, with_state(timed, copy=1.0))["host_state"] is None  # no re-timed dot
    # Intensity 0.5 FLOP/byte: memory-bound at the profile's dot median, compute-bound on a host 1.9x faster.
    roofs = plain["roofs"]["calibrated"]
    flops_per_byte = 0.5 * roofs["compute_gflops"] / roofs["memory_gbps"]
    near_ridge = WorkloadRun("near_ridge", "cpu", "dot", (10_000_000,), "fp64", 8, "test", "hand-made", 0.02,
                             (0.02,), 2, {"host_stream_gbps": {"dot": 1.9 * dot}}, roof="fma")
    work = v.counts(near_ridge)
    ridge_row = v.workload_row(profile, near_ridge)
    if ridge_row["limited_by"]["calibrated"] == "memory" and flops_per_byte < work.flops / ridge_row["bytes"]:
        compute_seconds = work.flops / (roofs["compute_gflops"] * 1e9)
        assert ridge_row["host_state"]["predicted_seconds"] == pytest.approx(compute_seconds)
    compute_bound = with_state(run("matmul_blocked", (1000,), 0.026), dot=1.0, copy=1.0, add=1.0)
    assert v.workload_row(profile, compute_bound)["host_state"] is None  # no clock probed: no compute-bound state
    violated = dict(row, name="violated", violation={**row["violation"], "calibrated": True})
    summary = v.summarize([row, v.workload_row(profile, compute_bound), violated])
    assert summary["at_host_state"] == {"median_abs_error_pct": round(abs(state["error_pct"]), 2),
                                        "workloads": [row["name"]],
                                        "compute_bound": {"median_abs_error_pct": None, "workloads": []}}


def test_the_clock_probed_beside_a_program_scales_its_compute_roof():
    """A compute-bound program whose cores ran 10% faster than the profile's add chain alone: at the host's state
    its compute roof is 1.1x, so it is predicted in 1/1.1 of the time; its memory term keeps the profile's roof
    without a re-timed kernel. A memory-bound program takes the clock into its compute term only. The verdict's
    figures never move; the median over compute-bound programs stands apart; a note names the clock's range."""
    profile = Profile.load(CPU_PROFILE)
    profile_mhz = profile.data["clock"]["scalar_mhz"]
    assert profile_mhz

    def with_state(timed: WorkloadRun, clock_mhz: float | None, **gbps: float) -> WorkloadRun:
        return WorkloadRun(**{**timed.__dict__, "details": {"host_stream_gbps": gbps, "host_clock_mhz": clock_mhz}})

    timed = run("matmul_blocked", (1000,), 0.026)
    plain = v.workload_row(profile, timed)
    assert plain["limited_by"]["calibrated"] == "compute" and plain["host_state"] is None
    row = v.workload_row(profile, with_state(timed, 1.1 * profile_mhz))
    assert row["predicted_seconds"] == plain["predicted_seconds"] and row["error_pct"] == plain["error_pct"]
    state = row["host_state"]
    assert state["clock_now_over_profile"] == pytest.approx(1.1)
    assert state["clock_mhz_profile"] == profile_mhz and state["clock_mhz_now"] == pytest.approx(1.1 * profile_mhz)
    assert state["kernel"] is None and state["now_over_profile"] is None  # no bandwidth ratio was used
    assert state["predicted_seconds"] == pytest.approx(plain["predicted_seconds"]["calibrated"] / 1.1)
    assert state["error_pct"] == pytest.approx(v.error_pct(0.026, state["predicted_seconds"]), abs=0.01)
    # A clock the probe could not believe (None) gives no state, as no probe does.
    assert v.workload_row(profile, with_state(timed, None))["host_state"] is None
    # Memory-bound: the bandwidth ratio sets the time; the clock ratio is reported beside it.
    dot = profile.kernel_median("dot")
    memory = v.workload_row(profile, with_state(run("sum", (50_000_000,), 0.02), 0.9 * profile_mhz, dot=dot / 2))
    assert memory["host_state"]["now_over_profile"] == pytest.approx(0.5)
    assert memory["host_state"]["clock_now_over_profile"] == pytest.approx(0.9)
    assert memory["host_state"]["predicted_seconds"] == pytest.approx(2 * memory["predicted_seconds"]["calibrated"])
    summary = v.summarize([row, memory])
    assert summary["at_host_state"]["compute_bound"] == {
        "median_abs_error_pct": round(abs(state["error_pct"]), 2), "workloads": [row["name"]]}
    assert summary["at_host_state"]["workloads"] == [memory["name"]]
    assert v.moving_clock_note([row, memory]) == [
        f"the cores' clock beside the programs (the add chain alone, just before each) ran {0.9 * profile_mhz:.0f}-"
        f"{1.1 * profile_mhz:.0f} MHz, 0.90-1.10x the profile's {profile_mhz:.0f} MHz: every compute roof moves with "
        "it; each program's host_state scales its compute roof by its ratio"]
    assert row["host_state"]["limited_by"] == "compute" and memory["host_state"]["limited_by"] == "memory"
    steady = v.workload_row(profile, with_state(timed, 1.01 * profile_mhz))
    assert v.moving_clock_note([steady]) == []  # within CLOCK_MOVED
    edge = v.workload_row(profile, with_state(timed, (1 + v.CLOCK_MOVED) * profile_mhz))
    assert len(v.moving_clock_note([edge])) == 1  # CLOCK_MOVED itself gets the note
    # A profile without its own clock (clock.scalar_mhz): nothing to compare the probe with, no state.
    unclocked = Profile({**profile.data, "clock": {**profile.data["clock"], "scalar_mhz": None}}, "unclocked.yaml")
    assert v.workload_row(unclocked, with_state(timed, 1.1 * profile_mhz))["host_state"] is None
    # The report's notes carry the clock's range, and a refused probe with its reason.
    refused = WorkloadRun(**{**timed.__dict__, "name": "refused",
                             "details": {"host_clock_mhz": None, "host_clock_problem": "the chains disagree"}})
    report = v.build_report(profile, [with_state(timed, 1.1 * profile_mhz), refused], "AMD EPYC", "p.yaml",
                            "2026-12-03T00:00:00+00:00")
    assert any(note.startswith("the cores' clock beside the programs") for note in report["notes"])
    assert ("no clock beside 1 program(s) (refused: the chains disagree): their compute roofs are not scaled at the "
            "host's state") in report["notes"]
    unclocked_report = v.build_report(unclocked, [timed], "AMD EPYC", "p.yaml", "2026-12-03T00:00:00+00:00")
    assert any(note.startswith("the profile has no clock.scalar_mhz") for note in unclocked_report["notes"])
    # A compute-limited row that a faster clock moves onto its memory roof, which was not timed again (a cache
    # plateau or a ceiling): its host's state is the profile's memory term, so neither median counts it.
    moved_onto_memory = dict(row, name="moved", host_state={**state, "limited_by": "memory", "now_over_profile": None})
    assert v.summarize([moved_onto_memory])["at_host_state"]["workloads"] == []


def test_a_host_faster_than_the_profile_moves_a_program_past_the_ridge_at_its_state():
    """Memory-limited against the profile, compute-limited at the host's state (its roof kernel re-timed 1.5x as
    fast as moving the ridge below the program needs, far beyond any real host: the arithmetic alone; the clock
    unchanged): host_state.limited_by says so, and the at_host_state split follows it."""
    profile = Profile.load(CPU_PROFILE)
    dot = profile.kernel_median("dot")
    profile_mhz = profile.data["clock"]["scalar_mhz"]
    probe = run("sum", (50_000_000,), 0.02)  # read-only, at DRAM: the dot median is its roof
    roofs = v.workload_row(profile, probe)["roofs"]["calibrated"]
    assert roofs["memory_median_of"] == "dot"
    work = v.counts(probe)
    intensity, ridge = work.flops / work.bytes_moved("traffic"), roofs["compute_gflops"] / roofs["memory_gbps"]
    assert intensity < ridge  # memory-limited at the profile's figures
    faster = 1.5 * ridge / intensity  # past the ridge at the host's state
    moved = WorkloadRun(**{**probe.__dict__, "details": {"host_stream_gbps": {"dot": faster * dot},
                                                         "host_clock_mhz": profile_mhz}})
    row = v.workload_row(profile, moved)
    assert row["limited_by"]["calibrated"] == "memory" and row["host_state"]["limited_by"] == "compute"
    assert row["host_state"]["predicted_seconds"] == pytest.approx(work.flops / (roofs["compute_gflops"] * 1e9))
    summary = v.summarize([row])
    assert summary["at_host_state"]["workloads"] == [] and summary["at_host_state"]["compute_bound"]["workloads"] == [
        row["name"]]


def test_the_clock_probe_beside_a_program_refuses_chains_that_disagree(monkeypatch):
    """``ClockNow.sample`` runs the add and multiply chains on every thread of the pool it is given and returns
    the add chain's clock, or None when the two chains disagree (the profile's own check, clock.probe_problem)."""
    from concurrent.futures import ThreadPoolExecutor

    from hwbench.cpu import clock_now
    from hwbench.kernels.cpu_llvm import CLOCK_SUPPORTED

    if not CLOCK_SUPPORTED:
        pytest.skip("no timestamp intrinsic for this machine: the probe gives None")
    probe = clock_now.ClockNow(2, nominal_mhz=None)
    seen = []

    def chains(counts, buffers, tsc_hz):
        seen.append((list(counts), len(buffers)))
        return chains.reply

    monkeypatch.setattr(clock_now, "chain_clocks", chains)
    with ThreadPoolExecutor(2) as pool:
        chains.reply = (3600.04, 3590.0)
        assert probe.sample(pool) == (3600.0, None)
        chains.reply = (3600.0, 2400.0)  # the multiply chain 33% slower: one chain was folded or fused
        mhz, problem = probe.sample(pool)
        assert mhz is None and problem.startswith("beside a program, the add chain gives 3600 MHz and the multiply")
    # each thread ran the whole probe: every add and multiply step of every round, counted by the kernel itself
    rounds = probe.rounds
    adds = clock_now.CLOCK_PROBE_BLOCKS * clock_now.ADDS_PER_BLOCK * rounds
    muls = clock_now.MUL_BLOCKS * clock_now.ADDS_PER_BLOCK * rounds
    assert all(counts == [(adds, muls)] * 2 and threads == 2 for counts, threads in seen)


def test_a_wrong_matmul_entry_is_a_measurement_error():
    workload = cpu_workloads._matmul(16, "test")
    product = workload.call()
    product[3, 4] += 1.0
    with pytest.raises(MeasurementError, match="numpy_matmul_16 output check failed"):
        workload.check()


def test_a_wrong_stencil_is_a_measurement_error(monkeypatch):
    def shifted(u, out):
        out[1:-1, 1:-1] = u[1:-1, 1:-1]

    monkeypatch.setattr(cpu_workloads, "_apply_five_point", shifted)
    workload = cpu_workloads._stencil(16)
    workload.call()
    with pytest.raises(MeasurementError, match="numba_stencil5_16 output check failed"):
        workload.check()


@pytest.mark.parametrize("build, corrupt", [
    (lambda: numba_workloads.stencil7(8), lambda: numba_workloads._apply_seven_point),
    (lambda: numba_workloads.spmv(64), lambda: numba_workloads._csr_matvec),
    (lambda: numba_workloads.blocked_matmul(128), lambda: numba_workloads._tiled_matmul),
    (lambda: numba_workloads.nbody(64), lambda: numba_workloads._accelerations),
    (lambda: numba_workloads.saxpy(64), lambda: numba_workloads._saxpy_kernel),
], ids=["stencil7", "spmv", "blocked_matmul", "nbody", "saxpy"])
def test_a_wrong_numba_result_is_a_measurement_error(build, corrupt, monkeypatch):
    """Each numba workload's check catches one wrong output element (the kernel runs, then one value is off)."""
    workload = build()
    real = corrupt()

    def off_by_one(*args):
        real(*args)
        output = next(a for a in reversed(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f")
        output.reshape(-1)[output.size // 2] += 1.0

    monkeypatch.setattr(numba_workloads, real.__name__, off_by_one)
    workload = build()  # rebuilt: its call now goes through the corrupted kernel
    workload.call()
    with pytest.raises(MeasurementError, match=f"{workload.name} output check failed"):
        workload.check()


def test_a_wrong_numpy_result_is_a_measurement_error():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        scan = cpu_workloads._scan(1000, pool, 2)
        scan.call()
        scan.check()  # right
        add = cpu_workloads._add(1000, pool, 2)
        with pytest.raises(MeasurementError, match="numpy_add_1000 output check failed"):
            add.check()  # never called: c is still zero


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
    assert [(r.kind, r.precision) for r in runs] == [
        ("matmul", "fp32"), ("matmul", "tensor_fp16"), ("axpy", "fp32"), ("sum", "fp32"), ("stencil5", "fp32"),
        ("stencil7", "fp32"), ("nbody", "fp32"), ("spmv_csr", "fp32"), ("scan", "fp32"), ("histogram", "fp32")]
    (module,) = fake_cupy.RawModule.created  # one NVRTC module for every raw kernel
    assert module.options == ("-std=c++17", "-DBLOCK_X=32", "-DBLOCK_Y=8")
    assert {(launch.name, launch.grid, launch.block) for launch in module.launches} == {
        ("stencil5_f32", (2, 8), (32, 8)), ("stencil7_f32", (1, 2, 16), (32, 8)), ("nbody_f32", (1,), (256,)),
        ("spmv_csr_f32", (1,), (256,))}
    by_kind = {r.kind: v.counts(r) for r in runs}
    assert (by_kind["stencil5"].flops, by_kind["stencil5"].bytes_moved("stream")) == (6 * 62 * 62,
                                                                                     4 * (64 * 64 + 62 * 62))
    assert (by_kind["stencil7"].flops, by_kind["stencil7"].bytes_moved("stream")) == (8 * 14**3, 4 * (16**3 + 14**3))
    assert by_kind["nbody"].flops == 20 * 256**2
    assert (by_kind["spmv_csr"].flops, by_kind["spmv_csr"].bytes_moved("stream")) == (
        2 * 4096, 4096 * (4 + 4) + 257 * 8 + 256 * 4 + 256 * 4)
    assert (by_kind["scan"].flops, by_kind["scan"].bytes_moved("stream")) == (4095, 2 * 4 * 4096)
    assert (by_kind["histogram"].flops, by_kind["histogram"].bytes_moved("stream")) == (4096, 4 * 4096 + 8 * 1024)


@pytest.mark.parametrize(("kernel", "name"), [("_stencil7", "cuda_stencil7_16"), ("_nbody", "cuda_nbody_256"),
                                              ("_spmv_csr", "cuda_spmv_csr_256")])
def test_a_wrong_gpu_raw_kernel_is_a_measurement_error(fake_cupy, monkeypatch, kernel, name):
    import fake_cupy as fake

    original = fake._VALIDATE_KERNELS[kernel[1:]]

    def wrong(kernel_, grid, block, args):
        original(kernel_, grid, block, args)
        target = args[1] if kernel == "_stencil7" else args[4]
        target *= np.float32(2)  # every output wrong: the n-body check samples bodies

    monkeypatch.setitem(fake._VALIDATE_KERNELS, kernel[1:], wrong)
    with pytest.raises(MeasurementError, match=f"{name} output check failed"):
        gpu_workloads.run_gpu_workloads(fake_cupy, SMALL_GPU_PLAN, RepetitionPolicy(0, 1, 0))


@pytest.mark.parametrize(("function", "name"), [("cumsum", "cupy_cumsum_4Ki"), ("bincount", "cupy_histogram_4Ki")])
def test_a_wrong_cupy_scan_or_histogram_is_a_measurement_error(fake_cupy, monkeypatch, function, name):
    original = getattr(fake_cupy, function)

    def wrong(*args, **kwargs):
        result = original(*args, **kwargs)
        result[3] += 1
        return result

    monkeypatch.setattr(fake_cupy, function, wrong)
    with pytest.raises(MeasurementError, match=f"{name} output check failed"):
        gpu_workloads.run_gpu_workloads(fake_cupy, SMALL_GPU_PLAN, RepetitionPolicy(0, 1, 0))


def test_a_wrong_gpu_stencil_is_a_measurement_error(fake_cupy, monkeypatch):
    import fake_cupy as fake

    original = fake._stencil5

    def off_by_one(kernel, grid, block, args):
        original(kernel, grid, block, args)
        args[1][5, 7] += np.float32(1)

    monkeypatch.setattr(fake, "_stencil5", off_by_one)
    with pytest.raises(MeasurementError, match="cuda_stencil5_64 output check failed"):
        gpu_workloads.run_gpu_workloads(fake_cupy, SMALL_GPU_PLAN, RepetitionPolicy(0, 1, 0))


def test_cli_runs_the_gpu_workloads_on_the_stand_in(fake_cupy, monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_workloads.GpuPlan, "for_device", classmethod(lambda cls, l2, free, quick: SMALL_GPU_PLAN))
    monkeypatch.setitem(v.MIN_PREDICTABLE_SECONDS, "gpu", 0.0)  # the small plan's workloads would all be excluded
    report = tmp_path / "gpu.yaml"
    result = invoke(str(GPU_PROFILE), "--device", "cuda:0", "--quick", "-o", str(report))
    assert result.exit_code in (0, 1), result.output  # the stand-in's made-up times decide the verdict
    written = yaml.safe_load(report.read_text())
    assert written["device"]["id"] == "cuda:0" and written["device"]["name"] == "Fake GPU"
    matmuls = {w["precision"]: w["excluded"] for w in written["workloads"] if w["kind"] == "matmul"}
    assert matmuls["tensor_fp16"].startswith("own_code: predicted from matmul_fp16")  # cuBLAS predicting cuBLAS
    assert matmuls["fp32"] is None  # predicted from the FMA kernel
    assert {w["precision"] for w in written["workloads"]} == {"fp32", "tensor_fp16"}
    assert any("measured on NVIDIA H100 80GB HBM3" in note for note in written["notes"])


def test_gpu_plan_fits_in_free_memory():
    plan = gpu_workloads.GpuPlan.for_device(50 << 20, 80 << 30, quick=False)
    assert plan.vector_elements == 1 << 27 and plan.stencil_side == 16384 and plan.matmul_sizes == (512, 8192)
    assert plan.cube_side == 512 and plan.bodies == 65536  # a 512^3 grid: 2^27 points, as many as the vectors
    assert gpu_workloads.GpuPlan.for_device(50 << 20, 96 << 20, quick=True).vector_elements == 1 << 22


# A real run on this machine ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_quick_validate_on_this_cpu(tmp_path):
    """Every workload (2 NumPy matmuls with --quick, 13 others) runs for real and validates; the verdict is whatever
    this machine gives (exit 0 or 1). The committed profile's roofs, labelled with this host's CPU (CI machines
    vary, and validate refuses a profile of another CPU)."""
    import os

    from hwbench.cpu.machine import inspect_cpu

    data, host = yaml.safe_load(CPU_PROFILE.read_text()), inspect_cpu()
    data["device"].update(vendor=host.vendor, family=host.family, model=host.model)
    data["run"]["threads"] = min(data["run"]["threads"], len(os.sched_getaffinity(0)))
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    report = tmp_path / "report.yaml"
    result = invoke(str(profile), "--quick", "-o", str(report))
    assert result.exit_code in (0, 1), result.output
    written = yaml.safe_load(report.read_text())
    assert len(written["workloads"]) == 15 and all(w["seconds"] > 0 and w["threads"] == written["threads"]
                                                   for w in written["workloads"])
    assert written["verdict"] in ("calibrated_better", "calibrated_worse", "tie", "no_theory")
