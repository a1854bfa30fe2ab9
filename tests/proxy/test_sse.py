from __future__ import annotations

import copy
import itertools
import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from proxy.sse import CompletionAssembler, SSEEvents, event_data, event_ends
from tests.shared_paths import FIXTURES


def _responses(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((FIXTURES / name).read_text())
    return [interaction["response"] for interaction in data["interactions"]]


def _sse_body(name: str, index: int = 0) -> bytes:
    body: str = _responses(name)[index]["body"]["string"]
    assert body.startswith("data: ")
    return body.encode()


def _json_body(name: str, index: int = 0) -> dict[str, Any]:
    response = _responses(name)[index]
    if "parsed_body" in response:
        parsed: dict[str, Any] = response["parsed_body"]
        return parsed
    loaded: dict[str, Any] = json.loads(response["body"]["string"])
    return loaded


def _assemble(raw: bytes, pieces: list[int] | None = None) -> CompletionAssembler:
    splitter = SSEEvents()
    assembler = CompletionAssembler()
    cuts = sorted(set(pieces or []))
    bounds = [0, *[c for c in cuts if 0 < c < len(raw)], len(raw)]
    for start, end in itertools.pairwise(bounds):
        for event in splitter.feed(raw[start:end]):
            payload = event_data(event)
            if payload is not None:
                assembler.add(payload)
    assert splitter.flush() == b""
    return assembler


# --- splitter -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feeds", "events", "pending"),
    [
        ([b"data: a\n\n"], [b"data: a\n\n"], b""),
        ([b"data: a\r\n\r\n"], [b"data: a\r\n\r\n"], b""),
        ([b"data: a\n\ndata: b\n\n"], [b"data: a\n\n", b"data: b\n\n"], b""),
        ([b"data: a\n", b"\n"], [b"data: a\n\n"], b""),
        ([b"data: a\r\n\r", b"\n"], [b"data: a\r\n\r\n"], b""),
        ([b"data: a\r", b"\n\r\n"], [b"data: a\r\n\r\n"], b""),
        ([b"data: a\r\n", b"\n"], [b"data: a\r\n\n"], b""),
        ([b"da", b"ta: a\n\ndata: ", b"b"], [b"data: a\n\n"], b"data: b"),
        ([b": keep-alive\n\n", b"data: x\n\n"], [b": keep-alive\n\n", b"data: x\n\n"], b""),
        ([b"data: a\ndata: b\n\n"], [b"data: a\ndata: b\n\n"], b""),
        ([b""], [], b""),
    ],
)
def test_splitter_table(feeds: list[bytes], events: list[bytes], pending: bytes) -> None:
    splitter = SSEEvents()
    got: list[bytes] = []
    for chunk in feeds:
        got.extend(splitter.feed(chunk))
    assert got == events
    assert splitter.pending() == pending
    assert splitter.flush() == pending
    assert splitter.pending() == b""
    joined = SSEEvents()  # the re-framer's variant: the same bytes, cut after the first event of each feed
    parts = [joined.feed_first_apart(chunk) for chunk in feeds]
    assert b"".join(first + rest for first, rest in parts) == b"".join(events)
    check = SSEEvents()
    for chunk, (first, rest) in zip(feeds, parts, strict=True):
        completed = check.feed(chunk)
        assert first == (completed[0] if completed else b"") and rest == b"".join(completed[1:])
    assert joined.pending() == pending


_event_text = st.lists(
    st.tuples(
        st.sampled_from(["data", "event", "id", ""]),
        st.text(
            alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12
        ),
    ),
    min_size=1,
    max_size=3,
)


