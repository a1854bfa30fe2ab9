"""SimOptions and fault specs reject bad values with messages that say what to use instead."""

from __future__ import annotations

import pytest

from backend.sim.server import Fault, SimOptions, listening_line, parse_fault


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("cut", Fault("cut")),
        ("cut:3", Fault("cut", 3)),
        (" HANG ", Fault("hang")),
        ("error:0", Fault("error", 0)),
    ],
)
def test_parse_fault(text: str, fault: Fault) -> None:
    assert parse_fault(text) == fault


@pytest.mark.parametrize(("text", "message"), [("boom", "unknown fault"), ("cut:x", "whole number")])
def test_parse_fault_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(text)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"flavor": "vllm"}, "flavor: 'vllm': use one of openai, sglang"),
        ({"disagree": 1.5}, "disagree: 1.5: must be a fraction"),
        ({"latency_ms": -1}, "latency_ms: -1: must be >= 0"),
        ({"models": ()}, "models: give at least one"),
        ({"fault": "explode"}, "unknown fault"),
        ({"port": 70000}, "port: 70000"),
    ],
)
def test_options_reject_bad_values(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimOptions(**fields)  # type: ignore[arg-type]


def test_listening_line() -> None:
    assert (
        listening_line(SimOptions(flavor="sglang"), 8123) == "sim sglang listening on http://127.0.0.1:8123"
    )
    assert listening_line(SimOptions(host="::1"), 1) == "sim openai listening on http://[::1]:1"
