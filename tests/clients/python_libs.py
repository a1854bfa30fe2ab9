"""The client matrix's scenarios with Python libraries whose pins conflict with the project's venv
(langchain-openai, instructor, pydantic-ai, litellm, llama-index-llms-openai). Run with the interpreter of
``.venv-clients/python`` (scripts/setup.sh makes it): ``python python_libs.py LIBRARY BASE_URL API_KEY USER``;
prints one JSON object shaped as tests/clients/scenarios.py describes. Imports nothing from this project.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, Literal

import httpx
import openai
from pydantic import BaseModel

MODEL = "gpt-4o-mini"
PROMPT = "Classify: I was charged twice for my order"
WEATHER = "What is the weather in Paris, in celsius?"
ERRORS: dict[str, dict[str, Any]] = {
    "error_400": {"body": {"n": 0}},
    "error_401": {"api_key": "sk-wrong-matrix-key"},
    "error_404": {"headers": {"x-sim-fail": "404"}},
    "error_429": {"headers": {"x-sim-fail": "429"}},
}


class Ticket(BaseModel):
    category: Literal["billing", "shipping", "other"]
    urgent: bool


def get_weather(city: str, unit: Literal["c", "f"]) -> str:
    """Weather in a city"""
    return f"{city}: 20{unit}"


def shape(value: Any) -> str:
    if value is None:
        return "null"
    text = str(value)
    prefix = next((p for p in ("chatcmpl-", "fp_") if text.startswith(p)), "other")
    return f"{prefix}/{len(text)}"


class Context:
    """One scenario's connection: key, headers and body trigger, and an attempt counter on the HTTP client."""

    def __init__(self, base_url: str, api_key: str, user: str, trigger: dict[str, Any]) -> None:
        self.base_url, self.user, self.trigger = base_url, user, trigger
        self.api_key = trigger.get("api_key", api_key)
        self.headers = trigger.get("headers") or {}
        self.attempts = 0
        self.http = httpx.Client(event_hooks={"request": [self._count]})
        self.ahttp = httpx.AsyncClient(event_hooks={"request": [self._acount]})

    def _count(self, request: httpx.Request) -> None:
        self.attempts += 1
        self._inject(request)

    async def _acount(self, request: httpx.Request) -> None:
        self._count(request)

    def _inject(self, request: httpx.Request) -> None:
        body = self.trigger.get("body")
        if body and request.content:
            content = json.dumps({**json.loads(request.content), **body}).encode()
            request.stream = httpx.ByteStream(content)
            request._content = content
            request.headers["content-length"] = str(len(content))

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            max_retries=1,
            http_client=self.http,
            default_headers=self.headers,
        )


def error_row(exc: BaseException, ctx: Context) -> dict[str, Any] | None:
    """The error as the app sees it: the class the library raised and the OpenAI error inside it."""
    inner: Any = exc
    for _ in range(5):  # libraries wrap the SDK's error (litellm, pydantic-ai, instructor)
        if isinstance(inner, openai.APIStatusError):
            break
        inner = getattr(inner, "__cause__", None) or getattr(inner, "original_exception", None)
        if inner is None:
            break
    status = getattr(exc, "status_code", None) or getattr(inner, "status_code", None)
    if status is None:
        return None
    body = inner.body if isinstance(inner, openai.APIStatusError) else getattr(exc, "body", None)
    message = getattr(exc, "message", None) or str(exc)
    return {
        "class": type(exc).__name__,
        "status": status,
        "message": message,
        "body": body,
        "attempts": ctx.attempts,
    }


# --- langchain-openai ------------------------------------------------------------------------------------------


def langchain(name: str, ctx: Context) -> dict[str, Any]:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model=MODEL,
        base_url=ctx.base_url,
        api_key=ctx.api_key,
        max_retries=1,
        http_client=ctx.http,
        default_headers=ctx.headers,
        stream_usage=True,
        model_kwargs={"user": ctx.user},
    )
    if name == "stream_usage":
        total = None
        for chunk in llm.stream(PROMPT):
            total = chunk if total is None else total + chunk
        return _lc_row(total, streamed=True)
    if name in ("tools", "tools_stream"):
        bound = llm.bind_tools([get_weather], tool_choice="required", parallel_tool_calls=False)
        if name == "tools":
            return _lc_row(bound.invoke(WEATHER))
        total = None
        for chunk in bound.stream(WEATHER):
            total = chunk if total is None else total + chunk
        return _lc_row(total, streamed=True)
    if name == "structured":
        parsed = llm.with_structured_output(Ticket, method="json_schema").invoke(PROMPT)
        return {"parsed": parsed.model_dump()}
    return _lc_row(llm.invoke(PROMPT))


def _lc_row(message: Any, streamed: bool = False) -> dict[str, Any]:
    meta = message.response_metadata
    return {
        "id": shape(message.id if streamed else meta.get("id")),
        "model": meta.get("model_name"),
        "fingerprint": shape(meta.get("system_fingerprint")),
        "content": message.content or None,
        "finish_reason": meta.get("finish_reason"),
        "tool_calls": [(c["name"], c["args"]) for c in message.tool_calls],
        "usage": _usage(message.usage_metadata, "input_tokens", "output_tokens"),
    }


def _usage(usage: Any, prompt: str, completion: str) -> dict[str, Any] | None:
    if not usage:
        return None
    get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
    return {
        "prompt_tokens": get(prompt),
        "completion_tokens": get(completion),
        "total_tokens": get("total_tokens"),
    }


# --- instructor ----------------------------------------------------------------------------------------------


