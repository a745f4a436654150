"""The mma family (kernels/cuda/mma.cu) and the int8 library GEMM end to end on the NumPy stand-in for CuPy
(tests/fake_cupy.py, whose times are its own: no GPU figure is asserted or written, only the launches, the closed-form
validation, the skips by compute capability and the profile's instruction_peaks arithmetic)."""

from __future__ import annotations

from dataclasses import replace

import jsonschema
import numpy as np
import pytest
from test_gpu import HOST, fake_gpu, fake_profile  # noqa: F401  (the fixture and the helper of the stand-in)

from hwbench import catalog
from hwbench.errors import MeasurementError
from hwbench.gpu import cublas, lowp_gemm, mma
from hwbench.gpu import session as gpu_session
from hwbench.gpu.theory import SM_MODELS
from hwbench.profile import json_schema
from hwbench.profile.build import build_profile

MMA = [k for k in catalog.kernels("gpu") if k.family == "mma"]
HOPPER_MMA = [k for k in MMA if not k.name.startswith("tcgen05")]  # tcgen05 exists on sm_100a / sm_103a only


def small_gemms(kernels):
    return tuple(replace(k, launch=replace(k.launch, sizes=(64,), quick_sizes=(64,))) if k.family == "tensor" else k
                 for k in kernels)


def run_profile(spec: str) -> dict:
    measurement = gpu_session.measure_gpu(0, small_gemms(catalog.select("gpu", spec)), quick=True)
    return build_profile(measurement, HOST)


def test_every_mma_kernel_runs_and_validates_on_a_hopper_stand_in(fake_gpu):  # noqa: F811
    data = run_profile("lowp")
    # the schema on the mma kernels' profile (a 64 x 64 GEMM at the stand-in's 1 ms per batch rounds to 0 GOP/s)
    jsonschema.Draft202012Validator(json_schema()).validate(run_profile(",".join(k.name for k in MMA)))
    section = data["instruction_peaks"]
    assert set(section["peaks"]) == {k.name for k in HOPPER_MMA} | {"gemm_int8", "gemm_fp8_e4m3"}
    assert set(section["skipped"]) == {"tcgen05_bf16"}
    assert "arch-specific target sm_100a or sm_103a; this GPU is sm_90" in section["skipped"]["tcgen05_bf16"]
    assert section["counting"].startswith("2 x M x N x K FLOP (OP for int8)")
    assert all(k["validated"] for k in data["kernels"])
    assert data["compute"] == {} and data["clock"]["measured_mhz"] is None  # never mixed into compute or its clock
    hopper = SM_MODELS[(9, 0)].tensor
    for kernel in HOPPER_MMA:
        entry = section["peaks"][kernel.name]
        assert entry["unit"] == ("GOP/s" if kernel.launch.data == "int8" else "GFLOP/s")
        assert entry["op_per_cycle_theoretical"] == hopper[kernel.launch.data]
        assert entry["theoretical"] == pytest.approx(4 * hopper[kernel.launch.data] * 2000 / 1e3)  # 4 SMs, 2 GHz
        assert entry["theoretical_at_measured_clock"] == pytest.approx(4 * hopper[kernel.launch.data] * 1500 / 1e3)
        assert entry["clock_mhz"] == 1500.0 and entry["instruction"] == kernel.launch.instruction
    assert section["peaks"]["gemm_int8"]["unit"] == "GOP/s"
    assert section["peaks"]["gemm_int8"]["instruction_class"] == "library"
    assert section["peaks"]["gemm_fp8_e4m3"]["unit"] == "GFLOP/s"
    assert section["peaks"]["gemm_fp8_e4m3"]["op_per_cycle_theoretical"] == hopper["fp8_e4m3"]