@given(
    st.lists(st.tuples(_event_text, st.sampled_from(["\n", "\r\n"])), max_size=6),
    st.text(alphabet="ab:\r\n ", max_size=8),
    st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_splitter_reproduces_input_at_any_split(
    events: list[tuple[list[tuple[str, str]], str]], tail: str, cuts: list[int]
) -> None:
    raw = (
        b"".join(
            ("".join(f"{name}: {value}{eol}" for name, value in lines) + eol).encode()
            for lines, eol in events
        )
        + tail.encode()
    )
    splitter = SSEEvents()
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(raw)), len(raw)]
    out: list[bytes] = []
    for start, end in itertools.pairwise(bounds):
        out.extend(splitter.feed(raw[start:end]))
    assert b"".join(out) + splitter.pending() == raw
    whole = SSEEvents()
    assert whole.feed(raw) == out  # where the stream was cut does not change the events
    assert whole.pending() == splitter.pending()


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (b"data: {}\n\n", b"{}"),
        (b"data:{}\n\n", b"{}"),
        (b"data:  two\n\n", b" two"),
        (b"data: a\ndata: b\n\n", b"a\nb"),
        (b"data: a\r\ndata: b\r\n\r\n", b"a\nb"),
        (b"event: x\nid: 3\ndata: [DONE]\n\n", b"[DONE]"),
        (b"data\n\n", b""),
        (b": ping\n\n", None),
        (b"\n\n", None),
        (b"event: message\n\n", None),
        (b"datum: x\n\n", None),
    ],
)
def test_event_data(event: bytes, data: bytes | None) -> None:
    assert event_data(event) == data


# --- assembler on real OpenAI streams --------------------------------------------------------------------------

USAGE_DETAILS = {
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


@pytest.mark.parametrize(
    ("fixture", "index", "contents", "tool_args", "usage", "finish", "chunks"),
    [
        (
            "otel-openai-v2/test_chat_completion_streaming.yaml",
            0,
            ['"This is a test."'],
            [],
            (12, 5, 17),
            ["stop"],
            8,
        ),
        (
            "otel-openai-v2/test_chat_completion_multiple_tools_streaming_with_content.yaml",
            0,
            [None],
            [
                ("get_current_weather", '{"location": "Seattle, WA"}'),
                ("get_current_weather", '{"location": "San Francisco, CA"}'),
            ],
            (75, 51, 126),
            ["tool_calls"],
            18,
        ),
        (
            "pydantic-ai/test_run_stream_sync_streams_real_model.yaml",
            0,
            [None],
            [("get_capital", '{"country":"UK"}')],
            (53, 15, 68),
            ["tool_calls"],
            8,
        ),
        (
            "pydantic-ai/test_run_stream_sync_streams_real_model.yaml",
            1,
            ["The capital of the UK is London."],
            [],
            (78, 9, 87),
            ["stop"],
            11,
        ),
    ],
)
def test_assembles_recorded_streams(
    fixture: str,
    index: int,
    contents: list[str | None],
    tool_args: list[tuple[str, str]],
    usage: tuple[int, int, int],
    finish: list[str],
    chunks: int,
) -> None:
    assembler = _assemble(_sse_body(fixture, index))
    result = assembler.result()
    assert result is not None
    assert (assembler.done, assembler.error, assembler.malformed, assembler.chunks) == (True, None, 0, chunks)
    assert result["object"] == "chat.completion"
    assert result["id"].startswith("chatcmpl-")
    assert [c["message"]["content"] for c in result["choices"]] == contents
    assert [c["finish_reason"] for c in result["choices"]] == finish
    calls = result["choices"][0]["message"].get("tool_calls", [])
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == tool_args
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)
    prompt, completion, total = usage
    assert result["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        **USAGE_DETAILS,
    }
    assert "obfuscation" not in json.dumps(result)


def test_assembles_interleaved_choices() -> None:
    result = _assemble(
        _sse_body("otel-openai-v2/test_chat_completion_multiple_choices_streaming.yaml")
    ).result()
    assert result is not None
    assert [c["index"] for c in result["choices"]] == [0, 1]
    first, second = (c["message"]["content"] for c in result["choices"])
    assert first.startswith("I'm unable to provide real-time weather updates. To get the latest")
    assert second.startswith("I'm unable to provide real-time weather updates as my capabilities")
    assert first.endswith("current weather conditions.")
    assert second.endswith("where to find this information?")
    assert result["usage"]["total_tokens"] == 130
    assert result["system_fingerprint"] == "fp_0ba0d124f1"
    assert "service_tier" not in result


def test_stream_matches_the_recorded_non_stream_answer() -> None:
    """The streamed and unstreamed recordings of the same tool-call prompt agree except for ids and timing."""
    streamed = _assemble(
        _sse_body("otel-openai-v2/test_chat_completion_multiple_tools_streaming_with_content.yaml")
    ).result()
    plain = _json_body("otel-openai-v2/test_chat_completion_tool_calls_with_content.yaml")
    assert streamed is not None

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        for key in ("id", "created", "system_fingerprint"):
            obj.pop(key)
        for call in obj["choices"][0]["message"]["tool_calls"]:
            call.pop("id")
        return obj

    assert strip(streamed) == strip(plain)
    assert list(streamed) == list(plain)  # same key order as OpenAI writes


