"""The arithmetic-intensity sweep: the kernel's closed form and validation, the catalog's intensity range, the
profile section's roofline arithmetic and schema, and one small real sweep on this machine."""

from __future__ import annotations

import dataclasses
import statistics

import jsonschema
import numpy as np
import pytest

from conftest import cpu_profile, make_measurement
from hwbench import catalog
from hwbench.cpu.smbios import DramTheory
from hwbench.errors import MeasurementError
from hwbench.kernels import cpu_intensity, cpu_stream
from hwbench.profile import Profile, json_schema
from hwbench.profile.intensity import roofline_gflops
from hwbench.record import IntensityCurve

DTYPES = {"fp64": np.float64, "fp32": np.float32}


@pytest.mark.parametrize("precision", ["fp64", "fp32"])
@pytest.mark.parametrize(("form", "steps"), [("add", 1), ("fma", 1), ("fma", 7)])
def test_kernel_adds_one_per_step_on_every_element(precision, form, steps):
    lanes, chains = 4, 12
    n = cpu_intensity.granule(lanes, chains) * 10
    array = cpu_stream.aligned_empty(n, DTYPES[precision])
    cpu_intensity.fill(array, 0.0, 0, n)
    kernel = cpu_intensity.intensity_kernel(form, precision, lanes, chains)
    kernel(array, 0, n, steps, 1.0, 1.0, 3)
    assert np.all(array == 3 * steps)
    # Only its slice: [granule, 2 granule) gets one more pass.
    g = cpu_intensity.granule(lanes, chains)
    kernel(array, g, 2 * g, steps, 1.0, 1.0, 1)
    assert np.all(array[g:2 * g] == 4 * steps) and np.all(array[2 * g:] == 3 * steps)
    assert cpu_intensity.max_deviation(array[2 * g:], 3.0 * steps) == 0.0


def test_flops_per_element():
    assert cpu_intensity.flops_per_element("add", 1) == 1
    assert cpu_intensity.flops_per_element("fma", 5) == 10


def test_catalog_intensities_span_the_roofline():
    """ERT's range: from well under the ridge point (1/16 FLOP/byte in fp64) to far above it (64)."""
    for precision, low, high in (("fp64", 1 / 16, 64), ("fp32", 1 / 8, 64)):
        kernel = catalog.kernel("cpu", f"intensity_{precision}")
        flops = kernel.launch.flops
        assert kernel.bytes_stream == 2 * kernel.element_bytes  # one load, one store
        assert (flops[0] / kernel.bytes_stream, flops[-1] / kernel.bytes_stream) == (low, high)
        assert flops[0] == 1 and all(f % 2 == 0 for f in flops[1:])  # 1: the add; 2k: k FMAs
        assert set(kernel.launch.quick_flops) <= set(flops)
    assert catalog.select("cpu", "intensity") == (catalog.kernel("cpu", "intensity_fp64"),
                                                  catalog.kernel("cpu", "intensity_fp32"))


def curve(precision="fp64", points=((1, 2.0, 1.9), (16, 30.0, 29.0), (1024, 200.0, 190.0))) -> IntensityCurve:
    return IntensityCurve(f"intensity_{precision}", precision, "dram", 2**27, 16 if precision == "fp64" else 8,
                          "test counting", tuple(points), "test method")


def test_section_puts_each_point_beside_the_profiles_own_roofline():
    run = dataclasses.replace(make_measurement(), intensity_sweep=(curve(),))
    data = cpu_profile(run, DramTheory(76.8, "SMBIOS type 17: test"))
    jsonschema.validate(data, json_schema())
    Profile(data)  # the loader's own checks
    (entry,) = data["intensity_sweep"]
    peak, bandwidth = data["compute"]["fp64"]["measured_gflops"], data["memory"]["dram"]["measured_gbps"]
    assert (peak, bandwidth) == (240.0, 52.0)  # the hand-made run's ceilings (copy_nt: 52 GB/s of traffic)
    roofs = [min(peak, ai * bandwidth) for ai in (1 / 16, 1, 64)]
    assert [p["flops_per_byte"] for p in entry["points"]] == [0.0625, 1.0, 64.0]
    assert [p["roofline_gflops"] for p in entry["points"]] == pytest.approx(roofs, abs=1e-3)
    errors = [100 * (measured - roof) / roof for measured, roof in zip((2.0, 30.0, 200.0), roofs)]
    assert [p["error_pct"] for p in entry["points"]] == pytest.approx(errors, abs=0.01)
    assert entry["median_abs_error_pct"] == pytest.approx(statistics.median(abs(e) for e in errors), abs=0.01)
    assert [p["gbps"] for p in entry["points"]] == pytest.approx([32.0, 30.0, 200.0 / 64], abs=1e-3)


