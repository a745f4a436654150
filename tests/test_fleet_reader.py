"""The fleet's fast reader (``hwbench.profile.subset`` with ``fleet_load.FLEET_KEYS``) against the full loader.

The promise: for the keys fleet reads, the fast reader accepts exactly what ``Profile.load`` accepts, and a file it
refuses gets the full loader's own message. It parses less, so damage in keys fleet never reads (a per-sample array)
does not stop it; that difference is tested too, as a documented one.

The oracle for the fuzzing below: whenever the damaged text is valid YAML, the fast reader's result must equal
the structural twin of what it does by text (parse everything, keep FLEET_KEYS with ``prune_data``, check them
against the restricted schema); when that check refuses, the full loader's result.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwbench.errors import UsageError
from hwbench.profile import Profile
from hwbench.profile.files import dump_yaml
from hwbench.profile.format import check_profile
from hwbench.profile.subset import (
    LAST_KEY,
    NotPlain,
    _freeze,
    _validator_for,
    load_subset,
    prune_data,
    prune_text,
    required_top_level,
)
from hwbench.record import NODE_LABEL_VARIABLE, Host
from hwbench.tools.figures import fleet_figures_of
from hwbench.tools.fleet import fleet_report
from hwbench.tools.fleet_load import FLEET_KEYS, member_from_data, member_of, read_member, read_member_full

ROOT = Path(__file__).resolve().parents[1]
REAL = sorted([ROOT / "tests" / "golden" / "cpu-profile.yaml",
               *(path for path in (ROOT / "results").glob("*.yaml") if not path.name.startswith("validate-")),
               *(ROOT / "results").glob("fleet-*/*.yaml"), *(ROOT / "tests" / "profiles").glob("*.yaml")])
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)


def _shortened(node):
    """Every list cut to its first 6 items (fast to fuzz; the same structure and keys)."""
    if isinstance(node, dict):
        return {key: _shortened(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_shortened(value) for value in node[:6]]
    return node


@pytest.fixture
def no_fallback(monkeypatch):
    """Fail if the fast reader hands a file to the full loader."""
    def refuse(path):
        raise AssertionError(f"{path}: the fast reader fell back to Profile.load")
    monkeypatch.setattr(Profile, "load", staticmethod(refuse))


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_profiles_read_the_fast_way_give_the_same_member(path):
    full = read_member_full(path)
    data = load_subset(path, FLEET_KEYS)
    assert data == prune_data(_load(path), FLEET_KEYS)
    assert read_member(path) == full
    # the fast way was taken: the text is in the layout the pruner vouches for, and it ends with the warnings
    _, top = prune_text(path.read_text(), FLEET_KEYS)
    assert top[-1] == LAST_KEY and set(required_top_level()) <= set(top)
    # fleet compares the figures compare gates on (all but the CPU quota), in the same unit and direction
    figures = fleet_figures_of(Profile.load(path))
    assert set(full.readings) == set(figures)
    assert all((full.readings[key].value, full.readings[key].unit, full.readings[key].direction)
               == (figures[key].value, figures[key].unit, figures[key].direction) for key in figures)


def test_the_fast_way_never_calls_the_full_loader_on_a_good_file(no_fallback):
    path = ROOT / "tests" / "golden" / "cpu-profile.yaml"
    assert load_subset(path, FLEET_KEYS)["compute"]["fp64"]["measured_gflops"] == 240.0


def _set(doc: dict, where: str, value) -> None:
    *parents, last = where.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value


# Damage to keys fleet reads: both readers refuse, with the full loader's message.
DAMAGE = [
    ("compute.fp64.measured_gflops", -1.0), ("compute.fp64.measured_gflops", "fast"),
    ("compute.fp64.measured_gflops", float("nan")), ("compute.fp64.measured_gflops", True),
    ("compute.fp64.clock_mhz", 0), ("compute.fp64.flop_per_cycle", float("inf")), ("compute.fp64.kernel", 5),
    ("memory.dram.measured_gbps", 0), ("memory.dram", "fast"), ("clock.measured_mhz", -5.0), ("clock", KeyError),
    ("device.id", "gpu0"), ("device.name", KeyError), ("schema_version", 2), ("compute", KeyError),
    ("kernels", KeyError), ("created_at", "yesterday"), ("host", 7), ("run.threads", 0), ("run.quick", "yes"),
    ("kernels.0.name", 5), ("kernels.1", "copy"), ("node_label", ""), ("warnings", 3),
]


@pytest.mark.parametrize("where, value", DAMAGE, ids=[f"{w}={v!r}" for w, v in DAMAGE])
def test_damage_to_a_key_fleet_reads_gives_the_full_loaders_note(tmp_path, where, value):
    doc = _load(ROOT / "tests" / "golden" / "cpu-profile.yaml")
    _set(doc, where, value)
    path = tmp_path / "damaged.yaml"
    path.write_text(dump_yaml(doc))
    full, fast = read_member_full(path), read_member(path)
    assert isinstance(full, str) and full.startswith("skipped "), full
    assert fast == full


TEXT_DAMAGE = {
    "cut inside compute": lambda t: t[: t.index("memory:")],
    "cut inside the kernels' samples": lambda t: t[: t.index("samples: [", t.index("kernels:")) + 16],
    "cut inside the warnings": lambda t: t[:-40],
    "unclosed list in a ceiling": lambda t: t.replace("measured_gflops: 240.0", "measured_gflops: [240.0,", 1),
    "tab-indented ceiling": lambda t: t.replace("    measured_gflops: 240.0", "\tmeasured_gflops: 240.0", 1),
    "not YAML at all": lambda t: "a: [\n",
    "empty": lambda t: "",
    "a list": lambda t: "- 1\n- 2\n",
}


@pytest.mark.parametrize("damage", list(TEXT_DAMAGE))
def test_a_broken_text_gives_the_full_loaders_note(tmp_path, damage):
    path = tmp_path / "damaged.yaml"
    path.write_text(TEXT_DAMAGE[damage]((ROOT / "tests" / "golden" / "cpu-profile.yaml").read_text()))
    full, fast = read_member_full(path), read_member(path)
    assert isinstance(full, str) and full.startswith("skipped "), full
    assert fast == full


LAYOUTS = {
    "comments": lambda t: "# a profile\n" + t.replace("compute:\n", "compute:  # ceilings\n# here\n", 1),
    "document markers": lambda t: "---\n" + t + "...\n",
    "CRLF line ends": lambda t: t.replace("\n", "\r\n"),
    "anchor and alias across keys": lambda t: t.replace("host: testhost", "host: &h testhost", 1).replace(
        "  name: AMD EPYC 9555", "  name: *h", 1),
    "JSON (flow style)": lambda t: __import__("json").dumps(yaml.load(t, Loader=_Loader)),
    "indented lists": lambda t: yaml.dump(yaml.load(t, Loader=_Loader), Dumper=_IndentedDumper, sort_keys=False),
    "no newline at the end": lambda t: t.rstrip("\n"),
}


class _IndentedDumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_other_layouts_of_a_good_profile_read_the_same(tmp_path, layout):
    """Valid YAML the pruner may not vouch for: either way the same member as the full loader's."""
    path = tmp_path / "odd.yaml"
    path.write_text(LAYOUTS[layout]((ROOT / "tests" / "golden" / "cpu-profile.yaml").read_text()))
    full = read_member_full(path)
    assert not isinstance(full, str), full
    assert read_member(path) == full


