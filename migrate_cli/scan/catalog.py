"""What OpenAI usage looks like in code, as tables both parsers read: client methods, constructors, wrappers,
and the keyword (or object key) names that reveal each feature.

Names are given in both the Python SDK's spelling (``fine_tuning``) and the Node SDK's (``fineTuning``).
"""

from __future__ import annotations

from collections.abc import Sequence

from migrate_cli.scan.model import Api

# Method chains on a client, matched against the end of the call's attribute chain; the first match wins, so
# longer and more specific chains come first.
_CHAINS: tuple[tuple[tuple[str, ...], Api], ...] = (
    (("chat", "completions", "create"), "chat.completions"),
    (("chat", "completions", "parse"), "chat.completions"),
    (("chat", "completions", "stream"), "chat.completions"),
    (("chat", "completions", "runTools"), "chat.completions"),
    (("chat", "completions", "create_with_completion"), "chat.completions"),  # instructor
    (("chat", "completions", "create_partial"), "chat.completions"),
    (("chat", "completions", "create_iterable"), "chat.completions"),
    (("ChatCompletion", "create"), "chat.completions"),  # openai < 1.0
    (("ChatCompletion", "acreate"), "chat.completions"),
    (("responses", "create"), "responses"),
    (("responses", "stream"), "responses"),
    (("responses", "parse"), "responses"),
    (("completions", "create"), "completions"),
    (("Completion", "create"), "completions"),
    (("embeddings", "create"), "embeddings"),
    (("Embedding", "create"), "embeddings"),
    (("images", "generate"), "images"),
    (("images", "edit"), "images"),
    (("images", "create_variation"), "images"),
    (("images", "createVariation"), "images"),
    (("Image", "create"), "images"),
    (("transcriptions", "create"), "audio"),
    (("translations", "create"), "audio"),
    (("speech", "create"), "audio"),
    (("moderations", "create"), "moderations"),
    (("files", "create"), "files"),
    (("fine_tuning", "jobs", "create"), "fine_tuning"),
    (("fineTuning", "jobs", "create"), "fine_tuning"),
    (("batches", "create"), "batches"),
    (("realtime", "connect"), "realtime"),
)
# Assistants and threads: any of these methods on a chain that passes through `assistants` or `threads`.
_ASSISTANT_METHODS = frozenset(
    {
        "create",
        "create_and_poll",
        "createAndPoll",
        "create_and_run",
        "createAndRun",
        "create_and_run_poll",
        "stream",
    }
)
STREAM_METHODS = frozenset({"stream", "create_partial", "create_iterable", "runTools"})
PARSE_METHODS = frozenset({"parse"})


def api_of_chain(chain: Sequence[str]) -> tuple[Api, int] | None:
    """The API a call's attribute chain (``chat.completions.create``) reaches, and how many trailing names
    belong to the method (the rest is the client expression); None when it is not an OpenAI method."""
    names = tuple(chain)
    for suffix, api in _CHAINS:
        if names[-len(suffix) :] == suffix and not (api == "completions" and names[-3:-2] == ("chat",)):
            return api, len(suffix)
    if len(names) >= 2 and names[-1] in _ASSISTANT_METHODS:
        for index, name in enumerate(names[:-1]):
            if name in ("assistants", "threads"):
                start = index - 1 if index > 0 and names[index - 1] == "beta" else index
                return "assistants", len(names) - start
    return None


# Client constructors: qualified name -> (kind, is Azure).
CONSTRUCTORS: dict[str, tuple[str, bool]] = {
    "openai.OpenAI": ("OpenAI", False),
    "openai.AsyncOpenAI": ("AsyncOpenAI", False),
    "openai.AzureOpenAI": ("AzureOpenAI", True),
    "openai.AsyncAzureOpenAI": ("AsyncAzureOpenAI", True),
}
# Keyword arguments of a constructor that say where it sends requests.
BASE_URL_KEYS = ("base_url", "baseURL", "api_base", "openai_api_base", "azure_endpoint", "endpoint")

# Wrappers constructed once and then called (langchain, llama-index): qualified name -> (api, via, azure).
WRAPPER_CLASSES: dict[str, tuple[Api, str, bool]] = {
    "langchain_openai.ChatOpenAI": ("chat.completions", "langchain", False),
    "langchain.chat_models.ChatOpenAI": ("chat.completions", "langchain", False),
    "langchain_community.chat_models.ChatOpenAI": ("chat.completions", "langchain", False),
    "langchain_openai.AzureChatOpenAI": ("chat.completions", "langchain", True),
    "langchain_openai.OpenAIEmbeddings": ("embeddings", "langchain", False),
    "langchain_openai.OpenAI": ("completions", "langchain", False),
    "llama_index.llms.openai.OpenAI": ("chat.completions", "llama-index", False),
    "llama_index.llms.azure_openai.AzureOpenAI": ("chat.completions", "llama-index", True),
    "llama_index.embeddings.openai.OpenAIEmbedding": ("embeddings", "llama-index", False),
    "@langchain/openai.ChatOpenAI": ("chat.completions", "langchain", False),
    "@langchain/openai.AzureChatOpenAI": ("chat.completions", "langchain", True),
    "@langchain/openai.OpenAIEmbeddings": ("embeddings", "langchain", False),
}
# Model keyword of a wrapper, in the order looked at; a wrapper with none uses its library's default model.
WRAPPER_MODEL_KEYS = ("model", "model_name", "modelName", "deployment_name")

# litellm functions: name -> api.
LITELLM_FUNCTIONS: dict[str, Api] = {
    "completion": "chat.completions",
    "acompletion": "chat.completions",
    "embedding": "embeddings",
    "aembedding": "embeddings",
    "responses": "responses",
    "aresponses": "responses",
    "image_generation": "images",
    "transcription": "audio",
    "speech": "audio",
}
# instructor calls that wrap an OpenAI client and return one.
INSTRUCTOR_WRAPS = frozenset({"instructor.from_openai", "instructor.patch", "instructor.apatch"})

# Model names litellm sends to OpenAI when given without a provider prefix.
OPENAI_MODEL_PREFIXES = (
    "gpt-",
    "chatgpt-",
    "o1",
    "o3",
    "o4",
    "ft:",
    "text-embedding-",
    "dall-e",
    "whisper",
    "tts-",
    "davinci",
    "babbage",
    "omni-moderation",
    "text-moderation",
)


def litellm_target(model: str) -> tuple[str, bool] | None:
    """For a literal litellm model string: (the OpenAI model, is Azure), or None when it is another provider's."""
    provider, sep, rest = model.partition("/")
    if sep:
        if provider in ("openai", "azure"):
            return rest, provider == "azure"
        return None
    return (model, False) if model.startswith(OPENAI_MODEL_PREFIXES) else None


# Feature -> the argument names that reveal it (Python keywords and JS object keys alike).
FEATURE_KEYS: dict[str, tuple[str, ...]] = {
    "stream": ("stream", "streaming"),
    "tools": ("tools", "functions", "tool_choice", "function_call", "toolChoice"),
    "response_format": ("response_format", "text_format", "response_model", "responseFormat", "schema"),
    "n": ("n",),
    "logprobs": ("logprobs", "top_logprobs", "topLogprobs"),
    "seed": ("seed",),
}
# Values that mean a feature is off when given literally.
OFF_VALUES: dict[str, tuple[object, ...]] = {
    "stream": (False, None),
    "n": (1, None),
    "logprobs": (False, None),
}
