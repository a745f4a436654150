"""Every family of both devices implements one protocol (``hwbench.family``): run through its session on the
stand-ins (the CPU's real kernels on small sizes, the GPU's fake CuPy and NVML), each returns one
``FamilyResult`` whose checked kernels are its own declared kernels, and every selected kernel is accounted for."""

from __future__ import annotations

import dataclasses

import pytest
from test_gpu import fake_gpu  # noqa: F401  (the fixture of the GPU stand-in)

from hwbench import catalog
from hwbench.family import Family, FamilyResult, Plan, merged

KIB = 1024


def recording(family: Family, seen: dict[str, list[FamilyResult]]) -> Family:
    """``family`` with its ``run`` recording every result it returns."""

    def run(context, kernels):
        result = family.run(context, kernels)
        seen.setdefault(family.name, []).append(result)
        return result

    return dataclasses.replace(family, run=run)


def accounted(result: FamilyResult, declared: set[str], warnings: list[str]) -> set[str]:
    """The kernels ``result`` speaks for: timed (and checked), swept into curves, skipped with a reason, named in a
    'not measured' warning, or, for a latency record, the family itself."""
    names = {r.name for r in result.results} | {c.kernel for c in result.intensity_curves}
    names |= {c.kernel for c in result.cache_sweep.curves} if result.cache_sweep else set()
    names |= set(result.instruction_skipped)
    names |= {name for name in declared if any(w.startswith(f"{name} not measured") for w in warnings)}
    if result.latency is not None:  # one record for every chase form the family ran
        names |= declared
    return names


def check_family(family: Family, results: list[FamilyResult], warnings: list[str]) -> None:
    (result,) = results
    assert isinstance(result, FamilyResult)
    declared = {kernel.name for kernel in family.kernels}
    assert {r.name for r in result.results} <= declared, family.name
    assert all(r.validated for r in result.results), family.name
    assert accounted(result, declared, warnings) == declared, family.name


def test_a_plan_groups_kernels_by_family_and_runs_sustained_compute_first():
    from hwbench.gpu import session as gpu_session

    kernels = catalog.select("gpu", "triad,fma_fp32,l2_read")
    plan = Plan.of(gpu_session.FAMILIES, kernels, sustain_seconds=1.0)
    assert [(family.name, [k.name for k in chosen]) for family, chosen in plan.families] == [
        ("stream", ["triad"]), ("l2", ["l2_read"]), ("fma", ["fma_fp32"])]
    assert [family.sustained_kernel for family in plan.sustained] == ["fma_fp32", "triad"]
    assert Plan.of(gpu_session.FAMILIES, kernels).sustained == ()


def test_a_family_declares_a_sustained_kernel_of_its_own_with_its_sustain_function():
    from hwbench.gpu import stream

    with pytest.raises(ValueError, match="needs its sustain function"):
        dataclasses.replace(stream.FAMILY, sustain=None)
    with pytest.raises(ValueError, match="fma_fp32 is not one of its kernels"):
        dataclasses.replace(stream.FAMILY, sustained_kernel="fma_fp32")
    with pytest.raises(ValueError, match="no kernel of the catalog"):
        Family("gpu", "no such family", stream.run)


def test_merged_results_keep_plan_order_and_the_last_single_record():
    first = FamilyResult(array_bytes=8, instruction_skipped={"a": "why"}, clock=1.0)
    second = FamilyResult(instruction_skipped={"b": "why not"}, clock=2.0)
    assert merged([first, second]) == FamilyResult(array_bytes=8, instruction_skipped={"a": "why", "b": "why not"},
                                                   clock=2.0)


def test_every_gpu_family_through_the_protocol_on_the_stand_in(fake_gpu, monkeypatch):  # noqa: F811
    from hwbench.gpu import intensity as gpu_intensity
    from hwbench.gpu import session as gpu_session

    monkeypatch.setattr(gpu_intensity, "level_bytes",
                        lambda kernel, level, l2_bytes, free_bytes: 2**20 if level == "dram" else 2**19)
    seen: dict[str, list[FamilyResult]] = {}
    monkeypatch.setattr(gpu_session, "FAMILIES", tuple(recording(f, seen) for f in gpu_session.FAMILIES))
    for family in gpu_session.FAMILIES:
        kernels = tuple(dataclasses.replace(k, launch=dataclasses.replace(k.launch, sizes=(64,), quick_sizes=(64,)))
                        if k.family == "tensor" else k for k in family.kernels)  # small GEMMs: NumPy does them
        session = gpu_session.GpuSession(0, kernels, quick=True, sustain_seconds=0.05, sustain_interval=0.02)
        result = session.measure_families()
        check_family(family, seen[family.name], result.warnings)
        sustained = [t.kernel for t in result.sustained]
        assert sustained == ([family.sustained_kernel] if family.sustained_kernel else []), family.name
    assert set(seen) == {family.name for family in gpu_session.FAMILIES}


@pytest.fixture
def small_cpu(monkeypatch):
    """The CPU families on small sizes: the real kernels, little time."""
    from hwbench.cpu import caches, latency

    monkeypatch.setattr(caches, "sweep_sizes", lambda smallest, top, threads: [4 * KIB, 64 * KIB])
    monkeypatch.setattr(latency, "top_working_set", lambda context, multiple: 256 * KIB)


def test_every_cpu_family_through_the_protocol(small_cpu, monkeypatch):
    from hwbench.cpu import session as cpu_session
    from hwbench.cpu.family import CpuOptions
    from hwbench.errors import UsageError

    seen: dict[str, list[FamilyResult]] = {}
    refused = set()
    monkeypatch.setattr(cpu_session, "FAMILIES", tuple(recording(f, seen) for f in cpu_session.FAMILIES))
    for family in cpu_session.FAMILIES:
        options = CpuOptions(kernels=family.kernels, threads=1, quick=True, array_bytes=4 * 2**20,
                             sustain_seconds=0.2, sustain_interval=0.1)
        try:
            result = cpu_session.measure_families(options)
        except UsageError as error:  # a CPU with none of the family's instructions: the run is refused, unmeasured
            assert family.name == "lowp" and "this CPU runs none of" in str(error)
            refused.add(family.name)
            continue
        check_family(family, seen[family.name], result.warnings)
        sustained = [t.kernel for t in result.sustained]
        assert sustained == ([family.sustained_kernel] if family.sustained_kernel else []), family.name
    assert set(seen) | refused == {family.name for family in cpu_session.FAMILIES}