def test_a_duplicate_key_is_refused_by_both_readers(tmp_path):
    """YAML keys are unique: a file that says ``host`` twice is not read with the last one winning."""
    path = tmp_path / "twice.yaml"
    text = (ROOT / "tests" / "golden" / "cpu-profile.yaml").read_text()
    path.write_text(text.replace("host: testhost\n", "host: first\nhost: testhost\n", 1))
    for reader in (read_member, read_member_full):
        note = reader(path)
        assert isinstance(note, str) and "found the key 'host' twice" in note


def test_damage_where_fleet_does_not_read_is_not_checked(tmp_path):
    """The documented difference: a broken per-sample array stops the full loader, not the fleet's reader."""
    doc = _load(ROOT / "tests" / "golden" / "cpu-profile.yaml")
    good = member_from_data(doc, "x")
    doc["kernels"][0]["samples"][1] = -1.0
    path = tmp_path / "samples.yaml"
    path.write_text(dump_yaml(doc))
    assert "kernels[0].samples[1] is -1" in read_member_full(path)
    fast = read_member(path)
    assert fast.readings == good.readings and fast.source == str(path)


@pytest.mark.parametrize("reasons, ok", [(["sw_power_cap"], True), (None, True), (5, False), ([1, 2], False),
                                         ("hw_slowdown", False)])
