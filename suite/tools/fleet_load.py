"""Reading a fleet: every profile under some folders, each reduced to a ``Member`` (its ceilings, clocks,
per-cycle figures and NVML clock-event reasons), for ``hwbench.tools.fleet``.

Loading is the slow part of ``hwbench fleet``. A fleet needs a few dozen keys of each profile (``FLEET_KEYS``),
not its thousands of per-sample figures, so ``read_member`` reads only those (``profile.subset.load_subset``:
the text cut to the kept keys, parsed by libyaml, checked against the profile's schema restricted to them;
anything it cannot vouch for goes through ``Profile.load`` and gets the full loader's message).
``read_member_full`` is the full loader's way, kept for comparison (tests, ``scripts/bench_fleet.py``).
``load_fleet`` spreads the files over processes (``read_in_workers``, which ``history`` uses too).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import InvalidStateError, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import UsageError
from ..process import test_pause
from ..profile import Profile, device_model
from ..profile.subset import KeepTree, load_subset
from ..profile.types import ProfileMapping
from .compare import reference_clock_mhz

PARALLEL_FROM = 64  # files; below that a process pool costs more than it saves
T = TypeVar("T")


@dataclass(frozen=True)
class Reading:
    """One ceiling of one device, with what explains it."""

    value: float
    unit: str
    clock_mhz: float | None = None
    per_cycle: float | None = None  # FLOP or OP per cycle (compute, instruction peaks), bytes per cycle (memory),
    # or the cycles one load waits (a latency: ns = cycles / clock)
    throttled: bool | None = None
    reasons: tuple[str, ...] = ()  # NVML clock-event reasons recorded with the kernel
    direction: int = 1  # +1: higher is better (a ceiling); -1: lower is better (a latency)


@dataclass(frozen=True)
class Member:
    """One device of the fleet: its newest profile, reduced to the ceilings."""

    host: str  # the node: its host name, and its node_label where it has one ("vm (quiet-1)")
    device: str  # cpu, cuda:0
    model: str  # profile.device_model: device.name, and a CPU's family and model
    kind: str  # cpu or cuda
    threads: int | None
    source: str
    created_at: str
    quick: bool | None
    readings: dict[str, Reading]

    @property
    def group(self) -> tuple[str, str, int | None]:
        return self.kind, self.model, self.threads



_CEILING_KEYS: KeepTree = {"kernel": True, "clock_mhz": True, "throttled": True}
_REASONS: KeepTree = {"clock_event_reasons": True, "reasons": True}
FLEET_KEYS: KeepTree = {
    "schema_version": True, "created_at": True, "host": True, "node_label": True,
    "device": {"id": True, "name": True, "family": True, "model": True},
    "run": {"threads": True, "quick": True},
    "clock": {"measured_mhz": True},
    "compute": {"*": {**_CEILING_KEYS, "measured_gflops": True, "flop_per_cycle": True}},
    "memory": {"*": {**_CEILING_KEYS, "measured_gbps": True, "bytes_per_cycle": True, "latency_ns": True,
                     "latency_cycles": True, "latency_clock_mhz": True}},
    "instruction_peaks": {"peaks": {"*": {"kernel": True, "unit": True, "measured": True, "clock_mhz": True,
                                          "op_per_cycle": True}}},
    "kernels": {"name": True, "details": {"telemetry": _REASONS}},
    "sustained": {"kernels": {"*": {"unit": True, "sustained": True, "clock_sustained_mhz": True,
                                    "timeline": {"clock_event_reasons": True}}}},
}
"""Every key ``member_from_data`` reads, and nothing else (a tree for ``profile.subset``)."""


def _strings(value: object, where: str, source: str) -> tuple[str, ...]:
    """A list of NVML reason names; anything else is a damaged file, not a crash."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{source}: {where} is not a list of NVML reason names; re-run 'hwbench run' or fix "
                         "the file")
    return tuple(value)


