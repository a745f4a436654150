"""The stand-in held to the real packages: every CuPy and NVML name hwbench's GPU code uses exists in the real
cupy-cuda12x / cupy-cuda13x and nvidia-ml-py wheels with a compatible signature, the stand-in (tests/fake_cupy.py)
exposes only real names with the real constants and formats, and it fails the way they fail.

No GPU is needed: both wheels import, NVRTC compiles and NVML reports its missing driver on any Linux machine.
Marked ``real_cuda``: skipped where the wheels are not installed, failed under CI=true (.ci/run installs them).
NCCL's names are not checked here: ``cupy.cuda.nccl`` exposes nothing but ``available`` without libnccl, which
hwbench does not install; its unique id's size is nccl.h's ``NCCL_UNIQUE_ID_BYTES`` (128).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
from pathlib import Path

import pytest

from hwbench.gpu.failures import compile_failure, is_missing_library, missing_library

ROOT = Path(__file__).parents[1]
GPU_SOURCES = sorted((ROOT / "suite" / "gpu").glob("*.py")) + [ROOT / "suite" / "workloads" / "gpu.py"]


def _real_wheels() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("cupy", "pynvml"))


pytestmark = pytest.mark.real_cuda


@pytest.fixture(scope="module", autouse=True)
def _the_real_wheels():
    """Without the wheels: a skip on a developer's machine, a failure under CI=true (``-m "not real_cuda"``
    deselects these tests where CI runs the suite without CuPy). Module-scoped, so that it runs before ``real``
    imports CuPy."""
    if not _real_wheels():
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs the real CuPy and nvidia-ml-py wheels: pip install '.[cuda12]' (see .ci/run)")
        pytest.skip("the real cupy and nvidia-ml-py wheels are not installed")


@pytest.fixture(scope="module")
def real():
    """The real modules, imported for this module only (the stand-in's fixtures replace them per test)."""
    import warnings

    import cupy
    import cupy.cuda.compiler
    import cupy.cuda.function
    import pynvml

    with warnings.catch_warnings():  # "nccl library could not be loaded": hwbench installs no libnccl
        warnings.simplefilter("ignore")
        import cupy.cuda.nccl  # noqa: F401

    return cupy, pynvml


# What the code uses --------------------------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


# How the code names the two packages: ``cp`` / ``cupy`` / ``self.cp`` / ``session.cp`` and the aliases ``runtime``
# (cupy.cuda.runtime), ``cuda_api`` (cupy.cuda), ``cublas`` (cupy.cuda.cublas); ``nvml`` / ``pynvml`` /
# ``self.nvml``. A chain stops at a call (``cp.cuda.Device(i).synchronize`` is checked as cp.cuda.Device).
CUPY_ROOTS = {"cp.": "", "cupy.": "", "self.cp.": "", "session.cp.": "", "runtime.": "cuda.runtime.",
              "cuda_api.": "cuda.", "cublas.": "cuda.cublas."}
NVML_ROOTS = ("nvml.", "pynvml.", "self.nvml.")


def used_names() -> tuple[set[str], set[str]]:
    """(CuPy attribute paths below ``cupy``, NVML attribute names) that suite/gpu and the GPU workloads use."""
    cupy_names, nvml_names = set(), set()
    for path in GPU_SOURCES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                name = _dotted(node)
                if name is None:
                    continue
                for root, prefix in CUPY_ROOTS.items():
                    if name.startswith(root):
                        cupy_names.add(prefix + name[len(root):])
                for root in NVML_ROOTS:
                    if name.startswith(root):
                        nvml_names.add(name[len(root):].split(".")[0])
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                    and str(node.args[1].value).startswith("nvml")):
                nvml_names.add(node.args[1].value)
    return cupy_names, nvml_names


def _resolve(module, path: str):
    value = module
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_the_scan_finds_what_the_code_calls():
    cupy_names, nvml_names = used_names()
    assert {"cuda.runtime.deviceGetPCIBusId", "cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor",
            "RawModule", "cuda.compiler.CompileException", "cuda.runtime.memcpyAsync", "cuda.memory.OutOfMemoryError",
            "cuda.runtime.deviceEnablePeerAccess", "cuda.cublas.gemmEx"} <= cupy_names
    assert {"nvmlDeviceGetHandleByPciBusId", "nvmlDeviceGetNvLinkRemotePciInfo", "nvmlDeviceGetMigMode",
            "NVML_NVLINK_MAX_LINKS"} <= nvml_names


