"""Tool-call scoring: same tool names, arguments that parse and are equal as the tool would see them.

Two calls match when the names are equal and the parsed arguments are equal recursively with
:func:`evaluator.values.json_equal`: identifiers, integers, booleans and strings exactly (account 987654321 is
not 987654322, ``"2"`` is not ``2``), ``1`` equals ``1.0``, and only genuine floats within a relative 1e-9.
Several calls score an F1 over calls, matched greedily one-to-one in order (matching is an equivalence, so
greedy is optimal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.pair import Answer
from evaluator.values import EXACT, Rules, json_equal


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


def tool_score(incumbent: list[Call], candidate: list[Call], rules: Rules = EXACT) -> ToolScore:
    invalid = sum(1 for call in candidate if not call.valid)
    names_match = sorted(c.name for c in incumbent) == sorted(c.name for c in candidate)
    if not incumbent and not candidate:
        return ToolScore(1.0, True, 0)
    unmatched = list(incumbent)
    hits = 0
    for call in candidate:
        for i, reference in enumerate(unmatched):
            if _same_call(reference, call, rules):
                hits += 1
                del unmatched[i]
                break
    precision = hits / len(candidate) if candidate else 0.0
    recall = hits / len(incumbent) if incumbent else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return ToolScore(f1, names_match, invalid)


def _same_call(reference: Call, call: Call, rules: Rules) -> bool:
    return (
        reference.valid
        and call.valid
        and reference.name == call.name
        and json_equal(reference.arguments, call.arguments, rules)
    )
