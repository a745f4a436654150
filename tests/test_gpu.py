"""GPU pieces that need no GPU (the .cu files under plain nvcc, theoretical tables, throttle reasons, launch
arithmetic, the profile built from a synthetic measurement), and real GPU runs marked ``gpu``.

The synthetic measurement's rates are round made-up numbers for testing the arithmetic; they are not
figures of any GPU and appear nowhere else.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from conftest import find_nvcc
from hwbench import catalog
from hwbench.errors import UsageError
from hwbench.gpu import session as gpu_session
from hwbench.gpu import stream as gpu_stream
from hwbench.gpu.fma import decode_packed, fma_expected, fp16_word
from hwbench.gpu.session import GpuInfo, GpuResult, to_record, with_telemetry
from hwbench.gpu.stream import granule, stream_array_bytes
from hwbench.gpu.telemetry import Sample, WindowSummary, decode_reasons, is_throttled, summarize_window
from hwbench.gpu.theory import dram_gbps, launch_blocks, pcie_gbps, peak_gflops, sm_model
from hwbench.kernel_spec import VectorLaunch
from hwbench.profile import json_schema
from hwbench.profile.build import build_profile
from hwbench.record import Host
from hwbench.stats import KernelResult, RateSummary, RepetitionPolicy

CUDA_DIR = Path(__file__).parents[1] / "kernels" / "cuda"
NVCC = find_nvcc()  # PATH, the CUDA toolkit or the nvidia-cuda-nvcc wheel; under CI a missing nvcc fails

GPU_KERNELS = catalog.kernels("gpu")
HOST = Host("test-host", "Linux 6.0", "0.0-test", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))

# Every kernel name the session asks a module for (the catalog's entries), by file; the fp32 L2 kernel is
# compiled too, though no catalog kernel runs it.
EXPECTED_ENTRIES = {
    "stream.cu": [f"{form}_{suffix}" for suffix in ("f64", "f32")
                  for form in ("copy", "scale", "add", "triad", "dot", "l2_read")],
    "fma.cu": ["fma_f64", "fma_f32", "fma_f16x2", "fma_bf16x2"],
    "intensity.cu": ["intensity_f64", "intensity_f32"],
    "onchip.cu": ["shared_read_f32", "l1_read_f32"],
    "stencil.cu": ["stencil5_f32", "stencil7_f32", "nbody_f32", "spmv_csr_f32"],  # hwbench validate's raw kernels
    "latency.cu": ["chase_global_cg", "chase_global_ldg", "chase_remote", "chase_shared"],  # tests/test_latency_gpu.py
}


def test_the_stand_in_finds_the_entries_nvcc_builds():
    """fake_cupy.entry_names (what the stand-in's get_function accepts) against the entries nvcc builds (the PTX
    test below): an unknown name fails there as cuModuleGetFunction does."""
    from fake_cupy import CUDADriverError, entry_names, make_cupy

    for source, expected in EXPECTED_ENTRIES.items():
        assert entry_names((CUDA_DIR / source).read_text()) == set(expected), source
    code = (CUDA_DIR / "stream.cu").read_text()
    module = make_cupy().RawModule(code=code, options=catalog.STREAM_CU.compile_options())
    with pytest.raises(CUDADriverError, match="CUDA_ERROR_NOT_FOUND: named symbol not found"):
        module.get_function("triad_f16")


def test_expected_entries_cover_the_catalog():
    for kernel in GPU_KERNELS:  # mma.cu's entries differ by architecture: tests/test_lowp_mma.py checks them
        if kernel.module is not None and kernel.module is not catalog.MMA_CU:
            assert kernel.entry in EXPECTED_ENTRIES[kernel.module.source], kernel.name


def cu_defaults(source: str) -> dict[str, int]:
    """NAME -> value of every ``#ifndef NAME / #define NAME value / #endif`` default in a .cu file."""
    text = (CUDA_DIR / source).read_text()
    return {name: int(value) for name, value in
            re.findall(r"^#ifndef (\w+)\n#define \1 (\d+)\b[^\n]*\n#endif", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("module", catalog.CUDA_MODULES, ids=lambda m: m.source)
def test_cu_defaults_equal_the_catalog(module):
    """Plain nvcc builds the kernel hwbench runs: the file's defaults are the catalog's -D constants, and the
    file defines nothing else unguarded that the catalog passes."""
    assert cu_defaults(module.source) == dict(module.constants)
    text = (CUDA_DIR / module.source).read_text()
    for name in module.constants:
        assert len(re.findall(rf"^#define {name}\b", text, flags=re.MULTILINE)) == 1, name


def test_every_cuda_module_is_in_the_catalog():
    assert {path.name for path in CUDA_DIR.glob("*.cu")} == {m.source for m in catalog.CUDA_MODULES}


def catalog_options(source: str) -> tuple[str, ...]:
    return next(m for m in catalog.CUDA_MODULES if m.source == source).compile_options()


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("options", ["plain", "catalog"])
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", sorted(EXPECTED_ENTRIES))
def test_cuda_sources_compile_with_plain_nvcc(tmp_path, arch, source, options):
    """Plain nvcc (the files' defaults) and nvcc with the options hwbench gives NVRTC both build every entry."""
    ptx = tmp_path / f"{source}.ptx"
    extra = list(catalog_options(source)) if options == "catalog" else []
    result = subprocess.run([NVCC, f"-arch={arch}", "-ptx", *extra, str(CUDA_DIR / source), "-o", str(ptx)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx.read_text()))
    assert set(EXPECTED_ENTRIES[source]) <= entries
    assert "warning" not in result.stderr.lower(), result.stderr


def fma_ptx(tmp_path: Path, *options: str) -> str:
    ptx = tmp_path / "fma.ptx"
    subprocess.run([NVCC, "-arch=sm_90", "-ptx", *options, str(CUDA_DIR / "fma.cu"), "-o", str(ptx)], check=True,
                   timeout=300)
    return ptx.read_text()


def ptx_body(text: str, name: str) -> str:
    return text[text.index(f".entry {name}("):].split(".entry ")[1]


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_fma_kernels_keep_every_chain(tmp_path):
    """8 chains x 4 unrolled + 8 remainder FMAs in the loop, and 7 more summing packed chains: no chain is
    removed as dead code."""
    text = fma_ptx(tmp_path, "-DCHAINS=8", "-DUNROLL=4")
    assert ptx_body(text, "fma_f32").count("fma.rn.f32") == 40
    assert ptx_body(text, "fma_f64").count("fma.rn.f64") == 40
    assert ptx_body(text, "fma_bf16x2").count("fma.rn.bf16x2") == 47


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("options", ["plain", "catalog"])
def test_fma_kernels_run_the_catalog_constants(tmp_path, options):
    """Plain nvcc (the file's defaults) and the catalog's -D options build the same loop: CHAINS x UNROLL
    unrolled + CHAINS remainder FMAs, and CHAINS - 1 more summing packed chains."""
    chains, unroll = catalog.FMA_CU.constants["CHAINS"], catalog.FMA_CU.constants["UNROLL"]
    text = fma_ptx(tmp_path, *(catalog.FMA_CU.compile_options() if options == "catalog" else ()))
    assert ptx_body(text, "fma_f32").count("fma.rn.f32") == chains * unroll + chains
    assert ptx_body(text, "fma_f64").count("fma.rn.f64") == chains * unroll + chains
    assert ptx_body(text, "fma_f16x2").count("fma.rn.f16x2") == chains * unroll + chains + chains - 1
    assert ptx_body(text, "fma_bf16x2").count("fma.rn.bf16x2") == chains * unroll + chains + chains - 1


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_fma_constants_reach_the_kernel(tmp_path):
    """-DCHAINS and -DUNROLL change the code: CHAINS x UNROLL unrolled + CHAINS remainder FMAs in the loop,
    CHAINS - 1 more summing packed chains."""
    text = fma_ptx(tmp_path, "-DCHAINS=4", "-DUNROLL=2")
    assert ptx_body(text, "fma_f32").count("fma.rn.f32") == 4 * 2 + 4
    assert ptx_body(text, "fma_bf16x2").count("fma.rn.bf16x2") == 4 * 2 + 4 + 3


def test_fma_iterations_are_a_multiple_of_unroll():
    """The unrolled loop then never runs its remainder: every launch's FMAs are in the unrolled body."""
    for kernel in GPU_KERNELS:
        if kernel.family == "fma":
            assert kernel.launch.iterations % kernel.constants["UNROLL"] == 0, kernel.name


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
    triad = catalog.kernel("gpu", "triad")
    assert granule(triad) == 16 * 1024  # 16-byte vectors x the largest block of the catalog's shapes
    size, warnings = stream_array_bytes(50 * 2**20, 80 * 2**30, granule(triad))
    assert size == 2**30 and not warnings
    size, warnings = stream_array_bytes(50 * 2**20, 300 * 2**20, granule(triad))
    assert size == 60 * 2**20 and "under 4x the L2" in warnings[0]


def test_packed_half_words():
    assert fp16_word(1.0, bf16=False) == np.uint32(0x3C003C00)
    assert fp16_word(0.75, bf16=True) == np.uint32(0x3F403F40)
    words = np.array([fp16_word(0.75, False), fp16_word(0.5, False)], dtype=np.uint32)
    assert decode_packed(words, bf16=False).tolist() == [0.75, 0.75, 0.5, 0.5]
    assert decode_packed(np.array([fp16_word(0.75, True)]), bf16=True).tolist() == [0.75, 0.75]
    fma_fp32 = catalog.kernel("gpu", "fma_fp32")
    assert fma_expected(fma_fp32, 4096) == pytest.approx(16.0)  # 8 chains converged to 2
    assert fma_expected(fma_fp32, 1) == pytest.approx(8 * 1.25)


def names(kernels) -> tuple[str, ...]:
    return tuple(kernel.name for kernel in kernels)


def test_gpu_kernel_selection():
    assert names(catalog.select("gpu", "tensor,triad_fp32")) == ("triad_fp32", "matmul_fp16", "matmul_bf16",
                                                                 "matmul_tf32", "matmul_fp64")
    assert catalog.select("gpu", None) == GPU_KERNELS
    with pytest.raises(UsageError, match="unknown GPU kernel 'fma_fp8'"):
        catalog.select("gpu", "fma_fp8")


def test_every_gpu_family_has_a_module():
    assert {kernel.family for kernel in GPU_KERNELS} == {family.name for family in gpu_session.FAMILIES}
    assert [f.sustained_kernel for f in gpu_session.FAMILIES if f.sustained_kernel] == ["triad", "fma_fp32"]


# Profile from a synthetic measurement --------------------------------------------------------------------


def synthetic_run() -> GpuResult:
    gpu = GpuInfo(0, "Test GPU (Hopper-like)", (9, 0), 100, 2048, 50 * 2**20, 80 * 2**30, 79 * 2**30, 5120,
                  2000.0, 2500.0, "NVML nvmlDeviceGetMaxClockInfo (SM and memory)", "580.00", "13.0", "14.0.0",
                  700.0)
    calm = WindowSummary(20, 1875.0, 1860.0, 2500.0, 500.0, 60.0, [], 0)
    capped = WindowSummary(20, 1500.0, 1400.0, 2500.0, 700.0, 75.0, ["sw_power_cap"], 12)

    def result(name, best, window):
        kernel = catalog.kernel("gpu", name)
        moved = 1 if kernel.unit == "GB/s" else None
        # The best reached twice: a clean run, whose ceiling (the confirmed best) is ``best``.
        plain = KernelResult(name, kernel.precision, kernel.level, kernel.unit,
                             RateSummary((best * 0.98, best, best)), 0, moved, moved, 0, True, {})
        return with_telemetry(plain, window, gpu.max_sm_mhz)

    results = [result("triad", 2800.0, calm), result("l2_read", 9000.0, calm), result("h2d", 50.0, calm),
               result("fma_fp32", 48_000.0, calm), result("matmul_bf16", 600_000.0, capped)]
    return GpuResult(gpu, False, RepetitionPolicy(), results, [], array_bytes=2**30,
                  pcie={"generation": 5, "width": 16})


def test_gpu_profile_arithmetic_and_schema():
    data = build_profile(to_record(synthetic_run()), HOST)
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
    # The profile-wide clock is the FMA kernels' (1875), not the power-capped GEMM's (1500).
    assert data["clock"]["measured_mhz"] == 1875.0 and data["clock"]["measured_under"].startswith("FMA kernels")


# Real GPU runs (skipped without CuPy and a GPU) ------------------------------------------------------------


def _gpu_available() -> bool:
    """Asked inside the test, never at collection: importing the real ``cupy.cuda`` then would leave it in
    ``sys.modules`` for every later test (the stand-in's fixtures replace it, see ``fake_cupy.install``)."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.mark.gpu
def test_real_quick_gpu_run(tmp_path):
    from typer.testing import CliRunner

    if not _gpu_available():
        pytest.skip("needs CuPy and an NVIDIA GPU")

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


# The session end to end on a NumPy stand-in for CuPy and NVML -----------------------------------------------


@pytest.fixture
def fake_gpu(monkeypatch):
    """The NumPy stand-in for CuPy and NVML in place of the real ones, small STREAM arrays, few samples."""
    from fake_cupy import install, make_cupy

    cupy = make_cupy()
    install(monkeypatch, cupy)
    monkeypatch.setattr(gpu_stream, "MIN_ARRAY_BYTES", 4 << 20)  # small arrays: NumPy does the work
    monkeypatch.setattr(gpu_session.RepetitionPolicy, "for_mode", classmethod(
        lambda cls, quick: cls(warmups=0, min_repetitions=2, min_seconds=0.0)))
    return cupy


def fake_profile(spec: str, sustain: tuple[float, float] | None = None) -> dict:
    seconds, interval = sustain or (None, 1.0)
    measurement = gpu_session.measure_gpu(0, catalog.select("gpu", spec), quick=True, sustain_seconds=seconds,
                                          sustain_interval=interval)
    return build_profile(measurement, HOST)


def test_runner_orchestration_on_fake_cupy(fake_gpu):
    kernels = names(catalog.select("gpu", "stream,l2_read,fma"))
    data = fake_profile(",".join(kernels))
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert [k["name"] for k in data["kernels"]] == list(kernels)
    assert all(k["validated"] for k in data["kernels"])
    assert set(data["compute"]) == {"fp64", "fp32", "fp16", "bf16"}
    assert set(data["memory"]) == {"dram", "l2"}
    assert data["device"]["name"] == "Fake GPU" and data["memory"]["dram"]["theoretical_gbps"] == 3200.0
    assert data["compute"]["fp32"]["theoretical_gflops"] == pytest.approx(4 * 256 * 2000 / 1000)
    assert data["compute"]["fp32"]["throttled"] is True  # the fake NVML reports a power cap on every sample
    assert data["compute"]["fp32"]["clock_mhz"] == 1500.0 and data["clock"]["measured_mhz"] == 1500.0
    assert data["memory"]["dram"]["clock_mhz"] == 2500.0 and data["memory"]["l2"]["clock_mhz"] == 1500.0
    triad = next(k for k in data["kernels"] if k["name"] == "triad")
    assert triad["details"]["telemetry"]["clock_event_reasons"] == ["sw_power_cap"]
    assert set(triad["sample_clocks_mhz"]) == {1500.0} and triad["details"]["launches_per_sample"] >= 1
    assert any(w.startswith("fma_fp32: clock-event reasons sw_power_cap in ") for w in data["warnings"])

    sustained = fake_profile("triad,fma_fp32", sustain=(0.2, 0.05))
    jsonschema.Draft202012Validator(json_schema()).validate(sustained)
    timeline = sustained["sustained"]["kernels"]["fma_fp32"]["timeline"]
    assert set(sustained["sustained"]["kernels"]) == {"fma_fp32", "triad"}
    assert timeline["clock_mhz"][0] == 1500.0 and timeline["clock_event_reasons"][0] == ["sw_power_cap"]


def test_transfers_on_fake_cupy(fake_gpu):
    """h2d and d2h copy (and validate) the catalog's bytes, here shrunk to 1 MiB; PCIe gen 5 x16 is the paper
    figure of both."""
    small = tuple(replace(k, launch=replace(k.launch, nbytes=1 << 20)) for k in catalog.select("gpu", "h2d,d2h"))
    data = build_profile(gpu_session.measure_gpu(0, small, quick=True), HOST)
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert [k["name"] for k in data["kernels"]] == ["h2d", "d2h"]
    assert all(k["validated"] and k["details"]["bytes"] == 1 << 20 for k in data["kernels"])
    for level in ("h2d", "d2h"):
        assert data["memory"][level]["theoretical_gbps"] == pytest.approx(63.015, rel=1e-4)
        assert data["memory"][level]["theoretical_source"] == "PCIe gen 5 x16, one direction"


def catalog_grids(kernel, n_vec: int) -> dict[int, set[int]]:
    """Block -> the grids the catalog's shapes of ``kernel`` give on the stand-in (4 SMs of 2048 threads) over
    ``n_vec`` vectors: one pass (ceil(n_vec / block)) or SMs x resident blocks x waves, capped at one pass."""
    grids: dict[int, set[int]] = {}
    for shape in kernel.launch.shapes:
        one_pass = -(-n_vec // shape.block)
        grid = one_pass if shape.waves is None else min(
            one_pass, launch_blocks(4, 2048, shape.block, waves=shape.waves))
        grids.setdefault(shape.block, set()).add(grid)
    return grids


def test_launches_and_modules_follow_the_catalog(fake_gpu, monkeypatch):
    """Every launch on the stand-in has a block and grid of the catalog: for the STREAM and L2 kernels a block
    of one of its shapes (at most the module's BLOCK) and the grid that shape gives, else the module's BLOCK and
    a grid of the catalog's waves; every module got -DNAME=value for each of its catalog constants."""
    from hwbench.gpu import intensity

    monkeypatch.setattr(intensity, "level_bytes", lambda kernel, level, l2_bytes, free_bytes: 2**18)
    spec = "stream,l2_read,fma,shared_read,l1_read,intensity"
    fake_profile(spec, sustain=(0.05, 0.02))
    modules = fake_gpu.RawModule.created
    by_source = {k.module.source: k.module for k in catalog.select("gpu", spec) if k.module is not None}  # compiled
    assert sorted(module.code for module in modules) == sorted((CUDA_DIR / s).read_text() for s in by_source)
    launched = set()
    for module in modules:
        cuda = next(m for m in catalog.CUDA_MODULES if (CUDA_DIR / m.source).read_text() == module.code)
        assert module.options == cuda.compile_options()
        assert {f"-D{name}={value}" for name, value in cuda.constants.items()} <= set(module.options)
        entries = {k.entry: k for k in GPU_KERNELS if k.module == cuda}
        for launch in module.launches:
            kernel = entries[launch.name]
            assert launch.block[0] <= cuda.constants["BLOCK"]
            if isinstance(kernel.launch, VectorLaunch):
                assert launch.grid[0] in catalog_grids(kernel, launch.n_vec)[launch.block[0]], launch
            else:
                assert launch.block == (cuda.constants["BLOCK"],)
                assert launch.grid == (launch_blocks(4, 2048, cuda.constants["BLOCK"], waves=kernel.launch.waves),)
            launched.add(launch.name)
    assert launched == {k.entry for k in catalog.select("gpu", spec)}


def test_runner_rejects_a_wrong_kernel_result(fake_gpu, monkeypatch):
    from fake_cupy import Kernel

    from hwbench.errors import MeasurementError

    original = Kernel.__call__

    def broken(self, grid, block, args, *, shared_mem=0):
        original(self, grid, block, args)
        if self.name == "triad_f64":
            args[0][7] += 1.0  # one wrong element

    monkeypatch.setattr(Kernel, "__call__", broken)
    with pytest.raises(MeasurementError, match="triad \\(fp64\\) output check failed"):
        gpu_session.measure_gpu(0, catalog.select("gpu", "triad"), quick=True)


def test_session_rejects_a_bad_device(fake_gpu):
    with pytest.raises(UsageError, match="cuda:3: this machine has 1 CUDA GPU"):
        gpu_session.measure_gpu(3, catalog.select("gpu", "triad"), quick=True)
