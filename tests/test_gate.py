"""The gate that does not cry wolf: the run's own evidence of contention, FMA ceilings checked against their
probed run, each figure's noise, the inconclusive verdict, causes that add up, and history's lasting change."""

from __future__ import annotations

import copy
import dataclasses
import json
import time

import jsonschema
import pytest
from typer.testing import CliRunner

from conftest import TEST_HOST, cpu_profile, make_measurement
from hwbench import Profile
from hwbench.cli import app
from hwbench.cpu.clock import ProbedRun
from hwbench.cpu.contention import Contention, contention_between, cpu_limit, on_cpu, read_ticks
from hwbench.cpu.fma import probed_run, uncontended
from hwbench.cpu.smbios import DramTheory
from hwbench.cpu.stability import (
    Evidence,
    ProbedRate,
    agrees,
    chosen_probe,
    likely_cause,
    stability_record,
)
from hwbench.profile import json_schema
from hwbench.profile.levels import plateau_noise
from hwbench.stats import KernelResult, RateSummary, result_noise, uncontended_samples
from hwbench.tools.compare import (
    ADVISORY,
    ADVISORY_CAUSE,
    IMPROVED,
    INCONCLUSIVE,
    REGRESSED,
    UNCHANGED,
    Ceiling,
    compare_profiles,
    compare_row,
)
from hwbench.tools.figures import Evidence as RunEvidence
from hwbench.tools.figures import kernel_on_cpu
from hwbench.tools.history import build_history

DRAM = DramTheory(76.8, "SMBIOS type 17: test")
runner = CliRunner()


# The run's own evidence ----------------------------------------------------------------------------------


def test_proc_stat_gives_other_work_and_steal(tmp_path):
    hz = 100  # os.sysconf("SC_CLK_TCK") on Linux
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 100 0 50 1000 0 0 0 10 0 0\ncpu1 200 0 0 900 0 0 0 0 0 0\n")
    before = read_ticks(stat)
    stat.write_text("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 150 0 50 1000 0 0 0 30 0 0\ncpu1 300 0 0 900 0 0 0 0 0 0\n")
    after = read_ticks(stat)
    assert before.busy == {0: 150 / hz, 1: 200 / hz} and after.steal == {0: 30 / hz, 1: 0.0}
    # 1.5 CPU-seconds busy on the two CPUs, of which this process used 0.5, over 2 s: 1.0 / 4.0 = 25% other work
    before = dataclasses.replace(before, own=10.0, wall=100.0)
    after = dataclasses.replace(after, own=10.5, wall=102.0)
    found = contention_between(before, after, [0, 1], throttled_s=0.5)
    assert found.other_work == pytest.approx(0.25) and found.steal == pytest.approx(0.05)
    assert found.throttled == pytest.approx(0.25) and found.seconds == pytest.approx(2.0)
    assert read_ticks(tmp_path / "missing") is None and contention_between(None, after, [0]) is None
    # a window of a few ticks: one tick's rounding would be a large share, so the shares are unknown (throttled,
    # read in microseconds from cpu.stat, stays); and a share is never above all of the cores
    short = contention_between(before, dataclasses.replace(after, wall=100.02), [0, 1], throttled_s=0.01)
    assert short.other_work is None and short.steal is None and short.throttled == pytest.approx(0.5)
    busy = dataclasses.replace(after, busy={0: 900.0, 1: 900.0})
    assert contention_between(before, busy, [0, 1]).other_work == 1.0


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_tightest_cpu_quota_and_its_throttled_time(tmp_path, version):
    root = tmp_path / "cgroup"
    proc = tmp_path / "cgroup-of-self"
    if version == "v2":
        outer, inner = root / "ci", root / "ci" / "job"
        inner.mkdir(parents=True)
        (outer / "cpu.max").write_text("150000 100000\n")
        (inner / "cpu.max").write_text("50000 100000\n")
        (inner / "cpu.stat").write_text("usage_usec 10\nnr_throttled 3\nthrottled_usec 250000\n")
        proc.write_text("0::/ci/job\n")
    else:
        outer, inner = root / "cpu" / "ci", root / "cpu" / "ci" / "job"
        inner.mkdir(parents=True)
        for directory, quota in ((outer, 150000), (inner, 50000)):
            (directory / "cpu.cfs_quota_us").write_text(f"{quota}\n")
            (directory / "cpu.cfs_period_us").write_text("100000\n")
        (inner / "cpu.stat").write_text("nr_periods 9\nnr_throttled 3\nthrottled_time 250000000\n")
        proc.write_text("4:memory:/x\n1:cpu:/ci/job\n0::/\n")
    limit = cpu_limit(proc, root)
    assert limit.cpus == pytest.approx(0.5) and str(inner) in limit.source
    assert limit.throttled_seconds() == pytest.approx(0.25)
    assert limit.as_dict()["cpus"] == 0.5