def _mapping(value: object, where: str, source: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{source}: {where} is not a mapping; re-run 'hwbench run' or fix the file")
    return value


def _telemetry_reasons(data: ProfileMapping, kernel: str | None, source: str) -> tuple[str, ...]:
    for index, entry in enumerate(data.get("kernels", [])):
        if entry.get("name") == kernel:
            where = f"kernels[{index}].details"
            telemetry = _mapping(_mapping(entry.get("details"), where, source).get("telemetry"),
                                 f"{where}.telemetry", source)
            key = "clock_event_reasons" if "clock_event_reasons" in telemetry else "reasons"
            return _strings(telemetry.get(key), f"{where}.telemetry.{key}", source)
    return ()


def node_name(data: ProfileMapping) -> str:
    """How the fleet names a profile's node: its host, and its ``node_label`` where the run had one
    (HWBENCH_NODE_LABEL), e.g. ``vm (quiet-1)``: two labelled runs of one host are two members."""
    host, label = str(data.get("host", "unknown")), data.get("node_label")
    return f"{host} ({label})" if label else host


def member_from_data(data: ProfileMapping, source: str) -> Member:
    """A checked profile's data (whole, or its ``FLEET_KEYS``) reduced to what the fleet compares: the figures
    of ``figures.fleet_figures_of`` (a test keeps the two in step: the ceilings, the latencies, lower is better,
    and the instruction peaks, each in its own unit) plus clocks, per-cycle figures and reasons."""
    device = data["device"]
    readings: dict[str, Reading] = {}
    for precision, entry in data["compute"].items():
        if entry.get("measured_gflops") is not None:
            readings[f"compute.{precision}"] = Reading(
                float(entry["measured_gflops"]), "GFLOP/s", entry.get("clock_mhz"), entry.get("flop_per_cycle"),
                entry.get("throttled"), _telemetry_reasons(data, entry.get("kernel"), source))
    for level, entry in data["memory"].items():
        if entry.get("measured_gbps") is not None:
            readings[f"memory.{level}"] = Reading(
                float(entry["measured_gbps"]), "GB/s", entry.get("clock_mhz"), entry.get("bytes_per_cycle"),
                entry.get("throttled"), _telemetry_reasons(data, entry.get("kernel"), source))
    clock = reference_clock_mhz(data)
    if clock is not None:  # the reference clock: the reasons of the compute kernel that set it
        entry = next((e for p, e in data["compute"].items() if not p.startswith("tensor_")
                      and isinstance(e, dict) and e.get("clock_mhz") == clock), {})
        readings["clock"] = Reading(float(clock), "MHz", float(clock), None, entry.get("throttled"),
                                    _telemetry_reasons(data, entry.get("kernel"), source))
    for name, entry in (data.get("sustained") or {}).get("kernels", {}).items():
        if entry.get("sustained") is not None:
            where = f"sustained.kernels.{name}.timeline"
            samples = _mapping(entry.get("timeline"), where, source).get("clock_event_reasons")
            if samples is not None and not isinstance(samples, list):
                raise UsageError(f"{source}: {where}.clock_event_reasons is not a list; re-run 'hwbench run'")
            reasons = sorted({r for sample in samples or [] for r in _strings(sample, where, source)})
            readings[f"sustained.{name}"] = Reading(float(entry["sustained"]), entry["unit"],
                                                    entry.get("clock_sustained_mhz"), None, None, tuple(reasons))
    for level, entry in data["memory"].items():  # compare's latency.<level> rows; ns = cycles / clock
        if entry.get("latency_ns") is not None:
            readings[f"latency.{level}"] = Reading(float(entry["latency_ns"]), "ns", entry.get("latency_clock_mhz"),
                                                   entry.get("latency_cycles"), direction=-1)
    for name, entry in ((data.get("instruction_peaks") or {}).get("peaks") or {}).items():
        if entry.get("measured") is not None:  # GFLOP/s or GOP/s: one kernel, one unit
            readings[f"instruction.{name}"] = Reading(
                float(entry["measured"]), str(entry["unit"]), entry.get("clock_mhz"), entry.get("op_per_cycle"),
                None, _telemetry_reasons(data, entry.get("kernel"), source))
    kind = "cpu" if device["id"] == "cpu" else "cuda"
    run = data.get("run") or {}
    return Member(node_name(data), str(device["id"]), device_model(device), kind,
                  run.get("threads") if kind == "cpu" else None, source, str(data.get("created_at", "")),
                  run.get("quick"), readings)


def member_of(profile: Profile) -> Member:
    """A loaded profile reduced to what the fleet compares."""
    return member_from_data(profile.data, profile.source)


def read_member(path: Path) -> Member | str:
    """The fleet's reader: only ``FLEET_KEYS`` parsed and checked; a skip note for a file that is not a
    profile (the full loader's message)."""
    try:
        return member_from_data(load_subset(path, FLEET_KEYS), str(path))
    except UsageError as error:
        return f"skipped {error}"


def read_profile(path: Path) -> Profile | str:
    """The whole profile at ``path`` (``Profile.load``), or the note saying why it was skipped: history's reader
    for ``read_in_workers``."""
    try:
        return Profile.load(path)
    except UsageError as error:
        return f"skipped {error}"


def read_member_full(path: Path) -> Member | str:
    """The same through ``Profile.load``: every key parsed and checked (slower; for comparison)."""
    try:
        return member_of(Profile.load(path))
    except UsageError as error:
        return f"skipped {error}"


UNLISTED = "skipped the folder "  # how a note about a folder that cannot be listed begins (no_profiles_found)


def profile_paths(directories: Sequence[Path], notes: list[str] | None = None) -> list[Path]:
    """Every ``*.yaml`` under the directories, once each (a folder given twice or nested is read once). A
    subfolder that cannot be listed (mode 000) is not skipped silently: a note for it goes to ``notes``."""
    if not directories:
        raise UsageError("give at least one folder of profiles, e.g. 'hwbench fleet results/'")
    seen: dict[Path, Path] = {}
    for directory in directories:
        if not directory.is_dir():
            raise UsageError(f"{directory}: not a directory; give folders of profiles written by 'hwbench run'")

        def unreadable(error: OSError) -> None:
            if notes is not None:
                notes.append(f"{UNLISTED}{error.filename}: cannot list it ({error.strerror}); its profiles were "
                             "not read")

        found = [Path(root) / name for root, _, files in os.walk(directory, onerror=unreadable)
                 for name in files if name.endswith(".yaml")]
        for path in sorted(found):
            seen.setdefault(path.resolve(), path)
    return list(seen.values())


def _die_with_parent(parent: int) -> None:
    """A worker of ``read_in_workers``' pool (fleet, history): killed when the hwbench process dies (Linux prctl(2)
    PR_SET_PDEATHSIG), so killing fleet never leaves its workers running; elsewhere, and if the parent is
    already gone, the worker checks its parent id. Ctrl-C, SIGTERM and SIGHUP end a worker silently (the
    default action): the parent, in the same process group, reports the interruption once."""
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # first: the parent's handlers, inherited
        signal.signal(signum, signal.SIG_DFL)
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1 (linux/prctl.h)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the prctl: end now
        os._exit(1)
    test_pause("worker")


def _quiet_cancelled_race(previous: Callable) -> Callable:
    """A thread hook that drops one error: when a signal kills the workers and interrupts the parent at once,
    the parent cancels the pending futures while the pool's manager thread marks them broken, and CPython
    3.11's manager thread then raises InvalidStateError ("CANCELLED") with a traceback. The command's own
    line (interrupted, exit 130/143/129) already says what happened."""
    def hook(args: threading.ExceptHookArgs) -> None:
        if not issubclass(args.exc_type, InvalidStateError):
            previous(args)
    return hook


def read_in_workers(paths: Sequence[Path], reader: Callable[[Path], T], workers: int | None = None) -> list[T]:
    """``reader(path)`` for every path, in order, in ``workers`` processes (default: one per CPU, at most 32,
    from ``PARALLEL_FROM`` files on): parsing and the schema check are CPU-bound. ``reader`` is a module-level
    function (it pickles) whose result pickles too (a Member, a Profile), and it reports a bad file in its
    result, never by raising. The workers die with this process, and a Ctrl-C is reported once, by this process
    (``_die_with_parent``)."""
    if workers is None:
        workers = min(os.cpu_count() or 1, 32) if len(paths) >= PARALLEL_FROM else 1
    if workers <= 1:
        return [reader(path) for path in paths]
    previous_hook = threading.excepthook
    threading.excepthook = _quiet_cancelled_race(previous_hook)
    try:
        with ProcessPoolExecutor(workers, initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
            return list(pool.map(reader, paths, chunksize=max(1, len(paths) // (workers * 8))))
    finally:
        threading.excepthook = previous_hook


def load_fleet(directories: Sequence[Path], workers: int | None = None,
               reader: Callable[[Path], Member | str] = read_member) -> tuple[list[Member], list[str]]:
    """Every profile under ``directories`` as a ``Member``, and a note for each YAML file that is not a
    profile, read by ``read_in_workers`` (a Member is small to send back). ``reader``: ``read_member`` or
    ``read_member_full``."""
    notes: list[str] = []
    results = read_in_workers(profile_paths(directories, notes), reader, workers)
    members = [r for r in results if isinstance(r, Member)]
    skipped = notes + [r for r in results if isinstance(r, str)]
    if not members:
        raise no_profiles_found(directories, skipped)
    return members, skipped


def no_profiles_found(directories: Sequence[Path], notes: list[str]) -> UsageError:
    """The one line when no profile was read: why, where a folder could not be listed (the first such note)."""
    where = ", ".join(str(d) for d in directories)
    unlisted = [note for note in notes if note.startswith(UNLISTED)]
    if unlisted:
        return UsageError(f"{where}: no hwbench profiles read; {unlisted[0].removeprefix('skipped ')}: give this user "
                          "read access to it, or another folder")
    return UsageError(f"{where}: no hwbench profiles found; save some with 'hwbench run --save'")
