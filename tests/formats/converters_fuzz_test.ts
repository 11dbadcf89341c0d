import assert from "node:assert/strict";
import fc from "fast-check";
import { GatewayError } from "../../src/errors.ts";
import { anthropicFormat } from "../../src/formats/anthropic/format.ts";
import { anthropicSseToIrTransformer } from "../../src/formats/anthropic/stream.ts";
import type { ClientFormat } from "../../src/formats/client_format.ts";
import { geminiFormat } from "../../src/formats/gemini/format.ts";
import { geminiSseToIrTransformer } from "../../src/formats/gemini/stream.ts";
import { openAIChatFormat } from "../../src/formats/openai_chat/format.ts";
import { chatSseToIrTransformer } from "../../src/formats/openai_chat/from_upstream.ts";
import { openAIResponsesFormat } from "../../src/formats/openai_responses/format.ts";
import { readJsonBody } from "../../src/http/body.ts";
import { fuse } from "../../src/http/fused_stream.ts";
import type { IrEvent, IrRequest } from "../../src/ir/types.ts";
import type { SseEvent } from "../../src/sse.ts";
import { sseBodyToIr } from "../../src/upstreams/ir_stream.ts";

/**
 * Property tests of the converters themselves (the route fuzz sees them only through HTTP):
 * every client format's `toIr` either converts or throws a typed 4xx, whatever the body; the
 * upstream stream decoders turn any bytes into IR events that end cleanly; and every client
 * encoder renders any IR event sequence without throwing. Bounded run counts.
 */

const FORMATS: [string, ClientFormat, { model?: string; stream?: boolean }][] = [
  ["openai_chat", openAIChatFormat, {}],
  ["openai_responses", openAIResponsesFormat, {}],
  ["anthropic", anthropicFormat, {}],
  ["gemini", geminiFormat, { model: "m", stream: false }],
];

const absurdNumber = fc.oneof(
  fc.constantFrom(1e308, -1e308, -1, 0, 2 ** 53 + 1, Number.MAX_VALUE, Number.MIN_VALUE),
  fc.double(),
  fc.integer(),
);

const part = fc.record({
  type: fc.constantFrom("text", "image_url", "image", "tool_use", "tool_result", "input_text"),
  text: fc.oneof(fc.string(), fc.anything()),
  id: fc.string(),
  name: fc.string(),
  input: fc.anything(),
  content: fc.anything(),
  image_url: fc.anything(),
  source: fc.anything(),
}, { requiredKeys: ["type"] });

const message = fc.record({
  role: fc.oneof(fc.constantFrom("user", "assistant", "system", "tool", "model"), fc.string()),
  content: fc.oneof(fc.string(), fc.array(part, { maxLength: 3 }), fc.anything()),
  parts: fc.oneof(fc.array(fc.record({ text: fc.string() }), { maxLength: 3 }), fc.anything()),
  tool_calls: fc.anything(),
}, { requiredKeys: [] });

const body = fc.oneof(
  fc.anything({ maxDepth: 4 }),
  fc.record({
    model: fc.oneof(fc.constant("m"), fc.string(), fc.anything()),
    messages: fc.oneof(fc.array(message, { maxLength: 5 }), fc.anything()),
    input: fc.oneof(fc.string(), fc.array(message, { maxLength: 3 }), fc.anything()),
    contents: fc.oneof(fc.array(message, { maxLength: 3 }), fc.anything()),
    system: fc.anything(),
    max_tokens: absurdNumber,
    max_output_tokens: absurdNumber,
    temperature: absurdNumber,
    top_p: absurdNumber,
    n: absurdNumber,
    stream: fc.oneof(fc.boolean(), fc.anything()),
    tools: fc.anything(),
    tool_choice: fc.anything(),
    generationConfig: fc.anything(),
  }, { requiredKeys: [] }),
);

function isTyped4xx(err: unknown): boolean {
  return err instanceof GatewayError && err.status >= 400 && err.status < 500;
}

