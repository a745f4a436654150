"""Sustained runs: a kernel kept busy for minutes, sampled at a fixed interval, and its summary.

A burst ceiling is what a machine gives in its first seconds (turbo budget, cool silicon); the sustained
ceiling is what it keeps giving. Definitions (stated in every profile that has them):

- burst:      the best sample of the first ``BURST_SHARE`` of the timeline (at least one sample);
- sustained:  the median of the last ``SUSTAINED_SHARE`` of the timeline;
- drop:       (burst - sustained) / burst, in per cent;
- drop began: the time of the first sample below burst x (1 - ``DROP_THRESHOLD``) from which on the
              median of the remaining samples stays below it too (one slow sample is not the onset);
              null when the drop is under the threshold.
- ceiling:    the same kernel's ceiling in the same run (``compute.<precision>.measured_gflops``, or the
              kernel's own ``ceiling`` for bandwidth kernels, STREAM convention as the timeline counts);
              ``of_ceiling`` = sustained / ceiling.

Burst is the start of the timeline, not the machine's ceiling: a timeline can run at half the ceiling from
its first second (another guest on the cores), and then burst and sustained agree while both sit far below
it. A warning says so when the sustained figure sits below the ceiling by more than ``DROP_THRESHOLD`` and
by more than the noise: the timeline's spread and the ceiling's (``stats.top_spread``), combined in
quadrature as ``compare`` does.

Nothing here measures; the runners produce a ``Timeline`` and this module summarizes it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TypeVar

from ..stats import Timeline, rounded, top_spread
from .types import ProfileOptional, SustainedCeiling, SustainedKernel, SustainedSection

BURST_SHARE = 0.1
SUSTAINED_SHARE = 0.5
DROP_THRESHOLD = 0.05
MIN_INTERVAL_S = 0.1

T = TypeVar("T")


@dataclass(frozen=True)
class RunCeiling:
    """A kernel's ceiling in the run that also sustained it: its value, its spread (``top_spread``), the clock
    read while it was measured (None when unknown) and the profile key it is shown under."""

    value: float
    spread: float
    clock_mhz: float | None
    key: str



def _head(values: list[T], share: float) -> list[T]:
    return values[:max(1, math.ceil(len(values) * share))]


def _tail(values: list[T], share: float) -> list[T]:
    return values[-max(1, math.ceil(len(values) * share)):]


def drop_onset(t_s: list[float], rate: list[float], burst: float, threshold: float = DROP_THRESHOLD) -> float | None:
    """When the throughput fell below ``burst`` x (1 - threshold) and stayed there (median of the rest)."""
    floor = burst * (1 - threshold)
    for i, value in enumerate(rate):
        if value < floor and statistics.median(rate[i:]) < floor:
            return t_s[i]
    return None


def summarize_timeline(timeline: Timeline, ceiling: RunCeiling | None = None) -> SustainedKernel:
    """The profile entry of one sustained kernel: burst, sustained, drop, onset, clocks, the run's own ceiling
    of the kernel (when given) and the timeline."""
    if not timeline.rate:
        raise ValueError(f"{timeline.kernel}: empty timeline")
    burst = max(_head(timeline.rate, BURST_SHARE))
    tail = _tail(timeline.rate, SUSTAINED_SHARE)
    sustained = statistics.median(tail)
    drop = (burst - sustained) / burst if burst > 0 else 0.0
    clocks = [c for c in timeline.clock_mhz if c is not None]
    head_clocks = [c for c in _head(timeline.clock_mhz, BURST_SHARE) if c is not None]
    tail_clocks = [c for c in _tail(timeline.clock_mhz, SUSTAINED_SHARE) if c is not None]
    against: SustainedCeiling = _against(sustained, ceiling) if ceiling is not None else {}
    entry: SustainedKernel = {  # round(float(x)) as stats.rounded: these figures are never unknown
        "unit": timeline.unit,
        "burst": round(float(burst), 3),
        "sustained": round(float(sustained), 3),
        "drop_percent": round(float(100 * drop), 2),
        "drop_began_s": rounded(drop_onset(timeline.t_s, timeline.rate, burst)) if drop >= DROP_THRESHOLD else None,
        "clock_burst_mhz": rounded(max(head_clocks), 1) if head_clocks else None,
        "clock_sustained_mhz": rounded(statistics.median(tail_clocks), 1) if tail_clocks else None,
        "spread": round(float(top_spread(tail)), 5),
        "samples": len(timeline.rate),
        **against,
        "timeline": {
            "t_s": [rounded(t, 2) for t in timeline.t_s],
            "rate": [rounded(r) for r in timeline.rate],
            **({"clock_mhz": [rounded(c, 1) for c in timeline.clock_mhz]} if clocks else {}),
            **timeline.extra,
        },
    }
    return entry


def _against(sustained: float, ceiling: RunCeiling) -> SustainedCeiling:
    return {"ceiling": rounded(ceiling.value), "ceiling_key": ceiling.key,
            "ceiling_spread": rounded(ceiling.spread, 5), "ceiling_clock_mhz": rounded(ceiling.clock_mhz, 1),
            "of_ceiling": rounded(sustained / ceiling.value, 4) if ceiling.value > 0 else None}


def sustained_section(timelines: list[Timeline], duration_s: float, interval_s: float, clock_method: str,
                      ceilings: dict[str, RunCeiling] | None = None) -> SustainedSection:
    """The profile's ``sustained`` section."""
    ceilings = ceilings or {}
    return {
        "duration_s": duration_s,
        "interval_s": interval_s,
        "definitions": (f"burst: best sample of the first {BURST_SHARE:.0%} of the timeline; sustained: median "
                        f"of the last {SUSTAINED_SHARE:.0%}; drop_began_s: first sample below burst x "
                        f"{1 - DROP_THRESHOLD:.2f} after which the median stays below it; burst is the start "
                        "of the timeline, not the ceiling: ceiling is the same kernel's ceiling in this run "
                        "(ceiling_key), of_ceiling = sustained / ceiling"),
        "clock_method": clock_method,
        "kernels": {t.kernel: summarize_timeline(t, ceilings.get(t.kernel)) for t in timelines},
    }


