"""Make a candidate's (SGLang 0.5.x) answers byte-for-byte the shape OpenAI's would have.

An app must not be able to tell which side served it: SGLang's flat error bodies, CamelCase error types, integer
codes, extra keys (``matched_stop``, ``hidden_states``, ``sglext`` ...) and missing keys (``refusal``,
``system_fingerprint``) are all translated here, and the model name the app asked for is echoed back.

SGLang's shapes (from ``sglang/srt/entrypoints/openai``): errors are ``{"object": "error", "message", "type":
"BadRequestError", "param", "code": 400}`` (mid-stream: the same wrapped in ``{"error": ...}``); the API-key
middleware answers ``401 {"error": "Unauthorized"}``; an unknown LoRA adapter is a 400 "The following requested
LoRA adapters are not loaded: ..."; vLLM-style servers answer an unknown model with 404 "The model `x` does not
exist."; a body FastAPI rejected before SGLang saw it is ``{"detail": ...}`` with 422.
"""

from __future__ import annotations

import json
import re
from typing import Any

from proxy import wire

# Keys SGLang adds that OpenAI never sends, per level of the answer. ``reasoning_content`` only goes when null.
SGLANG_ONLY_KEYS: dict[str, frozenset[str]] = {
    "completion": frozenset({"metadata", "sglext", "prompt_token_ids"}),
    "choice": frozenset(
        {
            "matched_stop",
            "hidden_states",
            "token_ids",
            "input_token_ids",
            "prompt_token_ids",
            "meta_info",
            "sglext",
        }
    ),
    "message": frozenset({"hidden_states"}),
    "usage": frozenset({"reasoning_tokens"}),
}
NULL_ONLY_KEYS = frozenset({"reasoning_content"})
# Top-level key order OpenAI writes (unknown keys follow).
_COMPLETION_ORDER = (
    "id",
    "object",
    "created",
    "model",
    "choices",
    "usage",
    "service_tier",
    "system_fingerprint",
)
_CHUNK_ORDER = ("id", "object", "created", "model", "service_tier", "system_fingerprint", "choices", "usage")
# OpenAI's finish reasons; SGLang's "abort" has no OpenAI equivalent, the answer simply stopped.
_FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}
# The finish reasons of a plain answer, written as they are (None: "stop", as normalize_completion writes it).
_PLAIN_FINISH = (None, "stop", "length")

# Status codes OpenAI answers /v1/chat/completions with; others become 400 (client side) or 500.
OPENAI_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503, 504})
GENERIC_MESSAGES: dict[int, str] = {
    400: "Invalid request.",
    401: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    403: "You are not allowed to make this request.",
    404: "The requested resource was not found.",
    405: "Method not allowed.",
    409: "The request conflicts with the current state of the resource.",
    413: "Request body too large.",
    429: "Rate limit reached. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The server is overloaded or not ready yet.",
    504: "The server did not respond in time.",
}
MODEL_NOT_FOUND_MESSAGE = "The model `{model}` does not exist or you do not have access to it."
_UNKNOWN_MODEL = re.compile(r"The model `(?P<model>[^`]*)` does not exist")
_UNLOADED_ADAPTER = re.compile(r"requested LoRA adapters are not loaded: (?P<model>[^\n]*)")
# SGLang 0.5's over-long prompt (tokenizer_manager), and OpenAI's words for each case.
_CONTEXT_INPUT = re.compile(
    r"input \((?P<tokens>\d+) tokens\) is longer than the model's context length \((?P<limit>\d+) tokens\)"
)
_CONTEXT_TOTAL = re.compile(
    r"maximum context length of (?P<limit>\d+) tokens\. You requested a total of (?P<total>\d+) tokens: "
    r"(?P<tokens>\d+) tokens from the input messages and (?P<completion>\d+) tokens for the completion"
)
CONTEXT_INPUT_MESSAGE = (
    "This model's maximum context length is {limit} tokens. However, your messages resulted in {tokens} "
    "tokens. Please reduce the length of the messages."
)
CONTEXT_TOTAL_MESSAGE = (
    "This model's maximum context length is {limit} tokens. However, you requested {total} tokens ({tokens} "
    "in the messages, {completion} in the completion). Please reduce the length of the messages or completion."
)
_OPENAI_TYPE = re.compile(r"^[a-z]+(?:_[a-z]+)*$")
# SGLang error types (HTTPStatus names) to the status they stand for, for errors that carry no usable status.
_STATUS_BY_SGLANG_TYPE = {
    "BadRequestError": 400,
    "Bad Request": 400,
    "NotFoundError": 404,
    "Not Found": 404,
    "InternalServerError": 500,
    "Internal Server Error": 500,
    "NotImplementedError": 500,
    "ServiceUnavailableError": 503,
    "Service Unavailable": 503,
    "Too Many Requests": 429,
}


