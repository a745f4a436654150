"""``hwbench validate``'s latency-bound section: the workloads (a random walk over a CSR graph, dependent hash-table
lookups) run and validate, and the model (dependent loads x the profile's latency) is pure arithmetic on
hand-made records; the section stays out of the roofline verdict."""

from __future__ import annotations

import pytest

from hwbench.errors import MeasurementError
from hwbench.profile import Profile
from hwbench.stats import RepetitionPolicy
from hwbench.tools.validate_latency import latency_at, latency_bound
from hwbench.workloads import cpu_latency
from hwbench.workloads.result import WorkloadRun

POLICY = RepetitionPolicy(warmups=0, min_repetitions=2, min_seconds=0)
PLAN = cpu_latency.LatencyPlan(1 << 16, 1 << 16, 2000)


class StandIn:
    """What the section reads of a ``Profile``: its data."""

    def __init__(self, data: dict):
        self.data = data


def profile(curve: list[tuple[int, float]], dram_ns: float | None, gbps: float = 50.0) -> Profile:
    data = {"memory": {"dram": {"measured_gbps": gbps, "latency_ns": dram_ns}},
            "latency": {"curve": [{"working_set_bytes": ws, "latency_ns": ns} for ws, ns in curve]}}
    return StandIn(data)  # type: ignore[return-value]


def record(kind: str, seconds: float, steps: int, loads: float, footprint: int) -> WorkloadRun:
    return WorkloadRun(kind, "cpu", kind, (1,), "-", 8, "test", "test", seconds, (seconds, seconds, 2 * seconds), 1,
                       {"steps": steps, "dependent_loads_per_step": loads, "footprint_bytes": footprint})


def test_latency_at_interpolates_the_curve_in_log_size_and_uses_dram_beyond_it():
    data = profile([(1 << 20, 4.0), (1 << 22, 12.0), (1 << 27, 160.0)], 165.0).data
    assert latency_at(data, 1 << 21) == (pytest.approx(8.0), "latency.curve (interpolated)")
    assert latency_at(data, 1 << 22) == (12.0, "latency.curve")
    assert latency_at(data, 1 << 28) == (165.0, "memory.dram.latency_ns")


def test_prediction_is_dependent_loads_times_latency_beside_the_roofline():
    runs = [record("random_walk", 0.066, 100_000, 2, 1 << 28), record("hash_walk", 0.02, 100_000, 1.04, 1 << 27),
            record("matmul", 1.0, 1, 1, 1)]
    section = latency_bound(profile([(1 << 27, 160.0)], 165.0), runs)["latency_bound"]
    walk, table = section["workloads"]
    assert walk["predicted_seconds"] == pytest.approx(100_000 * 2 * 165e-9)  # DRAM: beyond the curve
    assert walk["error_pct"] == pytest.approx(100 * (0.066 / 0.033 - 1), abs=0.01)
    assert walk["best_seconds"] == pytest.approx(0.066)  # the 2nd fastest of (0.066, 0.066, 0.132)
    assert table["predicted_seconds"] == pytest.approx(100_000 * 1.04 * 165e-9)  # at the curve's top: DRAM's
    assert walk["roofline_seconds"] == pytest.approx(100_000 * 2 * 64 / 50e9)  # lines at the DRAM bandwidth
    assert section["in_verdict"] is False and len(section["workloads"]) == 2
    assert section["median_abs_error_pct"] == pytest.approx((abs(walk["error_pct"]) + abs(table["error_pct"])) / 2,
                                                            abs=0.01)


def test_no_latency_in_the_profile_gives_no_prediction_and_says_why():
    section = latency_bound(profile([], None), [record("hash_walk", 0.02, 10, 1, 1 << 27)])["latency_bound"]
    assert section["workloads"][0]["predicted_seconds"] is None and "hwbench run --kernels latency" in section["note"]
    assert latency_bound(profile([], None), [record("matmul", 1.0, 1, 1, 1)]) == {}


def test_both_workloads_run_and_validate():
    walk = cpu_latency.random_walk(PLAN, POLICY)
    table = cpu_latency.hash_walk(PLAN, POLICY)
    assert walk.kind == "random_walk" and walk.details["dependent_loads_per_step"] == 2 and walk.threads == 1
    assert 1 <= table.details["dependent_loads_per_step"] < 1.5  # load factor 1/2, 4 slots a line
    assert all(run.seconds > 0 and len(run.samples) >= 2 for run in (walk, table))


def test_replay_agrees_with_the_walk():
    import numpy as np

    row_ptr = np.array([0, 2, 3, 5], dtype=np.int64)
    col = np.array([1, 2, 0, 0, 1], dtype=np.int32)
    end, state = cpu_latency._walk(row_ptr, col, 0, np.uint64(cpu_latency.XORSHIFT_SEED), 50)
    assert (int(end), int(state)) == cpu_latency.replay_walk(row_ptr, col, 0, cpu_latency.XORSHIFT_SEED, 50)


def test_a_wrong_walk_is_an_error(monkeypatch):
    monkeypatch.setattr(cpu_latency, "replay_walk", lambda *args: (-1, 0))
    with pytest.raises(MeasurementError, match="random_walk_0Mi output check failed"):
        cpu_latency.random_walk(PLAN, POLICY)
    real = cpu_latency._hash_walk
    monkeypatch.setattr(cpu_latency, "_hash_walk", lambda table, start, steps, shift, mask: real(
        table, start, steps + 1, shift, mask))  # one lookup too many
    with pytest.raises(MeasurementError, match="hash_walk output check failed"):
        cpu_latency.hash_walk(PLAN, POLICY)
