/**
 * Pass-through modes end to end: preset relays, supplier routing, the generic proxy with its
 * SSRF guard, WebSocket relaying and header privacy, against echo fakes on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { type EchoedRequest, type EchoServer, startEchoServer } from "../fakes/echo_server.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

const KEY = "sk-gateway-pt-5e1b7c";
const ADMIN = "admin-pt-93ac1";
const UPSTREAM_KEY = "sk-client-own-upstream-key";

async function withSetup(
  passthrough: Record<string, unknown>,
  fn: (gw: TestGateway, echo: EchoServer, echo2: EchoServer) => Promise<void>,
  auth: Record<string, unknown> = { api_keys: [KEY], admin_token: ADMIN },
  limits?: Record<string, unknown>,
): Promise<void> {
  const echo = await startEchoServer();
  const echo2 = await startEchoServer();
  const gw = await startTestGateway({
    auth,
    providers: [{ id: "demo", type: "echo", models: ["demo"] }],
    ...(limits ? { limits } : {}),
    passthrough: {
      ...passthrough,
      presets: {
        echo: { targets: [echo.url] },
        pair: { targets: [echo.url, echo2.url] },
        ...(passthrough.presets as Record<string, unknown> | undefined),
      },
    },
  });
  try {
    await fn(gw, echo, echo2);
  } finally {
    await gw.close();
    await echo.close();
    await echo2.close();
  }
}

async function json<T>(res: Response): Promise<T> {
  return await res.json() as T;
}

function timeout(): AbortSignal {
  return AbortSignal.timeout(5000);
}

Deno.test("preset relay: path, query, method, body and the client's key arrive intact; nothing identifying does", async () => {
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const body = new TextEncoder().encode('{"model":"m","messages":[]}');
    // Every header fetch would add on its own is set, so the full set sent is known.
    const sent: Record<string, string> = {
      accept: "application/json",
      "accept-encoding": "identity",
      "accept-language": "en",
      "user-agent": "my-client/1.0",
      "content-type": "application/json",
      authorization: `Bearer ${UPSTREAM_KEY}`,
      "x-custom": "kept",
      "x-forwarded-for": "203.0.113.9",
      "x-forwarded-host": "gw.example",
      "x-real-ip": "203.0.113.9",
      forwarded: "for=203.0.113.9",
      via: "1.1 cdn",
      "true-client-ip": "203.0.113.9",
      "cf-connecting-ip": "203.0.113.9",
      "cf-ray": "abc",
      "x-vercel-id": "v1",
      "x-deno-subhost": "d1",
      "x-gateway": KEY,
    };
    const res = await fetch(
      `${gw.url}/${KEY}/echo/v1/chat/completions?alt=sse&x=a%20b&key=${KEY}`,
      { method: "POST", headers: sent, body, signal: timeout() },
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-upstream"), "echo");
    const seen = await json<EchoedRequest>(res);
    assert.equal(seen.method, "POST");
    assert.equal(seen.path, "/v1/chat/completions");
    assert.equal(seen.search, "?alt=sse&x=a%20b");
    assert.equal(seen.body, '{"model":"m","messages":[]}');
    assert.equal(seen.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.equal(seen.headers["user-agent"], "my-client/1.0");
    assert.equal(seen.headers.host, `127.0.0.1:${echo.port}`);
    const expected = [
      "accept",
      "accept-encoding",
      "accept-language",
      "authorization",
      "connection",
      "content-length",
      "content-type",
      "host",
      "user-agent",
      "x-custom",
    ];
    assert.deepEqual(Object.keys(seen.headers).sort(), expected);
    assert.ok(!JSON.stringify(seen).includes(KEY), "the gateway key reached the upstream");
  });
});

Deno.test("preset relay: response headers (repeated set-cookie, gzip bytes) pass through consistently", async () => {
  await withSetup({ allow_private: true }, async (gw) => {
    const cookies = await fetch(`${gw.url}/${KEY}/echo/cookies`, { signal: timeout() });
    assert.equal(await cookies.text(), "ok");
    assert.deepEqual(cookies.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
    assert.equal(cookies.headers.get("x-upstream"), "yes");

    const gz = await fetch(`${gw.url}/${KEY}/echo/gzip`, {
      headers: { "accept-encoding": "gzip" },
      signal: timeout(),
    });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    // The relayed length is the compressed length, and the bytes decode to the original.
    assert.ok(Number(gz.headers.get("content-length")) > 0);
    assert.equal(await gz.text(), "compressed hello");
  });
});

Deno.test("preset relay: a stream arrives in as many chunks as sent, without added delay", async () => {
  await withSetup({ allow_private: true }, async (gw) => {
    const n = 5;
    const gap = 100;
    const started = performance.now();
    const res = await fetch(`${gw.url}/${KEY}/echo/stream?n=${n}&gap=${gap}`, {
      signal: timeout(),
    });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const times: number[] = [];
    const texts: string[] = [];
    const dec = new TextDecoder();
    for await (const chunk of res.body!) {
      times.push(performance.now() - started);
      texts.push(dec.decode(chunk));
    }
    assert.equal(texts.length, n, `chunks: ${JSON.stringify(texts)}`);
    texts.forEach((t, i) => assert.equal(t, `data: {"i":${i}}\n\n`));
    // Each chunk comes roughly one gap after the previous: not held back, not coalesced.
    for (let i = 1; i < n; i++) assert.ok(times[i] - times[i - 1] >= gap / 4);
    assert.ok(times[0] < gap * 3, `first chunk after ${times[0]} ms`);
  });
});

Deno.test("preset relay: a client that leaves mid-stream cancels the upstream stream", async () => {
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const controller = new AbortController();
    const res = await fetch(`${gw.url}/${KEY}/echo/stream?n=100&gap=50`, {
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.closed.catch(() => {});
    for (let i = 0; i < 40 && echo.cancelled === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(echo.cancelled, 1);
  });
});

Deno.test("preset relay: a body over limits.max_body_bytes is refused with 413", async () => {
  await withSetup(
    { allow_private: true },
    async (gw, echo) => {
      const res = await fetch(`${gw.url}/${KEY}/echo/upload`, {
        method: "POST",
        body: new Uint8Array(2048),
        signal: timeout(),
      });
      assert.equal(res.status, 413);
      assert.equal((await json<{ error: { code: string } }>(res)).error.code, "too_large");
      assert.equal(echo.hits, 0);
    },
    undefined,
    { max_body_bytes: 1024 },
  );
});

Deno.test("preset relay: several targets are chosen among at random", async () => {
  await withSetup({ allow_private: true }, async (gw, echo, echo2) => {
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${gw.url}/${KEY}/pair/x`, { signal: timeout() });
      await res.body?.cancel();
    }
    assert.equal(echo.hits + echo2.hits, 30);
    assert.ok(echo.hits > 0 && echo2.hits > 0, `hits ${echo.hits} / ${echo2.hits}`);
  });
});

Deno.test("pass-through auth: wrong key 401, unknown kind falls to 404, public presets off by default", async () => {
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const wrong = await fetch(`${gw.url}/sk-wrong/echo/v1/models`, { signal: timeout() });
    assert.equal(wrong.status, 401);
    assert.deepEqual(await wrong.json(), {
      error: { code: "invalid_gateway_key", message: "Invalid gateway key." },
    });
    const bare = await fetch(`${gw.url}/echo/v1/models`, { signal: timeout() });
    assert.equal(bare.status, 404);
    await bare.body?.cancel();
    const unknown = await fetch(`${gw.url}/${KEY}/nope/v1/models`, { signal: timeout() });
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    const supplier = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { supplier: "echo", authorization: `Bearer ${UPSTREAM_KEY}` },
      body: "{}",
      signal: timeout(),
    });
    assert.equal(supplier.status, 401);
    await supplier.body?.cancel();
    assert.equal(echo.hits, 0);
    // Gateway routes still answer as before.
    const health = await fetch(`${gw.url}/health`, { signal: timeout() });
    assert.equal(health.status, 200);
    await health.body?.cancel();
  });
});

Deno.test("pass-through auth: with no client keys configured, key-prefixed routes are refused", async () => {
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const res = await fetch(`${gw.url}/anything/echo/v1/models`, { signal: timeout() });
    assert.equal(res.status, 403);
    assert.equal(
      (await json<{ error: { code: string } }>(res)).error.code,
      "passthrough_needs_keys",
    );
    assert.equal(echo.hits, 0);
  }, { api_keys: [] });
});

Deno.test("pass-through off: its paths are plain 404s and a supplier header is ignored", async () => {
  await withSetup(
    { enabled: false, require_auth: false, allow_private: true },
    async (gw, echo) => {
      for (
        const path of [`/${KEY}/echo/x`, "/echo/x", "/v2/echo/models", `/${KEY}/http/127.0.0.1/`]
      ) {
        const res = await fetch(`${gw.url}${path}`, { signal: timeout() });
        assert.equal(res.status, 404, path);
        await res.body?.cancel();
      }
      const chat = await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { supplier: "echo", authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: "demo", messages: [{ role: "user", content: "hi" }] }),
        signal: timeout(),
      });
      assert.equal(chat.status, 200);
      assert.equal((await json<{ object: string }>(chat)).object, "chat.completion");
      assert.equal(echo.hits, 0);
    },
  );
});

Deno.test("supplier routing and public presets with require_auth false", async () => {
  await withSetup({ allow_private: true, require_auth: false }, async (gw) => {
    const viaPreset = await json<EchoedRequest>(
      await fetch(`${gw.url}/echo/v1beta/models?x=1`, { signal: timeout() }),
    );
    assert.equal(viaPreset.path, "/v1beta/models");
    assert.equal(viaPreset.search, "?x=1");

    const viaV2 = await json<EchoedRequest>(
      await fetch(`${gw.url}/v2/echo/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${UPSTREAM_KEY}`, "content-type": "application/json" },
        body: '{"model":"x"}',
        signal: timeout(),
      }),
    );
    assert.equal(viaV2.path, "/v1/chat/completions");
    assert.equal(viaV2.body, '{"model":"x"}');
    assert.equal(viaV2.headers.authorization, `Bearer ${UPSTREAM_KEY}`);

    const models = await json<EchoedRequest>(
      await fetch(`${gw.url}/v2/echo/models`, { signal: timeout() }),
    );
    assert.equal(models.path, "/v1/models");
    assert.equal(models.method, "GET");

    const viaHeader = await json<EchoedRequest>(
      await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { supplier: "echo", authorization: `Bearer ${UPSTREAM_KEY}` },
        body: '{"model":"y"}',
        signal: timeout(),
      }),
    );
    assert.equal(viaHeader.path, "/v1/chat/completions");
    assert.equal(viaHeader.body, '{"model":"y"}');
    assert.equal(viaHeader.headers.supplier, undefined);

    const unknown = await fetch(`${gw.url}/v2/nope/models`, { signal: timeout() });
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();

    // Without the header, chat is the gateway's own route (the echo provider), as before.
    const own = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model: "demo", messages: [{ role: "user", content: "hi" }] }),
      signal: timeout(),
    });
    assert.equal(own.status, 200);
    assert.equal((await json<{ object: string }>(own)).object, "chat.completion");
  });
});

Deno.test("supplier routing with the gateway key in the path", async () => {
  await withSetup({ allow_private: true }, async (gw) => {
    const v2 = await json<EchoedRequest>(
      await fetch(`${gw.url}/${KEY}/v2/echo/models`, { signal: timeout() }),
    );
    assert.equal(v2.path, "/v1/models");
    const v1 = await json<EchoedRequest>(
      await fetch(`${gw.url}/${KEY}/v1/chat/completions`, {
        method: "POST",
        headers: { supplier: "echo" },
        body: "{}",
        signal: timeout(),
      }),
    );
    assert.equal(v1.path, "/v1/chat/completions");
  });
});

Deno.test("generic proxy: forwards to the host in the path (allow_private on)", async () => {
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const res = await fetch(`${gw.url}/${KEY}/http/127.0.0.1:${echo.port}/some/path?q=1`, {
      method: "PUT",
      body: "payload",
      signal: timeout(),
    });
    const seen = await json<EchoedRequest>(res);
    assert.equal(seen.method, "PUT");
    assert.equal(seen.path, "/some/path");
    assert.equal(seen.search, "?q=1");
    assert.equal(seen.body, "payload");
    assert.equal(seen.headers.host, `127.0.0.1:${echo.port}`);
  });
});

Deno.test("generic proxy: 502 for an unreachable target, 504 when headers do not come in time", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  let release = (): void => {};
  const hold = new Promise<void>((r) => release = r);
  const slow = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    await hold;
    return new Response("late");
  });
  try {
    await withSetup({ allow_private: true, timeout_ms: 300 }, async (gw) => {
      const dead = await fetch(`${gw.url}/${KEY}/http/127.0.0.1:${deadPort}/`, {
        signal: timeout(),
      });
      assert.equal(dead.status, 502);
      assert.equal(
        (await json<{ error: { code: string } }>(dead)).error.code,
        "upstream_unreachable",
      );
      const late = await fetch(`${gw.url}/${KEY}/http/127.0.0.1:${slow.addr.port}/`, {
        signal: timeout(),
      });
      assert.equal(late.status, 504);
      assert.equal((await json<{ error: { code: string } }>(late)).error.code, "upstream_timeout");
    });
  } finally {
    release();
    await slow.shutdown();
  }
});

Deno.test("SSRF guard: loopback targets refused live, also through a redirect", async () => {
  await withSetup({}, async (gw, echo) => {
    for (const host of [`127.0.0.1:${echo.port}`, `[::1]:${echo.port}`, `localhost:${echo.port}`]) {
      for (const scheme of ["http", "https"]) {
        const res = await fetch(`${gw.url}/${KEY}/${scheme}/${host}/x`, { signal: timeout() });
        assert.equal(res.status, 403, `${scheme}://${host}`);
        assert.equal((await json<{ error: { code: string } }>(res)).error.code, "target_forbidden");
      }
    }
    const ws = await fetch(`${gw.url}/${KEY}/ws/127.0.0.1:${echo.port}/x`, {
      headers: { upgrade: "websocket", connection: "upgrade" },
      signal: timeout(),
    });
    assert.equal(ws.status, 403);
    await ws.body?.cancel();
    assert.equal(echo.hits, 0);
  });
  // One loopback host allowed by name: its redirect to another loopback port is re-checked.
  let allowed = 0;
  const echoA = await startEchoServer();
  try {
    allowed = echoA.port;
    await withSetup({ allow_hosts: [`127.0.0.1:${allowed}`] }, async (gw, _echo, echoB) => {
      const direct = await fetch(`${gw.url}/${KEY}/http/127.0.0.1:${allowed}/ok`, {
        signal: timeout(),
      });
      assert.equal((await json<EchoedRequest>(direct)).path, "/ok");
      const to = encodeURIComponent(`http://127.0.0.1:${echoB.port}/internal`);
      const hop = await fetch(`${gw.url}/${KEY}/http/127.0.0.1:${allowed}/redirect?to=${to}`, {
        signal: timeout(),
        redirect: "manual",
      });
      assert.equal(hop.status, 403);
      await hop.body?.cancel();
      assert.equal(echoB.hits, 0);
      // A redirect on the same host is followed; one to another host is refused (502), never
      // handed back to a browser as a redirect from the gateway's origin.
      const same = await fetch(
        `${gw.url}/${KEY}/http/127.0.0.1:${allowed}/redirect?to=/final&status=307`,
        { method: "POST", body: "again", signal: timeout(), redirect: "manual" },
      );
      const final = await json<EchoedRequest>(same);
      assert.equal(final.path, "/final");
      assert.equal(final.body, "again");
      const away = `http://example.invalid:${echoB.port}/elsewhere`;
      const other = await fetch(
        `${gw.url}/${KEY}/http/127.0.0.1:${allowed}/redirect?to=${encodeURIComponent(away)}`,
        { signal: timeout(), redirect: "manual" },
      );
      assert.equal(other.status, 502);
      assert.equal(other.headers.get("location"), null);
      assert.equal(
        (await json<{ error: { code: string } }>(other)).error.code,
        "upstream_redirect",
      );
    });
  } finally {
    await echoA.close();
  }
});

/** Opens a WebSocket and waits for it to be open. */
async function openSocket(url: string, protocols: string[] = []): Promise<WebSocket> {
  const ws = new WebSocket(url, { protocols, headers: { "x-forwarded-for": "203.0.113.7" } });
  ws.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("socket failed to open"));
  });
  return ws;
}

