"""hwbench's kernels under pytest-benchmark: copy this file into a project's tests to gate its machines.

Record a baseline once, then fail CI when a ceiling drops (pytest-benchmark compares times, so a 5% slower
fastest call is a 5% lower ceiling):

    pytest tests/benchmarks --benchmark-enable --benchmark-save=baseline
    pytest tests/benchmarks --benchmark-enable --benchmark-compare --benchmark-compare-fail=min:5%

Under plain ``pytest`` (``--benchmark-disable``, as in this project's configuration) each test runs its
kernel once and still validates it.
"""

from __future__ import annotations

import pytest

from hwbench.benchmarking import cpu_workload

# Small arrays keep this example quick; drop array_bytes to use hwbench's default (4x the last-level cache),
# which measures DRAM rather than the caches.
ARRAY_BYTES = 32 * 2**20


@pytest.mark.parametrize("kernel", ["triad", "copy_nt", "fma_fp64", "fma_fp32"])
def test_ceiling(benchmark, kernel):
    with cpu_workload(kernel, array_bytes=ARRAY_BYTES) as work:
        benchmark.pedantic(work, rounds=10, warmup_rounds=2)
        work.check()
        benchmark.extra_info.update(work.info(benchmark.stats.stats.min if benchmark.stats else None))
