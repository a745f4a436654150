"""The GPU path's defects that a read against the real CuPy and NVML found, each pinned by a test on the stand-in
(tests/fake_cupy.py, held to the real packages by tests/test_gpu_real_api.py): NVML's names and bus ids, NVLink
version enums, stream order, register-aware occupancy, driver-only nodes, link theory at the maximum PCIe link,
the intensity family's passes, the autotune's batches, the runner's message, the guarded sampler; and the
pre-checks and theory table around them. Every rate here is the stand-in's: only structure is checked."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from hwbench import catalog
from hwbench.cli import app
from hwbench.errors import MeasurementError, UsageError
from hwbench.gpu import intensity as gpu_intensity
from hwbench.gpu import links as gpu_links
from hwbench.gpu import session as gpu_session
from hwbench.gpu import stream as gpu_stream
from hwbench.gpu.telemetry import NvmlSampler
from hwbench.gpu.theory import dram_gbps, launch_blocks, peak_gflops, resident_blocks_per_sm, sm_model

FAKE_SMS = 4  # fake_cupy.make_cupy's device: 4 SMs of 2048 threads


def stand_in(monkeypatch, **options):
    from fake_cupy import FakeNvml, install, make_cupy

    nvml = options.pop("nvml", None) or FakeNvml()
    cupy = make_cupy(**options)
    install(monkeypatch, cupy, nvml)
    monkeypatch.setattr(gpu_stream, "MIN_ARRAY_BYTES", 4 << 20)
    monkeypatch.setattr(gpu_session.RepetitionPolicy, "for_mode", classmethod(
        lambda cls, quick: cls(warmups=0, min_repetitions=2, min_seconds=0.0)))
    monkeypatch.setattr(gpu_links, "BUFFER_BYTES", {True: 1 << 16, False: 1 << 16})
    return cupy, nvml


def run(spec: str, index: int = 0):
    return gpu_session.GpuSession(index, catalog.select("gpu", spec), quick=True).measure_families()


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def one_line(result, code: int, *words: str) -> str:
    """The run failed with exactly one error line (progress lines before it are the run's own), no traceback."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("hwbench: error:")]
    assert len(lines) == 1 and result.stderr.strip().splitlines()[-1] == lines[0], result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# 1. nvmlDeviceGetHandleByPciBusId (nvidia-ml-py has no _v2 name) ------------------------------------------------


def test_links_look_nvml_handles_up_by_nvidia_ml_py_names(monkeypatch):
    stand_in(monkeypatch, devices=2)
    section = gpu_links.measure_links([0, 1], quick=True)
    assert [(p["source"], p["target"]) for p in section["pairs"]] == [("cuda:0", "cuda:1"), ("cuda:1", "cuda:0")]


def test_an_nvml_failure_in_the_link_matrix_is_a_measurement_error(monkeypatch):
    from fake_cupy import FakeNvml

    stand_in(monkeypatch, devices=2, nvml=FakeNvml(unsupported=frozenset({"nvmlDeviceGetHandleByPciBusId"})))
    with pytest.raises(MeasurementError, match="link matrix .NVML.: NVMLError_NotSupported: Not Supported"):
        gpu_links.measure_links([0, 1], quick=True)


# 2. The sampler reads the GPU CUDA runs on, found by its bus id -------------------------------------------------


def test_the_session_samples_the_gpu_cuda_sees_as_cuda_0(monkeypatch):
    """CUDA_VISIBLE_DEVICES=2: CUDA's device 0 is NVML's device 2, found through CUDA's bus id."""
    from fake_cupy import pci_bus_id

    cupy, _ = stand_in(monkeypatch)
    monkeypatch.setattr(cupy.cuda.runtime, "deviceGetPCIBusId", lambda device: pci_bus_id(device + 2))
    session = gpu_session.GpuSession(0, catalog.select("gpu", "triad"), quick=True)
    assert session.sampler.handle == 2


def test_bus_ids_of_cuda_and_nvml_meet_in_one_form():
    from hwbench.gpu.pci import canonical_bus_id, nvml_bus_id

    assert canonical_bus_id("0000:3b:00.0") == canonical_bus_id(b"00000000:3B:00.0") == "00000000:3B:00.0"
    assert canonical_bus_id("0001:3b:00.0") != canonical_bus_id("0000:3b:00.0")
    assert nvml_bus_id("0000:3b:00.0") == b"00000000:3B:00.0"
    with pytest.raises(ValueError, match="not a PCI bus id"):
        canonical_bus_id("GPU-1234")


# 3-4. NVLink seen through NVML's bus ids, rated by the nvmlNvlinkVersion_t enum -----------------------------------


@pytest.mark.parametrize("version, links, per_direction", [
    (6, 18, 450.0),  # H100/H200 SXM: NVML_NVLINK_VERSION_4_0, 18 links x 25 GB/s
    (5, 12, 300.0),  # A100: NVML_NVLINK_VERSION_3_1, 12 links x 25 GB/s
    (4, 12, 300.0),  # NVML_NVLINK_VERSION_3_0
    (7, 18, 900.0),  # B200: NVML_NVLINK_VERSION_5_0, 18 links x 50 GB/s
    (2, 6, 150.0),   # V100: NVML_NVLINK_VERSION_2_0, 6 links x 25 GB/s
])
def test_nvlink_pairs_are_found_by_cuda_bus_id_and_rated_by_enum(monkeypatch, version, links, per_direction):
    from fake_cupy import pci_bus_id

    _, nvml = stand_in(monkeypatch, devices=2)
    nvml.nvlinks = {0: [(1, version)] * links, 1: [(0, version)] * links}
    nvml.nvmlInit()
    theory = gpu_links.link_theory(nvml, (0, 1), (pci_bus_id(0), pci_bus_id(1)))
    assert (theory.kind, theory.gbps) == ("nvlink", per_direction)
    assert f"NVLink {gpu_links.NVLINK_VERSIONS[version]} links" in theory.source


def test_an_nvlink_pair_is_measured_as_nvlink_without_errors(monkeypatch):
    _, nvml = stand_in(monkeypatch, devices=2)
    nvml.nvlinks = {0: [(1, nvml.NVML_NVLINK_VERSION_4_0)] * 18, 1: [(0, nvml.NVML_NVLINK_VERSION_4_0)] * 18}
    section = gpu_links.measure_links([0, 1], quick=True)
    for pair in section["pairs"]:
        assert pair["link"] == "nvlink" and pair["theoretical_gbps"] == 450.0
        assert "measurement_error" not in pair


# 5. Stream order: the stand-in refuses a race, and the session has none --------------------------------------------


def test_the_stand_in_refuses_a_memset_racing_a_non_blocking_stream(monkeypatch):
    from fake_cupy import RaceError

    cp, _ = stand_in(monkeypatch)
    code = (gpu_session.resources.files("hwbench.kernels") / "cuda/intensity.cu").read_text()
    module = cp.RawModule(code=code, options=catalog.INTENSITY_CU.compile_options())
    kernel = module.get_function("intensity_f64")
    args = (np.int64(256), np.int32(1), np.int32(1), np.float64(1), np.float64(1))
    array = cp.zeros(256, dtype=cp.float64)  # a memset on the legacy default stream
    with cp.cuda.Stream(non_blocking=True), pytest.raises(RaceError, match="cupy.zeros"):
        kernel((1,), (256,), (array, *args))
    cp.cuda.Device(0).synchronize()
    with cp.cuda.Stream(non_blocking=True) as stream:
        kernel((1,), (256,), (array, *args))  # ordered now: the memset was waited for
        stream.synchronize()
    late = cp.zeros(256, dtype=cp.float64)
    with cp.cuda.Stream():  # a blocking stream: ordered after the legacy default stream
        kernel((1,), (256,), (late, *args))
    assert float(cp.max(array)) == 1.0


def test_every_family_runs_without_a_race_on_the_stand_in(monkeypatch):
    """Allocations, fills, ``set`` and random matrices on the session's stream: intensity's cp.zeros, fma's and
    onchip's outputs, STREAM's arrays, transfer's set(), tensor's random matrices."""
    stand_in(monkeypatch)
    monkeypatch.setattr(gpu_intensity, "level_bytes", lambda kernel, level, l2_bytes, free_bytes: 2**18)
    small = tuple(replace(k, launch=replace(k.launch, nbytes=1 << 16)) if k.family == "transfer"
                  else replace(k, launch=replace(k.launch, sizes=(64,), quick_sizes=(64,)))
                  if k.family == "tensor" else k for k in catalog.select("gpu", "all"))
    result = gpu_session.GpuSession(0, small, quick=True).measure_families()
    names = {r.name for r in result.results}
    assert {"triad", "fma_fp64", "shared_read", "h2d", "d2h", "matmul_fp16", "matmul_bf16"} <= names
    assert all(r.validated for r in result.results)
    assert result.intensity_sweep and not [w for w in result.warnings if "not measured" in w]


# 6. Occupancy from the loaded kernel's registers ---------------------------------------------------------------------


def test_register_aware_occupancy():
    """44 registers per thread (l2_read_f64 and dot_f64 on sm_90, ptxas -v): 5 blocks of 256 per SM, not 8."""
    from hwbench.gpu.theory import blocks_by_registers

    assert blocks_by_registers(44, 256) == 5
    assert resident_blocks_per_sm(2048, 256, regs_per_thread=44) == 5
    assert resident_blocks_per_sm(2048, 256) == 8 and resident_blocks_per_sm(2048, 256, regs_per_thread=32) == 8
    assert resident_blocks_per_sm(2048, 1024, regs_per_thread=64) == 1  # 64 x 1024 = the whole register file
    assert launch_blocks(132, 2048, 256, resident=5) == 660


def test_launches_follow_the_loaded_kernels_occupancy(monkeypatch):
    cp, _ = stand_in(monkeypatch)
    cp.RawModule.registers.update({"l2_read_f64": 44, "fma_f32": 64})
    results = {r.name: r for r in run("l2_read,fma_fp32").results}
    assert results["l2_read"].details["blocks"] == FAKE_SMS * 5  # the thread limit alone gave 4 x 8
    assert results["l2_read"].details["occupancy"]["registers_per_thread"] == 44
    assert results["l2_read"].details["occupancy"]["resident_blocks_per_sm"] == 5
    fma_block = catalog.FMA_CU.constants["BLOCK"]
    per_sm = min(2048 // fma_block, 65536 // (64 * 32 * -(-fma_block // 32)))
    waves = catalog.kernel("gpu", "fma_fp32").launch.waves
    assert results["fma_fp32"].details["blocks"] == FAKE_SMS * per_sm * waves


# 7. Driver-only nodes: missing NVRTC, cuBLAS, NVML are one line and exit 2 -----------------------------------------


def test_no_nvrtc_is_one_line_and_exit_2(monkeypatch, tmp_path):
    stand_in(monkeypatch, missing=frozenset({"nvrtc"}))
    result = invoke("run", "--device", "cuda:0", "--kernels", "triad", "-o", str(tmp_path / "gpu.yaml"))
    one_line(result, 2, "NVRTC", "hwbench[cuda12]", "hwbench[cuda13]")
    assert list(tmp_path.iterdir()) == []


def test_no_cublas_is_one_line_and_exit_2(monkeypatch, tmp_path):
    stand_in(monkeypatch, missing=frozenset({"cublas"}))
    result = invoke("run", "--device", "cuda:0", "--kernels", "matmul_fp16", "-o", str(tmp_path / "gpu.yaml"))
    one_line(result, 2, "cuBLAS", "hwbench[cuda12]")
    assert list(tmp_path.iterdir()) == []


def test_validate_without_cublas_is_one_line_and_exit_2(monkeypatch):
    from hwbench.stats import RepetitionPolicy
    from hwbench.workloads.gpu import GpuPlan, run_gpu_workloads

    cp, _ = stand_in(monkeypatch, missing=frozenset({"cublas"}))
    plan = GpuPlan(matmul_sizes=(64,), half_matmul_sizes=(), vector_elements=1 << 10, stencil_side=64)
    with pytest.raises(UsageError, match="needs cuBLAS.*Failure finding"):
        run_gpu_workloads(cp, plan, RepetitionPolicy(0, 1, 0))


def test_validate_without_nvrtc_is_one_line_and_exit_2(monkeypatch):
    from hwbench.stats import RepetitionPolicy
    from hwbench.workloads.gpu import GpuPlan, run_gpu_workloads

    cp, _ = stand_in(monkeypatch, missing=frozenset({"nvrtc"}))
    plan = GpuPlan(matmul_sizes=(), half_matmul_sizes=(), vector_elements=1 << 10, stencil_side=64)
    with pytest.raises(UsageError, match="needs NVRTC.*Failure finding"):
        run_gpu_workloads(cp, plan, RepetitionPolicy(0, 1, 0))


def test_no_nvml_is_one_line_and_exit_2(monkeypatch, tmp_path):
    from fake_cupy import FakeNvml

    stand_in(monkeypatch, nvml=FakeNvml(missing_library=True))
    result = invoke("run", "--device", "cuda:0", "--kernels", "triad", "-o", str(tmp_path / "gpu.yaml"))
    one_line(result, 2, "NVML is not usable", "NVML Shared Library Not Found")


def test_a_kernel_nvrtc_refuses_is_one_line_and_exit_1(monkeypatch, tmp_path):
    from fake_cupy import CompileException, RawModule

    def refuse(self, log_stream=None):
        raise CompileException("kern.cu(12): error: identifier \"half2\" is undefined\n1 error detected",
                               self.code, "kern.cu", self.options)

    stand_in(monkeypatch)
    monkeypatch.setattr(RawModule, "compile", refuse)
    result = invoke("run", "--device", "cuda:0", "--kernels", "triad", "-o", str(tmp_path / "gpu.yaml"))
    one_line(result, 1, "stream.cu", "NVRTC could not compile it", "half2")


def test_a_cuda_error_while_measuring_is_one_line_and_exit_1(monkeypatch, tmp_path):
    from fake_cupy import CUDADriverError, Kernel

    def fail(self, grid, block, args, *, shared_mem=0):
        raise CUDADriverError("CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered")

    stand_in(monkeypatch)
    monkeypatch.setattr(Kernel, "__call__", fail)
    result = invoke("run", "--device", "cuda:0", "--kernels", "triad", "-o", str(tmp_path / "gpu.yaml"))
    one_line(result, 1, "cuda:0", "CUDA_ERROR_ILLEGAL_ADDRESS")


# 8. Link theory at the maximum PCIe link; intensity passes; batched autotune ---------------------------------------


def test_link_theory_uses_the_maximum_pcie_link_not_the_idle_one(monkeypatch):
    from fake_cupy import pci_bus_id

    _, nvml = stand_in(monkeypatch, devices=2)
    nvml.nvmlInit()
    assert nvml.nvmlDeviceGetCurrPcieLinkGeneration(0) == 1  # idle: downshifted
    theory = gpu_links.link_theory(nvml, (0, 1), (pci_bus_id(0), pci_bus_id(1)))
    assert theory.kind == "pcie" and theory.gbps == pytest.approx(16 * 32 * 128 / 130 / 8)  # gen 5 x16
    assert "maximum" in theory.source


def test_intensity_launches_make_several_passes_over_an_l2_sized_array(monkeypatch):
    cp, _ = stand_in(monkeypatch)
    n_bytes = 2**19
    monkeypatch.setattr(gpu_intensity, "level_bytes", lambda kernel, level, l2_bytes, free_bytes: n_bytes)
    run("intensity_fp64")
    module = next(m for m in cp.RawModule.created if "intensity_f64" in m.code)
    assert module.launches
    passes = gpu_intensity.passes_for(n_bytes, 1, "fp64")
    assert passes == gpu_intensity.MIN_LAUNCH_BYTES // (2 * n_bytes) > 1
    assert gpu_intensity.passes_for(1 << 30) == 1  # a DRAM-sized array: one pass moves enough
    assert gpu_intensity.passes_for(n_bytes, 128, "fp32") == 2**24 // (gpu_intensity.EXACT_LAUNCHES * 128)


def test_the_autotune_times_batches_of_launches(monkeypatch):
    cp, _ = stand_in(monkeypatch)
    cp.fake_clock.cost_ms = lambda launch: 0.1  # a 100 us launch: 20 per 2 ms sweep sample
    result = run("triad").results[0]
    shapes = gpu_stream.shapes(catalog.kernel("gpu", "triad"))
    calls = gpu_stream.batch_calls(1e-4)
    assert calls == 20
    launched = [launch for launch in cp.fake_clock.launches if launch.name == "triad_f64"]
    swept = len(shapes) + calls * (1 + catalog.kernel("gpu", "triad").launch.sweep_launches * len(shapes))
    assert len(launched) > swept and result.details["launch"]["candidates"]
    assert gpu_stream.batch_calls(0.5) == 1 and gpu_stream.batch_calls(0.0) == gpu_stream.MAX_SWEEP_BATCH


# 9. The runner's message; the guarded sampler ----------------------------------------------------------------------


def test_the_runner_names_the_device_asked_for(monkeypatch):
    from fake_cupy import make_cupy

    from hwbench.run.plan import resolve_device

    broken = make_cupy()

    def no_driver():
        raise broken.cuda.runtime.CUDARuntimeError("cudaErrorInsufficientDriver")

    monkeypatch.setattr(broken.cuda.runtime, "getDeviceCount", no_driver)
    monkeypatch.setitem(sys.modules, "cupy", broken)
    with pytest.raises(UsageError, match=r"^--device cuda:3: no usable NVIDIA GPU"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("entry", ["run", "validate", "session"])
def test_every_gpu_path_says_the_same_line_without_cupy(entry, tmp_path, monkeypatch):
    """hwbench run, hwbench validate and the session itself check CuPy and the device in one place
    (gpu.failures.checked_cupy): one message, exit 2, no file."""
    from hwbench.gpu.failures import CUPY_MISSING

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "cupy", None)
    if entry == "session":
        with pytest.raises(UsageError) as error:
            gpu_session.measure_gpu(0, catalog.select("gpu", "triad"), quick=True)
        assert str(error.value) == CUPY_MISSING
    else:
        result = CliRunner().invoke(app, [entry, "--device", "cuda:0"])
        assert result.exit_code == 2 and result.stderr == f"hwbench: error: {CUPY_MISSING}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_gpu_index_past_the_last_is_named_with_the_ones_there(monkeypatch):
    from fake_cupy import make_cupy

    from hwbench.gpu.failures import checked_cupy

    monkeypatch.setitem(sys.modules, "cupy", make_cupy(devices=2))
    with pytest.raises(UsageError) as error:
        checked_cupy(5, "CUDA:5")
    assert str(error.value) == ("--device CUDA:5: this machine has 2 CUDA GPUs (cuda:0 to cuda:1); pick one of those "
                                "or use --device cpu")


def test_an_unsupported_nvml_query_never_ends_the_sampler(monkeypatch):
    from fake_cupy import FakeNvml

    nvml = FakeNvml(unsupported=frozenset({"nvmlDeviceGetPowerUsage", "nvmlDeviceGetCurrentClocksEventReasons"}))
    stand_in(monkeypatch, nvml=nvml)
    result = run("triad")
    assert result.results[0].validated and result.results[0].clocks_mhz["SM"] == 1500.0
    assert ("NVML could not read clock-event reasons (Not Supported); power (Not Supported): those samples have no "
            "such value") in result.warnings
    sampler = NvmlSampler(0)
    assert sampler.sample().power_w is None and sampler.sample().reasons == 0


# Pre-checks and the theory table -------------------------------------------------------------------------------------


def test_prechecks_warn_as_dcgm_would(monkeypatch):
    from fake_cupy import FakeNvml

    from hwbench.gpu.telemetry import prechecks

    nvml = FakeNvml()
    nvml.nvmlInit()
    nvml.state.update(mig=(1, 1), ecc=(0, 1), processes=[4242, 7], persistence=0, reasons=0x41)
    warnings = prechecks(nvml, 0, pid=7)
    assert [w.split(":")[1].strip().split()[0] for w in warnings] == ["MIG", "ECC", "1", "persistence", "clocks"]
    assert "this MIG instance" in warnings[0] and "pending a reboot" in warnings[1]
    assert "pid 4242" in warnings[2] and "hw_thermal_slowdown" in warnings[4]
    nvml.state.update(mig=(0, 0), ecc=(1, 1), processes=[7], persistence=1, reasons=0x1)
    assert prechecks(nvml, 0, pid=7) == []
    quiet = FakeNvml(unsupported=frozenset({"nvmlDeviceGetMigMode", "nvmlDeviceGetEccMode",
                                            "nvmlDeviceGetPersistenceMode"}))
    quiet.nvmlInit()
    quiet.state["reasons"] = 0x1
    assert prechecks(quiet, 0) == []  # a GeForce card: the unsupported queries are skipped


def test_the_session_records_the_prechecks(monkeypatch):
    _, nvml = stand_in(monkeypatch)
    nvml.state.update(mig=(1, 1))
    result = run("triad")
    assert any(w.startswith("pre-check: MIG mode is enabled") for w in result.warnings)


def test_an_unknown_gpu_gets_a_full_measured_profile_with_theory_unknown(monkeypatch):
    from hwbench.profile.build import build_profile
    from hwbench.record import Host

    stand_in(monkeypatch, compute_capability=(11, 0))
    import datetime as dt

    measurement = gpu_session.measure_gpu(0, catalog.select("gpu", "triad,fma_fp32"), quick=True)
    data = build_profile(measurement, Host("h", "Linux", "0", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)))
    assert data["compute"]["fp32"]["measured_gflops"] > 0 and data["compute"]["fp32"]["theoretical_gflops"] is None
    assert "unknown" in data["compute"]["fp32"]["theoretical_source"]
    assert any("compute capability 11.0 is not in hwbench's table" in w for w in data["warnings"])


def test_turing_skips_the_bf16_fma_it_has_not(monkeypatch):
    stand_in(monkeypatch, compute_capability=(7, 5))
    result = run("fma")
    assert {r.name for r in result.results} == {"fma_fp64", "fma_fp32", "fma_fp16"}
    assert "fma_bf16 not measured: its packed FMA needs sm_80, this GPU is sm_75" in result.warnings


@pytest.mark.parametrize("cc, sms, mhz, precision, datasheet_tflops", [
    ((7, 5), 40, 1590, "fp32", 8.1),          # T4 datasheet: 8.1 TFLOP/s FP32
    ((7, 5), 40, 1590, "tensor_fp16", 65.0),  # T4: 65 TFLOP/s FP16 tensor (mixed precision)
    ((8, 0), 108, 1410, "fp64", 9.7),         # A100 SXM: 9.7 TFLOP/s FP64
    ((9, 0), 132, 1980, "fp64", 33.5),        # H100 / H200 SXM: 34 TFLOP/s FP64 (vector)
    ((9, 0), 132, 1980, "fp32", 66.9),        # H100 / H200 SXM: 67 TFLOP/s FP32
    ((9, 0), 114, 1755, "fp32", 51.2),        # H100 PCIe: 51 TFLOP/s FP32
    ((9, 0), 132, 1785, "fp64", 30.2),        # H100 NVL: 30 TFLOP/s FP64
])
def test_the_table_against_datasheets(cc, sms, mhz, precision, datasheet_tflops):
    model = sm_model(*cc)
    assert peak_gflops(sms, mhz, model.per_cycle(precision)) / 1000 == pytest.approx(datasheet_tflops, rel=0.01)


def test_hbm_bandwidth_from_nvml_clocks():
    assert dram_gbps(2619, 5120) == pytest.approx(3352, abs=1)   # H100 SXM 80 GB: 3.35 TB/s
    assert dram_gbps(3201, 6144) == pytest.approx(4917, abs=1)   # H200: 4.8 TB/s on the datasheet
    assert dram_gbps(1593, 5120) == pytest.approx(2039, abs=1)   # H100 PCIe 80 GB: 2.0 TB/s
    assert dram_gbps(5001, 256) == pytest.approx(320, abs=1)     # T4: GDDR6 at 10 Gb/s per pin, 320 GB/s


def test_every_claimed_architecture_has_a_model():
    from hwbench.gpu.theory import ARCHITECTURES

    for arch in ARCHITECTURES:
        number = int(arch[3:])
        assert sm_model(number // 10, number % 10) is not None, arch
