"""Per call site: will the proxy split it, pass it through to OpenAI untouched, or not carry it at all, and why.

The rules mirror what the proxy does (``proxy/addons/route.py``): only ``POST /v1/chat/completions`` whose model
the config's ``models:`` maps is split; every other path goes to the incumbent byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate_cli.scan.model import Api, CallSite, Verdict

RESPONSES_WHY = (
    "/v1/responses is passed through to OpenAI unsplit and unrecorded: the proxy splits chat completions only; "
    "use chat completions (e.g. Vercel AI SDK `openai.chat(...)`) to let the candidate serve it"
)
_PASS_THROUGH_WHY: dict[Api, str] = {
    "responses": RESPONSES_WHY,
    "completions": "legacy /v1/completions is not split; it goes to OpenAI untouched",
    "embeddings": "embeddings are not split; they go to OpenAI untouched",
    "assistants": "assistants/threads keep state at OpenAI; they go to OpenAI untouched",
    "images": "image generation is not split; it goes to OpenAI untouched",
    "audio": "audio (speech, transcription) is not split; it goes to OpenAI untouched",
    "moderations": "moderations are not split; they go to OpenAI untouched",
    "files": "files are stored at OpenAI; they go there untouched",
    "fine_tuning": "fine-tuning jobs run at OpenAI; they go there untouched",
    "batches": "batches run at OpenAI; they go there untouched",
}


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    why: str
    # True when the candidate can serve it once its (literal) model is mapped: the share the scan reports.
    servable: bool = False


def judge(call: CallSite) -> Judgement:
    """The verdict for one call site."""
    if call.azure:
        return Judgement(
            "not supported",
            "Azure OpenAI: deployment URLs (/openai/deployments/...) are not split and its host is not "
            "intercepted by default",
        )
    if call.api == "realtime":
        return Judgement(
            "not supported", "the Realtime API is a WebSocket session; the proxy splits HTTP only"
        )
    if call.api != "chat.completions":
        return Judgement("pass-through", _PASS_THROUGH_WHY[call.api])
    return _judge_chat(call)


def _judge_chat(call: CallSite) -> Judgement:
    model = call.model
    if model.literal is not None and model.literal.startswith("ft:"):
        return Judgement(
            "pass-through",
            "fine-tuned OpenAI model: its weights stay at OpenAI; map it once a specialist is trained on its "
            "recorded traffic",
        )
    if model.dynamic:
        return Judgement(
            "split",
            f"chat completions: split when the model it resolves to at run time is mapped ({model.origin})",
        )
    return Judgement(
        "split", f"chat completions: split once `{model.literal}` is mapped in models:", servable=True
    )
