/** The benchmark's question, as an OpenAI Chat client and as an Anthropic Messages client ask it. */

export const CHAT_REQUEST: Record<string, unknown> = {
  model: "bench-model",
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Write one sentence about why benchmarks should be interleaved." },
  ],
  max_tokens: 64,
  temperature: 0.2,
};

export const MESSAGES_REQUEST: Record<string, unknown> = {
  model: "bench-model",
  max_tokens: 64,
  system: "You are a helpful assistant.",
  messages: [
    { role: "user", content: "Write one sentence about why benchmarks should be interleaved." },
  ],
  temperature: 0.2,
};
