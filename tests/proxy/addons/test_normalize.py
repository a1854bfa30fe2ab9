"""Normalize: the candidate's answers made OpenAI's, streamed or whole. Driven with mitmproxy's taddons/tflow."""

from __future__ import annotations

import json

from mitmproxy.test import tutils

from proxy.addons.normalize import CandidateStream, Normalize
from proxy.runtime import Runtime
from tests.proxy.addons.flows import chat_flow, drive, routed


def test_normalize_turns_an_sglang_error_into_openais(runtime: Runtime) -> None:
    runtime.percent = 100
    flow = chat_flow()
    info = routed(runtime, flow)
    flow.response = tutils.tresp(
        status_code=400,
        content=b'{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}',
    )
    normalize = Normalize(runtime)
    drive(normalize, lambda: normalize.responseheaders(flow), lambda: normalize.response(flow))
    body = json.loads(flow.response.content)
    assert body == {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}
    assert flow.response.headers["x-request-id"].startswith("req_") and info.side == "candidate"


def test_candidate_stream_rewrites_events_split_anywhere() -> None:
    event = (
        b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"qwen:classify",'
        b'"choices":[{"index":0,"delta":{"content":"hi","reasoning_content":null},"matched_stop":null,'
        b'"finish_reason":null}]}\n\ndata: [DONE]\n\n'
    )
    stream = CandidateStream("gpt-4o-mini", include_usage=False)
    out = b"".join(stream(event[i : i + 7]) for i in range(0, len(event), 7)) + stream(b"")
    first, done = out.split(b"\n\n")[:2]
    chunk = json.loads(first.removeprefix(b"data: "))
    assert chunk["model"] == "gpt-4o-mini" and "matched_stop" not in first.decode()
    assert done == b"data: [DONE]"


def test_a_whole_candidate_answer_is_rewritten_once_with_its_body(runtime: Runtime) -> None:
    """OpenAI's headers and the normalized body land together in the response hook (one rewrite of the fields,
    the candidate's ``server`` gone, the length the new body's); the headers hook leaves a whole answer be."""
    runtime.percent = 100
    flow = chat_flow()
    routed(runtime, flow)
    body = (
        b'{"id":"5e4e","object":"chat.completion","created":1,"model":"qwen:classify","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"ok","reasoning_content":null,"tool_calls":null},'
        b'"logprobs":null,"finish_reason":"stop","matched_stop":2}],"usage":{"prompt_tokens":1,'
        b'"total_tokens":2,"completion_tokens":1,"prompt_tokens_details":null,"reasoning_tokens":0}}'
    )
    flow.response = tutils.tresp(
        content=body,
        headers=((b"content-type", b"application/json"), (b"server", b"uvicorn"), (b"content-length", b"9")),
    )
    untouched = flow.response.headers.fields
    normalize = Normalize(runtime)
    seen: list[object] = []
    drive(
        normalize,
        lambda: normalize.responseheaders(flow),
        lambda: seen.append(flow.response.headers.fields),
        lambda: normalize.response(flow),
    )
    assert seen == [untouched]
    response = flow.response
    names = [name.lower() for name, _ in response.headers.fields]
    assert b"server" not in names and names.count(b"content-length") == 1
    assert int(response.headers["content-length"]) == len(response.raw_content)
    assert response.headers["x-request-id"].startswith("req_") and response.headers["openai-version"]
    answer = json.loads(response.raw_content)
    assert answer["model"] == "gpt-4o-mini" and answer["id"].startswith("chatcmpl-")
    assert "matched_stop" not in response.raw_content.decode()
