"""Compare two profiles figure by figure: the throttling and regression gate.

Figures. Each row source (``ROW_SOURCES``) turns a profile into ``Ceiling`` figures: a key, a unit, a value,
its noise, and a direction (+1: higher is better, as every ceiling; -1: lower is better, as a latency). A new
kind of figure is gated by adding a source that yields it with its direction; the verdict does not change.

Noise. A ceiling is its kernel's confirmed best (``stats.CEILING_RULE``: the K-th highest sample), so its noise
is how far the typical sample sits below it, (ceiling - median) / ceiling (``top_spread``), written into
the profile as each figure's ``noise`` (cache levels: over the plateau's points; FMA ceilings: over the samples whose
threads stayed on their CPUs). Profiles without it fall back to the kernel's samples. The two runs' noises are
combined in quadrature, sqrt(n_baseline**2 + n_current**2), as for the difference of two independent
quantities. That noise is within one run; given stored profiles of the same machine (``history``: ``compare
--history``), each figure's noise is the larger of it and the figure's run-to-run noise over them (``noise.py``:
how far the machine's quiet runs fell from their median; the pair compared is left out).

Verdict. A change smaller than the threshold is ``ok``. A change for the worse is ``REGRESSED`` only when it
exceeds the threshold, the combined noise, and neither side's figure is ``unstable`` (an FMA ceiling whose
headline and probed run disagreed, cpu/stability.py); otherwise it is ``inconclusive``: shown, and failing the
gate only under ``--strict``. A change for the better beyond the threshold and the noise is ``improved``.

Causes, only where they add up (``explain``): the CPU quota when the current run's cgroup quota is tighter
and held it; contention or steal when the run's own evidence (threads off their CPUs, other processes on the
measured cores, time stolen by the hypervisor) explains most of the change; for compute ceilings, whose
    FLOP/s = cores x clock x FLOP per cycle,
the clock when its change explains most of it (a drop is then throttling, unless the hypervisor stole time from
the vCPUs in either run and no run-to-run history covers the figure: then placement/contention, inconclusive, since
a guest cannot tell its host's load from throttling), FLOP per cycle when that does
(placement on shared FMA units, another code path); otherwise "unexplained". "Most" is at least half of the
change, in its direction. An improvement is never called throttling. An unexplained drop of a figure with no
evidence of its own (or of a level the cores share: L3, DRAM), measured while other processes used a tenth or
more of the measured cores, is inconclusive: the run cannot separate their load from a real change. So is a drop
the clock does not explain when the hypervisor stole most of it from the current run (``_host_steal``: other guests
on the same physical cores), and, with ``--history``, a drop from a baseline better than the machine's typical level
to a current run inside the noise of that level (``_lucky_baseline``). The latency and instruction-peak rows are
advisory: without ``--history`` a worse one fails only with ``--strict``; with it, only on a cause that names a
throttle (``THROTTLE_CAUSES``: the clock, a CPU quota, contention; a latency row has no clock of its own, so for it
only the last two).

The figures come from ``figures.py``. Nothing here prints: ``compare_profiles`` returns a ``Comparison``,
``comparison_document`` its rows, notes and summary, and the shared exporters (``export.py``) write them as a
table, Markdown or JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ..errors import UsageError
from ..profile import Profile, device_model
from ..profile.types import ProfileMapping
from ..stats import CEILING_RULE, SPREAD_RULE, top_spread
from .export import Document, Lines, Table, cells, figure_columns
from .figures import ROW_SOURCES, Ceiling, Evidence, ceilings_of, figures_of, reference_clock_mhz
from .noise import SHARED_RUN, RunToRun, history_note, run_to_run, widened

DEFAULT_THRESHOLD = 0.05
EXPLAINS = 0.5  # a factor explains a change when it moved at least this share of it, the same way
# SHARED_RUN (noise.py): other processes used this share of the measured cores: an unexplained drop is inconclusive
HOST_STEAL = 0.001  # time stolen from the vCPUs: above /proc/stat's 10 ms tick over a 10 s run on 2 vCPUs (0.05%)
SHARED_LEVELS = ("memory.l3", "memory.dram")  # levels the cores share (and other programs' traffic with them)

REGRESSED = "REGRESSED"
INCONCLUSIVE = "inconclusive"
IMPROVED = "improved"
UNCHANGED = "ok"
MISSING = "missing"


@dataclass(frozen=True)
class Row:
    key: str
    unit: str
    baseline: float | None
    current: float | None
    change: float | None  # relative: (current - baseline) / baseline
    noise: float | None  # relative change that the recorded noise explains
    verdict: str
    cause: str = ""


@dataclass(frozen=True)
class Comparison:
    baseline: str
    current: str
    device: str
    threshold: float
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return any(row.verdict == REGRESSED for row in self.rows)

    @property
    def inconclusive(self) -> bool:
        return any(row.verdict == INCONCLUSIVE for row in self.rows)

    def failed(self, strict: bool = False) -> bool:
        """Whether the gate fails: a regression, or under ``strict`` also an inconclusive row."""
        return self.regressed or (strict and self.inconclusive)


def parse_threshold(text: str) -> float:
    """'5%' or '5' -> 0.05; a fraction below 1 ('0.05') is taken as is."""
    raw = text.strip().removesuffix("%")
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--threshold {text!r} is not a number; give a percentage such as 5%") from None
    if text.strip().endswith("%") or value >= 1:
        value /= 100
    if not 0 < value < 1 or math.isnan(value):
        raise UsageError(f"--threshold {text!r} must be between 0% and 100%, e.g. 5%")
    return value


def headline_rule(data: ProfileMapping) -> str:
    """How the profile chose its ceilings: its ``headline_rule``, or the single best sample (profiles written
    before the confirmed-best rule)."""
    return data.get("headline_rule") or "best: the single best sample of the kernel"


# Verdict and cause ---------------------------------------------------------------------------------------


def _relative(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return (after - before) / before


def _explains(factor: float | None, change: float) -> bool:
    """Whether a factor's relative change carries most of ``change`` (same sign, at least ``EXPLAINS`` of it)."""
    return factor is not None and factor * change > 0 and abs(factor) >= EXPLAINS * abs(change)


