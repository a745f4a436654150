"""GPU pieces that need no GPU (the .cu files under plain nvcc, theoretical tables, throttle reasons, launch
arithmetic, the profile built from a synthetic measurement), and real GPU runs marked ``gpu``.

The synthetic measurement's rates are round made-up numbers for testing the arithmetic; they are not
figures of any GPU and appear nowhere else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from hwbench.gpu_ceilings import gpu_profile, pcie_gbps
from hwbench.gpu_runner import (
    GPU_KERNELS,
    GpuInfo,
    GpuMeasurement,
    decode_packed,
    fma_expected,
    fp16_word,
    resolve_gpu_kernels,
    stream_array_bytes,
)
from hwbench.gpu_theory import dram_gbps, launch_blocks, peak_gflops, sm_model
from hwbench.profile import json_schema
from hwbench.stats import KernelResult, RateSummary, RepetitionPolicy
from hwbench.telemetry import Sample, decode_reasons, is_throttled, summarize_window

CUDA_DIR = Path(__file__).parents[1] / "kernels" / "cuda"
NVCC = shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if Path(p).exists()), None)

# Every kernel name the runner asks a module for (gpu_runner.py), by file.
EXPECTED_ENTRIES = {
    "stream.cu": [f"{form}_{suffix}" for suffix in ("f64", "f32")
                  for form in ("copy", "scale", "add", "triad", "dot", "l2_read")],
    "fma.cu": ["fma_f64", "fma_f32", "fma_f16x2", "fma_bf16x2"],
}


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", sorted(EXPECTED_ENTRIES))
def test_cuda_sources_compile_with_plain_nvcc(tmp_path, arch, source):
    ptx = tmp_path / f"{source}.ptx"
    result = subprocess.run([NVCC, f"-arch={arch}", "-ptx", str(CUDA_DIR / source), "-o", str(ptx)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx.read_text()))
    assert set(EXPECTED_ENTRIES[source]) <= entries
    assert "warning" not in result.stderr.lower(), result.stderr


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_fma_kernels_keep_every_chain(tmp_path):
    """8 chains x 4 unrolled + 8 remainder FMAs in the loop, and 7 more summing packed chains: no chain is
    removed as dead code."""
    ptx = tmp_path / "fma.ptx"
    subprocess.run([NVCC, "-arch=sm_90", "-ptx", str(CUDA_DIR / "fma.cu"), "-o", str(ptx)], check=True,
                   timeout=300)
    text = ptx.read_text()

    def body(name: str) -> str:
        return text[text.index(f".entry {name}("):].split(".entry ")[1]

    assert body("fma_f32").count("fma.rn.f32") == 40
    assert body("fma_f64").count("fma.rn.f64") == 40
    assert body("fma_bf16x2").count("fma.rn.bf16x2") == 47


# Theoretical tables against datasheets ----------------------------------------------------------------


def test_h100_sxm_datasheet():
    hopper = sm_model(9, 0)
    assert peak_gflops(132, 1980, hopper.per_cycle("fp32")) == pytest.approx(66_908, rel=1e-4)  # 66.9 TFLOP/s
    assert peak_gflops(132, 1980, hopper.per_cycle("fp64")) == pytest.approx(33_454, rel=1e-4)  # 33.5 TFLOP/s
    assert peak_gflops(132, 1980, hopper.per_cycle("tensor_fp64")) == pytest.approx(66_908, rel=1e-4)  # 67
    # Dense FP16 tensor: 989.4 TFLOP/s in the whitepaper, which states it at 1830 MHz.
    assert peak_gflops(132, 1830, hopper.per_cycle("tensor_fp16")) == pytest.approx(989_430, rel=1e-4)
    assert dram_gbps(2619, 5120) == pytest.approx(3352, rel=1e-3)  # 3.35 TB/s


def test_a100_40gb_datasheet():
    ampere = sm_model(8, 0)
    assert peak_gflops(108, 1410, ampere.per_cycle("fp32")) == pytest.approx(19_492, rel=1e-4)  # 19.5 TFLOP/s
    assert peak_gflops(108, 1410, ampere.per_cycle("fp64")) == pytest.approx(9_746, rel=1e-4)  # 9.7
    assert peak_gflops(108, 1410, ampere.per_cycle("tensor_fp16")) == pytest.approx(311_869, rel=1e-4)  # 312
    assert peak_gflops(108, 1410, ampere.per_cycle("tensor_tf32")) == pytest.approx(155_934, rel=1e-4)  # 156
    assert dram_gbps(1215, 5120) == pytest.approx(1555.2)  # 1555 GB/s


def test_unknown_factors_give_none():
    assert sm_model(12, 1) is None
    assert peak_gflops(132, None, 256) is None and peak_gflops(132, 1980, None) is None
    assert dram_gbps(None, 5120) is None
    assert sm_model(8, 6).per_cycle("tensor_fp64") is None


def test_launch_configuration():
    assert launch_blocks(132, 2048, 256) == 1056  # H100: 8 resident blocks of 256 per SM
    assert launch_blocks(108, 2048, 256, waves=4) == 3456
    assert launch_blocks(80, 1536, 1024) == 80  # one block of 1024 fits in 1536 threads


def test_pcie_bandwidth():
    assert pcie_gbps(5, 16) == pytest.approx(63.015, rel=1e-4)
    assert pcie_gbps(3, 16) == pytest.approx(15.754, rel=1e-4)
    assert pcie_gbps(None, 16) is None


# Telemetry -----------------------------------------------------------------------------------------------


def test_throttle_reason_decoding():
    assert decode_reasons(0x0004 | 0x0040) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_reasons(0x1000) == ["unknown_0x1000"]
    assert not is_throttled(0x0001) and is_throttled(0x0005)


def test_window_summary():
    samples = [Sample(t, 1980.0 - 10 * t, 2619.0, 600.0 + t, 60.0 + t, 0x4 if t >= 3 else 0x1)
               for t in range(6)]
    window = summarize_window(samples, 1.0, 4.0)
    assert window.samples == 4 and window.sm_mhz == 1955.0 and window.sm_mhz_min == 1940.0
    assert window.power_w == 602.5 and window.temperature_c == 64.0
    assert window.reasons == ["sw_power_cap"] and window.throttled_samples == 2
    assert summarize_window(samples, 10.0, 11.0).samples == 0


# Kernel arithmetic ---------------------------------------------------------------------------------------


def test_stream_array_size():
    size, warnings = stream_array_bytes(50 * 2**20, 80 * 2**30)
    assert size == 2**30 and not warnings
    size, warnings = stream_array_bytes(50 * 2**20, 300 * 2**20)
    assert size == 60 * 2**20 and "under 4x the L2" in warnings[0]


def test_packed_half_words():
    assert fp16_word(1.0, bf16=False) == np.uint32(0x3C003C00)
    assert fp16_word(0.75, bf16=True) == np.uint32(0x3F403F40)
    words = np.array([fp16_word(0.75, False), fp16_word(0.5, False)], dtype=np.uint32)
    assert decode_packed(words, bf16=False).tolist() == [0.75, 0.75, 0.5, 0.5]
    assert decode_packed(np.array([fp16_word(0.75, True)]), bf16=True).tolist() == [0.75, 0.75]
    assert fma_expected("fp32", 4096) == pytest.approx(16.0)  # 8 chains converged to 2
    assert fma_expected("fp32", 1) == pytest.approx(8 * 1.25)


def test_gpu_kernel_selection():
    assert resolve_gpu_kernels("tensor,triad_fp32") == ("triad_fp32", "matmul_fp16", "matmul_bf16",
                                                        "matmul_tf32", "matmul_fp64")
    assert resolve_gpu_kernels(None) == GPU_KERNELS
    with pytest.raises(Exception, match="unknown GPU kernel 'fma_fp8'"):
        resolve_gpu_kernels("fma_fp8")


# Profile from a synthetic measurement --------------------------------------------------------------------


def synthetic_measurement() -> GpuMeasurement:
    from hwbench.telemetry import WindowSummary

    gpu = GpuInfo(0, "Test GPU (Hopper-like)", (9, 0), 100, 2048, 50 * 2**20, 80 * 2**30, 79 * 2**30, 5120,
                  2000.0, 2500.0, "NVML nvmlDeviceGetMaxClockInfo (SM and memory)", "580.00", "13.0", "14.0.0",
                  700.0)

    def result(name, precision, level, unit, best):
        return KernelResult(name, precision, level, unit, RateSummary((best * 0.98, best)), 0, None, None, 0, True,
                            {})

    results = [result("triad", "fp64", "dram", "GB/s", 2800.0), result("l2_read", "fp64", "l2", "GB/s", 9000.0),
               result("h2d", "-", "h2d", "GB/s", 50.0), result("fma_fp32", "fp32", "core", "GFLOP/s", 48_000.0),
               result("matmul_bf16", "tensor_bf16", "core", "GFLOP/s", 600_000.0)]
    calm = WindowSummary(20, 1875.0, 1860.0, 2500.0, 500.0, 60.0, [], 0)
    capped = WindowSummary(20, 1500.0, 1400.0, 2500.0, 700.0, 75.0, ["sw_power_cap"], 12)
    telemetry = {"triad": calm, "l2_read": calm, "h2d": calm, "fma_fp32": calm, "matmul_bf16": capped}
    return GpuMeasurement(gpu, False, RepetitionPolicy(), results, telemetry, [], array_bytes=2**30,
                          details={"pcie": {"generation": 5, "width": 16}})


def test_gpu_profile_arithmetic_and_schema():
    data = gpu_profile(synthetic_measurement())
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert data["device"]["id"] == "cuda:0" and data["device"]["arch"] == "sm_90"
    fp32 = data["compute"]["fp32"]
    assert fp32["theoretical_gflops"] == pytest.approx(100 * 256 * 2000 / 1000)  # 51,200
    assert fp32["theoretical_at_measured_clock_gflops"] == pytest.approx(100 * 256 * 1875 / 1000)  # 48,000
    assert fp32["efficiency_at_measured_clock"] == pytest.approx(1.0)
    assert fp32["flop_per_cycle"] == pytest.approx(256.0) and fp32["throttled"] is False
    bf16 = data["compute"]["tensor_bf16"]
    assert bf16["throttled"] is True and bf16["clock_mhz"] == 1500.0
    assert any("matmul_bf16: clock-event reasons sw_power_cap in 12 of 20" in w for w in data["warnings"])
    dram = data["memory"]["dram"]
    assert dram["theoretical_gbps"] == pytest.approx(3200.0)  # 2 x 2500 MHz x 5120 bits / 8
    assert dram["efficiency"] == pytest.approx(0.875) and dram["bytes_per_cycle"] == pytest.approx(1120.0)
    assert data["memory"]["h2d"]["theoretical_gbps"] == pytest.approx(63.015, rel=1e-4)
    assert data["memory"]["l2"]["theoretical_gbps"] is None
    assert data["ridge_point"]["fp32"]["measured"] == pytest.approx(48_000 / 2800, rel=1e-3)
    assert data["clock"]["measured_mhz"] == 1500.0


# Real GPU runs (skipped without CuPy and a GPU) ------------------------------------------------------------


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and an NVIDIA GPU")
def test_real_quick_gpu_run(tmp_path):
    from typer.testing import CliRunner

    from hwbench import Profile
    from hwbench.cli import app

    out = tmp_path / "gpu.yaml"
    result = CliRunner().invoke(app, ["run", "--device", "cuda:0", "--quick", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = Profile.load(out).data
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert {"fp64", "fp32", "fp16", "bf16"} <= set(data["compute"])
    assert {"dram", "l2", "h2d", "d2h"} <= set(data["memory"])
    assert all(kernel["validated"] for kernel in data["kernels"])
    assert data["compute"]["fp32"]["clock_mhz"] > 0


# The runner end to end on a NumPy stand-in for CuPy and NVML -----------------------------------------------


def test_runner_orchestration_on_fake_cupy(monkeypatch):
    import sys

    from fake_cupy import FakeNvml, make_cupy

    from hwbench import gpu_runner

    monkeypatch.setitem(sys.modules, "cupy", make_cupy())
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setattr(gpu_runner, "MIN_ARRAY_BYTES", 4 << 20)  # small arrays: NumPy does the work
    monkeypatch.setattr(gpu_runner.RepetitionPolicy, "for_mode", classmethod(
        lambda cls, quick: cls(warmups=0, min_repetitions=2, min_seconds=0.0)))
    kernels = gpu_runner.resolve_gpu_kernels("stream,l2_read,fma")
    data = gpu_runner.measure_gpu("cuda:0", ",".join(kernels), quick=True, sustain=None)
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert [k["name"] for k in data["kernels"]] == list(kernels)
    assert all(k["validated"] for k in data["kernels"])
    assert set(data["compute"]) == {"fp64", "fp32", "fp16", "bf16"}
    assert set(data["memory"]) == {"dram", "l2"}
    assert data["device"]["name"] == "Fake GPU" and data["memory"]["dram"]["theoretical_gbps"] == 3200.0
    assert data["compute"]["fp32"]["theoretical_gflops"] == pytest.approx(4 * 256 * 2000 / 1000)
    assert data["compute"]["fp32"]["throttled"] is True  # the fake NVML reports a power cap on every sample

    sustained = gpu_runner.measure_gpu("cuda:0", "triad,fma_fp32", quick=True, sustain=(0.2, 0.05))
    jsonschema.Draft202012Validator(json_schema()).validate(sustained)
    timeline = sustained["sustained"]["kernels"]["fma_fp32"]["timeline"]
    assert set(sustained["sustained"]["kernels"]) == {"fma_fp32", "triad"}
    assert timeline["clock_mhz"][0] == 1500.0 and timeline["clock_event_reasons"][0] == ["sw_power_cap"]


def test_runner_rejects_a_wrong_kernel_result(monkeypatch):
    import sys

    from fake_cupy import FakeNvml, Kernel, make_cupy

    from hwbench import gpu_runner
    from hwbench.errors import MeasurementError

    original = Kernel.__call__

    def broken(self, grid, block, args, *, shared_mem=0):
        original(self, grid, block, args)
        if self.name == "triad_f64":
            args[0][7] += 1.0  # one wrong element

    monkeypatch.setattr(Kernel, "__call__", broken)
    monkeypatch.setitem(sys.modules, "cupy", make_cupy())
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setattr(gpu_runner, "MIN_ARRAY_BYTES", 4 << 20)
    with pytest.raises(MeasurementError, match="triad \\(fp64\\) validation failed"):
        gpu_runner.measure_gpu("cuda:0", "triad", quick=True)
