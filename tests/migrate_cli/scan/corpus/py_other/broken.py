from openai import OpenAI
def half(:
    OpenAI()
