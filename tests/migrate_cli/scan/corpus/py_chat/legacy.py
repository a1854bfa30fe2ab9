"""Code still on openai < 1.0: the module-level client."""

import openai

openai.api_base = "https://api.openai.com/v1"


def tag(text):
    return openai.ChatCompletion.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": text}])
