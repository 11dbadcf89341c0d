import assert from "node:assert/strict";
import { guardSseStream } from "../../src/http/stream_guard.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const ERROR_BYTES = enc.encode('data: {"error":{"message":"upstream broke"}}\n\n');

/** A source stream the test drives by hand, recording cancel calls. */
function controlledSource() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancels: unknown[] = [];
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel(reason) {
      cancels.push(reason);
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    cancels,
    push: (text: string) => controller.enqueue(enc.encode(text)),
    close: () => controller.close(),
    error: (err: unknown) => controller.error(err),
  };
}

function guard(body: ReadableStream<Uint8Array>) {
  const errors: unknown[] = [];
  let ends = 0;
  const out = guardSseStream(body, {
    onError: (err) => {
      errors.push(err);
      return ERROR_BYTES;
    },
    onEnd: () => ends++,
  });
  return { out, errors, ends: () => ends };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const chunks: string[] = [];
  for await (const c of stream) chunks.push(dec.decode(c));
  return chunks;
}

/** Resolves to "pending" when the promise has not settled after a few macrotasks. */
async function settledOrPending<T>(p: Promise<T>): Promise<T | "pending"> {
  const timeout = new Promise<"pending">((r) => setTimeout(() => r("pending"), 20));
  return await Promise.race([p, timeout]);
}

Deno.test("guardSseStream passes complete events through unchanged and unbatched", async () => {
  const inputs = [
    "data: one\n\n",
    "event: a\ndata: two\n\ndata: three\n\n",
    "data: crlf\r\n\r\n",
    "data: cr\r\r",
    'data: {"x":"é 你"}\n\n',
  ];
  const { out, errors, ends } = guard(ReadableStream.from(inputs.map((s) => enc.encode(s))));
  assert.deepEqual(await readAll(out), inputs);
  assert.deepEqual(errors, []);
  assert.equal(ends(), 1);
});

Deno.test("guardSseStream releases each complete chunk as soon as it arrives", async () => {
  const src = controlledSource();
  const { out } = guard(src.stream);
  const reader = out.getReader();
  src.push("data: first\n\n");
  const first = await settledOrPending(reader.read());
  assert.notEqual(first, "pending");
  assert.equal(
    dec.decode((first as ReadableStreamReadResult<Uint8Array>).value),
    "data: first\n\n",
  );
  const next = reader.read();
  assert.equal(await settledOrPending(next), "pending");
  src.push("data: second\n\n");
  assert.equal(dec.decode((await next).value), "data: second\n\n");
  src.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("guardSseStream holds a partial event until it completes", async () => {
  const src = controlledSource();
  const { out } = guard(src.stream);
  const reader = out.getReader();

  src.push("data: par");
  const read = reader.read();
  assert.equal(await settledOrPending(read), "pending", "a partial event must not be released");
  src.push("tial\n");
  assert.equal(await settledOrPending(read), "pending", "still no blank line");
  src.push("\ndata: next-par");
  assert.equal(dec.decode((await read).value), "data: partial\n\n");

  const read2 = reader.read();
  assert.equal(await settledOrPending(read2), "pending");
  src.push("t\n\n");
  assert.equal(dec.decode((await read2).value), "data: next-part\n\n");
  src.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("guardSseStream completes a trailing event that only lacks its blank line", async () => {
  const { out, ends, errors } = guard(
    ReadableStream.from([enc.encode("data: a\n\ndata: tail"), enc.encode(" end\n")]),
  );
  assert.equal((await readAll(out)).join(""), "data: a\n\ndata: tail end\n\n");
  assert.equal(errors.length, 0);
  assert.equal(ends(), 1);
});

Deno.test("guardSseStream ends a stream cut mid-line with the error event, not the fragment", async () => {
  const { out, ends, errors } = guard(
    ReadableStream.from([enc.encode('data: a\n\ndata: {"half'), enc.encode('":')]),
  );
  assert.equal((await readAll(out)).join(""), "data: a\n\n" + dec.decode(ERROR_BYTES));
  assert.equal(errors.length, 1);
  assert.equal(ends(), 1);
});

Deno.test("guardSseStream on source error drops the partial event and appends onError bytes", async () => {
  const src = controlledSource();
  const { out, errors, ends } = guard(src.stream);
  const boom = new Error("connection reset");
  const done = readAll(out);
  src.push("data: one\n\n");
  src.push("data: two\n\ndata: half-an-ev");
  await new Promise((r) => setTimeout(r, 10));
  src.error(boom);
  const chunks = await done;
  assert.equal(chunks.join(""), "data: one\n\ndata: two\n\n" + dec.decode(ERROR_BYTES));
  assert.equal(chunks.at(-1), dec.decode(ERROR_BYTES), "error bytes are their own final chunk");
  assert.deepEqual(errors, [boom]);
  assert.equal(ends(), 1);
});

Deno.test("guardSseStream on an immediate error emits only the onError bytes", async () => {
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.error(new Error("boom"));
    },
  });
  const { out, errors, ends } = guard(body);
  assert.deepEqual(await readAll(out), [dec.decode(ERROR_BYTES)]);
  assert.equal(errors.length, 1);
  assert.equal(ends(), 1);
});

Deno.test("guardSseStream cancel propagates to the source and calls onEnd once", async () => {
  const src = controlledSource();
  const { out, errors, ends } = guard(src.stream);
  const reader = out.getReader();
  src.push("data: one\n\n");
  assert.equal(dec.decode((await reader.read()).value), "data: one\n\n");
  await reader.cancel("client went away");
  assert.deepEqual(src.cancels, ["client went away"]);
  assert.equal(ends(), 1);
  assert.deepEqual(errors, []);
});

Deno.test("guardSseStream works without onEnd", async () => {
  const out = guardSseStream(ReadableStream.from([enc.encode("data: x\n\n")]), {
    onError: () => ERROR_BYTES,
  });
  assert.deepEqual(await readAll(out), ["data: x\n\n"]);
});

Deno.test({
  name: "guardSseStream treats LF+CRLF as an event boundary",
  async fn() {
    const src = controlledSource();
    const { out } = guard(src.stream);
    const reader = out.getReader();
    src.push("data: x\n\r\n");
    const read = await settledOrPending(reader.read());
    assert.notEqual(read, "pending");
    assert.equal(dec.decode((read as ReadableStreamReadResult<Uint8Array>).value), "data: x\n\r\n");
    await reader.cancel();
  },
});
