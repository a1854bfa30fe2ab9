"""Azure OpenAI: deployments, not model names."""

import os

from openai import AzureOpenAI

azure = AzureOpenAI(azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"], api_version="2024-06-01")


def reply(text: str) -> str:
    answer = azure.chat.completions.create(model="gpt-4o-deployment", messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content or ""
