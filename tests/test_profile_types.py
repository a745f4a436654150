"""The typed profile model and the JSON Schema name the same keys, section by section, so the two cannot drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hwbench.profile import json_schema
from hwbench.profile import types as t

# Each section: where the schema declares it (a path of keys; "*" is additionalProperties, "[]" items) and its type.
SECTIONS: dict[tuple[str, ...], type] = {
    (): t.ProfileData,
    ("device",): t.DeviceSection,
    ("run",): t.RunSection,
    ("run", "peers"): t.RunPeers,
    ("run", "slurm"): t.RunSlurm,
    ("run", "mpi"): t.RunMpi,
    ("run", "load"): t.RunLoad,
    ("run", "cpu_share"): t.RunCpuShare,
    ("run", "contention"): t.RunContention,
    ("run", "contention", "cpu_limit"): t.CpuLimit,
    ("clock",): t.ClockSection,
    ("clock", "by_instruction_class", "*"): t.ClassClock,
    ("compute", "*"): t.ComputeEntry,
    ("compute", "*", "stability"): t.Stability,
    ("memory", "*"): t.MemoryLevel,
    ("ridge_point", "*"): t.RidgeEntry,
    ("kernels", "[]"): t.KernelEntry,
    ("kernels", "[]", "contention"): t.KernelContention,
    ("instruction_peaks",): t.InstructionPeaks,
    ("instruction_peaks", "peaks", "*"): t.InstructionPeak,
    ("sustained",): t.SustainedSection,
    ("sustained", "kernels", "*"): t.SustainedKernel,
    ("caches",): t.CachesSection,
    ("caches", "sweep"): t.CacheSweepInfo,
    ("caches", "plateau_rule"): t.PlateauRule,
    ("caches", "theory"): t.CacheTheory,
    ("caches", "curves", "[]"): t.CacheCurve,
    ("caches", "plateaus", "[]"): t.CachePlateau,
    ("latency",): t.LatencySection,
    ("latency", "curve", "[]"): t.LatencyCurvePoint,
    ("intensity_sweep", "[]"): t.IntensityCurveEntry,
    ("intensity_sweep", "[]", "points", "[]"): t.IntensityPoint,
    ("links",): t.LinksSection,
    ("links", "pairs", "[]"): t.LinkPair,
    ("interconnect",): t.InterconnectSection,
}


def _schema_node(path: tuple[str, ...]) -> dict[str, Any]:
    node = json_schema()
    for step in path:
        node = node["additionalProperties"] if step == "*" else node["items"] if step == "[]" else \
            node["properties"][step]
    return node


def _keys(section: type) -> set[str]:
    return set(section.__required_keys__) | set(section.__optional_keys__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", list(SECTIONS), ids=lambda path: ".".join(path) or "profile")
def test_every_schema_key_of_a_section_is_a_key_of_its_type(path):
    section, node = SECTIONS[path], _schema_node(path)
    assert set(node.get("properties", {})) <= _keys(section), section.__name__
    assert set(node.get("required", ())) == set(section.__required_keys__), section.__name__  # type: ignore[attr-defined]


def test_every_schema_section_with_keys_has_a_type():
    """A section the schema gives properties to, at any depth, is in SECTIONS or under a section typed as a
    plain mapping (``dict[str, Any]``: latency.loaded, links.pairs[].sm_read, interconnect.mpi, ...)."""
    plain = {("latency", "loaded"), ("latency", "core_to_core"), ("latency", "numa"),
             ("kernels", "[]", "contention", "windows"), ("sustained", "kernels", "*", "timeline"),
             *(("links", "pairs", "[]", key) for key in ("ce_unidirectional", "sm_read", "ce_bidirectional",
                                                       "sm_bidirectional")),
             ("interconnect", "mpi"), ("interconnect", "nccl")}

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> list[tuple[str, ...]]:
        if any(path[:len(stop)] == stop for stop in plain):
            return []
        found = [path] if node.get("properties") else []
        for key, child in node.get("properties", {}).items():
            found += walk(child, (*path, key))
        for step, child in (("*", node.get("additionalProperties")), ("[]", node.get("items"))):
            if isinstance(child, dict):
                found += walk(child, (*path, step))
        return found

    assert [path for path in walk(json_schema(), ()) if path not in SECTIONS] == []


def _written(data: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], set[str]]]:
    """Every (section path, keys) a profile holds for the sections in SECTIONS."""
    found = [(path, set(data))] if path in SECTIONS and isinstance(data, dict) else []
    if isinstance(data, dict):
        for key, value in data.items():
            step = "*" if (*path, "*") in SECTIONS or any(p[:len(path) + 1] == (*path, "*") for p in SECTIONS) \
                else key
            found += _written(value, (*path, step))
    elif isinstance(data, list):
        for value in data:
            found += _written(value, (*path, "[]"))
    return found


@pytest.mark.parametrize("name", ["golden/cpu-profile.yaml", *(f"profiles/{p.name}" for p in
                                  sorted((Path(__file__).parent / "profiles").glob("*.yaml")))])
def test_every_key_a_stored_profile_holds_is_a_key_of_its_type(name):
    """The builder's keys beyond the schema's contract are typed too: a stored profile has no key its type lacks."""
    data = yaml.safe_load((Path(__file__).parent / name).read_text())
    if not isinstance(data, dict) or "schema_version" not in data:
        pytest.skip(f"{name} is not a whole profile")
    unknown = {".".join(path) or "profile": sorted(keys - _keys(SECTIONS[path])) for path, keys in _written(data, ())
               if keys - _keys(SECTIONS[path])}
    assert unknown == {}
