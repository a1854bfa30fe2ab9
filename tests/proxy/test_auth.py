"""App keys and per-key limits through the real proxy, with the official SDK as the client."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.openapi_schema import validator

MESSAGES = [{"role": "user", "content": "Classify: where is my parcel?"}]
DEAD = "http://127.0.0.1:9"  # nothing listens: any upstream call would surface as a failure


def test_unknown_and_revoked_keys_get_openai_401_without_upstream_call(proxy_factory: Any) -> None:
    proxy = proxy_factory(DEAD, DEAD, percent=50)
    keys = proxy.server.keys
    record, plaintext = keys.create("billing", rpm=100, tpm=100_000)
    keys.revoke(record.key_id)
    keys.create("other", rpm=100, tpm=100_000)
    for key in ("sk-not-ours", plaintext, "alv_live_made-up"):
        with pytest.raises(openai.AuthenticationError) as caught:
            proxy.client(api_key=key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        body = caught.value.response.json()
        validator("ErrorResponse").validate(body)
        assert body["error"]["code"] == "invalid_api_key"
        assert caught.value.response.headers["x-request-id"].startswith("req_")
    embeddings = httpx.post(proxy.url + "/v1/embeddings", headers={"authorization": "Bearer sk-x"}, json={})
    assert embeddings.status_code == 401  # every path is guarded once keys exist
    assert proxy.server.runtime.counts["rejected"] == 4


def test_app_key_is_swapped_for_the_incumbent_key(proxy_factory: Any, sim_process: Any) -> None:
    incumbent = sim_process("openai", require_key="sk-incumbent-secret")
    proxy = proxy_factory(incumbent, sim_process("sglang"), percent=0)
    _, plaintext = proxy.server.keys.create("app", rpm=100, tpm=100_000)
    raw = proxy.client(api_key=plaintext).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert raw.parse().choices[0].message.content
    passthrough = httpx.get(proxy.url + "/v1/models", headers={"authorization": f"Bearer {plaintext}"})
    assert passthrough.status_code == 200  # the OpenAI key went upstream, not the app's


@pytest.mark.parametrize("percent", [0, 100])
def test_ratelimit_headers_decrease_per_key(proxy_factory: Any, sim_process: Any, percent: int) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=percent)
    _, plaintext = proxy.server.keys.create("app", rpm=50, tpm=1_000_000)
    client = proxy.client(api_key=plaintext)
    seen = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        seen.append(int(raw.headers["x-ratelimit-remaining-requests"]))
        assert raw.headers["x-ratelimit-limit-requests"] == "50"
        assert raw.headers["x-ratelimit-reset-requests"].endswith(("ms", "s"))
    assert seen == [49, 48, 47]
    stream = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    assert stream.headers["x-ratelimit-remaining-requests"] == "46"  # streams carry them too
    list(stream.parse())


def test_sdk_retries_a_429_and_then_succeeds(proxy_factory: Any, sim_process: Any) -> None:
    proxy = proxy_factory(sim_process("openai"), sim_process("sglang"), percent=100)
    _, plaintext = proxy.server.keys.create("app", rpm=60, tpm=1_000_000)  # refills one request a second
    strict = proxy.client(api_key=plaintext)
    for _ in range(60):
        strict.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as caught:
        strict.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    response = caught.value.response
    validator("ErrorResponse").validate(response.json())
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(response.headers["retry-after"]) <= 2
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    patient = proxy.client(api_key=plaintext, max_retries=3)
    assert patient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content
