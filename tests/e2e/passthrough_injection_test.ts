/**
 * Header and path injection on the pass-through routes, sent over a raw socket so no client
 * library normalizes the request line first: a gateway key or a preset cannot be used to reach
 * another host, odd encodings of loopback stay refused, and spoofed or smuggled headers never
 * reach the upstream.
 */
import assert from "node:assert/strict";
import { type EchoedRequest, startEchoServer } from "../fakes/echo_server.ts";
import { startTestGateway } from "./start_gateway.ts";

const KEY = "sk-gateway-inject-41c2";

/** Sends one HTTP/1.1 request exactly as written; returns status, and body text. */
async function raw(
  port: number,
  target: string,
  headers: string[] = [],
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = [`GET ${target} HTTP/1.1`, `host: 127.0.0.1:${port}`, "connection: close"];
    await conn.write(new TextEncoder().encode([...head, ...headers, "", ""].join("\r\n")));
    let text = "";
    const decoder = new TextDecoder();
    const timer = setTimeout(() => conn.close(), 5000);
    try {
      for await (const chunk of conn.readable) text += decoder.decode(chunk, { stream: true });
    } catch {
      // Closed by the timer: the assertions below report what arrived.
    } finally {
      clearTimeout(timer);
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by the peer or the timer.
    }
  }
}

/** The error code of a pass-through error body (chunked framing tolerated). */
function code(body: string): string | undefined {
  return /"code":"([a-z_]+)"/.exec(body)?.[1];
}

Deno.test("pass-through injection: hosts smuggled into the path are refused, loopback in any spelling too", async () => {
  const echo = await startEchoServer();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    passthrough: { presets: { echo: { targets: [echo.url] } } },
  });
  const port = Number(new URL(gw.url).port);
  try {
    // Credentials and encoded separators in the host segment: not a host. (A backslash is a
    // slash to URL parsing, so it only ends the host early; not tried: that host would be
    // looked up in DNS.)
    for (
      const host of [
        `user@127.0.0.1:${echo.port}`,
        `example.com%2F@127.0.0.1:${echo.port}`,
        `127.0.0.1%3A${echo.port}`,
      ]
    ) {
      const res = await raw(port, `/${KEY}/http/${host}/x`);
      assert.equal(res.status, 400, host);
      assert.equal(code(res.body), "bad_target", host);
    }
    // Loopback and metadata written other ways (URL parsing folds them to 127.0.0.1 etc.).
    for (
      const host of [
        `0x7f000001:${echo.port}`,
        `2130706433:${echo.port}`,
        `127.1:${echo.port}`,
        `0177.0.0.1:${echo.port}`,
        `[::ffff:127.0.0.1]:${echo.port}`,
        `[0:0:0:0:0:0:0:1]:${echo.port}`,
        `LOCALHOST:${echo.port}`,
        `foo.localhost:${echo.port}`,
        "169.254.169.254",
        "metadata.google.internal",
      ]
    ) {
      const res = await raw(port, `/${KEY}/http/${host}/latest/meta-data`);
      assert.equal(res.status, 403, host);
      assert.equal(code(res.body), "target_forbidden", host);
    }
    assert.equal(echo.hits, 0, "nothing reached the loopback echo");
  } finally {
    await gw.close();
    await echo.close();
  }
});

Deno.test("pass-through injection: a preset path cannot leave the preset's host; spoofed headers are dropped", async () => {
  const echo = await startEchoServer();
  const gw = await startTestGateway({
    auth: { api_keys: [KEY] },
    passthrough: { presets: { echo: { targets: [`${echo.url}/base`] } } },
  });
  const port = Number(new URL(gw.url).port);
  try {
    // Dot segments, raw or encoded, are resolved by the server before routing (then the path
    // is no pass-through path: 404), or stay inside the preset's origin; a doubled slash is a
    // path, not a new authority. Never another host.
    let relayed = 0;
    for (
      const path of ["/../../x", "/%2e%2e/%2e%2e/x", "/..%2f..%2fx", "//evil.example/x", "/a/../b"]
    ) {
      const res = await raw(port, `/${KEY}/echo${path}`);
      if (res.status === 404) continue;
      assert.equal(res.status, 200, path);
      const seen = JSON.parse(res.body) as EchoedRequest;
      assert.equal(seen.headers.host, `127.0.0.1:${echo.port}`, path);
      relayed++;
    }
    assert.ok(relayed >= 2, `${relayed} of the odd paths were relayed (to the preset's host)`);
    // Spoofed host and forwarding headers, a header named in Connection, the gateway key in a
    // header value and in the query: none of them arrives.
    const res = await raw(port, `/${KEY}/echo/v1/models?key=${KEY}&keep=1`, [
      "x-forwarded-host: evil.example",
      "x-forwarded-for: 203.0.113.9",
      "forwarded: for=203.0.113.9",
      "x-real-ip: 203.0.113.9",
      "cf-connecting-ip: 203.0.113.9",
      "x-vercel-id: abc",
      "x-deno-subhost: abc",
      "connection: close, x-secret-hop",
      "x-secret-hop: 1",
      `x-api-key: ${KEY}`,
      "authorization: Bearer sk-own-provider-key",
    ]);
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body) as EchoedRequest;
    assert.equal(seen.headers.host, `127.0.0.1:${echo.port}`);
    assert.equal(seen.search, "?keep=1");
    assert.equal(seen.headers.authorization, "Bearer sk-own-provider-key");
    for (
      const name of [
        "x-forwarded-host",
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
        "cf-connecting-ip",
        "x-vercel-id",
        "x-deno-subhost",
        "x-secret-hop",
        "x-api-key",
      ]
    ) {
      assert.equal(seen.headers[name], undefined, name);
    }
    assert.ok(!JSON.stringify(seen).includes(KEY), "the gateway key never reaches the upstream");
  } finally {
    await gw.close();
    await echo.close();
  }
});
