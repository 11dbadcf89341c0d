import assert from "node:assert/strict";
import { RequestError } from "../../../src/errors.ts";
import { fetchImageAsInlineData } from "../../../src/formats/gemini/image_fetch.ts";
import { irToGeminiRequest } from "../../../src/formats/gemini/request.ts";
import type { IrRequest } from "../../../src/ir/types.ts";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5]);

/** A loopback image server: /png, /sniff (octet-stream), /big, /big-chunked, /html, /missing, /slow, /redirect. */
async function withImageServer(fn: (base: string) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: ({ port }) => resolve(port),
  }, async (req) => {
    const path = new URL(req.url).pathname;
    switch (path) {
      case "/png":
        return new Response(PNG, { headers: { "content-type": "image/png; charset=binary" } });
      case "/sniff":
        return new Response(PNG, { headers: { "content-type": "application/octet-stream" } });
      case "/big":
        return new Response(new Uint8Array(2048), { headers: { "content-type": "image/jpeg" } });
      case "/big-chunked": {
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= 4096) return c.close();
            sent += 512;
            c.enqueue(new Uint8Array(512));
          },
        });
        return new Response(body, { headers: { "content-type": "image/jpeg" } });
      }
      case "/html":
        return new Response("<html></html>", { headers: { "content-type": "text/html" } });
      case "/slow":
        await new Promise((r) => setTimeout(r, 500));
        return new Response(PNG, { headers: { "content-type": "image/png" } });
      case "/redirect":
        return new Response(null, { status: 302, headers: { location: "/png" } });
      default:
        return new Response("no", { status: 404 });
    }
  });
  const port = await listening;
  try {
    await fn(`http://127.0.0.1:${port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RequestError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, re);
    return true;
  });
}

Deno.test("image URL fetch: success becomes inlineData in the upstream request", async () => {
  await withImageServer(async (base) => {
    const ir: IrRequest = {
      model: "m",
      system: [],
      messages: [{
        role: "user",
        parts: [
          { type: "text", text: "what is this?" },
          { type: "image", source: { kind: "url", url: `${base}/png` } },
          { type: "image", source: { kind: "url", url: `${base}/redirect` } },
        ],
      }],
      tools: [],
      stop: [],
      stream: false,
    };
    const wire = await irToGeminiRequest(ir, { images: { allowPrivateNetwork: true } });
    const data = btoa(String.fromCharCode(...PNG));
    assert.deepEqual(wire.contents[0].parts, [
      { text: "what is this?" },
      { inlineData: { mimeType: "image/png", data } },
      { inlineData: { mimeType: "image/png", data } },
    ]);
    const sniffed = await fetchImageAsInlineData(`${base}/sniff`, { allowPrivateNetwork: true });
    assert.equal(sniffed.mimeType, "image/png");
  });
});

Deno.test("image URL fetch: too large (declared or streamed), not an image, 404 → 400", async () => {
  await withImageServer(async (base) => {
    const opts = { allowPrivateNetwork: true, maxBytes: 1024 };
    await rejectsWith(fetchImageAsInlineData(`${base}/big`, opts), /larger than 1024 bytes/);
    await rejectsWith(
      fetchImageAsInlineData(`${base}/big-chunked`, opts),
      /larger than 1024 bytes/,
    );
    await rejectsWith(fetchImageAsInlineData(`${base}/html`, opts), /not an image/);
    await rejectsWith(fetchImageAsInlineData(`${base}/missing?token=secret`, opts), /answered 404/);
    await rejectsWith(
      fetchImageAsInlineData(`${base}/missing?token=secret`, opts).catch((e: Error) => {
        assert.ok(!e.message.includes("secret"), "query strings are not echoed");
        throw e;
      }),
      /missing/,
    );
  });
});

Deno.test("image URL fetch: unreachable host, timeout, bad scheme → 400", async () => {
  // A port that was just free: nothing listens there.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await rejectsWith(
    fetchImageAsInlineData(`http://127.0.0.1:${port}/x.png`, { allowPrivateNetwork: true }),
    /unreachable/,
  );
  await withImageServer(async (base) => {
    await rejectsWith(
      fetchImageAsInlineData(`${base}/slow`, { allowPrivateNetwork: true, timeoutMs: 50 }),
      /within 50 ms/,
    );
  });
  await rejectsWith(fetchImageAsInlineData("ftp://example.com/x.png"), /http and https/);
});

Deno.test("image URL fetch: private and loopback hosts are refused by default", async () => {
  for (
    const url of [
      "http://127.0.0.1:1/x.png",
      "http://localhost/x.png",
      "http://10.0.0.8/x",
      "http://[::1]/x",
      "http://169.254.169.254/latest",
    ]
  ) {
    await rejectsWith(
      fetchImageAsInlineData(url, { fetch: () => Promise.reject(new Error("must not fetch")) }),
      /private or loopback/,
    );
  }
});