def test_damaged_nvml_reasons_are_a_skip_note_not_a_crash(tmp_path, reasons, ok):
    doc = _shortened(_load(ROOT / "tests" / "profiles" / "h100-sxm-full-1.yaml"))
    kernel = doc["compute"]["fp32"]["kernel"]
    entry = next(k for k in doc["kernels"] if k["name"] == kernel) if any(
        k["name"] == kernel for k in doc["kernels"]) else doc["kernels"][0]
    entry["name"] = kernel
    entry.setdefault("details", {}).setdefault("telemetry", {})["clock_event_reasons"] = reasons
    path = tmp_path / "gpu.yaml"
    path.write_text(dump_yaml(doc))
    full, fast = read_member_full(path), read_member(path)
    assert fast == full
    if ok:
        assert fast.readings["compute.fp32"].reasons == tuple(reasons or ())
    else:
        assert isinstance(fast, str) and "clock_event_reasons is not a list of NVML reason names" in fast


def test_prune_text_keeps_exactly_the_tree():
    text = ("a: 1\nb:\n  x: 1\n  y: [1,\n    2]\n  z:\n    deep: 3\nl:\n- name: k\n  samples: [1, 2]\n  details:\n"
            "    telemetry:\n      reasons: [r]\n    other: 1\n- name: j\n- 7\nw: end\n")
    keep = {"b": {"x": True, "z": {"deep": True}}, "l": {"name": True, "details": {"telemetry": True}}}
    pruned, top = prune_text(text, keep)
    assert top == ["a", "b", "l", "w"]
    assert yaml.safe_load(pruned) == prune_data(yaml.safe_load(text), keep) == {
        "b": {"x": 1, "z": {"deep": 3}},
        "l": [{"name": "k", "details": {"telemetry": {"reasons": ["r"]}}}, {"name": "j"}, 7]}
    assert yaml.safe_load(prune_text("l:\n- other: 1\n", {"l": {"name": True}})[0]) == {"l": [{}]}
    for odd in ("# c\na: 1\n", "a: 1\n? b\n: 2\n", "a: [1,\n2]\n", "a:\n  b: 1\n c: 2\n", "<<: *x\n"):
        with pytest.raises(NotPlain):
            prune_text(odd, {"a": {"b": True}})


def test_node_label_names_the_member(tmp_path, monkeypatch):
    monkeypatch.setenv(NODE_LABEL_VARIABLE, "  rack3-a  ")
    assert Host.current().node_label == "rack3-a"
    monkeypatch.setenv(NODE_LABEL_VARIABLE, " ")
    assert Host.current().node_label is None
    base = _load(ROOT / "tests" / "golden" / "cpu-profile.yaml")
    for label in ("quiet-1", "quiet-2", "quiet-3", None):
        doc = copy.deepcopy(base)
        if label:
            doc["node_label"] = label
        (tmp_path / f"{label}.yaml").write_text(dump_yaml(doc))
    check_profile({**base, "node_label": "x"}, "x")
    with pytest.raises(UsageError):
        check_profile({**base, "node_label": ""}, "x")
    from hwbench.tools.fleet import load_fleet

    members, _ = load_fleet([tmp_path])
    assert sorted(m.host for m in members) == ["testhost", "testhost (quiet-1)", "testhost (quiet-2)",
                                               "testhost (quiet-3)"]
    assert fleet_report(members).groups[0].devices == 4


# Fuzzing: the text pruning is the structural pruning --------------------------------------------------------

