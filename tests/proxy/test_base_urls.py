"""Base URLs are accepted as SDKs and .env files write them (with ``/v1``) or without, for both sides, from the
YAML file, the environment and flags; a really bad one is one line; a proxy with no model mapped says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.config import load_config
from migrate_cli.main import cli
from migrate_cli.status import format_status

VARIANTS = [
    ("https://api.openai.com/v1", "https://api.openai.com"),
    ("https://api.openai.com/v1/", "https://api.openai.com"),
    ("https://api.openai.com", "https://api.openai.com"),
    ("http://127.0.0.1:30000/v1", "http://127.0.0.1:30000"),
    ("https://gateway.example/openai/v1", "https://gateway.example/openai"),
]


@pytest.mark.parametrize(("given", "expected"), VARIANTS)
@pytest.mark.parametrize("side", ["incumbent", "candidate"])
@pytest.mark.parametrize("source", ["yaml", "env", "flag"])
def test_base_url_with_or_without_v1(
    tmp_path: Path, source: str, side: str, given: str, expected: str
) -> None:
    path = tmp_path / "alveare.yaml"
    path.write_text(f"{side}: {{url: '{given}'}}\n" if source == "yaml" else "")
    environ = {f"ALVEARE_{side.upper()}_URL": given} if source == "env" else {}
    overrides = {f"{side}.url": given} if source == "flag" else {}
    config = load_config(path, overrides, environ)
    assert getattr(config, side).url == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/v1",
        "https:///v1",
        "ftp://api.openai.com/v1",
        "api.openai.com/v1",
        "http://h/v1?x=1",
    ],
)
def test_a_bad_base_url_is_one_line(tmp_path: Path, url: str) -> None:
    path = tmp_path / "alveare.yaml"
    path.write_text("")
    result = CliRunner().invoke(cli, ["proxy", "--config", str(path), "--candidate-url", url])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and "candidate.url" in lines[0] and "e.g. https://" in lines[0]


@pytest.mark.parametrize("percent", [0, 100])
def test_the_proxy_serves_with_v1_base_urls(proxy_factory: Any, sim_process: Any, percent: int) -> None:
    incumbent, candidate = sim_process("openai") + "/v1", sim_process("sglang") + "/v1/"
    proxy = proxy_factory(incumbent, candidate, percent=percent)
    answer = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Classify: I was charged twice"}]
    )
    assert answer.parse().choices[0].message.content
    assert answer.headers["x-alveare-upstream"] == ("candidate" if percent else "incumbent")
    models = proxy.client().models.list()  # pass-through traffic takes the base URL too
    assert any(m.id == "gpt-4o-mini" for m in models)


def test_no_model_mapped_is_said_at_start_and_in_status(
    proxy_factory: Any, sim_process: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), models={}, specialists={})
    assert any("no model is mapped" in r.getMessage() for r in caplog.records)
    status = proxy.server.runtime.status()
    assert status["models_mapped"] == 0
    report = {"percent": 0, "history": [], "proxies": {"p": status}, "pairs": _no_pairs()}
    assert "NO MODEL MAPPED" in format_status(report)
    mapped = proxy_factory(sim_process("openai"), sim_process("sglang")).server.runtime.status()
    assert mapped["models_mapped"] == 6  # three client models and three specialist names
    assert "NO MODEL MAPPED" not in format_status({**report, "proxies": {"p": mapped}})


def _no_pairs() -> dict[str, Any]:
    return {"total": 0, "served": {"incumbent": 0, "candidate": 0}, "both_answers": 0, "last_ts": None}