def test_work_counts_2mnk_per_instruction():
    by_name = {k.name: k for k in MMA}
    # 8 warps of 256 threads x 4 chains x 4096 iterations x 4096 FLOP (m16n8k16) per block
    assert mma.work_per_launch(by_name["mma_fp16"], 1) == 8 * 4 * 4096 * 4096
    assert mma.work_per_launch(by_name["mma_int8"], 2) == 2 * 8 * 4 * 4096 * 8192
    # 2 warpgroups x 1024 iterations x UNROLL 8 x 524,288 FLOP (m64n256k16) per block
    assert mma.work_per_launch(by_name["wgmma_bf16"], 1) == 2 * 1024 * 8 * 524288
    # one issuing thread per block x 512 iterations x UNROLL 8 x 1,048,576 FLOP (M128 N256 K16), whatever BLOCK is
    assert mma.work_per_launch(by_name["tcgen05_bf16"], 3) == 3 * 512 * 8 * 1048576
    # each thread sums its 128 of a TMEM lane's 256 columns, each 16 x 512 x 8: 2**23, below 2**24 (exact in fp32)
    assert mma.expected_sum(by_name["tcgen05_bf16"]) == 128 * 16 * 512 * 8 == 2**23
    # every fp32 accumulator stays exact: iterations x K (x UNROLL) below 2**24
    for kernel in MMA:
        assert mma.expected_sum(kernel) <= 2**24 * (1 if kernel.launch.data == "int8" else 16)


def test_older_gpus_skip_with_the_reason(monkeypatch):
    from fake_cupy import install, make_cupy

    install(monkeypatch, make_cupy(compute_capability=(8, 0)))
    monkeypatch.setattr(gpu_session.RepetitionPolicy, "for_mode", classmethod(
        lambda cls, quick: cls(warmups=0, min_repetitions=2, min_seconds=0.0)))
    data = run_profile("lowp")
    skipped = data["instruction_peaks"]["skipped"]
    assert set(skipped) == {"mma_fp8_e4m3", "mma_fp8_e5m2", "wgmma_bf16", "tcgen05_bf16", "gemm_fp8_e4m3"}
    assert "needs sm_89 or later; this GPU is sm_80" in skipped["mma_fp8_e4m3"]
    assert "arch-specific target sm_90a" in skipped["wgmma_bf16"]
    assert set(data["instruction_peaks"]["peaks"]) == {"mma_fp16", "mma_bf16", "mma_tf32", "mma_int8", "gemm_int8"}
    assert data["instruction_peaks"]["peaks"]["mma_int8"]["op_per_cycle_theoretical"] == 4096  # A100: 624 TOPS


def test_the_mma_module_is_compiled_for_sm_90a_on_hopper_only(fake_gpu):  # noqa: F811
    run_profile("mma_bf16,wgmma_bf16")
    options = [m.options for m in fake_gpu.RawModule.created if m.code.startswith("// Tensor-pipe")]
    assert options and all(o[-1] == "-arch=sm_90a" for o in options)


@pytest.mark.parametrize(("cc", "arch"), [((10, 0), "sm_100a"), ((10, 3), "sm_103a")])
def test_blackwell_runs_tcgen05_from_its_arch_specific_build(monkeypatch, cc, arch):
    """On compute capability 10.0 / 10.3 the mma module is compiled for sm_100a / sm_103a: tcgen05_bf16 runs and
    validates beside mma.sync, wgmma (sm_90a only) is skipped with the reason; the tensor theory stays unknown."""
    from fake_cupy import install, make_cupy

    fake = make_cupy(compute_capability=cc)
    install(monkeypatch, fake)
    data = run_profile("mma_bf16,wgmma_bf16,tcgen05_bf16")
    section = data["instruction_peaks"]
    assert set(section["peaks"]) == {"mma_bf16", "tcgen05_bf16"}
    assert set(section["skipped"]) == {"wgmma_bf16"}
    assert f"this GPU is sm_{cc[0]}{cc[1]}" in section["skipped"]["wgmma_bf16"]
    entry = section["peaks"]["tcgen05_bf16"]
    assert entry["instruction"] == "tcgen05.mma.cta_group::1.kind::f16.m128n256k16.f32.bf16.bf16"
    assert entry["theoretical"] is None  # Blackwell's dense tensor rate per SM is not in hwbench's table
    kernel = next(k for k in data["kernels"] if k["name"] == "tcgen05_bf16")
    assert kernel["validated"]
    options = [m.options for m in fake.RawModule.created if m.code.startswith("// Tensor-pipe")]
    assert options and all(o[-1] == f"-arch={arch}" for o in options)


def test_a_wrong_tcgen05_accumulator_is_an_error(monkeypatch):
    from fake_cupy import install, make_cupy

    install(monkeypatch, make_cupy(compute_capability=(10, 0)))
    monkeypatch.setitem(mma.ONE_WORDS, "bf16", 0x40004000)  # 2.0 in each half: every sum 4x the closed form
    with pytest.raises(MeasurementError, match="tcgen05_bf16 output check failed"):
        run_profile("tcgen05_bf16")


