"""Nothing an app sees tells it the candidate served: no candidate model name in any text, OpenAI's ids, the
incumbent's dated snapshot and a fingerprint, no ``server: uvicorn``, error content type with its charset."""

from __future__ import annotations

import json
import re
from typing import Any

import openai
import pytest

from proxy.normalize import normalize_error

MESSAGES = [{"role": "user", "content": "Classify: I was charged twice"}]
ERRORS = [(400, openai.BadRequestError), (404, openai.NotFoundError), (429, openai.RateLimitError)]


@pytest.mark.parametrize(("status", "exception"), ERRORS)
def test_no_error_text_names_the_candidates_model(
    proxy_factory: Any, sim_process: Any, status: int, exception: type[openai.APIStatusError]
) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    with pytest.raises(exception) as caught:
        proxy.client().chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-sim-fail": str(status)}
        )
    response = caught.value.response
    assert response.headers["x-alveare-upstream"] == "candidate"
    assert "qwen" not in response.text and "classify" not in response.text, response.text
    if status in (404, 429):
        assert "gpt-4o-mini" in caught.value.message
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "server" not in response.headers


@pytest.mark.parametrize("stream", [False, True])
def test_candidate_answers_carry_openais_metadata(proxy_factory: Any, sim_process: Any, stream: bool) -> None:
    incumbent = sim_process("openai")
    proxy = proxy_factory(incumbent, sim_process("sglang"), percent=100)
    before = _ask(proxy, stream)
    assert before["upstream"] == "candidate" and "server" not in before["headers"]
    assert before["models"] == {"gpt-4o-mini"}, "the alias, until the incumbent has named its snapshot"
    assert all(re.fullmatch(r"fp_[0-9a-f]{10}", fp or "") for fp in before["fingerprints"])
    assert len(before["ids"]) == 1 and re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", before["ids"].pop())
    proxy.set_percent(0)
    seen = _ask(proxy, stream)
    assert seen["upstream"] == "incumbent" and seen["models"] == {"gpt-4o-mini-2024-07-18"}
    proxy.set_percent(100)
    after = _ask(proxy, stream)
    assert after["upstream"] == "candidate"
    assert after["models"] == seen["models"] and after["fingerprints"] == seen["fingerprints"]
    assert "qwen" not in json.dumps(after["bodies"])


def _ask(proxy: Any, stream: bool) -> dict[str, Any]:
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=stream, user="identity-user"
    )
    parsed = raw.parse()
    bodies = [c.model_dump() for c in parsed] if stream else [parsed.model_dump()]
    return {
        "upstream": raw.headers["x-alveare-upstream"],
        "headers": {k.lower() for k in raw.headers},
        "bodies": bodies,
        "models": {b["model"] for b in bodies},
        "ids": {b["id"] for b in bodies},
        "fingerprints": {b["system_fingerprint"] for b in bodies},
    }


@pytest.mark.parametrize(
    ("sglang_message", "openai_message"),
    [
        (
            "The input (40017 tokens) is longer than the model's context length (32768 tokens).",
            "This model's maximum context length is 32768 tokens. However, your messages resulted in 40017 "
            "tokens. Please reduce the length of the messages.",
        ),
        (
            "Requested token count exceeds the model's maximum context length of 32768 tokens. You requested a "
            "total of 33000 tokens: 32000 tokens from the input messages and 1000 tokens for the completion. "
            "Please reduce the number of tokens in the input messages or the completion to fit within the limit.",
            "This model's maximum context length is 32768 tokens. However, you requested 33000 tokens (32000 in "
            "the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
        ),
    ],
)
def test_sglang_context_length_errors_become_openais(sglang_message: str, openai_message: str) -> None:
    body = {
        "object": "error",
        "message": sglang_message,
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    status, got = normalize_error(400, json.dumps(body).encode(), requested_model="gpt-4o-mini")
    assert status == 400
    assert json.loads(got)["error"] == {
        "message": openai_message,
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
