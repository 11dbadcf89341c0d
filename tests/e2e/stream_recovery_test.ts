import assert from "node:assert/strict";
import { DEFAULT_CONTINUATION_PROMPTS } from "../../src/routing/stream_recovery.ts";
import { type FakeGemini, startFakeGemini } from "../fakes/gemini_upstream.ts";
import { startFakeOpenAI } from "../fakes/openai_upstream.ts";
import {
  anthropicDriver,
  geminiDriver,
  openAIChatDriver,
  openAIResponsesDriver,
  type SdkDriver,
} from "./sdk_drivers.ts";
import { startTestGateway } from "./start_gateway.ts";

/**
 * Stream recovery end to end: a Gemini stream cut mid-sentence reaches the client as one
 * seamless answer, whatever SDK reads it; switched off, the client sees the cut.
 */

const KEY = "sk-client-recovery-0001";

const STORIES = [
  {
    lang: "en" as const,
    model: "ge-story-cutonce",
    prompt: "Tell me a story",
    answer: "The quick brown fox jumps over the lazy dog. Then it ran into the forest to find " +
      "its friends.",
    partial: "The quick brown fox jumps over the lazy dog. Then it ran in",
  },
  {
    lang: "zh" as const,
    model: "ge-story-cutonce-zh",
    prompt: "讲一个故事",
    answer: "敏捷的棕色狐狸跳过了那只懒狗。然后它跑进森林，去找它的朋友们。",
    partial: "敏捷的棕色狐狸跳过了那只懒狗。然后它跑进森",
  },
];

function geminiProvider(fake: FakeGemini): Record<string, unknown> {
  return {
    id: "up-gemini",
    type: "gemini",
    base_url: fake.url,
    api_keys: ["AIza-fake-recovery-key-000000"],
    models: ["ge-*"],
  };
}

interface Turn {
  role?: string;
  parts?: Array<{ text?: string }>;
}

function turnText(turn: Turn | undefined): string {
  return (turn?.parts ?? []).map((p) => p.text ?? "").join("");
}

const DRIVERS: Array<(url: string, key: string) => SdkDriver> = [
  geminiDriver,
  openAIChatDriver,
  openAIResponsesDriver,
  anthropicDriver,
];

Deno.test("a Gemini stream cut mid-sentence is continued into one seamless client stream", async (t) => {
  const gemini = await startFakeGemini();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [geminiProvider(gemini)],
  });
  try {
    for (const makeDriver of DRIVERS) {
      const d = makeDriver(gw.url, KEY);
      for (const story of STORIES) {
        await t.step(`${d.name} client, ${story.lang}`, async () => {
          const before = gemini.requests.length;
          const { text } = await d.streamText(story.model, story.prompt);
          assert.equal(text, story.answer, "the whole answer, nothing repeated");

          const seen = gemini.requests.slice(before);
          assert.equal(seen.length, 2, "the first stream and exactly one continuation");
          assert.ok(seen.every((r) => r.path.endsWith(":streamGenerateContent")));
          const contents = seen[1].body.contents as Turn[];
          assert.equal(contents.length, 3);
          assert.equal(turnText(contents[0]), story.prompt);
          assert.equal(contents[1].role, "model");
          assert.equal(turnText(contents[1]), story.partial, "the text so far as model context");
          assert.equal(contents[2].role, "user");
          assert.equal(
            turnText(contents[2]),
            DEFAULT_CONTINUATION_PROMPTS[story.lang],
            "the continuation instruction in the conversation's language",
          );
        });
      }
    }
    assert.ok(gw.logs.some((l) => l.includes("asking the upstream to continue")));
  } finally {
    await gw.close();
    await gemini.close();
  }
});

Deno.test("with stream recovery off, the client gets the cut instead", async () => {
  const gemini = await startFakeGemini();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [geminiProvider(gemini)],
    fallback: { stream_recovery: { enabled: false } },
  });
  try {
    const story = STORIES[0];
    // Converted: the cut becomes the format's in-stream error, which the SDK raises.
    const chat = openAIChatDriver(gw.url, KEY);
    assert.equal(await chat.errorStatus(story.model, true), 502);
    assert.equal(gemini.requests.length, 1, "no continuation");

    // Same format: the upstream's bytes are relayed as they came, cut short.
    const { text } = await geminiDriver(gw.url, KEY).streamText(story.model, story.prompt);
    assert.equal(text, story.partial);
    assert.equal(gemini.requests.length, 2, "no continuation");
  } finally {
    await gw.close();
    await gemini.close();
  }
});

Deno.test("other upstream types are recovered only with all_upstreams", async () => {
  const openai = await startFakeOpenAI();
  const provider = {
    id: "up-openai",
    type: "openai",
    base_url: `${openai.url}/v1`,
    api_keys: ["sk-up-recovery"],
    models: ["oa-*"],
  };
  const off = await startTestGateway({ auth: { api_keys: [KEY] }, providers: [provider] });
  try {
    // A stream that breaks after a few chunks, every time.
    // Same format, so relayed natively: the SDK fails on the broken stream (no HTTP status).
    await openAIChatDriver(off.url, KEY).errorStatus("oa-m-reset", true);
    assert.equal(openai.requests.length, 1, "off by default for openai upstreams");
  } finally {
    await off.close();
  }
  const on = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [provider],
    fallback: { stream_recovery: { all_upstreams: true, max_attempts: 2 } },
  });
  try {
    const before = openai.requests.length;
    assert.equal(await openAIChatDriver(on.url, KEY).errorStatus("oa-m-reset", true), 502);
    const seen = openai.requests.slice(before);
    assert.equal(seen.length, 3, "the first stream and max_attempts continuations");
    for (const r of seen.slice(1)) {
      const messages = r.body.messages as Array<{ role: string; content: unknown }>;
      assert.equal(messages.at(-2)?.role, "assistant");
      assert.deepEqual(messages.at(-1), {
        role: "user",
        content: DEFAULT_CONTINUATION_PROMPTS.en,
      });
    }
  } finally {
    await on.close();
    await openai.close();
  }
});
