"""hwbench.kernels: the measured code, one module per backend and family.

- ``cpu_stream``: STREAM copy/scale/add/triad/dot in numba (``nogil``) and non-temporal-store variants.
- ``cpu_fma``: FMA-peak chains and the clock probe, as llvmlite IR through ``numba.extending.intrinsic``.
- ``cpu_llvm``: the one llvmlite IR builder the CPU kernel modules share (loop, intrinsics, chains, lane sum).
- ``cuda/*.cu``: the GPU kernels (CUDA C++, loaded with ``cupy.RawModule``, compilable with plain nvcc).

Kernels only compute. Timing, validation and reporting live in ``hwbench`` (``suite/``).
"""
