import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { type FakeGemini, startFakeGemini } from "../fakes/gemini_upstream.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../fakes/openai_upstream.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * What today's models accept, through the official SDKs: every client format × every upstream
 * asks a current model (Claude Opus 4.7, gpt-5, Gemini 3) and an older one (Claude Sonnet 4.5,
 * gpt-4.1, Gemini 2.5) to think, against fakes that refuse what the real APIs refuse; Claude
 * Code's billing block, `prompt_cache_key`, and context-length / 413 errors in each caller's
 * own shape.
 */

const KEY = "sk-client-params-0001";

interface Fixture {
  gateway: TestGateway;
  openai: FakeOpenAI;
  anthropic: FakeAnthropic;
  gemini: FakeGemini;
  close(): Promise<void>;
}

async function startFixture(): Promise<Fixture> {
  const openai = await startFakeOpenAI();
  const anthropic = await startFakeAnthropic();
  const gemini = await startFakeGemini();
  const gateway = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [
      {
        id: "up-openai",
        type: "openai",
        base_url: `${openai.url}/v1`,
        api_keys: ["sk-up-params"],
        models: ["gpt-*", "o3*"],
      },
      {
        id: "up-openai-keep",
        type: "openai",
        base_url: `${openai.url}/v1`,
        api_keys: ["sk-up-params"],
        models: ["keep-*"],
        cache: { strip_billing_header: false },
      },
      {
        id: "up-anthropic",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up-params"],
        models: ["claude-*"],
      },
      {
        id: "up-anthropic-bp",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up-params"],
        models: ["bp-*"],
        cache: { auto_breakpoints: true },
      },
      {
        id: "up-gemini",
        type: "gemini",
        base_url: gemini.url,
        api_keys: ["AIza-fake-params-key-00000"],
        models: ["gemini-*"],
      },
    ],
  });
  return {
    gateway,
    openai,
    anthropic,
    gemini,
    async close() {
      await gateway.close();
      await Promise.all([openai.close(), anthropic.close(), gemini.close()]);
    },
  };
}

type Body = Record<string, unknown>;

/** One client format: asks a model to think (effort "high" in its own terms), returns the text. */
interface Client {
  name: string;
  think(model: string, native: boolean): Promise<string>;
}

function clients(url: string): Client[] {
  const openai = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  const google = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: url } });
  return [
    {
      name: "openai-chat",
      async think(model) {
        // What older Chat clients send: max_tokens and a temperature, which gpt-5 refuses.
        const r = await openai.chat.completions.create({
          model,
          messages: [{ role: "user", content: "think hard" }],
          reasoning_effort: "high",
          max_tokens: 2000,
          temperature: 0.5,
        });
        return r.choices[0].message.content ?? "";
      },
    },
    {
      name: "openai-responses",
      async think(model) {
        const r = await openai.responses.create({
          model,
          input: "think hard",
          reasoning: { effort: "high", summary: "auto" },
          max_output_tokens: 2000,
          temperature: 0.5,
          store: false,
        });
        return r.output_text;
      },
    },
    {
      name: "anthropic",
      async think(model, native) {
        // Claude Code asks for adaptive thinking; toward an older Claude a client sends a budget.
        const old = native && /sonnet-4-5/.test(model);
        const m = await anthropic.messages.create({
          model,
          max_tokens: 20000,
          messages: [{ role: "user", content: "think hard" }],
          ...(old ? { thinking: { type: "enabled" as const, budget_tokens: 16000 } } : {
            thinking: { type: "adaptive" as const },
            output_config: { effort: "high" as const },
          }),
        });
        return m.content.map((b) => (b.type === "text" ? b.text : "")).join("");
      },
    },
    {
      name: "gemini",
      async think(model) {
        const r = await google.models.generateContent({
          model,
          contents: "think hard",
          config: {
            maxOutputTokens: 2000,
            thinkingConfig: { thinkingBudget: 20000, includeThoughts: true },
          },
        });
        return r.text ?? "";
      },
    },
  ];
}

interface Target {
  upstream: "openai" | "anthropic" | "gemini";
  model: string;
  /** Checks the body the upstream received. */
  check(body: Body, client: string): void;
}

