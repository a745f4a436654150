"""Low-precision peaks (bf16, fp16, int8, AMX): the machine code LLVM emits for a CPU with each feature, checked on
every machine; the kernels run and validated where CPUID reports the feature, skipped with the reason elsewhere;
the counting rules, the theory table, the profile section, its schema and its tables."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import TEST_HOST, make_cpu, make_measurement
from hwbench import catalog
from hwbench.cpu.features import missing_flags, skip_reasons
from hwbench.cpu.machine import PROC_CPUINFO, parse_cpuinfo
from hwbench.cpu.session import to_record
from hwbench.cpu.smbios import DramTheory
from hwbench.cpu.theory import CoreModel, instruction_rate
from hwbench.kernels import cpu_amx, cpu_lowp
from hwbench.profile.build import build_profile
from hwbench.profile.format import check_profile
from hwbench.stats import KernelResult, RateSummary
from hwbench.tools.render_instructions import clock_classes_table, instruction_peaks_table

LOWP = [k for k in catalog.kernels("cpu") if k.family == "lowp"]
# An LLVM CPU name with each kernel's feature (LLVM X86.td processor definitions).
TARGET = {"dpbf16ps": "znver5", "vpdpbusd": "znver5", "fmaph": "sapphirerapids", "tdpbf16ps": "sapphirerapids",
          "tdpbusd": "sapphirerapids"}
MNEMONIC = {"dpbf16ps": "vdpbf16ps", "vpdpbusd": "vpdpbusd", "fmaph": r"vfmadd\d{3}ph", "tdpbf16ps": "tdpbf16ps",
            "tdpbusd": "tdpbusd"}


def host_flags() -> frozenset[str]:
    try:
        fields = parse_cpuinfo(PROC_CPUINFO.read_text())
    except OSError:
        return frozenset()
    return frozenset(fields.get("flags", "").split())


def loop_body(asm: str) -> list[str]:
    """The instructions of the kernel's hot loop: from the first label that a backward branch returns to."""
    lines = [" ".join(line.split()) for line in asm.splitlines()]
    for index, line in enumerate(lines):
        if line.startswith("j") and not line.startswith("jmp"):
            target = line.split()[-1]
            start = lines.index(f"{target}:")
            if start < index:
                return [x for x in lines[start + 1:index] if x and not x.startswith((".", "#"))]
    raise AssertionError("no loop found")


@pytest.mark.parametrize("kernel", LOWP, ids=lambda k: k.name)
def test_machine_code_has_the_instruction_on_every_chain(kernel):
    kind, bits, chains = kernel.launch.kind, kernel.launch.bits, kernel.launch.chains
    body = loop_body(cpu_lowp.assembly(kind, bits, chains, TARGET[kind]))
    hits = [line for line in body if re.match(MNEMONIC[kind], line.removeprefix("{vex} "))]
    expected = len(cpu_amx.AMX_ACCUMULATORS) if kind in cpu_lowp.AMX_OPS else chains
    assert len(hits) == expected, body
    register = {512: "%zmm", 256: "%ymm"}.get(bits, "%tmm")
    assert all(line.count(register) == 3 for line in hits)
    assert len(body) <= expected + 4  # the counter, compare and branch: nothing else in the loop


def test_amx_kernel_configures_loads_and_releases_the_tiles():
    asm = cpu_lowp.assembly("tdpbf16ps", 0, 0, "sapphirerapids")
    for mnemonic, count in (("ldtilecfg", 1), ("tileloadd", 4), ("tilezero", 4), ("tilestored", 4),
                            ("tilerelease", 1)):
        assert len(re.findall(rf"^\s+{mnemonic}\b", asm, re.MULTILINE)) == count, mnemonic


def test_avx_vnni_gets_the_vex_encoding_on_a_core_without_avx512():
    body = loop_body(cpu_lowp.assembly("vpdpbusd", 256, 16, "alderlake"))
    assert sum(line.startswith("{vex} vpdpbusd") for line in body) == 16


