"""CUDA, NVRTC, cuBLAS and NVML failures as hwbench's one-line errors (``UsageError``: exit 2, something to
install or set up; ``MeasurementError``: exit 1, a measurement that could not be made).

How the real packages fail (cupy-cuda12x / cupy-cuda13x 14.x, nvidia-ml-py 13, read on a machine without a GPU):

* no NVRTC library: the first compile raises ``cuda.pathfinder``'s ``DynamicLibNotFoundError`` (a RuntimeError,
  "Failure finding "libnvrtc.so..."");
* no cuBLAS: ``cupy.cuda.cublas`` / ``cupy_backends.cuda.libs.cublas`` raises ImportError ("Failure finding
  "libcublasLt.so..."": CuPy's cuBLAS needs cuBLASLt too, so that message names cuBLAS);
* no cuBLASLt for hwbench's own ctypes call (suite/gpu/cublaslt.py): ``cuda.pathfinder.load_nvidia_dynamic_lib``
  raises ``DynamicLibNotFoundError`` ("Failure finding "libcublasLt.so...""): the fp8 GEMM is skipped with that
  one line (``lowp_gemm``), the rest of the run goes on;
* a source NVRTC refuses: ``cupy.cuda.compiler.CompileException`` with the compiler log;
* no NVML: ``pynvml.NVMLError_LibraryNotFound`` (an ``NVMLError``) from ``nvmlInit``;
* a driver or runtime call that fails: ``cupy.cuda.driver.CUDADriverError`` / ``runtime.CUDARuntimeError``.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import MeasurementError, UsageError

INSTALL = "pip install 'hwbench[cuda12]' (CUDA 12 driver) or 'hwbench[cuda13]' (CUDA 13 driver)"
CUPY_MISSING = "--device cuda needs CuPy, which is not installed: pip install 'hwbench[cuda]'"


def import_cupy() -> Any:
    """CuPy, or the one error that says how to install it. Every GPU path (``hwbench run``'s device selection,
    the session, ``hwbench validate``) imports CuPy here, so a machine without it gets one message."""
    try:
        import cupy
    except ImportError:
        raise UsageError(CUPY_MISSING) from None
    return cupy


def device_count(selection: str = "cuda") -> int:
    """How many CUDA devices CuPy sees; a UsageError naming the ``--device`` value asked for (``selection``)
    when CuPy or the driver is missing."""
    cupy = import_cupy()
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception as error:  # CUDARuntimeError without a driver, among others
        raise UsageError(f"--device {selection}: no usable NVIDIA GPU or driver ({error}); use --device cpu"
                         ) from None


def checked_cupy(index: int, asked: str | None = None) -> Any:
    """CuPy, once CUDA device ``index`` is known to exist here: the one device check. ``asked`` is the
    ``--device`` text as the user wrote it (default ``cuda:<index>``)."""
    count = device_count(f"cuda:{index}")
    if not 0 <= index < count:
        have = (f"{count} CUDA GPU{'s' if count > 1 else ''} (cuda:0{f' to cuda:{count - 1}' if count > 1 else ''}); "
                "pick one of those or use --device cpu" if count else "no CUDA GPU; use --device cpu")
        raise UsageError(f"--device {asked or f'cuda:{index}'}: this machine has {have}")
    return import_cupy()


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def is_missing_library(error: BaseException) -> bool:
    """A CUDA library CuPy could not find (NVRTC, cuBLAS, ...): cuda.pathfinder's error, or the ImportError
    CuPy raises from it."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return "DynamicLibNotFoundError" in names or (isinstance(error, ImportError) and "Failure finding" in str(error))


def missing_library(what: str, error: BaseException) -> UsageError:
    return UsageError(f"{what}: CuPy found no {library_name(error)} library ({first_line(error)}); {INSTALL}")


def library_name(error: BaseException) -> str:
    """The library cuda.pathfinder looked for: the first quoted name of 'Failure finding "libcublasLt.so.13 ..."'
    (the rest of its message lists the files it did see, other libraries among them)."""
    wanted = re.search(r'Failure finding "([^"]+)"', str(error))
    text = (wanted.group(1) if wanted else str(error)).lower()
    for name in ("nvrtc", "cublas", "curand", "cudart", "nccl"):
        if name in text:
            return {"nvrtc": "NVRTC", "cublas": "cuBLAS", "curand": "cuRAND", "cudart": "CUDA runtime",
                    "nccl": "NCCL"}[name]
    return "CUDA"


def compile_failure(what: str, error: BaseException) -> MeasurementError:
    """NVRTC refused one of hwbench's kernels: its first log line, one line in all."""
    return MeasurementError(f"{what}: NVRTC could not compile it ({first_line(error)}); no figure is reported")


def cuda_failure(what: str, error: BaseException) -> MeasurementError:
    return MeasurementError(f"{what}: {first_line(error)}; no figure is reported")


__all__ = ["CUPY_MISSING", "INSTALL", "checked_cupy", "compile_failure", "cuda_failure", "device_count", "first_line",
           "import_cupy", "is_missing_library", "missing_library"]