# --- errors ----------------------------------------------------------------------------------------------------


def normalize_error(
    status: int, body: bytes, *, requested_model: str | None = None, candidate_model: str | None = None
) -> tuple[int, bytes]:
    """Any error answer as ``(the status OpenAI would use, OpenAI's error body bytes)``; with
    ``requested_model``, no text names ``candidate_model`` (the app must only ever see the model it asked for)."""
    new_status, error = _openai_error(status, _parse(body), requested_model, candidate_model)
    fields = error["error"]
    return new_status, wire.error_bytes(
        fields["message"], status=new_status, type=fields["type"], param=fields["param"], code=fields["code"]
    )


def normalize_stream_error(
    obj: dict[str, Any], *, requested_model: str | None = None, candidate_model: str | None = None
) -> dict[str, Any]:
    """A mid-stream error payload (SGLang's wrapped or flat one) as OpenAI's ``{"error": {...}}``."""
    inner = obj.get("error") if isinstance(obj.get("error"), dict) else obj
    status = _status_of(inner) if isinstance(inner, dict) else 500
    return _openai_error(status, obj, requested_model, candidate_model)[1]


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        return None


def _openai_status(status: int) -> int:
    if status in OPENAI_STATUSES:
        return status
    return 500 if status >= 500 else 400


def _status_of(error: dict[str, Any]) -> int:
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return _STATUS_BY_SGLANG_TYPE.get(str(error.get("type")), 500)


def _openai_error(
    status: int, parsed: Any, requested_model: str | None, candidate_model: str | None = None
) -> tuple[int, dict[str, Any]]:
    status = _openai_status(status)
    fields = _fields(parsed)
    message = fields.get("message")
    model = _unknown_model(message)
    if model is not None:
        text = MODEL_NOT_FOUND_MESSAGE.format(model=requested_model or model)
        return 404, wire.error_object(text, status=404, code="model_not_found")
    too_long = _context_length_message(message) if status == 400 else None
    if too_long is not None:
        return 400, wire.error_object(too_long, status=400, param="messages", code="context_length_exceeded")
    if status >= 500 or not isinstance(message, str) or not message:
        message = GENERIC_MESSAGES[status]
    if requested_model:
        message = unname(message, candidate_model, requested_model)
    openai_shaped = fields.get("object") != "error" and _is_openai_type(fields.get("type"))
    error_type = fields["type"] if openai_shaped and status < 500 else None
    code = _str_or_none(fields.get("code")) if openai_shaped else None
    param = fields.get("param") if isinstance(fields.get("param"), str) else None
    return status, wire.error_object(message, status=status, type=error_type, param=param, code=code)


def _context_length_message(message: Any) -> str | None:
    """OpenAI's ``context_length_exceeded`` text for SGLang's over-long-prompt errors, else None."""
    if not isinstance(message, str):
        return None
    total = _CONTEXT_TOTAL.search(message)
    if total is not None:
        return CONTEXT_TOTAL_MESSAGE.format(**total.groupdict())
    found = _CONTEXT_INPUT.search(message)
    return CONTEXT_INPUT_MESSAGE.format(**found.groupdict()) if found is not None else None


def unname(text: str, candidate_model: str | None, requested_model: str) -> str:
    """``text`` with the candidate's model names (``qwen:classify``, its base ``qwen`` and adapter
    ``classify``) replaced by the model the app asked for."""
    if not candidate_model:
        return text
    names = sorted({candidate_model, *candidate_model.split(":")} - {""}, key=len, reverse=True)
    pattern = "|".join(re.escape(name) for name in names)
    return re.sub(rf"(?<![\w.:-])(?:{pattern})(?![\w.:-])", requested_model, text)