def test_fp16_without_avx512_fp16_would_be_scalar_emulation():
    """Why the family compiles a kernel only where CPUID has its feature: LLVM emulates fp16 FMAs otherwise."""
    asm = cpu_lowp.assembly("fmaph", 512, 2, "znver5")
    assert not re.search(r"vfmadd\d{3}ph", asm) and "vcvtph2ps" in asm


@pytest.mark.parametrize("kernel", [k for k in LOWP if k.launch.kind not in cpu_lowp.AMX_OPS],
                         ids=lambda k: k.name)
def test_vector_kernel_result_is_its_closed_form(kernel):
    if missing := missing_flags(kernel, host_flags()):
        pytest.skip(f"CPUID does not report {', '.join(missing)}: {kernel.launch.instruction} not run here")
    kind, bits, chains = kernel.launch.kind, kernel.launch.bits, kernel.launch.chains
    run = cpu_lowp.vector_kernel(kind, bits, chains)
    for n_iter in (0, 1, 1000):
        assert run(n_iter, *cpu_lowp.operand_words(kind)) == cpu_lowp.expected_checksum(kind, n_iter, bits, chains)


@pytest.mark.parametrize("kernel", [k for k in LOWP if k.launch.kind in cpu_lowp.AMX_OPS], ids=lambda k: k.name)
def test_amx_kernel_result_is_its_closed_form(kernel):
    from hwbench.cpu.features import request_amx_state

    if missing := missing_flags(kernel, host_flags()):
        pytest.skip(f"CPUID does not report {', '.join(missing)}: {kernel.launch.instruction} not run here")
    if problem := request_amx_state():
        pytest.skip(problem)
    kind = kernel.launch.kind
    outputs = cpu_amx.amx_output_buffer()
    assert cpu_amx.amx_kernel(kind)(1000, cpu_amx.amx_tile_config(), cpu_amx.amx_inputs(kind), outputs) == 1000
    assert cpu_amx.amx_outputs_correct(kind, outputs, 1000)


def test_results_stay_exact_for_every_call_the_family_makes():
    kernel = catalog.kernel("cpu", "dp_bf16")
    count = cpu_lowp.lanes("dpbf16ps", 512) * kernel.launch.chains
    assert count - 1 + cpu_lowp.DPBF16_STEP * cpu_lowp.MAX_DPBF16_ITERATIONS < 2**24  # fp32 integers are exact
    assert abs(cpu_lowp.VNNI_STEP) * cpu_lowp.MAX_DPBF16_ITERATIONS + count < 2**31  # no int32 wrap
    assert cpu_amx.AMX_STEP["tdpbf16ps"] * cpu_amx.MAX_AMX_ITERATIONS["tdpbf16ps"] < 2**24
    assert cpu_amx.AMX_STEP["tdpbusd"] * cpu_amx.MAX_AMX_ITERATIONS["tdpbusd"] < 2**31


def test_closed_forms():
    # bf16: lanes start at their index and grow by 1*1 + 1*2 per step; int8 by 1 - 2 + 6 - 8.
    assert cpu_lowp.expected_checksum("dpbf16ps", 10, 512, 1) == sum(range(16)) + 16 * 3 * 10
    assert cpu_lowp.expected_checksum("vpdpbusd", 10, 256, 2) == sum(range(16)) - 16 * 3 * 10
    # fp16: x = 0.75 x + 0.5 rises towards 2 and, rounded once per step, stops short of it: at 2 - 2**-9 the exact
    # result 2 - 1.5 x 2**-10 is a tie, which rounds to the even neighbour 2 - 2**-9 again. The replay finds where
    # each lane stops, and it stops for good.
    assert cpu_lowp.expected_checksum("fmaph", 0, 512, 1) == sum(1 + i / 1024 for i in range(32))
    assert cpu_lowp.expected_checksum("fmaph", 10**6, 512, 1) == cpu_lowp.expected_checksum("fmaph", 10**3, 512, 1)
    assert cpu_lowp.expected_checksum("fmaph", 10**6, 512, 1) == 32 * (2 - 2**-9)


