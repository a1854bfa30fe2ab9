"""What the sim refuses and in whose words: request validation and each flavor's error messages (pure).

OpenAI's messages are the ones api.openai.com writes (``Missing required parameter: 'messages'.``, the 404
``model_not_found`` text of the recorded fixture, ``Incorrect API key provided: sk-wrong****-key. ...``).
SGLang's are its pydantic / FastAPI texts, in its flat error body.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
FORMATS = ("json_object", "json_schema", "text")
PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have "
    "trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)
NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
    "accessing the API from your browser and are prompted for a username and password. You can obtain an API "
    "key from https://platform.openai.com/account/api-keys."
)
SGLANG_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


@dataclass(frozen=True)
class Problem:
    """An error answer before flavor formatting. ``type``/``code`` None: the flavor's default for ``status``."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    type: str | None = None


def _missing(param: str) -> Problem:
    return Problem(400, f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _invalid_type(param: str, expected: str, got: Any) -> Problem:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "an array",
        dict: "an object",
    }
    got_name = "null" if got is None else names.get(type(got), type(got).__name__)
    message = f"Invalid type for '{param}': expected {expected}, but got {got_name} instead."
    return Problem(400, message, param, "invalid_type")


def validate_openai(body: Any) -> Problem | None:
    """The first thing OpenAI would reject in a chat-completions body, or None."""
    if not isinstance(body, dict):
        return Problem(400, PARSE_ERROR)
    if "model" not in body:
        return Problem(400, "you must provide a model parameter")
    if not isinstance(body["model"], str):
        return _invalid_type("model", "a string", body["model"])
    problems = (_messages_problem, _choices_problem, _tools_problem, _format_problem, _model_support_problem)
    return next((p for p in (check(body) for check in problems) if p is not None), None)


def _messages_problem(body: dict[str, Any]) -> Problem | None:
    if "messages" not in body:
        return _missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        return _invalid_type("messages", "an array", messages)
    if not messages:
        return Problem(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "messages",
            "empty_array",
        )
    for number, message in enumerate(messages):
        if not isinstance(message, dict):
            return _invalid_type(f"messages[{number}]", "an object", message)
        role = message.get("role")
        if role is None:
            return _missing(f"messages[{number}].role")
        if role not in ROLES:
            allowed = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
            message_text = f"Invalid value: '{role}'. Supported values are: {allowed}."
            return Problem(400, message_text, f"messages[{number}].role", "invalid_value")
    return None


def _choices_problem(body: dict[str, Any]) -> Problem | None:
    n = body.get("n", 1)
    if n is not None and (not isinstance(n, int) or isinstance(n, bool)):
        return _invalid_type("n", "an integer", n)
    if n is not None and not 1 <= n <= 128:
        below = n < 1
        bound = ">= 1" if below else "<= 128"
        message = f"Invalid 'n': integer {'below minimum' if below else 'above maximum'} value. Expected a value {bound}, but got {n} instead."
        return Problem(400, message, "n", "integer_below_min_value" if below else "integer_above_max_value")
    if body.get("stream_options") is not None and not body.get("stream"):
        return Problem(
            400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        )
    return None


def _tools_problem(body: dict[str, Any]) -> Problem | None:
    tools = body.get("tools")
    if tools is None:
        if body.get("tool_choice") is not None:
            message = (
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
            )
            return Problem(400, message, "tool_choice")
        return None
    if not isinstance(tools, list):
        return _invalid_type("tools", "an array", tools)
    for number, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            return _missing(f"tools[{number}].function")
        if not isinstance(function.get("name"), str):
            return _missing(f"tools[{number}].function.name")
    return None


def _format_problem(body: dict[str, Any]) -> Problem | None:
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        return _invalid_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind not in FORMATS:
        message = f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'."
        return Problem(400, message, "response_format.type", "invalid_value")
    if kind == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
        return _missing("response_format.json_schema")
    return None