def sustain_warnings(section: SustainedSection) -> list[str]:
    warnings = []
    for name, entry in section["kernels"].items():
        if entry["drop_percent"] >= 100 * DROP_THRESHOLD:
            clock, cause = "", "the burst ceiling is not sustained"
            burst_clock, sustained_clock = entry.get("clock_burst_mhz"), entry.get("clock_sustained_mhz")
            if burst_clock and sustained_clock:
                clock = f"; clock {burst_clock:.0f} -> {sustained_clock:.0f} MHz"
                clock_drop = 100 * (burst_clock - sustained_clock) / burst_clock
                cause = ("the clock dropped: throttling" if clock_drop >= entry["drop_percent"] / 2 else
                         "at an unchanged clock, so not throttling: other work is sharing the cores or memory")
            began = f" from t = {entry['drop_began_s']:.0f} s" if entry.get("drop_began_s") is not None else ""
            warnings.append(f"sustained {name}: {entry['burst']:.1f} -> {entry['sustained']:.1f} {entry['unit']} "
                            f"({entry['drop_percent']:.1f}% drop{began}{clock}): {cause}; use the sustained figure "
                            "for long-running work")
    return warnings


def below_ceiling_warnings(section: SustainedSection) -> list[str]:
    """A warning for each kernel whose sustained figure sits below the run's own ceiling of it by more than
    ``DROP_THRESHOLD`` and by more than the noise (the timeline's spread and the ceiling's, in quadrature),
    with the likely cause from the clocks: the clock fell by at least half the gap -> throttling; else the
    same clock -> other work on the cores or memory."""
    warnings = []
    for name, entry in section["kernels"].items():
        ceiling, sustained = entry.get("ceiling"), entry.get("sustained")
        if not ceiling or sustained is None:
            continue
        gap = (ceiling - sustained) / ceiling
        noise = math.hypot(entry.get("spread") or 0.0, entry.get("ceiling_spread") or 0.0)
        if gap < DROP_THRESHOLD or gap <= noise:
            continue
        if entry["drop_percent"] >= 100 * DROP_THRESHOLD and (ceiling - entry["burst"]) / ceiling < DROP_THRESHOLD:
            continue  # it started at the ceiling and dropped: sustain_warnings says so
        base_clock, sustained_clock = entry.get("ceiling_clock_mhz"), entry.get("clock_sustained_mhz")
        if base_clock and sustained_clock:
            clock_drop = (base_clock - sustained_clock) / base_clock
            clock = f"clock {base_clock:.0f} MHz for the ceiling, {sustained_clock:.0f} MHz sustained"
            cause = (f"{clock}: the clock dropped, throttling" if clock_drop >= gap / 2 else
                     f"{clock}, the same clock, so not throttling: other work is sharing the cores or memory "
                     "(a shared or noisy host)")
        else:
            cause = ("no clock to tell throttling from other work sharing the cores or memory; run it again "
                     "when the machine is idle")
        warnings.append(f"sustained {name}: {sustained:.1f} {entry['unit']} sustained is {gap:.0%} below this "
                        f"run's own ceiling of it, {ceiling:.1f} {entry['unit']} ({entry.get('ceiling_key')}), "
                        f"beyond the noise (±{noise:.1%}); {cause}; use the sustained figure for long-running work")
    return warnings


def sustained_extra(timelines: list[Timeline], duration_s: float | None, interval_s: float | None,
                    clock_method: str, warnings: list[str],
                    ceilings: dict[str, RunCeiling] | None = None) -> ProfileOptional:
    """``{"sustained": section}`` for a profile (empty without timelines); appends the drop warnings and those
    of a sustained figure below the run's own ceiling."""
    if not timelines:
        return {}
    section = sustained_section(timelines, duration_s or round(max(t.t_s[-1] for t in timelines if t.t_s)),
                                interval_s or 1.0, clock_method, ceilings)
    warnings += sustain_warnings(section) + below_ceiling_warnings(section)
    return {"sustained": section}
