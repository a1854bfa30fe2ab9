"""Each addon driven on its own with mitmproxy's test helpers (taddons, tflow): no proxy, no network."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.proxy.layers.http import HttpRequestHook as RequestHook
from mitmproxy.test import taddons, tflow, tutils

from core.config import parse_config
from core.store import Store
from proxy.addons.auth import Auth
from proxy.addons.chain import Chain
from proxy.addons.normalize import CandidateStream, Normalize
from proxy.addons.record import Record, Tap
from proxy.addons.route import Route
from proxy.addons.upstream import Upstream
from proxy.engine import InFlight
from proxy.keys import KeyStore
from proxy.recorder import Recorder, leg_answer
from proxy.runtime import METADATA_KEY, FlowInfo, Leg, Runtime

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "user": "u1"}


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    config = parse_config(
        {
            "store": f"sqlite:///{tmp_path / 's.sqlite'}",
            "incumbent": {"url": "https://api.openai.com", "key_env": "OPENAI_API_KEY"},
            "candidate": {"url": "http://10.0.0.5:30000/root", "key_env": "SGLANG_KEY"},
            "models": {"gpt-4o-mini": "classify"},
            "specialists": {"classify": "qwen:classify"},
        },
        source="test",
    )
    return Runtime(config, {"OPENAI_API_KEY": "sk-real", "SGLANG_KEY": "sg-key"})


def chat_flow(body: bytes | None = None, *, path: str = "/v1/chat/completions", method: str = "POST") -> Any:
    content = json.dumps(CHAT).encode() if body is None else body
    request = tutils.treq(
        method=method.encode(),
        path=path.encode(),
        content=content,
        headers=http.Headers(content_type="application/json", authorization="Bearer sk-client"),
    )
    return tflow.tflow(req=request)


def drive(addon: object, *steps: Callable[[], object]) -> None:
    """Run ``steps`` with ``addon`` loaded in mitmproxy's test context, inside an event loop as in a real proxy."""

    async def run() -> None:
        with taddons.context(addon):
            for step in steps:
                step()

    asyncio.run(run())


def routed(runtime: Runtime, flow: Any) -> FlowInfo:
    route = Route(runtime)
    drive(route, lambda: route.requestheaders(flow), lambda: route.request(flow))
    info: FlowInfo = flow.metadata[METADATA_KEY]
    return info


@pytest.mark.parametrize(("percent", "side"), [(0, "incumbent"), (100, "candidate")])
def test_route_assigns_mapped_chat_requests(runtime: Runtime, percent: float, side: str) -> None:
    runtime.percent = percent
    info = routed(runtime, flow := chat_flow())
    assert info.split and info.side == side and info.target is not None
    assert info.target.task == "classify" and info.requested_model == "gpt-4o-mini"
    assert flow.response is None


@pytest.mark.parametrize(
    ("body", "path", "method", "status"),
    [
        (b"{oops", "/v1/chat/completions", "POST", 400),
        (b'{"model": "gpt-4o-mini"}', "/v1/chat/completions", "POST", 400),
        (b"", "/v1/chat/completions", "GET", 405),
    ],
)
def test_route_rejects_bad_requests_itself(
    runtime: Runtime, body: bytes, path: str, method: str, status: int
) -> None:
    flow = chat_flow(body, path=path, method=method)
    routed(runtime, flow)
    assert flow.response is not None and flow.response.status_code == status
    assert json.loads(flow.response.content)["error"]["type"] == "invalid_request_error"
    assert flow.response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/models", "/v1/files/abc"])
def test_route_leaves_other_paths_unsplit(runtime: Runtime, path: str) -> None:
    runtime.percent = 100
    info = routed(runtime, flow := chat_flow(path=path))
    assert not info.split and flow.response is None


def test_upstream_points_the_candidate_flow_at_the_candidate(runtime: Runtime) -> None:
    runtime.percent = 100
    flow = chat_flow()
    routed(runtime, flow)
    upstream = Upstream(runtime)
    drive(upstream, lambda: upstream.request(flow))
    assert (flow.request.scheme, flow.request.host, flow.request.port) == ("http", "10.0.0.5", 30000)
    assert flow.request.path == "/root/v1/chat/completions"
    assert flow.request.headers["authorization"] == "Bearer sg-key"
    assert json.loads(flow.request.content)["model"] == "qwen:classify"


def test_upstream_keeps_the_incumbent_request_byte_for_byte(runtime: Runtime) -> None:
    flow = chat_flow(raw := b'{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"hi"}]}')
    routed(runtime, flow)
    upstream = Upstream(runtime)
    drive(upstream, lambda: upstream.request(flow))
    assert (flow.request.scheme, flow.request.host, flow.request.port) == ("https", "api.openai.com", 443)
    assert flow.request.raw_content == raw
    assert flow.request.headers["authorization"] == "Bearer sk-client"  # pass-through mode