def test_a_wrong_accumulator_is_an_error(fake_gpu, monkeypatch):  # noqa: F811
    monkeypatch.setitem(mma.ONE_WORDS, "bf16", 0x40004000)  # 2.0 in each half: every sum 4x the closed form
    with pytest.raises(MeasurementError, match="mma_bf16 output check failed"):
        run_profile("mma_bf16")


def test_a_wrong_int8_product_is_an_error(fake_gpu, monkeypatch):  # noqa: F811
    monkeypatch.setattr(lowp_gemm, "CUBLAS_OP_T", cublas.CUBLAS_OP_N)  # A not transposed: another product
    with pytest.raises(MeasurementError, match="gemm_int8 output check failed"):
        run_profile("gemm_int8")


def test_the_int8_gemm_is_exact_on_the_stand_in(fake_gpu):  # noqa: F811
    data = run_profile("gemm_int8")
    entry = next(k for k in data["kernels"] if k["name"] == "gemm_int8")
    assert entry["validated"] and entry["flops"] == 2 * 64**3 and entry["unit"] == "GOP/s"
    assert fake_gpu.fake_cublas.calls[-1] == (64, cublas.CUDA_R_8I, cublas.CUBLAS_COMPUTE_32I)


def test_no_cublas_is_one_line(monkeypatch):
    from fake_cupy import install, make_cupy

    from hwbench.errors import UsageError

    install(monkeypatch, make_cupy(missing=frozenset({"cublas"})))
    with pytest.raises(UsageError, match="CuPy found no cuBLAS library"):
        run_profile("gemm_int8")


def test_operand_words_hold_one_in_every_element():
    from fake_cupy import _mma_element

    entries = {"fp16": "mma_f16", "bf16": "mma_bf16", "tf32": "mma_tf32", "int8": "mma_s8", "fp8_e4m3": "mma_e4m3",
               "fp8_e5m2": "mma_e5m2"}
    for data, word in mma.ONE_WORDS.items():
        assert _mma_element(entries[data], word) == 1.0, data
    assert np.float16(1.0).view(np.uint16) == mma.ONE_WORDS["fp16"] & 0xFFFF


def test_the_catalog_names_the_instructions_nvcc_builds():
    """Each mma kernel's instruction, shape and work are those of its entry in the PTX (tests/test_lowp_mma.py)."""
    from test_lowp_mma import SM80, SM89, WORK

    for kernel in MMA:
        if kernel.entry == "wgmma_bf16":
            assert kernel.launch.instruction == "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16"
            continue
        if kernel.entry == "tcgen05_bf16":  # the shape lives in the instruction descriptor (tests/test_lowp_mma.py)
            assert kernel.launch.instruction.startswith("tcgen05.mma.cta_group::1.kind::f16.m128n256k16")
            assert mma.ops_per_instruction(kernel) == 2 * 128 * 256 * 16
            continue
        assert kernel.launch.instruction == f"mma.sync.aligned.{({**SM80, **SM89})[kernel.entry]}"
        assert mma.ops_per_instruction(kernel) == WORK[kernel.entry]
        assert kernel.launch.needs == ((8, 9) if kernel.entry in SM89 else (8, 0))


def test_the_fp8_gemm_runs_through_cublaslt_on_the_stand_in(fake_gpu):  # noqa: F811
    data = run_profile("gemm_fp8_e4m3")
    entry = next(k for k in data["kernels"] if k["name"] == "gemm_fp8_e4m3")
    assert entry["validated"] and entry["flops"] == 2 * 64**3
    assert entry["details"]["library"].startswith("cuBLASLt cublasLtMatmul (ctypes")
    assert fake_gpu.fake_cublaslt.matmuls and {size for size, _ in fake_gpu.fake_cublaslt.matmuls} == {64}
    assert all(stream != 0 for _, stream in fake_gpu.fake_cublaslt.matmuls)  # on the session's stream


