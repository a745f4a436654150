"""The probe suite: every hostile input and fault tried on hwbench, as a real ``hwbench`` process each.

Table-driven and black-box: a row is a command line (or a shell line), the exit code it must end with, a pattern
its one stderr line must match, and what must not be damaged. The harness enforces for every row:

- a hard time bound: a row that has not ended by its ``timeout`` has its whole process group killed and fails
  (a hang is a failure, never a stuck CI);
- the exit code, exactly; for a non-zero code other than 141, the last stderr line matches ``line`` and starts
  with ``hwbench: error:``; never a traceback;
- nothing damaged: every file the row set up and does not list in ``writes`` is byte for byte as it was; no
  temporary file (``.*.tmp``) is left anywhere in its folder; no process of its session is left running.

Signals at chosen instants use the test-only pause point (``HWBENCH_TEST_PAUSE_AT``, ``hwbench.process``):
hwbench prints ``hwbench: test pause at POINT (pid N)`` and waits; the harness sends the signal then. Rows
marked ``user`` run as an unprivileged user the suite creates (``useradd`` as root; CI runs as root, which
would hide permission faults); rows marked ``mount`` need a 64 KiB tmpfs or a read-only bind mount (root);
rows marked ``mpi`` run under the mpich wheel's ``mpiexec``. Under ``CI=true`` none of them is skipped: a
missing capability fails.

How to reproduce one probe by hand is in docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import default_signal_dispositions

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "cpu-profile.yaml"
HWBENCH = [sys.executable, "-m", "hwbench"]
PROBE_USER = "hwbench-probe"
CI = os.environ.get("CI") == "true"
MARKER = re.compile(r"hwbench: test pause at \S+ \(pid (\d+)\)")

@dataclass
class Probe:
    name: str
    args: list[str] | None  # hwbench's arguments; "{d}" is the probe's folder, "{mpiexec}" the launcher
    code: int | None  # None: any non-zero code (a launcher's, after one rank was killed outright)
    line: str = ""  # a regex the last stderr line must match (a shell row: any stderr line)
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    shell: str | None = None  # a bash line instead of args; $HWBENCH runs hwbench
    writes: tuple[str, ...] = ()  # files (relative to the folder) the row may create or change
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None
    signal_at: tuple[str, int, str] | None = None  # (pause point, signal, to whom: "paused", "parent", "group")
    timeout: float = 60.0
    needs: tuple[str, ...] = ()  # "user", "mount", "mpi"


# Set-ups ---------------------------------------------------------------------------------------------------

GOOD = GOLDEN.read_text()


def good_data() -> dict:
    return yaml.safe_load(GOOD)


def put(name: str, text: str | bytes) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for one in setups:
            one(d)
    return setup


def fifo(name: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(d / name)
    return setup


def link(name: str, target: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, d / name)
    return setup


def fleet_dir(name: str = "fleet", extra: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A folder with one good profile (so the command has something to read) and whatever ``extra`` adds."""
    def setup(d: Path) -> None:
        (d / name).mkdir(exist_ok=True)
        (d / name / "good.yaml").write_text(GOOD)
        if extra is not None:
            extra(d / name)
    return setup


BOMB_LEVELS = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
BOMB = "\n".join(BOMB_LEVELS) + "\n"
BOMB_IN_WARNINGS = GOOD[: GOOD.rindex("warnings:")] + "warnings:\n" + "".join(
    f"- &w{i} [" + (", ".join(["x"] * 9) if i == 0 else ", ".join([f"*w{i - 1}"] * 9)) + "]\n" for i in range(9))


def with_value(path: tuple, value: object, text: str | None = None) -> str:
    data = good_data()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return text if text is not None else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred"
HUGE_INT_TEXT = GOOD.replace("measured_gflops: ", "measured_gflops: " + "9" * 400 + " #", 1)
BIG_SAMPLES = GOOD[: GOOD.rindex("warnings:")] + "big: [" + "1.0, " * (17 * 1024 * 1024 // 5) + "1.0]\n" + \
    GOOD[GOOD.rindex("warnings:"):]
DEEP = "a: " + "[" * 10_000 + "]" * 10_000 + "\n"


def old_profile(d: Path) -> None:
    (d / "out.yaml").write_text(GOOD)


def fill_tmpfs(d: Path) -> None:
    """A 64 KiB tmpfs at d/full, filled up."""
    (d / "full").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d / "full")], check=True)
    try:
        with open(d / "full" / "filler", "wb") as handle:
            while True:
                handle.write(b"x" * 4096)
                handle.flush()
    except OSError:  # ENOSPC: full
        pass


def read_only(d: Path) -> None:
    """d/ro: a read-only bind mount of d/src, with one file in it."""
    (d / "src").mkdir()
    (d / "src" / "old.yaml").write_text(GOOD)
    (d / "ro").mkdir()
    subprocess.run(["mount", "--bind", str(d / "src"), str(d / "ro")], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(d / "ro")], check=True)


def root_owned(name: str, mode: int, text: str = GOOD) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / name).write_text(text)
        os.chown(d / name, 0, 0)
        os.chmod(d / name, mode)
    return setup


def foreign_file(name: str, mode: int) -> Callable[[Path], None]:
    """A file owned by the probe user (another user than root, who replaces it)."""
    def setup(d: Path) -> None:
        (d / name).write_text("old\n")
        entry = pwd.getpwnam(PROBE_USER)
        os.chown(d / name, entry.pw_uid, entry.pw_gid)
        os.chmod(d / name, mode)
    return setup


def sticky_dir(d: Path) -> None:
    (d / "sticky").mkdir()
    os.chmod(d / "sticky", 0o1777)
    (d / "sticky" / "shared.yaml").write_text(GOOD)
    os.chmod(d / "sticky" / "shared.yaml", 0o666)


def locked_subfolder(d: Path) -> None:
    (d / "fleet" / "locked").mkdir(parents=True)
    (d / "fleet" / "good.yaml").write_text(GOOD)
    (d / "fleet" / "locked" / "hidden.yaml").write_text(GOOD)
    os.chmod(d / "fleet" / "locked", 0)


def locked_only(d: Path) -> None:
    """The only profiles sit in a subfolder the probe user cannot list."""
    (d / "fleet" / "locked").mkdir(parents=True)
    (d / "fleet" / "locked" / "hidden.yaml").write_text(GOOD)
    os.chmod(d / "fleet" / "locked", 0)