def _fields(parsed: Any) -> dict[str, Any]:
    """The error's own fields, whichever wrapper it came in."""
    if not isinstance(parsed, dict):
        return {}
    if isinstance(parsed.get("error"), dict):
        return dict(parsed["error"])
    if "message" in parsed:
        return parsed
    detail = parsed.get("detail")  # FastAPI's own rejections
    if isinstance(detail, str):
        return {"message": detail}
    if (
        isinstance(detail, list)
        and detail
        and isinstance(detail[0], dict)
        and isinstance(detail[0].get("msg"), str)
    ):
        return {"message": detail[0]["msg"]}
    return {}


def _unknown_model(message: Any) -> str | None:
    """The model name when the error says the model (or LoRA adapter) is unknown, else None."""
    if not isinstance(message, str):
        return None
    match = _UNKNOWN_MODEL.search(message) or _UNLOADED_ADAPTER.search(message)
    if match:
        return match.group("model").strip("{}'\" ")
    return None


def _is_openai_type(value: Any) -> bool:
    return isinstance(value, str) and bool(_OPENAI_TYPE.match(value))


def _str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return str(value)


# --- successful answers ----------------------------------------------------------------------------------------


def rewrite_model(obj: dict[str, Any], requested_model: str) -> dict[str, Any]:
    """A copy of ``obj`` naming the model the app asked for (key order kept)."""
    return {**obj, "model": requested_model} if "model" in obj else dict(obj)


def normalize_completion(
    obj: dict[str, Any], requested_model: str, *, fingerprint: str | None = None
) -> dict[str, Any]:
    """A candidate's ``chat.completion`` as OpenAI's, echoing ``requested_model`` (the incumbent's dated
    snapshot for the alias once one was seen) and ``fingerprint`` where the candidate gave none."""
    out = _drop(obj, "completion")
    out["id"] = completion_id(obj.get("id"))
    out["object"] = "chat.completion"
    out["model"] = requested_model
    out["choices"] = [_completion_choice(c) for c in obj.get("choices") or [] if isinstance(c, dict)]
    out["usage"] = _usage(obj.get("usage"))
    if out["usage"] is None:  # OpenAI's schema has no null usage on a completion
        del out["usage"]
    out["system_fingerprint"] = out.get("system_fingerprint") or fingerprint
    out["service_tier"] = out.get("service_tier") or "default"
    return _ordered(out, _COMPLETION_ORDER)


def normalize_chunk(
    obj: dict[str, Any],
    requested_model: str,
    *,
    include_usage: bool = False,
    fingerprint: str | None = None,
    chunk_id: str | None = None,
) -> dict[str, Any]:
    """A candidate's ``chat.completion.chunk`` as OpenAI's; ``usage`` present only when the app asked for it.
    ``chunk_id``: the one ``chatcmpl-`` id of the whole stream, when the candidate's is not one."""
    out = _drop(obj, "completion")
    out["id"] = chunk_id or completion_id(obj.get("id"))
    out["object"] = "chat.completion.chunk"
    out["model"] = requested_model
    out["system_fingerprint"] = out.get("system_fingerprint") or fingerprint
    out["service_tier"] = out.get("service_tier") or "default"
    out["choices"] = [_chunk_choice(c) for c in obj.get("choices") or [] if isinstance(c, dict)]
    if include_usage:
        out["usage"] = _usage(obj.get("usage")) if isinstance(obj.get("usage"), dict) else None
    else:
        out.pop("usage", None)
    return _ordered(out, _CHUNK_ORDER)


# The keys of SGLang's plain content chunk, at each level; anything else takes normalize_chunk's way.
_CONTENT_CHUNK_KEYS = frozenset({"id", "object", "created", "model", "choices", "usage"})
_CONTENT_CHOICE_KEYS = frozenset({"index", "delta", "logprobs", "finish_reason", "matched_stop"})
_CONTENT_DELTA_NULLS = ("role", "reasoning_content", "tool_calls")


