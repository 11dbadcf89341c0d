import assert from "node:assert/strict";
import { PROVIDER_TYPES, providerSchema, type ProviderType } from "../../src/config/schema.ts";
import { UpstreamError } from "../../src/errors.ts";
import type { IrRequest } from "../../src/ir/types.ts";
import { openAIErrorParser } from "../../src/upstreams/openai/errors.ts";
import { postJsonToApi, postToUpstream } from "../../src/upstreams/post.ts";
import { upstreamFor } from "../../src/upstreams/registry.ts";
import type { CallContext } from "../../src/upstreams/types.ts";

const KEY = "sk-test-secret-key-0123456789";
const TOKEN = "ya29.test-access-token-0123456789";

/** A loopback upstream answering every request with what `answer` returns. */
async function withUpstream(
  answer: (req: Request) => Response | Promise<Response>,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, answer);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

function ctx(type: ProviderType, url: string, extra: Partial<CallContext> = {}): CallContext {
  return {
    provider: providerSchema.parse({ id: "p", type, base_url: url, timeout_ms: 5000 }),
    model: "m",
    apiKey: KEY,
    // Bedrock signs with AWS keys; the others use the token (or the key).
    account: {
      id: "a1",
      accessToken: TOKEN,
      projectId: "proj",
      aws: { accessKeyId: "AKIATESTKEY", secretAccessKey: "test-secret-access-key" },
    },
    signal: new AbortController().signal,
    clientHeaders: new Headers(),
    ...extra,
  };
}

const ir: IrRequest = {
  model: "m",
  system: [],
  messages: [{ role: "user", parts: [{ type: "text", text: "hi" }] }],
  tools: [],
  stop: [],
  stream: false,
};

/** Every type that calls the network (the demo type answers locally). */
const NETWORK_TYPES = PROVIDER_TYPES.filter((t) => t !== "echo");

Deno.test("postJsonToApi: a failed answer goes through the format's parser, secrets masked, 5xx → 502", async () => {
  await withUpstream(
    () =>
      Response.json({ error: { message: `bad key ${KEY}`, code: "boom" } }, {
        status: 500,
        headers: { "retry-after": "7" },
      }),
    async (url) => {
      await assert.rejects(
        postJsonToApi({
          url,
          headers: { "content-type": "application/json" },
          body: "{}",
          ctx: ctx("openai", url),
          errorParser: openAIErrorParser,
          read: "json",
        }),
        (err: unknown) => {
          assert.ok(err instanceof UpstreamError);
          assert.equal(err.status, 502);
          assert.equal(err.code, "boom");
          assert.equal(err.retryAfter, 7);
          assert.ok(!err.message.includes(KEY), err.message);
          return true;
        },
      );
    },
  );
});

Deno.test("postToUpstream: the adapter says when an answer is a stream, not the URL", async () => {
  // A JSON array stream that sends its first element and then waits: read whole it would
  // not be handed over before the upstream finishes.
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  await withUpstream(
    () => {
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode('[{"a":1}'));
          await finished;
          controller.enqueue(new TextEncoder().encode("]"));
          controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/json" } });
    },
    async (url) => {
      const post = { url: `${url}/anything`, headers: {}, body: "{}", ctx: ctx("gemini", url) };
      const res = await postToUpstream(post, true);
      const reader = res.body!.getReader();
      const first = await reader.read();
      assert.equal(new TextDecoder().decode(first.value), '[{"a":1}');
      finish();
      await reader.cancel();
    },
  );
});

/** Every network adapter, answered by `answer`, rejects with this status and code. */
async function everyAdapterRejects(
  answer: () => Response,
  expected: { status: number; code: string },
): Promise<void> {
  await withUpstream(answer, async (url) => {
    for (const type of NETWORK_TYPES) {
      await assert.rejects(upstreamFor(type).send(ir, ctx(type, url)), (err: unknown) => {
        assert.ok(err instanceof UpstreamError, type);
        assert.equal(err.status, expected.status, type);
        assert.equal(err.code, expected.code, type);
        return true;
      });
    }
  });
}

Deno.test("every adapter: an answer that is not JSON is one code, upstream_bad_body (502)", async () => {
  await everyAdapterRejects(
    () =>
      new Response("<html>not json</html>", { headers: { "content-type": "application/json" } }),
    { status: 502, code: "upstream_bad_body" },
  );
});

Deno.test("every adapter: an upstream 5xx is a 502 to the client", async () => {
  await everyAdapterRejects(() => new Response("overloaded", { status: 503 }), {
    status: 502,
    code: "upstream_error",
  });
});

Deno.test("every account-based adapter: no usable account is a 503 no_usable_account", async () => {
  let calls = 0;
  await withUpstream(
    () => {
      calls++;
      return new Response("{}");
    },
    async (url) => {
      for (const type of ["gemini-cli", "qwen", "vertex"] as const) {
        const none = ctx(type, url, { account: undefined });
        await assert.rejects(upstreamFor(type).send(ir, none), (err: unknown) => {
          assert.ok(err instanceof UpstreamError, type);
          assert.equal(err.status, 503, type);
          assert.equal(err.code, "no_usable_account", type);
          return true;
        });
      }
    },
  );
  assert.equal(calls, 0);
});
