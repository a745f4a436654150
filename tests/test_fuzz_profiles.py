"""Fuzzing: real profiles, damaged at random, fed to every command that reads profiles.

Each example takes a real profile (tests/golden, results/, tests/profiles, and the real-hardware profiles in
../shared/profiles when that folder is there, as in CI), applies one to three damages (a deleted key, a renamed
key, a wrong type, NaN, infinity, a negative number, zero, a huge number, a huge or unicode or markup string) and
sometimes truncates the text, then runs a command on it through typer's CliRunner. Pass: the exit code is 0, 1 or 2, no
traceback, and the input file is unchanged afterwards.

Example counts: ``HWBENCH_FUZZ_EXAMPLES`` (default 1800) for show, predict, compare and history, and a ninth of
that (default 200) for roofline, which draws a real image and is slower: 2,000 examples by default. The
search is derandomized (the same examples every run, so CI is reproducible); set HWBENCH_FUZZ_RANDOM=1 to
explore new ones.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hwbench.cli import app

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "profiles"
SOURCES = sorted([ROOT / "tests" / "golden" / "cpu-profile.yaml", *(ROOT / "results").glob("*.yaml"),
                  *(ROOT / "tests" / "profiles").glob("*.yaml"), *(SHARED.glob("*.yaml") if SHARED.is_dir() else [])])


def _shortened(node):
    """The profile with every list cut to its first 8 items (a GPU profile has thousands of samples): the same
    structure and keys to damage, at a fraction of the cost of loading and validating it 2,000 times."""
    if isinstance(node, dict):
        return {key: _shortened(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_shortened(value) for value in node[:8]]
    return node


BASES = [(path.name, _shortened(yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))))
         for path in SOURCES]

EXAMPLES = int(os.environ.get("HWBENCH_FUZZ_EXAMPLES", "1800"))
ROOFLINE_EXAMPLES = max(1, EXAMPLES // 9)
FUZZ = settings(deadline=None, database=None, derandomize=os.environ.get("HWBENCH_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=True)

DELETE, RENAME, NEGATE, SCALE = object(), object(), object(), object()
HOSTILE_TEXT = ["", "[bold red]x[/]", ":abc:", "[/]", "$\\frac{$", "a$b$c", "\x00\n\t\x1b[31m", "x" * 20_000,
                "😀" * 500, "ℌ𝔴𝔟𝔢𝔫𝔠𝔥", "cpu", "cuda:0", "fp64", "dram", "GB/s"]
HOSTILE_VALUES = [math.nan, math.inf, -math.inf, 0, 0.0, -0.0, -1, -1e-300, 1e-300, 1e308, 10**30, -(10**30),
                  True, False, None, [], {}, [1, "a", None], {"a": {"b": 1}}, "12", "1e309"]
MUTATION = st.one_of(
    st.sampled_from([DELETE, RENAME, NEGATE, SCALE]),
    st.sampled_from(HOSTILE_VALUES),
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)
runner = CliRunner()
# Counts over the whole run, reported at the end of the session (see test_zz_report).
TALLY = {"examples": 0, "invocations": 0, "tracebacks": 0, "clobbered": 0, "exit 0": 0, "exit 1": 0, "exit 2": 0}


def _draw_path(data, doc) -> list:
    """A path to a node of ``doc``, chosen level by level (so top-level keys are not swamped by samples)."""
    path, node = [], doc
    while isinstance(node, (dict, list)) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        path.append(key)
        node = node[key]
        if not isinstance(node, (dict, list)) or not node or data.draw(st.integers(0, 3)) == 0:
            break
    return path


def _mutate(data, doc) -> None:
    path = _draw_path(data, doc)
    if not path:
        return
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key, value = path[-1], data.draw(MUTATION)
    if value is DELETE:
        del parent[key]
    elif value is RENAME:
        if isinstance(parent, dict):
            parent[data.draw(st.sampled_from(HOSTILE_TEXT[:7]) | st.text(max_size=20))] = parent.pop(key)
    elif value is NEGATE or value is SCALE:
        current = parent[key]
        if isinstance(current, (int, float)) and not isinstance(current, bool):
            parent[key] = -current if value is NEGATE else current * 1e300
    else:
        parent[key] = copy.deepcopy(value)


def _profile_text(data) -> tuple[str, str]:
    """A damaged copy of one real profile, as YAML text, and the name of the profile it came from."""
    name, base = data.draw(st.sampled_from(BASES))
    doc = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(data, doc)
    text = yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True,
                     sort_keys=False)
    if data.draw(st.integers(0, 7)) == 0:  # truncated text, as a half-copied file
        text = text[: data.draw(st.integers(0, len(text)))]
    return text, name


def _check(args: list[str], inputs: list[Path]) -> int:
    before = [p.read_bytes() for p in inputs]
    result = runner.invoke(app, args)
    TALLY["invocations"] += 1
    crashed = (result.exception is not None and not isinstance(result.exception, SystemExit)) or \
        "Traceback" in result.output
    TALLY["tracebacks"] += crashed
    TALLY["clobbered"] += [p.read_bytes() for p in inputs] != before
    assert not crashed, f"{args}: {result.exception!r}\n{result.output[-3000:]}"
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output[-2000:])
    TALLY[f"exit {result.exit_code}"] += 1
    assert [p.read_bytes() for p in inputs] == before, f"{args} changed its input"
    if result.exit_code == 2:  # a refusal is one line on stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) >= 1 and lines[-1].startswith("hwbench: error: "), result.stderr[-2000:]
    return result.exit_code


@settings(FUZZ, max_examples=EXAMPLES)
@given(data=st.data(), command=st.sampled_from(["show", "predict", "compare", "compare-reverse", "history"]))
def test_damaged_profiles_never_crash_the_text_commands(data, command):
    text, name = _profile_text(data)
    TALLY["examples"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "history" / "host" / "cpu"
        folder.mkdir(parents=True)
        damaged = folder / "damaged.yaml"
        damaged.write_text(text)
        original = folder / "original.yaml"
        original.write_text(yaml.safe_dump(dict(BASES)[name], allow_unicode=True, sort_keys=False))
        args = {
            "show": ["show", str(damaged)],
            "predict": ["predict", str(damaged), "--flops", "2e9", "--bytes", "1e9"],
            "compare": ["compare", str(original), str(damaged), "--force"],
            "compare-reverse": ["compare", str(damaged), str(original), "-f", "markdown"],
            "history": ["history", str(Path(tmp) / "history")],
        }[command]
        _check(args, [damaged, original])


@settings(FUZZ, max_examples=ROOFLINE_EXAMPLES)
@given(data=st.data())
def test_damaged_profiles_never_crash_roofline(data):
    text, _ = _profile_text(data)
    TALLY["examples"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        damaged = Path(tmp) / "damaged.yaml"
        damaged.write_text(text)
        out = Path(tmp) / "roof.png"
        code = _check(["roofline", str(damaged), "-o", str(out), "--point", "[bold]k$x$ [/]:1e9:4e9"], [damaged])
        assert out.exists() == (code == 0)  # an image only on success, never a partial one
        assert [p.name for p in Path(tmp).iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_zz_report(capsys):
    """Not a check: prints the counts of the fuzzing above (run with -s to see them)."""
    if not TALLY["examples"]:
        pytest.skip("the fuzzing tests did not run in this session")
    with capsys.disabled():
        print(f"\nfuzz: {TALLY['examples']} damaged profiles, {TALLY['invocations']} commands run, "
              f"{TALLY['tracebacks']} tracebacks, {TALLY['clobbered']} inputs changed; exit codes 0/1/2: "
              f"{TALLY['exit 0']}/{TALLY['exit 1']}/{TALLY['exit 2']}")
    assert TALLY["tracebacks"] == 0 and TALLY["clobbered"] == 0
