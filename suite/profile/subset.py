"""Reading only some keys of a profile, fast: for tools that read thousands of profiles (``hwbench fleet``).

A profile is one self-describing file, and most of it is per-sample figures (an H100 profile holds ~4,300
samples) that a fleet report never reads. ``load_subset(path, keep)`` reads only the keys in ``keep``:

1. ``prune_text`` cuts the YAML text down to the kept keys *without* parsing it: it only trusts the block
   layout that ``files.dump_yaml`` writes (a key per line at its block's indentation, deeper lines belong to
   the key above, ``- `` starts a list item). Any line it cannot place that way raises ``NotPlain``: a
   comment or document marker where a key belongs, a flow collection spilling to a shallower line, a merge
   key, a tab, a list item after a key that has its value, lines under a key at two indentations or that
   cannot continue the value on the key's line (both what a lost key line leaves behind).
2. The file must end with its ``warnings`` (``LAST_KEY``), which ``build`` writes last and this reader parses:
   a file cut short (a copy that stopped half-way) is not read the fast way.
3. libyaml's safe loader parses what is left (the same parser and the same scalar rules as ``Profile``).
4. ``check_profile`` checks it against the profile's JSON Schema *restricted to the kept keys*
   (``restricted_schema``: the same rule for every kept key; ``required`` lists keep only kept keys), after
   the same schema_version, required-key and finite-number checks.

Whatever fails the fast way is loaded again by ``Profile.load``, whose message is the one the caller
reports: a damaged kept key gives exactly the full loader's UsageError. The limit, by design: text it does
not parse, it does not check. A broken per-sample array, or a syntax error inside a key it drops, does not
stop it (``hwbench show`` refuses such a file); tests/test_fleet_reader.py fuzzes the rule that what it then
reads is what the undamaged file says.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from .format import _inline_scalar_refs, check_profile, json_schema
from .model import Profile
from .reading import BoundedLoader, read_text
from .schema_check import ErrorSource, compiled_or_plain

# A keep tree: key -> True (the whole value) or a nested tree; "*" matches any key of that mapping. A tree
# applied to a list applies to each item.
KeepTree = dict[str, Union[Literal[True], "KeepTree"]]
Keep = KeepTree | Literal[True]  # what is kept of one value: all of it, or the tree of its kept keys


def _subtree(keep: KeepTree, key: str) -> Keep | None:
    """What ``keep`` keeps of ``key``'s value: its own entry, else the "*" entry; None: nothing."""
    return keep.get(key, keep.get("*"))

_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-]*):(?: |$)", re.M)  # a plain key, as dump_yaml writes it
_FIRST = re.compile(r"\n( *)\S")  # the first line that is not blank


class NotPlain(Exception):
    """The text has a layout the line pruner does not vouch for; read the file with the full loader."""


# The text -------------------------------------------------------------------------------------------
# Offsets into the text, not lines: the regular expressions find the lines at one indentation in C, so the
# lines of a dropped entry (the per-sample arrays) are never looked at one by one. Each pattern starts with the
# newline before a line (a literal prefix, which the regex engine finds by a fast scan rather than trying every
# offset), so the text always starts with a newline, and a region [start, stop) of whole lines is searched
# from start - 1.


@lru_cache(maxsize=64)
def _entries(n: int) -> re.Pattern[str]:
    """The lines whose first non-blank character is at indentation ``n``, in three kinds: a plain key (group
    1) with what follows it on its line (group 2), a list item's dash (group 3), anything else (group 4)."""
    return re.compile(rf"\n {{{n}}}(?:([A-Za-z0-9_][A-Za-z0-9_.\-]*):(?:[ ]([^\n]*))?(?=\n)|(-)(?=[ \n])|(\S))")


@lru_cache(maxsize=64)
def _shallower(n: int) -> re.Pattern[str]:
    """The lines with a non-blank character at an indentation below ``n`` (n >= 1)."""
    return re.compile(rf"\n {{0,{n - 1}}}\S")