def test_no_quota_is_said_not_guessed(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "self").write_text("1:cpu:/\n")
    limit = cpu_limit(tmp_path / "self", tmp_path)
    assert limit.cpus is None and "no CPU quota" in limit.source and limit.throttled_seconds() is None
    assert cpu_limit(tmp_path / "absent", tmp_path).cpus is None


def test_on_cpu_share_of_a_thread():
    def spin() -> int:
        end = time.perf_counter() + 0.02
        while time.perf_counter() < end:
            pass
        return 7

    result, share = on_cpu(spin)()
    assert result == 7 and 0.0 < share <= 1.0
    result, share = on_cpu(lambda: time.sleep(0.02) or 3)()
    assert result == 3 and share < 0.5  # asleep: off the CPU nearly the whole time


# FMA ceilings against their probed run -------------------------------------------------------------------


HALF = [58.3, 58.5, 58.4, 58.2, 58.3, 58.5, 58.4, 58.3, 58.4, 58.2]  # the run: every sample at half
FULL = [110.0, 111.0, 109.5, 110.5, 111.5, 110.2, 109.8, 110.9, 111.2, 110.4]


def test_a_probed_run_agrees_only_between_median_and_ceiling():
    assert agrees(FULL, 109.0) and agrees(FULL, 115.0)  # within 5% of [median, ceiling]
    assert not agrees(HALF, 109.7)  # the issue: headline 58.3, probed run at full speed
    assert not agrees(FULL, 58.4)
    probes = [ProbedRate(109.7, 3689.0, 3690.0), ProbedRate(58.3, 3689.0, 3690.0)]
    assert chosen_probe(HALF, probes) == 1 and chosen_probe(FULL, probes) == 0
    assert chosen_probe(HALF, probes[:1]) is None
    assert chosen_probe(FULL, [ProbedRate(110.0, None, None)]) is None  # a probe whose chains failed


@pytest.mark.parametrize("windows, on_cpu, cause", [
    ([Contention(0.0, 0.0, 0.4, 1.0)], 1.0, "CPU quota"),
    ([Contention(0.0, 0.3, None, 1.0)], 1.0, "steal"),
    ([Contention(0.45, 0.0, None, 1.0)], 0.5, "contention"),
    ([Contention(0.0, 0.0, None, 1.0)], 1.0, "placement"),
])
def test_the_likely_cause_comes_from_the_run_s_evidence(windows, on_cpu, cause):
    evidence = [Evidence((on_cpu,) * 10, w) for w in windows]
    assert likely_cause(evidence, [ProbedRate(110.0, 3689.0, 3690.0)]).startswith(cause)


def test_placement_says_when_other_processes_share_was_unknown():
    probes = [ProbedRate(110.0, 3689.0, 3690.0)]
    known = likely_cause([Evidence((1.0,) * 10, Contention(0.0, 0.0, None, 1.0))], probes)
    short = likely_cause([Evidence((1.0,) * 10, Contention(None, None, None, 0.01))], probes)
    assert short.startswith("placement") and short.endswith("(other processes' share of a batch is unknown: too "
                                                             "short to read)")
    assert "unknown" not in known


def test_stability_record_of_an_unstable_ceiling():
    record = stability_record([HALF, HALF], [ProbedRate(109.7, 3689.0, 3690.0)], None, "placement: ...")
    assert record["status"] == "unstable" and record["rounds"] == 2 and record["cause"] == "placement: ..."
    assert record["spread"] == pytest.approx((109.7 - 58.4) / 109.7, abs=1e-3)
    assert "probed_run" not in record
    assert stability_record([FULL], [ProbedRate(110.0, 3689.0, 3690.0)], 0, None)["status"] == "consistent"


def test_probed_run_picks_the_confirmed_best_call():
    rates = iter([50.0, 110.0, 108.0, 109.0, 30.0])

    def run(rounds: int) -> ProbedRun:
        rate = next(rates)
        return ProbedRun(1.0, 3689.0 + rate, 0.0, int(rate * 1e9), 3690.0)

    chosen = probed_run(run, 50, calls=5)
    assert chosen.gflops == pytest.approx(109.0) and chosen.clock_mhz == 3689.0 + 109.0  # 2nd best, its own clock


def test_contended_batches_are_measured_again():
    result = KernelResult("fma_fp64", "fp64", "core", "GFLOP/s", RateSummary(tuple(HALF)), 0, None, None, 1, True)
    assert not uncontended([(result, Evidence((0.5,) * 10))])
    assert uncontended([(result, Evidence((0.5,) * 8 + (1.0, 0.99)))])  # K = 2 clean samples confirm a ceiling


