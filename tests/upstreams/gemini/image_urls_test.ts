/**
 * Image URLs through a Gemini adapter: the call context's `imageFetch` (the operator's guard
 * exceptions and bounds) decides whether a loopback image host may be read; without it only
 * public hosts are fetched. Only 127.0.0.1 fakes are contacted.
 */
import assert from "node:assert/strict";
import { providerSchema } from "../../../src/config/schema.ts";
import { RequestError } from "../../../src/errors.ts";
import { IMAGE_FETCH_DEFAULTS } from "../../../src/formats/gemini/image_fetch_config.ts";
import type { IrRequest } from "../../../src/ir/types.ts";
import { geminiUpstream } from "../../../src/upstreams/gemini/adapter.ts";
import type { CallContext } from "../../../src/upstreams/types.ts";
import { startFakeGemini } from "../../fakes/gemini_upstream.ts";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 9, 9]);

Deno.test("gemini adapter: image URLs go through the guard with the context's allow list", async () => {
  const fake = await startFakeGemini();
  let hits = 0;
  const images = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    hits++;
    return new Response(PNG, { headers: { "content-type": "image/png" } });
  });
  const imageHost = `127.0.0.1:${images.addr.port}`;
  const ctx = (extra: Partial<CallContext> = {}): CallContext => ({
    provider: providerSchema.parse({
      id: "g",
      type: "gemini",
      base_url: fake.url,
      api_keys: ["AIzaSyFake-0123456789abcdefghijkl"],
    }),
    model: "gemini-2.5-flash",
    apiKey: "AIzaSyFake-0123456789abcdefghijkl",
    signal: new AbortController().signal,
    clientHeaders: new Headers(),
    ...extra,
  });
  const ir = (urls: string[]): IrRequest => ({
    model: "m",
    system: [],
    messages: [{
      role: "user",
      parts: [
        { type: "text", text: "what is this?" },
        ...urls.map((url) => ({ type: "image" as const, source: { kind: "url" as const, url } })),
      ],
    }],
    tools: [],
    stop: [],
    stream: false,
  });
  try {
    // No settings: loopback, in any spelling, is refused before the upstream is called.
    for (
      const url of [
        `http://${imageHost}/a.png`,
        `http://[::ffff:127.0.0.1]:${images.addr.port}/a.png`,
      ]
    ) {
      await assert.rejects(geminiUpstream.send(ir([url]), ctx()), (err: unknown) => {
        assert.ok(err instanceof RequestError);
        assert.match(err.message, /private or loopback/);
        return true;
      });
    }
    assert.equal(hits, 0);
    assert.equal(fake.requests.length, 0);

    const allowed = {
      imageFetch: {
        policy: { allowPrivate: false, allowHosts: [imageHost] },
        limits: { ...IMAGE_FETCH_DEFAULTS, max_images: 2 },
      },
    };
    await geminiUpstream.send(ir([`http://${imageHost}/a.png`]), ctx(allowed));
    assert.equal(hits, 1);
    const sent = JSON.stringify(fake.requests[0].body);
    assert.ok(sent.includes(btoa(String.fromCharCode(...PNG))), "image inlined");

    const three = [1, 2, 3].map((i) => `http://${imageHost}/${i}.png`);
    await assert.rejects(geminiUpstream.send(ir(three), ctx(allowed)), (err: unknown) => {
      assert.ok(err instanceof RequestError);
      assert.equal(err.code, "too_many_images");
      return true;
    });
    assert.equal(hits, 1);
  } finally {
    await images.shutdown();
    await fake.close();
  }
});
