"""``--device cuda:all`` and ``--device all``: one session per device, one profile each.

By default the GPUs run at the same time, one host thread per GPU (each thread makes its own device current:
CUDA's current device is per thread, and CuPy's ``Device.use()`` follows it), and they start each kernel
together (``sync.ThreadSteps``), so power, temperature and PCIe contend as in a real job. ``--one-at-a-time``
runs them in turn. The CPU (``--device all``) is measured after the GPUs, alone: its kernels use every core it
is given, and the GPU threads need a core each to launch. With two or more GPUs the peer-to-peer matrix
(``hwbench.gpu.links``) is measured last, alone, and written into every GPU profile as ``links``.

Each profile records in ``run.peers`` the devices that ran beside it and whether they ran concurrently. A
device that fails does not stop the others: their profiles are returned, and the failure is raised after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import MeasurementError, UsageError
from ..record import ProgressCallback
from ..run.device import RunOptions, gpu_options, measure_device
from .sync import StepBarrier, ThreadSteps, synchronised

ProgressFor = Callable[[str], ProgressCallback | None]


@dataclass(frozen=True)
class DevicesRun:
    """The profiles that were measured, in device order, and the first failure (re-raised by the caller
    after the good profiles are written)."""

    profiles: list[dict]
    failure: Exception | None = None


class Staying:
    """``outer`` for the GPU threads' barrier: their steps are the ranks' steps, but when the GPUs are done the
    process still has the CPU to measure, so it does not leave the ranks' barrier yet."""

    def __init__(self, outer: StepBarrier):
        self.outer = outer

    def step(self) -> None:
        self.outer.step()

    def leave(self) -> None:
        pass


def _measure_one(target: str, options: RunOptions, progress: ProgressCallback | None) -> dict:
    return measure_device(target, options if target == "cpu" else gpu_options(options), progress)


def measure_concurrently(targets: Sequence[str], options: RunOptions, progress_for: ProgressFor,
                         outer: StepBarrier | None = None) -> tuple[dict[str, dict], dict[str, Exception]]:
    """Measure ``targets`` at once, one thread each, every kernel started together (and with the other ranks,
    through ``outer``)."""
    barrier = ThreadSteps(len(targets), outer)
    profiles: dict[str, dict] = {}
    failures: dict[str, Exception] = {}

    def work(target: str) -> None:
        try:
            profiles[target] = _measure_one(target, options, synchronised(progress_for(target), barrier))
        except Exception as error:  # reported after the other devices finish
            failures[target] = error
        finally:
            barrier.leave()

    # Daemon threads: Ctrl-C in the main thread ends the run at once instead of waiting for every GPU.
    threads = [threading.Thread(target=work, args=(target,), name=f"hwbench-{target}", daemon=True)
               for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return profiles, failures


def measure_devices(targets: Sequence[str], options: RunOptions, progress_for: ProgressFor,
                    one_at_a_time: bool = False, outer: StepBarrier | None = None,
                    links: Callable[[Sequence[int]], dict | None] | None = None) -> DevicesRun:
    """Every device of ``targets`` ('cuda:N' and 'cpu'), each profile with ``run.peers``; with two or more GPUs
    and ``links`` (``hwbench.gpu.links.measure_links``), the P2P matrix in every GPU profile."""
    gpus = [t for t in targets if t != "cpu"]
    profiles: dict[str, dict] = {}
    failures: dict[str, Exception] = {}
    if gpus and not one_at_a_time and len(gpus) > 1:
        profiles, failures = measure_concurrently(gpus, options, progress_for, Staying(outer) if outer else None)
    else:
        for target in gpus:
            try:
                profiles[target] = _measure_one(target, options, synchronised(progress_for(target), outer))
            except (UsageError, MeasurementError) as error:
                failures[target] = error
    if "cpu" in targets:
        try:
            profiles["cpu"] = _measure_one("cpu", options, synchronised(progress_for("cpu"), outer))
        except (UsageError, MeasurementError) as error:
            failures["cpu"] = error
    if outer is not None:  # this process is done: the other ranks stop waiting for it
        outer.leave()
    concurrent = len(gpus) > 1 and not one_at_a_time
    for target, data in profiles.items() if len(targets) > 1 else ():
        others = [t for t in targets if t != target]
        beside = [t for t in gpus if t != target] if target != "cpu" and concurrent else []
        data["run"]["peers"] = {
            "devices": others, "concurrent": bool(beside), "concurrent_with": beside,
            "mode": ("concurrent: every kernel started together on all GPUs" if beside else
                     "one at a time" + (" (the CPU after the GPUs, alone)" if target == "cpu" and gpus else ""))}
    if links is not None and len(gpus) > 1 and not failures:
        try:
            section = links([int(t.split(":")[1]) for t in gpus])
        except MeasurementError as error:  # a wrong copy: no links section, the device profiles are kept
            failures["links"], section = error, None
        for target in gpus if section is not None else ():
            profiles[target]["links"] = section
    ordered = [profiles[t] for t in targets if t in profiles]
    failure = next((failures[t] for t in [*targets, "links"] if t in failures), None)
    return DevicesRun(ordered, failure)