Deno.test("toIr of every client format: converts, or throws a typed 4xx, for any body", () => {
  for (const [name, format, hints] of FORMATS) {
    fc.assert(
      fc.property(body, (b) => {
        try {
          const ir = format.toIr(b, hints);
          assert.equal(typeof ir.model, "string", name);
          assert.ok(Array.isArray(ir.messages), name);
        } catch (err) {
          if (!isTyped4xx(err)) {
            throw new Error(`${name}: ${err instanceof Error ? err.stack : String(err)}`);
          }
        }
      }),
      { numRuns: 250 },
    );
  }
});

Deno.test("request bodies with invalid UTF-8, lone surrogates or absurd sizes are a 400, not a crash", async () => {
  const bad = [
    new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    new Uint8Array([0x7b, 0xc3]),
    new TextEncoder().encode('{"model":"m","messages":[{"role":"user","content":"\\ud800"}]}'),
    new TextEncoder().encode(`{"model":"m","max_tokens":${"9".repeat(400)}}`),
  ];
  for (const bytes of bad) {
    const req = new Request("http://x/", { method: "POST", body: bytes });
    try {
      const { json } = await readJsonBody(req, 1024 * 1024);
      for (const [, format, hints] of FORMATS) {
        try {
          format.toIr(json, hints);
        } catch (err) {
          assert.ok(isTyped4xx(err), String(err));
        }
      }
    } catch (err) {
      assert.ok(isTyped4xx(err), String(err));
      assert.equal((err as GatewayError).status, 400);
    }
  }
});

const DECODERS: [string, () => Transformer<SseEvent, IrEvent>][] = [
  ["openai", () => chatSseToIrTransformer("m")],
  ["anthropic", () => anthropicSseToIrTransformer()],
  ["gemini", () => geminiSseToIrTransformer({ model: "m" })],
];

/** Upstream SSE-ish bytes: real-looking events with random JSON, and plain garbage. */
const sseBytes = fc.array(
  fc.oneof(
    fc.anything({ maxDepth: 3 }).map((v) => `data: ${JSON.stringify(v) ?? "null"}\n\n`),
    fc.record({
      event: fc.constantFrom("message_start", "content_block_delta", "error", "ping", "zzz"),
      data: fc.anything({ maxDepth: 3 }),
    }).map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data) ?? "null"}\n\n`),
    fc.string(),
    fc.constant("data: [DONE]\n\n"),
  ),
  { maxLength: 8 },
).chain((parts) =>
  fc.uint8Array({ maxLength: 8 }).map((junk) => {
    const text = new TextEncoder().encode(parts.join(""));
    const out = new Uint8Array(text.byteLength + junk.byteLength);
    out.set(text);
    out.set(junk, text.byteLength);
    return out;
  })
);

// A real request through a format, so the encoders get the IR they always get.
const IR_REQUEST: IrRequest = openAIChatFormat.toIr({
  model: "m",
  messages: [{ role: "user", content: "hi" }],
  stream: true,
}, {});

Deno.test("upstream stream decoders → every client encoder: any bytes end cleanly, never an exception", async () => {
  for (const [name, decoder] of DECODERS) {
    await fc.assert(
      fc.asyncProperty(sseBytes, fc.integer({ min: 1, max: 7 }), async (bytes, cut) => {
        for (const [fname, format, hints] of FORMATS) {
          // Split the bytes anywhere, as the network does.
          const at = Math.min(cut, bytes.byteLength);
          const source = ReadableStream.from([bytes.subarray(0, at), bytes.subarray(at)]);
          const events = sseBodyToIr(source, decoder());
          const encoded = format.encodeStream(IR_REQUEST, { ...hints, stream: true, sse: true });
          const out = await new Response(fuse(events, [encoded.transformer])).text().catch(
            (err) => {
              throw new Error(`${name} → ${fname}: ${err instanceof Error ? err.stack : err}`);
            },
          );
          assert.equal(typeof out, "string");
        }
      }),
      { numRuns: 60 },
    );
  }
});
