"""A JSON Schema compiled into nested Python checks, for schemas that use only the plain keywords.

``jsonschema`` walks the schema for every value it checks (about 10 microseconds a value on this machine), which
is most of the time of reading a fleet's profiles once the text is pruned (``subset``), and was a third of
reading a whole profile (``format.check_profile``). The few keywords the profile schema uses have simple meanings
(JSON Schema 2020-12, "Validation" sections 6.1-6.5 and "Core" 8.2.3.1 for a local ``$ref``, 10.2-10.3), so
``compile_schema`` turns them into closures once. A schema with any other keyword raises ``Unsupported`` and the
caller keeps ``jsonschema``. The closures only answer valid or not; for a message, the caller asks
``jsonschema`` (``CompiledValidator``). tests/test_fleet_reader.py and tests/test_fuzz_profiles.py check the two
agree on fuzzed profiles (the fleet's keys, and whole profiles).

Type rules as jsonschema's default type checker: booleans are not numbers, an integer may be a float with no
fraction (1.0), ``enum`` and ``const`` tell ``True`` from ``1``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # jsonschema is imported on first use (it takes a while to import)
    from jsonschema import ValidationError

Check = Callable[[Any], bool]
IGNORED = {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples"}


class Unsupported(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


TYPES: dict[str, Check] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "number": _is_number,
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
}


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b and type(a) in (int, float, str, type(None)) and type(b) in (int, float, str, type(None))


def _pointed(root: Any, reference: Any) -> Any:
    """The subschema a local ``$ref`` (``#`` or ``#/properties/a/items``: a JSON Pointer, RFC 6901, in a URI
    fragment, RFC 3986 percent-escapes decoded) names in ``root``. Anything else is ``Unsupported``: another
    document, an anchor (``#name``), a pointer that names nothing."""
    if not isinstance(reference, str) or not (reference == "#" or reference.startswith("#/")):
        raise Unsupported(f"$ref {reference!r}: only a JSON Pointer into this schema")
    node = root
    for token in urllib.parse.unquote(reference[2:]).split("/") if reference != "#" else ():
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and re.fullmatch(r"0|[1-9][0-9]*", token) and int(token) < len(node):
            node = node[int(token)]
        else:
            raise Unsupported(f"$ref {reference!r} names nothing in the schema")
    return node


def compile_schema(schema: Any, root: Any = None, following: frozenset[str] = frozenset()) -> Check:
    """``schema`` as one function: value -> valid. Raises ``Unsupported`` for a keyword it does not know.
    ``root``: the document a ``$ref`` points into (None: ``schema`` itself); ``following``: the references
    being compiled above this one (a recursive schema is not supported)."""
    root = schema if root is None else root
    if schema is True:
        return lambda value: True
    if not isinstance(schema, dict):
        raise Unsupported(f"schema {schema!r}")
    if "$id" in schema and schema is not root:  # a new base for the references under it: not followed here
        raise Unsupported("$id below the root")
    unknown = set(schema) - IGNORED - {"type", "enum", "const", "pattern", "minLength", "minimum", "exclusiveMinimum",
                                       "maximum", "minItems", "maxItems", "properties", "additionalProperties",
                                       "required", "items", "$ref"}
    if unknown:
        raise Unsupported(", ".join(sorted(unknown)))
    if isinstance(schema.get("items", {}), list) or isinstance(schema.get("additionalProperties", {}), bool):
        raise Unsupported("items or additionalProperties of another form")
    checks: list[Check] = []
    if "type" in schema:
        kinds = [TYPES[name] for name in ([schema["type"]] if isinstance(schema["type"], str) else schema["type"])]
        checks.append(lambda v: any(kind(v) for kind in kinds))
    if "enum" in schema:
        options = schema["enum"]
        checks.append(lambda v: any(json_equal(v, option) for option in options))
    if "const" in schema:
        constant = schema["const"]
        checks.append(lambda v: json_equal(v, constant))
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda v: not isinstance(v, str) or search(v) is not None)
    if "minLength" in schema:
        shortest = schema["minLength"]
        checks.append(lambda v: not isinstance(v, str) or len(v) >= shortest)
    if "minimum" in schema:
        low = schema["minimum"]
        checks.append(lambda v: not _is_number(v) or not v < low)  # jsonschema's test (NaN passes: not its job)
    if "exclusiveMinimum" in schema:
        above = schema["exclusiveMinimum"]
        checks.append(lambda v: not _is_number(v) or not v <= above)
    if "maximum" in schema:
        high = schema["maximum"]
        checks.append(lambda v: not _is_number(v) or not v > high)
    if "minItems" in schema:
        fewest = schema["minItems"]
        checks.append(lambda v: not isinstance(v, list) or len(v) >= fewest)
    if "maxItems" in schema:
        most = schema["maxItems"]
        checks.append(lambda v: not isinstance(v, list) or len(v) <= most)
    if "$ref" in schema:  # 2020-12: applied beside the other keywords
        reference = schema["$ref"]
        if reference in following:
            raise Unsupported(f"$ref {reference!r} refers to itself")
        checks.append(compile_schema(_pointed(root, reference), root, following | {reference}))
    if "required" in schema:
        required = list(schema["required"])
        checks.append(lambda v: not isinstance(v, dict) or all(key in v for key in required))
    properties = {key: compile_schema(rule, root, following) for key, rule in schema.get("properties", {}).items()}
    other = (compile_schema(schema["additionalProperties"], root, following) if "additionalProperties" in schema
             else None)
    if properties or other:
        def members(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                check = properties.get(key, other)
                if check is not None and not check(value):
                    return False
            return True
        checks.append(members)
    if "items" in schema:
        item = compile_schema(schema["items"], root, following)
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    return lambda value: all(check(value) for check in checks)


class ErrorSource(Protocol):
    """What hwbench asks of a schema validator: jsonschema's ``iter_errors`` (CompiledValidator has it too)."""

    def iter_errors(self, instance: Any, /) -> Iterator[ValidationError]: ...


class CompiledValidator:
    """``iter_errors`` as a jsonschema validator has it: nothing for a valid value (the compiled check), the
    jsonschema validator's own errors otherwise (so every message is jsonschema's)."""

    def __init__(self, check: Check, validator: ErrorSource):
        self.check, self.validator = check, validator

    def iter_errors(self, data: Any, /) -> Iterator[ValidationError]:
        return iter(()) if self.check(data) else self.validator.iter_errors(data)


def compiled_or_plain(schema: Any, validator: ErrorSource) -> ErrorSource:
    """``schema`` compiled, with ``validator`` (jsonschema's, for that schema) for the messages; ``validator``
    alone where the schema uses a keyword ``compile_schema`` does not know."""
    try:
        return CompiledValidator(compile_schema(schema), validator)
    except Unsupported:
        return validator