def _available(evidence: Evidence) -> float | None:
    """The share of the measured cores the run had, by its evidence (None: none recorded)."""
    if evidence.on_cpu is not None:
        return evidence.on_cpu
    shares = [s for s in (evidence.other_work, evidence.steal, evidence.throttled) if s is not None]
    return max(0.0, 1.0 - sum(shares)) if shares else None


def _evidence_cause(base: Evidence, current: Evidence, change: float) -> str | None:
    """Quota, steal or contention, when the current run's evidence explains most of ``change`` (signed so that a
    negative change is worse, whatever the figure's direction)."""
    if current.quota_cpus is not None and (base.quota_cpus is None or current.quota_cpus < base.quota_cpus) \
            and change < 0 and (current.throttled or 0.0) > 0.01:
        return (f"CPU quota: {current.quota_source} ({current.quota_cpus:g} CPUs) held the run "
                f"{current.throttled:.0%} of the time")
    if base.quota_cpus is not None and current.quota_cpus is None and change > 0:
        return f"CPU quota lifted (the baseline's: {base.quota_source})"
    before, after = _available(base), _available(current)
    expected = _relative(before, after)
    if not _explains(expected, change):
        return None
    if current.on_cpu is not None and base.on_cpu is not None:
        return (f"contention: the measuring threads were on their CPUs {after:.0%} of the time at the ceiling "
                f"(baseline {before:.0%})")
    sign = -1.0 if change < 0 else 1.0  # the evidence that grew (for a drop) or shrank (for a rise) is the cause
    stolen = ((current.steal or 0.0) - (base.steal or 0.0)) * -sign
    if stolen > max(0.0, ((current.other_work or 0.0) - (base.other_work or 0.0)) * -sign):
        return (f"steal: the hypervisor took {current.steal or 0.0:.0%} of the vCPUs' time (baseline "
                f"{base.steal or 0.0:.0%}): placement of the vCPUs")
    return (f"contention: other processes used {current.other_work or 0.0:.0%} of the measured cores (baseline "
            f"{base.other_work or 0.0:.0%})")


