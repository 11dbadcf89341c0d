import assert from "node:assert/strict";
import {
  BytesResponse,
  hasBody,
  HeldAnswer,
  jsonAnswer,
  relayAnswer,
  wholeBytesOf,
} from "../../src/http/bytes_response.ts";

const bytes = (s: string) => new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>;

Deno.test("HeldAnswer: its own headers object, reads work once, and the bytes are visible until read", async () => {
  const headers = new Headers({ "content-type": "application/json", "x-ratelimit-x": "1" });
  const held = new HeldAnswer(bytes('{"a":1}'), { status: 201, statusText: "Created" }, headers);
  assert.equal(held.headers, headers);
  assert.equal(held.status, 201);
  assert.ok(hasBody(held));
  assert.equal(new TextDecoder().decode(wholeBytesOf(held)), '{"a":1}');
  assert.deepEqual(await held.clone().json(), { a: 1 });
  assert.deepEqual(await held.json(), { a: 1 });
  assert.ok(held.bodyUsed);
  assert.equal(wholeBytesOf(held), undefined);
  await assert.rejects(held.text(), TypeError);
});

Deno.test("HeldAnswer: asking for its body stream hands the bytes over", async () => {
  const held = new HeldAnswer(bytes("abc"), {}, new Headers());
  const body = held.body;
  assert.ok(held.bodyUsed);
  assert.equal(wholeBytesOf(held), undefined);
  assert.equal(await new Response(body).text(), "abc");
});

Deno.test("relayAnswer: bytes stay bytes under new headers; a stream stays a stream", async () => {
  const held = new HeldAnswer(bytes("xyz"), {}, new Headers({ "set-cookie": "no" }));
  const relayed = relayAnswer(held, { status: 200, headers: { "content-type": "text/plain" } });
  assert.ok(relayed instanceof BytesResponse);
  assert.equal(relayed.headers.get("set-cookie"), null);
  assert.equal(await relayed.text(), "xyz");
  const streamed = relayAnswer(new Response(new Blob(["s"]).stream()), { headers: {} });
  assert.ok(!(streamed instanceof BytesResponse));
  assert.equal(await streamed.text(), "s");
});

Deno.test("jsonAnswer: JSON bytes with its content type, readable in place", async () => {
  const res = jsonAnswer({ ok: true });
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(new TextDecoder().decode(wholeBytesOf(res)), '{"ok":true}');
  assert.deepEqual(await res.json(), { ok: true });
});