def test_a_wrong_fp8_product_is_an_error(fake_gpu, monkeypatch):  # noqa: F811
    from hwbench.gpu import cublaslt

    monkeypatch.setattr(cublaslt, "CUBLAS_OP_T", cublas.CUBLAS_OP_N)  # A not transposed: another product
    with pytest.raises(MeasurementError, match="gemm_fp8_e4m3 output check failed"):
        run_profile("gemm_fp8_e4m3")


def test_no_fp8_algorithm_is_a_skip_with_the_reason(fake_gpu):  # noqa: F811
    fake_gpu.fake_cublaslt.no_algorithm = True
    data = run_profile("gemm_fp8_e4m3")
    assert "cuBLASLt ran no size" in data["instruction_peaks"]["skipped"]["gemm_fp8_e4m3"]
    assert any("cublasLtMatmulAlgoGetHeuristic found no algorithm" in w for w in data["warnings"])


def test_no_libcublaslt_is_a_one_line_skip(monkeypatch):
    from fake_cupy import install, make_cupy

    install(monkeypatch, make_cupy(missing=frozenset({"cublaslt"})))
    data = run_profile("gemm_fp8_e4m3")
    reason = data["instruction_peaks"]["skipped"]["gemm_fp8_e4m3"]
    assert reason.startswith("libcublasLt did not load (DynamicLibNotFoundError: Failure finding")
    assert "\n" not in reason


def test_e4m3_encoding_of_the_test_values():
    assert [lowp_gemm.e4m3_byte(v) for v in (1.0, -1.0, 0.5, 2.0, 1.5)] == [0x38, 0xB8, 0x30, 0x40, 0x3C]


def _per_cycle_run(fake_gpu, name: str, share: float) -> dict:  # noqa: F811
    """A run of ``name`` whose stand-in launches take the time that gives ``share`` of Hopper's per-SM rate at the
    stand-in's 1500 MHz SM clock on its 4 SMs (the time is the stand-in's: no GPU figure)."""
    kernel = catalog.kernel("gpu", name)
    per_cycle = SM_MODELS[(9, 0)].tensor[kernel.launch.data] * share
    blocks = 4 * 2048 // kernel.constants["BLOCK"] * kernel.launch.waves  # SMs x resident blocks x waves
    seconds = mma.work_per_launch(kernel, blocks) / (per_cycle * 4 * 1500e6)
    fake_gpu.fake_clock.cost_ms = lambda launch: seconds * 1e3
    return run_profile(name)


def test_op_per_cycle_at_the_measured_clock(fake_gpu):  # noqa: F811
    entry = _per_cycle_run(fake_gpu, "mma_int8", 0.5)["instruction_peaks"]["peaks"]["mma_int8"]
    assert entry["op_per_cycle"] == pytest.approx(4096, rel=1e-3)  # half of Hopper's 8192 int8 OP/cycle/SM
    assert entry["efficiency_at_measured_clock"] == pytest.approx(0.5, rel=1e-3)
    assert entry["measured"] == pytest.approx(4 * 4096 * 1500 / 1e3, rel=1e-3)  # GOP/s
    assert "measurement_error" not in entry


def test_a_rate_above_the_tensor_table_is_flagged(fake_gpu):  # noqa: F811
    data = _per_cycle_run(fake_gpu, "mma_bf16", 1.5)
    entry = data["instruction_peaks"]["peaks"]["mma_bf16"]
    assert "above the hardware's 4096" in entry["measurement_error"] and entry["op_per_cycle"] is None
    assert "above the theoretical peak at the highest clock the device allows" in entry["measurement_error"]
    assert any(w.startswith("mma_bf16: measurement error, not a ceiling") for w in data["warnings"])
    assert not any("nominal clock" in w for w in data["warnings"])  # a GPU's max clock is a limit, not a nominal one


def test_a_gemm_cublas_refuses_at_every_size_is_a_skip(fake_gpu, monkeypatch):  # noqa: F811
    def refuse(*args, **kwargs):
        raise RuntimeError("CUBLAS_STATUS_NOT_SUPPORTED")

    monkeypatch.setattr(fake_gpu.fake_cublas, "gemmEx", refuse)
    data = run_profile("gemm_int8")
    assert data["instruction_peaks"]["skipped"] == {"gemm_int8": "cuBLAS ran no size (see the warnings)"}
    assert any(w.startswith("gemm_int8 at 64: not measured: RuntimeError: CUBLAS_STATUS_NOT_SUPPORTED")
               for w in data["warnings"])
