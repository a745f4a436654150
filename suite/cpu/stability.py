"""Whether an FMA ceiling agrees with its own evidence, and what most likely moved it when it does not.

An FMA ceiling has two measurements of one rate: its headline samples (``fma.sample_fma``) and the probed run
(the same kernel interleaved with the clock probe, ``fma.fma_with_clock_probe``), in which the clock is
measured. They agree when the probed rate lies between the headline samples' median and their
ceiling, widened by ``AGREEMENT_MARGIN``: the probed run is a mean over a longer call, so it sits where the
typical sample does, never far above the best nor far below the median. On a 2-vCPU guest they disagreed by
a factor of two (the headline at 58.3 GFLOP/s in every sample, the probed run at full speed, 14.6 FLOP per
cycle of 16): the two ran in different states of the machine, and the FLOP per cycle described neither.

When they agree, the probed run's clock is the headline's, and FLOP per cycle is the headline over it. When
they disagree, the family measures both again, interleaved, at most ``RECHECK_ROUNDS`` times; if no
probed run then agrees with the pooled headline, the ceiling is ``unstable``: the profile gives the spread
and the likely cause instead of a FLOP per cycle. The cause is read from the run's own evidence
(``contention``): threads off their CPUs while other processes used the cores (contention), time stolen by
the hypervisor (steal), a CPU quota holding the group (quota), or none of these while the rate still moved
at the probed clock (placement: the vCPUs on shared physical cores, or moved between them).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..stats import CONTENDED_ON_CPU, confirmed_best
from .contention import Contention

AGREEMENT_MARGIN = 0.05  # the probed rate may lie this far outside [median, ceiling] of the headline samples
RECHECK_ROUNDS = 4  # further interleaved (headline, probed run) rounds after a disagreement
OTHER_WORK_SHARE = 0.05  # other processes used this share of the measured cores' time, or more
STEAL_SHARE = 0.02  # the hypervisor stole this share of the vCPUs' time, or more
THROTTLED_SHARE = 0.01  # the cgroup's CPU quota held the process this share of the wall time, or more
AGREEMENT_RULE = (f"the probed run's rate (the FMA blocks of clock.method) lies between the median and the ceiling "
                  f"of the headline samples, widened by {AGREEMENT_MARGIN:.0%}; otherwise both are measured again, "
                  f"interleaved, at most {RECHECK_ROUNDS} times, and a disagreement that stays is 'unstable'")


@dataclass(frozen=True)
class Evidence:
    """What else ran during one batch of samples: each sample's on-CPU share (its slowest thread's CPU time
    over its wall time) and the contention over the batch's window."""

    on_cpu: tuple[float, ...]
    window: Contention | None = None


@dataclass(frozen=True)
class ProbedRate:
    """One probed run: the FMA blocks' rate, the clock measured in it, and its threads' lowest on-CPU share."""

    gflops: float
    clock_mhz: float | None  # None when that probe's chains cannot be believed
    mul_clock_mhz: float | None
    on_cpu: float = 1.0


def agrees(samples: Sequence[float], probed_gflops: float, margin: float = AGREEMENT_MARGIN) -> bool:
    """Whether a probed rate lies between the samples' median and their ceiling, widened by ``margin``."""
    return statistics.median(samples) * (1 - margin) <= probed_gflops <= confirmed_best(samples) * (1 + margin)


def chosen_probe(samples: Sequence[float], probes: Sequence[ProbedRate]) -> int | None:
    """Index of the probed run that agrees with the samples and has a trusted clock, the nearest the ceiling
    where several do; None when none does."""
    ceiling = confirmed_best(samples)
    usable = [i for i, p in enumerate(probes) if p.clock_mhz and agrees(samples, p.gflops)]
    return min(usable, key=lambda i: abs(probes[i].gflops / ceiling - 1)) if usable else None


def likely_cause(evidence: Sequence[Evidence], probes: Sequence[ProbedRate]) -> str:
    """The most likely reason two measurements of one rate disagreed, from the run's own evidence."""
    windows = [e.window for e in evidence if e.window is not None]
    throttled = max((w.throttled or 0.0 for w in windows), default=0.0)
    if throttled >= THROTTLED_SHARE:
        return f"CPU quota: the cgroup's quota held the process {throttled:.0%} of the time in one batch"
    stolen = max((w.steal or 0.0 for w in windows), default=0.0)
    if stolen >= STEAL_SHARE:
        return f"steal: the hypervisor took {stolen:.0%} of the vCPUs' time in one batch"
    lowest = min([s for e in evidence for s in e.on_cpu] + [p.on_cpu for p in probes], default=1.0)
    other = max((w.other_work or 0.0 for w in windows), default=0.0)
    if lowest < CONTENDED_ON_CPU or other >= OTHER_WORK_SHARE:
        return (f"contention: other work on the measured cores (a measuring thread was on its CPU {lowest:.0%} of "
                f"a sample's time; other processes used up to {other:.0%} of the cores)")
    unknown = any(w.other_work is None for w in windows)  # a batch too short for /proc/stat (contention.py)
    return ("placement: the threads ran the whole time and the clock held, yet the FMA rate moved: the hypervisor "
            "placed the vCPUs on shared physical cores (SMT siblings) or moved them" +
            (" (other processes' share of a batch is unknown: too short to read)" if unknown else ""))


def spread(values: Sequence[float]) -> float:
    """(highest - lowest) / highest of the rates one ceiling was measured at."""
    top = max(values)
    return (top - min(values)) / top if top > 0 else 0.0


def stability_record(batches: Sequence[Sequence[float]], probes: Sequence[ProbedRate], chosen: int | None,
                     cause: str | None) -> dict:
    """The profile's ``compute.<precision>.stability``: consistent (``chosen`` is the probed run that agrees)
    or unstable, each batch's ceiling and each probed rate, their spread, and the likely cause of a
    disagreement (None when there was none)."""
    ceilings = [confirmed_best(batch) for batch in batches]
    rates = [p.gflops for p in probes]
    record = {"status": "consistent" if chosen is not None else "unstable", "rule": AGREEMENT_RULE,
              "rounds": len(batches), "headline_gflops": [round(c, 3) for c in ceilings],
              "probed_gflops": [round(r, 3) for r in rates], "spread": round(spread(ceilings + rates), 4)}
    if chosen is not None:
        record["probed_run"] = chosen
    if cause:
        record["cause"] = cause
    return record


__all__ = ["AGREEMENT_RULE", "Evidence", "ProbedRate", "agrees", "chosen_probe", "likely_cause", "stability_record"]
