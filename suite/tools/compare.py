"""Compare two profiles ceiling by ceiling: the throttling and regression gate.

A ceiling regressed when it dropped by more than the threshold *and* by more than the noise of the two
runs. A ceiling is its kernel's confirmed best (``stats.CEILING_RULE``: the K-th highest sample, about the
90th percentile), so its noise is the spread of the samples between it and their median, not of all of
them (one descheduled repetition must not widen the band, one lucky sample lies above the ceiling):
(ceiling - median) / ceiling, ``top_spread``. The two runs' spreads are combined in quadrature,
sqrt(s_baseline**2 + s_current**2), as for the difference of two independent quantities; a drop inside
that band is inside the recorded spread and is not a regression. Profiles written before the confirmed-best
rule (no ``ceiling`` in their kernel entries) still compare: the spread is computed from their samples, and
a note says that their ceilings are single best samples.

For compute ceilings the change is split into its two factors, since
    FLOP/s = cores (or SMs) x clock x FLOP per cycle,
so (1 + change) = (1 + clock change) x (1 + FLOP-per-cycle change): a drop carried by the clock is
throttling (power, heat, a lower boost state); a drop at an unchanged clock is something else (shared
FMA units, a different code path, a smaller core count).

Nothing here prints: ``compare_profiles`` returns a ``Comparison`` and the exporters at the bottom turn it
into text (table, markdown) or JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from ..errors import UsageError
from ..profile import Profile
from ..stats import CEILING_RULE, SPREAD_RULE, top_spread

DEFAULT_THRESHOLD = 0.05

REGRESSED = "REGRESSED"
WITHIN_NOISE = "within noise"
IMPROVED = "improved"
UNCHANGED = "ok"
MISSING = "missing"


@dataclass(frozen=True)
class Ceiling:
    """One comparable figure of a profile; larger is better for every one of them."""

    key: str  # compute.fp64, memory.dram, clock, sustained.fma_fp64
    unit: str
    value: float
    spread: float  # relative spread of the samples near ``value`` (see top_spread; 0 when unknown)
    clock_mhz: float | None = None
    flop_per_cycle: float | None = None


@dataclass(frozen=True)
class Row:
    key: str
    unit: str
    baseline: float | None
    current: float | None
    change: float | None  # relative: (current - baseline) / baseline
    noise: float | None  # relative change that the recorded spread explains
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


def _kernel_spread(data: dict, name: str | None) -> float:
    for kernel in data.get("kernels", []):
        if kernel.get("name") == name:
            samples = kernel.get("samples")
            if samples:
                return top_spread(samples)
            ceiling, median = kernel.get("ceiling"), kernel.get("median")
            if ceiling and median is not None:
                return max(0.0, (ceiling - median) / ceiling)
            # Without either, the cv of all the samples is the only (wider) estimate recorded.
            return float(kernel.get("cv") or 0.0)
    return 0.0


def headline_rule(data: dict) -> str:
    """How the profile chose its ceilings: its ``headline_rule``, or the single best sample (profiles written
    before the confirmed-best rule)."""
    return data.get("headline_rule") or "best: the single best sample of the kernel"


def ceilings_of(profile: Profile) -> dict[str, Ceiling]:
    """Every ceiling of a profile that two runs can be compared on, keyed like the profile's YAML."""
    data = profile.data
    found: dict[str, Ceiling] = {}
    for precision, entry in data["compute"].items():
        if entry.get("measured_gflops") is not None:
            found[f"compute.{precision}"] = Ceiling(
                f"compute.{precision}", "GFLOP/s", float(entry["measured_gflops"]),
                _kernel_spread(data, entry.get("kernel")), entry.get("clock_mhz"), entry.get("flop_per_cycle"))
    for level, entry in data["memory"].items():
        if entry.get("measured_gbps") is not None:
            found[f"memory.{level}"] = Ceiling(f"memory.{level}", "GB/s", float(entry["measured_gbps"]),
                                               _kernel_spread(data, entry.get("kernel")))
    clock = reference_clock_mhz(data)
    if clock is not None:
        found["clock"] = Ceiling("clock", "MHz", float(clock), 0.0)
    for name, entry in (data.get("sustained") or {}).get("kernels", {}).items():
        if entry.get("sustained") is not None:
            found[f"sustained.{name}"] = Ceiling(f"sustained.{name}", entry["unit"], float(entry["sustained"]),
                                                 float(entry.get("spread") or 0.0), entry.get("clock_sustained_mhz"))
    return found


def reference_clock_mhz(data: dict) -> float | None:
    """The clock ``compare`` tracks as its own row: the lowest clock over the non-tensor FMA ceilings.

    On CPUs that is ``clock.measured_mhz`` (the lowest under-load clock over precisions). On GPUs, profiles
    written before hwbench 0.2 put the lowest clock over *every* kernel there, i.e. whichever tensor GEMM the
    power cap hit hardest: two identical H100 runs then differed by 6.5%. Tensor ceilings still carry their
    own clock, and every compute drop is split against that ceiling's own clock (``_cause``)."""
    clocks = [float(entry["clock_mhz"]) for precision, entry in data.get("compute", {}).items()
              if not precision.startswith("tensor_") and isinstance(entry, dict) and entry.get("clock_mhz")]
    return min(clocks) if clocks else data.get("clock", {}).get("measured_mhz")