def test_curve_without_a_matching_ceiling_keeps_its_points_without_a_roofline():
    run = dataclasses.replace(make_measurement(), intensity_sweep=(curve("fp16"),))
    data = cpu_profile(run, DramTheory(None, "unknown"))
    jsonschema.validate(data, json_schema())
    (entry,) = data["intensity_sweep"]
    assert entry["median_abs_error_pct"] is None and entry["roofline"].startswith("none:")
    assert all(p["roofline_gflops"] is None and p["error_pct"] is None for p in entry["points"])


def test_roofline_gflops():
    assert roofline_gflops(0.5, 100.0, 40.0) == 20.0
    assert roofline_gflops(10.0, 100.0, 40.0) == 100.0
    assert roofline_gflops(1.0, None, 40.0) is None


def test_schema_refuses_a_point_without_a_rate():
    run = dataclasses.replace(make_measurement(), intensity_sweep=(curve(),))
    data = cpu_profile(run, DramTheory(76.8, "SMBIOS type 17: test"))
    data["intensity_sweep"][0]["points"][0]["gflops"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json_schema())


def test_a_wrong_element_is_a_measurement_error(monkeypatch):
    """A kernel that skips one element's update fails the point's validation: no figure."""
    from hwbench.cpu import intensity
    from hwbench.cpu.session import CpuOptions, measure_families

    real = cpu_intensity.intensity_kernel

    def skipping(form, precision, lanes, chains):
        kernel = real(form, precision, lanes, chains)

        def run(array, lo, hi, steps, alpha, beta, passes):
            kept = array[lo]
            kernel(array, lo, hi, steps, alpha, beta, passes)
            array[lo] = kept  # the first element of each slice never updated

        return run

    monkeypatch.setattr(intensity.cpu_intensity, "intensity_kernel", skipping)
    options = CpuOptions(kernels=(catalog.kernel("cpu", "intensity_fp64"),), threads=1, quick=True,
                         array_bytes=2**20)
    with pytest.raises(MeasurementError, match="intensity_fp64 output check failed"):
        measure_families(options)


@pytest.mark.slow
def test_small_real_sweep():
    """Both precisions on this machine over a small array: every point validated and positive; structure only."""
    from hwbench.cpu.session import CpuOptions, measure_families

    options = CpuOptions(kernels=catalog.select("cpu", "intensity"), threads=1, quick=True, array_bytes=4 * 2**20)
    run = measure_families(options)
    assert [(c.kernel, c.precision, c.level) for c in run.intensity_sweep] == [
        ("intensity_fp64", "fp64", "dram"), ("intensity_fp32", "fp32", "dram")]
    for sweep in run.intensity_sweep:
        kernel = catalog.kernel("cpu", sweep.kernel)
        assert [flops for flops, _, _ in sweep.points] == list(kernel.launch.quick_flops)
        assert all(ceiling > 0 and median > 0 for _, ceiling, median in sweep.points)
        assert sweep.working_set_bytes <= 4 * 2**20


def test_show_prints_the_sweep_beside_its_errors():
    from rich.console import Console

    from hwbench.tools.render import print_profile

    run = dataclasses.replace(make_measurement(), intensity_sweep=(curve(), curve("fp32", ((1, 3.0, 3.0),))))
    data = cpu_profile(run, DramTheory(76.8, "SMBIOS type 17: test"))
    console = Console(width=120, record=True, color_system=None)
    print_profile(data, console)
    text = console.export_text()
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip().startswith(("1/", "64"))}
    assert rows["1/16"] == ["2.0", "-38%"]  # 2.0 against min(240, 52/16) = 3.25
    assert rows["1/8"] == ["3.0", "-54%"]  # fp32: 3.0 against min(480, 52/8) = 6.5
    assert rows["64"] == ["200.0", "-17%"]  # against the fp64 peak, 240
    assert "median |err|" in text