def big_fleet(d: Path) -> None:
    """3,007 profiles: 2,702 good (three hosts' worth of models), 300 broken, 5 unreadable to the probe user."""
    (d / "fleet").mkdir()
    for index in range(3007):
        text = GOOD.replace("host: testhost", f"host: node{index}", 1)
        if index < 300:
            text = text[: len(text) // 2]  # cut in half, as a copy that stopped
        (d / "fleet" / f"p{index:04d}.yaml").write_text(text)
        if 300 <= index < 305:
            os.chmod(d / "fleet" / f"p{index:04d}.yaml", 0o600)


def many_profiles(d: Path) -> None:
    """70 profiles: over fleet_load.PARALLEL_FROM (64), so fleet and history read them in worker processes."""
    (d / "fleet").mkdir()
    for index in range(70):
        (d / "fleet" / f"p{index}.yaml").write_text(GOOD.replace("host: testhost", f"host: node{index}", 1))


# Checks ----------------------------------------------------------------------------------------------------


STDOUT_FULL = "could not write standard output: No space left on device; free some space, or send standard output"


def table_written(d: Path) -> None:
    assert "GFLOP/s" in (d / "table.txt").read_text()


def profile_ok(d: Path) -> None:
    """A profile written while fd 2 was closed holds no stray text (a warning sent to a file that took fd 2)."""
    assert yaml.safe_load((d / "out.yaml").read_text())["schema_version"] == 1


def numba_warned_once(d: Path, result: subprocess.CompletedProcess) -> None:
    """numba's own warning (a traceback in its text) is one hwbench line; every stderr line is hwbench's."""
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("hwbench: ") for line in lines), lines
    assert sum("numba: Environment variable 'NUMBA_OPT'" in line for line in lines) == 1, lines


def escaped_arrow(result: subprocess.CompletedProcess) -> None:
    assert "\\u2192" in result.stdout, result.stdout[:500]


