// The client matrix's scenarios with the official openai Node SDK (tests/clients/scenarios.py has the Python
// twin and says what is kept). Usage: node matrix.mjs BASE_URL API_KEY USER; prints one JSON object.
import OpenAI from "openai";

const [baseURL, apiKey, user] = process.argv.slice(2);
const MODEL = "gpt-4o-mini";
const MESSAGES = [{ role: "user", content: "Classify: I was charged twice for my order" }];
const WEATHER = [{ role: "user", content: "What is the weather in Paris, in celsius?" }];
const TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
    strict: true,
  },
};
const TICKET = {
  name: "ticket",
  strict: true,
  schema: {
    type: "object",
    properties: { category: { type: "string", enum: ["billing", "shipping", "other"] }, urgent: { type: "boolean" } },
    required: ["category", "urgent"],
    additionalProperties: false,
  },
};
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

function completion(answer) {
  const choice = answer.choices[0];
  return {
    id: shape(answer.id),
    model: answer.model,
    fingerprint: shape(answer.system_fingerprint),
    content: choice.message.content,
    finish_reason: choice.finish_reason,
    tool_calls: (choice.message.tool_calls ?? []).map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
    usage: answer.usage ?? null,
  };
}

async function streamed(stream) {
  let text = "", finish = null, usage = null;
  const ids = new Set(), models = new Set(), calls = new Map();
  for await (const chunk of stream) {
    ids.add(shape(chunk.id));
    models.add(chunk.model);
    usage = chunk.usage ?? usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? "";
      finish = choice.finish_reason ?? finish;
      for (const call of choice.delta.tool_calls ?? []) {
        const entry = calls.get(call.index) ?? ["", ""];
        entry[0] += call.function?.name ?? "";
        entry[1] += call.function?.arguments ?? "";
        calls.set(call.index, entry);
      }
    }
  }
  const tool_calls = [...calls.values()].map(([n, a]) => [n, JSON.parse(a)]);
  return { ids: [...ids].sort(), models: [...models].sort(), content: text, finish_reason: finish, tool_calls, usage };
}

async function run(name) {
  const trigger = ERRORS[name] ?? {};
  let attempts = 0;
  const client = new OpenAI({
    baseURL,
    apiKey: trigger.apiKey ?? apiKey,
    maxRetries: 1,
    timeout: 30_000,
    defaultHeaders: trigger.headers,
    fetch: (url, init) => { attempts += 1; return fetch(url, init); },
  });
  const u = `${user}-${name}`;
  const chat = client.chat.completions;
  try {
    if (name === "stream_usage")
      return await streamed(await chat.create({ model: MODEL, messages: MESSAGES, user: u, stream: true, stream_options: { include_usage: true } }));
    if (name === "tools")
      return completion(await chat.create({ model: MODEL, messages: WEATHER, user: u, tools: [TOOL], parallel_tool_calls: false, tool_choice: "required" }));
    if (name === "tools_stream")
      return await streamed(await chat.create({ model: MODEL, messages: WEATHER, user: u, tools: [TOOL], parallel_tool_calls: false, tool_choice: "required", stream: true }));
    if (name === "structured") {
      const out = completion(await chat.create({ model: MODEL, messages: MESSAGES, user: u, response_format: { type: "json_schema", json_schema: TICKET } }));
      return { ...out, parsed: JSON.parse(out.content) };
    }
    return completion(await chat.create({ model: MODEL, messages: MESSAGES, user: u, ...(trigger.body ?? {}) }));
  } catch (e) {
    if (!(e instanceof OpenAI.APIError) || e.status === undefined) throw e;
    return { class: e.constructor.name, status: e.status, body: e.error ?? null, type: e.type ?? null, param: e.param ?? null, code: e.code ?? null, attempts };
  }
}

const result = {};
for (const name of SCENARIOS) result[name] = await run(name);
console.log(JSON.stringify(result));
