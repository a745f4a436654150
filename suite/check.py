"""The output checks shared by every device: STREAM's scalar replay (BabelStream's check_solution) and the
closeness check. A result that fails is a MeasurementError: no figure is reported for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import MeasurementError

# STREAM initial values (exact in binary) and scalar; validation replays each kernel on these scalars.
STREAM_INITIAL = {"a": 1.0, "b": 2.0, "c": 0.5}
STREAM_SCALAR = 3.0


def replay_stream(form: str, state: dict[str, float], scalar: float = STREAM_SCALAR) -> tuple[str, float]:
    """Apply STREAM kernel ``form`` to the scalar state (BabelStream's check_solution); return the array it
    wrote and the value every element of it must now hold."""
    a, b, c = state["a"], state["b"], state["c"]
    if form == "copy":
        state["c"] = a
    elif form == "scale":
        state["b"] = scalar * c
    elif form == "add":
        state["c"] = a + b
    elif form == "triad":
        state["a"] = b + scalar * c
    else:
        raise ValueError(form)
    target = {"copy": "c", "scale": "b", "add": "c", "triad": "a"}[form]
    return target, state[target]


def check_close(name: str, values: Sequence[float], expected: float, rel_tol: float) -> None:
    for value in values:
        if not abs(float(value) - expected) <= rel_tol * abs(expected):
            raise MeasurementError(f"{name} output check failed: result {float(value)!r}, expected {expected!r} "
                                   f"(relative tolerance {rel_tol:g}); no figure is reported")


def check_stream(form: str, arrays: Mapping[str, Any], state: dict[str, float], dot_sum: float, n: int,
                 deviation: Callable[[Any, float], float]) -> None:
    """Check every element a CPU STREAM kernel wrote (or dot's sum) against the scalar replay (``replay_stream``,
    which advances ``state``); raise on mismatch. ``deviation(array, value)``: the largest |array[i] - value|,
    infinite on a NaN (``hwbench.kernels.cpu_stream.max_deviation``, compiled: no temporary array)."""
    if form == "dot":
        check_close("dot", [dot_sum], n * state["a"] * state["b"], 1e-9)
        return
    target, value = replay_stream(form, state)
    worst = deviation(arrays[target], value)
    if not worst <= 1e-12 * abs(value):
        raise MeasurementError(f"{form} output check failed: array {target} deviates from {value} by "
                               f"{worst:g}; the kernel computed a wrong result, so no figure is reported")