def content_chunk_json(
    obj: dict[str, Any],
    requested_model: str,
    *,
    include_usage: bool,
    fingerprint: str | None,
    chunk_id: str,
) -> bytes | None:
    """``wire.dumps(normalize_chunk(obj, ...))`` written directly for the chunk most of a stream is: one choice
    whose delta is only a piece of ``content`` (no role, tool call, logprobs, finish or usage); None for any
    other chunk. The same bytes, at a fraction of the cost (tests compare the two on many shapes)."""
    if not obj.keys() <= _CONTENT_CHUNK_KEYS or obj.get("usage") is not None:
        return None
    created, choices = obj.get("created"), obj.get("choices")
    if type(created) is not int or type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or not choice.keys() <= _CONTENT_CHOICE_KEYS:
        return None
    index, delta = choice.get("index"), choice.get("delta")
    if (
        type(index) is not int
        or choice.get("logprobs") is not None
        or choice.get("finish_reason") is not None
    ):
        return None
    if type(delta) is not dict or type(delta.get("content")) is not str:
        return None
    if len(delta) > 1 and (
        not delta.keys() <= {"content", *_CONTENT_DELTA_NULLS}
        or any(delta.get(key) is not None for key in _CONTENT_DELTA_NULLS)
    ):
        return None
    dumps = wire.dumps
    return b"".join(
        (
            b'{"id":',
            dumps(chunk_id),
            b',"object":"chat.completion.chunk","created":',
            str(created).encode(),
            b',"model":',
            dumps(requested_model),
            b',"service_tier":"default","system_fingerprint":',
            dumps(fingerprint),
            b',"choices":[{"index":',
            str(index).encode(),
            b',"delta":{"content":',
            dumps(delta["content"]),
            b'},"logprobs":null,"finish_reason":null}]',
            b',"usage":null}' if include_usage else b"}",
        )
    )


# The keys of SGLang's plain answer (one choice, a message of text), at each level; others: normalize_completion.
_PLAIN_COMPLETION_KEYS = frozenset({"id", "object", "created", "model", "choices", "usage", "metadata"})
_PLAIN_CHOICE_KEYS = frozenset({"index", "message", "logprobs", "finish_reason", "matched_stop"})
_PLAIN_MESSAGE_KEYS = frozenset({"role", "content", "reasoning_content", "tool_calls"})
_PLAIN_USAGE_KEYS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "reasoning_tokens",
    }
)


def plain_completion_json(
    obj: dict[str, Any], requested_model: str, *, fingerprint: str | None
) -> bytes | None:
    """``wire.dumps(normalize_completion(obj, ...))`` written directly for the answer most classify, summarise
    and extract calls get: one choice, a message of text (no tool calls, reasoning or logprobs), usage given;
    None for any other answer. The same bytes, at a fraction of the cost (tests compare the two on many
    shapes)."""
    if not obj.keys() <= _PLAIN_COMPLETION_KEYS:
        return None
    created, choices, usage = obj.get("created"), obj.get("choices"), obj.get("usage")
    if type(created) is not int or type(choices) is not list or len(choices) != 1:
        return None
    if type(usage) is not dict or not usage.keys() <= _PLAIN_USAGE_KEYS:
        return None
    choice = choices[0]
    if type(choice) is not dict or not choice.keys() <= _PLAIN_CHOICE_KEYS:
        return None
    index, message, finish = choice.get("index"), choice.get("message"), choice.get("finish_reason")
    if type(index) is not int or choice.get("logprobs") is not None or finish not in _PLAIN_FINISH:
        return None
    if type(message) is not dict or not message.keys() <= _PLAIN_MESSAGE_KEYS:
        return None
    if message.get("role") != "assistant" or type(message.get("content")) is not str:
        return None
    if message.get("reasoning_content") is not None or message.get("tool_calls") is not None:
        return None
    dumps = wire.dumps
    return b"".join(
        (
            b'{"id":',
            dumps(completion_id(obj.get("id"))),
            b',"object":"chat.completion","created":',
            str(created).encode(),
            b',"model":',
            dumps(requested_model),
            b',"choices":[{"index":',
            str(index).encode(),
            b',"message":{"role":"assistant","content":',
            dumps(message["content"]),
            b',"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":',
            dumps(finish or "stop"),
            b'}],"usage":',
            dumps(_usage(usage)),
            b',"service_tier":"default","system_fingerprint":',
            dumps(fingerprint),
            b"}",
        )
    )


def completion_id(given: Any) -> str:
    """The candidate's id when it is OpenAI-shaped (``chatcmpl-...``), else a new one (SGLang sends a bare hex)."""
    return given if isinstance(given, str) and given.startswith("chatcmpl-") else wire.new_completion_id()


