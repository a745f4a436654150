"""Statistics, the repetition policy, and the byte/FLOP declarations."""

from __future__ import annotations

import itertools

import pytest

from hwbench.catalog import kernel as catalog_kernel
from hwbench.stats import RateSummary, RepetitionPolicy, spread_warning, summarize, work_rate
from hwbench.timing import Sample, Timing, joined, pass_policy, time_kernel


def test_summary_of_known_samples():
    s = RateSummary((10.0, 12.0, 11.0, 9.0))
    assert (s.best, s.min, s.max, s.median, s.repetitions) == (12.0, 9.0, 12.0, 10.5, 4)
    assert s.cv == pytest.approx(1.2909944 / 10.5, rel=1e-6)
    assert RateSummary((5.0,)).cv == 0.0


def test_summarize_converts_seconds_to_rates():
    s = summarize(24e9, [1.0, 2.0, 0.5])
    assert s.samples == (24.0, 12.0, 48.0)
    with pytest.raises(ValueError):
        work_rate(1.0, 0.0)


def test_repeat_until_min_repetitions_and_min_time():
    calls = itertools.count()

    def run_once(launches: int) -> Sample:
        next(calls)
        return Sample(0.05)

    samples = time_kernel(run_once, RepetitionPolicy(warmups=2, min_repetitions=10, min_seconds=1.0)).samples
    assert len(samples) == 20  # 1.0 s / 0.05 s, more than the 10 minimum
    assert next(calls) == 22  # plus 2 discarded warm-ups
    one_second = time_kernel(lambda n: Sample(1.0), RepetitionPolicy(warmups=0, min_repetitions=10, min_seconds=1.0))
    assert len(one_second.samples) == 10
    assert len(time_kernel(lambda n: Sample(1e-9), RepetitionPolicy(0, 10, 1.0, max_repetitions=50)).samples) == 50


def test_spread_warning_names_the_remedy():
    assert spread_warning("triad", RateSummary((10.0, 10.1, 10.05))) is None
    message = spread_warning("triad", RateSummary((10.0, 14.0, 8.0)), quick=True)
    assert "triad" in message and "--cpus" in message and "cv" in message and "without --quick" in message
    assert "without --quick" not in spread_warning("triad", RateSummary((10.0, 14.0, 8.0)), quick=False)


@pytest.mark.parametrize("name, stream, traffic", [
    ("copy", 16, 24), ("scale", 16, 24), ("add", 24, 32), ("triad", 24, 32), ("dot", 16, 16),
    ("copy_nt", 16, 16), ("triad_nt", 24, 24),
])
def test_stream_byte_counts(name, stream, traffic):
    # STREAM convention (stream.c) and with write-allocate: one extra read per written array.
    spec = catalog_kernel("cpu", name)
    assert (spec.bytes_stream, spec.bytes_traffic) == (stream, traffic)


def test_spread_warnings_are_one_line_per_cause_naming_every_kernel():
    from hwbench.stats import KernelResult, spread_warnings

    def result(name: str, samples: tuple[float, ...]) -> KernelResult:
        return KernelResult(name, "fp64", "dram", "GB/s", RateSummary(samples), 1, 1, 1, 0, True)

    quiet, noisy = (10.0, 10.1, 10.05), (10.0, 14.0, 8.0)
    assert spread_warnings([result("copy", quiet)]) == []
    one = spread_warnings([result("copy", noisy), result("scale", quiet)])
    assert one == [spread_warning("copy", RateSummary(noisy))]
    grouped = spread_warnings([result(name, noisy) for name in ("copy", "add", "triad")], quick=True)
    assert len(grouped) == 1
    assert grouped[0].startswith("high spread in 3 kernels: copy (cv ")
    assert all(f"{name} (cv " in grouped[0] for name in ("add", "triad"))
    assert grouped[0].count("close them") == 1 and "without --quick" in grouped[0]


def test_interleaved_passes_share_the_policy_and_join_into_one_timing():
    """STREAM's kernels are timed in passes (cpu/stream.py): each pass a rounded-up share of the repetitions and the
    seconds, the warm-ups in the first pass only; the passes' samples join into one timing of the kernel."""
    policy = RepetitionPolicy(warmups=2, min_repetitions=10, min_seconds=1.0, max_repetitions=1000)
    first, later = pass_policy(policy, 5, first=True), pass_policy(policy, 5, first=False)
    assert (first.warmups, later.warmups) == (2, 0)
    assert (later.min_repetitions, later.min_seconds, later.max_repetitions) == (2, 0.2, 200)
    assert pass_policy(RepetitionPolicy(1, 3, 0.1, 7), 5, first=False).min_repetitions == 1
    calls = []
    timings = [time_kernel(lambda n, i=i: calls.append(i) or Sample(0.1 + i), pass_policy(policy, 3, i == 0))
               for i in range(3)]
    whole = joined(timings)
    assert whole.seconds == [s for t in timings for s in t.seconds] and len(whole.samples) >= 10
    assert (whole.started, whole.ended) == (timings[0].started, timings[-1].ended)
    assert calls[:2] == [0, 0]  # the first pass's warm-ups
    with pytest.raises(ValueError):
        joined([Timing((Sample(1.0),), 1, 0.0, 1.0), Timing((Sample(1.0),), 2, 1.0, 2.0)])
