"""The compare gate measured as a gate: its false-alarm rate on back-to-back runs, and its detection rate for
planted throttling.

    python scripts/gate_false_alarms.py --runs 20 --planted 5 --out /tmp/gate --summary results/gate/MACHINE.yaml

1. ``--runs N`` back-to-back ``hwbench run --device cpu --quick`` runs; ``hwbench compare`` of each consecutive
   pair at the default threshold, with the series' quiet runs as ``--history`` (the machine's run-to-run noise;
   compare leaves the pair itself out, so each pair is judged by the other N-2 runs). A pair that exits 1 is a
   false alarm (nothing was changed between the runs).
2. ``--planted M`` runs under a planted throttle, each compared against a quiet baseline (the quiet run made
   just before it): a CPU quota of ``--quota`` (default 50%) of the measured cores through CFS bandwidth
   control (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us`` where the cpu controller is on v1) in a child
   cgroup created for the run; with ``--busy``, also a busy loop pinned to each measured core; and a capped
   clock through cpufreq ``scaling_max_freq`` where the machine has cpufreq (else the summary says it has
   none). A planted run is detected when compare exits 1 and a regressed row's cause names the throttle; its
   compare reads the quiet runs as ``--history`` too.

``--judge-again SUMMARY`` measures nothing: it compares the stored runs of a previous series again with this
checkout's ``hwbench compare`` (after a change to its rules) and writes a new summary that names both commits.

Writes ``summary.yaml`` (the figures, each pair's exit code and regressed rows, the machine, the date and the
commit measured) and keeps the profiles under ``--out``. Needs root for the cgroup and cpufreq; without it
those plants are skipped, and the summary says why.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

CGROUP = Path("/sys/fs/cgroup")
CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq")
NAME = "hwbench-gate"


def hwbench(*args: str, prefix: tuple[str, ...] = (), cgroup: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``hwbench ARGS`` (in ``cgroup`` when given: the child writes itself into it before exec)."""
    command = [*prefix, sys.executable, "-m", "hwbench", *args]
    setup = (lambda: (cgroup / "cgroup.procs").write_text(str(os.getpid()))) if cgroup else None
    return subprocess.run(command, capture_output=True, text=True, preexec_fn=setup)


FAILED_RUNS: list[str] = []  # runs that failed once and were made again (the summary lists them)


def measure(path: Path, nice: int, cgroup: Path | None = None, again: bool = True) -> float:
    start = time.monotonic()
    result = hwbench("run", "--device", "cpu", "--quick", "-o", str(path), prefix=("nice", "-n", str(nice)),
                     cgroup=cgroup)
    if result.returncode != 0:
        message = f"{path.name}: hwbench run failed ({result.returncode}): {result.stderr.strip().splitlines()[-1:]}"
        if not again:
            raise SystemExit(message)
        print(message + "; running it again", file=sys.stderr)
        FAILED_RUNS.append(message)
        return measure(path, nice, cgroup, again=False)
    return time.monotonic() - start


def compare(base: Path, current: Path, history: list[Path]) -> dict:
    """``hwbench compare`` of a pair with the machine's other quiet runs as its ``--history`` (compare leaves the
    pair itself out of its run-to-run noise)."""
    extra = [arg for path in history for arg in ("--history", str(path))]
    result = hwbench("compare", str(base), str(current), "-f", "json", *extra)
    if result.returncode not in (0, 1):
        raise SystemExit(f"hwbench compare failed ({result.returncode}): {result.stderr.strip()}")
    data = json.loads(result.stdout)
    return {"baseline": base.name, "current": current.name, "exit": result.returncode,
            "regressed": {r["key"]: r["cause"] for r in data["rows"] if r["verdict"] == "REGRESSED"},
            "inconclusive": sorted(r["key"] for r in data["rows"] if r["verdict"] == "inconclusive")}


