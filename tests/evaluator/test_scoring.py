"""Per-task scoring and the bad-input accounting (no embedding model: similarity=False)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import EvaluationSettings
from core.pair import Answer
from evaluator import guards, jsonfields, tools
from evaluator.scoring import infer_kind, score_pairs
from evaluator.text import HUGE_CHARS, normalize_label
from evaluator.values import Rules, json_equal
from tests.evaluator.factory import error, ok, pair, request, tool_call

JSON_MODE = {"response_format": {"type": "json_object"}}
TOOLS = {"tools": [{"type": "function", "function": {"name": "weather"}}]}


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("Positive", "positive.", True),
        ("  Non-Urgent ", "non-urgent", True),
        ("BILLING\n", "billing", True),
        ("spam", "not spam", False),
        ("Ｐｏｓｉｔｉｖｅ", "positive", True),  # full-width (NFKC)
        ("C#", "C", False),  # punctuation inside a label is part of it (the old code made these equal)
        ("-1", "1", False),
        ("A-", "A", False),
        ("Non-Urgent", "non urgent", False),
    ],
)
def test_label_normalization(left: str, right: str, same: bool) -> None:
    assert (normalize_label(left) == normalize_label(right)) is same


def test_field_f1_flattens_nested_keys_and_compares_lists_by_position() -> None:
    incumbent = {
        "name": "Ann Lee",
        "address": {"city": "Paris", "zip": "75001"},
        "tags": ["a", "b"],
        "age": 30,
    }
    candidate = {
        "name": "Ann Lee",
        "address": {"city": "Paris", "zip": "75002"},
        "tags": ["a", "b"],
        "age": 30.0,
    }
    score = jsonfields.field_score(incumbent, candidate)
    # 6 leaves each side, 5 equal (the zip differs; 30.0 is the number 30)
    assert score.precision == pytest.approx(5 / 6) and score.recall == pytest.approx(5 / 6)
    assert jsonfields.field_score({}, {}).f1 == 1.0
    assert jsonfields.field_score({"a": 1}, {}).f1 == 0.0


@pytest.mark.parametrize(
    ("incumbent", "candidate"),
    [
        ({"paid": True}, {"paid": "true"}),  # a string for a boolean breaks the app's check
        ({"qty": 2}, {"qty": "2"}),
        ({"name": "Ann Lee"}, {"name": "ann lee"}),  # strings are exact
        ({"order_id": 1000001}, {"order_id": 1000000}),  # integers are exact
        ({"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}]},
         {"items": [{"sku": "A", "qty": 5}, {"sku": "B", "qty": 1}]}),  # quantities swapped between items
        ({"price": 19.99}, {"price": 19.98}),
    ],
)  # fmt: skip
def test_extraction_values_are_compared_as_the_app_reads_them(incumbent: object, candidate: object) -> None:
    """The old multiset of normalized strings accepted every one of these."""
    assert jsonfields.field_score(incumbent, candidate).f1 < 1.0
    assert not jsonfields.critical_match(incumbent, candidate, tuple(incumbent))  # type: ignore[arg-type]


def test_integral_floats_equal_integers_and_list_keys_match_items_by_key() -> None:
    assert jsonfields.critical_match({"total": 814}, {"total": 814.0}, ("total",))  # failed before
    assert jsonfields.field_score({"total": 814}, {"total": 814.0}).f1 == 1.0
    incumbent = {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}]}
    reordered = {"items": [{"sku": "B", "qty": 5}, {"sku": "A", "qty": 1}]}
    assert jsonfields.field_score(incumbent, reordered).f1 == 0.0  # by position: every item moved
    by_sku = Rules(list_keys={"items": "sku"})
    assert jsonfields.field_score(incumbent, reordered, by_sku).f1 == 1.0
    assert jsonfields.critical_match(incumbent, reordered, ("items",), by_sku)
    swapped = {"items": [{"sku": "B", "qty": 1}, {"sku": "A", "qty": 5}]}
    assert not jsonfields.critical_match(incumbent, swapped, ("items",), by_sku)


def test_float_tolerance_is_for_genuine_floats_and_configurable_per_field() -> None:
    assert jsonfields.field_score({"p": 0.30000000000000004}, {"p": 0.3}).f1 == 1.0  # representation noise
    loose = Rules(float_tolerance={"price": 0.01})
    assert jsonfields.critical_match({"price": 19.99}, {"price": 19.98}, ("price",), loose)
    assert not jsonfields.critical_match(
        {"qty": 1000}, {"qty": 1001}, ("qty",), Rules(float_tolerance={"*": 0.1})
    )


@settings(max_examples=40, deadline=None)
@given(
    st.recursive(
        st.integers() | st.text(max_size=5) | st.booleans(),
        lambda c: st.dictionaries(st.text(max_size=4), c, max_size=4),
        max_leaves=12,
    )
)
def test_field_f1_of_identical_answers_is_one(value: object) -> None:
    assert jsonfields.field_score(value, value).f1 == 1.0


def test_critical_fields_compare_exact_values() -> None:
    incumbent = {"amount": 12.5, "currency": "EUR", "customer": {"id": "C-1"}}
    assert jsonfields.critical_match(incumbent, dict(incumbent), ("amount", "customer.id"))
    assert not jsonfields.critical_match(
        incumbent, {**incumbent, "currency": "eur"}, ("currency",)
    )  # case matters
    assert not jsonfields.critical_match(incumbent, {**incumbent, "customer": {"id": "C-2"}}, ("customer",))


def test_tool_calls_match_names_and_canonical_arguments() -> None:
    incumbent = Answer(200, _calls(tool_call("weather", {"city": "Paris", "days": 3})), 1.0)
    same = Answer(200, _calls(tool_call("weather", '{"days": 3.0000000001, "city": "Paris"}')), 1.0)
    other = Answer(200, _calls(tool_call("weather", {"city": "Lyon", "days": 3})), 1.0)
    broken = Answer(200, _calls(tool_call("weather", '{"city": "Paris"')), 1.0)
    assert tools.tool_score(tools.calls_of(incumbent), tools.calls_of(same)).f1 == 1.0
    assert tools.tool_score(tools.calls_of(incumbent), tools.calls_of(other)).f1 == 0.0
    result = tools.tool_score(tools.calls_of(incumbent), tools.calls_of(broken))
    assert result.f1 == 0.0 and result.invalid_arguments == 1 and result.names_match


def test_several_tool_calls_score_f1_over_calls() -> None:
    a, b, c = tool_call("a", {"x": 1}), tool_call("b", {"y": [1, 2]}), tool_call("c", {})
    incumbent = Answer(200, _calls(a, b), 1.0)
    candidate = Answer(200, _calls(b, c), 1.0)  # one of two right, one extra
    assert tools.tool_score(tools.calls_of(incumbent), tools.calls_of(candidate)).f1 == pytest.approx(0.5)
    assert json_equal({"v": [1, True]}, {"v": [1.0, True]}) and not json_equal(True, 1)


@pytest.mark.parametrize(
    ("incumbent", "candidate"),
    [
        ({"account": 987654321}, {"account": 987654322}),
        ({"order_id": 1000001}, {"order_id": 1000000}),
        ({"phone": 15551234567}, {"phone": 15551234568}),
        ({"at": 1700000000}, {"at": 1700001500}),
        ({"notify": True}, {"notify": "true"}),
        ({"n": 2}, {"n": "2"}),
        ({"ids": [1, 2]}, {"ids": [2, 1]}),
    ],
)
def test_tool_arguments_identifiers_and_integers_are_exact(incumbent: object, candidate: object) -> None:
    """The old 1e-6 relative tolerance accepted the first four."""
    left = tools.calls_of(Answer(200, _calls(tool_call("pay", incumbent)), 1.0))
    right = tools.calls_of(Answer(200, _calls(tool_call("pay", candidate)), 1.0))
    assert tools.tool_score(left, right).f1 == 0.0


def _calls(*calls: dict[str, object]) -> dict[str, object]:
    return {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": list(calls)}}
        ]
    }


@pytest.mark.parametrize(
    ("incumbent", "candidate", "expected"),
    [
        ("The patient is allergic to penicillin.", "The patient is not allergic to penicillin.", "negation"),
        ("The patient isn't allergic to penicillin.", "The patient is allergic to penicillin.", "negation"),
        ("Revenue rose 12% to $2.1M in 2024.", "Revenue rose 12% to 2.1 million in 2024.", None),
        ("Revenue rose 12% in 2024.", "Revenue rose 15% in 2024.", "numbers"),
        ("Shipped three items.", "Shipped 3 items.", None),
        ("The meeting moved to Thursday.", "The meeting is on Thursday, not Friday.", None),
    ],
)
def test_guards(incumbent: str, candidate: str, expected: str | None) -> None:
    flags = guards.check(incumbent, candidate, request="")
    assert [f.guard for f in flags] == ([expected] if expected else [])


def test_numbers_from_the_request_are_allowed() -> None:
    assert not guards.check("Sales grew.", "Sales grew 7%.", request="Q3: sales grew 7% year over year")


def test_kind_inference() -> None:
    assert infer_kind(pair(ok("{}"), ok("{}"), req=request("x", **JSON_MODE))) == "extract"
    assert infer_kind(pair(ok(None), ok(None), req=request("x", **TOOLS))) == "tools"
    assert infer_kind(pair(ok("Spam"), ok("not spam"))) == "classify"
    assert infer_kind(pair(ok("a much longer answer with many words"), ok("Spam"))) == "chat"
    assert infer_kind(pair(ok("x"), ok("y"), task="summarize")) == "summarise"


def test_bad_input_is_counted_never_dropped() -> None:
    huge = "word " * (HUGE_CHARS // 5 + 10)
    pairs = [
        pair(ok("Positive"), None),  # not mirrored
        pair(None, ok("Positive")),
        pair(error(500), ok("Positive")),
        pair(ok("Positive"), error(error="timeout")),
        pair(ok('{"a": 1}'), ok("```json\n{'a': 1}```"), req=request("x", **JSON_MODE)),
        pair(ok("not json"), ok('{"a": 1}'), req=request("x", **JSON_MODE)),
        pair(ok("caf\udce9 is open"), ok("the cafe is open today"), task="summarise"),
        pair(ok(huge), ok(huge), task="summarise"),
        pair(Answer(200, {"choices": "nonsense"}, 5.0), ok("Positive")),
    ]
    scored = score_pairs(pairs, similarity=False)
    problems = scored.problems.counts
    assert scored.total == len(pairs)
    assert problems["candidate missing (not mirrored)"] == 1
    assert problems["incumbent missing (not mirrored)"] == 1
    assert problems["incumbent error (HTTP 500 server_error)"] == 1
    assert problems["candidate error (timeout)"] == 1
    assert problems["candidate invalid JSON"] == 1 and problems["incumbent invalid JSON"] == 1
    assert problems["incumbent text not valid UTF-8 (repaired)"] == 1
    assert problems["incumbent answer huge (scored on its first part)"] == 1
    extract = [s for s in scored.scores if s.kind == "extract"]
    assert [s.json_valid_candidate for s in extract] == [False, True]
    assert extract[0].field_f1 == 0.0 and extract[1].field_f1 is None  # no reference to compare with
    assert len(scored.sides) == 16  # every present side counts for latency and errors


def test_critical_fields_come_from_settings() -> None:
    settings_ = EvaluationSettings(critical_fields={"extract": ("amount",)})
    pairs = [
        pair(
            ok('{"amount": 10, "note": "x"}'),
            ok('{"amount": 10, "note": "y"}'),
            req=request("x", **JSON_MODE),
        ),
        pair(ok('{"amount": 10}'), ok('{"amount": 11}'), req=request("x", **JSON_MODE)),
    ]
    scored = score_pairs(pairs, settings=settings_, similarity=False)
    assert [s.critical_exact for s in scored.scores] == [True, False]
    assert score_pairs(pairs, similarity=False).scores[0].critical_exact is None
