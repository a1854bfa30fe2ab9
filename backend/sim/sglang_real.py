"""A candidate stand-in whose bytes come from SGLang 0.5.23's own OpenAI serving code, with a script for a GPU.

``backend.sim`` answers with our picture of SGLang's wire; this one answers with SGLang's: the request is parsed by
its protocol models (``ChatCompletionRequest``), rendered by its chat-template code, answered by
``OpenAIServingChat`` with its tool-call parser (``qwen``), and serialized by its own
response models and SSE code, so its quirks (a repeated ``finish_reason`` after streamed tool calls, ``""`` where
OpenAI sends null, usage only with ``stream_options``) are the real ones. Only the engine is replaced:
:class:`ScriptedTokenizerManager` stands where SGLang's ``TokenizerManager`` (and the GPU behind it) would, and
yields the detokenizer's dicts (``text`` so far, ``output_ids``, ``meta_info``) for a scripted answer: a
``<tool_call>`` for the first tool when the request offers tools, a fixed sentence otherwise.

The model is a throw-away folder (a tiny Qwen2 ``config.json`` and a byte-level tokenizer with a chat template)
that SGLang's ``ServerArgs`` and ``ModelConfig`` read like any local model. Run it with
``python -m backend.sim.sglang_real --port 0`` (``alveare-migrate sim --flavor sglang-real`` does); it prints
``sim sglang-real listening on URL`` once ready. It imports sglang (stubbing GPU-only modules, see
:mod:`backend.sim.sglang_stubs`), so it always runs in a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

SERVED_MODEL = "sglang-real"
TOOL_CALL_PARSER = "qwen"
REASONING_PARSER = None  # "qwen3" would read every answer as reasoning: its template opens <think>
ANSWER = "This is a test."
TOKENS_PER_STEP = 4
BOS, EOS = "<|endoftext|>", "<|im_end|>"
CHAT_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n<tools>{{ tools | tojson }}</tools><|im_end|>\n{%- endif %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n"
    "{{ m.content if m.content is string else '' }}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)


def write_model(folder: Path) -> Path:
    """A local model folder SGLang can load without weights: Qwen2 config, byte-level tokenizer, chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=BOS, chat_template=CHAT_TEMPLATE
    )
    tokenizer.save_pretrained(folder)
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 32768,
        "torch_dtype": "float32",
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def scripted_text(body: dict[str, Any]) -> str:
    """What the 'model' writes: a Qwen ``<tool_call>`` for the first offered tool, else a fixed sentence."""
    tools = body.get("tools") or []
    if tools and body.get("tool_choice") != "none":
        function = tools[0].get("function", {})
        schema = function.get("parameters") or {}
        arguments = {name: "Paris" for name in schema.get("required", [])}
        call = json.dumps({"name": function.get("name", ""), "arguments": arguments})
        return f"<tool_call>\n{call}\n</tool_call>"
    return ANSWER


class _RequestLogger:
    log_requests = False
    log_requests_level = 0


class ScriptedTokenizerManager:
    """Stands where SGLang's TokenizerManager does: same attributes ``OpenAIServingChat`` reads, scripted output."""

    def __init__(self, server_args: Any, model_config: Any, tokenizer: Any) -> None:
        from sglang.srt.runtime_context import get_context

        self.server_args = server_args
        self.model_config = model_config
        self.tokenizer = tokenizer
        self.model_path = server_args.model_path
        self.served_model_name = SERVED_MODEL
        self.request_logger = _RequestLogger()
        self._context = get_context()

    def config_value(self, name: str) -> Any:
        """The value in effect for one config field, as the real manager answers it."""
        return self._context.config_leaf(name)

    def create_abort_task(self, obj: Any) -> None:
        """Nothing to abort: the script ends on its own."""
        return None

    async def generate_request(self, obj: Any, request: Any = None) -> AsyncIterator[dict[str, Any]]:
        """The detokenizer's dicts for the scripted answer: cumulative text, streamed ``TOKENS_PER_STEP`` at a time."""
        obj.normalize_batch_and_arguments()  # as the real manager does first: it assigns the request id
        body = await request.json() if request is not None else {}
        ids = self.tokenizer.encode(scripted_text(body), add_special_tokens=False)
        limit = (obj.sampling_params or {}).get("max_new_tokens")
        if limit is not None:
            ids = ids[:limit]
        finish = {"type": "length", "length": limit} if limit is not None and limit <= len(ids) else None
        finish = finish or {"type": "stop", "matched": self.tokenizer.eos_token_id}
        prompt_tokens = (
            len(obj.input_ids) if obj.input_ids is not None else len(self.tokenizer.encode(obj.text))
        )
        steps = (
            range(TOKENS_PER_STEP, len(ids) + TOKENS_PER_STEP, TOKENS_PER_STEP) if obj.stream else [len(ids)]
        )
        for end in steps:
            end = min(end, len(ids))
            last = end == len(ids)
            yield {
                "text": self.tokenizer.decode(ids[:end]),
                "output_ids": ids[:end],
                "meta_info": {
                    "id": obj.rid,
                    "finish_reason": finish if last else None,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": end,
                    "cached_tokens": 0,
                    "weight_version": self.config_value("weight_version"),
                },
            }
            await asyncio.sleep(0)


def build_app(model_dir: Path) -> Any:
    """FastAPI app with SGLang's chat route, wired as ``http_server`` wires it, over OpenAIServingChat.

    ``sglang.srt.entrypoints.http_server`` itself does not import here (it pulls the scheduler and its kernels),
    so its two-line route is repeated; its content-type check and exception handlers are not.
    """
    from fastapi import FastAPI, Request
    from sglang.srt.configs.model_config import ModelConfig
    from sglang.srt.entrypoints.openai.protocol import ChatCompletionRequest
    from sglang.srt.entrypoints.openai.serving_chat import OpenAIServingChat
    from sglang.srt.parser.template_manager import TemplateManager
    from sglang.srt.runtime_context import publish
    from sglang.srt.server_args import ServerArgs
    from sglang.srt.utils.hf_transformers.tokenizer import get_tokenizer
    from sglang.srt.utils.json_response import model_json_response

    server_args = ServerArgs(
        model_path=str(model_dir),
        served_model_name=SERVED_MODEL,
        tool_call_parser=TOOL_CALL_PARSER,
        reasoning_parser=REASONING_PARSER,
        device="cpu",
    )
    publish(server_args, role="tokenizer")
    tokenizer = get_tokenizer(str(model_dir))
    manager = ScriptedTokenizerManager(server_args, ModelConfig.from_server_args(server_args), tokenizer)
    templates = TemplateManager()
    serving_chat = OpenAIServingChat(manager, templates)

    app = FastAPI()

    async def chat(request: ChatCompletionRequest, raw_request: Request) -> Any:
        return model_json_response(await serving_chat.handle_request(request, raw_request))

    # FastAPI reads the annotations; this module's are strings naming imports local to this function.
    chat.__annotations__ = {"request": ChatCompletionRequest, "raw_request": Request, "return": Any}
    app.post("/v1/chat/completions")(chat)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {}

    return app


def main(argv: list[str] | None = None) -> None:
    """Load SGLang's serving layer on this CPU, then serve until SIGTERM / Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m backend.sim.sglang_real")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    from backend.sim import sglang_stubs

    sglang_stubs.prepare()
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="sglang-real-model-") as folder:
        app = build_app(write_model(Path(folder)))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(128)
        host, port = sock.getsockname()[:2]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        print(f"sim sglang-real listening on http://{host}:{port}", flush=True)
        server.run(sockets=[sock])


if __name__ == "__main__":
    main()
