import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY });
const DEFAULT_MODEL = "gpt-4o-mini";

export async function classify(text: string): Promise<string> {
  const answer = await client.chat.completions.create({
    model: DEFAULT_MODEL,
    messages: [{ role: "user", content: text }],
    tools: [{ type: "function", function: { name: "label", parameters: {} } }],
    seed: 7,
  });
  return answer.choices[0].message.content ?? "";
}

export async function summarise(text: string, model: string): Promise<string> {
  const stream = await client.chat.completions.create({ model, messages: [{ role: "user", content: text }], stream: true });
  let out = "";
  for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? "";
  return out;
}

export async function variants(text: string) {
  return client.chat.completions.create({
    model: process.env.VARIANT_MODEL ?? "gpt-4o",
    messages: [{ role: "user", content: text }],
    n: 2,
    logprobs: true,
    response_format: { type: "json_object" },
  });
}

export async function ask(question: string) {
  const response = await client.responses.create({ model: "gpt-4.1-mini", input: question });
  return response.output_text;
}

export async function embed(texts: string[]) {
  return client.embeddings.create({ model: "text-embedding-3-small", input: texts });
}
