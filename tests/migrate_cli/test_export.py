"""`alveare-migrate export` on a store filled by real traffic: valid OpenAI fine-tuning lines, a user split with
no overlap, PII blanked by default, and one line with exit code 2 when there is nothing to export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.store import Store
from migrate_cli.finetune import as_trl, example_of, request_key
from migrate_cli.main import cli
from tests.evaluator.factory import ok, pair, request, tool_call
from tests.migrate_cli.recorded import Recorded, record_traffic, stop
from tests.openapi_schema import fine_tune_errors

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    # 60 classify requests over 40 items (20 asked twice, by the same user) and 30 extract requests.
    done = record_traffic(
        tmp_path_factory.mktemp("export"), {"classify": 60, "extract": 30}, users=20, distinct=40
    )
    try:
        yield done
    finally:
        stop(done)


def export(recorded: Recorded, out: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["export", "--store", recorded.store_url, "--out", str(out), *args])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def users_by_request(store_url: str) -> dict[str, set[str]]:
    """Who sent each distinct request, from the store itself (not from the export's summary)."""
    users: dict[str, set[str]] = {}
    for p in Store.open(store_url).iter_pairs():
        users.setdefault(request_key(p.request), set()).add(p.key_hash)
    return users


def test_export_writes_valid_openai_lines_split_by_user(recorded: Recorded, tmp_path: Path) -> None:
    result = export(recorded, tmp_path, "--task", "classify", "--validation", "0.3", "--no-redact")
    assert result.exit_code == 0, result.output
    train, validation = lines(tmp_path / "train.jsonl"), lines(tmp_path / "validation.jsonl")
    assert len(train) + len(validation) == 40 and train and validation  # 60 requests, 40 distinct
    for record in train + validation:
        assert fine_tune_errors(record) == []
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    owners = users_by_request(recorded.store_url)

    def side_users(records: list[dict[str, Any]]) -> set[str]:
        found: set[str] = set()
        for r in records:
            found |= owners[request_key({"messages": r["messages"][:-1]})]
        return found

    assert side_users(train).isdisjoint(side_users(validation))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["left_out"] == {"duplicate of another request (the latest answer is kept)": 20}
    assert summary["users_on_both_sides"] == 0
    labels = summary["train"]["labels"]
    assert sum(labels.values()) == len(train) and set(labels) <= {
        "billing", "technical", "account", "shipping", "refund", "other",
    }  # fmt: skip
    assert "labels:" in result.stdout and "left out: 20 pairs" in result.stdout


def test_export_blanks_pii_by_default_and_the_split_is_stable(recorded: Recorded, tmp_path: Path) -> None:
    plain = export(recorded, tmp_path / "plain", "--task", "extract", "--no-redact")
    assert plain.exit_code == 0, plain.output
    raw = (tmp_path / "plain" / "train.jsonl").read_text() + (
        tmp_path / "plain" / "validation.jsonl"
    ).read_text()
    assert EMAIL.search(raw), "the extract items carry e-mail addresses"
    first = export(recorded, tmp_path / "a", "--task", "extract")
    again = export(recorded, tmp_path / "b", "--task", "extract")
    assert first.exit_code == again.exit_code == 0
    text = (tmp_path / "a" / "train.jsonl").read_text() + (tmp_path / "a" / "validation.jsonl").read_text()
    assert not EMAIL.search(text) and "[EMAIL]" in text
    assert "PII redaction on:" in first.stdout
    for name in ("train.jsonl", "validation.jsonl"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def test_trl_format_has_string_content_and_messages_only(recorded: Recorded, tmp_path: Path) -> None:
    result = export(recorded, tmp_path, "--task", "extract", "--format", "trl")
    assert result.exit_code == 0, result.output
    for record in lines(tmp_path / "train.jsonl"):
        assert set(record) == {"messages"}
        assert all(isinstance(m["content"], str) for m in record["messages"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "translate"], "unknown task 'translate': the store has classify, extract"),
        (["--task", "classify", "--since", "2999-01-01"], "no pairs recorded for task 'classify' since"),
        (["--task", "classify", "--model", "gpt-4o"], "no pairs recorded for task 'classify' for model"),
    ],
)
def test_bad_selection_is_one_line_and_exit_2(
    recorded: Recorded, tmp_path: Path, args: list[str], message: str
) -> None:
    result = export(recorded, tmp_path, *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_store_without_incumbent_answers_is_exit_2(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.write_pairs([pair(None, ok("billing"), task="classify") for _ in range(3)])
    result = CliRunner().invoke(
        cli, ["export", "--store", f"sqlite:///{store.path}", "--task", "classify", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no incumbent answer to train on for task 'classify' (3 no incumbent answer" in result.stderr
    assert not (tmp_path / "train.jsonl").exists()


def test_tool_calls_and_tools_keep_openai_shape_and_trl_gets_argument_objects() -> None:
    tools = [{"type": "function", "function": {"name": "refund", "parameters": {"type": "object"}}}]
    call = tool_call("refund", {"order_id": "ORD-1"})
    recorded_pair = pair(
        ok(None, tool_calls=[call]),
        None,
        req=request("refund ORD-1", tools=tools, parallel_tool_calls=False),
        task="tools",
    )
    example = example_of(recorded_pair, classify=False)
    assert not isinstance(example, str)
    assert fine_tune_errors(example.record) == []
    assert example.record["tools"] == tools and example.record["parallel_tool_calls"] is False
    trl = as_trl(example.record)
    assert trl["messages"][-1]["tool_calls"][0]["function"]["arguments"] == {"order_id": "ORD-1"}
    assert trl["messages"][-1]["content"] == "" and trl["tools"] == tools


def test_developer_becomes_system_and_truncated_answers_are_left_out() -> None:
    developer = request("hi")
    developer["messages"].insert(0, {"role": "developer", "content": "be brief"})
    example = example_of(pair(ok("hello"), None, req=developer), classify=False)
    assert not isinstance(example, str) and example.record["messages"][0]["role"] == "system"
    cut = ok("hel")
    assert cut.body is not None
    cut.body["choices"][0]["finish_reason"] = "length"
    assert "cut at max_tokens" in str(example_of(pair(cut, None), classify=False))
