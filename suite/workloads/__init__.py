"""Real programs that ``hwbench validate`` times: code written by NumPy, OpenBLAS, numba and CuPy, not by hwbench.

``result`` holds the plain record a run hands over (``WorkloadRun``: what ran, on what shape, how long it took);
``cpu`` and ``gpu`` set the workloads up, time them through ``hwbench.measure`` and validate their output. The
FLOP and byte counts, the roofline predictions and the verdict are in ``hwbench.tools.validate``, which reads the
records and never runs anything. This ``__init__`` imports nothing, so the tools can read ``result`` without
loading NumPy's workloads, numba or CuPy.
"""