def _model_support_problem(body: dict[str, Any]) -> Problem | None:
    """Options only some models take (web search: the ``*-search-*`` models)."""
    if body.get("web_search_options") is not None and "search" not in body["model"]:
        return Problem(400, "Web search options not supported with this model.", "web_search_options")
    return None


def validate_sglang(body: Any) -> Problem | None:
    """SGLang's pydantic check, reduced to what a client hits: an object with a ``messages`` list."""
    if not isinstance(body, dict):
        return Problem(
            400, _fastapi_error("model_attributes_type", ("body",), "Input should be a valid dictionary")
        )
    if "messages" not in body:
        return Problem(400, _fastapi_error("missing", ("body", "messages"), "Field required"))
    if not isinstance(body["messages"], list):
        return Problem(400, _fastapi_error("list_type", ("body", "messages"), "Input should be a valid list"))
    if not body["messages"]:
        return Problem(400, "Messages cannot be empty.")
    n = body.get("n", 1)
    if not isinstance(n, int) or n < 1:
        return Problem(
            400,
            _fastapi_error("greater_than_equal", ("body", "n"), "Input should be greater than or equal to 1"),
        )
    return None


def _fastapi_error(kind: str, loc: tuple[str, ...], msg: str) -> str:
    return repr([{"type": kind, "loc": loc, "msg": msg}])


def sglang_parse_error(detail: str) -> str:
    return repr(
        [{"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error", "ctx": {"error": detail}}]
    )


def masked_key(key: str) -> str:
    """How OpenAI echoes a wrong key: the first 8 and last 4 characters around ``****``."""
    return key[:8] + "****" + key[-4:] if len(key) > 12 else key[:3] + "****"


def incorrect_key(key: str) -> Problem:
    message = (
        f"Incorrect API key provided: {masked_key(key)}. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    return Problem(401, message, None, "invalid_api_key")


def model_not_found(model: str) -> Problem:
    return Problem(
        404, f"The model `{model}` does not exist or you do not have access to it.", None, "model_not_found"
    )


def rate_limited(model: str, limit: int, kind: str, retry_s: float) -> Problem:
    unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
    message = (
        f"Rate limit reached for {model} in organization org-sim on {unit}: Limit {limit}, Used {limit}, "
        f"Requested 1. Please try again in {retry_s:.3g}s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    return Problem(429, message, None, "rate_limit_exceeded", kind)


def simulated(status: int, model: str) -> Problem:
    """The error for ``x-sim-fail: STATUS`` / model ``sim-error-STATUS``, worded as OpenAI words it."""
    if status == 401:
        return incorrect_key("sk-simulated-wrong-key")
    if status == 404:
        return model_not_found(model)
    if status == 429:
        return rate_limited(model, 10000, "requests", 1.0)
    if status == 400:
        return Problem(
            400,
            "Invalid value for 'messages': rejected on purpose (x-sim-fail).",
            "messages",
            "invalid_value",
        )
    messages = {
        403: "You are not allowed to sample from this model",
        500: "The server had an error while processing your request. Sorry about that!",
        502: "Bad gateway.",
        503: "The engine is currently overloaded, please try again later.",
        504: "Gateway timeout.",
    }
    return Problem(status, messages.get(status, f"{status_phrase(status)} (simulated)."))


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def sglang_type(status: int) -> str:
    """SGLang's error ``type`` for a status: BadRequestError, NotFoundError, InternalServerError, ..."""
    return SGLANG_TYPES.get(status) or status_phrase(status).replace(" ", "").replace("-", "") + "Error"


def openai_error_body(problem: Problem) -> dict[str, Any]:
    """OpenAI's nested error object for ``problem``: all four keys, ``type`` defaulted by status class.

    Written here, not borrowed from the proxy: the stand-in must not share code with what it tests."""
    default_type = "server_error" if problem.status >= 500 else "invalid_request_error"
    return {
        "error": {
            "message": problem.message,
            "type": problem.type or default_type,
            "param": problem.param,
            "code": problem.code,
        }
    }


def request_id() -> str:
    """An ``x-request-id`` as OpenAI's: ``req_`` and 32 hex digits."""
    return "req_" + os.urandom(16).hex()