def test_counting_is_cpufps():
    assert cpu_lowp.ops_per_iteration("dpbf16ps", 512, 1) == 16 * 4  # 4 FLOP per fp32 lane
    assert cpu_lowp.ops_per_iteration("vpdpbusd", 512, 1) == 16 * 8  # 8 OP per int32 lane
    assert cpu_lowp.ops_per_iteration("vpdpbusd", 256, 1) == 8 * 8
    assert cpu_lowp.ops_per_iteration("fmaph", 512, 1) == 32 * 2
    assert cpu_lowp.AMX_OPS == {"tdpbf16ps": 16_384, "tdpbusd": 32_768}
    assert {k.name: k.unit for k in LOWP if k.precision == "int8"} == {"dp_int8": "GOP/s", "dp_int8_256": "GOP/s",
                                                                       "amx_int8": "GOP/s"}


def test_tile_config_is_palette_one_with_full_tiles():
    config = cpu_amx.amx_tile_config()
    assert config.size == 64 and config[0] == 1 and config[1] == 0
    assert list(config[16:48].view(np.uint16)[:8]) == [64] * 8 and list(config[48:56]) == [16] * 8
    assert not config[56:].any() and not config[32:48].any()


def test_kernels_without_their_flags_are_skipped_with_the_reason():
    zen5 = {"avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni"}
    reasons = skip_reasons(LOWP, zen5, "x86_64")
    assert set(reasons) == {"fma_fp16", "amx_bf16", "amx_int8"}
    assert reasons["amx_int8"] == "CPUID does not report amx_tile, amx_int8 (needed by tdpbusd)"
    assert set(skip_reasons(LOWP, zen5, "aarch64")) == {k.name for k in LOWP}


def test_documented_rates():
    zen5 = CoreModel("Zen 5", 2, 512, "guide")
    assert instruction_rate(zen5, "dpbf16ps", 512)[0] * 64 == 128  # FLOP per cycle per core
    assert instruction_rate(zen5, "vpdpbusd", 512)[0] * 128 == 256  # OP per cycle per core
    spr = CoreModel("Sapphire Rapids / Emerald Rapids", 2, 512, "manual")
    assert instruction_rate(spr, "tdpbf16ps", 0)[0] * 16_384 == 1024
    assert instruction_rate(spr, "tdpbusd", 0)[0] * 32_768 == 2048
    assert instruction_rate(dataclasses.replace(spr, fma_units=1), "vpdpbusd", 512)[0] == 1.0
    assert instruction_rate(dataclasses.replace(spr, fma_units=1), "tdpbusd", 0)[0] == 1 / 16
    assert instruction_rate(CoreModel("Zen 3", 2, 256, "guide"), "vpdpbusd", 256) is None


def lowp_result(name: str, rate: float, paired: float, clock: float = 3700.0) -> KernelResult:
    kernel = catalog.kernel("cpu", name)
    per_instruction = (cpu_lowp.AMX_OPS.get(kernel.launch.kind) or
                       cpu_lowp.OPS_PER_LANE[kernel.launch.kind] * cpu_lowp.lanes(kernel.launch.kind,
                                                                                    kernel.launch.bits))
    return KernelResult(name, kernel.precision, "core", kernel.unit, RateSummary((rate, rate)), 0, None, None, 10**9,
                        True, {"instruction": kernel.launch.instruction, "ops_per_instruction": per_instruction,
                               "instruction_class": kernel.launch.instruction_class,
                               "accumulate": kernel.launch.accumulate, "counting": kernel.launch.counting},
                        clocks_mhz={"core": clock}, paired_gflops=paired)


def lowp_profile(*results: KernelResult) -> dict:
    run = make_measurement()
    flags = run.cpu.flags | {"avx512_bf16", "avx512_vnni", "avx_vnni"}
    cpu = make_cpu(flags=flags)
    skipped = skip_reasons(LOWP, cpu.flags, cpu.arch)  # what the lowp family reports for the kernels this CPU lacks
    run = dataclasses.replace(run, cpu=cpu, results=[*run.results, *results], instruction_skipped=skipped)
    return build_profile(to_record(run, DramTheory(76.8, "SMBIOS type 17: test")), TEST_HOST)


