"""Assistants, images and audio on one client."""

import openai

client = openai.OpenAI()


def make_assistant():
    return client.beta.assistants.create(model="gpt-4o", instructions="You are a tutor.")


def ask(assistant_id: str, thread_id: str):
    return client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id)


def picture(prompt: str):
    return client.images.generate(model="dall-e-3", prompt=prompt)


def transcribe(path: str):
    with open(path, "rb") as audio:
        return client.audio.transcriptions.create(model="whisper-1", file=audio)


def speak(text: str):
    return client.audio.speech.create(model="tts-1", voice="alloy", input=text)
