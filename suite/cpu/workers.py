"""A pool of threads, each pinned to one CPU, that run numba ``nogil`` kernels at the same moment.

Timing invariant: every worker waits at a barrier, reads ``perf_counter`` and runs its task; the
repetition's time is from the earliest start to the latest end, so it covers the slowest thread (as
STREAM's timer around an OpenMP region does). Pool set-up and thread start are outside the timing.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import MeasurementError


class PinnedPool:
    def __init__(self, cpus: Sequence[int]):
        self.cpus = list(cpus)
        self._barrier = threading.Barrier(len(self.cpus))
        self._inboxes: list[queue.Queue] = [queue.Queue() for _ in self.cpus]
        self._outbox: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._work, args=(i, cpu), daemon=True, name=f"hwbench-cpu{cpu}")
                         for i, cpu in enumerate(self.cpus)]
        for thread in self._threads:
            thread.start()
        pinned = [self._outbox.get() for _ in self._threads]
        failed = [message for message in pinned if message]
        if failed:
            self.close()
            raise MeasurementError(failed[0])

    def _work(self, index: int, cpu: int) -> None:
        try:
            os.sched_setaffinity(0, {cpu})  # pid 0: the calling thread
            self._outbox.put(None if os.sched_getaffinity(0) == {cpu} else f"could not pin a thread to CPU {cpu}")
        except OSError as error:
            self._outbox.put(f"could not pin a thread to CPU {cpu}: {error.strerror}")
            return
        while True:
            task = self._inboxes[index].get()
            if task is None:
                return
            try:
                self._barrier.wait()
                start = time.perf_counter()
                result = task()
                end = time.perf_counter()
                self._outbox.put((index, start, end, result, None))
            except BaseException as error:  # reported to the caller, never swallowed
                self._barrier.abort()
                self._outbox.put((index, 0.0, 0.0, None, error))

    def run(self, tasks: Sequence[Callable[[], Any]]) -> tuple[float, list[Any]]:
        """Run ``tasks[i]`` on worker ``i``, all together; return (seconds, results in worker order)."""
        if len(tasks) != len(self.cpus):
            raise ValueError(f"{len(tasks)} tasks for {len(self.cpus)} workers")
        for inbox, task in zip(self._inboxes, tasks):
            inbox.put(task)
        replies = sorted((self._outbox.get() for _ in tasks), key=lambda reply: reply[0])
        errors = [reply[4] for reply in replies if reply[4] is not None]
        if errors:
            self._barrier.reset()
            real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
            raise (real or errors)[0]
        seconds = max(reply[2] for reply in replies) - min(reply[1] for reply in replies)
        return seconds, [reply[3] for reply in replies]

    def close(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> PinnedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
