// Drives the proxy with the official openai Node SDK: plain, streamed, and an error. Prints one JSON line.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "sk-node", maxRetries: 0 });
const messages = [{ role: "user", content: "Classify: I was charged twice" }];

const plain = await client.chat.completions.create({ model: "gpt-4o-mini", messages, user: "node-user" });
let streamed = "";
let usage = null;
const stream = await client.chat.completions.create({
  model: "gpt-4o-mini", messages, user: "node-user", stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  usage = chunk.usage ?? usage;
}
let error = null;
try {
  await client.chat.completions.create({ model: "gpt-4o-mini", messages }, { headers: { "x-sim-fail": "404" } });
} catch (e) {
  error = { name: e.constructor.name, status: e.status, code: e.code, type: e.type };
}
console.log(JSON.stringify({ model: plain.model, content: plain.choices[0].message.content, streamed, usage, error }));
