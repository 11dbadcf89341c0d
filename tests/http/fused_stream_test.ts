import assert from "node:assert/strict";
import fc from "fast-check";
import { fuse, type Stage } from "../../src/http/fused_stream.ts";
import { sseParserTransformer } from "../../src/sse.ts";

/** Splits lines, upper-cases, and repeats each line's first word (a stage with state). */
function lineSplitter(): Transformer<string, string> {
  let rest = "";
  return {
    transform(chunk, c) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) c.enqueue(l);
    },
    flush(c) {
      if (rest) c.enqueue(rest);
    },
  };
}
const upper = (): Transformer<string, string> => ({
  transform: (line, c) => c.enqueue(line.toUpperCase()),
  flush: (c) => c.enqueue("<END>"),
});
const words = (): Transformer<string, string> => ({
  transform(line, c) {
    for (const w of line.split(" ")) if (w) c.enqueue(w);
  },
});

async function all<T>(s: ReadableStream<T>): Promise<T[]> {
  return await Array.fromAsync(s);
}

Deno.test("fuse: the same output as piping through TransformStreams, for any chunking", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.string({ maxLength: 12 }), { maxLength: 10 }), async (chunks) => {
      const piped = await all(
        ReadableStream.from(chunks).pipeThrough(new TransformStream(lineSplitter()))
          .pipeThrough(new TransformStream(upper())).pipeThrough(new TransformStream(words())),
      );
      const fused = await all(
        fuse(ReadableStream.from(chunks), [lineSplitter(), upper(), words()]),
      );
      assert.deepEqual(fused, piped);
    }),
    { numRuns: 200 },
  );
});

Deno.test("fuse: SSE parsing matches the parser piped as a TransformStream, on random byte splits", async () => {
  const text =
    "event: a\ndata: 1\n\n: comment\ndata: x\ndata: y\r\n\r\nid: 7\ndata: \u00e9\u4e2d\n\n";
  const bytes = new TextEncoder().encode(text);
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: bytes.length }), async (size) => {
      const pieces = () => {
        const out: Uint8Array[] = [];
        for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
        return ReadableStream.from(out);
      };
      const piped = await all(pieces().pipeThrough(new TransformStream(sseParserTransformer())));
      assert.deepEqual(await all(fuse(pieces(), [sseParserTransformer()])), piped);
      assert.equal(piped.length, 3);
    }),
  );
});

Deno.test("fuse: reads one chunk ahead of the consumer, no more; cancel reaches stages and source", async () => {
  let pulls = 0;
  let sourceCancelled: unknown;
  let stageCancelled: unknown;
  const source = new ReadableStream<string>({
    pull(c) {
      pulls++;
      c.enqueue(`line ${pulls}\n`);
    },
    cancel(reason) {
      sourceCancelled = reason;
    },
  }, { highWaterMark: 0 });
  const out = fuse(source, [lineSplitter(), {
    transform: (l: string, c: TransformStreamDefaultController<string>) => c.enqueue(l),
    cancel: (reason: unknown) => {
      stageCancelled = reason;
    },
  }]);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(pulls, 1, "the first chunk is asked for at once, and only it");
  const reader = out.getReader();
  assert.deepEqual(await reader.read(), { done: false, value: "line 1" });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(pulls, 2, "one chunk read ahead after the first is taken");
  await reader.cancel("client gone");
  assert.equal(stageCancelled, "client gone");
  assert.equal(sourceCancelled, "client gone");
});

Deno.test("fuse: a failing source or stage errors the stream, or ends it with onError's chunk", async () => {
  const broken = () => {
    let reads = 0;
    return new ReadableStream<string>({
      pull(c) {
        if (reads++ === 0) c.enqueue("a\nb");
        else c.error(new Error("reset"));
      },
    }, { highWaterMark: 0 });
  };
  await assert.rejects(all(fuse(broken(), [lineSplitter()])), /reset/);
  const ended = await all(
    fuse(broken(), [lineSplitter()], { onError: (e) => `ERR ${(e as Error).message}` }),
  );
  assert.deepEqual(ended, ["a", "ERR reset"]);
  const throwing: Transformer<string, string> = {
    transform(l, c) {
      if (l === "bad") throw new Error("stage failed");
      c.enqueue(l);
    },
  };
  const out = await all(
    fuse(ReadableStream.from(["ok\nbad\nnever\n"]), [lineSplitter(), throwing], {
      onError: () => "ERR",
    }),
  );
  assert.deepEqual(out, ["ok", "ERR"]);
});

