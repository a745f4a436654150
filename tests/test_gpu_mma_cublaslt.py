"""The cuBLASLt ctypes path (suite/gpu/cublaslt.py) against the real nvidia-cublas wheel, without a GPU: the library
loads through cuda.pathfinder, every function the module and the stand-in call exists with the header's parameters,
the ctypes structures have the header's sizes (a C compiler on cublasLt.h), and the descriptors of an fp8 GEMM are
accepted by the real library (they are host objects); only cublasLtCreate needs a GPU."""

from __future__ import annotations

import ctypes
import importlib.util
import inspect
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import find_nvcc
from hwbench.gpu import cublaslt

NVCC = find_nvcc()

pytestmark = pytest.mark.real_cuda


def installed(name: str) -> bool:
    """Whether module ``name`` can be imported (find_spec of a submodule raises when its parent package is absent)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def require_the_wheel() -> None:
    """Skip without the nvidia-cublas wheel (and cuda-pathfinder, which finds its library); under CI=true, fail."""
    if not installed("cuda.pathfinder") or not installed("nvidia.cublas"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs the nvidia-cublas wheel: pip install '.[cuda12]' (see .ci/run)")
        pytest.skip("the nvidia-cublas wheel is not installed")


@pytest.fixture(autouse=True)
def _the_real_wheel():
    require_the_wheel()


@pytest.fixture(scope="module")
def library():
    require_the_wheel()  # a module fixture is set up before the autouse one above
    return cublaslt.load_library()


def header() -> Path:
    import nvidia.cublas

    return Path(next(iter(nvidia.cublas.__path__))) / "include" / "cublasLt.h"


def prototypes() -> dict[str, list[str]]:
    """Function -> its parameter names, from cublasLt.h."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", header().read_text(), flags=re.DOTALL)
    found = {}
    for name, params in re.findall(r"cublasStatus_t\s+CUBLASWINAPI\s+(\w+)\s*\(([^)]*)\)", text):
        found[name] = [re.findall(r"(\w+)(?:\[\])?\s*$", p.strip())[0] for p in params.split(",") if p.strip()]
    return found


def test_every_function_called_exists_in_the_real_library(library):
    assert [name for name in cublaslt.FUNCTIONS if not hasattr(library, name)] == []


def test_the_stand_in_has_only_real_functions_with_the_headers_parameters():
    from fake_cupy import FakeCublasLt

    known = prototypes()
    faked = {name: member for name, member in inspect.getmembers(FakeCublasLt, inspect.isfunction)
             if name.startswith("cublasLt")}
    assert set(cublaslt.FUNCTIONS) <= set(faked)
    for name, function in faked.items():
        assert name in known, name
        assert list(inspect.signature(function).parameters)[1:] == known[name], name


def test_the_constants_are_the_headers():
    text = header().read_text()
    for name in ("CUBLASLT_MATMUL_DESC_TRANSA", "CUBLASLT_MATMUL_DESC_TRANSB",
                 "CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES"):
        assert re.search(rf"\b{name} = {getattr(cublaslt, name)},", text), name


@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_the_structures_have_the_headers_sizes(tmp_path):
    """sizeof of cublasLt.h's structures, compiled by nvcc (it brings the CUDA headers cublasLt.h includes)."""
    import nvidia.cublas

    include = Path(next(iter(nvidia.cublas.__path__))) / "include"
    source = tmp_path / "sizes.cpp"
    source.write_text('#include <stdio.h>\n#include <cublasLt.h>\nint main(void) { printf("%zu %zu", '
                      "sizeof(cublasLtMatmulAlgo_t), sizeof(cublasLtMatmulHeuristicResult_t)); return 0; }\n")
    binary = tmp_path / "sizes"
    subprocess.run([NVCC, f"-I{include}", str(source), "-o", str(binary)], check=True, capture_output=True,
                   timeout=300)
    algo, result = (int(x) for x in subprocess.run([str(binary)], capture_output=True, text=True,
                                                    check=True).stdout.split())
    assert (ctypes.sizeof(cublaslt.MatmulAlgo), ctypes.sizeof(cublaslt.HeuristicResult)) == (algo, result)
    assert cublaslt.HeuristicResult.state.offset == algo + ctypes.sizeof(ctypes.c_size_t)


def test_the_real_library_accepts_the_fp8_descriptors(library):
    plan = cublaslt.Fp8Matmul(library, 4096)  # every call checked: a status other than success raises
    assert all(layout.value for layout in plan.layouts.values()) and plan.desc.value and plan.pref.value
    plan.close()


def test_a_call_the_library_refuses_is_an_error_naming_it(library):
    desc = ctypes.c_void_p()
    cublaslt.check("cublasLtMatmulDescCreate", library.cublasLtMatmulDescCreate(
        ctypes.byref(desc), cublaslt.CUBLAS_COMPUTE_32F, cublaslt.CUDA_R_32F))
    wrong = ctypes.c_int16(1)  # cublasOperation_t is 4 bytes
    with pytest.raises(cublaslt.CublasLtError, match="cublasLtMatmulDescSetAttribute returned "
                                                     "CUBLAS_STATUS_INVALID_VALUE"):
        cublaslt.check("cublasLtMatmulDescSetAttribute", library.cublasLtMatmulDescSetAttribute(
            desc, cublaslt.CUBLASLT_MATMUL_DESC_TRANSA, ctypes.byref(wrong), ctypes.sizeof(wrong)))
    library.cublasLtMatmulDescDestroy(desc)