def test_every_cupy_name_the_code_uses_exists(real):
    cupy, _ = real
    cupy_names, _ = used_names()
    # cublas and nccl load their libraries on first use; nccl's names need libnccl (see the module docstring).
    missing = [name for name in sorted(cupy_names) if not name.startswith(("cuda.nccl", "cuda.cublas"))
               and not _has(cupy, name)]
    assert missing == []


def _has(module, path: str) -> bool:
    try:
        _resolve(module, path)
        return True
    except AttributeError:
        return False


def test_every_nvml_name_the_code_uses_exists(real):
    _, pynvml = real
    _, nvml_names = used_names()
    assert [name for name in sorted(nvml_names) if not hasattr(pynvml, name)] == []
    assert not hasattr(pynvml, "nvmlDeviceGetHandleByPciBusId_v2")  # the name links.py once called
    assert not hasattr(pynvml, "nvmlDeviceGetNvLinkRemotePciInfo_v2")


# Signatures ----------------------------------------------------------------------------------------------------


def _parameters(function) -> list[str]:
    """Parameter names of a Python function, or of a Cython one from its embedded signature (CuPy's runtime,
    driver and cuBLAS wrappers: ``memcpyAsync(intptr_t dst, intptr_t src, ...)``)."""
    try:
        return [p.name for p in inspect.signature(function).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
    except (TypeError, ValueError):
        doc = (function.__doc__ or "").strip().splitlines()[0]
        inside = re.match(r"^[\w.]+\((.*)\)", doc).group(1)
        return [part.split()[-1].split("=")[0] for part in inside.split(",") if part.strip() and
                part.split()[-1] != "self"]


def _stand_in():
    from fake_cupy import FakeNvml, make_cupy

    return make_cupy(), FakeNvml()


RUNTIME_CALLS = ("getDeviceCount", "runtimeGetVersion", "memGetInfo", "getDeviceProperties", "deviceGetPCIBusId",
                 "memcpyAsync", "memcpyPeerAsync", "deviceCanAccessPeer", "deviceEnablePeerAccess",
                 "deviceSynchronize", "driverGetVersion")


@pytest.mark.parametrize("name", RUNTIME_CALLS)
def test_runtime_calls_take_the_real_arguments(real, name):
    cupy, _ = real
    fake, _ = _stand_in()
    real_parameters = _parameters(getattr(cupy.cuda.runtime, name))
    assert len(_parameters(getattr(fake.cuda.runtime, name))) == len(real_parameters), real_parameters


def test_driver_compiler_and_stream_signatures(real):
    cupy, _ = real
    import fake_cupy

    assert _parameters(cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor) == ["func", "blockSize",
                                                                                       "dynamicSMemSize"]
    assert len(_parameters(fake_cupy.occupancy_max_active_blocks)) == 3
    assert _parameters(cupy.cuda.compiler.CompileException) == _parameters(fake_cupy.CompileException)
    assert _parameters(cupy.cuda.Stream.__init__) == _parameters(fake_cupy.Stream.__init__)
    assert _parameters(cupy.cuda.Event.__init__) == _parameters(fake_cupy.Event.__init__)
    assert "num_regs" in dir(cupy.RawKernel) and "kernel" in dir(cupy.RawKernel)
    assert "ptr" in dir(cupy.cuda.function.Function)


def test_cublas_calls_take_the_real_arguments(real):
    """With cuBLAS installed (the cuda12/cuda13 extras), its wrappers' arguments; without, CuPy's failure is the
    one hwbench maps to a one-line UsageError."""
    cupy, _ = real
    import fake_cupy

    try:
        cublas = cupy.cuda.cublas
    except ImportError as error:
        assert is_missing_library(error) and "cuBLAS" in str(missing_library("x", error))
        return
    cupy_names, _ = used_names()
    used = {name.split(".")[2] for name in cupy_names if name.startswith("cuda.cublas.")}
    assert used == {"gemmEx", "setStream"} and all(hasattr(cublas, name) for name in used)
    assert _parameters(cublas.gemmEx) == _parameters(fake_cupy.FakeCublas.gemmEx)
    assert _parameters(cublas.setStream) == _parameters(fake_cupy.FakeCublas.setStream)


def test_nvml_calls_take_the_real_arguments(real):
    _, pynvml = real
    from fake_cupy import FakeNvml

    _, nvml_names = used_names()
    for name in sorted(nvml_names):
        real_function = getattr(pynvml, name)
        if callable(real_function) and not isinstance(real_function, type):
            assert _parameters(real_function) == _parameters(getattr(FakeNvml, name)), name


# The stand-in exposes only real names, with the real constants --------------------------------------------------

# Test controls of the stand-in, named so that no real name is shadowed: cupy's start with ``fake_``; these are
# FakeNvml's (its API names all start with nvml / NVML).
NVML_CONTROLS = {"devices", "missing_library", "unsupported", "nvlinks", "state", "initialised"}


def _public(obj) -> list[str]:
    return [name for name in dir(obj) if not name.startswith("_")]


def test_the_stand_in_has_only_real_cupy_names(real):
    cupy, _ = real
    fake, _ = _stand_in()
    unknown = []
    for name in _public(fake):
        if not name.startswith("fake_") and not hasattr(cupy, name):
            unknown.append(name)
    for path in ("cuda", "cuda.runtime", "cuda.driver", "cuda.compiler", "cuda.memory", "cuda.device",
                 "random"):
        for name in _public(_resolve(fake, path)):
            if not _has(cupy, f"{path}.{name}"):
                unknown.append(f"{path}.{name}")
    for cls, real_cls in ((fake.cuda.Stream, cupy.cuda.Stream), (fake.cuda.Event, cupy.cuda.Event),
                          (fake.cuda.Device, cupy.cuda.Device)):
        unknown += [f"{cls.__name__}.{name}" for name in _public(cls) if not hasattr(real_cls, name)
                    and name not in ("clock", "mark")]  # the fake clock's bookkeeping
    assert unknown == []


def test_the_stand_in_has_only_real_nvml_names_and_values(real):
    _, pynvml = real
    from fake_cupy import FakeNvml

    for name in _public(FakeNvml):
        if name in NVML_CONTROLS:
            continue
        assert hasattr(pynvml, name), name
        value = getattr(FakeNvml, name)
        if name.startswith("NVML_"):
            assert value == getattr(pynvml, name), name
    assert pynvml.NVML_DEVICE_PCI_BUS_ID_FMT == "%08X:%02X:%02X.0"
    for name in ("NVMLError_NotSupported", "NVMLError_NotFound", "NVMLError_LibraryNotFound"):
        assert issubclass(getattr(pynvml, name), pynvml.NVMLError)
        assert str(getattr(FakeNvml, name)()) == str(getattr(pynvml, name)())


def test_the_stand_in_writes_bus_ids_as_cuda_and_nvml_do(real):
    _, pynvml = real
    from fake_cupy import FakeNvml, nvml_pci_bus_id, pci_bus_id

    from hwbench.gpu.pci import canonical_bus_id

    assert re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", pci_bus_id(3))  # CUDA: 12 characters
    domain, bus, device = 0, 0x18 + 3, 0
    assert nvml_pci_bus_id(3).decode() == pynvml.NVML_DEVICE_PCI_BUS_ID_FMT % (domain, bus, device)
    assert canonical_bus_id(pci_bus_id(3)) == nvml_pci_bus_id(3).decode()
    nvml = FakeNvml()
    nvml.nvmlInit()
    assert nvml.nvmlDeviceGetHandleByPciBusId(nvml_pci_bus_id(3)) == 3
    assert nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id(3)) == 3  # NVML reads domain:bus:device.function


