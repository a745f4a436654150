"""Run-to-run noise: how far each figure moves between runs of the same machine, from its stored profiles.

A profile's ``noise`` is within-run: how far the typical sample of one run sits below its ceiling. Between runs a
figure can move by more: on a 2-vCPU KVM guest, twenty back-to-back quiet ``--quick`` runs moved DRAM and L1
bandwidth by 7-9% and the clock under FMA load by 5-7% (the host's doing) while each run's own noise was smaller
(docs/gate.md). A gate that reads only within-run noise calls that a regression.

Given stored profiles of the same machine (``hwbench compare --history``), each figure's run-to-run noise is how
far a run of that machine in the baseline's state fell from the typical one, on the worse side:

    (median - lowest) / median     where higher is better (a ceiling)
    (highest - median) / median    where lower is better (a latency)

over the runs of the same device (id and name), the same run mode (``--quick`` or not) and thread count, in the
baseline's state (``population``): for a quiet baseline, the runs whose own evidence says they had the measured
cores (``quiet``: other processes used less than ``SHARED_RUN`` of them and no CPU quota held the run); for a
baseline measured while other processes shared the cores, every run no quota held. A quota-held run is never the
machine's noise. The model needs at least ``MIN_RUNS`` such runs; with fewer it says so and widens nothing. The two
profiles being compared are never part of their own history (a pair's change always lies inside a spread that
includes the pair).

compare then reads each figure's noise as the larger of its recorded noise and the run-to-run noise, and
combines the two sides in quadrature as before. It also reads each figure's typical value (its median over those
runs): when the baseline was better than that level, the current run is judged against the level instead (compare's
``_lucky_baseline``): a run back at the machine's typical level is no regression.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..profile import Profile, device_model
from ..profile.types import ProfileMapping
from .figures import Ceiling, figures_of

MIN_RUNS = 3  # runs of the device needed before their spread says anything about the next run
SHARED_RUN = 0.10  # other processes used this share of the measured cores: not a quiet run
QUOTA_HELD = 0.01  # a CPU quota held the run this share of its wall time: not a quiet run


@dataclass(frozen=True)
class RunToRun:
    """The run-to-run noise of each figure key (relative, on the worse side) and the runs it came from."""

    runs: int = 0  # runs of the device in the baseline's state read
    noise: dict[str, float] = field(default_factory=dict)
    skipped: int = 0  # runs of the device in another state (busy, or held by a quota)
    typical: dict[str, float] = field(default_factory=dict)  # each figure's median over those runs

    @property
    def usable(self) -> bool:
        return self.runs >= MIN_RUNS


def held(data: ProfileMapping) -> bool:
    """Whether a CPU quota held the run (``run.contention``): for ``QUOTA_HELD`` of its wall time or more, or it
    allowed fewer CPUs than the run's threads. Such a run is a planted or real change, never the machine's noise."""
    run = data.get("run") or {}
    found = run.get("contention") or {}
    limit = (found.get("cpu_limit") or {}).get("cpus")
    threads = run.get("threads")
    return (found.get("throttled") or 0.0) >= QUOTA_HELD or (limit is not None and bool(threads) and limit < threads)


def quiet(data: ProfileMapping) -> bool:
    """Whether a run had the measured cores by its own evidence (``run.contention``): other processes used less
    than ``SHARED_RUN`` of them and no CPU quota held it (``held``). A profile with no evidence recorded counts as
    quiet (nothing says otherwise)."""
    found = (data.get("run") or {}).get("contention") or {}
    return (found.get("other_work") or 0.0) < SHARED_RUN and not held(data)


def _same_kind(a: ProfileMapping, b: ProfileMapping) -> bool:
    """Same device (id and model: ``device_model``), same run mode and thread count: runs whose figures are one
    population."""
    da, db = a["device"], b["device"]
    ra, rb = a.get("run") or {}, b.get("run") or {}
    return (da.get("id") == db.get("id") and device_model(da) == device_model(db)
            and bool(ra.get("quick")) == bool(rb.get("quick")) and ra.get("threads") == rb.get("threads"))


def worse_side_spread(values: Sequence[float], direction: int) -> float:
    """How far the worst of ``values`` lies from their median, relative to it, on the worse side of
    ``direction`` (+1: lower is worse; -1: higher is worse); 0 for fewer than two values or a zero median."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    if middle == 0:
        return 0.0
    worst = min(values) if direction > 0 else max(values)
    return max(0.0, (middle - worst) / middle * direction)


