"""The GPU latency chase: kernels/cuda/latency.cu compiled by nvcc for every listed architecture, and the family
end to end on the NumPy stand-in for CuPy (tests/fake_cupy.py), whose cycles are its own (no GPU figure is
asserted or written: only the launches, the validation of the end index and the profile's arithmetic)."""

from __future__ import annotations

import subprocess

import jsonschema
import pytest
from test_gpu import fake_gpu, fake_profile  # noqa: F401  (the fixture and the helper of the stand-in)

from conftest import find_nvcc
from hwbench import catalog
from hwbench.errors import MeasurementError
from hwbench.gpu import latency as gpu_latency
from hwbench.profile import json_schema

NVCC = find_nvcc()
ARCHS = ("sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120")
ENTRIES = ("chase_global_cg", "chase_global_ldg", "chase_shared")


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ARCHS)
def test_latency_cu_compiles_for_every_listed_architecture(tmp_path, arch):
    ptx = tmp_path / "latency.ptx"
    options = catalog.LATENCY_CU.compile_options()
    subprocess.run([NVCC, f"-arch={arch}", "-ptx", *options, str(gpu_latency_source()), "-o", str(ptx)], check=True,
                   capture_output=True)
    text = ptx.read_text()
    for entry in ENTRIES:
        assert f".entry {entry}(" in text
    assert "clock64" in text or "%clock64" in text
    assert "ld.global.cg" in text and "ld.global.nc" in text and "ld.shared" in text


def gpu_latency_source():
    from importlib import resources

    return resources.files("hwbench.kernels").joinpath("cuda", "latency.cu")


def test_random_cycle_is_one_cycle():
    chain, order = gpu_latency.random_cycle(100, 32)
    j, seen = int(order[0]), set()
    for _ in range(100):
        seen.add(j)
        j = int(chain[j])
    assert j == order[0] and len(seen) == 100 and all(index % 32 == 0 for index in seen)


def test_gpu_latency_on_the_stand_in(fake_gpu):  # noqa: F811
    from fake_cupy import FAKE_CYCLES_PER_LOAD

    data = fake_profile("latency_chase")
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    levels = {level: data["memory"][level] for level in ("shared", "l1", "l2", "dram")}
    cycles = {"shared": FAKE_CYCLES_PER_LOAD["chase_shared"], "l1": FAKE_CYCLES_PER_LOAD["chase_global_ldg"],
              "l2": FAKE_CYCLES_PER_LOAD["chase_global_cg"], "dram": FAKE_CYCLES_PER_LOAD["chase_global_cg"]}
    mhz = data["latency"]["definition"]["sm_clock_mhz"]
    for level, entry in levels.items():
        assert entry["latency_cycles"] == cycles[level] and entry["latency_clock_source"] == "clock64() on the SM"
        assert entry["latency_ns"] == pytest.approx(cycles[level] / mhz * 1e3, abs=1e-3)
        assert entry["measured_gbps"] is None  # no bandwidth kernel ran
    launch = catalog.kernel("gpu", "latency_chase").launch
    l2 = data["device"].get("l2_bytes") or 1 << 20
    assert levels["dram"]["latency_working_set_bytes"] >= launch["dram_l2_multiple"] * l2 * 0.99
    assert data["kernels"] == []  # a chase is not a bandwidth kernel


def test_gpu_chase_ending_elsewhere_is_an_error(fake_gpu, monkeypatch):  # noqa: F811
    real = gpu_latency.random_cycle

    def corrupted(lines, stride, seed=gpu_latency.SEED):
        chain, order = real(lines, stride, seed)
        chain[order[1]] = order[1]  # the second line points at itself: the chase is stuck there
        return chain, order

    monkeypatch.setattr(gpu_latency, "random_cycle", corrupted)
    with pytest.raises(MeasurementError, match="latency chase over shared"):
        fake_profile("latency_chase")
