import assert from "node:assert/strict";
import {
  headerRecord,
  inboundResponseHeaders,
  outboundHeaders,
} from "../../src/passthrough/headers.ts";

Deno.test("outbound: identifying, hop-by-hop and recomputed headers are dropped; the rest kept", () => {
  const kept = {
    authorization: "Bearer sk-own",
    "x-api-key": "sk-ant-own",
    "anthropic-version": "2023-06-01",
    "user-agent": "sdk/1",
    "content-type": "application/json",
    cookie: "c=1",
  };
  const inbound = new Headers({
    ...kept,
    host: "gateway.example",
    "content-length": "10",
    expect: "100-continue",
    connection: "keep-alive, x-hop",
    "x-hop": "1",
    "keep-alive": "timeout=5",
    te: "trailers",
    "transfer-encoding": "chunked",
    upgrade: "h2c",
    "proxy-authorization": "Basic abc",
    "x-forwarded-for": "203.0.113.1",
    "x-forwarded-proto": "https",
    "x-real-ip": "203.0.113.1",
    forwarded: "for=203.0.113.1",
    via: "1.1 edge",
    "true-client-ip": "203.0.113.1",
    "cf-connecting-ip": "203.0.113.1",
    "cf-ipcountry": "XX",
    "x-vercel-forwarded-for": "203.0.113.1",
    "x-deno-client-address": "203.0.113.1",
  });
  assert.deepEqual(Object.fromEntries(outboundHeaders(inbound, { secrets: [] })), kept);
});

Deno.test("headerRecord: repeated names become arrays, in order", () => {
  assert.deepEqual(headerRecord([["a", "1"], ["b", "2"], ["a", "3"], ["a", "4"]]), {
    a: ["1", "3", "4"],
    b: "2",
  });
});

Deno.test("outbound: any header carrying a gateway secret is dropped, and named ones too", () => {
  const inbound = new Headers({
    authorization: "Bearer sk-gateway",
    "x-goog-api-key": "AIza-own",
    "x-note": "contains sk-gateway inside",
    supplier: "groq",
  });
  const out = outboundHeaders(inbound, { secrets: ["sk-gateway"], drop: ["supplier"] });
  assert.deepEqual(out, [["x-goog-api-key", "AIza-own"]]);
});

Deno.test("outbound: a WebSocket relay drops the handshake's own headers", () => {
  const inbound = new Headers({
    "sec-websocket-key": "k",
    "sec-websocket-version": "13",
    "sec-websocket-protocol": "p1",
    "sec-websocket-extensions": "permessage-deflate",
    "openai-beta": "realtime=v1",
  });
  assert.deepEqual(outboundHeaders(inbound, { secrets: [], websocket: true }), [
    ["openai-beta", "realtime=v1"],
  ]);
});

Deno.test("inbound: hop-by-hop response headers dropped, repeated ones kept one by one", () => {
  const headers = inboundResponseHeaders([
    "Content-Type",
    "text/event-stream",
    "Set-Cookie",
    "a=1",
    "Set-Cookie",
    "b=2",
    "Connection",
    "keep-alive, X-Conn-Scoped",
    "X-Conn-Scoped",
    "1",
    "Transfer-Encoding",
    "chunked",
    "Keep-Alive",
    "timeout=5",
    "Content-Encoding",
    "gzip",
    "X-Ratelimit-Remaining",
    "9",
  ]);
  assert.deepEqual(headers.getSetCookie(), ["a=1", "b=2"]);
  assert.deepEqual([...new Set(headers.keys())].sort(), [
    "content-encoding",
    "content-type",
    "set-cookie",
    "x-ratelimit-remaining",
  ]);
});
