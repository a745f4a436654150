"""``hwbench validate``'s arithmetic: how much work each real workload does, what the roofline predicts for it,
how far off that is, and whether the calibrated roofline predicts better than the theoretical one.

Nothing here runs a workload (``hwbench.workloads`` does, and hands over ``WorkloadRun`` records); everything
here is a pure function of those records and a ``Profile``, so it is tested on hand-made timings.

The model (Williams, Waterman and Patterson, "Roofline", CACM 52(4), 2009): a kernel of F FLOPs moving B bytes
needs at least max(F / peak, B / bandwidth) seconds. Each workload is predicted by two rooflines from the same
profile, each with the compute roof of what the workload executes (``WorkloadRun.roof``: FMA, add, multiply,
scalar add, or the library's GEMM; Intel Advisor's and ERT's practice):

* calibrated, read twice, each time like with like. Its *prediction* uses the typical figures: the median of
  that roof's kernel (``Profile.compute_roof(..., "typical")``) and, at ``<level>``, the median of the kernel whose
  share of written bytes is nearest the workload's (``Profile.memory_roof(..., "median")``); it is set against the
  workload's median time. Its *bound* uses the ceilings: the roof's confirmed best and, at ``<level>``, the fastest
  kernel's ceiling whatever its mix; the workload's confirmed-best time (``WorkloadRun.best_seconds``, the K-th
  fastest sample, ``stats.CEILING_RULE``) must not beat it;
* theoretical (paper): that roof's paper figure at the nominal clock (what a datasheet gives) and
  ``memory.<level>.theoretical_gbps``, one figure each, for the prediction and the bound. Where the profile has no
  DRAM bandwidth (a VM hides its SMBIOS tables), the prediction is still made when the workload is compute-bound
  even at the fastest *measured* DRAM bandwidth: DRAM's paper figure (channels x transfer rate x width) does not
  depend on the core clock, so it is never below a measured rate and could only shorten the memory term, which is
  not the maximum. Otherwise, and at a cache level without a paper figure (a cache's paper figure scales with the
  clock, and at a VM's nominal one can sit below what is measured), the paper roofline gives that workload no
  bound (``theoretical: null``);
* the paper figures at the measured clock are reported beside them, outside the verdict.

A roofline is an upper bound, so the verdict first counts the workloads that beat its bound beyond the measured
noise (violations) or that it cannot bound, then compares the median |error| of its predictions (``summarize``).

error = 100 x (median time - predicted) / predicted seconds: positive when the workload ran slower than predicted.

Beside the verdict, never in it: the prediction at the host's state while each CPU program ran
(``prediction_at_host_state``, from the DRAM roof kernels ``hwbench.workloads.host_state`` timed just before it
and the cores' clock probed just before it, ``hwbench.cpu.clock_now``).

Why two readings. A ceiling is what the machine reached in its good moments (STREAM and BabelStream report each
kernel's best time for that reason), so it is the bound, and a program's good moments are what must not beat it.
But a confirmed best is a poor predictor on a host whose DRAM moves between two states: on the 2-vCPU Zen 5 KVM
guest, from 1% to 15% of 2-thread np.add and copy calls ran above 55 GB/s while their medians stayed at 35-42
(scripts/dram_states.py, 2026-12-02; results/dram-states/). Where that share is near 10%, the 10% quantile the
ceiling rule reads sits on the boundary between the states: one kernel's ceiling lands in the fast state and the
next one's, or the program's, in the slow one, and the memory-bound median |error| moved between 15% and 51% over
six runs on two profiles of the same code (docs/validation.md, "Two readings of one profile"). The medians sit far
from that boundary, and the program's median time is what a user's run takes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..profile import Profile
from ..profile.model import MemoryRoof
from ..stats import rounded
from ..version import __version__
from ..workloads.result import LATENCY_KINDS, WorkloadRun
from .validate_latency import latency_bound
from .workload_counts import Counts, byte_convention, counts

REPORT_VERSION = 6  # ``hwbench_validation`` in the report file (format: docs/validation.md, "The report")
CACHE_LEVELS = ("l1", "l2", "l3")  # nearest first; a working set that fits none is predicted with dram

# A workload predicted to take less than this is not one a roofline should be expected to predict: its fixed
# costs per call are a sizeable share of it, and a library does not reach its steady state. CPU: a NumPy call
# into OpenBLAS costs about 3 us even for an 8 x 8 matmul, and a 64 x 64 one (5.5 us predicted) took 19-23 us
# (2 threads, the CI machine, 2026-11-23). A 256 x 256 matmul (0.35 ms predicted) is kept: on that machine,
# when it was quiet (load average 0.6), it ran at 62-70 GFLOP/s, where 1024 and 2048 ran at 61-71. GPU: a
# launch costs 3-10 us (CUDA launch latency) and cuBLAS picks its kernel per call; 100 us keeps that under
# 10% (an assumption, awaiting a GPU).
MIN_PREDICTABLE_SECONDS = {"cpu": 1e-4, "gpu": 1e-4}


def memory_level(profile: Profile, working_set_bytes: int) -> str:
    """The nearest memory level that holds the working set: a level the profile measured, whose plateau's
    largest working set (``memory.<level>.working_set_bytes``) or, failing that, whose cache size
    (``device.caches``, per core x ``run.threads`` for the private L1 and L2 of a CPU) is at least as large."""
    memory, device = profile.data["memory"], profile.data["device"]
    caches = device.get("caches") or {}
    threads = (profile.data.get("run") or {}).get("threads") or 1
    gpu = profile.device_id.startswith("cuda")
    for level in CACHE_LEVELS:
        entry = memory.get(level)
        if not entry or entry.get("measured_gbps") is None:
            continue
        plateau = entry.get("working_set_bytes")
        capacity: float | None
        if isinstance(plateau, list) and len(plateau) == 2:
            capacity = plateau[1]
        elif level == "l3":
            capacity = device.get("l3_total_bytes") or caches.get("l3")
        else:
            size = caches.get("l1d" if level == "l1" else level)
            capacity = size if gpu or size is None else size * threads
        if isinstance(capacity, (int, float)) and working_set_bytes <= capacity:
            return level
    return "dram"


ROOFLINES = ("calibrated", "theoretical", "theoretical_at_measured_clock")
VERDICT_ROOFLINES = ("calibrated", "theoretical")  # the paper figures at the measured clock are shown beside them
# What a calibrated roof is read for (predict_with): the typical time (medians) or the bound (ceilings).
PURPOSES = ("prediction", "bound")
# Pass medians of a memory roof kernel this far apart (max / min) get a note: twice the 10% the memory-bound
# predictions are asked to meet (docs/validation.md), so the profile's median alone can miss by more than that.
PASS_SPREAD = 1.2
# The clock probed beside the programs this far from the profile's gets a note. The profile's own clock readings
# spread by 0.9-3.9% (clock.noise) in the six profiles of the Zen 5 CI guest of 2026-12-02/03, so 3% is past the
# probe's own noise in most of them: a hint to read host_state, not a verdict.
CLOCK_MOVED = 0.03
# The violation test's floor: a workload faster than its roof by less than this is within the clock's and the
# timer's granularity (as the profile builder's LIMIT_TOLERANCE), whatever its samples' spread.
MIN_NOISE = 0.01
# Why a workload is kept out of the verdict: the only reasons there are, fixed before anything is measured.
EXCLUSION_REASONS = {
    "too_short": "predicted under the floor below which a call's fixed costs are a sizeable share "
                 "(MIN_PREDICTABLE_SECONDS)",
    "own_code": "its calibrated compute roof was measured with its own code (a library's GEMM predicting the same "
                "library's matmul): fitting on the test set",
    "no_matching_roof": "the profile lacks the compute roof of what it executes (run 'hwbench run' with the mix "
                        "kernels)",
}


@dataclass(frozen=True)
class Prediction:
    """One roofline's prediction of one workload: seconds (None: this roofline cannot predict it), which term
    bounds it, the roofs used and where they come from, the roof's own noise, and why a figure is missing."""

    seconds: float | None
    limited_by: str | None  # "compute" or "memory": which term of the max is the larger
    compute_gflops: float | None = None
    compute_source: str | None = None
    memory_gbps: float | None = None
    memory_source: str | None = None
    roof_noise: float | None = None  # relative noise of the bounding roof (its samples' cv), None for paper figures
    note: str | None = None
    memory_median_of: str | None = None  # the kernel whose median is the calibrated memory roof, else None


