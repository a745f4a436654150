"""Each CPU kernel computes what it claims, checked against NumPy on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

from hwbench.check import replay_stream
from hwbench.kernels import cpu_fma, cpu_stream
from hwbench.kernels.cpu_llvm import ADDS_PER_BLOCK, CLOCK_SUPPORTED

N = 4096


def arrays():
    a, b, c = (cpu_stream.aligned_empty(N) for _ in range(3))
    rng = np.random.default_rng(0)
    for x in (a, b, c):
        x[:] = rng.random(N)
    return a, b, c


@pytest.mark.parametrize("form", ["copy", "scale", "add", "triad"])
@pytest.mark.parametrize("nontemporal", [False, True])
def test_stream_kernels_match_numpy(form, nontemporal):
    a, b, c = arrays()
    expected = {"copy": ("c", a.copy()), "scale": ("b", 3.0 * c), "add": ("c", a + b),
                "triad": ("a", b + 3.0 * c)}[form]
    kernel = cpu_stream.nontemporal_kernel(form, 8) if nontemporal else cpu_stream.TEMPORAL_KERNELS[form]
    kernel(a, b, c, 3.0, 0, N // 2)
    kernel(a, b, c, 3.0, N // 2, N)
    out = {"a": a, "b": b, "c": c}[expected[0]]
    np.testing.assert_allclose(out, expected[1], rtol=1e-15)


def test_dot_and_partial_ranges():
    a, b, _ = arrays()
    total = cpu_stream.dot(a, b, None, 0.0, 0, 1024) + cpu_stream.dot(a, b, None, 0.0, 1024, N)
    assert total == pytest.approx(float(a @ b), rel=1e-12)


def test_aligned_fill_and_deviation():
    x = cpu_stream.aligned_empty(1000)
    assert x.ctypes.data % 64 == 0
    cpu_stream.fill(x, 2.5, 0, 1000)
    assert cpu_stream.max_deviation(x, 2.5) == 0.0
    x[7] = np.nan
    assert cpu_stream.max_deviation(x, 2.5) == np.inf


def test_replay_follows_stream_definitions():
    state = {"a": 1.0, "b": 2.0, "c": 0.5}
    assert replay_stream("copy", state) == ("c", 1.0)
    assert replay_stream("scale", state) == ("b", 3.0)
    assert replay_stream("add", state) == ("c", 4.0)
    assert replay_stream("triad", state) == ("a", 15.0)


@pytest.mark.parametrize("precision, lanes", [("fp64", 8), ("fp64", 4), ("fp32", 16), ("fp32", 8)])
@pytest.mark.parametrize("n_iter", [0, 1, 5, 1000])
def test_fma_checksum_matches_closed_form(precision, lanes, n_iter):
    dtype = cpu_fma.dtype_of(precision)
    kernel = cpu_fma.fma_kernel(precision, lanes, 12)
    result = kernel(n_iter, dtype(cpu_fma.FMA_A), dtype(cpu_fma.FMA_B), dtype(1.0))
    expected = cpu_fma.expected_checksum(n_iter, 1.0, lanes, 12)
    assert result == pytest.approx(expected, rel=1e-5 if precision == "fp32" else 1e-12)


def test_fma_flop_count():
    assert cpu_fma.flops_per_iteration(16, 12) == 384


@pytest.mark.skipif(not CLOCK_SUPPORTED, reason="no add-chain probe for this architecture")
def test_add_chain_runs_exactly_its_length():
    add_ticks, mul_ticks = np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64)
    adds, muls = cpu_fma.scalar_clock_kernel(10, 4, add_ticks, mul_ticks)
    assert adds == 3 * 10 * ADDS_PER_BLOCK and (add_ticks > 0).all()
    assert muls == 3 * 4 * ADDS_PER_BLOCK and (mul_ticks > 0).all()  # every product of the multiply chain was 1
    add_ticks, mul_ticks = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    checksum, adds, muls = cpu_fma.fma_clock_kernel("fp64", 8, 12)(100, 5, 3, 0.75, 0.5, 1.0, add_ticks, mul_ticks)
    assert adds == 2 * 5 * ADDS_PER_BLOCK and muls == 2 * 3 * ADDS_PER_BLOCK and (mul_ticks > 0).all()
    assert checksum == pytest.approx(2 * cpu_fma.expected_checksum(100, 1.0, 8, 12))