def explain(base: Ceiling, current: Ceiling, change: float) -> str:
    """The cause of a change beyond the threshold, only where it adds up (module docstring)."""
    if base.key == "cpu_quota":
        return (f"CPU quota: {current.evidence.quota_source}" if change < 0 else
                f"CPU quota lifted (the baseline's: {base.evidence.quota_source})")
    if base.key == "clock":  # a frequency: the chains' rounds a thread was descheduled in are dropped (clock.py)
        return "the clock under FMA load fell (throttling)" if change < 0 else "the clock under FMA load rose"
    found = _evidence_cause(base.evidence, current.evidence, change * base.direction)
    if found:
        return found
    clock = _relative(base.clock_mhz, current.clock_mhz)
    per_cycle = _relative(base.flop_per_cycle, current.flop_per_cycle)
    if _explains(clock, change):
        return f"clock: {clock:+.1%}" + (" (throttling)" if change < 0 else "") + (
            f"; FLOP/cycle {per_cycle:+.1%}" if per_cycle is not None else "")
    if _explains(per_cycle, change):
        return f"per-cycle: FLOP/cycle {per_cycle:+.1%} at clock {clock or 0.0:+.1%}" + (
            " (shared FMA units: placement of the vCPUs, or another code path)" if change < 0 else "")
    parts = ", ".join(f"{name} {value:+.1%}" for name, value in (("clock", clock), ("FLOP/cycle", per_cycle))
                      if value is not None)
    return "unexplained" + (f": {parts}" if parts else "")


def _shared_machine(base: Ceiling, current: Ceiling) -> str | None:
    """Why an unexplained drop cannot be told from other work: a figure with no evidence of its own (no on-CPU
    share of its samples) or of a level the cores share (L3, DRAM: other processes' memory traffic slows it
    with the measuring threads on their CPUs), from runs in which other processes used a share of the measured
    cores of at least ``SHARED_RUN``. None when the runs had the cores to themselves."""
    own = base.evidence.on_cpu is not None and not base.key.startswith(SHARED_LEVELS)
    busy = [e.other_work or 0.0 for e in (base.evidence, current.evidence)]
    if own or max(busy) < SHARED_RUN:
        return None
    return (f"cannot tell: other processes used {busy[0]:.0%} and {busy[1]:.0%} of the measured cores during the "
            "runs, and this figure has no evidence of its own to separate their load from a real change")


def _host_shared(base: Ceiling, current: Ceiling) -> str | None:
    """Why a clock drop may be the host's placement or its other load rather than throttling: time stolen from the
    vCPUs by the hypervisor in either run (its other guests ran on these physical cores: host contention, which
    moves a shared host's clock through its turbo budget), when no run-to-run history of this machine covers the
    figure. A guest cannot see its host's clock policy: a busier host and a throttled one look the same from
    inside one pair of runs. Other processes in the guest are no such evidence: the clock is a frequency, its
    chains' descheduled rounds are dropped (clock.py). None when there is no steal, or when the history covers
    the figure (then a drop beyond this machine's run-to-run noise stands as a regression)."""
    if base.run_to_run is not None and current.run_to_run is not None:
        return None
    steal = [e.steal or 0.0 for e in (base.evidence, current.evidence)]
    if max(steal) < HOST_STEAL:
        return None
    return (f"placement/contention: the hypervisor took {steal[0]:.1%} and {steal[1]:.1%} of the vCPUs' time in the "
            "two runs (the host ran other work on their cores): a guest cannot tell its host's load or placement "
            "from throttling without this machine's run-to-run noise (--history)")