def test_auth_with_keys_rejects_unknown_and_swaps_the_key(runtime: Runtime) -> None:
    keys = KeyStore(Store.open(runtime.config.store))
    _, plaintext = keys.create("app", rpm=10, tpm=10_000)
    auth = Auth(runtime, keys)
    bad, good = chat_flow(), chat_flow()
    good.request.headers["authorization"] = f"Bearer {plaintext}"
    drive(auth, lambda: auth.request(bad), lambda: auth.request(good))
    assert bad.response is not None and bad.response.status_code == 401
    assert good.response is None
    info: FlowInfo = good.metadata[METADATA_KEY]
    assert info.key is not None and info.ratelimit_headers["x-ratelimit-remaining-requests"] == "9"
    routed(runtime, good)
    upstream = Upstream(runtime)
    drive(upstream, lambda: upstream.request(good))
    assert good.request.headers["authorization"] == "Bearer sk-real"


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


def test_tap_keeps_what_the_client_received_and_the_recorder_reassembles_it(tmp_path: Path) -> None:
    leg = Leg(side="incumbent", status=200, stream=True, started=0.0)
    tap = Tap(leg, None)
    payload = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    assert tap(payload) == payload
    answer = leg_answer(leg)
    assert answer.ok and answer.content == "Hello" and answer.error is None


def test_record_queues_a_finished_pair(runtime: Runtime) -> None:
    runtime.percent = 100
    flow = chat_flow()
    routed(runtime, flow)
    store = Store.open(runtime.config.store)
    recorder = Recorder(store, runtime.config.record, runtime.counts)
    record = Record(runtime, recorder)
    flow.response = tutils.tresp(
        content=b'{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}'
    )
    drive(record, lambda: record.responseheaders(flow), lambda: record.response(flow))
    recorder.close()
    (pair,) = list(store.iter_pairs())
    assert pair.served_side == "candidate" and pair.candidate is not None and pair.candidate.content == "ok"
    assert pair.incumbent is None and pair.percent == 100


def test_recorder_decodes_compressed_answers() -> None:
    body = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"zipped"}}]}'
    leg = Leg(side="incumbent", status=200, chunks=[gzip.compress(body)], encoding="gzip", started=0.0)
    assert leg_answer(leg).content == "zipped"
    broken = Leg(side="incumbent", status=200, chunks=[b"not gzip"], encoding="gzip", started=0.0)
    assert leg_answer(broken).error == "cannot decode a gzip body"


def test_chain_calls_each_hook_once_in_order_under_a_real_master() -> None:
    calls: list[str] = []

    class First:
        def request(self, flow: Any) -> None:
            calls.append("first")

    class Second:
        def request(self, flow: Any) -> None:
            calls.append("second")

    chain = Chain([First(), Second()])
    flow = chat_flow()

    async def run() -> None:
        with taddons.context(chain) as tctx:
            await tctx.master.addons.handle_lifecycle(RequestHook(flow))

    asyncio.run(run())
    assert calls == ["first", "second"]


def test_chain_refuses_async_data_path_hooks() -> None:
    class Slow:
        async def request(self, flow: Any) -> None:
            pass

    with pytest.raises(TypeError, match="must not be async"):
        Chain([Slow()])


def test_inflight_ends_a_flow_once_whichever_hook_comes() -> None:
    inflight = InFlight()
    streamed, plain = tflow.tflow(resp=True), tflow.tflow()
    for flow in (streamed, plain):
        inflight.requestheaders(flow)
    assert inflight.live == 2
    inflight.error(streamed)  # the client hung up mid-stream: headers were sent, no response hook
    inflight.response(plain)
    inflight.error(plain)
    assert inflight.live == 0


def test_auth_settles_the_tokens_an_answer_really_used(runtime: Runtime) -> None:
    keys = KeyStore(Store.open(runtime.config.store))
    _, plaintext = keys.create("app", rpm=100, tpm=10_000)
    auth = Auth(
        runtime, keys, clock=lambda: 1000.0
    )  # a still clock: nothing refills between the two requests
    first, second = chat_flow(), chat_flow()
    for flow in (first, second):
        flow.request.headers["authorization"] = f"Bearer {plaintext}"
    estimate = len(first.request.raw_content) // 4 + 16
    answer = tutils.tresp(content=json.dumps({"usage": {"total_tokens": 500}}).encode())

    async def run() -> None:
        with taddons.context(auth):
            auth.request(first)
            first.response = answer
            auth.response(first)
            await asyncio.sleep(0)  # the settlement runs after the answer has gone out
            auth.request(second)

    asyncio.run(run())
    remaining = [
        int(f.metadata[METADATA_KEY].ratelimit_headers["x-ratelimit-remaining-tokens"])
        for f in (first, second)
    ]
    assert remaining == [10_000 - estimate, 10_000 - 500 - estimate]