def _same_profile(a: Profile, b: Profile) -> bool:
    """The same object, or the same file on disk (a profile loaded twice)."""
    if a is b:
        return True
    first, second = Path(a.source), Path(b.source)
    return first.is_file() and second.is_file() and first.resolve() == second.resolve()


def history_runs(history: Iterable[Profile], baseline: Profile, exclude: Sequence[Profile] = ()) -> tuple[
        list[Profile], int]:
    """The runs of ``history`` like ``baseline`` (same device, run mode and threads; ``population``), without
    ``exclude``, and how many of the same kind were left out."""
    same = [p for p in history if not any(_same_profile(p, e) for e in exclude) and _same_kind(p.data, baseline.data)]
    runs = [p for p in same if population(baseline.data)(p.data)]
    return runs, len(same) - len(runs)


def population(baseline: ProfileMapping) -> Callable[[ProfileMapping], bool]:
    """Which stored runs describe the state a baseline was measured in: a quiet baseline (``quiet``) is judged by
    quiet runs only (a busy run's spread would hide a real change, e.g. a busy loop on the measured cores, which the
    run's own evidence names); a baseline measured while other processes shared the cores, by every run no quota
    held (``held``): the runs of that shared state."""
    return quiet if quiet(baseline) else (lambda data: not held(data))


def model_of(figures: Sequence[dict[str, Ceiling]], skipped: int = 0) -> RunToRun:
    """The run-to-run noise of each figure key over the figures of quiet runs (one dict per run)."""
    values: dict[str, list[float]] = {}
    directions: dict[str, int] = {}
    for run in figures:
        for key, figure in run.items():
            values.setdefault(key, []).append(figure.value)
            directions[key] = figure.direction
    noise = {key: worse_side_spread(found, directions[key]) for key, found in values.items()
             if len(found) >= MIN_RUNS}
    typical = {key: statistics.median(found) for key, found in values.items() if len(found) >= MIN_RUNS}
    return RunToRun(len(figures), noise, skipped, typical)


def run_to_run(history: Iterable[Profile], baseline: Profile, current: Profile) -> RunToRun:
    """The run-to-run noise of each figure over ``history``: its runs like ``baseline`` (``history_runs``), without
    the pair compared (``baseline``, ``current``)."""
    runs, skipped = history_runs(history, baseline, exclude=(baseline, current))
    return model_of([figures_of(p) for p in runs], skipped)


def widened(figures: dict[str, Ceiling], model: RunToRun) -> dict[str, Ceiling]:
    """``figures`` with each one's run-to-run noise and typical value from ``model`` (none when the model has too
    few runs)."""
    if not model.usable:
        return figures
    return {key: replace(figure, run_to_run=model.noise[key], typical=model.typical.get(key)) if key in model.noise
            else figure for key, figure in figures.items()}


def history_note(model: RunToRun, given: int) -> str:
    """What compare's notes say about the run-to-run noise it used."""
    if model.usable:
        return (f"run-to-run noise from {model.runs} stored runs of this device in the baseline's state (--history): "
                "each figure's noise is the larger of its recorded noise and how far those runs fell from their median"
                + (f"; {model.skipped} runs in another state (busy, or held by a quota) left out" if model.skipped
                   else ""))
    return (f"--history: {model.runs} runs of this device in the baseline's state among {given} profiles (at least "
            f"{MIN_RUNS} are needed" + (f"; {model.skipped} runs in another state left out" if model.skipped else "")
            + "): the recorded noise only")


__all__ = ["MIN_RUNS", "QUOTA_HELD", "RunToRun", "SHARED_RUN", "held", "history_note", "history_runs", "model_of",
           "population", "quiet",
           "run_to_run", "widened", "worse_side_spread"]