def _paper_bandwidth(profile: Profile, level: str, roofline: str) -> float | None:
    entry: Mapping[str, Any] = profile.data["memory"].get(level) or {}
    key = "theoretical_at_measured_clock_gbps" if roofline == "theoretical_at_measured_clock" else "theoretical_gbps"
    value = entry.get(key)
    if value is None and key != "theoretical_gbps":
        value = entry.get("theoretical_gbps")  # DRAM's paper figure does not scale with the core clock
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def predict_with(profile: Profile, run: WorkloadRun, work: Counts, level: str, roofline: str,
                 purpose: str = "prediction") -> Prediction:
    """max(F / peak, B / bandwidth) with ``roofline``'s roofs (module docstring): the compute roof of what the
    workload executes (``run.roof``) and a memory roof at ``level``; paper, the level's paper bandwidth, or none (then
    the prediction stands only for a workload at DRAM compute-bound even at the fastest measured bandwidth).

    ``purpose`` (calibrated only; a paper roofline has one figure per roof): ``prediction``, the typical figures
    (each roof kernel's median; at ``level`` the kernel nearest the workload's read/write mix), set against the
    workload's median time; ``bound``, the ceilings (each roof's confirmed best; at ``level`` the fastest kernel of
    any mix), which the workload's confirmed-best time must not beat."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    convention = byte_convention(run.device, level)
    moved = work.bytes_moved(convention)
    which = ("typical" if purpose == "prediction" else "measured") if roofline == "calibrated" else roofline
    compute = profile.compute_roof(run.roof, run.precision, which)
    if compute is None:
        return Prediction(None, None, note=f"no {'measured' if roofline == 'calibrated' else which.replace('_', ' ')} "
                                           f"{run.roof} roof for {run.precision} in the profile")
    compute_seconds = work.flops / (compute.gflops * 1e9)
    # A paper roofline without the level's bandwidth reads the fastest measured one: a paper figure is never below it.
    measured_memory = _measured_memory(profile, level, work.write_share(convention),
                                       purpose if roofline == "calibrated" else "bound")
    gbps: float | None
    if roofline == "calibrated":
        gbps, source, memory_noise = measured_memory.gbps, measured_memory.where, measured_memory.noise
    else:
        gbps, source, memory_noise = _paper_bandwidth(profile, level, roofline), f"memory.{level} paper", None
    if gbps is None:
        if level != "dram":  # a cache's paper figure scales with the clock: at the nominal one it can sit below a rate
            return Prediction(None, None, compute.gflops, compute.where,  # measured at the real one (a VM's L1)
                              note=f"memory.{level} has no paper bandwidth: no paper prediction")
        if compute_seconds >= moved / (measured_memory.gbps * 1e9):
            return Prediction(compute_seconds, "compute", compute.gflops, compute.where,
                              note=f"memory.{level} has no paper bandwidth: compute-bound even at the fastest "
                                   "measured one, predicted from the paper compute roof alone (DRAM's paper figure "
                                   "does not depend on the core clock, so it is never below a measured rate)")
        return Prediction(None, None, compute.gflops, compute.where,
                          note=f"memory.{level} has no paper bandwidth: memory-bound, no paper prediction")
    memory_seconds = moved / (gbps * 1e9)
    limited_by = "compute" if compute_seconds >= memory_seconds else "memory"
    noise = (compute.noise if limited_by == "compute" else memory_noise) if roofline == "calibrated" else None
    return Prediction(max(compute_seconds, memory_seconds), limited_by, compute.gflops, compute.where, gbps, source,
                      noise, memory_median_of=measured_memory.kernel
                      if roofline == "calibrated" and measured_memory.typical else None)


def _measured_memory(profile: Profile, level: str, write_share: float, purpose: str) -> MemoryRoof:
    """The calibrated memory roof at ``level``: for a prediction, the median of the kernel nearest the workload's
    read/write mix (``Profile.memory_roof``); for a bound, the fastest kernel's ceiling at the level, whatever its
    mix (a program of any mix that beats the best any kernel moved there beats the machine's measured ceiling);
    either way ``memory.<level>.measured_gbps`` where the profile has no kernel of the level."""
    if purpose == "prediction":
        roof = profile.memory_roof(level, write_share, "median")
    else:
        roof = max(profile.memory_candidates(level, "ceiling"), key=lambda candidate: candidate.gbps, default=None)
    if roof is None:
        roof = MemoryRoof(profile.bandwidth_gbps(level), f"memory.{level}.measured_gbps", "", 0.0, None)
    return roof


def error_pct(measured_seconds: float, predicted_seconds: float | None) -> float | None:
    """100 x (measured - predicted) / predicted seconds."""
    if predicted_seconds is None:
        return None
    return 100.0 * (measured_seconds - predicted_seconds) / predicted_seconds


def sample_noise(run: WorkloadRun) -> float:
    """The workload's own timing noise: the median absolute deviation of its samples over their median (robust to a
    few disturbed samples), at least MIN_NOISE."""
    samples = [s for s in run.samples if s > 0] or [run.seconds]
    centre = statistics.median(samples)
    spread = statistics.median(abs(s - centre) for s in samples) / centre
    return max(MIN_NOISE, spread)


def violation(run: WorkloadRun, prediction: Prediction) -> tuple[bool | None, float | None]:
    """(whether the workload ran faster than the roofline allows beyond the measured noise, that tolerance).

    Tolerance = the workload's sample noise + the bounding roof's own noise (its samples' cv; none for a paper
    figure): relative errors of two independent measurements, added. None when there is no prediction."""
    if prediction.seconds is None:
        return None, None
    tolerance = sample_noise(run) + (prediction.roof_noise or 0.0)
    return run.best_seconds < prediction.seconds * (1.0 - tolerance), tolerance


def exclusion(device: str, calibrated_seconds: float | None, run: WorkloadRun | None = None,
              compute_kernel: str | None = None) -> str | None:
    """Why a workload is kept out of the verdict (one of EXCLUSION_REASONS, with its particulars), or None.
    ``calibrated_seconds``: the calibrated prediction of its median time (the typical figures), which ``too_short``
    reads."""
    if calibrated_seconds is None:
        return f"no_matching_roof: {EXCLUSION_REASONS['no_matching_roof']}"
    if run is not None and run.kind == "matmul" and compute_kernel and compute_kernel.startswith(("gemm_", "matmul_")):
        return f"own_code: predicted from {compute_kernel}, {EXCLUSION_REASONS['own_code']}"
    floor = MIN_PREDICTABLE_SECONDS[device]
    if calibrated_seconds < floor:
        return (f"too_short: predicted {calibrated_seconds * 1e6:.3g} us, under the {floor * 1e6:g} us below which a "
                "call's fixed costs (dispatch, thread wake-up or launch, library set-up) are a sizeable share")
    return None


def required_precisions(device: str) -> tuple[str, ...]:
    """The compute roofs the workloads of ``device`` are predicted with (checked before anything runs)."""
    return ("fp64", "fp32") if device == "cpu" else ("fp32", "tensor_fp16")


def check_profile_fits(profile: Profile, device: str, precisions: tuple[str, ...] | None = None) -> None:
    """UsageError (exit 2) unless ``profile`` is of ``device`` ('cpu' or 'cuda:N') and has every roof needed."""
    if profile.device_id != device:
        raise UsageError(f"{profile.source} is a profile of {profile.device_id}, not of {device}: give a profile of "
                         f"{device} (hwbench run --device {device}) or --device {profile.device_id}")
    kind = "cpu" if device == "cpu" else "gpu"
    for precision in precisions or required_precisions(kind):
        if precision not in profile.precisions:
            raise UsageError(f"{profile.source} has no {precision} compute ceiling, which validate needs; measure a "
                             "profile with 'hwbench run' without --kernels (or with --kernels fma)")
        profile.peak_gflops(precision)  # UsageError naming a ceiling that is there but unknown
    profile.bandwidth_gbps("dram")


def check_same_cpu(profile: Profile, vendor: str | None, family: int | None, model: int | None,
                   usable_cpus: int) -> None:
    """UsageError (exit 2) unless this host's CPU is the profile's (vendor, family and model, as /proc/cpuinfo
    gives them) and the profile's thread count fits in the CPUs this process may use: a roofline predicts programs
    on the machine it measured, and the programs run on the profile's threads. An identity unknown on either
    side (an older profile; AArch64, whose /proc/cpuinfo has no family) is not refused for it."""
    device = profile.data["device"]
    theirs = (device.get("vendor"), device.get("family"), device.get("model"))
    if None not in theirs and None not in (vendor, family, model) and theirs != (vendor, family, model):
        core = (device.get("core_model") or {}).get("name")
        raise UsageError(f"{profile.source} was measured on another CPU ({theirs[0]} family {theirs[1]} model "
                         f"{theirs[2]}{f', {core}' if core else ''}); this host's is {vendor} family {family} model "
                         f"{model}: validate on the machine the profile comes from, or measure this one with "
                         "'hwbench run' and validate that profile")
    threads = (profile.data.get("run") or {}).get("threads")
    if isinstance(threads, int) and threads > usable_cpus:
        raise UsageError(f"{profile.source} was measured with {threads} threads; this process may use "
                         f"{usable_cpus} CPU(s): validate on the machine the profile comes from, or measure this one "
                         "with 'hwbench run' and validate that profile")


def prediction_at_host_state(profile: Profile, run: WorkloadRun, work: Counts, moved: float,
                              prediction: Prediction) -> dict | None:
    """The calibrated prediction at the host's state while ``run`` ran (``hwbench.workloads.host_state``), each roof
    scaled by how far the host had moved from the profile just before the program:

    * bandwidth: for a memory roof that is a kernel's median, that kernel re-timed over its median in the profile
      (``now_over_profile``);
    * clock: the add chain alone on the programs' threads (``hwbench.cpu.clock_now``) over the profile's
      ``clock.scalar_mhz``, the same chain alone (``clock_now_over_profile``): a compute roof is FLOP per cycle x
      cycles per second, and the first does not move with the host.

    predicted = max(F / (compute roof x clock ratio), B / (memory roof x bandwidth ratio)), a missing ratio read as
    1, the term that limits it (``limited_by``: a host faster than the profile can move a program past the ridge),
    and the error against it. Given when the ratio of the term that limits the calibrated prediction is known
    (memory-limited: the bandwidth's; compute-limited: the clock's). None otherwise: a memory-limited prediction
    whose memory roof is a ceiling or a cache plateau; a compute-limited one without a clock believed beside the
    program or without ``clock.scalar_mhz`` in the profile; a GPU. Reported beside the verdict, never in it: it
    separates the roofline's error from the host's drift."""
    if prediction.compute_gflops is None or prediction.memory_gbps is None:
        return None
    kernel = prediction.memory_median_of
    now = (run.details.get("host_stream_gbps") or {}).get(kernel or "")
    then = profile.kernel_median(kernel)
    bandwidth_ratio = now / then if now and then else None
    clock_now = run.details.get("host_clock_mhz")
    clock_then = (profile.data.get("clock") or {}).get("scalar_mhz")
    clock_ratio = clock_now / clock_then if clock_now and clock_then else None
    limiting_ratio = bandwidth_ratio if prediction.limited_by == "memory" else clock_ratio
    if limiting_ratio is None:
        return None
    compute_seconds = work.flops / (prediction.compute_gflops * (clock_ratio or 1.0) * 1e9)
    memory_seconds = moved / (prediction.memory_gbps * (bandwidth_ratio or 1.0) * 1e9)
    predicted = max(compute_seconds, memory_seconds)
    return {"kernel": kernel if bandwidth_ratio else None, "profile_median_gbps": then if bandwidth_ratio else None,
            "now_gbps": now if bandwidth_ratio else None,
            "now_over_profile": round(bandwidth_ratio, 4) if bandwidth_ratio else None,
            "clock_mhz_profile": clock_then if clock_ratio else None,
            "clock_mhz_now": clock_now if clock_ratio else None,
            "clock_now_over_profile": round(clock_ratio, 4) if clock_ratio else None,
            "predicted_seconds": predicted, "limited_by": "compute" if compute_seconds >= memory_seconds else "memory",
            "error_pct": rounded(error_pct(run.seconds, predicted), 2)}


def _roofs(prediction: Prediction) -> dict:
    return {"compute_gflops": prediction.compute_gflops, "compute_source": prediction.compute_source,
            "memory_gbps": rounded(prediction.memory_gbps, 3), "memory_source": prediction.memory_source,
            "memory_median_of": prediction.memory_median_of, "note": prediction.note}


def workload_row(profile: Profile, run: WorkloadRun) -> dict:
    """One workload of the report (format: docs/validation.md, "The report")."""
    work = counts(run)
    level = memory_level(profile, work.working_set_bytes)
    convention = byte_convention(run.device, level)
    moved = work.bytes_moved(convention)
    predictions = {roofline: predict_with(profile, run, work, level, roofline) for roofline in ROOFLINES}
    bounds = {roofline: predict_with(profile, run, work, level, roofline, "bound") for roofline in ROOFLINES}
    compute = profile.compute_roof(run.roof, run.precision)
    checks = {roofline: violation(run, bound) for roofline, bound in bounds.items()}
    median, best = run.seconds, run.best_seconds  # the prediction's time basis and the bound's (module docstring)
    return {
        "name": run.name, "library": run.library, "description": run.description, "kind": run.kind,
        "precision": run.precision, "threads": run.threads, "level": level,
        "roof": {"executes": run.roof, "compute_kernel": compute.kernel if compute else None,
                 "instruction": compute.instruction if compute else None,
                 "clock_mhz": compute.clock_mhz if compute else None,
                 "library": compute.library if compute else None},
        "flops": work.flops, "bytes": moved, "bytes_counting": convention, "counting": work.formula,
        "working_set_bytes": work.working_set_bytes, "write_share": round(work.write_share(convention), 4),
        "intensity": round(work.flops / moved, 4) if moved else None,
        "seconds": median, "best_seconds": best, "samples": len(run.samples),
        "noise_pct": round(100 * sample_noise(run), 2),
        "measured_gflops": round(work.flops / median / 1e9, 3),
        "measured_gbps": round(moved / median / 1e9, 3),
        "best_gbps": round(moved / best / 1e9, 3),
        "roofs": {roofline: _roofs(p) for roofline, p in predictions.items()},
        "predicted_seconds": {roofline: p.seconds for roofline, p in predictions.items()},
        "limited_by": {roofline: p.limited_by for roofline, p in predictions.items()},
        "error_pct": {roofline: rounded(error_pct(median, p.seconds), 2) for roofline, p in predictions.items()},
        "bound_roofs": {roofline: _roofs(p) for roofline, p in bounds.items()},
        "bound_seconds": {roofline: p.seconds for roofline, p in bounds.items()},
        "fraction_of_roof": {roofline: rounded(p.seconds / best, 4) if p.seconds else None
                             for roofline, p in bounds.items()},
        "violation": {roofline: checks[roofline][0] for roofline in ROOFLINES},
        "tolerance_pct": {roofline: rounded(100 * tolerance, 2) if (tolerance := checks[roofline][1]) is not None
                          else None for roofline in ROOFLINES},
        "excluded": exclusion(run.device, predictions["calibrated"].seconds, run, compute.kernel if compute else None),
        "host_state": prediction_at_host_state(profile, run, work, moved, predictions["calibrated"]),
    }


def _median_abs(values: list[float]) -> float | None:
    return round(statistics.median(abs(v) for v in values), 2) if values else None


def _tightness(rows: list[dict], roofline: str) -> dict:
    """Median |error| over the rows ``roofline`` predicts without violation: memory-bound, compute-bound, all."""
    fair = [row for row in rows if row["error_pct"][roofline] is not None and not row["violation"][roofline]]
    by_bound = {bound: [row for row in fair if row["limited_by"][roofline] == bound] for bound in ("memory", "compute")}
    return {
        **{f"{bound}_bound": {"median_abs_error_pct": _median_abs([r["error_pct"][roofline] for r in chosen]),
                              "workloads": [r["name"] for r in chosen]} for bound, chosen in by_bound.items()},
        "all": {"median_abs_error_pct": _median_abs([r["error_pct"][roofline] for r in fair]),
                "workloads": [r["name"] for r in fair]},
    }


def _at_host_state(included: list[dict]) -> dict:
    """Median |error| at the host's state over the rows in the verdict that have one and no calibrated violation,
    split by what limits the prediction at that state (``host_state.limited_by``): the memory-limited ones at the top
    level (as report format 5 had it), the compute-limited ones under ``compute_bound``. A row counts only where the
    term that limits it there was measured again (its bandwidth ratio, its clock ratio): one that a faster clock
    moved onto an unscaled memory roof is the profile's prediction, not the host's state."""
    measured = {"memory": "now_over_profile", "compute": "clock_now_over_profile"}
    fair = [row for row in included if row["host_state"] and not row["violation"]["calibrated"]]
    by_bound = {bound: [row for row in fair if row["host_state"]["limited_by"] == bound
                        and row["host_state"][ratio] is not None] for bound, ratio in measured.items()}

    def median_of(rows: list[dict]) -> dict:
        return {"median_abs_error_pct": _median_abs([row["host_state"]["error_pct"] for row in rows]),
                "workloads": [row["name"] for row in rows]}

    return {**median_of(by_bound["memory"]), "compute_bound": median_of(by_bound["compute"])}


def summarize(rows: list[dict]) -> dict:
    """The verdict in two steps over the workloads not excluded (docs/validation.md, "The verdict").

    (a) bound: a roofline fails a workload when the workload ran faster than it allows beyond the measured noise
    (a violation) or when it gives no bound at all (a paper roofline without the level's bandwidth, for a
    memory-bound workload); (b) tightness: median |error| over the workloads each roofline predicts without
    violation (memory-bound, compute-bound, all) and over those both predict without violation. Verdict: fewer
    bound failures wins; equal, the lower median over the workloads both predict; equal, ``tie``."""
    included = [row for row in rows if row["excluded"] is None]
    if not included:
        raise UsageError("every workload was excluded (too short, or no matching roof in the profile); nothing to "
                         "validate: run without --quick, on a larger device, or with a profile of 'hwbench run'")
    per_roofline: dict[str, dict[str, Any]] = {}
    for roofline in ROOFLINES:
        violated = [row["name"] for row in included if row["violation"][roofline]]
        unbounded = [row["name"] for row in included if row["bound_seconds"][roofline] is None]
        per_roofline[roofline] = {"violations": violated, "no_bound": unbounded,
                                  "bound_failures": len(violated) + len(unbounded),
                                  "predicted": len(included) - len(unbounded), "tightness": _tightness(included,
                                                                                                         roofline)}
    both = [row for row in included if all(row["error_pct"][r] is not None and not row["violation"][r]
                                           for r in VERDICT_ROOFLINES)]
    compared: dict[str, Any] = {"workloads": [row["name"] for row in both],
                **{r: _median_abs([row["error_pct"][r] for row in both]) for r in VERDICT_ROOFLINES}}
    calibrated, theoretical = per_roofline["calibrated"], per_roofline["theoretical"]
    if theoretical["predicted"] == 0:
        verdict, basis = "no_theory", "no workload has a paper prediction: the profile lacks the paper figures it needs"
    elif calibrated["bound_failures"] != theoretical["bound_failures"]:
        better = calibrated["bound_failures"] < theoretical["bound_failures"]
        verdict = "calibrated_better" if better else "calibrated_worse"
        basis = (f"bound failures over the {len(included)} workloads in the verdict: calibrated "
                 f"{calibrated['bound_failures']} ({len(calibrated['violations'])} violations, "
                 f"{len(calibrated['no_bound'])} without a bound), paper {theoretical['bound_failures']} "
                 f"({len(theoretical['violations'])} violations, {len(theoretical['no_bound'])} without a bound)")
    elif not both or compared["calibrated"] == compared["theoretical"]:
        verdict, basis = "tie", (f"equal bound failures ({calibrated['bound_failures']}) and equal median |error| over "
                                 f"the {len(both)} workload(s) both predict without violation")
    else:
        verdict = "calibrated_better" if compared["calibrated"] < compared["theoretical"] else "calibrated_worse"
        basis = (f"equal bound failures ({calibrated['bound_failures']}); median |error| over the {len(both)} "
                 f"workload(s) both predict without violation: calibrated {compared['calibrated']}% vs paper "
                 f"{compared['theoretical']}%")
    return {"in_verdict": [row["name"] for row in included], "rooflines": per_roofline, "compared": compared,
            "at_host_state": _at_host_state(included),
            "verdict": verdict, "verdict_basis": basis,
            "median_abs_error_pct": {r: per_roofline[r]["tightness"]["all"]["median_abs_error_pct"]
                                     for r in VERDICT_ROOFLINES}}


def exit_code(report: dict) -> int:
    """0, or 1 when the calibrated roofline is the worse one (the verdict's answer is no)."""
    return 1 if report["verdict"] == "calibrated_worse" else 0


ROOF_RULES = {
    "calibrated": "prediction (predicted_seconds, error_pct): the typical figures, each roof kernel's median (its "
                  "ceiling where the profile records no median, as the source names); compute: the roof of what the "
                  "workload executes (kernels[<compute.<precision>.kernel>] for FMA code, "
                  "kernels[<add|mul|scalar_add|gemm>_<precision>] otherwise); memory: at <level>, the kernel whose "
                  "share of written bytes is nearest the workload's (never a non-temporal one), else the ceiling "
                  "memory.<level>.measured_gbps. bound (bound_seconds, violation): the ceilings, each roof's confirmed "
                  "best; compute: compute.<precision>.measured_gflops or instruction_peaks.peaks.<roof>_<precision>."
                  "measured; memory: the fastest kernel's ceiling at <level>, whatever its mix, else "
                  "memory.<level>.measured_gbps",
    "theoretical": "the paper figures at the nominal clock: the same compute roof's theoretical figure and "
                   "memory.<level>.theoretical_gbps (what a datasheet gives); one figure each, for the prediction and "
                   "the bound",
    "theoretical_at_measured_clock": "the paper figures at the clock measured under each roof's kernel (shown "
                                     "beside the verdict, not in it); DRAM's paper figure does not scale with it",
}


def build_report(profile: Profile, runs: list[WorkloadRun], device_name: str, profile_label: str,
                 created_at: str) -> dict:
    """The whole report: header, one row per roofline workload, the verdict's steps, and the latency-bound section
    (written by ``-o`` as YAML)."""
    rows = [workload_row(profile, run) for run in runs if run.kind not in LATENCY_KINDS]  # those: latency_bound
    threads = sorted({run.threads for run in runs if run.threads is not None and run.kind not in LATENCY_KINDS})
    report = {
        "hwbench_validation": REPORT_VERSION, "hwbench_version": __version__, "created_at": created_at,
        "device": {"id": profile.device_id, "name": device_name,
                   "core": ((profile.data["device"].get("core_model") or {}).get("name"))},
        "profile": profile_label,
        "threads": threads[0] if len(threads) == 1 else None,
        "roofs": ROOF_RULES,
        "time_rule": "like with like: a workload's median time (seconds) against the roofs' medians (the prediction, "
                     "error_pct), and its confirmed-best time (best_seconds: the K-th fastest of its samples, K = "
                     "max(2, ceil(10% of them)), the rule every ceiling of the profile was chosen by, headline_rule) "
                     "against the ceilings (the bound, violation)",
        "violation_rule": "a workload violates a roofline when its confirmed-best time is below the bound by more "
                          f"than its samples' median absolute deviation over their median (at least {MIN_NOISE:.0%}) "
                          "plus the bounding roof's own cv (none for a paper figure)",
        "exclusion_reasons": EXCLUSION_REASONS,
        "workloads": rows,
        **summarize(rows), **latency_bound(profile, runs),
    }
    report["notes"] = notes(profile, report, runs)
    return report


def moving_roof_notes(profile: Profile, rows: list[dict]) -> list[str]:
    """A note for each kernel whose median is the memory roof of a memory-limited calibrated prediction in ``rows``,
    when the medians of its interleaved passes (``Profile.kernel_pass_medians``) differ by PASS_SPREAD or more: the
    host's state moved while the profile ran, and the median is one draw of it."""
    used = sorted({row["roofs"]["calibrated"]["memory_median_of"] for row in rows
                   if row["limited_by"]["calibrated"] == "memory"} - {None})
    lines = []
    for kernel in used:
        passes = profile.kernel_pass_medians(kernel)
        if passes and min(passes) > 0 and max(passes) / min(passes) >= PASS_SPREAD:
            lines.append(f"the profile's {kernel} median ({profile.kernel_median(kernel) or 0:.1f} GB/s) comes from "
                         f"{len(passes)} passes whose medians ran {min(passes):.1f}-{max(passes):.1f} GB/s: the "
                         "host's memory moved while the profile ran; each program's host_state says what it met")
    return lines


def moving_clock_note(rows: list[dict]) -> list[str]:
    """A note when the cores' clock probed beside the programs with a host's state (``host_state.clock_mhz_now``;
    excluded programs too: a clock is the host's, whatever the program) moved CLOCK_MOVED or more from the
    profile's: every compute roof moves with it."""
    states = [row["host_state"] for row in rows if row["host_state"] and row["host_state"]["clock_now_over_profile"]]
    if not states:
        return []
    ratios = [state["clock_now_over_profile"] for state in states]
    if max(abs(ratio - 1.0) for ratio in ratios) < CLOCK_MOVED:
        return []
    clocks = [state["clock_mhz_now"] for state in states]
    profile_clock = states[0]["clock_mhz_profile"]
    return [f"the cores' clock beside the programs (the add chain alone, just before each) ran {min(clocks):.0f}-"
            f"{max(clocks):.0f} MHz, {min(ratios):.2f}-{max(ratios):.2f}x the profile's {profile_clock:.0f} MHz: "
            "every compute roof moves with it; each program's host_state scales its compute roof by its ratio"]


def refused_clock_note(profile: Profile, runs: list[WorkloadRun]) -> list[str]:
    """A note when no clock is given beside some CPU programs (``details.host_clock_problem``: the probe could not
    run or was refused), or none at all because the profile has no ``clock.scalar_mhz`` to compare it with: their
    compute roofs are not scaled at the host's state, and a compute-limited one has no host's state."""
    cpu = [run for run in runs if run.device == "cpu" and run.kind not in LATENCY_KINDS]
    if cpu and not (profile.data.get("clock") or {}).get("scalar_mhz"):
        return ["the profile has no clock.scalar_mhz (its clock probe failed or did not run): no clock was probed "
                "beside the programs, and no compute roof is scaled at the host's state"]
    refused = [run for run in cpu if run.details.get("host_clock_problem")]
    if not refused:
        return []
    return [f"no clock beside {len(refused)} program(s) ({refused[0].name}: "
            f"{refused[0].details['host_clock_problem']}): their compute roofs are not scaled at the host's state"]


def notes(profile: Profile, report: dict, runs: list[WorkloadRun] | None = None) -> list[str]:
    """What a reader must know to read the verdict: threads, missing paper figures, exclusions, the basis."""
    lines = []
    measured_on = profile.data["device"].get("name")
    if measured_on != report["device"]["name"]:
        lines.append(f"the profile was measured on {measured_on}; the workloads ran on {report['device']['name']}")
    run_threads = (profile.data.get("run") or {}).get("threads")
    if report["threads"] is not None:
        lines.append(f"workloads ran on {report['threads']} thread(s); the profile's roofs were measured on "
                     f"{run_threads if run_threads is not None else 'the whole device'}")
    for level in sorted({row["level"] for row in report["workloads"]
                         if (row["roofs"]["theoretical"]["note"] or "").startswith("memory.")}):
        reason = profile.data["memory"][level].get("theoretical_source") or "no reason given"
        lines.append(f"memory.{level} has no paper bandwidth ({reason}): " + (
            "the paper roofline bounds only workloads compute-bound even at the fastest measured bandwidth; it gives "
            "the others no bound" if level == "dram" else "the paper roofline gives workloads at this level no bound"))
    for row in report["workloads"]:
        if row["excluded"]:
            lines.append(f"kept out of the verdict: {row['name']} ({row['excluded'].split(':')[0]})")
    lines += moving_roof_notes(profile, [row for row in report["workloads"] if not row["excluded"]])
    lines += moving_clock_note(report["workloads"]) + refused_clock_note(profile, runs or [])
    for roofline in VERDICT_ROOFLINES:
        violated = report["rooflines"][roofline]["violations"]
        label = "calibrated" if roofline == "calibrated" else "paper"
        lines.append(f"{label} roofline violated by {len(violated)} workload(s) in the verdict"
                     + (f": {', '.join(violated)}" if violated else ""))
    lines.append(f"verdict {report['verdict']}: {report['verdict_basis']}")
    return lines


__all__ = ["Counts", "build_report", "byte_convention", "counts", "exit_code", "summarize", "workload_row"]