def test_nvlink_versions_are_the_real_enum(real):
    _, pynvml = real
    from hwbench.gpu.links import NVLINK_GBPS_PER_LINK, NVLINK_VERSIONS

    for value, marketing in NVLINK_VERSIONS.items():
        assert getattr(pynvml, f"NVML_NVLINK_VERSION_{marketing.replace('.', '_')}") == value
    assert set(NVLINK_GBPS_PER_LINK) == set(NVLINK_VERSIONS)


# Failure modes, from the real packages --------------------------------------------------------------------------


def test_options_must_be_a_tuple_in_both(real):
    cupy, _ = real
    fake, _ = _stand_in()
    for module in (cupy, fake):
        with pytest.raises(TypeError):
            module.RawModule(code='extern "C" __global__ void k() {}', options=["-DBLOCK=256"])


def test_a_source_nvrtc_refuses_raises_compile_exception(real, monkeypatch):
    """Through CuPy's own NVRTC path (the GPU query of the architecture replaced by sm_90): the real exception
    type, which the session maps to one line."""
    cupy, _ = real
    import fake_cupy
    from cupy.cuda import compiler

    monkeypatch.setattr(compiler, "_get_arch_for_options_for_nvrtc", lambda arch: ("-arch=sm_90", "cubin"))
    with pytest.raises(compiler.CompileException) as caught:
        compiler.compile_using_nvrtc('extern "C" __global__ void k() { undefined_name(); }', options=(),
                                     arch="90")
    message = str(compile_failure("cuda:0: broken.cu", caught.value))
    assert "\n" not in message and "undefined_name" in message
    fake = fake_cupy.make_cupy().RawModule(code="no kernel here", options=())
    with pytest.raises(fake_cupy.CompileException):
        fake.compile()
    assert fake_cupy.CompileException.__mro__[1] is compiler.CompileException.__mro__[1]  # both plain Exceptions


