import assert from "node:assert/strict";
import { RequestError } from "../../../src/errors.ts";
import type { RawRequest } from "../../../src/http/raw_exchange.ts";
import type { AddressPolicy, Resolver } from "../../../src/http/ssrf_guard.ts";
import {
  fetchImageAsInlineData,
  fetchImages,
  type ImageFetchOptions,
  type ImageFetchSettings,
  imageFetchSettingsOf,
} from "../../../src/formats/gemini/image_fetch.ts";
import {
  IMAGE_FETCH_DEFAULTS,
  type ImageFetchConfig,
} from "../../../src/formats/gemini/image_fetch_config.ts";
import { irToGeminiRequest } from "../../../src/formats/gemini/request.ts";
import { configSchema } from "../../../src/config/schema.ts";
import type { IrRequest } from "../../../src/ir/types.ts";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5]);

interface ImageServer {
  base: string;
  host: string;
  /** Requests received, by path. */
  hits: string[];
  /** Most requests that were being answered at the same time. */
  maxInFlight: number;
}

/**
 * A loopback image server: /png, /sniff (octet-stream), /big, /big-chunked, /html, /missing,
 * /slow, /redirect, /kb/N (1000 bytes of PNG after 30 ms, counting requests in flight).
 */
async function withImageServer(fn: (s: ImageServer) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  let inFlight = 0;
  const state = { hits: [] as string[], maxInFlight: 0 };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: ({ port }) => resolve(port),
  }, async (req) => {
    const path = new URL(req.url).pathname;
    state.hits.push(path);
    if (path.startsWith("/kb/")) {
      inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      const body = new Uint8Array(1000);
      body.set(PNG);
      return new Response(body, { headers: { "content-type": "image/png" } });
    }
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
    await fn({
      base: `http://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      get hits() {
        return state.hits;
      },
      get maxInFlight() {
        return state.maxInFlight;
      },
    });
  } finally {
    ac.abort();
    await server.finished;
  }
}

/** The operator lets exactly this host through the guard, with these bounds. */
function allowing(host: string, limits: Partial<ImageFetchConfig> = {}): ImageFetchOptions {
  return {
    settings: {
      policy: { allowPrivate: false, allowHosts: [host] },
      limits: { ...IMAGE_FETCH_DEFAULTS, ...limits },
    },
  };
}

async function rejectsWith(p: Promise<unknown>, re: RegExp, code?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RequestError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, re);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

const neverSend = (): Promise<Response> => Promise.reject(new Error("must not connect"));

Deno.test("image URL fetch: success becomes inlineData in the upstream request", async () => {
  await withImageServer(async (s) => {
    const ir: IrRequest = {
      model: "m",
      system: [],
      messages: [{
        role: "user",
        parts: [
          { type: "text", text: "what is this?" },
          { type: "image", source: { kind: "url", url: `${s.base}/png` } },
          { type: "image", source: { kind: "url", url: `${s.base}/redirect` } },
        ],
      }],
      tools: [],
      stop: [],
      stream: false,
    };
    const wire = await irToGeminiRequest(ir, { images: allowing(s.host) });
    const data = btoa(String.fromCharCode(...PNG));
    assert.deepEqual(wire.contents[0].parts, [
      { text: "what is this?" },
      { inlineData: { mimeType: "image/png", data } },
      { inlineData: { mimeType: "image/png", data } },
    ]);
    const sniffed = await fetchImageAsInlineData(`${s.base}/sniff`, allowing(s.host));
    assert.equal(sniffed.mimeType, "image/png");
  });
});

Deno.test("image URL fetch: too large (declared or streamed), not an image, 404 → 400", async () => {
  await withImageServer(async (s) => {
    const opts = allowing(s.host, { max_image_bytes: 1024 });
    await rejectsWith(fetchImageAsInlineData(`${s.base}/big`, opts), /larger than 1024 bytes/);
    await rejectsWith(
      fetchImageAsInlineData(`${s.base}/big-chunked`, opts),
      /larger than 1024 bytes/,
    );
    await rejectsWith(fetchImageAsInlineData(`${s.base}/html`, opts), /not an image/);
    await rejectsWith(
      fetchImageAsInlineData(`${s.base}/missing?token=secret`, opts),
      /answered 404/,
    );
    await rejectsWith(
      fetchImageAsInlineData(`${s.base}/missing?token=secret`, opts).catch((e: Error) => {
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
    fetchImageAsInlineData(`http://127.0.0.1:${port}/x.png`, allowing(`127.0.0.1:${port}`)),
    /unreachable/,
  );
  await withImageServer(async (s) => {
    await rejectsWith(
      fetchImageAsInlineData(`${s.base}/slow`, { ...allowing(s.host), timeoutMs: 50 }),
      /within 50 ms/,
    );
  });
  await rejectsWith(fetchImageAsInlineData("ftp://example.com/x.png"), /http and https/);
});