def _completion_choice(choice: dict[str, Any]) -> dict[str, Any]:
    message = _drop(choice.get("message") or {}, "message")
    message["role"] = message.get("role") or "assistant"
    message.setdefault("content", None)
    message["refusal"] = message.get("refusal")
    message.setdefault("annotations", [])
    calls = [_tool_call(c, chunk=False) for c in message.pop("tool_calls", None) or [] if isinstance(c, dict)]
    if calls:
        message["tool_calls"] = calls
        message["content"] = message["content"] or None  # OpenAI: null, not "", beside tool calls
    order = ("role", "content", "reasoning_content", "tool_calls", "refusal", "annotations")
    out = _drop(choice, "choice")
    out.update(message=_ordered(message, order), logprobs=_logprobs(choice.get("logprobs")))
    out["finish_reason"] = _finish_reason(choice.get("finish_reason"), stream=False)
    return _ordered(out, ("index", "message", "logprobs", "finish_reason"))


def _chunk_choice(choice: dict[str, Any]) -> dict[str, Any]:
    delta = _drop(choice.get("delta") or {}, "message")
    if delta.get("role") is not None:  # the first delta: OpenAI spells out content and refusal
        delta.setdefault("content", None)
        delta.setdefault("refusal", None)
    else:  # later deltas carry only what they add
        delta = {k: v for k, v in delta.items() if v is not None}
    if "tool_calls" in delta:
        calls = [_tool_call(c, chunk=True) for c in delta["tool_calls"] or [] if isinstance(c, dict)]
        delta["tool_calls"] = calls
        if not calls:
            del delta["tool_calls"]
    out = _drop(choice, "choice")
    out.update(delta=_ordered(delta, ("role", "content", "reasoning_content", "tool_calls", "refusal")))
    out["logprobs"] = _logprobs(choice.get("logprobs"))
    out["finish_reason"] = _finish_reason(choice.get("finish_reason"), stream=True)
    return _ordered(out, ("index", "delta", "logprobs", "finish_reason"))


def _tool_call(call: dict[str, Any], *, chunk: bool) -> dict[str, Any]:
    """OpenAI's tool call: no ``index`` outside streams; in a stream, only what this delta adds."""
    function = {k: v for k, v in (call.get("function") or {}).items() if k in ("name", "arguments")}
    if not chunk:
        function = {"name": function.get("name") or "", "arguments": function.get("arguments") or ""}
        return {"id": call.get("id"), "type": call.get("type") or "function", "function": function}
    out: dict[str, Any] = {"index": call.get("index", 0)}
    if call.get("id") is not None:
        out.update(id=call["id"], type=call.get("type") or "function")
    function = {k: v for k, v in function.items() if v is not None}
    if function:
        out["function"] = function
    return out


def _logprobs(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {"content": value.get("content"), "refusal": value.get("refusal")}


def _finish_reason(value: Any, *, stream: bool) -> str | None:
    if value is None:
        return None if stream else "stop"
    return value if isinstance(value, str) and value in _FINISH_REASONS else "stop"


PROMPT_DETAILS = {"cached_tokens": 0, "audio_tokens": 0}
COMPLETION_DETAILS = {
    "reasoning_tokens": 0,
    "audio_tokens": 0,
    "accepted_prediction_tokens": 0,
    "rejected_prediction_tokens": 0,
}


def _usage(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    prompt = _int(value.get("prompt_tokens"))
    completion = _int(value.get("completion_tokens"))
    total = _int(value.get("total_tokens")) or prompt + completion
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    # OpenAI always sends both detail objects; SGLang sends neither (reasoning tokens at the top level).
    prompt_details = value.get("prompt_tokens_details")
    completion_details = value.get("completion_tokens_details")
    out["prompt_tokens_details"] = {
        **PROMPT_DETAILS,
        **(prompt_details if isinstance(prompt_details, dict) else {}),
    }
    out["completion_tokens_details"] = {
        **COMPLETION_DETAILS,
        "reasoning_tokens": _int(value.get("reasoning_tokens")),
        **(completion_details if isinstance(completion_details, dict) else {}),
    }
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _drop(obj: dict[str, Any], level: str) -> dict[str, Any]:
    """A shallow copy without SGLang's own keys for this level."""
    only = SGLANG_ONLY_KEYS.get(level, frozenset())
    return {k: v for k, v in obj.items() if k not in only and not (k in NULL_ONLY_KEYS and v is None)}


def _ordered(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    first = {k: obj[k] for k in order if k in obj}
    return first | {k: v for k, v in obj.items() if k not in first}
