"""Exact JSON value comparison, shared by tool-call arguments (:mod:`evaluator.tools`) and extraction
(:mod:`evaluator.jsonfields`).

An app parses the answer and uses the values, so equality is what its code would see:

- types must match: ``"true"`` is not ``true`` and ``"2"`` is not ``2`` (the app's ``if x is True`` or
  arithmetic breaks); strings are compared exactly (after Unicode NFC, which changes no visible character);
- integers and identifiers are exact: account ``987654321`` is not ``987654322``. An integral float is the
  same number as the integer (``814.0 == 814``);
- only a genuine float (a non-integral value on either side) gets a relative tolerance, :data:`FLOAT_REL_TOL`
  unless :class:`Rules` sets one for that field;
- list items are compared by position, or by the value of a key the configuration names for that list
  (``evaluation.list_keys: {items: sku}``), so quantities swapped between items never cancel out.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Printing and re-parsing a double moves it by ~1e-16; a model that rounds differently moves it by far more.
FLOAT_REL_TOL = 1e-9
_POSITION = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class Rules:
    """Per-field comparison settings. Paths are dotted with ``[]`` for list items (``items[].price``);
    a bare field name (``price``) matches that name anywhere; ``*`` is the default tolerance."""

    list_keys: Mapping[str, str] = field(default_factory=dict)
    float_tolerance: Mapping[str, float] = field(default_factory=dict)

    def tolerance(self, path: str) -> float:
        generic = generic_path(path)
        for name in (generic, generic.rsplit(".", 1)[-1].removesuffix("[]"), "*"):
            if name in self.float_tolerance:
                return float(self.float_tolerance[name])
        return FLOAT_REL_TOL

    def key_for(self, path: str) -> str | None:
        generic = generic_path(path)
        return self.list_keys.get(generic) or self.list_keys.get(generic.rsplit(".", 1)[-1])


EXACT = Rules()


def generic_path(path: str) -> str:
    """``items[2].price`` and ``items[sku=7].price`` -> ``items[].price``."""
    return _POSITION.sub("[]", path)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integral(value: int | float) -> bool:
    return isinstance(value, int) or (math.isfinite(value) and value.is_integer())


def scalar_equal(left: Any, right: Any, rel_tol: float = FLOAT_REL_TOL) -> bool:
    """Equality of two JSON leaves as an app reading them would see it (see the module docstring)."""
    if is_number(left) and is_number(right):
        if _integral(left) and _integral(right):
            return bool(left == right)  # int and float compare exactly in Python
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=rel_tol, abs_tol=0.0)
    if isinstance(left, str) and isinstance(right, str):
        return unicodedata.normalize("NFC", left) == unicodedata.normalize("NFC", right)
    return type(left) is type(right) and bool(left == right)


def json_equal(left: Any, right: Any, rules: Rules = EXACT, path: str = "") -> bool:
    """Recursive equality: objects by key, lists by position (or by the configured key), leaves exact."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            json_equal(left[k], right[k], rules, f"{path}.{k}" if path else str(k)) for k in left
        )
    if isinstance(left, list) and isinstance(right, list):
        mine, theirs = list_items(left, rules, path), list_items(right, rules, path)
        return mine.keys() == theirs.keys() and all(json_equal(mine[k], theirs[k], rules, k) for k in mine)
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return False
    return scalar_equal(left, right, rules.tolerance(path))


def list_items(items: list[Any], rules: Rules, path: str) -> dict[str, Any]:
    """Each item under its own path: ``path[sku="A1"]`` when the list has a configured key every item
    carries, else ``path[0]``, ``path[1]``... (a repeated key gets ``#2``, ``#3``)."""
    key = rules.key_for(path)
    if key and all(isinstance(i, dict) and key in i and not isinstance(i[key], dict | list) for i in items):
        out: dict[str, Any] = {}
        for item in items:
            name = f"{path}[{key}={json.dumps(item[key], ensure_ascii=False)}]"
            count = sum(1 for existing in out if existing == name or existing.startswith(name + "#"))
            out[name if not count else f"{name}#{count + 1}"] = item
        return out
    return {f"{path}[{i}]": item for i, item in enumerate(items)}


def flatten(value: Any, rules: Rules = EXACT, path: str = "") -> dict[str, Any]:
    """Leaves by path (``customer.name``, ``items[0].qty``); an empty object or list is a leaf."""
    out: dict[str, Any] = {}
    _flatten_into(out, value, rules, path)
    return out


def _flatten_into(out: dict[str, Any], value: Any, rules: Rules, path: str) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten_into(out, item, rules, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for name, item in list_items(value, rules, path).items():
            _flatten_into(out, item, rules, name)
    else:
        out[path or "$"] = value


def leaf_equal(left: Any, right: Any, rules: Rules, path: str) -> bool:
    """Two flattened leaves at ``path`` (empty containers compare by type and emptiness)."""
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return type(left) is type(right) and left == right
    return scalar_equal(left, right, rules.tolerance(path))
