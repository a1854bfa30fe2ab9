"""The openai-flavor sim over real HTTP on 127.0.0.1: headers, errors, faults, timing, keep-alive, determinism."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from tests.backend.sim.test_fixture_replay import sse_events
from tests.conftest import ROOT, sim_command, wait_listening
from tests.openapi_schema import errors as schema_errors

SimFactory = Callable[..., str]
HELLO: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say this is a test"}],
}
RESET = re.compile(r"^(\d+ms|\d+(\.\d{1,2})?s|\d+m\d+s|\d+h\d+m\d+s)$")
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["location", "unit", "days"],
            "additionalProperties": False,
        },
    },
}


def post(url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 10) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers or {}, timeout=timeout)


@pytest.fixture
def sim(sim_server: SimFactory) -> str:
    return sim_server("openai")


def client(url: str, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=url + "/v1", api_key=kwargs.pop("api_key", "sk-test"), max_retries=0, **kwargs
    )


# --- endpoints and headers -----------------------------------------------------------------------------------


def test_health_models_and_unknown_routes(sim: str) -> None:
    health = httpx.get(sim + "/health")
    assert (health.status_code, health.content) == (200, b"")
    models = httpx.get(sim + "/v1/models").json()
    assert schema_errors("ListModelsResponse", models) == []
    assert {m["id"] for m in models["data"]} >= {"gpt-4o-mini", "gpt-4", "classify", "qwen:classify"}
    assert schema_errors("Model", httpx.get(sim + "/v1/models/gpt-4o").json()) == []
    assert httpx.get(sim + "/v1/models/nope").json()["error"]["code"] == "model_not_found"
    missing = httpx.post(sim + "/v1/embeddingz", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/embeddingz)"


def test_success_headers_have_openais_formats(sim: str) -> None:
    response = post(sim, HELLO)
    headers = response.headers
    assert response.status_code == 200
    assert re.fullmatch(r"req_[0-9a-f]{32}", headers["x-request-id"])
    assert headers["openai-version"] == "2020-10-01"
    assert int(headers["openai-processing-ms"]) >= 0
    for kind in ("requests", "tokens"):
        assert int(headers[f"x-ratelimit-limit-{kind}"]) > int(headers[f"x-ratelimit-remaining-{kind}"]) >= 0
        assert RESET.match(headers[f"x-ratelimit-reset-{kind}"]), headers[f"x-ratelimit-reset-{kind}"]
    body = response.json()
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", body["id"])
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert re.fullmatch(r"fp_[0-9a-f]{10}", body["system_fingerprint"])
    assert response.text.startswith('{\n  "id": ')  # pretty-printed, as OpenAI sends it


def test_keep_alive_and_pipelining_on_one_socket(sim: str) -> None:
    port = int(sim.rsplit(":", 1)[1])
    data = json.dumps(HELLO).encode()
    request = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%b" % (
        len(data),
        data,
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        buffer = bytearray()
        sock.sendall(request)
        first = _read_response(sock, buffer)
        sock.sendall(request + request)  # pipelined: two requests in one write
        second, third = _read_response(sock, buffer), _read_response(sock, buffer)
    assert [json.loads(r)["object"] for r in (first, second, third)] == ["chat.completion"] * 3
    assert json.loads(first)["choices"] == json.loads(third)["choices"]


def _read_response(sock: socket.socket, buffer: bytearray) -> bytes:
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        rest += sock.recv(65536)
    buffer[:] = rest[length:]
    assert b"connection: keep-alive" in head
    return rest[:length]


# --- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "param", "code", "message"),
    [
        ("{not json", 400, None, None, "We could not parse the JSON body of your request."),
        (
            {"model": "gpt-4o-mini"},
            400,
            "messages",
            "missing_required_parameter",
            "Missing required parameter: 'messages'.",
        ),
        (
            {"model": "gpt-4o-mini", "messages": []},
            400,
            "messages",
            "empty_array",
            "Invalid 'messages': empty array.",
        ),
        (
            {"model": "gpt-4o-mini", "messages": [{"role": "bot", "content": "x"}]},
            400,
            "messages[0].role",
            "invalid_value",
            "Invalid value: 'bot'.",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}]},
            400,
            None,
            None,
            "you must provide a model parameter",
        ),
        ({**HELLO, "n": 0}, 400, "n", "integer_below_min_value", "Invalid 'n': integer below minimum value."),
        (
            {**HELLO, "stream_options": {"include_usage": True}},
            400,
            "stream_options",
            None,
            "The 'stream_options'",
        ),
        ({**HELLO, "tool_choice": "auto"}, 400, "tool_choice", None, "Invalid value for 'tool_choice'"),
        (
            {**HELLO, "response_format": {"type": "xml"}},
            400,
            "response_format.type",
            "invalid_value",
            "Invalid value: 'xml'.",
        ),
        (
            {**HELLO, "model": "gpt-9"},
            404,
            None,
            "model_not_found",
            "The model `gpt-9` does not exist or you do not have access to it.",
        ),
    ],
)
def test_bad_input_gets_openais_errors(
    sim: str, body: Any, status: int, param: str | None, code: str | None, message: str
) -> None:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = httpx.post(sim + "/v1/chat/completions", content=content, timeout=10)
    error = response.json()["error"]
    assert response.status_code == status
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"].startswith(message)
    assert schema_errors("ErrorResponse", response.json()) == []
    assert response.text.endswith("}\n")


def test_require_key(sim_server: SimFactory) -> None:
    url = sim_server("openai", require_key="sk-the-right-one")
    missing = post(url, HELLO).json()["error"]
    assert missing["message"].startswith("You didn't provide an API key.") and missing["code"] is None
    assert (
        post(url, HELLO, {"authorization": "Bearer sk-nope-nope-nope"}).json()["error"]["code"]
        == "invalid_api_key"
    )
    assert post(url, HELLO, {"authorization": "Bearer sk-the-right-one"}).status_code == 200
    assert httpx.get(url + "/health").status_code == 200
    assert httpx.get(url + "/v1/models").status_code == 401


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503, 504])
def test_forced_status_by_header_and_by_model(sim: str, status: int) -> None:
    by_header = post(sim, HELLO, {"x-sim-fail": str(status)})
    by_model = post(sim, {**HELLO, "model": f"sim-error-{status}"})
    for response in (by_header, by_model):
        assert response.status_code == status
        assert schema_errors("ErrorResponse", response.json()) == []
        assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
        assert ("retry-after" in response.headers) == (status in (429, 503))
    error = by_header.json()["error"]
    expected_type = {
        429: "requests",
        500: "server_error",
        502: "server_error",
        503: "server_error",
        504: "server_error",
    }
    assert error["type"] == expected_type.get(status, "invalid_request_error")
    if status == 429:
        assert error["code"] == "rate_limit_exceeded"


def test_sdk_raises_the_matching_errors(sim: str) -> None:
    expected = {400: openai.BadRequestError, 401: openai.AuthenticationError, 404: openai.NotFoundError}
    expected |= {429: openai.RateLimitError, 500: openai.InternalServerError, 503: openai.InternalServerError}
    with client(sim) as sdk:
        for status, error in expected.items():
            with pytest.raises(error):
                sdk.chat.completions.create(**HELLO, extra_headers={"x-sim-fail": str(status)})


def test_rate_limit_per_key(sim_server: SimFactory) -> None:
    url = sim_server("openai", rpm=2)
    key_a, key_b = {"authorization": "Bearer sk-a"}, {"authorization": "Bearer sk-b"}
    first, second, third = (post(url, HELLO, key_a) for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
    assert int(first.headers["x-ratelimit-remaining-requests"]) == 1
    assert int(second.headers["x-ratelimit-remaining-requests"]) == 0
    error = third.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert int(third.headers["retry-after"]) >= 1 and "x-ratelimit-reset-requests" in third.headers
    assert post(url, HELLO, key_b).status_code == 200


# --- faults --------------------------------------------------------------------------------------------------


def test_hang_never_answers(sim: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        post(sim, HELLO, {"x-sim-fault": "hang"}, timeout=0.3)
    with pytest.raises(httpx.ReadTimeout):
        post(sim, {**HELLO, "model": "sim-fault-hang"}, timeout=0.3)
    assert post(sim, HELLO).status_code == 200


def test_refuse_per_request_closes_without_answer(sim: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        post(sim, HELLO, {"x-sim-fault": "refuse"})


def test_refuse_sim_wide_resets_every_connection(sim_server: SimFactory) -> None:
    url = sim_server("openai", fault="refuse")
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/health", timeout=2)
    with client(url) as sdk, pytest.raises(openai.APIConnectionError):
        sdk.chat.completions.create(**HELLO)


def test_cut_stream_after_k_events(sim: str) -> None:
    received: list[str] = []
    body = {**HELLO, "stream": True}
    with (
        pytest.raises(httpx.TransportError),
        httpx.stream(
            "POST", sim + "/v1/chat/completions", json=body, headers={"x-sim-fault": "cut:3"}
        ) as response,
    ):
        assert response.status_code == 200
        received.extend(line for line in response.iter_lines() if line.startswith("data: "))
    assert len(received) == 3


def test_cut_whole_answer_mid_body(sim: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        post(sim, HELLO, {"x-sim-fault": "cut"})


def test_malformed_answers(sim: str) -> None:
    whole = post(sim, HELLO, {"x-sim-fault": "malformed"})
    assert whole.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        whole.json()
    streamed = post(sim, {**HELLO, "stream": True}, {"x-sim-fault": "malformed"})
    with pytest.raises(json.JSONDecodeError):
        sse_events(streamed.text)
    assert streamed.text.endswith("data: [DONE]\n\n")


def test_error_event_mid_stream(sim: str) -> None:
    streamed = post(sim, {**HELLO, "stream": True}, {"x-sim-fault": "error:2"})
    events = [line for line in streamed.text.split("\n\n") if line]
    assert (
        len(events) == 3 and json.loads(events[2].removeprefix("data: "))["error"]["type"] == "server_error"
    )
    with client(sim) as sdk, pytest.raises(openai.APIError):
        list(sdk.chat.completions.create(**HELLO, stream=True, extra_headers={"x-sim-fault": "error"}))
    assert post(sim, HELLO, {"x-sim-fault": "error"}).status_code == 500


def test_sim_wide_fault_spares_health(sim_server: SimFactory) -> None:
    url = sim_server("openai", fault="hang")
    assert httpx.get(url + "/health", timeout=2).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        post(url, HELLO, timeout=0.3)


def test_error_rate_is_roughly_the_share_and_reproducible(sim_server: SimFactory) -> None:
    statuses = []
    for _ in range(2):
        url = sim_server("openai", error_rate=0.3, seed=7)
        with httpx.Client(timeout=10) as http:
            statuses.append(
                [http.post(url + "/v1/chat/completions", json=HELLO).status_code for _ in range(200)]
            )
    failed = [s for s in statuses[0] if s != 200]
    assert 35 <= len(failed) <= 85 and set(failed) == {500, 503}
    assert statuses[0] == statuses[1]
    url = sim_server("openai")
    assert all(post(url, HELLO).status_code == 200 for _ in range(20))


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [("x-sim-fault", "explode", "unknown fault"), ("x-sim-fail", "200", "use an HTTP error status")],
)
def test_bad_control_headers_are_400s(sim: str, header: str, value: str, message: str) -> None:
    response = post(sim, HELLO, {header: value})
    assert response.status_code == 400 and message in response.json()["error"]["message"]


# --- timing --------------------------------------------------------------------------------------------------


def test_latency_ttft_and_chunk_spacing(sim_server: SimFactory) -> None:
    url = sim_server("openai", latency_ms=400)
    started = time.perf_counter()
    assert post(url, HELLO).status_code == 200
    assert time.perf_counter() - started >= 0.4
    started = time.perf_counter()
    post(url, HELLO, {"x-sim-latency-ms": "0"})
    assert time.perf_counter() - started < 0.4
    body = {**HELLO, "stream": True}
    headers = {"x-sim-ttft-ms": "200", "x-sim-chunk-interval-ms": "20", "x-sim-chunks": "3"}
    started = time.perf_counter()
    with httpx.stream(
        "POST", url + "/v1/chat/completions", json=body, headers=headers, timeout=10
    ) as response:
        first_byte = None
        events = 0
        for line in response.iter_lines():
            first_byte = first_byte or time.perf_counter() - started
            events += line.startswith("data: ")
    total = time.perf_counter() - started
    assert first_byte is not None and first_byte >= 0.2
    assert events == 6  # role, 3 pieces, finish, [DONE]
    assert total >= 0.2 + 5 * 0.02


# --- answers -------------------------------------------------------------------------------------------------


def test_same_request_same_answer_streamed_or_not(sim: str, sim_server: SimFactory) -> None:
    whole = [post(sim, HELLO).json() for _ in range(2)]
    assert whole[0]["choices"] == whole[1]["choices"] and whole[0]["id"] != whole[1]["id"]
    with client(sim) as sdk:
        chunks = list(
            sdk.chat.completions.create(**HELLO, stream=True, stream_options={"include_usage": True})
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole[0]["choices"][0]["message"]["content"]
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.model_dump(exclude_unset=True) == whole[0]["usage"]
    )
    other_seed = post(sim_server("openai", seed=99), HELLO).json()
    assert other_seed["choices"][0]["message"]["content"] != text


def test_n_choices_and_interleaved_stream(sim: str) -> None:
    body = {**HELLO, "n": 3}
    whole = post(sim, body).json()
    assert [c["index"] for c in whole["choices"]] == [0, 1, 2]
    events = sse_events(post(sim, {**body, "stream": True}).text)
    indexes = [e["choices"][0]["index"] for e in events]
    assert indexes[:3] == [0, 1, 2]
    for index in range(3):
        text = "".join(
            e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"][0]["index"] == index
        )
        assert text == whole["choices"][index]["message"]["content"]
    assert "usage" not in events[0]  # only with stream_options.include_usage


def test_tool_calls_valid_against_parameters(sim: str) -> None:
    body = {**HELLO, "tools": [WEATHER_TOOL]}
    message = post(sim, body).json()["choices"][0]
    assert message["finish_reason"] == "tool_calls" and message["message"]["content"] is None
    parameters = WEATHER_TOOL["function"]["parameters"]
    for call in message["message"]["tool_calls"]:
        assert re.fullmatch(r"call_[A-Za-z0-9]{24}", call["id"]) and call["type"] == "function"
        jsonschema.validate(json.loads(call["function"]["arguments"]), parameters)
    with client(sim) as sdk:
        stream = sdk.chat.completions.create(**body, stream=True)
        chunks = [c.model_dump() for c in stream]
    arguments: dict[int, str] = {}
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls") or []:
            arguments[call["index"]] = arguments.get(call["index"], "") + call["function"]["arguments"]
    assert list(arguments.values()) == [c["function"]["arguments"] for c in message["message"]["tool_calls"]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_choice_none_named_and_after_results(sim: str) -> None:
    other = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    tools = [WEATHER_TOOL, other]
    assert (
        post(sim, {**HELLO, "tools": tools, "tool_choice": "none"}).json()["choices"][0]["finish_reason"]
        == "stop"
    )
    named = {"type": "function", "function": {"name": "lookup"}}
    calls = post(sim, {**HELLO, "tools": tools, "tool_choice": named}).json()["choices"][0]["message"][
        "tool_calls"
    ]
    assert [c["function"]["name"] for c in calls] == ["lookup"]
    history = [
        *HELLO["messages"],
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "70 degrees and sunny"},
    ]
    final = post(sim, {**HELLO, "messages": history, "tools": tools}).json()["choices"][0]
    assert final["finish_reason"] == "stop" and "70 degrees and sunny" in final["message"]["content"]


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
        },
        {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2, "maxItems": 4},
                "status": {"enum": ["open", "closed"]},
                "note": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
            },
            "required": ["items", "status", "note"],
            "additionalProperties": False,
            "$defs": {
                "item": {
                    "type": "object",
                    "properties": {
                        "qty": {"type": "integer", "minimum": 1, "maximum": 3},
                        "sku": {"type": "string", "minLength": 4},
                    },
                    "required": ["qty", "sku"],
                }
            },
        },
    ],
)
def test_json_schema_answers_validate(sim: str, schema: dict[str, Any]) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "result", "strict": True, "schema": schema}}
    content = post(sim, {**HELLO, "response_format": fmt}).json()["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), schema)
    as_object = post(sim, {**HELLO, "response_format": {"type": "json_object"}}).json()["choices"][0][
        "message"
    ]
    assert isinstance(json.loads(as_object["content"]), dict)


def test_stop_and_max_tokens(sim: str) -> None:
    text = post(sim, HELLO).json()["choices"][0]["message"]["content"]
    short = post(sim, {**HELLO, "max_tokens": 3}).json()["choices"][0]
    assert short["finish_reason"] == "length" and text.startswith(short["message"]["content"])
    stop = text.split(" ")[2]
    stopped = post(sim, {**HELLO, "stop": [stop]}).json()["choices"][0]
    assert stopped["finish_reason"] == "stop" and stop not in stopped["message"]["content"]


def test_dataset_items_get_reference_answers(sim: str) -> None:
    from backend.sim.tasks import load_tasks

    item = load_tasks()[0]
    assert post(sim, item.request_kwargs()).json()["choices"][0]["message"]["content"] == item.reference
    by_header = post(sim, HELLO, {"x-sim-item": item.id}).json()["choices"][0]["message"]["content"]
    by_metadata = post(sim, {**HELLO, "metadata": {"sim_item": item.id}}).json()["choices"][0]["message"][
        "content"
    ]
    assert by_header == by_metadata == item.reference
    forced = post(sim, item.request_kwargs(), {"x-sim-disagree": "1"}).json()["choices"][0]["message"][
        "content"
    ]
    assert forced != item.reference


# --- the process ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_process_prints_its_port_and_stops_cleanly(signum: int, tmp_path: Any) -> None:
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            sim_command("openai", {}), cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    try:
        url = wait_listening(process, log)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":0")
        assert post(url, HELLO).status_code == 200
        process.send_signal(signum)
        assert process.wait(10) == 0
        assert log.read_text() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        assert process.stdout is not None
        process.stdout.close()


def test_garbage_gets_a_400_and_a_closed_connection(sim: str) -> None:
    port = int(sim.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"\x00\x01 NOT HTTP\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"connection: close" in data


def test_client_leaving_mid_stream_does_not_hurt_the_sim(sim: str) -> None:
    body = {**HELLO, "stream": True}
    headers = {"x-sim-chunk-interval-ms": "50"}
    with httpx.stream(
        "POST", sim + "/v1/chat/completions", json=body, headers=headers, timeout=10
    ) as response:
        next(response.iter_lines())
    assert post(sim, HELLO).status_code == 200
