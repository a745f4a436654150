"""Compute roofs by instruction mix: the add, multiply and scalar add chains (kernels/cpu_mix.py) compute their
closed form with the instruction they are named after, the paper rates come from the core table, the profile puts
them (and the library GEMM ceiling) in ``instruction_peaks`` without touching ``compute``, and
``Profile.compute_roof`` reads them back. Rates in the hand-made results are round numbers, no machine's."""

from __future__ import annotations

import dataclasses
import platform

import pytest

from conftest import TEST_HOST, make_measurement
from hwbench import catalog
from hwbench.cpu.session import to_record
from hwbench.cpu.smbios import DramTheory
from hwbench.cpu.theory import CoreModel, mix_rate
from hwbench.kernel_spec import MixLaunch
from hwbench.kernels import cpu_mix
from hwbench.profile import Profile
from hwbench.profile.build import build_profile
from hwbench.profile.format import check_profile
from hwbench.stats import KernelResult, RateSummary

MIX = [k for k in catalog.kernels("cpu") if k.family == "mix"]
CHAINS = [k for k in MIX if isinstance(k.launch, MixLaunch)]
X86 = platform.machine().lower() in ("x86_64", "amd64")


def test_catalog_has_add_mul_scalar_per_precision_and_the_gemm_ceilings():
    assert [k.name for k in MIX] == ["add_fp64", "mul_fp64", "scalar_add_fp64", "add_fp32", "mul_fp32",
                                     "scalar_add_fp32", "gemm_fp64", "gemm_fp32"]
    assert {k.launch.instruction for k in CHAINS} == {"vaddpd", "vmulpd", "vaddsd", "vaddps", "vmulps", "vaddss"}
    assert catalog.select("cpu", "mix") == tuple(MIX)


@pytest.mark.parametrize("kernel", CHAINS, ids=lambda k: k.name)
@pytest.mark.parametrize("lanes", [1, 4])
def test_chains_return_their_closed_form(kernel, lanes):
    operation = kernel.launch.operation
    function = cpu_mix.mix_kernel(operation, kernel.precision, lanes, 3)
    arguments = cpu_mix.operands(operation, kernel.precision)
    for n_iter in (0, 1, 1001):  # every lane returns to its start after each iteration: exact
        assert function(n_iter, *arguments) == cpu_mix.expected_checksum(lanes, 3)


@pytest.mark.skipif(not X86, reason="x86 mnemonics")
@pytest.mark.parametrize("operation, precision, lanes, mnemonic", [
    ("add", "fp64", 4, "vaddpd"), ("mul", "fp64", 4, "vmulpd"), ("add", "fp64", 1, "vaddsd"),
    ("add", "fp32", 8, "vaddps"), ("mul", "fp32", 8, "vmulps"), ("add", "fp32", 1, "vaddss")])
def test_machine_code_runs_the_named_instruction_and_no_fma(operation, precision, lanes, mnemonic):
    function = cpu_mix.mix_kernel(operation, precision, lanes, 4)
    function(1, *cpu_mix.operands(operation, precision))
    asm = function.inspect_asm(function.signatures[0])
    assert mnemonic in asm and "vfmadd" not in asm


def test_flops_per_iteration_counts_both_instructions():
    assert cpu_mix.flops_per_iteration(8, 12) == 2 * 8 * 12


def test_documented_add_and_multiply_rates():
    zen5 = CoreModel("Zen 5", 2, 512, "guide")
    assert mix_rate(zen5, "add")[0] == 2.0 and "FADD on FP pipes 2 and 3" in mix_rate(zen5, "add")[1]
    assert mix_rate(CoreModel("Haswell", 2, 256, "manual"), "add")[0] == 1.0  # port 1 only
    assert mix_rate(CoreModel("Skylake-SP / Cascade Lake", 1, 512, "manual"), "mul")[0] == 1.0  # one FMA port
    assert mix_rate(CoreModel("Neoverse V2", 4, 128, "guide"), "add") is None


