"""Every kernel compiled as CuPy compiles it at run time, for every architecture hwbench claims, and the register
counts of those cubins fed to the occupancy arithmetic.

CuPy's own NVRTC path (``cupy.cuda.compiler.compile_using_nvrtc``: CuPy adds ``--device-as-default-execution-space``
and, from NVRTC 12.8, ``--pch``) with the options the session passes (``catalog.CudaModule.compile_options``).
The one call of that path that needs a GPU, the query of the current device's architecture, is replaced by the
architecture under test: ``-arch=sm_XX``, a cubin, exactly what CuPy asks for on such a GPU. Every ``.cu`` file under
kernels/cuda is found by globbing, so a new file is covered without editing this test.

NVRTC architectures: CUDA 12.9's NVRTC (cupy-cuda12x with nvidia-cuda-nvrtc-cu12) builds sm_70 to sm_121; CUDA 13's
(cupy-cuda13x) dropped sm_70 (Volta) and builds sm_75 to sm_121 (``nvrtcGetSupportedArchs``). docs/gpu.md lists them.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
from pathlib import Path

import pytest

from hwbench import catalog
from hwbench.gpu.theory import ARCHITECTURES, SM_LIMITS, blocks_by_registers, resident_blocks_per_sm
from hwbench.kernel_spec import VectorLaunch

CUDA_DIR = Path(__file__).parents[1] / "kernels" / "cuda"
SOURCES = sorted(path.name for path in CUDA_DIR.glob("*.cu"))
MIN_NVRTC = (12, 8)  # the first NVRTC with sm_100 and sm_120
# Entries compiled only from an architecture on: fma.rn.bf16x2 and mma.sync from sm_80, the fp8 mma.sync shapes
# from sm_89; wgmma only for the arch-specific sm_90a target and tcgen05 only for sm_100a / sm_103a
# (tests/test_lowp_mma.py builds them with nvcc), never for sm_XX.
ARCH_SPECIFIC_ONLY = 10**6
NEEDS = {"fma_bf16x2": 80, "mma_f16": 80, "mma_bf16": 80, "mma_tf32": 80, "mma_s8": 80,
         "mma_e4m3": 89, "mma_e5m2": 89, "wgmma_bf16": ARCH_SPECIFIC_ONLY, "tcgen05_bf16": ARCH_SPECIFIC_ONLY}

pytestmark = pytest.mark.real_cuda


@pytest.fixture(autouse=True)
def _the_real_cupy():
    """Without CuPy: a skip on a developer's machine, a failure under CI=true (``-m "not real_cuda"`` deselects
    these tests where CI runs the suite without CuPy)."""
    if importlib.util.find_spec("cupy") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI compiles every kernel through CuPy's NVRTC: pip install '.[cuda12]' (see .ci/run)")
        pytest.skip("the real CuPy wheel is not installed")


def options(source: str) -> tuple[str, ...]:
    """The options the session passes for ``source`` (a file not in the catalog: its own defaults)."""
    module = next((m for m in catalog.CUDA_MODULES if m.source == source), None)
    return module.compile_options() if module else ()


def compile_cubin(source: str, arch: str, extra: tuple[str, ...] = ()) -> tuple[bytes, str]:
    """(cubin, NVRTC log) of ``source`` for ``arch`` through CuPy's compile_using_nvrtc."""
    from cupy.cuda import compiler

    number = arch.removeprefix("sm_")
    original = compiler._get_arch_for_options_for_nvrtc
    compiler._get_arch_for_options_for_nvrtc = lambda _arch: (f"-arch=sm_{number}", "cubin")
    try:
        log = io.StringIO()
        cubin, _ = compiler.compile_using_nvrtc((CUDA_DIR / source).read_text(), options=options(source) + extra,
                                                arch=number, log_stream=log)
    finally:
        compiler._get_arch_for_options_for_nvrtc = original
    return cubin, log.getvalue()


def nvrtc_version() -> tuple[int, int]:
    from cupy.cuda import compiler

    return tuple(compiler._get_nvrtc_version())


