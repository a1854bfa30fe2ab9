"""Extraction scoring: JSON validity, schema validity, field-level F1 and exact critical fields.

Nested objects are flattened to dotted paths (``customer.address.city``); list items share the path with ``[]``
appended (``tags[]``), so list order does not matter and duplicates count (multisets). Values are normalized
for F1 (strings case-folded with whitespace collapsed, numbers to 9 significant digits) but compared raw
(canonical JSON) for critical fields.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

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


def flatten(value: Any, prefix: str = "") -> Counter[tuple[str, str]]:
    """Normalized (path, value) pairs as a multiset."""
    out: Counter[tuple[str, str]] = Counter()
    _flatten_into(out, value, prefix, normalize=True)
    return out


def flatten_raw(value: Any, prefix: str = "") -> Counter[tuple[str, str]]:
    """Exact (path, canonical JSON value) pairs, keys unchanged: what critical fields compare."""
    out: Counter[tuple[str, str]] = Counter()
    _flatten_into(out, value, prefix, normalize=False)
    return out


def _flatten_into(out: Counter[tuple[str, str]], value: Any, path: str, *, normalize: bool) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            name = " ".join(str(key).casefold().split()) if normalize else str(key)
            _flatten_into(out, item, f"{path}.{name}" if path else name, normalize=normalize)
    elif isinstance(value, list) and value:
        for item in value:
            _flatten_into(out, item, f"{path}[]", normalize=normalize)
    else:
        out[(path or "$", normalize_scalar(value) if normalize else _canonical(value))] += 1


def normalize_scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{float(value):.9g}" if math.isfinite(float(value)) else str(value)
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    return _canonical(value)  # empty dict / list


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class FieldScore:
    precision: float
    recall: float
    f1: float


def field_score(incumbent: Any, candidate: Any) -> FieldScore:
    """Precision, recall and F1 of the candidate's normalized key/value pairs against the incumbent's."""
    reference, predicted = flatten(incumbent), flatten(candidate)
    if not reference and not predicted:
        return FieldScore(1.0, 1.0, 1.0)
    hits = sum((reference & predicted).values())
    precision = hits / sum(predicted.values()) if predicted else 0.0
    recall = hits / sum(reference.values()) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return FieldScore(precision, recall, f1)


def critical_match(incumbent: Any, candidate: Any, fields: tuple[str, ...]) -> bool:
    """Every critical field (a flattened path) has exactly the same values on both sides."""
    reference, predicted = flatten_raw(incumbent), flatten_raw(candidate)
    return all(_values_at(reference, f) == _values_at(predicted, f) for f in fields)


def _values_at(flat: Counter[tuple[str, str]], path: str) -> list[str]:
    nested = (path + ".", path + "[]")
    return sorted(
        f"{p}={v}"
        for (p, v), count in flat.items()
        for _ in range(count)
        if p == path or p.startswith(nested)
    )