def quota_cgroup(share: float, cpus: int) -> tuple[Path | None, str]:
    """A child cgroup whose CPU quota is ``share`` of ``cpus`` CPUs (CFS bandwidth control), and how it was set."""
    period = 100_000
    quota = int(share * cpus * period)
    v2 = CGROUP / "cgroup.controllers"
    try:
        if v2.exists() and "cpu" in v2.read_text().split():
            (CGROUP / "cgroup.subtree_control").write_text("+cpu")
            group = CGROUP / NAME
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {period}")
            return group, f"cgroup v2 {group}/cpu.max = {quota} {period}"
        group = CGROUP / "cpu" / NAME
        if (CGROUP / "cpu" / "cpu.cfs_quota_us").exists():
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
            return group, (f"cgroup v1 {group}/cpu.cfs_quota_us = {quota} per {period} us (this machine's cpu "
                           "controller is on cgroup v1, so cpu.max does not exist; same CFS bandwidth control)")
    except OSError as error:
        return None, f"no CPU quota planted: {error.strerror} ({error.filename})"
    return None, "no CPU quota planted: no cgroup cpu controller found"


def busy_loops(cpus: list[int]) -> list[subprocess.Popen]:
    return [subprocess.Popen(["taskset", "-c", str(cpu), "sh", "-c", "while :; do :; done"]) for cpu in cpus]