def _relative(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return (after - before) / before


def _cause(base: Ceiling, current: Ceiling, change: float, threshold: float) -> str:
    """Split a compute drop into its clock and FLOP-per-cycle factors."""
    clock = _relative(base.clock_mhz, current.clock_mhz)
    per_cycle = _relative(base.flop_per_cycle, current.flop_per_cycle)
    if clock is None:
        return ""
    parts = f"clock {clock:+.1%}" + (f", FLOP/cycle {per_cycle:+.1%}" if per_cycle is not None else "")
    if clock <= -threshold / 2 and (per_cycle is None or clock <= per_cycle):
        return f"throttling: {parts}"
    if per_cycle is not None and per_cycle < -threshold / 2:
        return f"not the clock: {parts}"
    return parts


def compare_row(base: Ceiling | None, current: Ceiling | None, threshold: float) -> Row:
    if base is None or current is None:
        present = base or current
        return Row(present.key, present.unit, base and base.value, current and current.value, None, None,
                   MISSING, "only in the baseline" if current is None else "only in the current profile")
    change = _relative(base.value, current.value)
    noise = math.hypot(base.spread, current.spread)
    if change is None:
        return Row(base.key, base.unit, base.value, current.value, None, noise, MISSING, "baseline is 0")
    if change <= -threshold:
        verdict = REGRESSED if -change > noise else WITHIN_NOISE
    elif change >= threshold and change > noise:
        verdict = IMPROVED
    else:
        verdict = UNCHANGED
    cause = ""
    if base.key.startswith("compute.") and verdict in (REGRESSED, WITHIN_NOISE, IMPROVED):
        cause = _cause(base, current, change, threshold)
    if verdict == WITHIN_NOISE:
        cause = ("inside the recorded spread; " + cause).rstrip("; ")
    return Row(base.key, base.unit, base.value, current.value, change, noise, verdict, cause)


def compare_profiles(baseline: Profile, current: Profile, threshold: float = DEFAULT_THRESHOLD,
                     force: bool = False) -> Comparison:
    """Every ceiling of ``baseline`` and ``current`` side by side; refuses two different devices unless
    ``force``."""
    base_device, current_device = baseline.data["device"], current.data["device"]
    same_device = (base_device["id"] == current_device["id"] and base_device.get("name") == current_device.get("name"))
    if not same_device and not force:
        raise UsageError(f"{baseline.source} is {base_device['id']} '{base_device.get('name')}' but "
                         f"{current.source} is {current_device['id']} '{current_device.get('name')}': profiles "
                         "of different devices are not comparable; add --force to compare them anyway")
    notes = []
    if not same_device:
        notes.append(f"different devices compared (--force): {base_device.get('name')} -> "
                     f"{current_device.get('name')}")
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
    before, after = ceilings_of(baseline), ceilings_of(current)
    keys = list(before) + [key for key in after if key not in before]
    rows = [compare_row(before.get(key), after.get(key), threshold) for key in keys]
    return Comparison(baseline.source, current.source, str(current_device["id"]), threshold, rows, notes)


# Exporters ----------------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if unit == "MHz" else f"{value:,.1f}"


def _pct(value: float | None, plus: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if plus else f"±{value:.1%}"


def table_rows(comparison: Comparison) -> list[list[str]]:
    header = ["ceiling", "unit", "baseline", "current", "change", "noise", "verdict", "cause"]
    body = [[r.key, r.unit, _fmt(r.baseline, r.unit), _fmt(r.current, r.unit), _pct(r.change),
             _pct(r.noise, plus=False), r.verdict, r.cause] for r in comparison.rows]
    return [header, *body]


def summary_line(comparison: Comparison) -> str:
    regressed = [r.key for r in comparison.rows if r.verdict == REGRESSED]
    if regressed:
        return (f"REGRESSION: {', '.join(regressed)} dropped more than {comparison.threshold:.0%} and more than "
                "the recorded noise")
    return f"no regression beyond {comparison.threshold:.0%} (and the recorded noise)"


def to_markdown(comparison: Comparison) -> str:
    header, *body = table_rows(comparison)
    lines = [f"**hwbench compare** `{comparison.baseline}` → `{comparison.current}` ({comparison.device}, "
             f"threshold {comparison.threshold:.0%})", "",
             "| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if i in (0, 1, 6, 7) else "---:" for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    lines += [""] + [f"- {note}" for note in comparison.notes] + ([""] if comparison.notes else [])
    lines.append(f"**{summary_line(comparison)}**")
    return "\n".join(lines) + "\n"


def to_json(comparison: Comparison) -> str:
    data = {"baseline": comparison.baseline, "current": comparison.current, "device": comparison.device,
            "threshold": comparison.threshold,
            "ceiling": CEILING_RULE,
            "noise": f"{SPREAD_RULE}, combined in quadrature",
            "regressed": comparison.regressed,
            "rows": [asdict(row) for row in comparison.rows], "notes": comparison.notes}
    return json.dumps(data, indent=2) + "\n"