const TARGETS: Target[] = [
  {
    upstream: "openai",
    model: "gpt-5",
    check(body, client) {
      assert.equal(body.max_tokens, undefined, client);
      assert.ok(typeof body.max_completion_tokens === "number", client);
      assert.equal(body.temperature, undefined, client);
      assert.equal(body.reasoning_effort, "high", client);
    },
  },
  {
    upstream: "openai",
    model: "gpt-4.1",
    check(body, client) {
      assert.ok(typeof body.max_tokens === "number", client);
      assert.equal(body.reasoning_effort, undefined, client);
    },
  },
  {
    upstream: "anthropic",
    model: "claude-opus-4-7",
    check(body, client) {
      assert.deepEqual(body.thinking, { type: "adaptive" }, client);
      assert.deepEqual(body.output_config, { effort: "high" }, client);
    },
  },
  {
    upstream: "anthropic",
    model: "claude-sonnet-4-5",
    check(body, client) {
      const thinking = body.thinking as { type: string; budget_tokens: number };
      assert.equal(thinking.type, "enabled", client);
      assert.ok(thinking.budget_tokens >= 1024 && thinking.budget_tokens < Number(body.max_tokens));
      assert.equal(body.output_config, undefined, client);
    },
  },
  {
    upstream: "gemini",
    model: "gemini-3-pro-preview",
    check(body, client) {
      const gen = body.generationConfig as { thinkingConfig?: Body } | undefined;
      assert.equal(gen?.thinkingConfig?.thinkingLevel, "high", client);
      assert.equal(gen?.thinkingConfig?.thinkingBudget, undefined, client);
    },
  },
  {
    upstream: "gemini",
    model: "gemini-2.5-flash",
    check(body, client) {
      const gen = body.generationConfig as { thinkingConfig?: Body } | undefined;
      assert.ok(typeof gen?.thinkingConfig?.thinkingBudget === "number", client);
      assert.equal(gen?.thinkingConfig?.thinkingLevel, undefined, client);
    },
  },
];

function lastBody(fx: Fixture, upstream: Target["upstream"]): Body {
  const requests = fx[upstream].requests as Array<{ body: Body }>;
  return requests.at(-1)?.body ?? {};
}

Deno.test("thinking on a current and an older model: every client format × every upstream", async (t) => {
  const fx = await startFixture();
  try {
    for (const client of clients(fx.gateway.url)) {
      for (const target of TARGETS) {
        await t.step(`${client.name} → ${target.model}`, async () => {
          const native = (client.name === "anthropic" && target.upstream === "anthropic") ||
            (client.name === "gemini" && target.upstream === "gemini") ||
            (client.name === "openai-chat" && target.upstream === "openai");
          const text = await client.think(target.model, native);
          assert.match(text, /think hard/);
          // Same-format routes forward the client's own thinking request as it came.
          if (client.name === "anthropic" && target.upstream === "anthropic") return;
          if (client.name === "gemini" && target.upstream === "gemini") return;
          target.check(lastBody(fx, target.upstream), client.name);
        });
      }
    }
    // What was left out is logged at debug level.
    const notes = fx.gateway.logs.filter((l) => l.includes("parameters the model refuses"));
    assert.ok(notes.some((l) => l.includes("gpt-5") && l.includes("temperature")), notes.join());
    assert.ok(notes.some((l) => l.includes("reasoning_effort")), notes.join());
  } finally {
    await fx.close();
  }
});

const BILLING = (nonce: string) =>
  `x-anthropic-billing-header: cc_version=2.1.197.f3a; cc_entrypoint=sdk-cli; cch=${nonce};`;

async function claudeCodeTurn(url: string, model: string, nonce: string): Promise<void> {
  const anthropic = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  await anthropic.messages.create({
    model,
    max_tokens: 1000,
    system: [
      { type: "text", text: BILLING(nonce) },
      { type: "text", text: "You are Claude Code, Anthropic's official CLI for Claude." },
      { type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } },
    ],
    messages: [{ role: "user", content: "hello" }],
  });
}