@given(st.lists(st.integers(min_value=0, max_value=6000), max_size=25))
def test_assembly_does_not_depend_on_network_chunking(cuts: list[int]) -> None:
    raw = _sse_body("pydantic-ai/test_run_stream_sync_streams_real_model.yaml", 0)
    assert _assemble(raw, cuts).result() == _assemble(raw).result()


# --- synthetic streams from recorded completions ---------------------------------------------------------------


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _stream_events(completion: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """The chunks OpenAI streams for ``completion`` (include_usage on), text cut into ``size``-character deltas."""
    keys = ("id", "created", "model", "service_tier", "system_fingerprint")
    head = {k: completion[k] for k in keys if k in completion} | {"object": "chat.completion.chunk"}
    events: list[dict[str, Any]] = []
    for choice in completion["choices"]:
        events += [
            {**head, "choices": [c], "usage": None, "obfuscation": "xyz"}
            for c in _choice_chunks(choice, size)
        ]
    return [*events, {**head, "choices": [], "usage": completion["usage"]}]


def _choice_chunks(choice: dict[str, Any], size: int) -> list[dict[str, Any]]:
    message = choice["message"]
    first: dict[str, Any] = {"role": message["role"], "content": None if message["content"] is None else ""}
    first["refusal"] = None
    if "annotations" in message:
        first["annotations"] = message["annotations"]
    deltas = [first]
    deltas += [{"content": p} for p in _pieces(message["content"], size)] if message["content"] else []
    for i, call in enumerate(message.get("tool_calls") or []):
        fn = {"name": call["function"]["name"], "arguments": ""}
        deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": call["type"], "function": fn}]})
        pieces = _pieces(call["function"]["arguments"], size)
        deltas += [{"tool_calls": [{"index": i, "function": {"arguments": p}}]} for p in pieces]
    chunks = [{"index": choice["index"], "delta": d, "logprobs": None, "finish_reason": None} for d in deltas]
    last = {"index": choice["index"], "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}
    return [*chunks, last]


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


NON_STREAM_FIXTURES = [
    ("otel-openai-v2/test_chat_completion_with_content.yaml", 0),
    ("otel-openai-v2/test_chat_completion_tool_calls_with_content.yaml", 0),
    ("otel-openai-v2/test_chat_completion_tool_calls_with_content.yaml", 1),
    ("otel-openai-v2/test_chat_completion_extra_params.yaml", 0),
    ("pydantic-ai/test_openai_native_output.yaml", 0),
    ("pydantic-ai/test_openai_native_output.yaml", 1),
]


@pytest.mark.parametrize(("fixture", "index"), NON_STREAM_FIXTURES)
@pytest.mark.parametrize("size", [1, 3, 1000])
def test_synthetic_stream_reassembles_to_the_completion(fixture: str, index: int, size: int) -> None:
    completion = _json_body(fixture, index)
    assert completion["object"] == "chat.completion"
    result = _assemble(_sse(_stream_events(completion, size))).result()
    assert result == completion


@given(st.lists(st.booleans(), max_size=200), st.integers(min_value=1, max_value=7))
def test_interleaved_synthetic_choices_with_content_and_tools(picks: list[bool], size: int) -> None:
    base = _json_body("otel-openai-v2/test_chat_completion_tool_calls_with_content.yaml", 0)
    completion = copy.deepcopy(base)
    second = copy.deepcopy(base["choices"][0])
    second["index"] = 1
    second["message"]["content"] = "Checking both cities."
    completion["choices"].append(second)
    *events, usage = _stream_events(completion, size)
    queues = [[e for e in events if e["choices"][0]["index"] == i] for i in (0, 1)]
    mixed: list[dict[str, Any]] = []
    for pick in picks:  # take from either choice in an arbitrary order, keeping each choice's own order
        if queues[int(pick)]:
            mixed.append(queues[int(pick)].pop(0))
    mixed += queues[0] + queues[1]
    assert _assemble(_sse([*mixed, usage])).result() == completion


# --- odd inputs ------------------------------------------------------------------------------------------------


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": choices,
            **extra,
        }
    ).encode()