def mix_result(name: str, rate: float, paired: float, clock: float | None = 3700.0) -> KernelResult:
    kernel = catalog.kernel("cpu", name)
    lanes = (kernel.launch.lanes if isinstance(kernel.launch, MixLaunch) else 0) or (512 // (8 * kernel.element_bytes))
    details = {"instruction": kernel.launch.instruction, "instruction_class": kernel.launch.instruction_class,
               "accumulate": kernel.launch.accumulate, "counting": kernel.launch.counting, "lanes": lanes}
    return KernelResult(name, kernel.precision, "core", "GFLOP/s", RateSummary((rate, rate)), 0, None, None, 10**9,
                        True, details, clocks_mhz={"core": clock} if clock else {},
                        paired_gflops=paired if clock else None)


def mix_profile(*results: KernelResult) -> dict:
    run = make_measurement()
    run = dataclasses.replace(run, results=[*run.results, *results])
    return build_profile(to_record(run, DramTheory(76.8, "SMBIOS type 17: test")), TEST_HOST)


def test_profile_puts_the_mix_peaks_beside_compute_with_theory_at_both_clocks():
    data = mix_profile(mix_result("add_fp64", 110.0, 115.0), mix_result("scalar_add_fp64", 14.0, 14.5),
                       mix_result("gemm_fp64", 180.0, 180.0, clock=None))
    check_profile(data, "test")
    assert data["compute"]["fp64"]["kernel"] == "fma_fp64"  # the FMA roof is not replaced by a mix kernel
    peaks = data["instruction_peaks"]["peaks"]
    add, scalar, gemm = peaks["add_fp64"], peaks["scalar_add_fp64"], peaks["gemm_fp64"]
    assert add["op_per_cycle_theoretical"] == 16 and add["theoretical"] == pytest.approx(2 * 2.6 * 16)
    assert add["theoretical_at_measured_clock"] == pytest.approx(2 * 3.7 * 16)
    assert add["op_per_cycle"] == pytest.approx(115.0 * 1e3 / (2 * 3700.0), abs=0.01)
    assert scalar["op_per_cycle_theoretical"] == 2 and scalar["instruction"] == "vaddsd"
    # The GEMM's paper bound is the FMA peak; its clock is the FMA kernel's under load (3750 MHz).
    assert gemm["theoretical"] == data["compute"]["fp64"]["theoretical_gflops"]
    assert gemm["clock_mhz"] == 3750.0 and gemm["instruction_class"] == "library"
    profile = Profile(data, "test")
    assert profile.compute_roof("add", "fp64").gflops == 110.0
    assert profile.compute_roof("gemm", "fp64", "theoretical").gflops == gemm["theoretical"]
    assert profile.compute_roof("mul", "fp64") is None  # not measured: no roof, never another one's
    assert profile.compute_roof("fma", "fp64").kernel == "fma_fp64"


def test_a_mix_rate_above_the_documented_one_is_a_measurement_error():
    data = mix_profile(mix_result("add_fp64", 130.0, 130.0))  # 17.6 FLOP/cycle per core against 16
    assert data["instruction_peaks"]["peaks"]["add_fp64"]["op_per_cycle"] is None
    assert any(w.startswith("add_fp64: measurement error, not a ceiling") for w in data["warnings"])


def test_a_slow_library_gemm_names_the_library_s_own_kernels_first():
    """OpenBLAS's GEMM at 14.7 of 32 fp64 FLOP/cycle on the Zen 5 guest: its 'Haswell' kernels are 256-bit, so the
    warning names the library's kernels before shared FMA units."""
    slow = mix_result("gemm_fp64", 100.0, 100.0, clock=None)
    slow = dataclasses.replace(slow, details={**slow.details, "library": "numpy 2.4.6, openblas 0.3.31 (Haswell "
                                                                          "kernels, pthreads threads)"})
    data = mix_profile(slow)  # 100 GFLOP/s on 2 cores at 3750 MHz: 13.3 of 32 FLOP per cycle
    warning = next(w for w in data["warnings"] if w.startswith("gemm_fp64:"))
    assert "the clock is not the cause. A library GEMM runs its own kernels (numpy 2.4.6, openblas 0.3.31" in warning
    assert "256-bit AVX2" in warning and "--threads 1" in warning
