"""Real programs that ``hwbench validate`` times: code written by NumPy, OpenBLAS, numba and CuPy, not by hwbench.

``result`` holds the plain record a run hands over (``WorkloadRun``: what ran, on what shape, how long it took);
``cpu`` (NumPy and OpenBLAS; ``cpu_numba``: the numba programs; ``workload``: what they share) and ``gpu`` set the
workloads up, time them through ``hwbench.timing`` and validate their output. The FLOP and byte counts
(``hwbench.tools.workload_counts``), the roofline predictions and the verdict (``hwbench.tools.validate``) read the
records and never run anything. This ``__init__`` imports nothing, so the tools can read ``result`` without
loading NumPy's workloads, numba or CuPy.
"""
