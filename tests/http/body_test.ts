import assert from "node:assert/strict";
import { MAX_JSON_DEPTH, nestsDeeperThan, readBounded, readJsonBody } from "../../src/http/body.ts";
import { RequestError } from "../../src/errors.ts";

const enc = new TextEncoder();
const URL_ = "http://127.0.0.1/v1/chat/completions";

function post(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request(URL_, { method: "POST", body, headers });
}

/** A streamed body with no content-length; counts how many chunks were pulled. */
function streamedRequest(
  chunks: Uint8Array[],
): { req: Request; pulled: () => number; cancelled: () => boolean } {
  let i = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]);
      else c.close();
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  const req = new Request(URL_, { method: "POST", body });
  return { req, pulled: () => i, cancelled: () => cancelled };
}

async function rejectsWith(
  p: Promise<unknown>,
  expected: { status: number; code: string; message?: RegExp },
): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RequestError, `expected RequestError, got ${err}`);
    assert.equal(err.status, expected.status);
    assert.equal(err.code, expected.code);
    if (expected.message) assert.match(err.message, expected.message);
    return true;
  });
}

Deno.test("readJsonBody returns the raw bytes and the parsed object", async () => {
  const text = '{"model":"m","messages":[{"role":"user","content":"héllo 你"}]}';
  const { raw, json } = await readJsonBody(post(text), 1024);
  assert.deepEqual(raw, enc.encode(text));
  assert.deepEqual(json, { model: "m", messages: [{ role: "user", content: "héllo 你" }] });
});

Deno.test("readJsonBody joins a body streamed in several chunks", async () => {
  const text = '{"a":"é","b":[1,2,3]}';
  const bytes = enc.encode(text);
  const chunks = Array.from(bytes, (b) => new Uint8Array([b]));
  const { req } = streamedRequest(chunks);
  const { raw, json } = await readJsonBody(req, 1024);
  assert.deepEqual(raw, bytes);
  assert.deepEqual(json, { a: "é", b: [1, 2, 3] });
});

Deno.test("readJsonBody accepts a body of exactly the limit", async () => {
  const text = '{"k":"' + "x".repeat(10) + '"}';
  const { json } = await readJsonBody(post(text), enc.encode(text).length);
  assert.deepEqual(json, { k: "x".repeat(10) });
});

Deno.test("readJsonBody rejects by content-length with 413 before reading", async () => {
  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled = true;
      c.enqueue(enc.encode("{}"));
      c.close();
    },
  }, { highWaterMark: 0 });
  const req = new Request(URL_, { method: "POST", body, headers: { "content-length": "101" } });
  await rejectsWith(readJsonBody(req, 100), {
    status: 413,
    code: "request_too_large",
    message: /100 bytes/,
  });
  assert.equal(pulled, false, "the body must not be read when content-length is too large");
});

Deno.test("readJsonBody rejects by actual size with 413 when there is no content-length", async () => {
  const { req, pulled, cancelled } = streamedRequest([
    enc.encode('{"a":"'),
    enc.encode("x".repeat(60)),
    enc.encode("y".repeat(60)),
    enc.encode("z".repeat(60)),
    enc.encode('"}'),
  ]);
  assert.equal(req.headers.get("content-length"), null);
  await rejectsWith(readJsonBody(req, 100), { status: 413, code: "request_too_large" });
  assert.ok(pulled() < 5, "reading stops once the limit is passed");
  assert.equal(cancelled(), true, "the body stream is cancelled");
});

Deno.test("readJsonBody rejects by actual size when content-length understates it", async () => {
  const body = ReadableStream.from([enc.encode('{"a":"' + "x".repeat(200) + '"}')]);
  const req = new Request(URL_, { method: "POST", body, headers: { "content-length": "10" } });
  assert.equal(req.headers.get("content-length"), "10");
  await rejectsWith(readJsonBody(req, 100), { status: 413, code: "request_too_large" });
});

Deno.test("readJsonBody: invalid JSON is a 400 with code invalid_json", async () => {
  for (const text of ["{", "{'a':1}", "not json", '{"a":1}garbage']) {
    await rejectsWith(readJsonBody(post(text), 1024), {
      status: 400,
      code: "invalid_json",
      message: /not valid JSON/,
    });
  }
});

Deno.test("readJsonBody: JSON that is not an object is rejected", async () => {
  for (const text of ["[1,2]", '"str"', "42", "null", "true"]) {
    await rejectsWith(readJsonBody(post(text), 1024), {
      status: 400,
      code: "invalid_json",
      message: /must be a JSON object/,
    });
  }
});

