"""The architecture docs/architecture.md draws, checked: layers without cycles, kernel facts only in the catalog,
small modules, and the profile readers free of numba and CuPy. (The layer contracts themselves run as
``lint-imports`` in CI; see pyproject.toml.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "suite"
GOLDEN = ROOT / "tests" / "golden" / "cpu-profile.yaml"
# Modules are cut by idea, not by size: above REVIEW_LINES a module is worth a second look in review (the test
# prints it), and MAX_MODULE_LINES is only the backstop past which one module surely holds several ideas.
REVIEW_LINES = 500
MAX_MODULE_LINES = 800


def python_modules() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *(ROOT / "kernels").rglob("*.py")])


def test_show_imports_neither_numba_nor_cupy():
    """Reading a profile must stay cheap: no JIT compiler, no GPU stack."""
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom hwbench.cli import app\n"
            f"result = CliRunner().invoke(app, ['show', {str(GOLDEN)!r}])\n"
            "assert result.exit_code == 0, result.output\n"
            "print(sorted(m for m in ('numba', 'llvmlite', 'cupy', 'hwbench.cpu', 'hwbench.gpu', 'hwbench.kernels')"
            " if m in sys.modules))\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_import_graph_has_no_cycle():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("hwbench")
    cycles = []
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported.startswith("hwbench") and graph.find_shortest_chain(imported, importer):
                cycles.append(f"{importer} -> {imported}")
    # A package's __init__ importing its own submodule is not a cycle of the architecture.
    cycles = [c for c in cycles if not c.split(" -> ")[1].startswith(c.split(" -> ")[0] + ".")
              and not c.split(" -> ")[0].startswith(c.split(" -> ")[1] + ".")]
    assert cycles == []


def test_no_module_is_over_the_size_limit():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in python_modules()}
    for name, lines in sorted(sizes.items()):
        if lines > REVIEW_LINES:
            print(f"review: {name} has {lines} lines; does it still hold one idea?")
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_kernel_facts_are_spelled_only_in_the_catalog():
    """No precision parsed from a kernel's name, no block size or chain count outside the catalog."""
    spelled = re.compile(r"""\.split\(["']_["']\)|\b(BLOCK|CHAINS|FMA_CHAINS|UNROLL|VECTOR_BYTES)\s*=|"""
                         r"""\bchains\s*=\s*\d|\bwaves\s*=\s*\d""")
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in python_modules() if path.name != "catalog.py"
             for number, line in enumerate(path.read_text().splitlines(), 1) if spelled.search(line)]
    assert found == []