function nextMessage(ws: WebSocket): Promise<string | ArrayBuffer> {
  return new Promise((resolve) =>
    ws.addEventListener("message", (e) => resolve(e.data), { once: true })
  );
}

function closed(ws: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) => ws.addEventListener("close", (e) => resolve(e), { once: true }));
}

Deno.test("WebSocket relay: text and binary round trip, subprotocol, closes in both directions", async () => {
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const base = gw.url.replace(/^http/, "ws");
    const ws = await openSocket(`${base}/${KEY}/ws/127.0.0.1:${echo.port}/socket`, ["p1", "p2"]);
    assert.equal(ws.protocol, "p1");
    let reply = nextMessage(ws);
    ws.send("hello");
    assert.equal(await reply, "hello");
    reply = nextMessage(ws);
    ws.send(new Uint8Array([0, 1, 2, 255]));
    const bin = await reply;
    assert.ok(bin instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(bin)], [0, 1, 2, 255]);
    reply = nextMessage(ws);
    ws.send("headers");
    const upstreamHeaders = JSON.parse(await reply as string) as Record<string, string>;
    assert.equal(upstreamHeaders["x-forwarded-for"], undefined);
    assert.equal(upstreamHeaders.host, `127.0.0.1:${echo.port}`);
    // Client closes: the upstream sees the same code and reason.
    const upstreamSaw = echo.nextClose();
    const done = closed(ws);
    ws.close(4000, "done");
    assert.deepEqual(await upstreamSaw, { code: 4000, reason: "done" });
    await done;

    // Upstream closes: the client sees it, through a preset this time.
    const ws2 = await openSocket(`${base}/${KEY}/echo/socket`);
    const ended = closed(ws2);
    ws2.send("close-me");
    const ev = await ended;
    assert.equal(ev.code, 4001);
    assert.equal(ev.reason, "bye");
  });
});