def test_noise_leaves_out_samples_the_evidence_explains():
    samples = HALF[:5] + FULL[:5]
    shares = [0.5] * 5 + [1.0] * 5
    assert uncontended_samples(samples, shares) == FULL[:5]
    assert uncontended_samples(samples, [0.5] * 9 + [1.0]) == samples  # fewer than K clean: all of them
    result = KernelResult("fma_fp64", "fp64", "core", "GFLOP/s", RateSummary(tuple(samples)), 0, None, None, 1, True,
                          contention={"on_cpu": shares})
    assert result_noise(result) < 0.01  # the clean samples agree; the contended ones are explained, not noise
    assert result_noise(dataclasses.replace(result, contention=None)) > 0.2  # median between the two states


def test_a_low_flop_per_cycle_under_contention_says_so():
    run = make_measurement()
    results = [dataclasses.replace(r, summary=RateSummary((110.0, 112.0, 111.0, 112.0)),
                                   contention={"on_cpu": [0.5] * 4, "windows": []}, paired_gflops=112.0)
               if r.name == "fma_fp64" else r for r in run.results]
    data = cpu_profile(dataclasses.replace(run, results=results), DRAM)
    (warning,) = [w for w in data["warnings"] if w.startswith("fp64: 14.9 FLOP per cycle")]
    assert "on their CPUs 50% of the time at the ceiling" in warning and "SMT" not in warning


def test_an_unstable_ceiling_reports_no_flop_per_cycle():
    run = make_measurement()
    record = stability_record([HALF], [ProbedRate(109.7, 3689.0, 3690.0)], None, "placement: ...")
    results = [dataclasses.replace(r, summary=RateSummary(tuple(HALF)), stability=record,
                                   contention={"on_cpu": [1.0] * 10, "windows": []})
               if r.name == "fma_fp64" else r for r in run.results]
    data = cpu_profile(dataclasses.replace(run, results=results), DRAM)
    fp64 = data["compute"]["fp64"]
    assert fp64["measured_gflops"] == 58.5 and fp64["stability"]["status"] == "unstable"
    assert fp64["flop_per_cycle"] is None and fp64["efficiency_at_measured_clock"] is None
    assert data["compute"]["fp32"]["flop_per_cycle"] is not None
    kernel = next(k for k in data["kernels"] if k["name"] == "fma_fp64")
    assert kernel["contention"]["on_cpu"] == [1.0] * 10
    assert kernel["noise"] == pytest.approx((58.5 - 58.35) / 58.5, abs=1e-4)
    jsonschema.Draft202012Validator(json_schema()).validate(data)


def test_cache_level_noise_is_the_plateau_below_its_ceiling():
    assert plateau_noise(1315.0, [1300.0, 1250.0, 1100.0]) == pytest.approx((1315 - 1250) / 1315)
    assert plateau_noise(0.0, [1.0]) == 0.0 and plateau_noise(10.0, []) == 0.0


# The verdict ---------------------------------------------------------------------------------------------