def one_error_line(d: Path, result: subprocess.CompletedProcess) -> None:
    """A shell row's stderr holds one hwbench error line (rows run by hwbench alone are checked so anyway)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("hwbench: error:")]
    assert len(errors) == 1, result.stderr[-2000:]


def one_stderr_line(result: subprocess.CompletedProcess) -> None:
    """Only hwbench's own line: no library warning (matplotlib's "Glyph 27 missing from font") got through."""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]


def _report(workload: str = "", device: str = "") -> str:
    return f"hwbench_validation: 6\n{device}workloads:\n- {{name: w, intensity: 1.0, measured_gflops: 2.0{workload}}}\n"


def glyphs_warned_once(d: Path, result: subprocess.CompletedProcess) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("hwbench: warning: the chart's font has no glyph for 3"), lines


WRONG_TYPE_REPORTS = [
    ("error_pct", r"workloads\[0\] \(w\)\.error_pct is 'bad'", _report(", error_pct: bad")),
    ("calibrated error", r"error_pct\.calibrated is '12%'", _report(", error_pct: {calibrated: '12%'}")),
    ("precision", r"\(w\)\.precision is 5", _report(", precision: 5")),
    ("device", r"device is \[1\]", _report(device="device: [1]\n")),
]


def stderr_has(text: str) -> Callable[[Path, subprocess.CompletedProcess], None]:
    def check(d: Path, result: subprocess.CompletedProcess) -> None:
        assert text in result.stderr, result.stderr[-2000:]
    return check


def no_escape_on_stderr(result: subprocess.CompletedProcess) -> None:
    assert "\x1b" not in result.stderr and "\\x1b[2Jx.prom" in result.stderr, result.stderr[-2000:]


def no_escape_on_stdout(d: Path, result: subprocess.CompletedProcess) -> None:
    assert "\x1b" not in result.stdout and "\\x1b" in result.stdout, result.stdout[-2000:]


def log_kept(d: Path, result: subprocess.CompletedProcess) -> None:
    text = (d / "build.log").read_text()
    assert text.startswith("earlier line\n") and "schema_version: 1" in text


def mode_and_owner_kept(d: Path, result: subprocess.CompletedProcess) -> None:
    info, entry = os.stat(d / "metrics.prom"), pwd.getpwnam(PROBE_USER)
    assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o600, entry.pw_uid, entry.pw_gid)
    assert "hwbench_ceiling" in (d / "metrics.prom").read_text()


def new_file_respects_umask(d: Path, result: subprocess.CompletedProcess) -> None:
    assert os.stat(d / "metrics.prom").st_mode & 0o777 == 0o640


def out_intact(d: Path, result: subprocess.CompletedProcess) -> None:
    assert (d / "out.yaml").read_text() == GOOD


def only_rank0_folder(d: Path, result: subprocess.CompletedProcess) -> None:
    assert sorted(p.name.rsplit("-", 1)[-1] for p in (d / "mine").iterdir()) == ["rank0.yaml", "rank1.yaml"]
    assert not (d / "nonexistent").exists()


def said_what_was_written(d: Path, result: subprocess.CompletedProcess) -> None:
    assert (d / "out.yaml").read_text() != GOOD  # -o was written before the interruption
    assert "out.yaml was written, nothing else" in result.stderr.strip().splitlines()[-1]
    assert not (d / "saved").exists()  # neither a file nor the folders made for it: the write did not happen


def saved_full(d: Path, result: subprocess.CompletedProcess) -> None:
    assert "out.yaml was written, nothing else" in result.stderr.strip().splitlines()[-1]


def two_saves(d: Path, result: subprocess.CompletedProcess) -> None:
    assert len(list((d / "saved").rglob("*.yaml"))) == 2


def noted_broken_and_unreadable(d: Path, result: subprocess.CompletedProcess) -> None:
    notes = [line for line in result.stderr.splitlines() if line.startswith("hwbench: warning: skipped")]
    assert len(notes) == 305 and sum("permission denied" in note for note in notes) == 5, result.stderr[-2000:]
    assert "none of 2702 devices" in result.stdout or "of 2702 devices" in result.stdout, result.stdout[-1500:]


def save_sanitised(d: Path, result: subprocess.CompletedProcess) -> None:
    files = [p for p in (d / "saved").rglob("*.yaml")]
    assert len(files) == 1 and ".." not in files[0].relative_to(d).parts


# The table -------------------------------------------------------------------------------------------------

P = Probe
G = "{d}/good.yaml"
RUN = ["run", "--device", "cpu", "-k", "copy", "--quick"]  # the smallest real measurement (~3 s on 2 cores)
RO = "not writable|cannot create"  # a read-only mount: os.access says so (EROFS), or creating a file fails
PROBES: list[Probe] = [
    # Reads that hung, ran out of memory or burnt a CPU
    P("fifo as a profile: show", ["show", "{d}/f.yaml"], 2, r"f\.yaml: .*it is a FIFO", fifo("f.yaml"), timeout=20),
    P("fifo in a fleet folder", ["fleet", "{d}/fleet"], 0, "", fleet_dir(extra=fifo("f.yaml")), timeout=20,
      check=stderr_has("FIFO")),
    P("fifo in a history folder", ["history", "{d}/fleet"], 0, "", fleet_dir(extra=fifo("f.yaml")), timeout=20),
    P("fifo as validate's profile", ["validate", "{d}/f.yaml"], 2, "it is a FIFO", fifo("f.yaml"), timeout=20),
    P("fifo as --validation", ["roofline", G, "--validation", "{d}/f.yaml", "-o", "{d}/r.svg"], 2,
      "it is a FIFO", fifo("f.yaml"), timeout=30),
    P("/dev/zero as a profile", ["show", "/dev/zero"], 2, "it is a character device", timeout=20),
    P("/dev/urandom as a profile", ["compare", "/dev/urandom", G], 2, "it is a character device", timeout=20),
    P("/dev/zero linked into a fleet", ["fleet", "{d}/fleet"], 0, "", fleet_dir(extra=link("z.yaml", "/dev/zero")),
      timeout=20, check=stderr_has("character device")),
    P("alias bomb: show", ["show", "{d}/b.yaml"], 2, "alias bomb", put("b.yaml", BOMB), timeout=20),
    P("alias bomb: compare", ["compare", G, "{d}/b.yaml"], 2, "alias bomb", put("b.yaml", BOMB), timeout=20),
    P("alias bomb: predict", ["predict", "{d}/b.yaml", "--flops", "1e9", "--bytes", "1e9"], 2, "alias bomb",
      put("b.yaml", BOMB), timeout=20),
    P("alias bomb: roofline", ["roofline", "{d}/b.yaml", "-o", "{d}/r.svg"], 2, "alias bomb", put("b.yaml", BOMB),
      timeout=30),
    P("alias bomb: validate", ["validate", "{d}/b.yaml"], 2, "alias bomb", put("b.yaml", BOMB), timeout=20),
    P("alias bomb: history", ["history", "{d}/fleet"], 0, "", fleet_dir(extra=put("b.yaml", BOMB)), timeout=20,
      check=stderr_has("alias bomb")),
    P("alias bomb in warnings: fleet", ["fleet", "{d}/fleet"], 0, "",
      fleet_dir(extra=put("b.yaml", BOMB_IN_WARNINGS)), timeout=20, check=stderr_has("alias bomb")),
    P("a 17 MB samples array", ["show", "{d}/big.yaml"], 2, r"larger than 16 MiB", put("big.yaml", BIG_SAMPLES),
      timeout=20),
    P("a 400-digit integer", ["show", "{d}/n.yaml"], 2, "integer of 400 digits", put("n.yaml", HUGE_INT_TEXT)),
    P("a duplicate key appended", ["show", "{d}/dup.yaml"], 2, "found the key 'schema_version' twice",
      put("dup.yaml", GOOD + "schema_version: 1\ncompute: {}\n")),
    P("run.threads 1e12 given to validate", ["validate", "{d}/t.yaml"], 2, r"run\.threads is 1000000000000",
      put("t.yaml", with_value(("run", "threads"), 10**12))),
    P("a symlink loop", ["show", "{d}/loop"], 2, "too many levels of symbolic links",
      both(link("loop", "loop2"), link("loop2", "loop"))),
    P("a name too long", ["show", "{d}/" + "n" * 300], 2, "the name is too long"),
    P("a path through a file (ENOTDIR)", ["show", G + "/x.yaml"], 2, "a part of the path is not a directory"),
    P("/proc/self/mem", ["show", "/proc/self/mem"], 2, r"/proc or /sys file"),
    # Reads that passed before: keep them
    P("a dangling link", ["show", "{d}/dangling"], 2, "no such file", link("dangling", "/nonexistent/x")),
    P("a directory", ["show", "{d}"], 2, r"it is a directory"),
    P("an empty file", ["show", "{d}/e.yaml"], 2, "not an hwbench profile", put("e.yaml", "")),
    P("non-UTF-8 bytes", ["show", "{d}/b.yaml"], 2, "not UTF-8", put("b.yaml", b"\xff\xfe\x00garbage")),
    P("UTF-16", ["show", "{d}/u.yaml"], 2, "not UTF-8", put("u.yaml", GOOD.encode("utf-16"))),
    P("a NUL byte", ["show", "{d}/z.yaml"], 2, "not valid YAML", put("z.yaml", GOOD.replace("host:", "ho\0st:"))),
    P("a BOM before a good profile", ["show", "{d}/bom.yaml"], 0, "", put("bom.yaml", "\ufeff" + GOOD)),
    P("a plain alias (not a bomb)", ["show", "{d}/a.yaml"], 0, "",
      put("a.yaml", GOOD.replace("host: testhost", "host: &h testhost", 1))),
    P("a 100 MB scalar (over the cap)", ["show", "{d}/s.yaml"], 2, "larger than 16 MiB",
      put("s.yaml", "name: " + "a" * (17 * 1024 * 1024) + "\n"), timeout=20),
    P("10,000-deep nesting", ["show", "{d}/deep.yaml"], 2, "nested too deeply|not valid YAML|not an hwbench profile",
      put("deep.yaml", DEEP)),
    P("nan in a figure", ["show", "{d}/nan.yaml"], 2, r"is nan; every number in a profile must be finite",
      put("nan.yaml", with_value(("compute", "fp64", "measured_gflops"), float("nan")))),
    P("-inf in a figure", ["show", "{d}/inf.yaml"], 2, r"is -inf",
      put("inf.yaml", with_value(("memory", "dram", "measured_gbps"), float("-inf")))),
    P("a tiny figure", ["predict", "{d}/t.yaml", "--flops", "1e9", "--bytes", "1e9"], 2, r"within 1e-30",
      put("t.yaml", with_value(("compute", "fp64", "measured_gflops"), 1e-300))),
    P("a wrong type", ["show", "{d}/w.yaml"], 2, "does not match the profile schema|must be",
      put("w.yaml", with_value(("compute", "fp64", "measured_gflops"), "fast"))),
    P("a negative figure", ["show", "{d}/neg.yaml"], 2, "must be greater than 0",
      put("neg.yaml", with_value(("compute", "fp64", "measured_gflops"), -1.0))),
    P("rich markup in the device name", ["show", "{d}/m.yaml"], 0, "",
      put("m.yaml", with_value(("device", "name"), "[bold red]x[/] :smile:")),
      check=lambda d, r: "[bold red]x[/] :smile:" in r.stdout),
    P("a 1 MB device name", ["show", "{d}/l.yaml"], 0, "", put("l.yaml", with_value(("device", "name"), "n" * 2**20))),
    # Printed text
    P("terminal escapes in device.name: show", ["show", "{d}/esc.yaml"], 0, "",
      put("esc.yaml", with_value(("device", "name"), ESCAPES)), check=no_escape_on_stdout),
    P("terminal escapes in device.name: fleet", ["fleet", "{d}/fleet"], 0, "",
      fleet_dir(extra=put("esc.yaml", with_value(("device", "name"), ESCAPES).replace("host: testhost", "host: b"))),
      check=no_escape_on_stdout),
    P("terminal escapes in a path", ["show", "{d}/\x1b[2Jx.yaml"], 2, r"\\x1b\[2Jx\.yaml: no such file"),
    P("terminal escapes in a written path's message", ["fleet", "{d}/fleet", "--prometheus", "{d}/\x1b[2Jx.prom"], 0,
      "", fleet_dir(), writes=("\x1b[2Jx.prom",), check=lambda d, r: no_escape_on_stderr(r)),
    # Exit codes
    P("broken pipe: history | (closed)", None, 141, "", fleet_dir(),
      shell="$HWBENCH history {d}/fleet | true; exit ${PIPESTATUS[0]}"),
    P("broken pipe: show | head -c1", None, 141, "", None,
      shell=f"$HWBENCH show {GOLDEN} | head -c1 >/dev/null; exit ${{PIPESTATUS[0]}}"),
    P("stdout closed at start", None, 2, "standard output is closed", shell=f"$HWBENCH show {GOLDEN} >&-"),
    # stdout full: exit 2 (an unusable environment), never 1, which compare's gate would read as a regression;
    # with stdout buffered (no PYTHONUNBUFFERED) the unwritten rest must not fail, and be said, a second time
    P("stdout full: a table", None, 2, STDOUT_FULL, shell=f"$HWBENCH show {GOLDEN} > /dev/full",
      check=one_error_line),
    P("stdout full: a table, buffered", None, 2, STDOUT_FULL, check=one_error_line,
      shell=f"env -u PYTHONUNBUFFERED $HWBENCH show {GOLDEN} > /dev/full"),
    P("stdout full: a gate's table", None, 2, STDOUT_FULL, check=one_error_line,
      shell=f"env -u PYTHONUNBUFFERED $HWBENCH compare {GOLDEN} {GOLDEN} > /dev/full"),
    P("stdout full: --version", None, 2, STDOUT_FULL, shell="$HWBENCH --version > /dev/full", check=one_error_line),
    P("stdout full after the profile is written", None, 2, STDOUT_FULL + ".*out.yaml was written", old_profile,
      writes=("out.yaml",), shell="$HWBENCH " + " ".join(RUN) + " -o {d}/out.yaml > /dev/full",
      check=one_error_line),
    # stdin and stderr closed: held on /dev/null, so no file hwbench opens gets descriptor 0 or 2
    P("stderr closed: a valid request still answers", None, 0, "", writes=("table.txt",),
      shell=f"$HWBENCH show {GOLDEN} 2>&- > {{d}}/table.txt", check=lambda d, r: table_written(d)),
    P("stderr closed: the profile written is whole", None, 0, "", writes=("out.yaml",),
      shell="$HWBENCH " + " ".join(RUN) + " -o {d}/out.yaml 2>&- > /dev/null", check=lambda d, r: profile_ok(d)),
    P("stderr closed: bad input is still exit 2", None, 2, "", shell=f"$HWBENCH predict {GOLDEN} --flops -1 "
      "--bytes 1 2>&-"),
    P("stdout and stderr closed", None, 2, "", shell=f"$HWBENCH show {GOLDEN} >&- 2>&-"),
    P("PYTHONIOENCODING=ascii: a markdown table with '→'", ["compare", G, G, "-f", "markdown"], 0, "",
      env={"PYTHONIOENCODING": "ascii"}, check=lambda d, r: escaped_arrow(r)),
    P("PYTHONIOENCODING=ascii: a table", ["compare", G, G], 0, "", env={"PYTHONIOENCODING": "ascii"}),
    P("run -o - in an ASCII locale: the YAML stays UTF-8", None, 0, "", old_profile, writes=("out.yaml",),
      env={"PYTHONIOENCODING": "ascii"}, shell="$HWBENCH " + " ".join(RUN) + " -o - > {d}/out.yaml",
      check=lambda d, r: profile_ok(d)),
    P("fleet --prometheus - -f json: one stdout, one format", ["fleet", "{d}/fleet", "--prometheus", "-", "-f",
      "json"], 2, "writes the metrics to standard output, and so does -f json", fleet_dir()),
    P("-o /dev/stdout > file: the file is the profile alone", None, 0, "", old_profile, writes=("out.yaml",),
      shell="$HWBENCH " + " ".join(RUN) + " -o /dev/stdout > {d}/out.yaml", check=lambda d, r: profile_ok(d)),
    P("stdin closed, profile '-'", None, 2, "standard input is closed", shell="$HWBENCH show - <&-"),
    P("'-' twice: compare", None, 2, "given more than once", shell=f"$HWBENCH compare - - < {GOLDEN}"),
    P("'-' twice: roofline", None, 2, "given more than once",
      shell=f"$HWBENCH roofline - --validation - -o {{d}}/r.png < {GOLDEN}"),
    P("NUMBA_DISABLE_JIT=1", RUN + ["-o", "{d}/out.yaml"], 2, "NUMBA_DISABLE_JIT='1' makes the kernels run as "
      "Python", old_profile, env={"NUMBA_DISABLE_JIT": "1"}),
    P("NUMBA_OPT=abc: numba's complaint is one hwbench warning", RUN + ["-o", "{d}/out.yaml"], 0, "", old_profile,
      writes=("out.yaml",), env={"NUMBA_OPT": "abc"}, check=numba_warned_once),
    P("NUMBA_NUM_THREADS=0", RUN + ["-o", "{d}/out.yaml"], 2, "NUMBA_NUM_THREADS='0' must be a whole number",
      old_profile, env={"NUMBA_NUM_THREADS": "0"}),
    P("SLURM_PROCID=²", RUN + ["-o", "{d}/out.yaml"], 2, "SLURM_PROCID='²' is not a non-negative integer",
      old_profile, env={"SLURM_PROCID": "²"}),
    P("SLURM_PROCID=abc", RUN + ["-o", "{d}/out.yaml"], 2, "SLURM_PROCID='abc' is not", old_profile,
      env={"SLURM_PROCID": "abc"}),
    P("predict 1e-320", ["predict", GOLDEN.as_posix(), "--flops", "1e-320", "--bytes", "1e-320"], 2,
      r"--flops .* must be 0 or between 1 and 1e\+30"),
    P("predict 1e308", ["predict", GOLDEN.as_posix(), "--flops", "1e308", "--bytes", "1"], 2,
      r"--flops 1e\+308 must be 0 or between"),
    P("predict nan", ["predict", GOLDEN.as_posix(), "--flops", "nan", "--bytes", "1"], 2, "finite non-negative"),
    P("--point k:1e308:1e-308", ["roofline", GOLDEN.as_posix(), "--point", "k:1e308:1e-308", "-o", "{d}/r.svg"], 2,
      "FLOPS and BYTES must be between 1 and 1e\\+30"),
    P("--point malformed", ["roofline", GOLDEN.as_posix(), "--point", "k:x", "-o", "{d}/r.svg"], 2,
      "give NAME:FLOPS:BYTES"),
    P("--threshold 1e400%", ["compare", GOLDEN.as_posix(), GOLDEN.as_posix(), "--threshold", "1e400%"], 2,
      "must be between 0% and 100%"),
    P("--threshold abc", ["compare", GOLDEN.as_posix(), GOLDEN.as_posix(), "--threshold", "abc"], 2, "threshold"),
    P("--threshold -5%", ["history", "{d}/fleet", "--threshold", "-5%"], 2, "threshold", fleet_dir()),
    P("-k ',,,' over an existing file", ["run", "-d", "cpu", "-k", ",,,", "-o", "{d}/out.yaml"], 2,
      "--kernels ',,,' names no kernel", old_profile),
    P("--cpus 0-999999999999", RUN + ["--cpus", "0-999999999999", "-o", "{d}/out.yaml"], 2,
      "CPU 999999999999 cannot exist", old_profile),
    P("--cpus 0-99999999", RUN + ["--cpus", "0-99999999", "-o", "{d}/out.yaml"], 2, "cannot exist", old_profile),
    P("--sustain 1e5 --interval 1e5", RUN + ["--sustain", "1e5", "--interval", "1e5", "-o", "{d}/out.yaml"], 2,
      "--sustain 100000 must be a positive number of seconds up to 86400", old_profile),
    P("--sustain 1e308", RUN + ["--sustain", "1e308", "-o", "{d}/out.yaml"], 2, "--sustain 1e\\+308 must be",
      old_profile),
    P("--interval 1e5", RUN + ["--sustain", "60", "--interval", "1e5", "-o", "{d}/out.yaml"], 2,
      "--interval 100000 must be between", old_profile),
    P("--threads 0", RUN + ["--threads", "0", "-o", "{d}/out.yaml"], 2, "--threads 0 must be at least 1", old_profile),
    P("--threads -1", RUN + ["--threads", "-1", "-o", "{d}/out.yaml"], 2, "at least 1", old_profile),
    P("--threads 2^63", RUN + ["--threads", str(2**63), "-o", "{d}/out.yaml"], 2, "threads", old_profile),
    P("--threads 1e3", RUN + ["--threads", "1e3", "-o", "{d}/out.yaml"], 2, "--threads", old_profile),
    P("--threads 64", RUN + ["--threads", "64", "-o", "{d}/out.yaml"], 2, "exceeds the .* CPUs", old_profile),
    P("--timeout 0", ["--timeout", "0", "show", GOLDEN.as_posix()], 2, "--timeout 0 must be a positive number"),
    P("--timeout runs out before measuring", ["--timeout", "0.5", *RUN, "-o", "{d}/out.yaml"], 2,
      r"--timeout 0.5 s ran out before measuring started \(give a longer --timeout, or find what it waited "
      r"for\); nothing was written", old_profile,
      env={"HWBENCH_TEST_PAUSE_AT": "before-measuring"}),
    P("--timeout runs out while measuring", ["--timeout", "5", *RUN, "-o", "{d}/out.yaml"], 1,
      r"--timeout 5 s ran out while measuring \(give a longer --timeout\); nothing was written", old_profile,
      env={"HWBENCH_TEST_PAUSE_AT": "measuring"}),
    # Signals at chosen instants (the pause point; no sleep)
    P("SIGINT while measuring", RUN + ["-o", "{d}/out.yaml"], 130, "interrupted; nothing was written", old_profile,
      signal_at=("measuring", signal.SIGINT, "paused"), check=out_intact),
    P("SIGTERM while measuring", RUN + ["-o", "{d}/out.yaml"], 143, r"terminated \(SIGTERM\); nothing was written",
      old_profile, signal_at=("measuring", signal.SIGTERM, "paused"), check=out_intact),
    P("SIGHUP while measuring", RUN + ["-o", "{d}/out.yaml"], 129, r"hung up \(SIGHUP\); nothing was written",
      old_profile, signal_at=("measuring", signal.SIGHUP, "paused"), check=out_intact),
    P("SIGKILL while measuring", RUN + ["-o", "{d}/out.yaml"], -9, "", old_profile,
      signal_at=("measuring", signal.SIGKILL, "paused"), check=out_intact),
    P("SIGINT while writing", RUN + ["-o", "{d}/out.yaml"], 130, "interrupted; nothing was written", old_profile,
      signal_at=("writing", signal.SIGINT, "paused"), check=out_intact),
    P("SIGTERM while writing", RUN + ["-o", "{d}/out.yaml"], 143, r"terminated \(SIGTERM\); nothing was written",
      old_profile, signal_at=("writing", signal.SIGTERM, "paused"), check=out_intact),
    P("SIGHUP while writing", RUN + ["-o", "{d}/out.yaml"], 129, r"hung up \(SIGHUP\); nothing was written",
      old_profile, signal_at=("writing", signal.SIGHUP, "paused"), check=out_intact),
    P("SIGKILL while writing", RUN + ["-o", "{d}/out.yaml"], -9, "", old_profile,
      signal_at=("writing", signal.SIGKILL, "paused"), check=lambda d, r: (out_intact(d, r), _remove_tmp(d))),
    P("SIGINT while writing the --save copy", RUN + ["-o", "{d}/out.yaml", "--save", "{d}/saved"], 130,
      "interrupted; .*out.yaml was written, nothing else", old_profile, writes=("out.yaml",),
      signal_at=("writing#2", signal.SIGINT, "paused"), check=said_what_was_written),
    # Nothing lost
    P("-o /dev/stdout >> build.log", None, 0, "", put("build.log", "earlier line\n"), writes=("build.log",),
      shell="cd {d} && $HWBENCH " + " ".join(RUN) + " -o /dev/stdout >> build.log", check=log_kept),
    P("-o /dev/full", ["roofline", GOLDEN.as_posix(), "-o", "/dev/full"], 1, "could not write /dev/full: No space"),
    P("-o a FIFO with a reader", None, 0, "", both(fleet_dir(), fifo("pipe.prom")),
      shell="cd {d} && { cat pipe.prom > got.txt & } && $HWBENCH fleet fleet --prometheus pipe.prom > /dev/null && "
            "wait $! && grep -q hwbench_ceiling got.txt", writes=("got.txt",)),
    P("-o into /proc", RUN + ["-o", "/proc/version"], 2, r"/proc/version"),
    P("-o into /sys", RUN + ["-o", "/sys/kernel/hwbench.yaml"], 2, r"/sys/kernel"),
    P("-o names a folder", RUN + ["-o", "{d}/"], 2, "is a directory"),
    P("-o ''", RUN + ["-o", ""], 2, "-o '': the name is empty; give a file name such as profile.yaml"),
    P("-o a loop of symbolic links", ["roofline", G, "-o", "{d}/loop1.png"], 2, "loop of symbolic links",
      both(link("loop1.png", "loop2.png"), link("loop2.png", "loop1.png"))),
    P("roofline -o a folder suggests a picture's name", ["roofline", G, "-o", "{d}"], 2, r"roofline\.png"),
    P("--prometheus a folder names its option", ["fleet", "{d}/fleet", "--prometheus", "{d}"], 2,
      r"^hwbench: error: --prometheus .*fleet\.prom", fleet_dir()),
    P("control characters in --title and --point", ["roofline", G, "-o", "{d}/r.png", "--title", ESCAPES, "--point",
      "k\x1b[2J\x07:1e9:1e9"], 0, "roofline written", writes=("r.png",),
      check=lambda d, r: one_stderr_line(r)),
    P("characters the chart's font lacks: one hwbench warning", ["roofline", G, "-o", "{d}/r.png", "--title",
      "\u4e2d\u6587 \U0005399c"], 0, "roofline written", writes=("r.png",), check=glyphs_warned_once),
    *(P(f"--validation: a wrong {what} is refused, not dropped", ["roofline", G, "--validation", "{d}/v.yaml", "-o",
        "{d}/r.svg"], 2, line, put("v.yaml", report)) for what, line, report in WRONG_TYPE_REPORTS),
    P("a non-UTF-8 -o name", ["fleet", "{d}/fleet", "--prometheus", "{d}/\udcff.prom"], 0, "", fleet_dir(),
      writes=("\udcff.prom",)),
    P("two concurrent writes (--prometheus) to one file", None, 0, "", fleet_dir(), writes=("m.prom",),
      shell="cd {d} && { $HWBENCH fleet fleet --prometheus m.prom >/dev/null & $HWBENCH fleet fleet --prometheus "
            "m.prom >/dev/null; wait $!; } && grep -q hwbench_ceiling m.prom"),
    P("a new file respects the umask", None, 0, "", fleet_dir(), writes=("metrics.prom",),
      shell="cd {d} && umask 027 && $HWBENCH fleet fleet --prometheus metrics.prom > /dev/null",
      check=new_file_respects_umask),
    P("replacing another user's 0600 file keeps mode and owner", ["fleet", "{d}/fleet", "--prometheus",
      "{d}/metrics.prom"], 0, "", both(fleet_dir(), foreign_file("metrics.prom", 0o600)), writes=("metrics.prom",),
      check=mode_and_owner_kept, needs=("user",)),
    P("disk full on --prometheus", ["fleet", "{d}/fleet", "--prometheus", "{d}/full/m.prom"], 2,
      "could not write .*m.prom: No space left", both(fleet_dir(), fill_tmpfs), needs=("mount",)),
    P("disk full on run -o", RUN + ["-o", "{d}/full/out.yaml"], 1, "could not write .*out.yaml: No space left",
      fill_tmpfs, needs=("mount",)),
    P("-o a FIFO with no reader waits; --timeout bounds it", ["--timeout", "2", "fleet", "{d}/fleet", "--prometheus",
      "{d}/pipe.prom"], 2, "--timeout 2 s ran out", both(fleet_dir(), fifo("pipe.prom"))),
    P("two --save at once", None, 0, "", None, writes=("saved",), check=two_saves, timeout=120,
      shell="cd {d} && { $HWBENCH " + " ".join(RUN) + " --save saved 2>/dev/null >/dev/null & $HWBENCH " +
            " ".join(RUN) + " --save saved >/dev/null 2>&1; wait $!; }"),
    P("run with stdout closed", None, 2, "standard output is closed", old_profile,
      shell="$HWBENCH " + " ".join(RUN) + " -o {d}/out.yaml >&-"),
    P("disk full on roofline -o", ["roofline", GOLDEN.as_posix(), "-o", "{d}/full/r.png"], 1,
      "could not write .*r.png: No space left", fill_tmpfs, needs=("mount",)),
    P("disk full on the --save copy", RUN + ["-o", "{d}/out.yaml", "--save", "{d}/full"], 1,
      "No space left on device; .*out.yaml was written, nothing else", both(old_profile, fill_tmpfs),
      writes=("out.yaml",), check=saved_full, needs=("mount",)),
    P("read-only target: -o", RUN + ["-o", "{d}/ro/old.yaml"], 2, RO, read_only,
      needs=("mount",)),
    P("read-only target: --save", RUN + ["--save", "{d}/ro"], 2, "--save .*" + RO, read_only,
      needs=("mount",)),
    P("read-only target: roofline", ["roofline", GOLDEN.as_posix(), "-o", "{d}/ro/r.png"], 2, RO,
      read_only, needs=("mount",)),
    P("read-only target: --prometheus", ["fleet", "{d}/fleet", "--prometheus", "{d}/ro/m.prom"], 2, RO,
      both(fleet_dir(), read_only), needs=("mount",)),
    P("--save with ../ in SLURMD_NODENAME", RUN + ["--save", "{d}/saved"], 0, "", None, writes=("saved",),
      env={"SLURM_PROCID": "0", "SLURMD_NODENAME": "../../escape"}, check=save_sanitised),
    P("SLURM_TASKS_PER_NODE=1(x300000000)", RUN + ["-o", "{d}/out.yaml"], 0, "", old_profile, writes=("out.yaml",),
      env={"SLURM_PROCID": "0", "SLURM_NODEID": "0", "SLURM_TASKS_PER_NODE": "1(x300000000)"}),
    # Environment that passed before
    P("C locale", ["show", GOLDEN.as_posix()], 0, "", env={"LC_ALL": "C", "LANG": "C"}),
    P("a bogus locale", ["show", GOLDEN.as_posix()], 0, "", env={"LC_ALL": "xx_XX.bogus"}),
    P("TERM=dumb, no HOME, bad TMPDIR, COLUMNS=1", ["show", GOLDEN.as_posix()], 0, "",
      env={"TERM": "dumb", "HOME": "", "TMPDIR": "/nonexistent", "COLUMNS": "1"}),
    P("COLUMNS=1e8", ["show", GOLDEN.as_posix()], 0, "", env={"COLUMNS": "100000000"}),
    P("OMP_NUM_THREADS garbage, NUMBA_CACHE_DIR missing", RUN + ["-o", "{d}/out.yaml"], 0, "", old_profile,
      writes=("out.yaml",), env={"OMP_NUM_THREADS": "abc", "NUMBA_CACHE_DIR": "/nonexistent/cache"}),
    P("taskset -c 1", None, 0, "", old_profile, writes=("out.yaml",),
      shell="taskset -c 1 $HWBENCH " + " ".join(RUN) + " -o {d}/out.yaml"),
    # Fleets
    P("a mode-000 subfolder is noted", ["fleet", "{d}/fleet"], 0, "", locked_subfolder, needs=("user",),
      check=stderr_has("cannot list it")),
    P("a mode-000 subfolder is noted: history", ["history", "{d}/fleet"], 0, "", locked_subfolder, needs=("user",),
      check=stderr_has("cannot list it")),
    P("an unlistable folder is named as the problem", ["history", "{d}/fleet"], 2,
      r"no hwbench profiles read; the folder .*locked: cannot list it", locked_only, needs=("user",)),
    P("a 3,007-file fleet: 300 broken, 5 unreadable", ["fleet", "{d}/fleet"], 0, "", big_fleet, needs=("user",),
      check=noted_broken_and_unreadable, timeout=180),
    P("SIGINT to fleet's process group", ["fleet", "{d}/fleet"], 130, "interrupted", many_profiles,
      signal_at=("worker", signal.SIGINT, "group"), timeout=90),
    P("a 70-file fleet read in workers", ["fleet", "{d}/fleet"], 0, "", many_profiles, timeout=90),
    P("fleet's parent killed: no worker left", ["fleet", "{d}/fleet"], -9, "", many_profiles,
      signal_at=("worker", signal.SIGKILL, "parent"), timeout=90),
    P("SIGTERM to fleet's process group", ["fleet", "{d}/fleet"], 143, "terminated", many_profiles,
      signal_at=("worker", signal.SIGTERM, "group"), timeout=90),
    P("a 70-profile history read in workers", ["history", "{d}/fleet"], 0, "", many_profiles, timeout=90),
    P("SIGINT to history's process group", ["history", "{d}/fleet"], 130, "interrupted", many_profiles,
      signal_at=("worker", signal.SIGINT, "group"), timeout=90),
    P("history's parent killed: no worker left", ["history", "{d}/fleet"], -9, "", many_profiles,
      signal_at=("worker", signal.SIGKILL, "parent"), timeout=90),
    # A non-root user
    P("user: -o onto root's 0666 file in a sticky folder", RUN + ["-o", "{d}/sticky/shared.yaml"], 2,
      "belongs to another user in a sticky folder", sticky_dir, needs=("user",)),
    P("user: -o into root's folder", RUN + ["-o", "/root/hwbench-probe.yaml"], 2, "not writable|cannot", None,
      needs=("user",)),
    P("user: root's 0600 profile", ["show", "{d}/secret.yaml"], 2, "permission denied|is not readable",
      root_owned("secret.yaml", 0o600), needs=("user",)),
    P("user: own folder", ["show", G], 0, "", needs=("user",)),
    # MPI (the mpich wheel's mpiexec, 2 ranks)
    P("mpi: a bad flag on one rank", None, 2, "--threads 0 must be at least 1", None, needs=("mpi",), shell=(
      "{mpiexec} -n 1 $HWBENCH " + " ".join(RUN) + " --mpi --threads 0 -o {d} : -n 1 $HWBENCH " + " ".join(RUN) +
      " --mpi -o {d}"), timeout=60, check=stderr_has("MPI_Abort")),
    P("mpi: --cpus 0-99999999 on one rank", None, 2, "cannot exist", None, needs=("mpi",), shell=(
      "{mpiexec} -n 1 $HWBENCH " + " ".join(RUN) + " --mpi --cpus 0-99999999 -o {d} : -n 1 $HWBENCH " +
      " ".join(RUN) + " --mpi -o {d}"), timeout=60),
    P("mpi: another --sustain on one rank", None, 2, "the ranks were given different", None, needs=("mpi",), shell=(
      "{mpiexec} -n 1 $HWBENCH " + " ".join(RUN) + " --mpi --sustain 2 -o {d} : -n 1 $HWBENCH " + " ".join(RUN) +
      " --mpi -o {d}"), timeout=60),
    P("mpi: different --kernels per rank", None, 2, "the ranks were given different", None, needs=("mpi",), shell=(
      "{mpiexec} -n 1 $HWBENCH run -d cpu --quick -k copy --mpi -o {d} : -n 1 $HWBENCH run -d cpu --quick -k triad "
      "--mpi -o {d}"), timeout=60),
    P("mpi: SLURM_PROCID=abc on one rank", None, 2, "SLURM_PROCID='abc'", None, needs=("mpi",), shell=(
      "{mpiexec} -n 1 env SLURM_PROCID=abc $HWBENCH " + " ".join(RUN) + " --mpi -o {d} : -n 1 $HWBENCH " +
      " ".join(RUN) + " --mpi -o {d}"), timeout=60),
    P("mpi: --cpus 7 on one rank", None, 2, "the ranks were given different", None, needs=("mpi",), shell=(
      "{mpiexec} -n 1 $HWBENCH " + " ".join(RUN) + " --mpi --cpus 7 -o {d} : -n 1 $HWBENCH " + " ".join(RUN) +
      " --mpi -o {d}"), timeout=60),
    P("mpi: --cpus 0 on both ranks under bind-to-core", None, 2, "2 ranks on this host but only 1 CPUs", None,
      needs=("mpi",), shell="{mpiexec} -bind-to core -n 2 $HWBENCH " + " ".join(RUN) + " --mpi --cpus 0 -o {d}",
      timeout=60),
    P("mpi: --threads 0 under --mpi (one rank)", ["run", "-d", "cpu", "--mpi", "--threads", "0", "-o", "{d}"], 2,
      "--threads 0 must be at least 1", needs=("mpi",)),
    P("mpi: Ctrl-C to one rank while measuring", None, 130, "", None, needs=("mpi",), signal_at=(
      "measuring", signal.SIGINT, "paused"), shell=("{mpiexec} -n 1 env HWBENCH_TEST_PAUSE_AT=measuring $HWBENCH " +
                                           " ".join(RUN) + " --mpi -o {d} : -n 1 $HWBENCH " + " ".join(RUN) +
                                           " --mpi -o {d}"), timeout=60,
      check=stderr_has("aborting every rank")),
    P("mpi: SIGTERM to one rank while measuring", None, 143, "", None, needs=("mpi",), signal_at=(
      "measuring", signal.SIGTERM, "paused"), shell=("{mpiexec} -n 1 env HWBENCH_TEST_PAUSE_AT=measuring $HWBENCH " +
                                            " ".join(RUN) + " --mpi -o {d} : -n 1 $HWBENCH " + " ".join(RUN) +
                                            " --mpi -o {d}"), timeout=60),
    P("mpi: SIGHUP to one rank while measuring", None, 129, "", None, needs=("mpi",), signal_at=(
      "measuring", signal.SIGHUP, "paused"), shell=("{mpiexec} -n 1 env HWBENCH_TEST_PAUSE_AT=measuring $HWBENCH " +
                                            " ".join(RUN) + " --mpi -o {d} : -n 1 $HWBENCH " + " ".join(RUN) +
                                            " --mpi -o {d}"), timeout=60),
    P("mpi: SIGKILL to one rank while measuring", None, None, "", None, needs=("mpi",), signal_at=(
      "measuring", signal.SIGKILL, "paused"), shell=("{mpiexec} -n 1 env HWBENCH_TEST_PAUSE_AT=measuring $HWBENCH " +
                                            " ".join(RUN) + " --mpi -o {d} : -n 1 $HWBENCH " + " ".join(RUN) +
                                            " --mpi -o {d}"), timeout=60),
    P("mpi: rank 1's -o /nonexistent/ is not written by rank 0", None, 0, "", lambda d: (d / "mine").mkdir(),
      needs=("mpi",), writes=("mine",), shell=(
          "{mpiexec} -n 1 $HWBENCH " + " ".join(RUN) + " --mpi -o {d}/mine : -n 1 $HWBENCH " + " ".join(RUN) +
          " --mpi -o {d}/nonexistent/"), timeout=120, check=only_rank0_folder),
]


def _remove_tmp(d: Path) -> None:
    """SIGKILL cannot be caught: its temporary file stays (the old file is intact, which is what matters). It is
    the one row where a .tmp file is expected; removed so that the common check passes."""
    leftovers = list(d.rglob(".*.tmp"))
    assert len(leftovers) == 1
    leftovers[0].unlink()


# The harness -----------------------------------------------------------------------------------------------


def probe_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PROBE_USER)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise RuntimeError("creating the probe user needs root")
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PROBE_USER],
                   check=True, capture_output=True)
    return pwd.getpwnam(PROBE_USER)


def mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def unavailable(probe: Probe) -> str | None:
    """Why this machine cannot run the row (root missing for a user or a mount, no MPI), or None."""
    if ("user" in probe.needs or "mount" in probe.needs) and os.geteuid() != 0:
        return "needs root (to create the probe user, to mount a tmpfs or a read-only bind mount)"
    if "mpi" in probe.needs and mpiexec() is None:
        return "needs mpi4py and mpiexec: pip install 'hwbench[test]'"
    return None


def snapshot(d: Path) -> dict[str, str]:
    files = {}
    for path in d.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and os.access(path, os.R_OK):
                files[str(path.relative_to(d))] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
    return files


def unmount_all(d: Path) -> None:
    for name in ("full", "ro"):
        if os.path.ismount(d / name):
            subprocess.run(["umount", "-l", str(d / name)], check=False)


def command_of(probe: Probe, d: Path, user: pwd.struct_passwd | None) -> list[str]:
    hw = " ".join(HWBENCH)
    places = {"d": str(d), "mpiexec": mpiexec() or "mpiexec"}
    if probe.shell is not None:
        line = probe.shell.replace("{d}", places["d"]).replace("{mpiexec}", places["mpiexec"])
        command = ["bash", "-c", f"HWBENCH='{hw}'; {line}"]
    else:
        command = [*HWBENCH, *(arg.replace("{d}", places["d"]) for arg in probe.args or [])]
    if user is not None:
        command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--", *command]
    return command


def wait_for_marker(stderr_path: Path, child: subprocess.Popen, deadline: float) -> int:
    while time.monotonic() < deadline:
        match = MARKER.search(stderr_path.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        if child.poll() is not None:
            raise AssertionError(f"ended before the pause point: {stderr_path.read_text()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError("the pause point was not reached in time")


def run_probe(probe: Probe, d: Path) -> subprocess.CompletedProcess:
    user = probe_user() if "user" in probe.needs else None
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120", **probe.env}
    for key in ("HWBENCH_DEBUG", "HWBENCH_TEST_PAUSE_AT"):
        if key not in probe.env:
            env.pop(key, None)
    if probe.signal_at is not None and "HWBENCH_TEST_PAUSE_AT" not in (probe.shell or ""):
        env["HWBENCH_TEST_PAUSE_AT"] = probe.signal_at[0]
    err_path = Path(tempfile.mkstemp(prefix="probe-stderr-")[1])
    deadline = time.monotonic() + probe.timeout
    with open(err_path, "w") as err:
        child = subprocess.Popen(command_of(probe, d, user), stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                                 cwd=d, start_new_session=True, stdin=subprocess.DEVNULL,
                                 errors="backslashreplace", preexec_fn=default_signal_dispositions)
        try:
            if probe.signal_at is not None:
                pid = wait_for_marker(err_path, child, deadline)
                _, signum, whom = probe.signal_at
                if whom == "group":  # the whole process group, as a terminal's Ctrl-C or job control
                    os.killpg(child.pid, signum)
                elif whom == "parent":  # a fleet worker paused; the signal goes to hwbench, its parent
                    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                    os.kill(parent, signum)
                    _worker_gone(pid, deadline)
                else:
                    os.kill(pid, signum)
            stdout, _ = child.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise AssertionError(f"{probe.name}: still running after {probe.timeout:.0f} s (a hang); stderr: "
                                 f"{err_path.read_text()[-2000:]}") from None
        finally:
            leftover = _group_alive(child.pid)
            if leftover:
                os.killpg(child.pid, signal.SIGKILL)
    stderr = err_path.read_text(errors="backslashreplace")
    err_path.unlink()
    assert not leftover, f"{probe.name}: processes of its session were still running after it ended"
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the probe's group still runs (zombies do not count: where the container's PID 1
    does not reap orphans, a killed worker stays a zombie)."""
    for _ in range(100):  # up to 2 s for the children to end
        if not _running_in_group(pgid):
            return False
        time.sleep(0.02)
    return True