def test_a_missing_nvrtc_is_the_real_error_type(real):
    import fake_cupy
    from cuda.pathfinder import DynamicLibNotFoundError

    real_error = DynamicLibNotFoundError('Failure finding "libnvrtc.so.13 or libnvrtc.so.12": No such file')
    fake_error = fake_cupy.DynamicLibNotFoundError(fake_cupy._missing("libnvrtc"))
    assert is_missing_library(real_error) and is_missing_library(fake_error)
    assert type(fake_error).__mro__[1] is type(real_error).__mro__[1] is RuntimeError
    assert "NVRTC" in str(missing_library("x", real_error))


def test_no_driver_fails_nvml_as_the_stand_in_does(real):
    """This machine has no NVIDIA driver: the real nvmlInit fails with NVMLError_LibraryNotFound, as the stand-in's
    ``missing_library`` does (the session turns it into a one-line UsageError)."""
    _, pynvml = real
    from fake_cupy import FakeNvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        assert type(error).__name__ == "NVMLError_LibraryNotFound"
        with pytest.raises(FakeNvml.NVMLError_LibraryNotFound) as fake_error:
            FakeNvml(missing_library=True).nvmlInit()
        assert str(fake_error.value) == str(error)
    else:  # a machine with the driver: nothing to compare, NVML works
        pynvml.nvmlShutdown()


def test_the_nccl_stand_in_hands_out_128_entry_ids():
    from fake_cupy import NCCL_UNIQUE_ID_BYTES, FakeNccl

    nccl = FakeNccl()
    uid = nccl.get_unique_id()
    assert isinstance(uid, tuple) and len(uid) == NCCL_UNIQUE_ID_BYTES == 128
    assert all(-128 <= b <= 127 for b in uid) and nccl.get_unique_id() != uid
    with pytest.raises(ValueError, match="128 entries"):
        nccl.NcclCommunicator(2, uid[:2], 0)
    with pytest.raises(TypeError):
        nccl.NcclCommunicator(2, list(uid), 0)


def test_the_real_cupy_in_sys_modules_never_reaches_the_stand_in_tests(real, monkeypatch):
    """With the real ``cupy.cuda`` imported (as this module does), the stand-in's ``install`` still routes
    ``from cupy.cuda import nccl`` and ``cp.cuda.nccl`` to the fake."""
    import fake_cupy

    from hwbench.gpu.allreduce import nccl_module

    fake = fake_cupy.make_cupy(devices=2)
    fake_cupy.install(monkeypatch, fake)
    from cupy.cuda import nccl

    assert nccl is fake.cuda.nccl and nccl_module(fake) is fake.cuda.nccl