BASES = [_shortened(_load(path)) for path in REAL if path.stat().st_size < 200_000]
HOSTILE = [float("nan"), float("inf"), -1, 0, True, None, [], {}, "x", [1, "a"], {"a": 1}, "12", -0.0, 10**30]
LINE_DAMAGE = ["delete", "duplicate", "dedent", "indent", "comment", "anchor", "alias", "garbage", "cut"]
FUZZ = settings(deadline=None, database=None, derandomize=os.environ.get("HWBENCH_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture],
                max_examples=int(os.environ.get("HWBENCH_FUZZ_EXAMPLES", "1800")) // 12)


def _expected_fast(path: Path):
    """What the fast reader must return, computed the slow, structural way."""
    try:
        doc = yaml.load(path.read_text(), Loader=_Loader)
    except Exception:
        return read_member_full(path)
    read = {**FLEET_KEYS, LAST_KEY: True}
    top = list(doc) if isinstance(doc, dict) else []
    if not top or top[-1] != LAST_KEY or not set(required_top_level()) <= set(top):
        return read_member_full(path)
    try:
        kept = prune_data(doc, read)
        check_profile(kept, str(path), _validator_for(_freeze(read)))
    except UsageError:
        return read_member_full(path)
    try:
        return member_from_data({k: v for k, v in kept.items() if k != LAST_KEY}, str(path))
    except UsageError as error:
        return f"skipped {error}"


def _damage_lines(data, text: str) -> str:
    """One damaged line. (With two, one can break the YAML where fleet does not read and the other change a kept
    key to another valid value, which the fast reader then reads as written, by design; the oracle cannot tell
    that from a misread.)"""
    lines = text.split("\n")
    for _ in range(1):
        i = data.draw(st.integers(0, max(0, len(lines) - 1)))
        how = data.draw(st.sampled_from(LINE_DAMAGE))
        line = lines[i]
        lines[i:i + 1] = {"delete": [], "duplicate": [line, line], "dedent": [line[2:]], "indent": ["  " + line],
                          "comment": ["# " + line], "anchor": [line.replace(": ", ": &a ", 1)],
                          "alias": [line.replace(": ", ": *a ", 1)], "garbage": [line + " ]{"],
                          "cut": [line[: len(line) // 2]]}[how]
        if how == "cut" and data.draw(st.booleans()):
            del lines[i + 1:]
    return "\n".join(lines)


@FUZZ
@given(data=st.data())
def test_fuzz_the_fast_reader_is_the_structural_prune(tmp_path, data):
    doc = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(0, 2))):  # damage values
        node, parents = doc, []
        while isinstance(node, (dict, list)) and node and (not parents or data.draw(st.integers(0, 3))):
            key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
            parents.append((node, key))
            node = node[key]
        if parents:
            parent, key = parents[-1]
            parent[key] = copy.deepcopy(data.draw(st.sampled_from(HOSTILE)))
    text = undamaged = dump_yaml(doc)
    if data.draw(st.booleans()):  # damage the text
        text = _damage_lines(data, text)
    path = tmp_path / "fuzzed.yaml"
    path.write_text(text)
    fast = read_member(path)
    # the structural twin, or (where the fast way had a doubt and fell back) the full loader's verdict
    if fast == _expected_fast(path) or fast == read_member_full(path):
        return
    # the text is not YAML, and the fast reader did not see why: what it read is what the undamaged file says
    # (the documented limit: text it does not parse, it does not check)
    assert not isinstance(fast, str)
    read = {**FLEET_KEYS, LAST_KEY: True}
    assert yaml.load(prune_text(text, read)[0], Loader=_Loader) == yaml.load(prune_text(undamaged, read)[0],
                                                                              Loader=_Loader)


def test_member_of_a_profile_object_is_the_same_as_from_a_file():
    path = ROOT / "tests" / "profiles" / "h100-sxm-full-1.yaml"
    assert member_of(Profile.load(path)) == read_member(path)


# The compiled schema check agrees with jsonschema ------------------------------------------------------------

READ = {**FLEET_KEYS, LAST_KEY: True}
KEPT = [prune_data(base, READ) for base in BASES]
VALUES = [*HOSTILE, 1.0, 2.5, -0.0, 2**70, "", "x\n", "cpu", "cuda:1", "cuda:x", "cpu\n", "GB/s", "GFLOP/s", 1, 2, 0.5,
          [1, 2, 3], [0.5, 1.5],
          "2026-11-23T12:00:00Z", "2026-11-23T12:00:00.5Z", "2026-11-23", {"name": 5}, [{"name": "k"}]]


def _damaged(data, doc):
    """``doc`` with one to three values replaced by ``VALUES`` or deleted, at random depths."""
    for _ in range(data.draw(st.integers(1, 3))):
        node, parents = doc, []
        while isinstance(node, (dict, list)) and node and (not parents or data.draw(st.integers(0, 3))):
            key = data.draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
            parents.append((node, key))
            node = node[key]
        if parents:
            parent, key = parents[-1]
            if data.draw(st.integers(0, 5)) == 0 and isinstance(parent, dict):
                del parent[key]
            else:
                parent[key] = copy.deepcopy(data.draw(st.sampled_from(VALUES)))
    return doc


@settings(FUZZ, max_examples=600)
@given(data=st.data())
def test_fuzz_the_compiled_check_agrees_with_jsonschema(data):
    import jsonschema

    doc = _damaged(data, copy.deepcopy(data.draw(st.sampled_from(KEPT))))
    compiled = _validator_for(_freeze(READ))
    assert hasattr(compiled, "check"), "the fleet's keys are checked by the compiled schema"
    assert compiled.check(doc) == compiled.validator.is_valid(doc) == jsonschema.Draft202012Validator(
        compiled.validator.schema).is_valid(doc)


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def test_fuzz_the_compiled_check_of_whole_profiles_agrees_with_jsonschema(data):
    """The check every profile read goes through (format._validator): the whole schema, $ref, maximum and the
    item counts included, compiled; jsonschema on the same schema must give the same answer."""
    import jsonschema

    from hwbench.profile.format import _check_sample_arrays, _validator, json_schema

    doc = _damaged(data, copy.deepcopy(data.draw(st.sampled_from(BASES))))
    compiled = _validator()
    assert hasattr(compiled, "check"), "the whole profile schema is checked by the compiled schema"
    assert compiled.check(doc) == compiled.validator.is_valid(doc)
    try:  # the shipped schema, its $refs in place, says the same where the sample arrays (checked apart) hold
        _check_sample_arrays(doc, "fuzz") if isinstance(doc, dict) else None
    except UsageError:
        return
    assert compiled.check(doc) == jsonschema.Draft202012Validator(json_schema()).is_valid(doc)


def test_compile_schema_refuses_what_it_does_not_know():
    from hwbench.profile.schema_check import Unsupported, compile_schema, json_equal

    with pytest.raises(Unsupported):
        compile_schema({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}})
    with pytest.raises(Unsupported):
        compile_schema({"$ref": "#/$defs/positive"})
    assert not json_equal(True, 1) and json_equal(1, 1.0) and not json_equal([True], [1])
    check = compile_schema({"type": "integer", "minimum": 1})
    assert check(2) and check(2.0) and not check(2.5) and not check(True) and not check(0)
    with pytest.raises(Unsupported):  # a recursive schema
        compile_schema({"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"})
    for reference in ("other.json#/a", "#a", "#/$defs//x", "#/$defs/²"):  # elsewhere, an anchor, names nothing
        with pytest.raises(Unsupported):
            compile_schema({"$defs": {"x": {}, "a": {}}, "$ref": reference})
    with pytest.raises(Unsupported):  # a new base under the root
        compile_schema({"properties": {"a": {"$id": "https://example.com/a", "$ref": "#/b"}}, "b": {}})
    escaped = compile_schema({"$defs": {"a b": {"type": "string"}, "c/d": {"type": "integer"}},
                              "properties": {"x": {"$ref": "#/$defs/a%20b"}, "y": {"$ref": "#/$defs/c~1d"}}})
    assert escaped({"x": "s", "y": 1}) and not escaped({"x": 1}) and not escaped({"y": "s"})
    bounded = compile_schema({"$defs": {"unit": {"maximum": 1}}, "type": "array", "minItems": 1, "maxItems": 2,
                              "items": {"$ref": "#/$defs/unit"}})
    assert bounded([1]) and bounded([0.5, 1.0]) and not bounded([]) and not bounded([1, 1, 1]) and not bounded([1.5])


def test_history_reads_in_workers_what_it_reads_alone(tmp_path):
    """``read_in_workers`` (fleet's pool, which history uses too) gives each path's result in order, a broken
    file's note included, as reading them one by one does."""
    from hwbench.tools.fleet_load import read_in_workers, read_profile

    paths = [tmp_path / f"p{index}.yaml" for index in range(4)]
    for index, path in enumerate(paths):
        text = (ROOT / "tests" / "golden" / "cpu-profile.yaml").read_text()
        path.write_text(text[: len(text) // 2] if index == 2 else text)  # the third cut in half
    alone = read_in_workers(paths, read_profile, workers=1)
    pooled = read_in_workers(paths, read_profile, workers=2)
    assert [type(r) for r in pooled] == [Profile, Profile, str, Profile]
    assert pooled[2] == alone[2] and pooled[2].startswith(f"skipped {paths[2]}")
    assert [r.data for r in pooled if isinstance(r, Profile)] == [r.data for r in alone if isinstance(r, Profile)]
    assert [r.source for r in pooled if isinstance(r, Profile)] == [str(p) for i, p in enumerate(paths) if i != 2]
