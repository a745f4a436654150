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


# tcgen05 (Blackwell, sm_100a / sm_103a): the descriptors' fields from the PTX ISA's tables, encoded here
# independently of mma.cu, must be the constants nvcc folds into the PTX.
def shared_memory_descriptor_constant_bits(lbo: int, sbo: int) -> int:
    """PTX ISA 9.7.16.4.1, Table 40, all but the start address: leading byte offset (bits 16-29) and stride byte
    offset (32-45) encoded (x & 0x3FFFF) >> 4, the fixed 0b001 at 46-48, base offset 0, relative leading-dimension
    mode, swizzle 0 (none)."""
    encode = lambda x: (x & 0x3FFFF) >> 4  # noqa: E731
    return encode(lbo) << 16 | encode(sbo) << 32 | 0b001 << 46


def instruction_descriptor(m: int, n: int, ab_type: int) -> int:
    """PTX ISA 9.7.16.4.2, Table 42, kind::f16: dense, D F32 (1) at bits 4-5, A and B types (F16 0, BF16 1) at 7-9
    and 10-12, no negation, K-major A and B (no transpose), N >> 3 at 17-22, M >> 4 at 24-28."""
    return 1 << 4 | ab_type << 7 | ab_type << 10 | (n >> 3) << 17 | (m >> 4) << 24


def tcgen05_targets() -> list[str]:
    """sm_100a always (CUDA 12.8+), sm_103a where this nvcc knows it (CUDA 12.9+)."""
    if NVCC is None:
        return ["sm_100a"]
    listed = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True, text=True, timeout=60).stdout.split()
    return ["sm_100a", *(["sm_103a"] if "compute_103" in listed else [])]


def test_the_tcgen05_descriptors_follow_the_ptx_isa_tables():
    text = (CUDA_DIR / "mma.cu").read_text()
    defines = {name: int(value) for name, value in re.findall(r"^#define (TCGEN05_\w+) (\d+)\b", text, re.MULTILINE)}
    kernel = next(k for k in catalog.kernels("gpu") if k.entry == "tcgen05_bf16")
    assert (defines["TCGEN05_M"], defines["TCGEN05_N"], defines["TCGEN05_K"]) == kernel.launch.m_n_k
    # M 128 (cta_group::1): N a multiple of 16 up to 256, K 16 for kind::f16; the fields hold N >> 3 and M >> 4
    assert defines["TCGEN05_N"] % 16 == 0 and defines["TCGEN05_N"] <= 256 and defines["TCGEN05_M"] == 128
    assert instruction_descriptor(128, 256, 1) == 0x08400490
    # every operand address the descriptors reach lies in its region (K-major, no swizzle, 8 x 16-byte core matrices)
    for rows in (defines["TCGEN05_M"], defines["TCGEN05_N"]):
        reach = (rows // 8 - 1) * defines["TCGEN05_SBO"] + (defines["TCGEN05_K"] * 2 // 16 - 1) * defines[
            "TCGEN05_LBO"] + 128
        assert reach <= defines["TCGEN05_REGION_BYTES"]
    # one fp32 TMEM column per N; an allocation is a power of 2 from 32 to 512 columns
    columns = defines["TCGEN05_COLUMNS"]
    assert columns >= defines["TCGEN05_N"] and columns & (columns - 1) == 0 and 32 <= columns <= 512


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", tcgen05_targets())
def test_tcgen05_builds_for_the_blackwell_arch_specific_targets_only(tmp_path, arch):
    text = (CUDA_DIR / "mma.cu").read_text()
    defines = {name: int(value) for name, value in re.findall(r"^#define (TCGEN05_\w+) (\d+)\b", text, re.MULTILINE)}
    found = entries(compile_mma(tmp_path, arch, "ptx", *catalog.MMA_CU.compile_options()).read_text())
    assert set(found) == {*SM80, *SM89, "tcgen05_bf16"}  # mma.sync still runs on Blackwell; wgmma does not exist
    body = found["tcgen05_bf16"]
    unroll = catalog.MMA_CU.constants["UNROLL"]
    assert body.count("tcgen05.mma.cta_group::1.kind::f16") == unroll  # one trip: UNROLL MMAs per commit
    assert body.count("tcgen05.commit.cta_group::1.mbarrier::arrive::one") == 1
    for step in ("tcgen05.alloc.cta_group::1", "tcgen05.relinquish_alloc_permit", "tcgen05.ld.sync.aligned.32x32b",
                 "tcgen05.wait::ld", "tcgen05.dealloc.cta_group::1"):
        assert step in body, step
    # the descriptors' constant parts, folded by nvcc, are the PTX ISA tables' encodings
    assert str(instruction_descriptor(defines["TCGEN05_M"], defines["TCGEN05_N"], 1)) in body
    assert str(shared_memory_descriptor_constant_bits(defines["TCGEN05_LBO"], defines["TCGEN05_SBO"])) in body
    cubin = tmp_path / "tcgen05.cubin"
    result = subprocess.run([NVCC, f"-arch={arch}", "-cubin", "-Xptxas", "-v", *catalog.MMA_CU.compile_options(),
                             str(CUDA_DIR / "mma.cu"), "-o", str(cubin)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "warning" not in result.stderr.lower(), result.stderr
    report = result.stderr[result.stderr.index("'tcgen05_bf16'"):]
    assert "0 bytes spill stores" in report.split("Compiling entry")[0]


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
@pytest.mark.parametrize("arch", ["sm_90a", "sm_100", "sm_120"])
def test_tcgen05_is_left_out_elsewhere(tmp_path, arch):
    """Neither Hopper's arch-specific target nor the portable sm_100 / consumer Blackwell sm_120 builds have it."""
    found = entries(compile_mma(tmp_path, arch, "ptx", *catalog.MMA_CU.compile_options()).read_text())
    assert "tcgen05_bf16" not in found and set(SM80) <= set(found)