Deno.test("image URL fetch: private and loopback hosts are refused by default, every spelling", async () => {
  const resolve: Resolver = (host) =>
    Promise.resolve(
      host === "loopback.example" ? [{ address: "127.0.0.1", family: 4 }] : [{
        address: "::ffff:169.254.169.254",
        family: 6,
      }],
    );
  for (
    const url of [
      "http://127.0.0.1:1/x.png",
      "http://localhost/x.png",
      "http://10.0.0.8/x",
      "http://[::1]/x",
      "http://169.254.169.254/latest",
      // new URL() writes these as [::ffff:7f00:1], [::ffff:a9fe:a9fe], 127.0.0.1
      "http://[::ffff:127.0.0.1]/x.png",
      "http://[::ffff:169.254.169.254]/latest",
      "http://[0:0:0:0:0:ffff:7f00:1]/x.png",
      "http://2130706433/x.png",
      "http://0x7f.1/x.png",
      // NAT64, 6to4 and IPv4-compatible forms of loopback and metadata
      "http://[64:ff9b::7f00:1]/x.png",
      "http://[2002:a9fe:a9fe::1]/x.png",
      "http://[::127.0.0.1]/x.png",
      // Names that resolve to non-public addresses
      "http://loopback.example/x.png",
      "http://metadata.example/x.png",
    ]
  ) {
    await rejectsWith(
      fetchImageAsInlineData(url, { resolve, send: neverSend }),
      /private or loopback/,
    );
  }
});

Deno.test("image URL fetch: [::ffff:127.0.0.1] never reaches a loopback server by default", async () => {
  await withImageServer(async (s) => {
    const port = new URL(s.base).port;
    await rejectsWith(
      fetchImageAsInlineData(`http://[::ffff:127.0.0.1]:${port}/png`),
      /private or loopback/,
    );
    assert.deepEqual(s.hits, []);
  });
});

Deno.test("image URL fetch: DNS rebinding — one lookup, the download goes to the checked address", async () => {
  let lookups = 0;
  const rebinding: Resolver = () => {
    lookups++;
    const address = lookups === 1 ? "93.184.216.34" : "127.0.0.1";
    return Promise.resolve([{ address, family: 4 }]);
  };
  const hops: RawRequest[] = [];
  const send = (r: RawRequest): Promise<Response> => {
    hops.push(r);
    return Promise.resolve(new Response(PNG, { headers: { "content-type": "image/png" } }));
  };
  const img = await fetchImageAsInlineData("https://images.example/cat.png", {
    resolve: rebinding,
    send,
  });
  assert.equal(img.mimeType, "image/png");
  assert.equal(lookups, 1, "no second lookup between check and connect");
  assert.deepEqual(hops.map((h) => h.addresses), [[{ address: "93.184.216.34", family: 4 }]]);

  // A redirect back to the same name is looked up again, and this time it is refused.
  lookups = 0;
  hops.length = 0;
  const redirecting = (r: RawRequest): Promise<Response> => {
    hops.push(r);
    return Promise.resolve(new Response(null, { status: 302, headers: { location: "/b.png" } }));
  };
  await rejectsWith(
    fetchImageAsInlineData("https://images.example/a.png", {
      resolve: rebinding,
      send: redirecting,
    }),
    /private or loopback/,
  );
  assert.equal(lookups, 2);
  assert.equal(hops.length, 1);
});

