"""An async service: structured outputs, the Responses API and embeddings."""

import os

from openai import AsyncOpenAI
from pydantic import BaseModel


class Invoice(BaseModel):
    number: str
    total: float


class Extractor:
    def __init__(self) -> None:
        self.client = AsyncOpenAI(base_url=os.environ.get("OPENAI_BASE_URL"))

    async def extract(self, text: str) -> Invoice | None:
        answer = await self.client.chat.completions.parse(
            model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": text}], response_format=Invoice
        )
        return answer.choices[0].message.parsed

    async def answer(self, question: str) -> str:
        response = await self.client.responses.create(model="gpt-4.1", input=question)
        return response.output_text

    async def embed(self, texts: list[str]) -> list[list[float]]:
        result = await self.client.embeddings.create(model="text-embedding-3-small", input=texts)
        return [item.embedding for item in result.data]