def _running_in_group(pgid: int) -> list[int]:
    running = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            running.append(int(entry.name))
    return running


def _worker_gone(pid: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state == "Z":
            return
        time.sleep(0.02)
    raise AssertionError(f"fleet worker {pid} outlived its parent")


@pytest.fixture
def probe_dir():
    d = Path(tempfile.mkdtemp(prefix="hwbench-probe-", dir="/tmp"))
    os.chmod(d, 0o777)  # the probe user works in it too
    yield d
    unmount_all(d)
    for path in d.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe(probe: Probe, probe_dir: Path):
    why = unavailable(probe)
    if why is not None:
        if CI:
            pytest.fail(f"{probe.name}: {why} (CI runs every probe)")
        pytest.skip(why)
    (probe_dir / "good.yaml").write_text(GOOD)
    if "user" in probe.needs:
        probe_user()
    if probe.setup is not None:
        probe.setup(probe_dir)
    before = snapshot(probe_dir)
    result = run_probe(probe, probe_dir)
    where = f"{probe.name}: exit {result.returncode}\nstdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-3000:]}"
    if probe.code is not None:
        assert result.returncode == probe.code, where
    else:  # a rank killed outright: the launcher's code, whatever it is, but never success
        assert result.returncode != 0, where
    assert "Traceback" not in result.stderr, where
    lines = result.stderr.strip().splitlines()
    if probe.line:
        assert lines and re.search(probe.line, lines[-1] if probe.shell is None else result.stderr), where
    if probe.code not in (0, 141, -9, None) and probe.shell is None:
        assert lines and lines[-1].startswith("hwbench: error:"), where
        errors = [line for line in lines if line.startswith("hwbench: error:")]
        assert len(errors) == 1, where
    if probe.code == 141:
        assert result.stderr.strip() == "", where
    if probe.check is not None:
        probe.check(probe_dir, result)
    assert not list(probe_dir.rglob(".*.tmp")), f"{probe.name}: a temporary file was left: {where}"
    after = snapshot(probe_dir)
    damaged = [name for name, digest in before.items()
               if after.get(name) != digest and not any(name == w or name.startswith(w + "/") for w in probe.writes)]
    assert damaged == [], f"{probe.name}: changed or removed {damaged}"


def test_every_exit_code_of_the_contract_has_a_probe():
    """The README's table of exit codes, walked: each code it lists is produced by at least one probe row."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| exit code |"):]
    cells = re.findall(r"^\| ([\d, ]+) \|", table[: table.index("\n\n")], re.M)
    codes = {int(code) for cell in cells for code in cell.split(",")}
    assert codes >= {0, 1, 2, 70, 129, 130, 141, 143}
    produced = {p.code for p in PROBES} | {70}  # 70 is a bug: no input may produce it (tested by its absence)
    assert codes <= produced
    assert not [p.name for p in PROBES if p.code == 70]


def test_two_saves_racing_for_one_name_keep_both(tmp_path):
    """Two processes claim one --save name at the same instant (write_new): both profiles are kept."""
    script = ("import sys, time\nfrom hwbench.profile.files import write_new\n"
              "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
              "print(write_new(sys.argv[1], sys.argv[3]))\n")
    start = str(time.time() + 1.5)
    children = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "s" / "run.yaml"), start, f"text {i}"],
                                 stdout=subprocess.PIPE, text=True) for i in range(2)]
    names = sorted(child.communicate(timeout=60)[0].strip() for child in children)
    assert [c.returncode for c in children] == [0, 0] and len(set(names)) == 2
    assert sorted(Path(n).read_text() for n in names) == ["text 0", "text 1"]
    assert not list((tmp_path / "s").glob(".*.tmp"))