def test_malformed_payloads_are_counted_not_raised() -> None:
    assembler = CompletionAssembler()
    for payload in (b"{not json", b"[1, 2]", b"\xff\xfe", b"", b'"text"'):
        assembler.add(payload)
    assembler.add(
        _chunk([{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}])
    )
    assert assembler.malformed == 5
    assert assembler.chunks == 1
    result = assembler.result()
    assert result is not None
    assert result["choices"][0]["message"]["content"] == "hi"
    assert result["usage"] is None
    assert result["system_fingerprint"] is None


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            b'{"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}',
            {"message": "boom", "type": "server_error", "param": None, "code": None},
        ),
        (
            b'{"object": "error", "message": "bad", "type": "BadRequestError", "param": null, "code": 400}',
            {"object": "error", "message": "bad", "type": "BadRequestError", "param": None, "code": 400},
        ),
        (b'{"error": "Unauthorized"}', {"error": "Unauthorized"}),
    ],
)
def test_error_payload_sets_error(payload: bytes, error: dict[str, Any]) -> None:
    assembler = CompletionAssembler()
    assembler.add(payload)
    assert assembler.error == error
    assert assembler.result() is None
    assert not assembler.done


def test_done_and_empty() -> None:
    assembler = CompletionAssembler()
    assert assembler.result() is None
    assembler.add(b"[DONE]")
    assert assembler.done
    assert assembler.result() is None


def test_refusal_logprobs_annotations_and_late_tool_ids() -> None:
    assembler = CompletionAssembler()
    token = {"token": "No", "logprob": -0.1, "bytes": [78, 111], "top_logprobs": []}
    assembler.add(
        _chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": None, "refusal": ""}, "logprobs": None}],
            service_tier="default",
        )
    )
    assembler.add(
        _chunk([{"index": 0, "delta": {"refusal": "No"}, "logprobs": {"content": None, "refusal": [token]}}])
    )
    assembler.add(
        _chunk([{"index": 0, "delta": {"refusal": "pe"}, "logprobs": {"content": None, "refusal": [token]}}])
    )
    assembler.add(
        _chunk([{"index": 0, "delta": {"annotations": [{"type": "url_citation"}]}, "finish_reason": "stop"}])
    )
    assembler.add(
        _chunk([{"index": 1, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}])
    )
    assembler.add(
        _chunk(
            [{"index": 1, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f"}}]}}]
        )
    )
    result = assembler.result()
    assert result is not None
    refused, tooled = result["choices"]
    assert refused["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "Nope",
        "annotations": [{"type": "url_citation"}],
    }
    assert refused["logprobs"] == {"content": None, "refusal": [token, token]}
    assert tooled["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    assert tooled["message"]["content"] is None
    assert tooled["finish_reason"] is None
    assert result["service_tier"] == "default"


def test_logprobs_content_lists_are_concatenated() -> None:
    assembler = CompletionAssembler()
    a = {"token": "a", "logprob": -1.0, "bytes": [97], "top_logprobs": []}
    b = {"token": "b", "logprob": -2.0, "bytes": [98], "top_logprobs": []}
    assembler.add(
        _chunk(
            [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": {"content": [], "refusal": None},
                }
            ]
        )
    )
    assembler.add(
        _chunk([{"index": 0, "delta": {"content": "a"}, "logprobs": {"content": [a], "refusal": None}}])
    )
    assembler.add(
        _chunk(
            [
                {
                    "index": 0,
                    "delta": {"content": "b"},
                    "logprobs": {"content": [b], "refusal": None},
                    "finish_reason": "length",
                }
            ]
        )
    )
    result = assembler.result()
    assert result is not None
    assert result["choices"][0]["logprobs"] == {"content": [a, b], "refusal": None}
    assert result["choices"][0]["message"]["content"] == "ab"
    assert result["choices"][0]["finish_reason"] == "length"


@given(st.binary(max_size=40).map(lambda b: bytes(b"ab\r\n"[x % 4] for x in b)), st.integers(0, 40))
def test_event_ends_are_the_blank_line_regex_match_ends(buffer: bytes, start: int) -> None:
    """``event_ends`` is the scan the splitter uses in place of the regex that defines an event's end: the same
    ends for any mix of line ends, from any start."""
    reference = [m.end() for m in re.compile(rb"\r?\n\r?\n").finditer(buffer, min(start, len(buffer)))]
    assert event_ends(buffer, min(start, len(buffer))) == reference