def test_profile_section_keeps_units_apart_with_theory_at_both_clocks():
    data = lowp_profile(lowp_result("dp_bf16", 940.0, 945.0), lowp_result("dp_int8", 1890.0, 1880.0, 3680.0))
    check_profile(data, "test")
    section = data["instruction_peaks"]
    bf16, int8 = section["peaks"]["dp_bf16"], section["peaks"]["dp_int8"]
    assert (bf16["unit"], int8["unit"]) == ("GFLOP/s", "GOP/s")
    assert bf16["theoretical"] == pytest.approx(2 * 2.6 * 128) and bf16["op_per_cycle_theoretical"] == 128
    assert bf16["theoretical_at_measured_clock"] == pytest.approx(2 * 3.7 * 128)
    assert bf16["op_per_cycle"] == pytest.approx(945.0 * 1e3 / (2 * 3700.0), abs=0.01)
    assert int8["op_per_cycle"] == pytest.approx(1880.0 * 1e3 / (2 * 3680.0), abs=0.01)
    assert "FLOP" not in int8["counting"] and "vpdpbusd = 8 OP per int32 lane" in section["counting"]
    assert set(section["skipped"]) == {"fma_fp16", "amx_bf16", "amx_int8"}
    assert "bf16" not in data["compute"] and "int8" not in data["compute"]  # FLOP/s and OP/s never mix
    assert any(w.startswith("dp_int8: measured 1890.0 GOP/s exceeds the theoretical peak at the nominal clock (1331.2)")
               for w in data["warnings"])  # 2 cores x 2600 MHz x 256 OP: the nominal clock is below the real one
    classes = data["clock"]["by_instruction_class"]
    assert classes["avx512"]["mhz"] == 3680.0 and classes["scalar"]["mhz"] == 3700.0
    assert classes["avx512"]["drop_percent"] == pytest.approx(100 * 20 / 3700, abs=0.01)


def test_a_rate_above_the_documented_one_is_a_measurement_error():
    data = lowp_profile(lowp_result("dp_int8", 2100.0, 2100.0))  # 283.8 OP/cycle against 256
    entry = data["instruction_peaks"]["peaks"]["dp_int8"]
    assert entry["op_per_cycle"] is None and entry["op_per_cycle_rejected"] == pytest.approx(283.78, abs=0.01)
    assert any(w.startswith("dp_int8: measurement error, not a ceiling") for w in data["warnings"])


def test_tables_show_each_peak_its_unit_and_the_skipped():
    from rich.console import Console

    data = lowp_profile(lowp_result("dp_bf16", 940.0, 945.0), lowp_result("dp_int8", 1890.0, 1880.0))
    console = Console(width=200, record=True)
    console.print(instruction_peaks_table(data["instruction_peaks"]))
    console.print(clock_classes_table(data["clock"]["by_instruction_class"]))
    text = console.export_text()
    assert re.search(r"bf16 GFLOP/s\s+vdpbf16ps zmm", text) and re.search(r"int8 GOP/s\s+vpdpbusd zmm", text)
    assert "Not run: fma_fp16: CPUID does not report avx512_fp16" in text
    assert re.search(r"avx512\s+3,700\s+0\.0%", text)


def test_docs_page_lists_the_counting_rules():
    page = (Path(__file__).parents[1] / "docs" / "precisions.md").read_text()
    assert "16,384 FLOP" in page and "8 OP per int32 lane" in page


def test_roofline_draws_op_roofs_only_on_a_chart_of_their_own():
    from hwbench.errors import UsageError
    from hwbench.profile import Profile
    from hwbench.tools.roofs import chart_units, choose_roofs

    profile = Profile(lowp_profile(lowp_result("dp_bf16", 940.0, 945.0), lowp_result("dp_int8", 1890.0, 1880.0)))
    op = choose_roofs([profile], ["zen5"], ["dp_int8"])
    assert [(r.key, r.work, r.measured) for r in op[0].compute] == [("dp_int8", "OP", 1890.0)]
    assert chart_units([profile], op).flops == "GOP/s" and chart_units([profile], op).work == "OP"
    with pytest.raises(UsageError, match="never drawn on one axis with FLOP/s"):
        choose_roofs([profile], ["zen5"], ["fp32", "dp_int8"])
    everything = choose_roofs([profile], ["zen5"], ["all"])
    assert {r.key for r in everything[0].compute} == {"fp64", "fp32", "dp_bf16"}  # FLOP/s roofs only
    assert chart_units([profile], everything).flops == "GFLOP/s"


