"""Figures above their physical limit are measurement errors, flagged and never ceilings; per-cycle figures come
from the same samples as the rates. Synthetic measurements through the one builder."""

from __future__ import annotations

import datetime as dt

import pytest

from hwbench.profile.build import build_profile
from hwbench.record import ComputeTheory, Host, MemoryTheory, SessionRecord
from hwbench.stats import KernelResult, RateSummary

HOST = Host("testhost", "Linux 6.0", "0.1.0", dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc))
# An H100 SXM: 132 SMs, 4096 dense fp16 tensor FLOP per cycle per SM, 1980 MHz max (NVML).
H100_TENSOR = ComputeTheory(units=132, per="SM", clock="sm", clock_source="NVML", flop_per_cycle=4096,
                            nominal_mhz=1980.0, nominal_source="NVML max", source="table", nominal_is_max=True)


def gemm(rates: tuple[float, ...], clocks: tuple[float, ...], window_mhz: float) -> KernelResult:
    return KernelResult("matmul_fp16", "tensor_fp16", "core", "GFLOP/s", RateSummary(rates), 0, None, None, 1, True,
                        clocks_mhz={"sm": window_mhz}, sample_clocks_mhz=clocks)


def profile(*results: KernelResult, memory: dict | None = None) -> dict:
    return build_profile(SessionRecord({"id": "cuda:0", "name": "H100", "vendor": "NVIDIA"}, {}, {}, list(results),
                                     {"tensor_fp16": H100_TENSOR}, memory or {}), HOST)


def test_per_cycle_pairs_each_sample_with_its_own_clock():
    # A power-capped GEMM: the fast samples ran at 1980 MHz, the slow ones at 1170. The best rate over the
    # window's median clock (1380) gave 4,227 FLOP/cycle/SM on the shared H100 profile: impossible.
    rates = (1_070_000.0, 1_060_000.0, 640_000.0, 630_000.0, 750_000.0)
    clocks = (1980.0, 1965.0, 1170.0, 1170.0, 1380.0)
    entry = profile(gemm(rates, clocks, window_mhz=1380.0))["compute"]["tensor_fp16"]
    assert 1_070_000.0 * 1e3 / (132 * 1380.0) > 4096  # the old rule
    assert entry["flop_per_cycle"] == pytest.approx(4094.0, abs=25)  # each rate over its own clock, median
    assert "measurement_error" not in entry


def test_a_figure_above_the_hardware_is_rejected_and_flagged():
    data = profile(gemm((1_200_000.0,), (1980.0,), window_mhz=1980.0))
    entry = data["compute"]["tensor_fp16"]
    assert entry["flop_per_cycle"] is None and entry["flop_per_cycle_rejected"] == pytest.approx(4591.4, abs=0.1)
    assert entry["efficiency_at_measured_clock"] is None
    assert "above the hardware's 4096" in entry["measurement_error"]
    assert "above the theoretical peak at the highest clock" in entry["measurement_error"]  # 1,200 > 1,070 TF
    assert any(w.startswith("tensor_fp16: measurement error, not a ceiling") for w in data["warnings"])


def test_efficiency_above_one_is_normal_where_the_nominal_clock_is_not_the_highest():
    cpu = ComputeTheory(2, "core", "core", "probe", 32, 2600.0, "brand string", "table")
    fma = KernelResult("fma_fp64", "fp64", "core", "GFLOP/s", RateSummary((240.0,)), 0, None, None, 1, True,
                       clocks_mhz={"core": 3750.0})
    data = build_profile(SessionRecord({"id": "cpu"}, {}, {}, [fma], {"fp64": cpu}, {}), HOST)
    assert "measurement_error" not in data["compute"]["fp64"]
    assert any("below the clock the cores ran at" in w for w in data["warnings"])


def test_bandwidth_above_the_paper_figure_is_flagged():
    triad = KernelResult("triad", "fp64", "dram", "GB/s", RateSummary((3500.0,)), 1, 24, 24, 2, True)
    theory = MemoryTheory(3352.3, "2 x 2619 MHz x 5120 bits / 8", "bytes read + written")
    entry = profile(triad, memory={"dram": theory})["memory"]["dram"]
    assert "above the theoretical 3352.3 GB/s" in entry["measurement_error"]
    under = KernelResult("triad", "fp64", "dram", "GB/s", RateSummary((3078.0,)), 1, 24, 24, 2, True)
    assert "measurement_error" not in profile(under, memory={"dram": theory})["memory"]["dram"]
