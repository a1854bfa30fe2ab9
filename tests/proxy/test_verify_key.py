"""Pass-through auth (no alv_live_ keys): a key the incumbent rejects never reaches the candidate.

The incumbent stand-in accepts only ``sk-good`` (``--require-key``); OpenAI's 401 for any other key is what the
app gets at every percent, and a good key is split from its first request on."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from proxy.keycheck import KeyVerdicts

MESSAGES = [{"role": "user", "content": "Classify: I was charged twice"}]


def _chat(url: str, key: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"authorization": f"Bearer {key}"},
        timeout=20,
    )


def test_a_key_the_incumbent_rejects_gets_its_401_not_the_candidate(
    proxy_factory: Any, sim_process: Any
) -> None:
    incumbent = sim_process("openai", require_key="sk-good")
    proxy = proxy_factory(incumbent, sim_process("sglang"), percent=100)
    direct = _chat(incumbent, "sk-wrong-key-123456")
    for _ in range(2):  # the second answer comes from the kept verdict
        with pytest.raises(openai.AuthenticationError) as caught:
            proxy.client(api_key="sk-wrong-key-123456").chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES
            )
        response = caught.value.response
        assert caught.value.code == "invalid_api_key"
        assert response.json() == direct.json()
        assert "x-alveare-upstream" not in response.headers, "not split: the incumbent answered"
    assert proxy.server.runtime.status()["unverified_keys"] == 2
    assert proxy.pairs() == []


def test_a_key_the_incumbent_accepts_is_split_from_the_first_request(
    proxy_factory: Any, sim_process: Any
) -> None:
    incumbent = sim_process("openai", require_key="sk-good")
    proxy = proxy_factory(incumbent, sim_process("sglang"), percent=100)
    client = proxy.client(api_key="sk-good")
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        assert raw.parse().choices[0].message.content
        assert raw.headers["x-alveare-upstream"] == "candidate"
    assert proxy.server.runtime.counts["unverified_keys"] == 0


def test_verdicts_expire_are_bounded_and_keep_only_answers_about_the_key() -> None:
    now = [0.0]
    verdicts = KeyVerdicts(ttl_s=60, limit=2, clock=lambda: now[0])
    assert verdicts.put("a", 200) is True and verdicts.put("b", 401) is False
    assert verdicts.get("a") is True and verdicts.get("b") is False
    for status in (None, 429, 500, 503):
        assert verdicts.put("c", status) is None and verdicts.get("c") is None
    verdicts.put("d", 200)  # a third key: the oldest goes
    assert verdicts.get("a") is None and verdicts.get("d") is True
    now[0] = 61
    assert verdicts.get("b") is None and verdicts.get("d") is None
