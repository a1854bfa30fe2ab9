"""The common wrappers: langchain, llama-index, litellm, instructor."""

import instructor
import litellm
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from litellm import completion
from llama_index.llms.openai import OpenAI as LlamaOpenAI
from openai import OpenAI
from pydantic import BaseModel

chat = ChatOpenAI(model="gpt-4o-mini", streaming=True)
embeddings = OpenAIEmbeddings(model="text-embedding-3-large")
llm = LlamaOpenAI(model="gpt-4o")


class Ticket(BaseModel):
    priority: str


def triage(text: str) -> Ticket:
    patched = instructor.from_openai(OpenAI())
    return patched.chat.completions.create(
        model="gpt-4o-mini", response_model=Ticket, messages=[{"role": "user", "content": text}]
    )


def route(text: str) -> str:
    answer = completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": text}], seed=1)
    litellm.completion(model="anthropic/claude-3-5-sonnet", messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content
