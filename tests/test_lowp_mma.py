"""The tensor-pipe microbenchmark (kernels/cuda/mma.cu) compiled with nvcc for every architecture it targets: each
entry present where its instruction exists, every chain kept, the catalog's constants reaching it. The mma family
(suite/gpu/mma.py) runs it; tests/test_gpu_mma.py runs the family on the stand-in. wgmma (sm_90a) is compiled and
checked the same way."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import find_nvcc
from hwbench import catalog

CUDA_DIR = Path(__file__).parents[1] / "kernels" / "cuda"  # the sources, installed or not
NVCC = find_nvcc()
SM80 = {"mma_f16": "m16n8k16.row.col.f32.f16.f16.f32", "mma_bf16": "m16n8k16.row.col.f32.bf16.bf16.f32",
        "mma_tf32": "m16n8k8.row.col.f32.tf32.tf32.f32", "mma_s8": "m16n8k32.row.col.s32.s8.s8.s32"}
SM89 = {"mma_e4m3": "m16n8k32.row.col.f32.e4m3.e4m3.f32", "mma_e5m2": "m16n8k32.row.col.f32.e5m2.e5m2.f32"}
# 2 x M x N x K per warp-wide instruction (FLOP, or OP for s8).
WORK = {"mma_f16": 4096, "mma_bf16": 4096, "mma_tf32": 2048, "mma_s8": 8192, "mma_e4m3": 8192, "mma_e5m2": 8192}


def compile_mma(tmp_path: Path, arch: str, output: str, *options: str) -> Path:
    target = tmp_path / f"mma_{arch}.{output}"
    result = subprocess.run([NVCC, f"-arch={arch}", f"-{output}", *options, str(CUDA_DIR / "mma.cu"), "-o",
                             str(target)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    return target


def entries(ptx: str) -> dict[str, str]:
    bodies = ptx.split(".entry ")[1:]
    return {body[:body.index("(")]: body for body in bodies}


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_89", "sm_90"])
def test_every_precision_of_the_architecture_compiles_with_every_chain(tmp_path, arch):
    expected = {**SM80, **(SM89 if arch != "sm_80" else {})}
    constants = catalog.MMA_CU.constants
    found = entries(compile_mma(tmp_path, arch, "ptx", *catalog.MMA_CU.compile_options()).read_text())
    assert set(found) == set(expected)
    for name, shape in expected.items():
        # CHAINS x UNROLL in the unrolled loop and CHAINS in its remainder, every one the entry's own shape.
        assert found[name].count(f"mma.sync.aligned.{shape}") == constants["CHAINS"] * (constants["UNROLL"] + 1)
        assert len(re.findall(r"mma\.sync", found[name])) == found[name].count(f"mma.sync.aligned.{shape}")
    compile_mma(tmp_path, arch, "cubin")  # ptxas accepts every instruction for the real architecture


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_constants_reach_the_kernel(tmp_path):
    found = entries(compile_mma(tmp_path, "sm_80", "ptx", "-DCHAINS=2", "-DUNROLL=3").read_text())
    assert found["mma_s8"].count("mma.sync") == 2 * (3 + 1)


def test_defaults_equal_the_catalog():
    text = (CUDA_DIR / "mma.cu").read_text()
    defaults = {name: int(value) for name, value in
                re.findall(r"^#ifndef (\w+)\n#define \1 (\d+)\b", text, flags=re.MULTILINE)}
    assert defaults == dict(catalog.MMA_CU.constants)


def test_work_per_instruction_is_2mnk():
    for name, shape in {**SM80, **SM89}.items():
        m, n, k = (int(x) for x in re.match(r"m(\d+)n(\d+)k(\d+)", shape).groups())
        assert WORK[name] == 2 * m * n * k


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_wgmma_builds_for_sm_90a_only_without_serialization_or_spills(tmp_path):
    found = entries(compile_mma(tmp_path, "sm_90a", "ptx", *catalog.MMA_CU.compile_options()).read_text())
    assert set(found) == {*SM80, *SM89, "wgmma_bf16"}
    steps = found["wgmma_bf16"].count("wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16")
    assert steps and steps % catalog.MMA_CU.constants["UNROLL"] == 0
    assert found["wgmma_bf16"].count("wgmma.commit_group") == found["wgmma_bf16"].count("wgmma.wait_group")
    cubin = tmp_path / "wgmma.cubin"
    result = subprocess.run([NVCC, "-arch=sm_90a", "-cubin", "-Xptxas", "-v", *catalog.MMA_CU.compile_options(),
                             str(CUDA_DIR / "mma.cu"), "-o", str(cubin)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = result.stderr[result.stderr.index("'wgmma_bf16'"):]
    assert "0 bytes spill stores" in report.split("Compiling entry")[0]
    assert "serialized" not in result.stderr  # ptxas's "wgmma.mma_async instructions are serialized" warning
