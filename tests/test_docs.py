"""The documentation holds together: every relative link in README.md and docs/*.md reaches a file (and, into a
Markdown page, a heading), the README stays a front door, and the architecture page's map names every module."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (a link-like string inside one is code, not a link)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub gives ``page``: lower case, punctuation dropped, spaces to hyphens, and a
    repeated heading numbered ``-1``, ``-2``."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(page.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_the_slug_rule_matches_github():
    """Two headings of these pages and the anchors GitHub renders for them."""
    page = ROOT / "docs" / "commands.md"
    assert {"run---sustain-burst-and-sustained-ceilings", "compare-the-regression-and-throttling-gate"} <= anchors(page)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not checked here (no network)
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == [], f"{page.name}: {broken}"


def test_the_readme_is_a_front_door():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in PAGES[1:] if f"](docs/{p.name})" not in readme]
    assert unlinked == []


def map_blocks() -> dict[str, str]:
    """The architecture page's map, cut into its entries: each top-level line of the ``suite/`` block (``console.py``,
    ``cpu/``) with its continuation lines, and the ``kernels/`` block."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## The map"):]
    block = section[section.index("```") + 3:]
    block = block[:block.index("```")]
    entries: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        if match := re.match(r"(?:  )?(\S+)", line) if not line.startswith("   ") else None:
            name = "kernels/" if line.startswith("kernels/") else match.group(1)
            if name == "suite/":
                continue
        entries[name] = entries.get(name, "") + "\n" + line
    return entries


def modules() -> list[Path]:
    found = [*(ROOT / "suite").rglob("*.py"), *(ROOT / "kernels").rglob("*.py"), *(ROOT / "kernels").rglob("*.cu")]
    return sorted(p for p in found if p.name != "__init__.py" and "__pycache__" not in p.parts)


def test_the_map_names_every_module():
    """Each module of suite/ and kernels/ is named in the map: a top-level module as ``name.py``, a module of a
    subpackage by its name in that package's entry, a kernel file by its path under kernels/."""
    entries = map_blocks()
    suite_text = "\n".join(text for name, text in entries.items() if name != "kernels/")
    missing = []
    for path in modules():
        relative = path.relative_to(ROOT)
        if relative.parts[0] == "kernels":
            named = "/".join(relative.parts[1:]) in entries.get("kernels/", "")
        elif len(relative.parts) == 2:
            named = path.name in suite_text
        else:
            entry = entries.get(relative.parts[1] + "/", "")
            named = re.search(rf"\b{re.escape(path.stem)}\b", entry) is not None
        if not named:
            missing.append(relative.as_posix())
    assert missing == [], f"docs/architecture.md's map does not name {missing}"


def test_the_map_reader_finds_the_map():
    """The check above is not vacuous: the map has the package entries it looks modules up in."""
    assert {"cli/", "run/", "cpu/", "gpu/", "profile/", "tools/", "kernels/"} <= set(map_blocks())


GLOSSARY_WORDS = ("time", "check", "validate", "session", "family", "kernel", "ceiling", "roof", "profile", "record",
                  "level", "precision", "headline", "noise / spread", "sustained")


def test_the_glossary_defines_the_projects_words():
    """Each word of the vocabulary has its row in the architecture page's glossary, with where it lives in the code."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    glossary = text[text.index("## Glossary"):]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| \*\*([^*]+)\*\*[^|]*\|[^|]+\|([^|]+)\|", glossary, re.M)}
    assert set(GLOSSARY_WORDS) <= set(rows), sorted(set(GLOSSARY_WORDS) - set(rows))
    assert all("`" in rows[word] for word in GLOSSARY_WORDS), "each word names the code it lives in"