def test_op_chart_is_labelled_in_ops(tmp_path):
    pytest.importorskip("matplotlib")
    from hwbench.profile import Profile
    from hwbench.tools.plot import render_roofline

    profile = Profile(lowp_profile(lowp_result("dp_int8", 1890.0, 1880.0)))
    svg = render_roofline([profile], ["zen5"], [], ["dp_int8"], fmt="svg").decode()
    assert "GOP/s" in svg and "OP/byte" in svg and "GFLOP/s" not in svg


def test_asking_only_for_kernels_the_cpu_lacks_is_a_usage_error():
    from hwbench.cpu import lowp
    from hwbench.cpu.family import CpuContext, CpuOptions
    from hwbench.errors import UsageError
    from hwbench.stats import RepetitionPolicy

    chosen = (catalog.kernel("cpu", "fma_fp16"), catalog.kernel("cpu", "amx_int8"))
    context = CpuContext(CpuOptions(kernels=chosen), RepetitionPolicy.for_mode(True), make_cpu(), None, [0], None,
                         lambda label: None)
    assert lowp.planned_steps(context, chosen) == 0
    with pytest.raises(UsageError, match="this CPU runs none of fma_fp16, amx_int8 .*avx512_fp16"):
        lowp.run(context, chosen)


def test_the_family_measures_validates_and_clocks_where_the_cpu_has_the_instruction():
    from hwbench.cpu.family import CpuOptions
    from hwbench.cpu.session import measure_families
    from hwbench.kernels.cpu_llvm import CLOCK_SUPPORTED

    kernel = catalog.kernel("cpu", "dp_int8")
    if missing := missing_flags(kernel, host_flags()):
        pytest.skip(f"CPUID does not report {', '.join(missing)}: {kernel.launch.instruction} not run here")
    run = measure_families(CpuOptions(kernels=(kernel,), threads=1, quick=True))
    (result,) = run.results
    assert result.validated and result.unit == "GOP/s" and result.details["ops_per_instruction"] == 128
    assert result.flops == 128 * kernel.launch.chains * result.details["iterations_per_thread"]
    unstable = (result.stability or {}).get("status") == "unstable"
    if unstable:  # the headline and its probed run disagreed in every round (a busy machine): no clock, said
        assert "core" not in result.clocks_mhz and result.paired_gflops is None
        assert result.stability["rounds"] == 5 and any("dp_int8: unstable ceiling" in w for w in run.warnings)
    elif CLOCK_SUPPORTED and not any(w.startswith("clock probe failed") for w in run.warnings):
        assert result.stability["status"] == "consistent"
        assert result.clocks_mhz["core"] > 0 and result.paired_gflops > 0
        assert abs(result.details["probe_cross_check_mhz"] - result.clocks_mhz["core"]) <= 0.05 * result.clocks_mhz[
            "core"]


def test_an_unstable_peak_has_its_stability_no_per_cycle_figure_and_compare_reads_it_as_unstable():
    from hwbench.profile import Profile
    from hwbench.tools.figures import figures_of

    stability = {"status": "unstable", "rule": "test", "rounds": 5, "headline_gflops": [470.0] * 5,
                 "probed_gflops": [940.0] * 5, "spread": 0.5, "cause": "placement: test"}
    unstable = dataclasses.replace(lowp_result("dp_bf16", 470.0, 940.0), clocks_mhz={}, paired_gflops=None,
                                   stability=stability)
    data = lowp_profile(unstable)
    check_profile(data, "test")
    entry = data["instruction_peaks"]["peaks"]["dp_bf16"]
    assert entry["stability"]["status"] == "unstable" and entry["op_per_cycle"] is None and entry["clock_mhz"] is None
    assert figures_of(Profile(data))["instruction.dp_bf16"].unstable == "unstable: placement: test"
