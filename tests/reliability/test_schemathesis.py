"""OpenAI's own request schema thrown at the proxy with schemathesis: whatever a client sends to
``POST /v1/chat/completions`` (valid or not by the spec), the proxy answers, never with a 5xx of its own, and every
error is OpenAI-shaped JSON with no internal text. The generated cases are bounded (``MAX_EXAMPLES``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.proxy.conftest import RunningProxy

MAX_EXAMPLES = 40
REQUEST_SCHEMA = (
    Path(__file__).resolve().parents[2] / "proxy" / "data" / "create_chat_completion_request.json"
)
INTERNAL = ("Traceback", "Errno", "mitmproxy", "127.0.0.1", "Exception")


def _document() -> dict[str, Any]:
    """A one-operation OpenAPI document around the spec's CreateChatCompletionRequest (copied in proxy/data)."""
    request = json.loads(REQUEST_SCHEMA.read_text(encoding="utf-8"))
    return {
        "openapi": "3.1.0",
        "info": {"title": "chat completions", "version": "2.3.0"},
        "paths": {
            "/v1/chat/completions": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": request["$ref"]}}},
                    },
                    "responses": {"200": {"description": "a completion"}},
                }
            }
        },
        "components": request["components"],
    }


SCHEMA = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, sim_process: Callable[..., str]
) -> Iterator[RunningProxy]:
    from tests.proxy.conftest import make_config, start_proxy

    config = make_config(
        tmp_path_factory.mktemp("schemathesis"), sim_process("openai"), sim_process("sglang")
    )
    proxy = start_proxy(config, environ={"TEST_INCUMBENT_KEY": "sk-incumbent-secret"})
    proxy.set_percent(50)
    yield proxy
    proxy.stop()


@SCHEMA.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_generated_request_gets_an_openai_shaped_answer(case: Any, running: RunningProxy) -> None:
    response = case.call(base_url=running.url, headers={"authorization": "Bearer sk-client"}, timeout=30)
    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text[:500]
    assert response.status_code != 500, response.text[:500]  # 500 is what a hook error would answer
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
        assert not any(word in body["error"]["message"] for word in INTERNAL), body
