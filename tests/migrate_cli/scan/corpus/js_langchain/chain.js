const { ChatOpenAI } = require("@langchain/openai");
const OpenAI = require("openai");

const model = new ChatOpenAI({ model: "gpt-4o-mini", streaming: true });
const client = new OpenAI();

async function tutor() {
  return client.beta.assistants.create({ model: "gpt-4o", instructions: "You are a tutor." });
}

async function picture(prompt) {
  return client.images.generate({ model: "dall-e-3", prompt });
}

async function transcribe(file) {
  return client.audio.transcriptions.create({ model: "whisper-1", file });
}

module.exports = { model, tutor, picture, transcribe };