def _host_steal(base: Ceiling, current: Ceiling, worse: float) -> str | None:
    """Why a drop that the clock does not explain may be the host's other guests: the hypervisor stole from the
    current run's vCPUs at least ``EXPLAINS`` of the drop more of their time than from the baseline's. A guest's
    stolen time is its host running other work on the same physical cores, whose SMT siblings then share the FMA
    units, the load and store ports and the private caches with the measuring threads: per-cycle rates fall with
    no change of the machine (on the 2-vCPU Zen 5 guest, a quiet run with 10.6% steal measured FLOP/cycle 7.7%
    below the previous run's, docs/gate.md). None when the steal does not explain the drop."""
    stolen = (current.evidence.steal or 0.0) - (base.evidence.steal or 0.0)
    if worse <= 0 or stolen < EXPLAINS * worse:
        return None
    return (f"host steal: the hypervisor took {current.evidence.steal or 0.0:.1%} of the vCPUs' time "
            f"(baseline {base.evidence.steal or 0.0:.1%}): its other guests shared these physical cores")


def _lucky_baseline(base: Ceiling, current: Ceiling, threshold: float) -> str | None:
    """Why a drop is no regression of the machine: with ``--history`` the reference is the lower of the baseline and
    the machine's typical level (the figure's median over the stored quiet runs), and the current run is not worse
    than that level beyond both the threshold and its own noise. A gate asks whether the machine got worse than it
    normally is, not whether one run better than usual was repeated (on the 2-vCPU Zen 5 guest, 3 of 20 quiet runs
    measured L1 at 170-173 bytes/cycle/core, the other 17 at 116-135: docs/gate.md). None without history, when the
    baseline was not better than the typical level, or when the current run is worse than that level too."""
    typical = current.typical if current.typical is not None else base.typical
    if typical is None or typical == 0:
        return None
    above = (base.value - typical) / typical * base.direction
    below = -(current.value - typical) / typical * base.direction
    if above <= 0 or (below > threshold and below > current.noise):
        return None
    return (f"the baseline was {above:.1%} better than this machine's typical {typical:,.4g} {base.unit} (median of "
            f"its stored quiet runs, --history); the current is {-below:+.1%} from that level, inside the threshold "
            f"or its noise (±{current.noise:.1%})")


# Advisory rows: the latencies and the instruction peaks (figures.py). They carry only within-run noise in a profile,
# which understates how far they move between runs of a VM: without --history their drops are shown and fail only
# with --strict (on the 2-vCPU Zen 5 guest, 20 back-to-back quiet runs moved them beyond their within-run noise in 9
# of 19 pairs: docs/gate.md). With --history, they fail the gate only on a cause that names a throttle (the clock,
# a CPU quota, other processes on the measured cores): they move with the host in ways the throttling figures do
# not (the L3 latency read 12-109 ns across 20 quiet runs as other guests took the shared L3; the L1 latency in ns
# follows the probe's clock; the GEMM's FLOP per cycle its placement); a clock throttle shows in the clock row and
# the FMA ceilings, and a CPU quota in the cpu_quota row, which always gate.
ADVISORY = "advisory row (its noise is within-run only; --history gives its run-to-run noise): fails only with --strict"
ADVISORY_CAUSE = ("advisory row: it fails the gate only on a cause that names a throttle (clock, CPU quota, "
                  "contention), or with --strict")
THROTTLE_CAUSES = ("clock:", "CPU quota", "contention:")


def _clock_cause(base: Ceiling, cause: str) -> bool:
    """Whether a change was put down to the clock: the clock row itself, or a ceiling its clock explains."""
    return base.key == "clock" or cause.startswith("clock:")