Deno.test("fuse: async stages are awaited in order; terminate ends the stream and cancels the source", async () => {
  const slow: Transformer<string, string> = {
    async transform(l, c) {
      await new Promise((r) => setTimeout(r, 1));
      c.enqueue(`<${l}>`);
    },
  };
  assert.deepEqual(await all(fuse(ReadableStream.from(["a\nb\nc"]), [lineSplitter(), slow])), [
    "<a>",
    "<b>",
    "<c>",
  ]);
  // Chunks wait for the stage's previous transform, whatever each one takes.
  let running = 0;
  const uneven: Transformer<string, string> = {
    async transform(l, c) {
      assert.equal(running++, 0, "one transform at a time");
      await new Promise((r) => setTimeout(r, l === "a" ? 15 : 1));
      running--;
      c.enqueue(`<${l}>`);
    },
  };
  assert.deepEqual(
    await all(fuse(ReadableStream.from(["a\nb\nc"]), [lineSplitter(), uneven])),
    ["<a>", "<b>", "<c>"],
  );
  let cancelled = false;
  const endless = new ReadableStream<string>({
    pull: (c) => c.enqueue("x\n"),
    cancel: () => {
      cancelled = true;
    },
  });
  let seen = 0;
  const stopAtThree: Transformer<string, string> = {
    transform(l, c) {
      c.enqueue(l);
      if (++seen === 3) c.terminate();
    },
  };
  assert.deepEqual(await all(fuse(endless, [lineSplitter(), stopAtThree])), ["x", "x", "x"]);
  assert.ok(cancelled);
});

Deno.test("fuse: stages added to an unread fused stream join it (one stream), in order", async () => {
  const source = ReadableStream.from(["a b\nc d\n", "e"]);
  const first = fuse(source, [lineSplitter()]);
  const second = fuse(first, [upper()]);
  const third = fuse(second, [words()]);
  // One stream: each later layer joined the first instead of wrapping it.
  assert.ok(first === second && second === third);
  assert.deepEqual(await all(third), ["A", "B", "C", "D", "E", "<END>"]);
  // Once read, a fused stream is wrapped instead (still the same output).
  const read = fuse(ReadableStream.from(["x\ny"]), [lineSplitter()]);
  const reader = read.getReader();
  assert.deepEqual(await reader.read(), { done: false, value: "x" });
  reader.releaseLock();
  const wrapped = fuse(read, [upper()]);
  assert.notEqual(wrapped, read);
  assert.deepEqual(await all(wrapped), ["Y", "<END>"]);
});

Deno.test("fuse: a rescue turns failures up to its stage into its last chunk; later stages flush", async () => {
  const seen: string[] = [];
  const tap: Stage<string, string> = {
    transform: (c, ctl) => ctl.enqueue(c),
    flush: () => {
      seen.push("tap flushed");
    },
    cancel: () => {
      seen.push("tap cancelled");
    },
  };
  const inner: Stage<string, string> = {
    transform: (c, ctl) => ctl.enqueue(c),
    cancel: (reason) => {
      seen.push(`inner cancelled: ${(reason as Error).message}`);
    },
  };
  let reads = 0;
  const broken = new ReadableStream<string>({
    pull(c) {
      if (reads++ === 0) c.enqueue("a\nb");
      else c.error(new Error("reset"));
    },
  }, { highWaterMark: 0 });
  // Built in three steps as the modules of a relay do: decode, guard (rescue), tap.
  const decoded = fuse(broken, [lineSplitter(), inner]);
  const guarded = fuse(decoded, [{ rescue: (e) => `ERR ${(e as Error).message}` }]);
  const out = await all(fuse(guarded, [tap]));
  assert.deepEqual(out, ["a", "ERR reset"]);
  assert.deepEqual(seen, ["inner cancelled: reset", "tap flushed"]);
  // A stage after the rescuer that fails is not rescued by it: the stream errors.
  const late: Stage<string, string> = {
    transform() {
      throw new Error("late");
    },
  };
  await assert.rejects(
    all(fuse(ReadableStream.from(["q\n"]), [lineSplitter(), { rescue: () => "ERR" }, late])),
    /late/,
  );
});

Deno.test("fuse: the idle watch fires on a silent source and reports its own error", async () => {
  let fail: ((err: unknown) => void) | undefined;
  const source = new ReadableStream<string>({
    pull: () => new Promise<void>((_, reject) => fail = reject),
  }, { highWaterMark: 0 });
  const stalled = new Error("idle");
  let idled = 0;
  const watched = fuse(source, [], {
    idle: {
      ms: 30,
      onIdle: () => {
        idled++;
        fail?.(new Error("aborted")); // as aborting the upstream request does
      },
      error: () => stalled,
    },
  });
  const started = Date.now();
  // The watch runs on the shared coarse deadline, which keeps no process alive by itself (a
  // real source is a pending fetch, which does).
  const alive = setTimeout(() => {}, 5_000);
  await assert.rejects(all(fuse(watched, [upper()])), (err) => err === stalled);
  clearTimeout(alive);
  assert.equal(idled, 1);
  assert.ok(Date.now() - started < 1000);
});

Deno.test("fuse: a byte source (as an upstream body is) relays every chunk with its own bytes", async () => {
  const enc = new TextEncoder();
  const pieces = ["data: one\n\n", "data: two\n\n", "data: three, longer\n\n"];
  let i = 0;
  const source = new ReadableStream({
    type: "bytes",
    pull(c) {
      if (i === pieces.length) {
        c.close();
        c.byobRequest?.respond(0);
        return;
      }
      c.enqueue(enc.encode(pieces[i++]));
    },
  });
  const pass: Stage<Uint8Array, Uint8Array> = { transform: (c, ctl) => ctl.enqueue(c) };
  const chunks = await all(fuse(source as ReadableStream<Uint8Array>, [pass]));
  assert.deepEqual(chunks.map((c) => new TextDecoder().decode(c)), pieces);
});