def supported() -> set[str]:
    from cupy.cuda import compiler

    return {f"sm_{arch}" for arch in compiler.nvrtc.getSupportedArchs()}


def entries(source: str) -> set[str]:
    from fake_cupy import entry_names  # checked against nvcc's PTX entries in test_gpu.py

    return entry_names((CUDA_DIR / source).read_text())


def test_nvrtc_is_new_enough_for_every_claimed_architecture():
    assert nvrtc_version() >= MIN_NVRTC, f"NVRTC {nvrtc_version()}: sm_100 and sm_120 need 12.8 or later"
    assert set(ARCHITECTURES) <= supported()
    if nvrtc_version()[0] >= 13:
        assert "sm_70" not in supported()  # CUDA 13 dropped Volta: hwbench marks it CUDA 12 only


def test_every_cu_file_is_found():
    assert {"stream.cu", "fma.cu", "intensity.cu", "onchip.cu", "stencil.cu"} <= set(SOURCES)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("source", SOURCES)
def test_every_kernel_compiles_as_cupy_compiles_it(source, arch):
    cubin, log = compile_cubin(source, arch)
    assert cubin[:4] == b"\x7fELF"  # a cubin (SASS), not PTX: CuPy asks for sm_XX on a GPU it knows
    assert log.strip() == "", log  # not a warning
    wanted = {name for name in entries(source) if int(arch[3:]) >= NEEDS.get(name, 0)}
    assert wanted or int(arch[3:]) < 80, source  # mma.cu has nothing for Turing: its tensor kernels need sm_80
    assert all(name.encode() in cubin for name in wanted), wanted
    for name in entries(source) - wanted:
        assert name.encode() not in cubin  # fma_bf16x2 on sm_75: left out, the session skips fma_bf16


def test_volta_compiles_with_cuda_12_only_and_a_deprecation_warning():
    """sm_70 is outside the claimed list: CUDA 12.9's NVRTC builds it but warns that architectures before sm_75 are
    deprecated; CUDA 13's has none (checked above)."""
    if nvrtc_version()[0] >= 13:
        assert "sm_70" not in supported()
        return
    for source in SOURCES:
        cubin, log = compile_cubin(source, "sm_70")
        assert cubin[:4] == b"\x7fELF"
        assert [line for line in log.strip().splitlines() if line] == [
            "nvrtc: warning: Architectures prior to '<compute/sm>_75' are deprecated and may be removed in a future "
            "release"], log


# Registers from the cubins, and the occupancy they give ---------------------------------------------------------


def registers(source: str, arch: str) -> dict[str, int]:
    """Registers per thread of every entry, from ptxas -v (NVRTC's --ptxas-options=-v) on the cubin above."""
    _, log = compile_cubin(source, arch, ("--ptxas-options=-v",))
    found = dict(re.findall(r"Compiling entry function '(\w+)' for '[^']+'\s*\n.*?Used (\d+) registers", log,
                            flags=re.DOTALL))
    return {name: int(count) for name, count in found.items()}


