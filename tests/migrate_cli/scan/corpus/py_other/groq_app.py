"""Not OpenAI: a Groq client has the same method names and must not be reported."""

from groq import Groq

client = Groq()
print(client.chat.completions.create(model="llama-3.1-8b-instant", messages=[]))
