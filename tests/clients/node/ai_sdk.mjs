// The client matrix's scenarios with the Vercel AI SDK (`ai` + `@ai-sdk/openai`, chat completions API).
// Usage: node ai_sdk.mjs BASE_URL API_KEY USER; prints one JSON object (see tests/clients/scenarios.py).
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool, Output, jsonSchema } from "ai";

const [baseURL, apiKey, user] = process.argv.slice(2);
const PROMPT = "Classify: I was charged twice for my order";
const WEATHER = "What is the weather in Paris, in celsius?";
const weather = tool({
  description: "Weather in a city",
  inputSchema: jsonSchema({
    type: "object",
    properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
    required: ["city", "unit"],
    additionalProperties: false,
  }),
});
const ticket = jsonSchema({
  type: "object",
  properties: { category: { type: "string", enum: ["billing", "shipping", "other"] }, urgent: { type: "boolean" } },
  required: ["category", "urgent"],
  additionalProperties: false,
});
const ERRORS = {
  error_400: { body: { n: 0 } },
  error_401: { apiKey: "sk-wrong-matrix-key" },
  error_404: { headers: { "x-sim-fail": "404" } },
  error_429: { headers: { "x-sim-fail": "429" } },
};
const SCENARIOS = ["chat", "stream_usage", "tools", "tools_stream", "structured", ...Object.keys(ERRORS)];

const shape = (v) => {
  if (v === null || v === undefined) return "null";
  const text = String(v);
  const prefix = ["chatcmpl-", "fp_"].find((p) => text.startsWith(p)) ?? "other";
  return `${prefix}/${text.length}`;
};
const usageOf = (u) => u && { prompt_tokens: u.inputTokens, completion_tokens: u.outputTokens, total_tokens: u.totalTokens };

async function row(result, streamed) {
  const response = await result.response;
  const calls = (await result.toolCalls).map((c) => [c.toolName, c.input]);
  return {
    id: shape(response.id),
    model: response.modelId,
    content: (await result.text) || (streamed ? "" : null),
    finish_reason: await result.finishReason,
    tool_calls: calls,
    usage: usageOf(await result.usage),
  };
}

async function run(name) {
  const trigger = ERRORS[name] ?? {};
  let attempts = 0;
  const provider = createOpenAI({
    baseURL,
    apiKey: trigger.apiKey ?? apiKey,
    headers: trigger.headers,
    fetch: (url, init) => {
      attempts += 1;
      if (trigger.body && init?.body) init = { ...init, body: JSON.stringify({ ...JSON.parse(init.body), ...trigger.body }) };
      return fetch(url, init);
    },
  });
  const common = {
    model: provider.chat("gpt-4o-mini"),
    maxRetries: 1,
    providerOptions: { openai: { user: `${user}-${name}`, parallelToolCalls: false } },
  };
  try {
    if (name === "stream_usage") return await row(streamText({ ...common, prompt: PROMPT }), true);
    if (name === "tools") return await row(await generateText({ ...common, prompt: WEATHER, tools: { get_weather: weather }, toolChoice: "required" }));
    if (name === "tools_stream")
      return await row(streamText({ ...common, prompt: WEATHER, tools: { get_weather: weather }, toolChoice: "required" }), true);
    if (name === "structured") {
      const result = await generateText({ ...common, prompt: PROMPT, output: Output.object({ schema: ticket }) });
      return { ...(await row(result)), parsed: result.output };
    }
    return await row(await generateText({ ...common, prompt: PROMPT }));
  } catch (e) {
    const last = e.lastError ?? e;
    if (last.statusCode === undefined) throw e;
    const body = last.responseBody ? JSON.parse(last.responseBody).error : null;
    return { class: `${e.constructor.name}/${last.constructor.name}`, status: last.statusCode, body, retryable: last.isRetryable, attempts };
  }
}

const result = {};
for (const name of SCENARIOS) result[name] = await run(name);
console.log(JSON.stringify(result));
