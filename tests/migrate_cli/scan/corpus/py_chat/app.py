"""A classifier and a summariser on the official SDK, models from a constant, env and a parameter."""

import os

from openai import OpenAI

CLASSIFY_MODEL = "gpt-4o-mini"
client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])


def classify(text: str) -> str:
    answer = client.chat.completions.create(
        model=CLASSIFY_MODEL,
        messages=[{"role": "user", "content": text}],
        tools=[{"type": "function", "function": {"name": "label", "parameters": {}}}],
        seed=7,
    )
    return answer.choices[0].message.content or ""


def summarise(text: str, model: str = "gpt-4o") -> str:
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream)


def draft(text: str) -> str:
    answer = client.chat.completions.create(
        model=os.getenv("DRAFT_MODEL", "gpt-4o-mini"), messages=[{"role": "user", "content": text}], n=3, logprobs=True
    )
    return answer.choices[0].message.content or ""


def support_reply(text: str) -> str:
    with OpenAI(base_url="https://api.openai.com/v1") as scoped:
        answer = scoped.chat.completions.create(
            model="ft:gpt-4o-mini-2024-07-18:acme::9abc", messages=[{"role": "user", "content": text}], stream=False
        )
    return answer.choices[0].message.content or ""