Deno.test("Claude Code's billing block: stripped toward OpenAI and Gemini (stable prefix), kept for Anthropic", async () => {
  const fx = await startFixture();
  try {
    await claudeCodeTurn(fx.gateway.url, "gpt-5", "a1b2c");
    await claudeCodeTurn(fx.gateway.url, "gpt-5", "d3e4f");
    const systems = fx.openai.requests.slice(-2).map((r) =>
      (r.body.messages as Array<{ role: string; content: string }>)[0]
    );
    assert.deepEqual(systems[0], systems[1], "the upstream sees the same prefix twice");
    assert.deepEqual(systems[0], {
      role: "system",
      content: "You are Claude Code, Anthropic's official CLI for Claude.\n\nBe brief.",
    });

    await claudeCodeTurn(fx.gateway.url, "gemini-2.5-flash", "a1b2c");
    assert.doesNotMatch(JSON.stringify(fx.gemini.requests.at(-1)?.body), /billing-header/);

    await claudeCodeTurn(fx.gateway.url, "claude-opus-4-7", "a1b2c");
    assert.match(fx.anthropic.requests.at(-1)?.rawBody ?? "", /x-anthropic-billing-header/);

    // `cache.strip_billing_header: false` keeps it.
    await claudeCodeTurn(fx.gateway.url, "keep-model", "a1b2c");
    assert.match(fx.openai.requests.at(-1)?.rawBody ?? "", /x-anthropic-billing-header/);
  } finally {
    await fx.close();
  }
});