def _prune_mapping(text: str, start: int, stop: int, n: int, tree: KeepTree, out: list[str],
                   seen: list[str] | None = None) -> None:
    """Copy to ``out`` the entries of the block mapping in ``text[start:stop]`` (keys at indentation ``n``)
    that ``tree`` keeps; ``seen`` collects every key found. The lines of an entry are its key's line, the
    deeper lines below it and, after a key with nothing else on its line, the list items written at the key's
    own indentation (dump_yaml's way)."""
    if n and _shallower(n).search(text, start - 1, stop):
        raise NotPlain("a line shallower than its block")
    entries: list[tuple[int, int, str, bool]] = []  # (offset, end of the key's line, key, value on that line)
    for found in _entries(n).finditer(text, start - 1, stop):
        key, inline, _, odd = found.groups()
        if odd is not None:
            raise NotPlain(f"not a plain key: {text[found.start():_line_end(text, found.start() + 1)].strip()[:40]!r}")
        if key is not None:
            entries.append((found.start() + 1, found.end() + 1, key, bool(inline and inline.strip())))
        elif not entries or entries[-1][3]:  # a list item where no key waits for its value
            raise NotPlain("a list item after a key that has its value")
    if text[start:entries[0][0] if entries else stop].strip():
        raise NotPlain("text before the block's first key")
    for index, (s, eol, key, inline) in enumerate(entries):
        if seen is not None:
            seen.append(key)
        end = entries[index + 1][0] if index + 1 < len(entries) else stop
        if inline and eol < end and not _continues(text[s:eol], text[eol:end]):
            raise NotPlain(f"lines under {key!r} that cannot continue its value")
        if not inline and (first := _FIRST.search(text, eol - 1, end)) and len(first.group(1)) > n \
                and _shallower(len(first.group(1))).search(text, eol - 1, end):
            raise NotPlain(f"lines under {key!r} at two indentations")  # a key line lost: its children moved up
        sub = _subtree(tree, key)
        if sub is None:
            continue
        if sub is True or inline:  # the whole value, or a one-line value: kept whole
            out.append(text[s:end])
        else:
            out.append(text[s:eol])
            kept = len(out)
            if _prune_node(text, eol, end, sub, out) and len(out) == kept:
                out[-1] = text[s:eol - 1] + " {}\n"  # a mapping none of whose keys is kept: empty, as prune_data


_QUOTED = {"'": re.compile(r"'(?:[^']|'')*'\s*"), '"': re.compile(r'"(?:[^"\\]|\\.)*"\s*')}
_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"")
_BRACKETS = re.compile(r"[\[\]{}]")
_PLAIN_STOP = re.compile(r":(?: |$)| #|^\s*- ", re.M)  # what ends a plain scalar, or starts a list item


def _continues(line: str, body: str) -> bool:
    """Whether ``body`` (the deeper lines under a key whose value starts on its own line) can only be that
    value's continuation: a block scalar; a quoted scalar that closes at the end of ``body`` and not before;
    a flow collection that ends there; a plain scalar with no ': ', ' #' or list item. A deleted key line
    would otherwise hand its children to the key above it."""
    value = line.split(":", 1)[1].strip()
    if not body.strip() or value[0] in "|>":
        return True
    if value[0] in _QUOTED:
        return bool(_QUOTED[value[0]].fullmatch(value + "\n" + body))
    if value[0] in "[{":  # the brackets (outside quoted strings) close for the first time at the very end
        flow = _STRINGS.sub("''", value + "\n" + body).rstrip()
        depth = 0
        for bracket in _BRACKETS.finditer(flow):
            depth += 1 if bracket.group() in "[{" else -1
            if depth == 0:
                return bracket.end() == len(flow)
        return False
    return not _PLAIN_STOP.search(body)


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


def _prune_node(text: str, start: int, stop: int, tree: KeepTree, out: list[str]) -> bool:
    """The block value of a kept key: a mapping deeper than the key, or a list of mappings. True when it was
    a mapping."""
    first = _FIRST.search(text, start - 1, stop)
    if first is None:
        return False
    m = len(first.group(1))
    dash = first.start() + 1 + m
    if not (text.startswith("-", dash) and text[dash + 1] in " \n"):
        _prune_mapping(text, start, stop, m, tree, out)
        return True
    if m and _shallower(m).search(text, start - 1, stop):
        raise NotPlain("a line shallower than its list")
    starts = []
    for found in _entries(m).finditer(text, start - 1, stop):
        if found.group(3) is None:
            raise NotPlain("a list item without its dash")
        starts.append(found.start() + 1)
    for index, s in enumerate(starts):  # items: "- " at indentation m, each a mapping one level deeper
        end = starts[index + 1] if index + 1 < len(starts) else stop
        rest = s + m + 1
        while text.startswith(" ", rest):
            rest += 1
        if not _KEY.match(text, rest):  # an item that is not an inline mapping: kept whole
            out.append(text[s:end])
            continue
        k = rest - s  # the item's keys sit where its first key starts
        item = "\n" + " " * k + text[rest:end]
        kept: list[str] = []
        _prune_mapping(item, 1, len(item), k, tree, kept)
        if kept:
            kept[0] = kept[0][:m] + "-" + kept[0][m + 1:]
            out.extend(kept)
        else:
            out.append(" " * m + "- {}\n")
    return False


