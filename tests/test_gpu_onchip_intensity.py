"""The GPU's on-chip bandwidth (shared memory, L1) and intensity sweep, end to end on the NumPy stand-in for
CuPy (tests/fake_cupy.py): launches, validation, the profile entries and the sweep's roofline arithmetic. The
rates are the stand-in's (1 ms per event pair), so only structure and arithmetic are checked; the kernels
themselves compile under nvcc in test_gpu.py."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest
from test_gpu import fake_gpu, fake_profile  # noqa: F401  (the fixture and the helper of the stand-in)

from hwbench import catalog
from hwbench.errors import MeasurementError
from hwbench.gpu import intensity as gpu_intensity
from hwbench.gpu import onchip
from hwbench.profile import json_schema

ONCHIP = catalog.ONCHIP_CU.constants


@pytest.fixture
def small_sweep(fake_gpu, monkeypatch):  # noqa: F811
    """The sweep over a 1 MiB "DRAM" array and a 512 KiB "L2" one (NumPy does the work)."""
    monkeypatch.setattr(gpu_intensity, "level_bytes",
                        lambda kernel, level, l2_bytes, free_bytes: 2**20 if level == "dram" else 2**19)
    return fake_gpu


def test_shared_and_l1_levels(fake_gpu):  # noqa: F811
    data = fake_profile("shared_read,l1_read")
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    shared, l1 = data["memory"]["shared"], data["memory"]["l1"]
    assert (shared["kernel"], l1["kernel"]) == ("shared_read", "l1_read")
    # 4 SMs x 32 banks x 4 bytes x 2000 MHz (the stand-in's NVML max SM clock)
    assert shared["theoretical_gbps"] == pytest.approx(4 * 32 * 4 * 2000 / 1000)
    assert "Programming Guide" in shared["theoretical_source"]
    assert l1["theoretical_gbps"] is None and "measured only" in l1["theoretical_source"]
    assert shared["bytes_per_cycle_clock"] == "SM" and shared["clock_mhz"] == 1500.0
    assert shared["bytes_per_cycle_per_sm"] == pytest.approx(shared["bytes_per_cycle"] / 4, abs=0.01)  # 4 SMs
    for name in ("shared_read", "l1_read"):
        entry = next(k for k in data["kernels"] if k["name"] == name)
        blocks, passes = entry["details"]["blocks"], entry["details"]["passes"]
        assert entry["bytes_stream"] == passes * ONCHIP["VECTORS"] * 16 * blocks and entry["validated"]
    launches = [launch for module in fake_gpu.RawModule.created for launch in module.launches
                if launch.name in ("shared_read_f32", "l1_read_f32")]
    assert launches and {launch.block for launch in launches} == {(ONCHIP["BLOCK"],)}


def test_onchip_expected_sum_is_exact():
    for name in ("shared_read", "l1_read"):
        kernel = catalog.kernel("gpu", name)
        vectors_per_thread = ONCHIP["VECTORS"] // ONCHIP["BLOCK"]
        assert onchip.expected_sum(kernel) == kernel.launch.passes * vectors_per_thread * 4 * kernel.launch.value
        assert onchip.expected_sum(kernel) < 2**24  # exact in float


def test_onchip_wrong_sum_is_a_measurement_error(fake_gpu, monkeypatch):  # noqa: F811
    monkeypatch.setattr(onchip, "expected_sum", lambda kernel: 1.0)  # what no thread sums
    with pytest.raises(MeasurementError, match="shared_read output check failed"):
        fake_profile("shared_read")


def test_intensity_sweep_on_both_levels(small_sweep):
    data = fake_profile("fma_fp64,fma_fp32,triad,l2_read,intensity")
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    curves = data["intensity_sweep"]
    assert [(c["kernel"], c["level"]) for c in curves] == [
        ("intensity_fp64", "dram"), ("intensity_fp64", "l2"), ("intensity_fp32", "dram"), ("intensity_fp32", "l2")]
    for curve in curves:
        kernel = catalog.kernel("gpu", curve["kernel"])
        assert [p["flops_per_element"] for p in curve["points"]] == list(kernel.launch.quick_flops)
        assert curve["bytes_per_element"] == 2 * kernel.element_bytes
        peak = data["compute"][kernel.precision]["measured_gflops"]
        bandwidth = data["memory"][curve["level"]]["measured_gbps"]
        for point in curve["points"]:
            ai = point["flops_per_element"] / curve["bytes_per_element"]
            assert point["roofline_gflops"] == pytest.approx(min(peak, ai * bandwidth), rel=1e-3)
    assert not any(k["name"].startswith("intensity") for k in data["kernels"])  # points are not ceilings
    launches = [launch for module in small_sweep.RawModule.created for launch in module.launches
                if launch.name.startswith("intensity_")]
    assert {launch.block for launch in launches} == {(catalog.INTENSITY_CU.constants["BLOCK"],)}


def test_intensity_wrong_element_is_a_measurement_error(small_sweep, monkeypatch):
    import fake_cupy

    real_call = fake_cupy.Kernel.__call__

    def corrupting(self, grid, block, args, **kwargs):
        real_call(self, grid, block, args, **kwargs)
        if self.name.startswith("intensity_"):
            args[0][3] += np.float32(0.5)

    monkeypatch.setattr(fake_cupy.Kernel, "__call__", corrupting)
    with pytest.raises(MeasurementError, match="intensity_fp32 output check failed"):
        fake_profile("intensity_fp32")


def test_level_bytes():
    kernel = catalog.kernel("gpu", "intensity_fp32")
    l2 = 50 * 2**20
    assert gpu_intensity.level_bytes(kernel, "l2", l2, 80 * 2**30) == 25 * 2**20
    assert gpu_intensity.level_bytes(kernel, "dram", l2, 80 * 2**30) == 256 * 2**20  # max(4 x L2, 256 MiB)
    free = 512 * 2**20
    assert gpu_intensity.level_bytes(kernel, "dram", l2, free) == int(free * 0.3) // 4 * 4  # capped by free memory
