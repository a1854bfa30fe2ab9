import { openai } from "@ai-sdk/openai";
import { embed, generateObject, streamText, tool } from "ai";
import { z } from "zod";

export async function chat(prompt: string) {
  return streamText({
    model: openai("gpt-4o"),
    prompt,
    tools: { weather: tool({ description: "weather", parameters: z.object({ city: z.string() }) }) },
  });
}

export async function extract(prompt: string) {
  return generateObject({ model: openai.chat("gpt-4o-mini"), schema: z.object({ name: z.string() }), prompt });
}

export async function vector(value: string) {
  return embed({ model: openai.embedding("text-embedding-3-small"), value });
}