def test_a_drop_inside_the_noise_is_inconclusive_and_fails_only_with_strict(tmp_path, monkeypatch, profile_data):
    monkeypatch.chdir(tmp_path)
    noisy = copy.deepcopy(profile_data)
    noisy["memory"]["dram"]["noise"] = 0.2
    current = copy.deepcopy(noisy)
    current["memory"]["dram"]["measured_gbps"] = 45.0  # -13.5%, inside hypot(20%, 20%)
    Profile(noisy).save(tmp_path / "a.yaml")
    Profile(current).save(tmp_path / "b.yaml")
    result = runner.invoke(app, ["compare", "a.yaml", "b.yaml", "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    row = next(r for r in data["rows"] if r["key"] == "memory.dram")
    assert row["verdict"] == INCONCLUSIVE and data["inconclusive"] and not data["regressed"]
    assert runner.invoke(app, ["compare", "a.yaml", "b.yaml", "--strict"]).exit_code == 1
    assert "fails only with --strict" in " ".join(runner.invoke(app, ["compare", "a.yaml", "b.yaml"]).stdout.split())


def test_an_unstable_side_makes_a_drop_inconclusive():
    base = Ceiling("compute.fp64", "GFLOP/s", 110.0, 0.005)
    current = Ceiling("compute.fp64", "GFLOP/s", 58.3, 0.005, unstable="unstable: placement")
    row = compare_row(base, current, 0.05)
    assert row.verdict == INCONCLUSIVE and "current unstable: placement" in row.cause
    assert compare_row(current, base, 0.05).verdict == UNCHANGED  # an unstable improvement is not claimed


def test_an_improvement_is_never_throttling():
    base = Ceiling("compute.fp64", "GFLOP/s", 58.3, 0.005, clock_mhz=3689.0, flop_per_cycle=7.9)
    current = Ceiling("compute.fp64", "GFLOP/s", 110.0, 0.005, clock_mhz=3600.0, flop_per_cycle=14.57)
    row = compare_row(base, current, 0.05)
    assert row.verdict == IMPROVED and row.cause.startswith("per-cycle") and "throttling" not in row.cause
    # the case: +91.6% "explained" as throttling by a -2.6% clock; a clock that explains none of it
    assert "throttling" not in compare_row(base, dataclasses.replace(current, flop_per_cycle=None), 0.05).cause


def test_causes_only_where_they_add_up():
    base = Ceiling("compute.fp64", "GFLOP/s", 100.0, 0.005, clock_mhz=3700.0, flop_per_cycle=13.5)
    small_clock = dataclasses.replace(base, value=80.0, clock_mhz=3600.0, flop_per_cycle=13.5)
    assert compare_row(base, small_clock, 0.05).cause.startswith("unexplained: clock -2.7%")
    throttled = dataclasses.replace(base, value=80.0, clock_mhz=2960.0)
    assert compare_row(base, throttled, 0.05).cause == "clock: -20.0% (throttling); FLOP/cycle +0.0%"
    contended = dataclasses.replace(base, value=50.0, flop_per_cycle=6.8, evidence=RunEvidence(on_cpu=0.5))
    row = compare_row(dataclasses.replace(base, evidence=RunEvidence(on_cpu=1.0)), contended, 0.05)
    assert row.verdict == REGRESSED and row.cause.startswith("contention: the measuring threads were on their CPUs 50%")
    memory = Ceiling("memory.dram", "GB/s", 100.0, 0.01, evidence=RunEvidence(other_work=0.0, steal=0.0))
    busy = dataclasses.replace(memory, value=55.0, evidence=RunEvidence(other_work=0.5, steal=0.0))
    assert compare_row(memory, busy, 0.05).cause.startswith("contention: other processes used 50%")


def test_an_unexplained_drop_on_a_shared_machine_is_inconclusive():
    """DRAM has no per-sample evidence, and other programs' memory traffic slows it with the measuring threads
    on their CPUs: on the CI machine shared with other jobs (other processes used 79-83% of its two cores) it
    read 93.9 then 34.4 GB/s. That drop cannot be told from a real one; on an idle machine it can."""
    busy = RunEvidence(other_work=0.79, steal=0.0)
    base = Ceiling("memory.dram", "GB/s", 93.9, 0.13, evidence=busy)
    current = dataclasses.replace(base, value=34.4, spread=0.19, evidence=RunEvidence(other_work=0.83, steal=0.0))
    row = compare_row(base, current, 0.05)
    assert row.verdict == INCONCLUSIVE and "cannot tell: other processes used 79% and 83%" in row.cause
    idle = RunEvidence(other_work=0.01, steal=0.0)
    row = compare_row(dataclasses.replace(base, evidence=idle), dataclasses.replace(current, evidence=idle), 0.05)
    assert row.verdict == REGRESSED and row.cause == "unexplained"
    # a figure with evidence of its own (threads on their CPUs at its ceiling) stays a regression: per-cycle
    fma = Ceiling("compute.fp64", "GFLOP/s", 235.0, 0.005, 3700.0, 31.8, evidence=RunEvidence(1.0, 0.8, 0.0))
    slow = dataclasses.replace(fma, value=117.0, flop_per_cycle=15.8)
    assert compare_row(fma, slow, 0.05).verdict == REGRESSED


def test_the_clock_row_is_never_explained_by_cpu_time():
    """The clock is a frequency (the chains' descheduled rounds are dropped): other work's share of the cores
    does not move it, so it is never its cause; its noise covers the precisions' readings."""
    from hwbench.cpu.session import clock_noise

    base = Ceiling("clock", "MHz", 3791.0, 0.009, evidence=RunEvidence(other_work=0.83, steal=0.0))
    rose = dataclasses.replace(base, value=4031.0, evidence=RunEvidence(other_work=0.79, steal=0.004))
    assert compare_row(base, rose, 0.05).cause == "the clock under FMA load rose"
    quiet_host = dataclasses.replace(rose, evidence=RunEvidence(other_work=0.79, steal=0.0))
    assert compare_row(quiet_host, base, 0.05).cause == "the clock under FMA load fell (throttling)"
    # time stolen by the hypervisor in one of the runs: the host was shared, a guest cannot tell its load from
    # throttling without the machine's run-to-run noise
    row = compare_row(rose, base, 0.05)
    assert row.verdict == INCONCLUSIVE and row.cause.startswith("placement/contention: the hypervisor took 0.4%")
    # with that noise (--history) a fall beyond it stands as throttling
    covered = [dataclasses.replace(c, run_to_run=0.01) for c in (rose, base)]
    row = compare_row(*covered, 0.05)
    assert row.verdict == REGRESSED and row.cause == "the clock under FMA load fell (throttling)"
    assert clock_noise({"fp64": 3899.9, "fp32": 3772.8}, {"fp64": 0.01, "fp32": 0.013}) == pytest.approx(
        (3899.9 - 3772.8) / 3899.9)


def test_lower_is_better_figures_gate_by_direction():
    """A latency (another row source) rises when it gets worse: the same verdict logic gates it."""
    base = Ceiling("memory.dram.latency_ns", "ns", 100.0, 0.01, direction=-1)
    assert compare_row(base, dataclasses.replace(base, value=120.0), 0.05).verdict == REGRESSED
    assert compare_row(base, dataclasses.replace(base, value=80.0), 0.05).verdict == IMPROVED
    contended = dataclasses.replace(base, value=150.0, evidence=RunEvidence(on_cpu=0.6))
    row = compare_row(dataclasses.replace(base, evidence=RunEvidence(on_cpu=1.0)), contended, 0.05)
    assert row.verdict == REGRESSED and row.cause.startswith("contention")  # worse latency, explained the same way


def test_a_cpu_quota_is_a_regression_that_names_it(profile_data):
    quiet, quota = copy.deepcopy(profile_data), copy.deepcopy(profile_data)
    quiet["run"]["contention"] = {"other_work": 0.0, "steal": 0.0, "throttled": 0.0, "seconds": 14.0,
                                  "cpu_limit": {"cpus": None, "source": "no CPU quota"}}
    source = "/sys/fs/cgroup/cpu/hwbench-gate/cpu.cfs_quota_us: 100000 per 100000 us"
    quota["run"]["contention"] = {"other_work": 0.0, "steal": 0.0, "throttled": 0.45, "seconds": 14.0,
                                  "cpu_limit": {"cpus": 1.0, "source": source}}
    quota["memory"]["dram"]["measured_gbps"] = 30.0
    rows = {r.key: r for r in compare_profiles(Profile(quiet), Profile(quota)).rows}
    assert rows["cpu_quota"].verdict == REGRESSED and rows["cpu_quota"].cause == f"CPU quota: {source}"
    assert (rows["cpu_quota"].baseline, rows["cpu_quota"].current) == (2.0, 1.0)
    assert rows["memory.dram"].verdict == REGRESSED and rows["memory.dram"].cause.startswith("CPU quota:")
    assert "cpu_quota" not in {r.key for r in compare_profiles(Profile(profile_data), Profile(profile_data)).rows}


def test_the_ceiling_s_on_cpu_share_is_read_from_its_top_samples():
    kernel = {"samples": HALF + FULL, "contention": {"on_cpu": [0.5] * 10 + [1.0] * 10}}
    assert kernel_on_cpu(kernel) == 1.0
    assert kernel_on_cpu({"samples": HALF}) is None


# history: the first run of a lasting change ---------------------------------------------------------------


def test_history_names_the_first_run_of_a_lasting_change(profile_data):
    runs = []
    for day, value in enumerate([240.0, 200.0, 239.0, 201.0, 199.0], start=20):
        data = copy.deepcopy(profile_data)
        data["created_at"] = f"2026-11-{day}T12:00:00Z"
        data["compute"]["fp64"]["measured_gflops"] = value
        runs.append(Profile(data))
    (series,) = build_history(runs, 0.05)
    assert series.latest_regressed == ["compute.fp64"]
    assert series.lasting_since("compute.fp64").data["created_at"] == "2026-11-23T12:00:00Z"  # not the noisy 21st
    assert series.lasting_since("memory.dram") is None


def test_a_real_profile_validates_with_the_new_keys():
    data = cpu_profile(make_measurement(), DRAM)
    data["run"]["contention"] = {"other_work": 0.5, "steal": 0.0, "throttled": None, "seconds": 10.0,
                                 "cpu_limit": {"cpus": None, "source": "none"}}
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert TEST_HOST.name == data["host"]


def test_a_planted_latency_rise_and_instruction_drop_are_flagged_by_the_gate(tmp_path, monkeypatch,
                                                                                 profile_data):
    """End to end through ``hwbench compare``: latency rows (lower is better) and instruction-peak rows (each in its
    own unit) come from the profile itself, on a quiet run (no other work on the cores)."""
    monkeypatch.chdir(tmp_path)
    quiet = copy.deepcopy(profile_data)
    quiet["run"]["contention"] = {"other_work": 0.0, "steal": 0.0, "throttled": 0.0, "seconds": 14.0,
                                  "cpu_limit": {"cpus": None, "source": "no CPU quota"}}
    quiet["memory"]["dram"].update(latency_ns=100.0, latency_spread=0.01, latency_cycles=400.0)
    quiet["instruction_peaks"] = {"counting": "cpufp's", "skipped": {}, "peaks": {"dp_int8": {
        "kernel": "dp_int8", "instruction": "vpdpbusd zmm", "precision": "int8", "unit": "GOP/s", "measured": 2000.0,
        "theoretical": 2048.0, "theoretical_source": "test", "clock_mhz": 4000.0, "op_per_cycle": 250.0,
        "op_per_cycle_theoretical": 256, "noise": 0.01}}}
    slower = copy.deepcopy(quiet)
    slower["memory"]["dram"]["latency_ns"] = 120.0  # planted +20%
    slower["instruction_peaks"]["peaks"]["dp_int8"].update(measured=1600.0, op_per_cycle=200.0)  # -20%, same clock
    Profile(quiet).save(tmp_path / "a.yaml")
    Profile(slower).save(tmp_path / "b.yaml")
    # Advisory rows: the drop is shown with its cause, and fails the gate only with --strict.
    result = runner.invoke(app, ["compare", "a.yaml", "b.yaml", "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["key"]: r for r in json.loads(result.stdout)["rows"]}
    assert rows["latency.dram"]["verdict"] == INCONCLUSIVE and rows["latency.dram"]["unit"] == "ns"
    assert rows["instruction.dp_int8"]["verdict"] == INCONCLUSIVE and rows["instruction.dp_int8"]["unit"] == "GOP/s"
    assert rows["instruction.dp_int8"]["cause"].startswith("per-cycle") and "--strict" in rows["latency.dram"]["cause"]
    assert runner.invoke(app, ["compare", "a.yaml", "b.yaml", "--strict"]).exit_code == 1
    # The planted +20%: a rise (worse, for a latency) beyond the threshold and both runs' noise, not explained by
    # contention or the clock, and shown as the advisory verdict that fails the strict gate.
    strict = runner.invoke(app, ["compare", "a.yaml", "b.yaml", "--strict", "-f", "json"])
    latency = {r["key"]: r for r in json.loads(strict.stdout)["rows"]}["latency.dram"]
    assert strict.exit_code == 1 and latency["change"] == pytest.approx(0.20) and latency["noise"] < 0.05
    assert latency["verdict"] == INCONCLUSIVE and latency["cause"] == f"unexplained; {ADVISORY}"
    same = runner.invoke(app, ["compare", "a.yaml", "a.yaml", "-f", "json"])
    assert same.exit_code == 0 and {"latency.dram", "instruction.dp_int8"} <= {
        r["key"] for r in json.loads(same.stdout)["rows"]}
    # With --history (stored quiet runs of this machine) the rows' noise is their run-to-run noise, no longer
    # within-run only: the planted +20% is beyond it, but an advisory row fails the gate only on a cause that names a
    # throttle; unexplained, it is shown and fails with --strict.
    history = tmp_path / "history"
    history.mkdir()
    for i, latency_ns in enumerate((99.0, 100.0, 101.0)):
        stored = copy.deepcopy(quiet)
        stored["memory"]["dram"]["latency_ns"] = latency_ns
        Profile(stored).save(history / f"run{i}.yaml")
    gated = runner.invoke(app, ["compare", "a.yaml", "b.yaml", "--history", str(history), "-f", "json"])
    row = {r["key"]: r for r in json.loads(gated.stdout)["rows"]}["latency.dram"]
    assert gated.exit_code == 0 and row["verdict"] == INCONCLUSIVE and ADVISORY_CAUSE in row["cause"]
    assert row["change"] == pytest.approx(0.20) and 0.01 <= row["noise"] < 0.05
    assert runner.invoke(app, ["compare", "a.yaml", "b.yaml", "--history", str(history), "--strict"]).exit_code == 1
    # an instruction peak that fell with its clock (the same OP per cycle) is throttling: a regression, named
    throttled = copy.deepcopy(quiet)
    throttled["instruction_peaks"]["peaks"]["dp_int8"].update(measured=1600.0, clock_mhz=3200.0)
    Profile(throttled).save(tmp_path / "c.yaml")
    gated = runner.invoke(app, ["compare", "a.yaml", "c.yaml", "--history", str(history), "-f", "json"])
    row = {r["key"]: r for r in json.loads(gated.stdout)["rows"]}["instruction.dp_int8"]
    assert gated.exit_code == 1 and row["verdict"] == REGRESSED
    assert row["cause"].startswith("clock: -20.0% (throttling)")


# Run-to-run noise (--history) -----------------------------------------------------------------------------


def _run(profile_data: dict, dram: float, clock: float | None = None, other_work: float = 0.0,
         throttled: float = 0.0, steal: float = 0.0) -> dict:
    data = copy.deepcopy(profile_data)
    data["run"]["contention"] = {"other_work": other_work, "steal": steal, "throttled": throttled, "seconds": 10.0,
                                 "cpu_limit": {"cpus": None, "source": "no CPU quota"}}
    data["memory"]["dram"]["measured_gbps"] = dram
    if clock is not None:
        data["clock"]["measured_mhz"] = clock
        for entry in data["compute"].values():
            entry["clock_mhz"] = clock
    return data


def test_run_to_run_noise_is_the_worse_side_spread_of_quiet_runs(profile_data):
    from hwbench.tools.noise import MIN_RUNS, run_to_run, worse_side_spread

    assert worse_side_spread([100.0, 90.0, 95.0, 99.0], +1) == pytest.approx((97.0 - 90.0) / 97.0)
    assert worse_side_spread([10.0, 12.0, 11.0], -1) == pytest.approx(1 / 11)  # a latency: higher is worse
    assert worse_side_spread([5.0], +1) == 0.0
    base, current = Profile(_run(profile_data, 36.0)), Profile(_run(profile_data, 35.0))
    runs = [Profile(_run(profile_data, dram)) for dram in (36.0, 33.0, 35.0)]
    busy = Profile(_run(profile_data, 12.0, other_work=0.6))  # explained by its own evidence: not the machine's noise
    held = Profile(_run(profile_data, 18.0, throttled=0.4))
    model = run_to_run([*runs, busy, held, base, current], base, current)
    assert model.runs == 3 and model.skipped == 2 and model.usable
    assert model.noise["memory.dram"] == pytest.approx((35.0 - 33.0) / 35.0)
    # the pair compared is never its own history: with the pair among three runs, too few remain
    assert not run_to_run([runs[0], base, current], base, current).usable and MIN_RUNS == 3
    # a baseline measured while other processes shared the cores is judged by the runs of that state: every run no
    # quota held (a quota-held run is never noise)
    shared = Profile(_run(profile_data, 20.0, other_work=0.5))
    model = run_to_run([*runs, busy, held], shared, current)
    assert model.runs == 4 and model.skipped == 1
    assert model.noise["memory.dram"] == pytest.approx((34.0 - 12.0) / 34.0)


def test_history_turns_a_drop_inside_the_machine_s_run_to_run_noise_into_inconclusive(profile_data):
    base, current = Profile(_run(profile_data, 36.0)), Profile(_run(profile_data, 33.0))
    alone = {r.key: r for r in compare_profiles(base, current).rows}
    assert alone["memory.dram"].verdict == REGRESSED  # -8.3% against its within-run noise
    history = [Profile(_run(profile_data, dram)) for dram in (36.5, 35.8, 32.9, 36.2)]
    comparison = compare_profiles(base, current, history=history)
    rows = {r.key: r for r in comparison.rows}
    assert rows["memory.dram"].verdict == INCONCLUSIVE and "run-to-run" in rows["memory.dram"].cause
    assert any("run-to-run noise from 4 stored runs of this device in the baseline's state" in note
               for note in comparison.notes)
    # a drop beyond that noise still regresses, and a quota is still named by its own row
    quota = _run(profile_data, 18.0, throttled=0.45)
    quota["run"]["contention"]["cpu_limit"] = {"cpus": 1.0, "source": "cpu.max: 100000 100000"}
    rows = {r.key: r for r in compare_profiles(base, Profile(quota), history=history).rows}
    assert rows["memory.dram"].verdict == REGRESSED and rows["memory.dram"].cause.startswith("CPU quota:")
    assert rows["cpu_quota"].verdict == REGRESSED and rows["cpu_quota"].cause == "CPU quota: cpu.max: 100000 100000"


def test_a_drop_from_a_lucky_baseline_back_to_the_machine_s_typical_level_is_inconclusive(profile_data):
    # the Zen 5 guest's L1: 3 of 20 quiet runs at ~1,290 GB/s, the others at 850-1,010 (docs/gate.md)
    history = [Profile(_run(profile_data, dram)) for dram in (36.0, 35.2, 36.4, 35.8, 34.9)]
    lucky, typical = Profile(_run(profile_data, 44.0)), Profile(_run(profile_data, 35.5))
    row = {r.key: r for r in compare_profiles(lucky, typical, history=history).rows}["memory.dram"]
    assert row.verdict == INCONCLUSIVE and "better than this machine's typical 35.8 GB/s" in row.cause
    # a current run below the typical level beyond the threshold and the noise is still a regression
    throttled = Profile(_run(profile_data, 30.0))
    row = {r.key: r for r in compare_profiles(lucky, throttled, history=history).rows}["memory.dram"]
    assert row.verdict == REGRESSED
    # without history there is no typical level to read: the pair alone decides
    row = {r.key: r for r in compare_profiles(lucky, typical).rows}["memory.dram"]
    assert row.verdict == REGRESSED
    # the reference is the lower of the baseline and the typical level: a drop below that level by more than the
    # threshold and the noise still regresses, one that stays within the threshold of it does not
    near = Profile(_run(profile_data, 36.5))
    row = {r.key: r for r in compare_profiles(near, Profile(_run(profile_data, 32.0)), history=history).rows}[
        "memory.dram"]
    assert row.verdict == REGRESSED
    row = {r.key: r for r in compare_profiles(Profile(_run(profile_data, 37.3)), Profile(_run(profile_data, 34.4)),
                                              history=history).rows}["memory.dram"]
    assert row.verdict == INCONCLUSIVE and "inside the threshold or its noise" in row.cause  # -7.8%, typical -3.9%


def test_a_per_cycle_drop_the_hypervisor_s_steal_explains_is_inconclusive():
    # quiet-16 -> quiet-17 of the 15:30 series: FLOP/cycle -7.7% at clock -3.7%, with 10.6% of the run stolen
    base = Ceiling("compute.fp32", "GFLOP/s", 451.9, 0.031, 3650.8, 61.89,
                   evidence=RunEvidence(on_cpu=1.0, other_work=0.0032, steal=0.0126))
    stolen = dataclasses.replace(base, value=402.0, spread=0.024, clock_mhz=3517.4, flop_per_cycle=57.14,
                                 evidence=RunEvidence(on_cpu=0.993, other_work=0.0, steal=0.1059))
    row = compare_row(base, stolen, 0.05)
    assert row.verdict == INCONCLUSIVE and row.cause.startswith("host steal: the hypervisor took 10.6%")
    assert "per-cycle" in row.cause
    # the same drop with no more steal than the baseline stays a regression, named per-cycle
    row = compare_row(base, dataclasses.replace(stolen, evidence=base.evidence), 0.05)
    assert row.verdict == REGRESSED and row.cause.startswith("per-cycle")
    # a clock drop is throttling, whatever the steal: that is what the gate exists for (history covers the figure)
    throttled = dataclasses.replace(stolen, clock_mhz=3250.0, flop_per_cycle=61.8, run_to_run=0.02)
    row = compare_row(dataclasses.replace(base, run_to_run=0.02), throttled, 0.05)
    assert row.verdict == REGRESSED and row.cause.startswith("clock:")


def test_compare_cli_reads_history_files_and_folders(tmp_path, profile_data):
    import yaml

    paths = []
    for i, dram in enumerate((36.0, 33.0, 36.5, 35.8, 32.9, 36.2)):
        paths.append(tmp_path / "runs" / f"run-{i}.yaml")
        paths[-1].parent.mkdir(exist_ok=True)
        paths[-1].write_text(yaml.safe_dump(_run(profile_data, dram)))
    args = ["compare", str(paths[0]), str(paths[1]), "-f", "json"]
    assert runner.invoke(app, args).exit_code == 1
    # the folder holds the pair too: compare leaves them out of their own history
    result = runner.invoke(app, [*args, "--history", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    rows = {r["key"]: r for r in json.loads(result.stdout)["rows"]}
    assert rows["memory.dram"]["verdict"] == INCONCLUSIVE
    result = runner.invoke(app, [*args, "--history", str(paths[2]), "--history", str(paths[3])])
    assert result.exit_code == 1 and "at least 3 are needed" in result.stdout


def test_a_quick_run_leaves_out_the_twins_and_the_loaded_curve_unless_named():
    from hwbench import catalog

    every = {k.name for k in catalog.select("cpu", None)}
    quick = {k.name for k in catalog.select("cpu", None, quick=True)}
    assert every - quick == catalog.QUICK_LEAVES_OUT["cpu"] == {
        "dp_int8_256", "add_fp32", "mul_fp32", "scalar_add_fp32", "gemm_fp32", "latency_loaded"}
    assert {"dp_bf16", "dp_int8", "add_fp64", "mul_fp64", "scalar_add_fp64", "gemm_fp64", "latency_chase",
            "fma_fp64", "fma_fp32"} <= quick
    # named, they run in a quick run too
    assert [k.name for k in catalog.select("cpu", "add_fp32,latency_loaded", quick=True)] == ["add_fp32",
                                                                                             "latency_loaded"]
    assert catalog.select("gpu", None, quick=True) == catalog.select("gpu", None)


def test_history_judges_each_run_with_the_run_to_run_noise_of_the_quiet_runs_before_it(profile_data):
    def series(drams: list[float]):
        runs = []
        for day, dram in enumerate(drams, start=10):
            data = _run(profile_data, dram)
            data["created_at"] = f"2026-11-{day}T12:00:00Z"
            runs.append(Profile(data))
        (found,) = build_history(runs, 0.05)
        return found

    # a dip of 8% after earlier quiet runs that dipped as far: inside the machine's run-to-run noise
    found = series([36.0, 35.6, 33.2, 36.1, 35.8, 33.1])
    assert found.rows[-1]["memory.dram"].verdict == INCONCLUSIVE and not found.latest_regressed
    # the same dip with no earlier history (two runs): the recorded noise only, a regression
    assert series([36.0, 33.1]).latest_regressed == ["memory.dram"]
    # a lasting drop: its runs never widen the noise that judges the next, so it is named from its first run
    found = series([36.0, 35.6, 35.9, 36.1, 25.0, 24.6, 24.9])
    assert found.latest_regressed == ["memory.dram"]
    assert found.lasting_since("memory.dram").data["created_at"] == "2026-11-14T12:00:00Z"