def compare_row(base: Ceiling | None, current: Ceiling | None, threshold: float) -> Row:
    if base is None or current is None:
        present = base if base is not None else current
        if present is None:
            raise ValueError("compare_row needs a ceiling in at least one of the two profiles")
        return Row(present.key, present.unit, base.value if base is not None else None,
                   current.value if current is not None else None, None, None,
                   MISSING, "only in the baseline" if current is None else "only in the current profile")
    change = _relative(base.value, current.value)
    noise = math.hypot(base.noise, current.noise)
    widened_by = base.noise > base.spread or current.noise > current.spread  # the run-to-run noise counted
    if change is None:
        return Row(base.key, base.unit, base.value, current.value, None, noise, MISSING, "baseline is 0")
    worse = -change * base.direction  # > 0: the figure got worse
    unstable = "; ".join(f"{side} {c.unstable}" for side, c in (("baseline", base), ("current", current))
                         if c.unstable)
    if abs(change) < threshold:
        verdict, cause = UNCHANGED, ""
    elif abs(change) <= noise:
        verdict, cause = (INCONCLUSIVE if worse > 0 else UNCHANGED), (
            f"inside this machine's run-to-run noise (±{noise:.1%}, --history)" if widened_by
            else f"inside the recorded noise (±{noise:.1%})")
    elif unstable:
        verdict, cause = (INCONCLUSIVE if worse > 0 else UNCHANGED), unstable
    else:
        verdict, cause = (REGRESSED if worse > 0 else IMPROVED), explain(base, current, change)
        shared = _shared_machine(base, current)
        host = _host_shared(base, current) if verdict == REGRESSED and _clock_cause(base, cause) else None
        stolen = _host_steal(base, current, worse) if cause.startswith(("per-cycle", "unexplained", "steal:")) \
            else None
        lucky = _lucky_baseline(base, current, threshold) if verdict == REGRESSED else None
        if verdict == REGRESSED and cause.startswith("unexplained") and shared:
            verdict, cause = INCONCLUSIVE, f"{cause}; {shared}"
        elif verdict == REGRESSED and lucky:
            verdict, cause = INCONCLUSIVE, f"{cause}; {lucky}"
        elif verdict == REGRESSED and stolen:
            verdict, cause = INCONCLUSIVE, f"{stolen} ({cause})"
        elif host:
            verdict, cause = INCONCLUSIVE, f"{host} ({cause})"
        elif verdict == REGRESSED and (base.within_run_only or current.within_run_only):
            verdict, cause = INCONCLUSIVE, f"{cause}; {ADVISORY}"
        elif verdict == REGRESSED and base.advisory and not cause.startswith(THROTTLE_CAUSES):
            verdict, cause = INCONCLUSIVE, f"{cause}; {ADVISORY_CAUSE}"
    return Row(base.key, base.unit, base.value, current.value, change, noise, verdict, cause)


def compare_profiles(baseline: Profile, current: Profile, threshold: float = DEFAULT_THRESHOLD,
                     force: bool = False, history: Sequence[Profile] | None = None) -> Comparison:
    """Every figure of ``baseline`` and ``current`` side by side; refuses two different devices unless
    ``force``. With ``history`` (stored profiles of the same machine), each figure's noise is widened by its
    run-to-run noise over them (noise.py; the pair itself is left out)."""
    base_device, current_device = baseline.data["device"], current.data["device"]
    base_model, current_model = device_model(base_device), device_model(current_device)
    same_device = base_device["id"] == current_device["id"] and base_model == current_model
    if not same_device and not force:
        raise UsageError(f"{baseline.source} is {base_device['id']} '{base_model}' but {current.source} is "
                         f"{current_device['id']} '{current_model}': profiles of different devices are not "
                         "comparable; add --force to compare them anyway")
    notes = []
    if not same_device:
        notes.append(f"different devices compared (--force): {base_model} -> {current_model}")
    base_quick, current_quick = baseline.data["run"].get("quick"), current.data["run"].get("quick")
    if base_quick != current_quick:
        notes.append("one profile is a --quick run and the other is not: fewer repetitions usually give a "
                     "lower best; compare runs made the same way")
    base_threads, current_threads = baseline.data["run"].get("threads"), current.data["run"].get("threads")
    if base_threads != current_threads:
        notes.append(f"measured with {base_threads} and {current_threads} threads: ceilings scale with them")
    if headline_rule(baseline.data).split(";")[0] != headline_rule(current.data).split(";")[0]:
        notes.append("the two profiles chose their ceilings by different rules (headline_rule): a profile written "
                     "before the confirmed-best rule has single best samples as ceilings, usually higher on a "
                     "noisy machine; compare runs made by the same hwbench")
    before, after = figures_of(baseline), figures_of(current)
    if history is not None:
        model: RunToRun = run_to_run(history, baseline, current)
        notes.append(history_note(model, len(history)))
        before, after = widened(before, model), widened(after, model)
    keys = list(before) + [key for key in after if key not in before]
    rows = [compare_row(before.get(key), after.get(key), threshold) for key in keys]
    return Comparison(baseline.source, current.source, str(current_device["id"]), threshold, rows, notes)


