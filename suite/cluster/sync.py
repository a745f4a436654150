"""The step barrier: devices (threads of one process) and ranks (MPI) start each kernel together.

The device sessions report a progress step right before each kernel they time (``ProgressCallback``); the
run path wraps that callback so that it waits here first. The sessions import nothing of this module (the
layers contract: cpu/ and gpu/ know only the callback).

The barrier tolerates members with different numbers of steps (two GPU models in one node, a CPU beside GPUs):
a member that is done ``leave()``s, and the others stop waiting for it. Over MPI the same is done with
``allreduce``: a running rank contributes 1 per step, a finished one keeps contributing 0 until every rank has
finished, so every rank makes the same number of collective calls and none waits forever.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from ..record import ProgressCallback


class StepBarrier(Protocol):
    def step(self) -> None:
        """Wait until every member still running has reached its next step."""

    def leave(self) -> None:
        """This member is done: no one waits for it any more."""


class MpiSteps:
    """The step barrier between MPI ranks (``comm``: an mpi4py communicator; one member per rank)."""

    def __init__(self, comm: Any):
        self.comm = comm
        self.steps = 0

    def step(self) -> None:
        self.comm.allreduce(1)
        self.steps += 1

    def leave(self) -> None:
        while self.comm.allreduce(0) > 0:  # match the steps of ranks still running, until all are done
            pass


class ThreadSteps:
    """The step barrier between ``members`` threads; when all running members arrive, ``outer.step()`` (the
    ranks' barrier, if any) is taken once by the last one, then all go on together."""

    def __init__(self, members: int, outer: StepBarrier | None = None):
        self.running = members
        self.outer = outer
        self._arrived = 0
        self._generation = 0
        self._condition = threading.Condition()

    def _release(self) -> None:  # with the condition held
        if self.outer is not None:
            self.outer.step()
        self._arrived = 0
        self._generation += 1
        self._condition.notify_all()

    def step(self) -> None:
        with self._condition:
            generation = self._generation
            self._arrived += 1
            if self._arrived >= self.running:
                self._release()
                return
            self._condition.wait_for(lambda: self._generation != generation)

    def leave(self) -> None:
        with self._condition:
            self.running -= 1
            if self.running == 0:
                if self.outer is not None:
                    self.outer.leave()
            elif self._arrived >= self.running:
                self._release()


def synchronised(progress: ProgressCallback | None, barrier: StepBarrier | None) -> ProgressCallback | None:
    """``progress`` that first waits at ``barrier`` before each step but the final "done"."""
    if barrier is None:
        return progress

    def report(label: str, index: int, total: int) -> None:
        if label != "done":
            barrier.step()
        if progress is not None:
            progress(label, index, total)

    return report


