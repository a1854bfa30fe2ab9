"""Deterministic JSON values that satisfy a JSON Schema: tool-call arguments and ``json_schema`` answers.

Covers what function parameters and structured outputs use in practice (objects, arrays, scalars, enums,
consts, ``anyOf``/``oneOf``/``allOf``, local ``$ref``, string formats, numeric and length bounds). Strings
are picked from the property name ("city" -> a city) so tool calls look like a model's.
"""

from __future__ import annotations

import math
import random
from typing import Any

_MAX_DEPTH = 8
_HINTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("location", "city", "place", "destination"),
        ("Seattle, WA", "San Francisco, CA", "Boston, MA", "London"),
    ),
    (("country",), ("UK", "France", "Japan", "Mexico", "Canada")),
    (("email",), ("alice@example.com", "bruno@example.com", "chen@example.org")),
    (("name", "customer"), ("Alice Moreau", "Bruno Okafor", "Chen Tanaka")),
    (("date", "day"), ("2024-03-14", "2024-07-01", "2024-11-23")),
    (("unit",), ("celsius", "fahrenheit")),
    (("query", "question", "search", "text"), ("order status", "refund policy", "opening hours")),
    (("id", "order"), ("ORD-48213", "ORD-10077", "ORD-93120")),
    (("currency",), ("USD", "EUR", "GBP")),
    (("label", "category"), ("billing", "technical", "shipping")),
    (("product", "item"), ("wireless headphones", "standing desk", "espresso machine")),
)
_WORDS = ("alpha", "bravo", "delta", "harbor", "meadow", "signal", "summit", "velvet")


def instance(schema: Any, rng: random.Random, *, name: str = "") -> Any:
    """A value valid against ``schema`` (a dict or boolean schema), chosen with ``rng``."""
    return _Generator(schema if isinstance(schema, dict) else {}, rng).value(schema, name, 0)


class _Generator:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def value(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None if depth > _MAX_DEPTH else self.string({}, name)
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.value(self.pick_branch(schema[key]), name, depth + 1)
        if "allOf" in schema:
            return self.value(self.merge(schema), name, depth + 1)
        return self.typed(schema, self.type_of(schema), name, depth)

    def typed(self, schema: dict[str, Any], kind: str, name: str, depth: int) -> Any:
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind in ("integer", "number"):
            return self.number(schema, kind)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.string(schema, name)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        for _ in range(_MAX_DEPTH):
            ref = schema.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#"):
                return schema
            target: Any = self.root
            for part in ref.lstrip("#/").split("/") if ref != "#" else []:
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(target, dict)
                    else {}
                )
            schema = {
                **{k: v for k, v in schema.items() if k != "$ref"},
                **(target if isinstance(target, dict) else {}),
            }
        return schema

    def pick_branch(self, branches: list[Any]) -> Any:
        usable = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        return self.rng.choice(usable or branches) if usable or branches else {}

    def merge(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self.resolve(part) if isinstance(part, dict) else {}
            for key, val in part.items():
                if key in ("properties",) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **val}
                elif key == "required":
                    merged[key] = sorted(set(merged.get(key, [])) | set(val))
                else:
                    merged.setdefault(key, val)
        return merged

    @staticmethod
    def type_of(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else "string")
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        return "array" if "items" in schema else "string"

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        result = {key: self.value(sub, key, depth + 1) for key, sub in props.items()}
        for key in schema.get("required") or []:
            if key not in result:
                extra = schema.get("additionalProperties")
                result[key] = self.value(extra if isinstance(extra, dict) else {}, key, depth + 1)
        return result

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 2)))
        count = self.rng.randint(low, max(low, high))
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        out = [self.value(sub, name, depth + 1) for sub in prefix[:count]]
        out += [self.value(items, name, depth + 1) for _ in range(count - len(out))]
        if schema.get("uniqueItems") and len({repr(v) for v in out}) != len(out):
            out = out[:1]
        return out

    def number(self, schema: dict[str, Any], kind: str) -> int | float:
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", max(low, 0) + 100))
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            low = low + (1 if kind == "integer" else 0.01)
        if "exclusiveMaximum" in schema and "maximum" not in schema:
            high = high - (1 if kind == "integer" else 0.01)
        step = schema.get("multipleOf")
        if kind == "integer" or isinstance(step, int):
            unit = step if isinstance(step, int) and step > 0 else 1
            first, last = -(-math.ceil(low) // unit), math.floor(high) // unit
            return self.rng.randint(first, max(first, last)) * unit
        return round(self.rng.uniform(float(low), float(max(low, high))), 2)

    def string(self, schema: dict[str, Any], name: str) -> str:
        text = self.formatted(schema.get("format")) or self.hinted(name)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += " " + self.rng.choice(_WORDS)
        return text[: int(high)] if isinstance(high, int) else text

    def formatted(self, fmt: Any) -> str | None:
        day = self.rng.randint(1, 28)
        return (
            {
                "email": f"{self.rng.choice(_WORDS)}@example.com",
                "date": f"2024-{self.rng.randint(1, 12):02d}-{day:02d}",
                "date-time": f"2024-{self.rng.randint(1, 12):02d}-{day:02d}T12:00:00Z",
                "time": "12:00:00",
                "uri": f"https://example.com/{self.rng.choice(_WORDS)}",
                "uuid": "123e4567-e89b-42d3-a456-"
                + "".join(self.rng.choice("0123456789abcdef") for _ in range(12)),
            }.get(fmt)
            if isinstance(fmt, str)
            else None
        )

    def hinted(self, name: str) -> str:
        lowered = name.lower()
        for keys, values in _HINTS:
            if any(key in lowered for key in keys):
                return self.rng.choice(values)
        return f"{self.rng.choice(_WORDS)} {self.rng.choice(_WORDS)}"