def launch_blocks_of(entry: str) -> set[int]:
    """Blocks ``entry`` is launched with: the catalog kernels' shapes, or the module's BLOCK (BLOCK_X x BLOCK_Y)."""
    kernels = [k for k in catalog.kernels("gpu") if k.entry == entry]
    shapes = {shape.block for k in kernels for shape in (k.launch.shapes if isinstance(k.launch, VectorLaunch) else ())}
    module = next((m for m in catalog.CUDA_MODULES if entry in entries(m.source)), None)
    constants = dict(module.constants) if module else {}
    block = constants.get("BLOCK") or constants.get("BLOCK_X", 1) * constants.get("BLOCK_Y", 1)
    return shapes or {block}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_launch_fits_its_sm_with_the_compiled_registers(arch):
    """Each entry's registers at each block it is launched with leave room for at least one block per SM (else
    the launch fails, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES), and never more blocks than the SM's limits."""
    threads, max_blocks = SM_LIMITS[arch]
    for source in SOURCES:
        counts = registers(source, arch)
        assert set(counts) == {name for name in entries(source) if int(arch[3:]) >= NEEDS.get(name, 0)}
        for entry, regs in counts.items():
            assert 0 < regs <= 255, (entry, regs)
            for block in launch_blocks_of(entry):
                assert blocks_by_registers(regs, block) >= 1, (arch, entry, regs, block)
                resident = resident_blocks_per_sm(threads, block, max_blocks, regs_per_thread=regs)
                assert 1 <= resident <= min(threads // block or 1, max_blocks), (arch, entry, block)


def test_registers_limit_the_l2_and_dot_kernels_on_hopper():
    """What the issue found with ptxas -v: l2_read_f64 and dot_f64 need more than 32 registers on sm_90, so fewer
    blocks of 256 fit an H100's SM than its 2048 threads allow (44 registers: 5, not 8); the session's launches take
    the occupancy API's count (registers included), not the thread count."""
    threads, max_blocks = SM_LIMITS["sm_90"]
    counts = registers("stream.cu", "sm_90")
    for entry in ("l2_read_f64", "dot_f64"):
        by_threads = resident_blocks_per_sm(threads, 256, max_blocks)
        by_registers = resident_blocks_per_sm(threads, 256, max_blocks, regs_per_thread=counts[entry])
        assert counts[entry] > 32 and by_registers < by_threads == 8, (entry, counts[entry])


def test_the_mma_module_builds_wgmma_for_sm_90a_through_cupys_path():
    """On a 9.0 device the session adds ``-arch=sm_90a`` (mma.ARCH_SPECIFIC_OPTIONS) before the ``-arch=sm_90`` CuPy
    appends: NVRTC builds the arch-specific cubin (ELF flags of sm_90a), wgmma_bf16 included, without a warning."""
    from hwbench.gpu.mma import ARCH_SPECIFIC_OPTIONS

    plain, _ = compile_cubin("mma.cu", "sm_90")
    cubin, log = compile_cubin("mma.cu", "sm_90", ARCH_SPECIFIC_OPTIONS[(9, 0)])
    assert log.strip() == "", log
    assert b"wgmma_bf16" in cubin and b"wgmma_bf16" not in plain
    assert all(name.encode() in cubin for name in entries("mma.cu") if name != "tcgen05_bf16")
    assert b"tcgen05_bf16" not in cubin  # Blackwell's arch-specific targets only
    # (Not the ELF flags: NVRTC 12.9 marks the sm_90a cubin in them, CUDA 13's NVRTC writes the same flags for
    # both targets; wgmma_bf16 being built only with the option is the arch-specific target's evidence.)


@pytest.mark.parametrize("cc", [(10, 0), (10, 3)])
def test_the_mma_module_builds_tcgen05_for_blackwell_through_cupys_path(cc):
    """On a 10.0 (10.3) device the session adds ``-arch=sm_100a`` (``-arch=sm_103a``) before the ``-arch=sm_100``
    (``sm_103``) CuPy appends: NVRTC builds tcgen05_bf16 beside the mma.sync entries, without a warning, and the
    portable target leaves it out. sm_103 needs NVRTC 12.9 or later: skipped with the reason on 12.8."""
    from hwbench.gpu.mma import ARCH_SPECIFIC_OPTIONS

    arch = f"sm_{cc[0]}{cc[1]}"
    if arch not in supported():
        pytest.skip(f"NVRTC {nvrtc_version()} does not build {arch}")
    plain, _ = compile_cubin("mma.cu", arch)
    cubin, log = compile_cubin("mma.cu", arch, ARCH_SPECIFIC_OPTIONS[cc])
    assert log.strip() == "", log
    assert b"tcgen05_bf16" in cubin and b"tcgen05_bf16" not in plain
    assert all(name.encode() in cubin for name in entries("mma.cu") if name != "wgmma_bf16")
    assert b"wgmma_bf16" not in cubin