Deno.test("readJsonBody: an empty or missing body is a 400 invalid_request", async () => {
  await rejectsWith(readJsonBody(post(""), 1024), {
    status: 400,
    code: "invalid_request",
    message: /empty/,
  });
  await rejectsWith(readJsonBody(new Request(URL_, { method: "POST" }), 1024), {
    status: 400,
    code: "invalid_request",
    message: /empty/,
  });
  const { req } = streamedRequest([]);
  await rejectsWith(readJsonBody(req, 1024), { status: 400, code: "invalid_request" });
});

Deno.test("readJsonBody: invalid UTF-8 is rejected as invalid_json, not replaced", async () => {
  const bytes = new Uint8Array([...enc.encode('{"a":"'), 0xff, 0xfe, ...enc.encode('"}')]);
  await rejectsWith(readJsonBody(post(bytes), 1024), { status: 400, code: "invalid_json" });
  // A UTF-8 sequence truncated at the end of the body.
  const truncated = new Uint8Array([...enc.encode('{"a":"'), 0xe4, 0xbd]);
  await rejectsWith(readJsonBody(post(truncated), 1024), { status: 400, code: "invalid_json" });
});

Deno.test("readJsonBody: a body stream that fails mid-read is a 400", async () => {
  let n = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (n++ === 0) c.enqueue(enc.encode('{"a":'));
      else c.error(new Error("socket closed"));
    },
  });
  await rejectsWith(readJsonBody(new Request(URL_, { method: "POST", body }), 1024), {
    status: 400,
    code: "invalid_request",
    message: /could not be read/,
  });
});

Deno.test("readJsonBody: a body that stops arriving is a 408 within the idle timeout, and is cancelled", async () => {
  let cancelled = false;
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(enc.encode('{"model":"m","messages":'));
      }
      // then nothing, ever
      return new Promise(() => {});
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  const started = Date.now();
  await rejectsWith(readJsonBody(post(body), 1024, { idleTimeoutMs: 100 }), {
    status: 408,
    code: "request_timeout",
    message: /stopped arriving/,
  });
  assert.ok(Date.now() - started < 2_000);
  assert.ok(cancelled);
});

Deno.test("readJsonBody: a large declared body is read into one buffer; a short one is refused", async () => {
  const text = JSON.stringify({ model: "m", pad: "x".repeat(600_000) });
  const bytes = enc.encode(text);
  const { raw, json } = await readJsonBody(
    post(bytes, { "content-length": String(bytes.byteLength) }),
    1_000_000,
  );
  assert.equal(raw.byteLength, bytes.byteLength);
  assert.equal((json as { pad: string }).pad.length, 600_000);
  const short = post(bytes.slice(0, 500_000), { "content-length": String(bytes.byteLength) });
  await rejectsWith(readJsonBody(short, 1_000_000), {
    status: 400,
    code: "invalid_request",
    message: /ended before its declared length/,
  });
});

Deno.test("nestsDeeperThan counts objects and arrays, iteratively", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { a: deep };
  assert.equal(nestsDeeperThan(deep as object, MAX_JSON_DEPTH), true);
  assert.equal(nestsDeeperThan({ a: [{ b: 1 }], c: "x" }, 3), false);
  assert.equal(nestsDeeperThan({ a: [{ b: {} }] }, 3), true);
});

/** A byte stream (as an upstream body is) of these pieces, answering BYOB reads. */
function byteStream(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    type: "bytes",
    pull(c) {
      const request = c.byobRequest;
      if (i === pieces.length) {
        c.close();
        request?.respond(0);
        return;
      }
      const piece = pieces[i++];
      if (request?.view) {
        new Uint8Array(request.view.buffer, request.view.byteOffset).set(piece);
        request.respond(piece.byteLength);
      } else {
        c.enqueue(piece);
      }
    },
  });
}

Deno.test("readBounded: a byte stream read through one reused buffer keeps every piece's bytes", async () => {
  const pieces = ['{"a":', '"bb",', '"c":[1,2,3]}'].map((p) => enc.encode(p));
  const whole = await readBounded(byteStream(pieces), 1000);
  assert.equal(new TextDecoder().decode(whole), '{"a":"bb","c":[1,2,3]}');
  // The same from a plain (not byte) stream.
  const plain = await readBounded(ReadableStream.from(pieces), 1000);
  assert.equal(new TextDecoder().decode(plain), '{"a":"bb","c":[1,2,3]}');
  // Past the bound: undefined, and the source is cancelled.
  assert.equal(await readBounded(byteStream(pieces), 8), undefined);
});
