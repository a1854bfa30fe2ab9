"""Extraction scoring: JSON validity, schema validity, field-level F1 and exact critical fields.

Nested objects are flattened to paths (``customer.address.city``); list items by position (``items[0].qty``)
or by a configured key (``items[sku="A1"].qty``), so a quantity moved to another item is a miss, never a
multiset coincidence. Leaves are compared as the app would see them (:mod:`evaluator.values`): types must
match (``"true"`` is not ``true``), integers and strings exactly, ``814.0`` equals ``814``, and only genuine
floats get a (per-field configurable) relative tolerance. F1 and critical fields use the same comparison.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evaluator.values import EXACT, Rules, flatten, leaf_equal

_NOT_PARSED = object()


@dataclass(frozen=True)
class Parsed:
    """A JSON answer: ``value`` is the parsed JSON or None when ``valid`` is False."""

    valid: bool
    value: Any = None
    schema_valid: bool | None = None  # None: the request gave no (usable) schema


def parse_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def response_format(request: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(type, json schema or None) from the request's ``response_format``."""
    fmt = request.get("response_format")
    if not isinstance(fmt, dict):
        return None, None
    kind = fmt.get("type")
    schema_holder = fmt.get("json_schema")
    schema = schema_holder.get("schema") if isinstance(schema_holder, dict) else None
    return (kind if isinstance(kind, str) else None), (schema if isinstance(schema, dict) else None)


class SchemaCache:
    """Compiled validators by schema text: many pairs share one schema; a broken schema is remembered."""

    def __init__(self) -> None:
        self._validators: dict[str, Any] = {}

    def validate(self, schema: dict[str, Any], instance: Any) -> bool | None:
        key = json.dumps(schema, sort_keys=True, default=str)
        if key not in self._validators:
            self._validators[key] = _compile(schema)
        validator = self._validators[key]
        return None if validator is None else bool(validator.is_valid(instance))


def _compile(schema: dict[str, Any]) -> Any:
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        return cls(schema)
    except (jsonschema.SchemaError, TypeError, ValueError):
        return None


def parse_answer(text: str, request: dict[str, Any], schemas: SchemaCache) -> Parsed:
    ok, value = parse_json(text)
    kind, schema = response_format(request)
    if ok and kind == "json_object" and not isinstance(value, dict):
        ok = False
    if not ok:
        return Parsed(False, None, False if schema is not None else None)
    schema_valid = schemas.validate(schema, value) if schema is not None else None
    return Parsed(True, value, schema_valid)


@dataclass(frozen=True)
class FieldScore:
    precision: float
    recall: float
    f1: float


def field_score(incumbent: Any, candidate: Any, rules: Rules = EXACT) -> FieldScore:
    """Precision, recall and F1 of the candidate's leaves (by path) against the incumbent's: a leaf is a hit
    when the same path holds an equal value (:func:`evaluator.values.leaf_equal`)."""
    reference, predicted = flatten(incumbent, rules), flatten(candidate, rules)
    if not reference and not predicted:
        return FieldScore(1.0, 1.0, 1.0)
    hits = sum(
        1
        for path, value in predicted.items()
        if path in reference and leaf_equal(reference[path], value, rules, path)
    )
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(reference) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return FieldScore(precision, recall, f1)


def critical_match(incumbent: Any, candidate: Any, fields: tuple[str, ...], rules: Rules = EXACT) -> bool:
    """Every critical field (a path; everything under it for an object or list) is present on the same paths
    with equal values on both sides."""
    reference, predicted = flatten(incumbent, rules), flatten(candidate, rules)
    for name in fields:
        mine, theirs = _under(reference, name), _under(predicted, name)
        if mine.keys() != theirs.keys():
            return False
        if not all(leaf_equal(mine[p], theirs[p], rules, p) for p in mine):
            return False
    return True


def _under(flat: dict[str, Any], path: str) -> dict[str, Any]:
    nested = (path + ".", path + "[")
    return {p: v for p, v in flat.items() if p == path or p.startswith(nested)}