def names(row: dict, words: tuple[str, ...]) -> bool:
    return any(any(word in cause for word in words) for cause in row["regressed"].values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="back-to-back quiet runs (N-1 compared pairs)")
    parser.add_argument("--planted", type=int, default=5, help="runs under each planted throttle")
    parser.add_argument("--quota", type=float, default=0.5, help="CPU quota as a share of the measured cores")
    parser.add_argument("--busy", action="store_true", help="also plant a busy loop pinned to each measured core")
    parser.add_argument("--nice", type=int, default=0, help="nice level of the hwbench runs")
    parser.add_argument("--out", type=Path, default=Path("gate-runs"), help="folder for the runs' profiles")
    parser.add_argument("--conditions", default="", help="what else ran on the machine, for the summary")
    parser.add_argument("--summary", type=Path, help="where to write the summary (default: OUT/summary.yaml)")
    parser.add_argument("--judge-again", type=Path, metavar="SUMMARY", help="measure nothing: judge the runs a "
                        "previous series left under --out again with this checkout's compare, from its SUMMARY")
    options = parser.parse_args()
    if options.judge_again:
        return judge_again(options.judge_again, options.out, options.summary or options.out / "summary.yaml")
    options.out.mkdir(parents=True, exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0))
    started = dt.datetime.now(dt.timezone.utc)
    quiet, seconds = [], []
    for i in range(options.runs):
        quiet.append(options.out / f"quiet-{i:02d}.yaml")
        seconds.append(measure(quiet[-1], options.nice))
        print(f"quiet run {i + 1}/{options.runs}: {seconds[-1]:.1f} s", file=sys.stderr)
    pairs = [compare(a, b, quiet) for a, b in zip(quiet, quiet[1:])]
    alarms = [p for p in pairs if p["exit"] != 0]
    alone = [compare(a, b, []) for a, b in zip(quiet, quiet[1:])]  # the same pairs on their recorded noise only
    planted: dict[str, dict] = {}
    group, how = quota_cgroup(options.quota, len(cpus))
    plants = [("quota", how, ("CPU quota",))] if group else []
    if options.busy:
        plants.append(("busy", f"one busy loop pinned to each of CPUs {cpus} (taskset)", ("contention", "steal")))
    for kind, how_planted, words in plants:
        tries = []
        for i in range(options.planted):
            base = options.out / f"{kind}-baseline-{i}.yaml"
            measure(base, options.nice)
            path = options.out / f"{kind}-{i}.yaml"
            loops = busy_loops(cpus) if kind == "busy" else []
            try:
                measure(path, options.nice, group if kind == "quota" else None)
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
            row = compare(base, path, quiet)
            row["detected"] = row["exit"] == 1 and names(row, words)
            tries.append(row)
            print(f"{kind} {i + 1}/{options.planted}: exit {row['exit']}, detected {row['detected']}", file=sys.stderr)
        planted[kind] = {"how": how_planted, "detected": sum(t["detected"] for t in tries), "tries": len(tries),
                         "pairs": tries}
    if group:
        group.rmdir()
    if not group:
        planted["quota"] = {"how": how, "detected": None, "tries": 0}
    planted["frequency_cap"] = {"how": (f"{CPUFREQ} exists: not planted by this script version" if CPUFREQ.exists()
                                        else "not possible: no cpufreq on this machine (no "
                                             f"{CPUFREQ.parent}); a VM guest cannot cap its host's clock"),
                                "detected": None, "tries": 0}
    summary = {
        "script": "scripts/gate_false_alarms.py", "commit": _commit(),
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ended": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"host": platform.node(), "cpu": _cpu_name(), "cpus": cpus, "kernel": platform.release()},
        "conditions": options.conditions, "nice": options.nice, "threshold": "5% (compare's default)",
        "quiet_runs": options.runs, "run_seconds_median": sorted(seconds)[len(seconds) // 2],
        "noise": "each figure's recorded noise widened by its run-to-run noise over the other quiet runs of the "
                 "series (compare --history, the pair left out)",
        "pairs": len(pairs), "false_alarms": len(alarms), "pairs_exit_0": len(pairs) - len(alarms),
        "false_alarms_without_history": sum(p["exit"] != 0 for p in alone),
        "inconclusive_pairs": sum(bool(p["inconclusive"]) for p in pairs),
        "false_alarm_causes": sorted({cause.split(":")[0] for p in alarms for cause in p["regressed"].values()}),
        # what else ran: each quiet run's share of the measured cores used by other processes (run.contention)
        "quiet_other_work": [_other_work(path) for path in quiet],
        "failed_runs": FAILED_RUNS, "planted": planted, "quiet_pairs": pairs,
    }
    (options.summary or options.out / "summary.yaml").write_text(yaml.safe_dump(summary, sort_keys=False, width=120))
    print(f"false alarms: {len(alarms)} of {len(pairs)} pairs; "
          + "; ".join(f"{k}: detected {v['detected']} of {v['tries']}" for k, v in planted.items() if v["tries"]))
    return 0


def judge_again(previous: Path, out: Path, summary_path: Path) -> int:
    """The stored series of ``previous`` judged by this checkout's ``hwbench compare`` (after a change to the
    verdict rules): the measured fields are kept, every pair and planted try is compared again."""
    summary = yaml.safe_load(previous.read_text())
    quiet = sorted(out.glob("quiet-*.yaml"))
    if len(quiet) != summary["quiet_runs"]:
        raise SystemExit(f"{out}: {len(quiet)} quiet runs, the summary names {summary['quiet_runs']}")
    pairs = [compare(a, b, quiet) for a, b in zip(quiet, quiet[1:])]
    alarms = [p for p in pairs if p["exit"] != 0]
    for kind, plant in summary["planted"].items():
        words = {"quota": ("CPU quota",), "busy": ("contention", "steal")}.get(kind, ())
        tries = []
        for old in plant.get("pairs", []):
            row = compare(out / old["baseline"], out / old["current"], quiet)
            row["detected"] = row["exit"] == 1 and names(row, words)
            tries.append(row)
        if tries:
            plant.update(detected=sum(t["detected"] for t in tries), pairs=tries)
    summary.update(
        judged_again={"commit": _commit(), "at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "first_judged_by": summary["commit"]},
        false_alarms=len(alarms), pairs_exit_0=len(pairs) - len(alarms),
        false_alarms_without_history=sum(compare(a, b, [])["exit"] != 0 for a, b in zip(quiet, quiet[1:])),
        inconclusive_pairs=sum(bool(p["inconclusive"]) for p in pairs),
        false_alarm_causes=sorted({cause.split(":")[0] for p in alarms for cause in p["regressed"].values()}),
        quiet_pairs=pairs)
    summary_path.write_text(yaml.safe_dump(summary, sort_keys=False, width=120))
    print(f"judged again: false alarms {len(alarms)} of {len(pairs)} pairs; "
          + "; ".join(f"{k}: detected {v['detected']} of {v['tries']}" for k, v in summary["planted"].items()
                      if v["tries"]))
    return 0


def _commit() -> str:
    """The commit of the code measured, with "+changes" when the work tree differs from it."""
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (head or "unknown") + ("+changes" if dirty else "")


def _other_work(path: Path) -> float | None:
    return ((yaml.safe_load(path.read_text()).get("run") or {}).get("contention") or {}).get("other_work")


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