def instructor_lib(name: str, ctx: Context) -> dict[str, Any]:
    import instructor

    client = instructor.from_openai(ctx.sdk())
    if name == "structured" or name.startswith("error_"):
        ticket, raw = client.chat.completions.create_with_completion(
            model=MODEL,
            response_model=Ticket,
            messages=[{"role": "user", "content": PROMPT}],
            user=ctx.user,
            max_retries=0,
        )
        return {
            "parsed": ticket.model_dump(),
            "model": raw.model,
            "id": shape(raw.id),
            "usage": raw.usage.total_tokens,
        }
    raise KeyError(name)


# --- pydantic-ai ---------------------------------------------------------------------------------------------


def pydantic_ai(name: str, ctx: Context) -> dict[str, Any]:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    sdk = openai.AsyncOpenAI(
        base_url=ctx.base_url,
        api_key=ctx.api_key,
        max_retries=1,
        http_client=ctx.ahttp,
        default_headers=ctx.headers,
    )
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=sdk))
    settings: Any = {"openai_user": ctx.user}
    if name == "structured":
        result = Agent(model, output_type=Ticket, model_settings=settings).run_sync(PROMPT)
        return {"parsed": result.output.model_dump(), "model": result.response.model_name}
    if name == "stream_usage":
        import asyncio

        async def stream() -> dict[str, Any]:
            async with Agent(model, model_settings=settings).run_stream(PROMPT) as run:
                text = await run.get_output()
                usage = _call(run.usage)
            return {
                "content": "text" if text else text,
                "usage": _usage(usage, "input_tokens", "output_tokens"),
            }

        return asyncio.run(stream())
    result = Agent(model, model_settings=settings).run_sync(PROMPT)
    usage = _call(result.usage)
    return {
        "content": result.output or None,
        "model": result.response.model_name,
        "id": shape(result.response.provider_response_id),
        "finish_reason": result.response.finish_reason,
        "usage": _usage(usage, "input_tokens", "output_tokens"),
    }


def _call(value: Any) -> Any:
    """pydantic-ai's ``usage`` is a method in some releases and a property in others."""
    return value() if callable(value) else value


# --- litellm ---------------------------------------------------------------------------------------------------


def litellm_lib(name: str, ctx: Context) -> dict[str, Any]:
    import litellm

    common: dict[str, Any] = {
        "model": "openai/" + MODEL,
        "api_base": ctx.base_url,
        "api_key": ctx.api_key,
        "extra_headers": ctx.headers,
        "user": ctx.user,
        "client": ctx.sdk(),
    }
    messages = [{"role": "user", "content": WEATHER if name.startswith("tools") else PROMPT}]
    if name == "stream_usage":
        chunks = list(
            litellm.completion(
                messages=messages, stream=True, stream_options={"include_usage": True}, **common
            )
        )
        whole = litellm.stream_chunk_builder(chunks, messages=messages)
        return _sdk_row(whole)
    if name.startswith("tools"):
        tool = {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": Ticket_like(),
            },
        }
        answer = litellm.completion(
            messages=messages, tools=[tool], tool_choice="required", parallel_tool_calls=False, **common
        )
        return _sdk_row(answer)
    if name == "structured":
        answer = litellm.completion(messages=messages, response_format=Ticket, **common)
        return {**_sdk_row(answer), "parsed": json.loads(answer.choices[0].message.content)}
    return _sdk_row(litellm.completion(messages=messages, **common))


def Ticket_like() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    }


def _sdk_row(answer: Any) -> dict[str, Any]:
    choice = answer.choices[0]
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or []]
    return {
        "id": shape(answer.id),
        "model": answer.model,
        "fingerprint": shape(answer.system_fingerprint),
        "content": choice.message.content or None,
        "finish_reason": choice.finish_reason,
        "tool_calls": calls,
        "usage": _usage(answer.usage, "prompt_tokens", "completion_tokens"),
    }


# --- llama-index-llms-openai -----------------------------------------------------------------------------------


def llama_index(name: str, ctx: Context) -> dict[str, Any]:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai import OpenAI

    llm = OpenAI(
        model=MODEL,
        api_base=ctx.base_url,
        api_key=ctx.api_key,
        max_retries=1,
        default_headers=ctx.headers,
        http_client=ctx.http,
        additional_kwargs={"user": ctx.user},
    )
    messages = [ChatMessage(role="user", content=PROMPT)]
    if name == "stream_usage":
        chunks = list(llm.stream_chat(messages))
        return {"content": "text" if chunks and chunks[-1].message.content else None}
    if name == "structured":
        return {"parsed": llm.as_structured_llm(Ticket).chat(messages).raw.model_dump()}
    return _sdk_row(llm.chat(messages).raw)


LIBRARIES: dict[str, tuple[Callable[[str, Context], dict[str, Any]], tuple[str, ...]]] = {
    "langchain-openai": (langchain, ("chat", "stream_usage", "tools", "tools_stream", "structured")),
    "instructor": (instructor_lib, ("structured",)),
    "pydantic-ai": (pydantic_ai, ("chat", "stream_usage", "structured")),
    "litellm": (litellm_lib, ("chat", "stream_usage", "tools", "structured")),
    "llama-index-llms-openai": (llama_index, ("chat", "stream_usage", "structured")),
}


def main() -> None:
    library, base_url, api_key, user = sys.argv[1:5]
    drive, scenarios = LIBRARIES[library]
    result: dict[str, Any] = {}
    for name in (*scenarios, *ERRORS):
        ctx = Context(base_url, api_key, f"{user}-{name}", ERRORS.get(name, {}))
        try:
            result[name] = drive("chat" if name in ERRORS and library != "instructor" else name, ctx)
        except Exception as exc:
            row = error_row(exc, ctx)
            if row is None:
                raise
            result[name] = row
    print("\n" + json.dumps(result, default=str))  # the last line (libraries may print before it)


if __name__ == "__main__":
    main()
