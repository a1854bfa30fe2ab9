"""Check a split request against OpenAI's own ``CreateChatCompletionRequest`` schema, answering as OpenAI does.

A request OpenAI would refuse (``messages[0].role: "robot"``, ``n: 0``, ``stream_options`` without ``stream``)
must be refused whichever side would serve it; SGLang accepts some and words the rest its own way. The schema is
data (``proxy/data/create_chat_completion_request.json``, copied from OpenAI's OpenAPI description, MIT; see its
``x-source``), checked with ``fastjsonschema`` (and worded with ``jsonschema``); the first problem is worded as OpenAI words it: its message,
``param`` (``messages[0].role``) and ``code`` (``invalid_value``, ``integer_below_min_value``,
``missing_required_parameter``, ...).
"""

from __future__ import annotations

import functools
import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from proxy.validate import json_type_name

SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "create_chat_completion_request.json"
# OpenAI lists message roles in this order in its "Supported values" text, not the schema's.
ROLE_ORDER = ("system", "assistant", "user", "function", "tool", "developer")
DISCRIMINATORS = ("role", "type")
TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


@dataclass(frozen=True)
class SpecProblem:
    """What OpenAI answers a request it refuses with (status 400)."""

    message: str
    param: str | None = None
    code: str | None = None


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = _without_formats(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    return document


def _without_formats(node: Any) -> Any:
    """``format`` is an annotation in JSON Schema 2020-12 (and OpenAI does not check ``uri`` strictly)."""
    if isinstance(node, list):
        return [_without_formats(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: _without_formats(v) for k, v in node.items() if not (k == "format" and isinstance(v, str))}


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_document())


@functools.cache
def fast_check() -> Callable[[Any], Any]:
    """The schema compiled to Python by fastjsonschema: a valid request costs ~0.1 ms here where jsonschema's
    walk costs ~1 ms; jsonschema only runs to word a refusal. Call once at start (compiling takes ~0.2 s)."""
    check: Callable[[Any], Any] = fastjsonschema.compile(_document())
    return check


def check_against_spec(body: dict[str, Any]) -> SpecProblem | None:
    """The first thing OpenAI's schema (and its cross-field rules) refuses in ``body``, or None."""
    facts = shape_facts()
    key = shape(body, facts) if facts is not None else None
    if key is not None and key in _VALID_SHAPES:
        return _cross_field(body)
    try:
        fast_check()(body)
        if key is not None:
            if len(_VALID_SHAPES) >= VALID_SHAPES_KEPT:
                _VALID_SHAPES.clear()
            _VALID_SHAPES.add(key)
    except fastjsonschema.JsonSchemaException:
        error = _first(_validator().iter_errors(body))
        if error is not None:
            return _leaf(error)
    return _cross_field(body)


# --- the verdict by shape -------------------------------------------------------------------------------------
#
# Apps send the same kind of request over and over, differing in text. The schema's verdict depends on a body's
# keys, types, lengths against the schema's length limits, numbers against its bounds and strings that are one of
# its enum values; nothing else (checked: ``shape_facts`` refuses a schema with any other keyword, e.g. a
# ``pattern``). Two bodies with the same :func:`shape` get the same verdict, so a valid shape is validated once.

VALID_SHAPES_KEPT = 4096
_VALID_SHAPES: set[Any] = set()
# Keywords whose verdict depends only on what :func:`shape` keeps (annotations are ignored by validators).
SHAPE_KEYWORDS = frozenset(
    {
        "type",
        "$ref",
        "properties",
        "required",
        "enum",
        "anyOf",
        "oneOf",
        "allOf",
        "items",
        "additionalProperties",
    }
    | {"minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength"}
    | {"maxLength", "default", "description", "title", "deprecated", "examples", "example", "nullable"}
)
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf")
SCHEMA_VALUES = ("items", "additionalProperties")


@dataclass(frozen=True)
class ShapeFacts:
    enums: frozenset[str]
    lengths: tuple[int, ...]
    bounds: tuple[float, ...]


@functools.cache
def shape_facts() -> ShapeFacts | None:
    """The enum strings, length limits and number bounds of the schema; None when it uses a keyword whose
    verdict a shape cannot tell (then every body is validated)."""
    enums: set[str] = set()
    lengths: set[int] = set()
    bounds: set[float] = set()
    unknown: set[str] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        for keyword, value in node.items():
            if keyword.startswith("x-"):
                continue
            if keyword not in SHAPE_KEYWORDS:
                unknown.add(keyword)
            if keyword == "enum":  # a number in an enum is a bound too: equal to it or not tells
                enums.update(v for v in value if isinstance(v, str))
                bounds.update(v for v in value if isinstance(v, int | float) and not isinstance(v, bool))
            elif keyword in ("minLength", "maxLength"):
                lengths.add(value)
            elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                bounds.add(value)
            elif keyword == "properties":
                for child in value.values():
                    walk(child)
            elif keyword in SCHEMA_LISTS:
                for child in value:
                    walk(child)
            elif keyword in SCHEMA_VALUES:
                walk(value)

    document = _document()
    for schema in document.get("components", {}).get("schemas", {}).values():
        walk(schema)
    walk({k: v for k, v in document.items() if k != "components"})
    if unknown:
        return None
    return ShapeFacts(frozenset(enums), tuple(sorted(lengths)), tuple(sorted(bounds)))


def shape(value: Any, facts: ShapeFacts) -> Any:
    """What the schema's verdict on ``value`` depends on, as a hashable key (see above). A length or a number is
    kept as its place among the schema's limits (``bisect`` left and right: below, at or above each one)."""
    kind = type(value)
    if kind is str:
        if value in facts.enums:
            return value
        size, lengths = len(value), facts.lengths
        return (str, bisect_left(lengths, size), bisect_right(lengths, size))
    if kind is dict:
        return (dict, *[(key, shape(item, facts)) for key, item in value.items()])
    if kind is list:
        return (list, *[shape(item, facts) for item in value])
    if kind is int or kind is float:
        bounds = facts.bounds
        integral = kind is int or value.is_integer()
        return (kind, integral, bisect_left(bounds, value), bisect_right(bounds, value))
    return (kind, value)  # True, False, None


def _first(errors: Iterable[ValidationError]) -> ValidationError | None:
    """The most relevant error at this level (``best_match`` would descend into ``oneOf`` on its own)."""
    return min(errors, key=relevance, default=None)


def _cross_field(body: dict[str, Any]) -> SpecProblem | None:
    if body.get("stream_options") is not None and not body.get("stream"):
        return SpecProblem(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        )
    if body.get("tool_choice") is not None and not body.get("tools"):
        message = "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
        return SpecProblem(message, "tool_choice")
    return None


def _leaf(error: ValidationError) -> SpecProblem:
    """One problem for an error; through ``oneOf``/``anyOf``, the branch the request was meant for."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return _worded(error)
    branches: dict[int, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[int(sub.relative_schema_path[0])].append(sub)
    meant = [errs for errs in branches.values() if not _type_miss(errs) and _discriminator_miss(errs) is None]
    if meant:
        chosen = _first(meant[min(range(len(meant)), key=lambda i: len(meant[i]))])
        assert chosen is not None
        return _leaf(chosen)
    misses = [miss for errs in branches.values() if (miss := _discriminator_miss(errs)) is not None]
    if misses:
        return _invalid_value(misses[0].instance, _param(misses[0].absolute_path), _allowed(misses))
    expected = [t for errs in branches.values() for e in errs if e.validator == "type" for t in _types(e)]
    return _invalid_type(_param(error.absolute_path), expected, error.instance)


def _type_miss(errors: Iterable[ValidationError]) -> bool:
    """The branch is for another JSON type altogether (directly, or through a nested ``anyOf``/``oneOf``)."""
    return all(
        not e.relative_path
        and (e.validator == "type" or (e.validator in ("anyOf", "oneOf") and _type_miss(e.context or [])))
        for e in errors
    )


def _discriminator_miss(errors: Sequence[ValidationError]) -> ValidationError | None:
    for e in errors:
        if (
            e.validator in ("enum", "const")
            and len(e.relative_path) == 1
            and e.relative_path[0] in DISCRIMINATORS
        ):
            return e
    return None


def _allowed(misses: Iterable[ValidationError]) -> list[Any]:
    values: list[Any] = []
    for miss in misses:
        for value in miss.validator_value if miss.validator == "enum" else [miss.validator_value]:
            if value not in values:
                values.append(value)
    if set(values) <= set(ROLE_ORDER):
        values.sort(key=ROLE_ORDER.index)
    elif all(isinstance(v, str) for v in values):
        values.sort()
    return values


def _worded(error: ValidationError) -> SpecProblem:
    param = _param(error.absolute_path)
    kind, value, bound = error.validator, error.instance, error.validator_value
    if kind == "required":
        missing = next((name for name in bound if name not in value), bound[0])
        name = _join(param, missing)
        return SpecProblem(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")
    if kind == "type":
        return _invalid_type(param, _types(error), value)
    if kind in ("enum", "const"):
        return _invalid_value(value, param, list(bound) if kind == "enum" else [bound])
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        integer = isinstance(error.schema, dict) and error.schema.get("type") == "integer"
        return _out_of_range(param, kind, bound, value, integer)
    if kind in ("minItems", "maxItems", "minLength", "maxLength"):
        return _wrong_length(param, kind, bound, value)
    return SpecProblem(f"Invalid value for '{param}': {error.message}", param or None, "invalid_value")


def _out_of_range(param: str, kind: str, bound: Any, value: Any, integer: bool) -> SpecProblem:
    number = "integer" if integer else "decimal"
    below = kind in ("minimum", "exclusiveMinimum")
    relation = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
    where = "below minimum" if below else "above maximum"
    message = f"Invalid '{param}': {number} {where} value. Expected a value {relation} {bound}, but got {value} instead."
    return SpecProblem(message, param, f"{number}_{'below_min' if below else 'above_max'}_value")


def _wrong_length(param: str, kind: str, bound: Any, value: Any) -> SpecProblem:
    noun = "array" if isinstance(value, list) else "string"
    if kind == "minItems" and not value:
        message = (
            f"Invalid '{param}': empty array. Expected an array with minimum length {bound}, but got an empty "
            "array instead."
        )
        return SpecProblem(message, param, "empty_array")
    short = kind.startswith("min")
    message = (
        f"Invalid '{param}': {noun} too {'short' if short else 'long'}. Expected {'an' if noun == 'array' else 'a'} "
        f"{noun} with {'minimum' if short else 'maximum'} length {bound}, but got {'an' if noun == 'array' else 'a'} "
        f"{noun} with length {len(value)} instead."
    )
    return SpecProblem(message, param, f"{noun}_{'below_min' if short else 'above_max'}_length")


def _invalid_value(value: Any, param: str, allowed: list[Any]) -> SpecProblem:
    shown = [f"'{v}'" for v in allowed]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + f", and {shown[-1]}"
    return SpecProblem(f"Invalid value: '{value}'. Supported values are: {listed}.", param, "invalid_value")


def _invalid_type(param: str, expected: list[str], value: Any) -> SpecProblem:
    wanted = next((t for t in expected if t != "null"), expected[0] if expected else "object")
    message = f"Invalid type for '{param}': expected {TYPE_WORDS.get(wanted, wanted)}, but got {json_type_name(value)} instead."
    return SpecProblem(message, param, "invalid_type")


def _types(error: ValidationError) -> list[str]:
    bound = error.validator_value
    return [bound] if isinstance(bound, str) else list(bound)


def _param(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(param: str, name: str) -> str:
    return f"{param}.{name}" if param else name
