"""The glossary's words are the code's words (docs/architecture.md, "Glossary").

Each concept has one word: *time* (the timing path, ``hwbench.timing``), *check* (a kernel's output, ``hwbench.check``
and each family's ``check`` closure), *validate* (only the command that tests the roofline's predictions),
*record* (``hwbench.record``), *session*, *family*, *run* (only the command ``hwbench run`` and its path). The words
these replaced are retired: no module is named after them and nothing under ``suite/`` or ``kernels/`` defines a
name that uses them, so a newcomer never meets two words for one idea.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "suite").rglob("*.py"), *(ROOT / "kernels").rglob("*.py")])

# Module names of retired words, and what replaced them.
RETIRED_MODULES = {
    "measure": "timing (the timing path)",
    "measurement": "record (a session's record)",
    "validation": "check (a kernel's output check)",
    "runner": "run (the run path)",
    "validation_table": "validate_table (the validate command's rows)",
    "validation_report": "validate_report (the validate report read back)",
}
# Defined names of retired words, and what replaced them.
RETIRED_NAMES = {
    "measure_kernel": "timing.time_and_check",
    "Measured": "timing.TimedKernel",
    "Measurement": "record.SessionRecord",
    "LatencyRun": "record.LatencyRecord",
    "FamilyRun": "family.FamilyResult",
    "CpuRun": "cpu.session.CpuResult",
    "GpuRun": "gpu.session.GpuResult",
    "CpuRunOptions": "cpu.family.CpuOptions",
    "run_family": "a family's run",
    "run_cpu": "cpu.session.measure_families",
    "SUSTAINED_KERNEL": "the family's sustained_kernel",
}
# *validate* names only the command: a name ``validate`` or ``validate_*`` anywhere else would mean *check*.
VALIDATE_HOMES = {"tools", "cli", "workloads"}


def defined_names(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Every name a module defines: functions, classes, their parameters, and assignment targets."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            for argument in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                yield argument.arg, node.lineno
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        yield leaf.id, node.lineno


def test_no_module_is_named_after_a_retired_word():
    found = [f"{path.relative_to(ROOT)}: use {RETIRED_MODULES[path.stem]}" for path in SOURCES
             if path.stem in RETIRED_MODULES]
    assert not found, found


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_name_uses_a_retired_word(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [f"line {line}: {name} (use {RETIRED_NAMES[name]})" for name, line in defined_names(tree)
             if name in RETIRED_NAMES]
    package = path.relative_to(ROOT / path.relative_to(ROOT).parts[0]).parts[0]
    if package not in VALIDATE_HOMES:
        found += [f"line {line}: {name} (validate is only the command's word; an output check is check)"
                  for name, line in defined_names(tree) if name == "validate" or name.startswith("validate_")]
    assert not found, found


def test_the_retired_words_are_caught():
    """The checker itself: a module that defines retired names is reported."""
    sample = ast.parse("def measure_kernel(validate): pass\nclass FamilyRun: pass\nMeasured = 1\n")
    assert {name for name, _ in defined_names(sample)} >= {"measure_kernel", "validate", "FamilyRun", "Measured"}
