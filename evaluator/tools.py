"""Tool-call scoring: same tool names, arguments that parse and are equal after canonicalization.

Two calls match when the names are equal and the parsed arguments are equal recursively, numbers within
:data:`REL_TOL` (so ``1``, ``1.0`` and ``0.9999999999`` match). Several calls score an F1 over calls,
matched greedily one-to-one in order (matching is an equivalence, so greedy is optimal).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from core.pair import Answer

REL_TOL = 1e-6
ABS_TOL = 1e-9


@dataclass(frozen=True)
class Call:
    name: str
    arguments: Any
    valid: bool  # the arguments parsed as JSON


@dataclass(frozen=True)
class ToolScore:
    f1: float
    names_match: bool
    invalid_arguments: int  # the candidate's calls whose arguments are not JSON


def calls_of(answer: Answer) -> list[Call]:
    calls: list[Call] = []
    for item in answer.tool_calls:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            calls.append(Call("", None, False))
            continue
        name = function.get("name")
        raw = function.get("arguments")
        valid, args = _parse_arguments(raw)
        calls.append(Call(name if isinstance(name, str) else "", args, valid))
    return calls


def _parse_arguments(raw: Any) -> tuple[bool, Any]:
    if isinstance(raw, dict):
        return True, raw
    if not isinstance(raw, str):
        return False, None
    try:
        return True, json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        return False, None


def json_close(left: Any, right: Any, rel_tol: float = REL_TOL) -> bool:
    """Recursive JSON equality; numbers (not booleans) equal within a tolerance."""
    if _is_number(left) and _is_number(right):
        return math.isclose(float(left), float(right), rel_tol=rel_tol, abs_tol=ABS_TOL)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_close(left[k], right[k], rel_tol) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            json_close(a, b, rel_tol) for a, b in zip(left, right, strict=True)
        )
    return type(left) is type(right) and bool(left == right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def tool_score(incumbent: list[Call], candidate: list[Call]) -> ToolScore:
    invalid = sum(1 for call in candidate if not call.valid)
    names_match = sorted(c.name for c in incumbent) == sorted(c.name for c in candidate)
    if not incumbent and not candidate:
        return ToolScore(1.0, True, 0)
    unmatched = list(incumbent)
    hits = 0
    for call in candidate:
        for i, reference in enumerate(unmatched):
            if _same_call(reference, call):
                hits += 1
                del unmatched[i]
                break
    precision = hits / len(candidate) if candidate else 0.0
    recall = hits / len(incumbent) if incumbent else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return ToolScore(f1, names_match, invalid)


def _same_call(reference: Call, call: Call) -> bool:
    return (
        reference.valid
        and call.valid
        and reference.name == call.name
        and json_close(reference.arguments, call.arguments)
    )
