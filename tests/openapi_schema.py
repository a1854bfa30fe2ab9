"""JSON-Schema validators for OpenAI's own response schemas, from the shared ``openai/openapi.yaml``.

``validator("CreateChatCompletionResponse").validate(body)`` checks a body against
``#/components/schemas/CreateChatCompletionResponse`` (``$ref`` resolved within the document). The spec is
OpenAPI 3.1 (JSON Schema 2020-12) but still carries 3.0's ``nullable: true`` in places; it is rewritten to
``anyOf [..., null]`` so ``usage: null`` and ``logprobs: null`` validate as the live API sends them.

``as_sent=True`` (the default) also admits the one deviation of the live API from its own spec that the
recorded exchanges show: ``system_fingerprint: null`` (gpt-4 streams it; the spec says string).
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from tests.shared_paths import OPENAPI

_LIVE_DEVIATIONS = {"system_fingerprint"}


@functools.cache
def _components() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with OPENAPI.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=loader)
    components: dict[str, Any] = _without_nullable(document["components"])
    return components


def _without_nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    rewritten = {key: _without_nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [rewritten, {"type": "null"}]}
    return rewritten


def _as_sent(node: Any) -> Any:
    """Makes the properties the live API is known to send as null nullable."""
    if isinstance(node, list):
        return [_as_sent(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _as_sent(value) for key, value in node.items()}
    properties = out.get("properties")
    if isinstance(properties, dict):
        for name in _LIVE_DEVIATIONS & set(properties):
            properties[name] = {"anyOf": [properties[name], {"type": "null"}]}
    return out


@functools.cache
def _sent_components() -> dict[str, Any]:
    sent: dict[str, Any] = _as_sent(_components())
    return sent


@functools.cache
def validator(name: str, *, as_sent: bool = True) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<name>`` (e.g. ``ErrorResponse``, ``ListModelsResponse``)."""
    components = _components()
    if name not in components["schemas"]:
        raise KeyError(f"{OPENAPI}: no schema named {name!r} under components/schemas")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": _sent_components() if as_sent else components,
    }
    return Draft202012Validator(schema)


def errors(name: str, instance: Any) -> list[str]:
    """Every validation error of ``instance`` against schema ``name``, as readable lines (empty: valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(name).iter_errors(instance)
    ]


# OpenAI's per-line supervised fine-tuning example for chat models (`FineTuneChatRequestInput`, documented in
# the fine-tuning guide and in earlier releases of this spec), composed from the message and tool schemas this
# spec still carries: messages of system / user / assistant (the fine-tuning assistant message, with `weight`)
# / tool roles, at least one of them an assistant message; optional `tools` and `parallel_tool_calls`.
FINE_TUNE_CHAT_EXAMPLE: dict[str, Any] = {
    "type": "object",
    "required": ["messages"],
    "additionalProperties": False,
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": [
                    {"$ref": "#/components/schemas/ChatCompletionRequestSystemMessage"},
                    {"$ref": "#/components/schemas/ChatCompletionRequestUserMessage"},
                    {"$ref": "#/components/schemas/FineTuneChatCompletionRequestAssistantMessage"},
                    {"$ref": "#/components/schemas/ChatCompletionRequestToolMessage"},
                ]
            },
            "contains": {"type": "object", "properties": {"role": {"const": "assistant"}}},
        },
        "tools": {"type": "array", "items": {"$ref": "#/components/schemas/ChatCompletionTool"}},
        "parallel_tool_calls": {"type": "boolean"},
    },
}


@functools.cache
def fine_tune_validator() -> Draft202012Validator:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **FINE_TUNE_CHAT_EXAMPLE,
        "components": _components(),
    }
    return Draft202012Validator(schema)


def fine_tune_errors(instance: Any) -> list[str]:
    """Every way ``instance`` is not a valid line of an OpenAI chat fine-tuning file (empty: valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in fine_tune_validator().iter_errors(instance)
    ]
