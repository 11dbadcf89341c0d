import assert from "node:assert/strict";
import { HUGE_TEXT_BYTES, OK_TEXT, startFaultyUpstream } from "../fakes/faulty_upstream.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * Upstream faults, one by one, seen from every client format: OpenAI Chat (the same-format
 * pass-through), and Anthropic Messages, OpenAI Responses and Gemini (converted through the
 * IR). The upstream is a raw-TCP OpenAI fake that misbehaves on request. Each case checks the
 * client gets a well-formed answer or error in its own format, and that the gateway keeps
 * serving afterwards.
 */

const FORMATS = ["chat", "anthropic", "responses", "gemini"] as const;
type Format = typeof FORMATS[number];

const FAULT_MODELS = [
  "ok",
  "reset-headers",
  "reset-body",
  "reset-stream",
  "stall-headers",
  "stall-stream",
  "malformed-json",
  "truncated-sse",
  "unknown-event",
  "error-200",
  "gzip",
  "huge",
  "status-429",
  "status-500",
  "status-502",
  "status-503",
  "status-529",
];

async function setup(): Promise<{
  gw: TestGateway;
  upstream: ReturnType<typeof startFaultyUpstream>;
  close(): Promise<void>;
}> {
  const upstream = startFaultyUpstream();
  const gw = await startTestGateway({
    providers: [{
      id: "faulty",
      type: "openai",
      base_url: upstream.url,
      api_keys: ["sk-up-faulty-1"],
      models: FAULT_MODELS,
      first_byte_timeout_ms: 400,
      idle_timeout_ms: 300,
    }, {
      id: "spare",
      type: "openai",
      base_url: upstream.url,
      api_keys: ["sk-up-spare-1"],
      models: ["spare-ok"],
    }],
    // A single key and no cooldown: every case meets the fault itself, not a benched key.
    fallback: { cooldown_seconds: 0, max_retries: 0 },
  });
  return {
    gw,
    upstream,
    async close() {
      await gw.close();
      await upstream.close();
    },
  };
}

function request(base: string, format: Format, model: string, stream: boolean): Request {
  const json = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    new Request(base + path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const messages = [{ role: "user", content: "hello" }];
  switch (format) {
    case "chat":
      return json("/v1/chat/completions", { model, messages, stream });
    case "anthropic":
      return json("/v1/messages", { model, max_tokens: 64, messages, stream }, {
        "anthropic-version": "2023-06-01",
      });
    case "responses":
      return json("/v1/responses", { model, input: "hello", stream });
    case "gemini":
      return json(
        `/v1beta/models/${model}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
        { contents: [{ role: "user", parts: [{ text: "hello" }] }] },
      );
  }
}

/** The error body of the caller's format, or a failed assertion. */
function assertErrorShape(format: Format, text: string, context: string): void {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${context}: error body is not JSON: ${text.slice(0, 200)}`);
  }
  const err = body.error as Record<string, unknown> | undefined;
  assert.ok(err && typeof err.message === "string", `${context}: ${text.slice(0, 200)}`);
  if (format === "anthropic") assert.equal(body.type, "error", context);
  if (format === "gemini") {
    assert.equal(typeof err.code, "number", context);
    assert.equal(typeof err.status, "string", context);
  }
}

/** The SSE events of a body; every data line must be complete JSON (or [DONE]). */
function parseEvents(text: string, context: string): { event?: string; data: unknown }[] {
  const out: { event?: string; data: unknown }[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === "") continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length === 0) continue;
    const joined = data.join("\n");
    if (joined === "[DONE]") {
      out.push({ event, data: "[DONE]" });
      continue;
    }
    try {
      out.push({ event, data: JSON.parse(joined) });
    } catch {
      assert.fail(`${context}: a truncated or malformed event reached the client: ${joined}`);
    }
  }
  return out;
}

function isErrorEvent(format: Format, e: { event?: string; data: unknown }): boolean {
  const d = e.data as Record<string, unknown>;
  if (format === "anthropic") return e.event === "error" && d.type === "error";
  if (format === "responses") return e.event === "error" || e.event === "response.failed";
  return typeof d === "object" && d !== null && typeof d.error === "object";
}

/** A stream that must end with an error event in the caller's format, and nothing after it. */
function assertStreamEndsWithError(format: Format, text: string, context: string): void {
  const events = parseEvents(text, context).filter((e) => e.data !== "[DONE]");
  assert.ok(events.length > 0, `${context}: empty stream`);
  const last = events[events.length - 1];
  assert.ok(isErrorEvent(format, last), `${context}: last event is not an error: ${text}`);
}

/** A complete, error-free stream carrying the answer's text. */
function assertStreamComplete(format: Format, text: string, context: string): void {
  const events = parseEvents(text, context);
  assert.ok(!events.some((e) => isErrorEvent(format, e)), `${context}: error in ${text}`);
  const names = events.map((e) => e.event);
  if (format === "chat") assert.equal(events[events.length - 1].data, "[DONE]", context);
  if (format === "anthropic") assert.equal(names[names.length - 1], "message_stop", context);
  if (format === "responses") assert.equal(names[names.length - 1], "response.completed", context);
  if (format === "gemini") assert.match(text, /"finishReason":"STOP"/, context);
  assert.match(text, /Hel/, context);
}

