"""The profile's format: its version, its JSON Schema, and the check every reader applies.

``schema_version`` changes whenever a key is renamed, removed or changes meaning; readers refuse other
versions (as pyperf does). Version history:

    1: first version (CPU and GPU devices; compute, memory, ridge_point, kernels, clock).

The JSON Schema ships with the package (``hwbench/profile/schema/profile-v1.schema.json``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import UsageError

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "device", "compute", "memory", "kernels")


@lru_cache(maxsize=1)
def json_schema() -> dict:
    """The profile's JSON Schema (draft 2020-12), shipped as package data."""
    text = resources.files("hwbench.profile").joinpath(f"schema/profile-v{SCHEMA_VERSION}.schema.json").read_text()
    return json.loads(text)


def check_profile(data: Any, source: str) -> None:
    """Refuse anything that is not a schema-1 profile, with a one-line reason."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise UsageError(f"{source} is not an hwbench profile (no schema_version); give a file written by "
                         "'hwbench run'")
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        raise UsageError(f"{source} is a schema_version {version!r} profile; this hwbench reads version "
                         f"{SCHEMA_VERSION}: re-run 'hwbench run' or use a matching hwbench")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise UsageError(f"{source} is not a complete hwbench profile: missing {', '.join(missing)}")
    try:
        import jsonschema
    except ImportError:  # the test extra; without it only the checks above apply
        return
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(json_schema()).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise UsageError(f"{source} does not match the profile schema at {where}: {error.message}")
