"""The proxy against bytes SGLang 0.5.23 itself writes: ``sim --flavor sglang-real`` runs SGLang's OpenAIServingChat
over a scripted engine (backend/sim/sglang_real.py) in its own process; the OpenAI SDK talks to the proxy in front."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ROOT, sim_command, wait_listening
from tests.proxy.conftest import RunningProxy, make_config, start_proxy
from tests.proxy.test_engine_wire import MESSAGES, WEATHER_TOOL, shape

START_TIMEOUT_S = 240.0  # importing SGLang's serving layer takes ~15 s alone on a quiet machine


@pytest.fixture(scope="module")
def sglang_real() -> Iterator[str]:
    """The URL of one sglang-real sim, started through the CLI, for the whole module."""
    with tempfile.TemporaryDirectory(prefix="sglang-real-") as folder:
        log = Path(folder) / "sim.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                sim_command("sglang-real", {}), cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        try:
            yield wait_listening(process, log, START_TIMEOUT_S)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            assert process.stdout is not None
            process.stdout.close()


def _events(response: httpx.Response) -> list[Any]:
    datas = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    return [json.loads(d) for d in datas[:-1]]


def _post(url: str, **body: Any) -> httpx.Response:
    response = httpx.post(
        url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES, **body}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def test_direct_wire_has_sglang_quirks(sglang_real: str) -> None:
    """What the proxy has to normalize, as SGLang writes it (the reason this stand-in exists)."""
    body = _post(sglang_real).json()
    assert body["choices"][0]["matched_stop"] is not None
    assert "reasoning_content" in body["choices"][0]["message"]
    assert "metadata" in body
    plain = _events(_post(sglang_real, stream=True))
    assert all("usage" not in e or e["usage"] is None for e in plain)  # usage only with stream_options
    assert plain[0]["choices"][0]["delta"]["content"] == ""  # "" where OpenAI sends null
    tool = _events(_post(sglang_real, stream=True, tools=[WEATHER_TOOL]))
    calls = [tc for e in tool for tc in e["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["function"]["name"] == "get_current_weather"
    assert calls[1]["id"] is None and calls[1]["function"]["name"] is None
    assert tool[-1]["choices"][0]["finish_reason"] == "tool_calls"
    # 0.5.23 sends the finish reason once, after the parser flushed (older releases repeated it after tool calls).
    assert sum(1 for e in tool if e["choices"][0]["finish_reason"]) == 1
    answer = _post(sglang_real, tools=[WEATHER_TOOL]).json()["choices"][0]["message"]
    assert answer["content"] == "" and answer["tool_calls"]  # "" where OpenAI sends null


@pytest.fixture
def proxy(tmp_path: Path, sim_process: Any, sglang_real: str) -> Iterator[RunningProxy]:
    """A proxy sending every mapped request to the sglang-real sim (the OpenAI-flavor sim is the incumbent)."""
    config = make_config(tmp_path, sim_process("openai"), sglang_real)
    running = start_proxy(config, environ={"TEST_INCUMBENT_KEY": "sk-incumbent-secret"})
    running.set_percent(100)
    yield running
    running.stop()


def test_non_stream_through_proxy(proxy: Any, sim_process: Any) -> None:
    raw = proxy.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    through = raw.parse()
    with openai.OpenAI(base_url=sim_process("openai") + "/v1", api_key="k") as direct:
        expected = direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-alveare-upstream"] == "candidate"
    body = json.loads(raw.http_response.text)
    assert "matched_stop" not in json.dumps(body) and "metadata" not in body
    assert shape(through.model_dump()) == shape(expected.model_dump())
    assert through.model == "gpt-4o-mini"
    assert through.choices[0].message.content == "This is a test."
    assert through.choices[0].finish_reason == "stop"
    assert through.usage is not None and through.usage.total_tokens > 0


def test_stream_with_usage_through_proxy(proxy: Any) -> None:
    chunks = list(
        proxy.client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert [c.choices[0].finish_reason for c in chunks[:-1]].count("stop") == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "This is a test."
    pairs = proxy.pairs(expected=1)
    assert pairs[0].served is not None and pairs[0].served.content == text
    assert pairs[0].served.usage["total_tokens"] == chunks[-1].usage.total_tokens


def test_streamed_tool_call_through_proxy(proxy: Any) -> None:
    chunks = list(
        proxy.client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, tools=[WEATHER_TOOL]
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_current_weather"
    arguments = "".join((d.function.arguments or "") if d.function else "" for d in deltas)
    assert json.loads(arguments) == {"location": "Paris"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    recorded = proxy.pairs(expected=1)[0].served
    assert recorded is not None and recorded.tool_calls[0]["function"]["arguments"] == arguments
    assert len(recorded.tool_calls) == 1


def test_non_stream_tool_call_through_proxy(proxy: Any) -> None:
    """SGLang answers a tool call with ``"content": ""``; OpenAI (and so the SDK user) sees null."""
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL]
    )
    message = json.loads(raw.http_response.text)["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["function"]["name"] == "get_current_weather"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"location": "Paris"}
    assert raw.parse().choices[0].finish_reason == "tool_calls"
