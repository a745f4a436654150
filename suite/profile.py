"""The profile: hwbench's versioned output file, its YAML I/O, and the roofline time model.

``schema_version`` changes whenever a key is renamed, removed or changes meaning; readers refuse other
versions (as pyperf does). Version history:

    1: first version (CPU and GPU devices; compute, memory, ridge_point, kernels, clock).

The JSON Schema ships with the package (``hwbench/schema/profile-v1.schema.json``).

The roofline model (Williams, Waterman and Patterson, CACM 2009):
    attainable FLOP/s = min(peak FLOP/s, intensity x bandwidth)
    time              = max(FLOPs / peak FLOP/s, bytes / bandwidth)
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import HwbenchError, UsageError

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "device", "compute", "memory", "kernels")


@lru_cache(maxsize=1)
def json_schema() -> dict:
    """The profile's JSON Schema (draft 2020-12), shipped as package data."""
    text = resources.files("hwbench").joinpath(f"schema/profile-v{SCHEMA_VERSION}.schema.json").read_text()
    return json.loads(text)


class Profile:
    """A loaded profile. ``data`` is the parsed YAML; the methods answer roofline questions from it."""

    def __init__(self, data: dict, source: str = "<profile>"):
        check_profile(data, source)
        self.data = data
        self.source = source

    # I/O ---------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> Profile:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file; give the path of a profile written by 'hwbench run'") from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
            raise UsageError(f"{path}: cannot read it as a profile ({error.__class__.__name__}); "
                             "give a YAML file written by 'hwbench run'") from None
        return cls.from_yaml(text, str(path))

    @classmethod
    def from_yaml(cls, text: str, source: str = "<profile>") -> Profile:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise UsageError(f"{source}: not valid YAML{where}; give a profile written by 'hwbench run'") from None
        return cls(data, source)

    def to_yaml(self) -> str:
        return dump_yaml(self.data)

    def save(self, path: str | os.PathLike) -> None:
        write_atomic(Path(path), self.to_yaml())

    # Accessors ---------------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        return str(self.data["device"]["id"])

    @property
    def precisions(self) -> list[str]:
        return list(self.data["compute"])

    def peak_gflops(self, precision: str = "fp64", theoretical: bool = False) -> float:
        entry = self.data["compute"].get(precision)
        if entry is None:
            raise UsageError(f"{self.source} has no {precision} compute ceiling; it has: "
                             f"{', '.join(self.precisions) or 'none'}")
        key = "theoretical_gflops" if theoretical else "measured_gflops"
        if entry.get(key) is None:
            raise UsageError(f"{self.source}: compute.{precision}.{key} is unknown; use the other roof")
        return float(entry[key])

    def bandwidth_gbps(self, level: str = "dram", theoretical: bool = False) -> float:
        entry = self.data["memory"].get(level)
        if entry is None:
            raise UsageError(f"{self.source} has no memory level {level!r}; it has: "
                             f"{', '.join(self.data['memory']) or 'none'}")
        key = "theoretical_gbps" if theoretical else "measured_gbps"
        if entry.get(key) is None:
            reason = entry.get("theoretical_source", "not measured")
            raise UsageError(f"{self.source}: memory.{level}.{key} is unknown ({reason}); use the measured roof")
        return float(entry[key])

    # Roofline model ----------------------------------------------------------------------------

    def attainable(self, intensity: float, precision: str = "fp64", theoretical: bool = False,
                   level: str = "dram") -> float:
        """Attainable FLOP/s at ``intensity`` FLOP per byte: min(peak, intensity x bandwidth)."""
        if intensity < 0:
            raise UsageError(f"arithmetic intensity {intensity} must be non-negative")
        peak = self.peak_gflops(precision, theoretical) * 1e9
        bandwidth = self.bandwidth_gbps(level, theoretical) * 1e9
        return min(peak, intensity * bandwidth)

    def predict_time(self, flops: float, bytes_moved: float, precision: str = "fp64",
                     theoretical: bool = False, level: str = "dram") -> float:
        """Seconds a kernel of ``flops`` and ``bytes_moved`` needs at best: max(F / peak, B / bandwidth)."""
        return max(self.compute_time(flops, precision, theoretical),
                   self.memory_time(bytes_moved, level, theoretical))

    def compute_time(self, flops: float, precision: str = "fp64", theoretical: bool = False) -> float:
        return flops / (self.peak_gflops(precision, theoretical) * 1e9)

    def memory_time(self, bytes_moved: float, level: str = "dram", theoretical: bool = False) -> float:
        return bytes_moved / (self.bandwidth_gbps(level, theoretical) * 1e9)


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


class _ProfileDumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    # Short lists of scalars (cpus, isa, samples) read better inline.
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_ProfileDumper.add_representer(list, _represent_list)


def dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_ProfileDumper, sort_keys=False, width=110, allow_unicode=True)


def check_writable(path: Path, create_parents: bool = False) -> None:
    """Fail before measuring, not after, when the output cannot be written. With ``create_parents``, the
    missing directories of ``path`` will be created at write time: check the nearest one that exists."""
    directory = path.parent if str(path.parent) else Path(".")
    if create_parents:
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        if not directory.is_dir():
            raise UsageError(f"{path}: {directory} is not a directory; remove it or run from another directory")
        path = directory / path.name
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; give a file name such as {path / 'profile.yaml'}")
    if not directory.is_dir():
        raise UsageError(f"-o {path}: directory {directory} does not exist; create it or choose another path")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"-o {path}: directory {directory} is not writable; choose another path")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"-o {path}: file is not writable; choose another path")
    # os.access trusts permission bits only (root passes on /proc or a read-only mount): create a probe.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=directory)
    except OSError as error:
        raise UsageError(f"-o {path}: cannot create a file in {directory} ({error.strerror}); "
                         "choose another path") from None
    os.close(fd)
    os.unlink(probe)


def write_atomic(path: Path, text: str | bytes, create_parents: bool = False) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over: readers never see half a file."""
    directory = path.parent if str(path.parent) else Path(".")
    if create_parents:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise HwbenchError(f"could not create {directory}: {error.strerror}; nothing was written") from None
    check_writable(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise HwbenchError(f"could not write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise HwbenchError(f"could not write {path}: {error.strerror}; nothing was written") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