Deno.test("prompt_cache_key reaches the OpenAI upstream from Chat and Responses clients", async () => {
  const fx = await startFixture();
  try {
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${fx.gateway.url}/v1`, maxRetries: 0 });
    await openai.responses.create({
      model: "gpt-5",
      input: "hi",
      prompt_cache_key: "codex-session-7",
      store: false,
    });
    assert.equal(fx.openai.requests.at(-1)?.body.prompt_cache_key, "codex-session-7");
    const stream = await openai.responses.create({
      model: "gpt-5-mini",
      input: "hi",
      prompt_cache_key: "codex-session-8",
      store: false,
      stream: true,
    });
    for await (const _ of stream) { /* drain */ }
    assert.equal(fx.openai.requests.at(-1)?.body.prompt_cache_key, "codex-session-8");
    await openai.chat.completions.create({
      model: "gpt-5",
      messages: [{ role: "user", content: "hi" }],
      prompt_cache_key: "chat-session-9",
    });
    assert.equal(fx.openai.requests.at(-1)?.body.prompt_cache_key, "chat-session-9");
    // Not toward other upstreams, which do not know the field.
    await openai.responses.create({
      model: "gemini-2.5-flash",
      input: "hi",
      prompt_cache_key: "codex-session-7",
      store: false,
    });
    assert.doesNotMatch(JSON.stringify(fx.gemini.requests.at(-1)?.body), /codex-session/);
  } finally {
    await fx.close();
  }
});

/** The error each client SDK raises for a call to `model`, as status and body fields. */
interface Caught {
  status: number;
  code?: unknown;
  type?: unknown;
  message: string;
}

async function catchError(call: () => Promise<unknown>): Promise<Caught> {
  try {
    await call();
  } catch (err) {
    const e = err as {
      status?: number;
      code?: unknown;
      type?: unknown;
      error?: { type?: string; error?: { type?: string; message?: string } };
      message?: string;
    };
    // Anthropic's SDK keeps the body under `error`; OpenAI's exposes code/type itself.
    const inner = e.error?.error;
    return {
      status: e.status ?? -1,
      code: e.code,
      type: inner?.type ?? e.type,
      message: inner?.message ?? e.message ?? "",
    };
  }
  throw new Error("expected an error");
}

Deno.test("context-length and 413 errors reach every caller in its own shape", async (t) => {
  const fx = await startFixture();
  const url = fx.gateway.url;
  const openai = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: KEY, baseURL: url, maxRetries: 0 });
  const google = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: url } });
  const calls = {
    chat: (model: string, stream: boolean) => async () => {
      const r = await openai.chat.completions.create({
        model,
        messages: [{ role: "user", content: "x" }],
        stream,
      });
      if (stream) { for await (const _ of r as AsyncIterable<unknown>) { /* drain */ } }
    },
    responses: (model: string, stream: boolean) => async () => {
      const r = await openai.responses.create({ model, input: "x", stream, store: false });
      if (stream) { for await (const _ of r as AsyncIterable<unknown>) { /* drain */ } }
    },
    anthropic: (model: string, stream: boolean) => async () => {
      const r = await anthropic.messages.create({
        model,
        max_tokens: 64,
        messages: [{ role: "user", content: "x" }],
        stream,
      });
      if (stream) { for await (const _ of r as AsyncIterable<unknown>) { /* drain */ } }
    },
    gemini: (model: string, stream: boolean) => async () => {
      if (!stream) return await google.models.generateContent({ model, contents: "x" });
      for await (const _ of await google.models.generateContentStream({ model, contents: "x" })) {
        /* drain */
      }
    },
  };
  try {
    for (const model of ["gpt-5-context", "claude-opus-4-7-context", "gemini-2.5-flash-context"]) {
      for (const stream of [false, true]) {
        await t.step(`context length from ${model}${stream ? " (stream)" : ""}`, async () => {
          for (const name of ["chat", "responses"] as const) {
            const e = await catchError(calls[name](model, stream));
            assert.equal(e.status, 400, name);
            assert.equal(e.code, "context_length_exceeded", name);
          }
          const a = await catchError(calls.anthropic(model, stream));
          assert.equal(a.status, 400);
          assert.equal(a.type, "invalid_request_error");
          assert.match(a.message, /^prompt is too long/);
          const g = await catchError(calls.gemini(model, stream));
          assert.equal(g.status, 400);
          assert.match(g.message, /INVALID_ARGUMENT/);
        });
      }
    }
    for (const model of ["gpt-4.1-413", "claude-opus-4-7-413"]) {
      await t.step(`request too large from ${model}`, async () => {
        const a = await catchError(calls.anthropic(model, false));
        assert.equal(a.status, 413);
        assert.equal(a.type, "request_too_large");
        for (const name of ["chat", "responses"] as const) {
          const e = await catchError(calls[name](model, false));
          assert.equal(e.status, 413, name);
          assert.equal(e.code, "request_too_large", name);
        }
        const g = await catchError(calls.gemini(model, false));
        assert.equal(g.status, 413);
        assert.match(g.message, /INVALID_ARGUMENT/);
      });
    }
  } finally {
    await fx.close();
  }
});

Deno.test("cache read and write tokens reach every client format's usage", async () => {
  const fx = await startFixture();
  try {
    const url = fx.gateway.url;
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
    const chat = await openai.chat.completions.create({
      model: "claude-opus-4-7",
      messages: [{ role: "user", content: "x" }],
    });
    assert.equal(chat.usage?.prompt_tokens_details?.cached_tokens, 4);
    const responses = await openai.responses.create({
      model: "claude-opus-4-7",
      input: "x",
      store: false,
    });
    assert.equal(responses.usage?.input_tokens_details.cached_tokens, 4);
    const google = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: url } });
    const gemini = await google.models.generateContent({ model: "claude-opus-4-7", contents: "x" });
    assert.equal(gemini.usageMetadata?.cachedContentTokenCount, 4);
  } finally {
    await fx.close();
  }
});

Deno.test("cache.auto_breakpoints: an OpenAI client's request reaches Anthropic with three breakpoints", async () => {
  const fx = await startFixture();
  try {
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${fx.gateway.url}/v1`, maxRetries: 0 });
    const ask = (model: string) =>
      openai.chat.completions.create({
        model,
        messages: [
          { role: "system", content: "A long, stable system prompt." },
          { role: "user", content: "hi" },
        ],
        tools: [{
          type: "function",
          function: { name: "get_weather", parameters: { type: "object", properties: {} } },
        }],
      });
    const res = await ask("bp-claude");
    assert.equal(res.usage?.prompt_tokens_details?.cached_tokens, 4);
    const body = fx.anthropic.requests.at(-1)?.body as Body;
    const mark = { type: "ephemeral" };
    assert.deepEqual((body.system as Body[])[0].cache_control, mark);
    assert.deepEqual((body.tools as Body[]).at(-1)?.cache_control, mark);
    const last = (body.messages as Array<{ content: Body[] }>).at(-1);
    assert.deepEqual(last?.content.at(-1)?.cache_control, mark);
    // Off by default.
    await ask("claude-sonnet-4-5");
    assert.doesNotMatch(fx.anthropic.requests.at(-1)?.rawBody ?? "", /cache_control/);
  } finally {
    await fx.close();
  }
});