/** What each fault must produce, non-streaming: a status, or an error status range. */
const PLAIN: Record<string, { ok: true; text: string } | { status: number[] }> = {
  "ok": { ok: true, text: OK_TEXT },
  "gzip": { ok: true, text: OK_TEXT },
  "reset-headers": { status: [502] },
  "reset-body": { status: [502] },
  "stall-headers": { status: [504] },
  "error-200": { status: [502] },
  "status-500": { status: [502] },
  "status-502": { status: [502] },
  "status-503": { status: [502, 503] },
  "status-529": { status: [502, 503, 529] },
  // Last: its Retry-After benches the provider's only key.
  "status-429": { status: [429] },
};

Deno.test("upstream faults, non-streaming, in every client format: a clean answer or error", async () => {
  const t = await setup();
  try {
    // Malformed JSON: the pass-through relays the upstream's bytes as they are (it never parses
    // them, by design); a converted answer cannot be built from them, so it is a 502.
    for (const format of FORMATS.filter((f) => f !== "chat")) {
      const res = await fetch(request(t.gw.url, format, "malformed-json", false));
      const text = await res.text();
      assert.equal(res.status, 502, `${format} malformed-json: ${text}`);
      assertErrorShape(format, text, `${format} malformed-json`);
    }
    for (const [model, want] of Object.entries(PLAIN)) {
      for (const format of FORMATS) {
        const context = `${format} ${model}`;
        const res = await fetch(request(t.gw.url, format, model, false));
        const text = await res.text();
        if ("ok" in want) {
          assert.equal(res.status, 200, `${context}: ${text.slice(0, 300)}`);
          assert.ok(text.includes(want.text), `${context}: ${text.slice(0, 300)}`);
          assert.equal(res.headers.get("content-encoding"), null, context);
          JSON.parse(text);
        } else {
          assert.ok(
            want.status.includes(res.status),
            `${context}: status ${res.status}: ${text.slice(0, 300)}`,
          );
          assertErrorShape(format, text, context);
        }
      }
    }
    const logs = t.gw.logs.join("\n");
    assert.ok(!logs.includes("unhandled error"), "no fault reached the unhandled-error path");
    assert.ok(!logs.includes("sk-up-faulty-1"), "the upstream key is never logged");
  } finally {
    await t.close();
  }
});

Deno.test("upstream faults, streaming, in every client format: complete events, then an error event or the proper end", async () => {
  const t = await setup();
  try {
    for (const format of FORMATS) {
      for (const model of ["ok", "unknown-event"]) {
        const res = await fetch(request(t.gw.url, format, model, true));
        assert.equal(res.status, 200, `${format} ${model}`);
        assertStreamComplete(format, await res.text(), `${format} ${model}`);
      }
      for (const model of ["reset-stream", "truncated-sse", "stall-stream"]) {
        const started = Date.now();
        const res = await fetch(request(t.gw.url, format, model, true));
        assert.equal(res.status, 200, `${format} ${model}`);
        const text = await res.text();
        assertStreamEndsWithError(format, text, `${format} ${model}`);
        assert.match(text, /Hel/, `${format} ${model}: the part before the fault was relayed`);
        if (model === "stall-stream") {
          assert.ok(Date.now() - started < 3000, "the idle timeout ended the stall");
        }
      }
      // Faults before the first byte are still plain errors: nothing was sent yet.
      for (const [model, status] of [["reset-headers", 502], ["stall-headers", 504]] as const) {
        const res = await fetch(request(t.gw.url, format, model, true));
        const text = await res.text();
        assert.equal(res.status, status, `${format} ${model}: ${text}`);
        assertErrorShape(format, text, `${format} ${model} (stream)`);
      }
    }
    // The stalls were abandoned by the gateway: no upstream connection is left waiting.
    const deadline = Date.now() + 2000;
    while (t.upstream.open() > 1 && Date.now() < deadline) await delay(10);
    assert.ok(t.upstream.open() <= 1, `open upstream connections: ${t.upstream.open()}`);
  } finally {
    await t.close();
  }
});

Deno.test("a huge upstream answer is relayed whole in every format; the gateway keeps serving", async () => {
  const t = await setup();
  try {
    for (const format of FORMATS) {
      const res = await fetch(request(t.gw.url, format, "huge", false));
      const text = await res.text();
      assert.equal(res.status, 200, format + text.slice(0, 300));
      assert.ok(text.length >= HUGE_TEXT_BYTES, `${format}: ${text.length} chars`);
      JSON.parse(text);
    }
    const res = await fetch(request(t.gw.url, "chat", "ok", false));
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    await t.close();
  }
});

Deno.test("429/5xx storms: every request gets a clean error, concurrently, and the gateway serves right after", async () => {
  const t = await setup();
  try {
    const storm = ["status-429", "status-500", "status-502", "status-503", "status-529"];
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const format = FORMATS[i % FORMATS.length];
        const model = storm[i % storm.length];
        const res = await fetch(request(t.gw.url, format, model, i % 2 === 0));
        const text = await res.text();
        return { format, model, status: res.status, text };
      }),
    );
    for (const r of results) {
      assert.ok(r.status === 429 || (r.status >= 502 && r.status <= 529), `${r.model} ${r.status}`);
      assertErrorShape(r.format, r.text, `${r.format} ${r.model}`);
      if (r.model === "status-429") assert.equal(r.status, 429);
    }
    // The 429s benched the faulty provider's only key (Retry-After 30 s): it stays benched and
    // says so, while another provider is served as usual.
    const benched = await fetch(request(t.gw.url, "chat", "ok", false));
    assert.equal(benched.status, 429, await benched.text());
    assert.ok(Number(benched.headers.get("retry-after")) > 0);
    for (const format of FORMATS) {
      const res = await fetch(request(t.gw.url, format, "spare-ok", true));
      assertStreamComplete(format, await res.text(), `${format} after the storm`);
    }
  } finally {
    await t.close();
  }
});

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
