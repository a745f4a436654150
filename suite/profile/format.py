"""The profile's format: its version, its JSON Schema, and the check every reader applies.

``schema_version`` changes whenever a key is renamed, removed or changes meaning; readers refuse other
versions (as pyperf does). Version history:

    1: first version (CPU and GPU devices; compute, memory, ridge_point, kernels, clock).
       hwbench 0.2.0 adds optional keys only, so 0.1.0's profiles stay readable and comparable:
       headline_rule (measured_* is each kernel's confirmed best, kernels[].ceiling, not its single best
       sample; a profile without the key used the best), clock.cross_check_mhz/probe_status, per-ceiling
       clock_source/per/throttled/measurement_error, memory.l1/l2/l3 and caches, kernels[].sample_clocks_mhz,
       intensity_sweep (the measured roofline curves), node_label (HWBENCH_NODE_LABEL: names a node whose
       host name does not tell it apart), run.peers (--device cuda:all/all), run.slurm, run.mpi and
       run.cpu_share (srun, --mpi), links (the GPU peer-to-peer matrix), interconnect (--mpi: MPI ping-pong
       and NCCL all-reduce).

The JSON Schema ships with the package (``hwbench/profile/schema/profile-v1.schema.json``) and bounds every
number it can (rates and sizes positive, spreads non-negative). JSON Schema has no NaN or infinity, which
YAML has (``.nan``, ``.inf``): ``check_profile`` refuses those itself, naming the key (``compute.fp64.
measured_gflops is nan``), before the schema check.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import UsageError
from ..safe_text import one_line, shown
from .schema_check import ErrorSource, compiled_or_plain

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "device", "compute", "memory", "kernels")


@lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The profile's JSON Schema (draft 2020-12), shipped as package data."""
    text = resources.files("hwbench.profile").joinpath(f"schema/profile-v{SCHEMA_VERSION}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


SAMPLE_ARRAYS = ("samples", "sample_clocks_mhz")  # per-kernel arrays of positive numbers, thousands long


def _inline_scalar_refs(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` to a scalar definition (``positive``, ``number_or_null``...) replaced by the
    definition itself: the same rules, without a reference lookup for each of thousands of numbers."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        annotations = {key: value for key, value in node.items() if key in ("description", "title", "$comment")}
        if len(node) == 1 + len(annotations) and ref.startswith("#/$defs/") and \
                "$ref" not in json.dumps(defs[ref[8:]]):  # annotations beside a $ref change no verdict
            return {**defs[ref[8:]], **annotations}
        return {key: _inline_scalar_refs(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_scalar_refs(value, defs) for value in node]
    return node


@lru_cache(maxsize=1)
def _validator() -> ErrorSource:
    """The schema as hwbench checks it: scalar ``$ref``s inlined, and the bounds of the per-sample arrays left to
    ``_check_sample_arrays`` (the same rule in a plain loop). An H100 profile holds ~4,300 samples; checked
    through jsonschema they took 0.2 s of every load. Compiled (``schema_check``) where it can be."""
    import jsonschema  # a dependency; imported on first use (it takes a while to import)

    schema = _inline_scalar_refs(json_schema(), json_schema()["$defs"])
    kernel = schema["properties"]["kernels"]["items"]["properties"]
    for name in SAMPLE_ARRAYS:
        kernel[name] = {"type": "array"}
    # compiled: check_profile of the Zen 5 profile took ~5 ms, against ~14 ms through jsonschema (CI guest,
    # 2026-12-03); jsonschema still says what is wrong with an invalid one
    return compiled_or_plain(schema, jsonschema.Draft202012Validator(schema))


def _check_sample_arrays(data: dict[str, Any], source: str) -> None:
    """Every per-sample figure of every kernel is a positive number (the shipped schema's rule for them)."""
    kernels = data.get("kernels")
    for index, kernel in enumerate(kernels if isinstance(kernels, list) else ()):
        for name in SAMPLE_ARRAYS:
            values = kernel.get(name) if isinstance(kernel, dict) else None
            for position, value in enumerate(values if isinstance(values, list) else ()):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                    raise UsageError(f"{source}: {yaml_path(('kernels', index, name, position))} is "
                                     f"{shown(value)}; it must be a number greater than 0: re-run 'hwbench run' "
                                     "or fix the file")


def yaml_path(parts: Iterable[str | int]) -> str:
    """A location in the profile as its YAML keys: ``compute.fp64.measured_gflops``, ``kernels[0].best``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + one_line(str(part), 40)
    return text or "(top level)"


# Bounds on every number of a profile, checked before any arithmetic: a float beyond them overflows to
# infinity (or divides to it) in the products and quotients of compare, predict and the plots; an integer
# beyond 2^63 has no float near it (a 400-digit integer raises OverflowError in float()).
MAX_FLOAT = 1e24  # the largest figure: 1e24 x 1e9 (GFLOP/s to FLOP/s) is still far from 1.8e308
MIN_FLOAT = 1e-30  # the smallest non-zero magnitude: its inverse stays finite
MAX_INT = 2**63
MAX_RUN_THREADS = 1 << 16  # run.threads sizes the working sets 'validate' allocates


def _out_of_bounds(value: Any) -> str | None:
    """Why a number cannot be used in arithmetic, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"is {value}; every number in a profile must be finite"
        if value != 0 and not MIN_FLOAT <= abs(value) <= MAX_FLOAT:
            return f"is {value:g}; every number in a profile must lie within {MIN_FLOAT:g} to {MAX_FLOAT:g} (or be 0)"
    elif isinstance(value, int) and abs(value) > MAX_INT:
        return f"is an integer of {len(str(abs(value)))} digits; every integer in a profile must lie within 2^63"
    return None


def _bad_number(data: Any, parts: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], str] | None:
    """The path of the first number anywhere in ``data`` that ``_out_of_bounds`` refuses, and why; or None.
    Each container is visited once, even where YAML aliases share it between many places, and the walk is
    iterative (deep nesting cannot exhaust the stack)."""
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, parts)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, (dict, list)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            items = list(value.items() if isinstance(value, dict) else enumerate(value))
            stack.extend((item, (*where, key)) for key, item in reversed(items))
        elif (why := _out_of_bounds(value)) is not None:
            return where, why
    return None


def parse_created_at(created: str) -> dt.datetime | None:
    """A profile's ``created_at`` (ISO 8601, UTC: ``2026-12-03T06:56:26Z``) as a time, or None if it is none."""
    try:
        return dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_created_at(created: Any, source: str) -> None:
    """``created_at`` is an ISO 8601 time (``history`` orders runs by it): "2026-13-45T99:00:00Z" is refused, not
    sorted as text."""
    if isinstance(created, str) and parse_created_at(created) is None:  # a wrong type: the schema names it
        raise UsageError(f"{source}: created_at {shown(created)} is not a date and time (ISO 8601, e.g. "
                         "2026-12-03T06:56:26Z): re-run 'hwbench run' or fix the file")


def check_profile(data: Any, source: str, validator: ErrorSource | None = None) -> None:
    """Refuse anything that is not a schema-1 profile with finite numbers in their bounds, with a one-line
    reason that names the key. ``validator``: a jsonschema validator of another schema than the profile's
    (``subset.load_subset`` checks the keys it reads against the schema restricted to them)."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise UsageError(f"{source} is not an hwbench profile (no schema_version); give a file written by "
                         "'hwbench run'")
    version = data["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise UsageError(f"{source} is a schema_version {shown(version)} profile; this hwbench reads version "
                         f"{SCHEMA_VERSION}: re-run 'hwbench run' or use a matching hwbench")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise UsageError(f"{source} is not a complete hwbench profile: missing {', '.join(missing)}; re-run "
                         "'hwbench run' or fix the file")
    bad = _bad_number(data)
    if bad is not None:
        raise UsageError(f"{source}: {yaml_path(bad[0])} {bad[1]}: re-run 'hwbench run' or fix the file")
    threads = data.get("run", {}).get("threads") if isinstance(data.get("run"), dict) else None
    if isinstance(threads, (int, float)) and not isinstance(threads, bool) and threads > MAX_RUN_THREADS:
        raise UsageError(f"{source}: run.threads is {shown(threads)}; at most {MAX_RUN_THREADS} threads: re-run "
                         "'hwbench run' or fix the file")
    _check_sample_arrays(data, source)
    _check_created_at(data.get("created_at"), source)
    from jsonschema.exceptions import best_match

    try:
        error = best_match((validator or _validator()).iter_errors(data))
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply to be an hwbench profile") from None
    if error is None:
        return
    where = yaml_path(error.absolute_path)
    bound = {"exclusiveMinimum": "greater than", "minimum": "at least"}.get(error.validator)
    if bound is not None:
        raise UsageError(f"{source}: {where} is {shown(error.instance)}; it must be {bound} "
                         f"{shown(error.validator_value)}: re-run 'hwbench run' or fix the file")
    slashed = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    raise UsageError(f"{source} does not match the profile schema at {one_line(slashed, 80)}: "
                     f"{one_line(error.message, 160)}; re-run 'hwbench run' or fix the file")