def prune_text(text: str, keep: KeepTree) -> tuple[str, list[str]]:
    """The YAML text cut down to the kept keys, and every top-level key of the file in order. Raises
    ``NotPlain`` where the layout is not the block layout hwbench writes."""
    if "\t" in text or "\r" in text:
        raise NotPlain("a tab or carriage return")
    text = "\n" + text + ("" if text.endswith("\n") else "\n")
    out: list[str] = []
    top: list[str] = []
    _prune_mapping(text, 1, len(text), 0, keep, out, top)
    return "".join(out), top


# The data and the schema ----------------------------------------------------------------------------


def prune_data(data: Any, keep: Keep) -> Any:
    """``data`` with only the kept keys (the structural twin of ``prune_text``)."""
    if keep is True:
        return data
    if isinstance(data, dict):
        return {key: prune_data(value, sub) for key, value in data.items() if (sub := _subtree(keep, key)) is not None}
    if isinstance(data, list):
        return [prune_data(item, keep) for item in data]
    return data


def restricted_schema(node: Any, keep: Keep) -> Any:
    """The JSON Schema ``node`` for the kept keys only: the same rule for each kept key, ``required`` cut
    to the kept keys, the rules of keys not kept dropped."""
    if keep is True or not isinstance(node, dict):
        return node
    node = dict(node)
    if isinstance(node.get("items"), dict):
        node["items"] = restricted_schema(node["items"], keep)
    if "properties" in node:
        node["properties"] = {key: restricted_schema(rule, sub) for key, rule in node["properties"].items()
                              if (sub := _subtree(keep, key)) is not None}
    if isinstance(node.get("additionalProperties"), dict):
        if "*" in keep:
            node["additionalProperties"] = restricted_schema(node["additionalProperties"], keep["*"])
        else:
            del node["additionalProperties"]
    if "required" in node:
        node["required"] = [key for key in node["required"] if key in keep or "*" in keep]
    return node


def _freeze(keep: Keep) -> Any:
    return keep if keep is True else tuple(sorted((key, _freeze(value)) for key, value in keep.items()))


@lru_cache(maxsize=8)
def _validator_for(frozen: Any) -> ErrorSource:
    import jsonschema

    def thaw(value: Any) -> Any:
        return value if value is True else {key: thaw(sub) for key, sub in value}

    restricted = restricted_schema(_inline_scalar_refs(json_schema(), json_schema()["$defs"]), thaw(frozen))
    return compiled_or_plain(restricted, jsonschema.Draft202012Validator(restricted))


@lru_cache(maxsize=1)
def required_top_level() -> tuple[str, ...]:
    return tuple(json_schema()["required"])


# ``build.build_profile`` writes the warnings last. A file that does not end with them was cut short (a copy
# that stopped half-way) or put together by other means: the fast way does not vouch for it. The warnings are
# parsed (kept whole), so a file cut inside them fails to parse.
LAST_KEY = "warnings"


# Reading --------------------------------------------------------------------------------------------


def load_subset(path: str | os.PathLike[str], keep: KeepTree) -> dict[str, Any]:
    """The kept keys of the profile at ``path``, checked as ``Profile.load`` checks them. A file the fast way
    cannot vouch for is read by ``Profile.load``: its UsageError is the one raised."""
    path = Path(path)
    text = read_text(path)  # bounded: a regular file, a size cap (its UsageError is the full loader's too)
    try:
        read = {**keep, LAST_KEY: True}
        pruned, top = prune_text(text, read)
        if top and top[-1] == LAST_KEY and top.count(LAST_KEY) == 1 and all(k in top for k in required_top_level()):
            data: dict[str, Any] = yaml.load(pruned, Loader=BoundedLoader)
            check_profile(data, str(path), _validator_for(_freeze(read)))
            return data if LAST_KEY in keep else {key: value for key, value in data.items() if key != LAST_KEY}
    except Exception:  # noqa: BLE001 -- any doubt on the fast way: the full loader decides, with its message
        pass
    kept: dict[str, Any] = prune_data(Profile.from_yaml(text, str(path)).data, keep)  # a mapping's keys kept
    return kept