Deno.test("WebSocket relay: an unreachable upstream is a 502, a refusal is relayed as it is", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const upgrade = {
    upgrade: "websocket",
    connection: "upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const dead = await fetch(`${gw.url}/${KEY}/ws/127.0.0.1:${deadPort}/x`, {
      headers: upgrade,
      signal: timeout(),
    });
    assert.equal(dead.status, 502);
    assert.equal(
      (await json<{ error: { code: string } }>(dead)).error.code,
      "upstream_unreachable",
    );
    const denied = await fetch(`${gw.url}/${KEY}/ws/127.0.0.1:${echo.port}/deny`, {
      headers: upgrade,
      signal: timeout(),
    });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get("x-upstream"), "deny");
    assert.deepEqual(await denied.json(), { error: "no key" });
  });
});

Deno.test("WebSocket relay: large messages both ways, and the upstream handshake carries only the client's headers", async () => {
  await withSetup({ allow_private: true }, async (gw, echo) => {
    const base = gw.url.replace(/^http/, "ws");
    const ws = new WebSocket(`${base}/${KEY}/echo/big`, {
      headers: {
        authorization: `Bearer ${UPSTREAM_KEY}`,
        "x-real-ip": "203.0.113.7",
        "cf-connecting-ip": "203.0.113.7",
      },
    });
    ws.binaryType = "arraybuffer";
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("socket failed to open"));
    });
    let reply = nextMessage(ws);
    ws.send("headers");
    const seen = JSON.parse(await reply as string) as Record<string, string>;
    assert.equal(seen.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.equal(seen.host, `127.0.0.1:${echo.port}`);
    assert.deepEqual(Object.keys(seen).sort(), [
      "authorization",
      "connection",
      "host",
      "sec-websocket-key",
      "sec-websocket-version",
      "upgrade",
      "user-agent",
    ]);
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    reply = nextMessage(ws);
    ws.send(big);
    assert.deepEqual(new Uint8Array(await reply as ArrayBuffer), big);
    const text = "é".repeat(70_000);
    reply = nextMessage(ws);
    ws.send(text);
    assert.equal(await reply, text);
    const done = closed(ws);
    ws.close();
    await done;
  });
});
