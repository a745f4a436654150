"""The GPU FMA kernels spend their issue slots on FMAs: in the PTX that nvcc makes from fma.cu with
the catalog's constants, at least 97% of the instructions in each kernel's unrolled main loop are FMAs. With
``unroll 4`` x 8 chains the loop counter, compare and branch took ~10% of the slots and fp32 reached 88% of
the H100's peak; this needs no GPU, only nvcc."""

from __future__ import annotations

import re
import subprocess
from importlib import resources

import pytest

from conftest import find_nvcc
from hwbench import catalog

MIN_FMA_SHARE = 0.97
FMA_KERNELS = [k for k in catalog.kernels("gpu") if k.family == "fma"]


def instructions(block: str) -> list[str]:
    """PTX instruction lines of a basic block (no labels, directives, braces or comments)."""
    lines = (line.split("//")[0].strip() for line in block.splitlines())
    return [line for line in lines if line.endswith(";") and not line.startswith(".")]


def hot_loop(ptx: str, entry: str) -> list[str]:
    """The instructions of ``entry``'s unrolled main loop: of the blocks that run from a label to a branch back
    to it, the longest (the others are the unroll remainder, which runs fewer than UNROLL iterations once)."""
    body = re.search(rf"\.entry {entry}\(.*?\n}}", ptx, re.S).group(0)
    loops = []
    for label in re.findall(r"^(\$L__\w+):", body, re.M):
        start = body.index(f"{label}:")
        back = re.search(rf"bra(?:\.uni)?\s+{re.escape(label)};", body[start:])
        if back:  # a branch after the label back to it: a loop
            loops.append(instructions(body[start + len(label) + 1:start + back.end()]))
    assert loops, f"{entry}: no loop found in the PTX"
    return max(loops, key=len)


@pytest.fixture(scope="module")
def ptx(tmp_path_factory) -> str:
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    module = FMA_KERNELS[0].module
    source = tmp_path_factory.mktemp("ptx") / module.source
    source.write_text(resources.files("hwbench.kernels").joinpath(f"cuda/{module.source}").read_text())
    out = source.with_suffix(".ptx")
    options = [o for o in module.compile_options() if o.startswith("-D")]
    subprocess.run([nvcc, "-arch=sm_90", "-ptx", *options, str(source), "-o", str(out)], check=True,
                   capture_output=True, text=True)
    return out.read_text()


@pytest.mark.parametrize("kernel", FMA_KERNELS, ids=lambda k: k.name)
def test_innermost_loop_is_fmas(ptx, kernel):
    loop = hot_loop(ptx, kernel.entry)
    fmas = [line for line in loop if line.startswith("fma.")]
    share = len(fmas) / len(loop)
    assert share >= MIN_FMA_SHARE, f"{kernel.name}: {len(fmas)} FMAs of {len(loop)} instructions ({share:.1%})"
    # and nothing was optimised away: every chain has an FMA in every unrolled iteration
    assert len(fmas) % (kernel.constants["CHAINS"] * kernel.constants["UNROLL"]) == 0


def test_loop_finder_on_a_known_block():
    ptx = (".visible .entry k(\n)\n{\n$L__BB0_1:\n\tfma.rn.f32 \t%f1, %f1, %f2, %f3;\n\tadd.s32 \t%r1, %r1, 1;\n"
           "\tsetp.lt.s32 \t%p1, %r1, %r2;\n\t@%p1 bra \t$L__BB0_1;\n$L__BB0_2:\n\tadd.s32 \t%r3, %r3, 1;\n"
           "\t@%p1 bra \t$L__BB0_2;\n\tret;\n}\n")
    assert hot_loop(ptx, "k") == ["fma.rn.f32 \t%f1, %f1, %f2, %f3;", "add.s32 \t%r1, %r1, 1;",
                                        "setp.lt.s32 \t%p1, %r1, %r2;", "@%p1 bra \t$L__BB0_1;"]