# The report's rows ------------------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if unit == "MHz" else f"{value:,.1f}"


def _pct(value: float | None, plus: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if plus else f"±{value:.1%}"


COLUMNS = figure_columns("ceiling", "unit", "baseline", "current", "change", "noise", "verdict", "cause",
                         words=("ceiling", "unit", "verdict", "cause"))
VERDICT_STYLES = {REGRESSED: "bold red", INCONCLUSIVE: "yellow"}


def summary_line(comparison: Comparison) -> str:
    regressed = [r.key for r in comparison.rows if r.verdict == REGRESSED]
    unsure = [r.key for r in comparison.rows if r.verdict == INCONCLUSIVE]
    later = (f"; inconclusive (worse, but inside the noise or unstable; fails only with --strict): "
             f"{', '.join(unsure)}" if unsure else "")
    if regressed:
        return (f"REGRESSION: {', '.join(regressed)} got worse by more than {comparison.threshold:.0%} and more than "
                f"the recorded noise{later}")
    return f"no regression beyond {comparison.threshold:.0%} (and the recorded noise){later}"


def comparison_document(comparison: Comparison) -> Document:
    """The comparison for the exporters (``export.py``): one row per figure, the notes, the summary line; its JSON
    is the rows as computed (numbers, not the formatted cells)."""
    rows = tuple(cells(r.key, r.unit, _fmt(r.baseline, r.unit), _fmt(r.current, r.unit), _pct(r.change),
                       _pct(r.noise, plus=False), r.verdict, r.cause, style=VERDICT_STYLES.get(r.verdict, ""))
                 for r in comparison.rows)
    threshold = f"{comparison.device}, threshold {comparison.threshold:.0%}"
    data = {"baseline": comparison.baseline, "current": comparison.current, "device": comparison.device,
            "threshold": comparison.threshold,
            "ceiling": CEILING_RULE,
            "noise": f"{SPREAD_RULE} (each figure's recorded noise), combined in quadrature",
            "regressed": comparison.regressed, "inconclusive": comparison.inconclusive,
            "rows": [asdict(row) for row in comparison.rows], "notes": comparison.notes}
    return Document(f"**hwbench compare** `{comparison.baseline}` → `{comparison.current}` ({threshold})",
                    (Table(f"{comparison.baseline} -> {comparison.current} ({threshold})", COLUMNS, rows),
                     Lines(tuple(comparison.notes), prefix="note: ")),
                    summary_line(comparison), data)


__all__ = ["Comparison", "Ceiling", "Evidence", "INCONCLUSIVE", "IMPROVED", "REGRESSED", "ROW_SOURCES", "Row",
           "UNCHANGED", "ceilings_of", "compare_profiles", "compare_row", "comparison_document", "figures_of",
           "parse_threshold", "reference_clock_mhz", "top_spread"]