Deno.test("image URL fetch: allow_hosts and allow_private from the config let a loopback host through", async () => {
  await withImageServer(async (s) => {
    const config = (passthrough: Record<string, unknown>) =>
      configSchema.parse({ providers: [], passthrough });
    const listed = imageFetchSettingsOf(config({ allow_hosts: [s.host] }));
    assert.equal(
      (await fetchImageAsInlineData(`${s.base}/png`, { settings: listed })).mimeType,
      "image/png",
    );
    const open = imageFetchSettingsOf(config({ allow_private: true }));
    assert.equal(
      (await fetchImageAsInlineData(`${s.base}/png`, { settings: open })).mimeType,
      "image/png",
    );
    // Another port on the same address is not listed.
    const other: ImageFetchSettings = {
      ...listed,
      policy: { allowPrivate: false, allowHosts: ["127.0.0.1:1"] } satisfies AddressPolicy,
    };
    await rejectsWith(
      fetchImageAsInlineData(`${s.base}/png`, { settings: other }),
      /private or loopback/,
    );
    const closed = imageFetchSettingsOf(config({}));
    assert.deepEqual(closed.limits, IMAGE_FETCH_DEFAULTS);
    const parsed = config({});
    assert.equal(imageFetchSettingsOf(parsed), imageFetchSettingsOf(parsed), "one per config");
    await rejectsWith(
      fetchImageAsInlineData(`${s.base}/png`, { settings: closed }),
      /private or loopback/,
    );
  });
});

Deno.test("image URL fetch: more URLs than max_images → 400 before any download", async () => {
  await withImageServer(async (s) => {
    const urls = Array.from({ length: 30 }, (_, i) => `${s.base}/kb/${i}`);
    await rejectsWith(
      fetchImages(urls, allowing(s.host)),
      /30 image URLs; at most 16/,
      "too_many_images",
    );
    assert.deepEqual(s.hits, []);
    // The same URL twice is one download.
    const twice = await fetchImages([`${s.base}/png`, `${s.base}/png`], allowing(s.host));
    assert.equal(twice.size, 1);
    assert.deepEqual(s.hits, ["/png"]);
  });
});

Deno.test("image URL fetch: 30 URLs download at most `concurrency` at a time", async () => {
  await withImageServer(async (s) => {
    const urls = Array.from({ length: 30 }, (_, i) => `${s.base}/kb/${i}`);
    const got = await fetchImages(urls, allowing(s.host, { max_images: 30, concurrency: 4 }));
    assert.equal(got.size, 30);
    assert.equal(s.hits.length, 30);
    assert.ok(s.maxInFlight <= 4, `at most 4 in flight, saw ${s.maxInFlight}`);
    assert.ok(s.maxInFlight >= 2, `downloads overlap, saw ${s.maxInFlight}`);
  });
});

Deno.test("image URL fetch: the request's total bytes are capped; the first failure stops the rest", async () => {
  await withImageServer(async (s) => {
    const urls = Array.from({ length: 10 }, (_, i) => `${s.base}/kb/${i}`);
    // 1000 bytes each: the fourth image passes 3500 bytes.
    await rejectsWith(
      fetchImages(urls, allowing(s.host, { max_total_bytes: 3500, concurrency: 1 })),
      /larger than 3500 bytes together/,
      "images_too_large",
    );
    assert.equal(s.hits.length, 4, "no download starts after the cap is reached");
    // In parallel too: never more than the cap plus the chunks in flight.
    s.hits.length = 0;
    await rejectsWith(
      fetchImages(urls, allowing(s.host, { max_total_bytes: 3500, concurrency: 4 })),
      /together/,
      "images_too_large",
    );
    assert.ok(s.hits.length <= 8, `stopped early (${s.hits.length} requests)`);
    s.hits.length = 0;
    await rejectsWith(
      fetchImages([`${s.base}/missing`, ...urls], allowing(s.host, { concurrency: 1 })),
      /answered 404/,
    );
    assert.deepEqual(s.hits, ["/missing"]);
  });
});

Deno.test("config: limits.image_fetch defaults, partial settings and bounds", () => {
  const parse = (raw: Record<string, unknown>) => configSchema.safeParse({ providers: [], ...raw });
  assert.deepEqual(parse({}).data?.limits.image_fetch, IMAGE_FETCH_DEFAULTS);
  assert.deepEqual(parse({ limits: {} }).data?.limits.image_fetch, IMAGE_FETCH_DEFAULTS);
  assert.deepEqual(
    parse({ limits: { image_fetch: { concurrency: 2 } } }).data?.limits.image_fetch,
    {
      ...IMAGE_FETCH_DEFAULTS,
      concurrency: 2,
    },
  );
  assert.equal(parse({ limits: { image_fetch: { concurrency: 0 } } }).success, false);
  assert.equal(parse({ limits: { image_fetch: { max_image: 3 } } }).success, false, "typo refused");
});
