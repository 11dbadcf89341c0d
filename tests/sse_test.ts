import assert from "node:assert/strict";
import {
  encodeSse,
  formatSse,
  type SseEvent,
  sseParserTransformer,
  sseWriterTransformer,
} from "../src/sse.ts";

const enc = new TextEncoder();

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

function streamOf<T>(items: T[]): ReadableStream<T> {
  return ReadableStream.from(items);
}

/** Parses byte chunks with a fresh parser. */
function parseChunks(chunks: Uint8Array[]): Promise<SseEvent[]> {
  return collect(streamOf(chunks).pipeThrough(new TransformStream(sseParserTransformer())));
}

function parseText(text: string): Promise<SseEvent[]> {
  return parseChunks([enc.encode(text)]);
}

Deno.test("SseParserStream parses LF-delimited events", async () => {
  assert.deepEqual(await parseText("data: one\n\ndata: two\n\n"), [
    { data: "one" },
    { data: "two" },
  ]);
});

Deno.test("SseParserStream parses CRLF and CR line endings", async () => {
  assert.deepEqual(await parseText("data: one\r\n\r\ndata: two\r\n\r\n"), [
    { data: "one" },
    { data: "two" },
  ]);
  assert.deepEqual(await parseText("data: one\r\rdata: two\r\r"), [{ data: "one" }, {
    data: "two",
  }]);
  // Mixed endings in one stream.
  assert.deepEqual(await parseText("data: a\r\ndata: b\n\rdata: c\r\n\n"), [
    { data: "a\nb" },
    { data: "c" },
  ]);
});

Deno.test("SseParserStream skips comments and joins multi-line data with LF", async () => {
  const text =
    ": keep-alive\n\n:another\ndata: first\n: inside\ndata: second\ndata:\ndata:third\n\n";
  assert.deepEqual(await parseText(text), [{ data: "first\nsecond\n\nthird" }]);
});

Deno.test("SseParserStream strips exactly one leading space from values", async () => {
  assert.deepEqual(await parseText("data:  two spaces\n\ndata:none\n\n"), [
    { data: " two spaces" },
    { data: "none" },
  ]);
});

Deno.test("SseParserStream reads event, id and retry fields; event resets, id persists", async () => {
  const text = 'event: message_start\nid: 7\nretry: 1500\ndata: {"a":1}\n\n' +
    "data: plain\n\n" +
    "event: ping\nretry: soon\ndata: x\n\n";
  assert.deepEqual(await parseText(text), [
    { event: "message_start", id: "7", retry: 1500, data: '{"a":1}' },
    { id: "7", data: "plain" },
    { event: "ping", id: "7", data: "x" },
  ]);
});

Deno.test("SseParserStream drops events without data and ignores unknown fields", async () => {
  assert.deepEqual(await parseText("event: ping\n\nfoo: bar\ndata: kept\n\nid: 1\n\n"), [
    { data: "kept" },
  ]);
  // A field line without a colon is a field with an empty value.
  assert.deepEqual(await parseText("data\n\n"), [{ data: "" }]);
});

Deno.test("SseParserStream delivers a final event that lacks the trailing blank line", async () => {
  assert.deepEqual(await parseText("data: one\n\ndata: last"), [{ data: "one" }, {
    data: "last",
  }]);
  assert.deepEqual(await parseText("data: one\n\nevent: end\ndata: last\n"), [
    { data: "one" },
    { event: "end", data: "last" },
  ]);
  assert.deepEqual(await parseText("data: last\r"), [{ data: "last" }]);
  assert.deepEqual(await parseText(""), []);
});

Deno.test("SseParserStream strips a leading UTF-8 BOM", async () => {
  assert.deepEqual(
    await parseChunks([new Uint8Array([0xef, 0xbb, 0xbf]), enc.encode("data: x\n\n")]),
    [
      { data: "x" },
    ],
  );
});

// Covers every ending (LF, CRLF, CR, CR then LF across chunks), comments, multi-line data,
// named events, ids, multi-byte UTF-8 (2, 3 and 4 bytes) and a final event with no blank line.
const TRICKY = "\u{feff}: comment é\r\n" +
  'event: delta\r\nid: 1\r\ndata: {"text":"café"}\r\n\r\n' +
  "data: 你好\rdata: 世界\r\r" +
  "data: line one\ndata: line two 😀\n\n" +
  ":\n" +
  "event: end\ndata: é";
const TRICKY_EVENTS: SseEvent[] = [
  { event: "delta", id: "1", data: '{"text":"café"}' },
  { id: "1", data: "你好\n世界" },
  { id: "1", data: "line one\nline two 😀" },
  { event: "end", id: "1", data: "é" },
];

Deno.test("SseParserStream parses the tricky input in one chunk", async () => {
  assert.deepEqual(await parseText(TRICKY), TRICKY_EVENTS);
});

Deno.test("SseParserStream gives identical events for a split at every byte position", async () => {
  const bytes = enc.encode(TRICKY);
  for (let i = 0; i <= bytes.length; i++) {
    const events = await parseChunks([bytes.slice(0, i), bytes.slice(i)]);
    assert.deepEqual(events, TRICKY_EVENTS, `split at byte ${i}`);
  }
});

Deno.test("SseParserStream gives identical events for every pair of split positions", async () => {
  const bytes = enc.encode("data: é你\r\n\r\ndata: a\rdata: b\r\r");
  const expected = [{ data: "é你" }, { data: "a\nb" }];
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const chunks = [bytes.slice(0, i), bytes.slice(i, j), bytes.slice(j)];
      assert.deepEqual(await parseChunks(chunks), expected, `split at ${i} and ${j}`);
    }
  }
});

Deno.test("SseParserStream gives identical events when fed one byte at a time", async () => {
  const bytes = enc.encode(TRICKY);
  const chunks = Array.from(bytes, (b) => new Uint8Array([b]));
  assert.deepEqual(await parseChunks(chunks), TRICKY_EVENTS);
});

Deno.test("formatSse writes event, id and one data line per line", () => {
  assert.equal(formatSse({ data: "hi" }), "data: hi\n\n");
  assert.equal(formatSse({ event: "ping", data: "{}" }), "event: ping\ndata: {}\n\n");
  assert.equal(
    formatSse({ event: "e", id: "9", data: "a\nb\r\nc\rd" }),
    "event: e\nid: 9\ndata: a\ndata: b\ndata: c\ndata: d\n\n",
  );
  assert.equal(formatSse({ data: "" }), "data: \n\n");
  assert.deepEqual(encodeSse({ data: "é" }), enc.encode("data: é\n\n"));
});

Deno.test("formatSse/encodeSse round trip through the parser", async () => {
  const events: SseEvent[] = [
    { data: "plain" },
    { event: "content_block_delta", data: '{"delta":{"text":"你好 é 😀"}}' },
    { event: "x", id: "42", data: "multi\nline\n\ndata" },
    { data: "" },
    { data: "  leading spaces" },
    { data: ": not a comment" },
    { data: "[DONE]" },
  ];
  const bytes = events.map((e) => encodeSse(e));
  const parsed = await parseChunks(bytes);
  // The parser carries the last id forward, as the SSE spec says.
  const expected = events.map((e, i) => (i > 2 && e.id === undefined ? { ...e, id: "42" } : e));
  assert.deepEqual(parsed, expected);

  const text = events.map((e) => formatSse(e)).join("");
  assert.deepEqual(await parseText(text), expected);
});

Deno.test("SseWriterStream encodes each event as one chunk", async () => {
  const events: SseEvent[] = [{ data: "a" }, { event: "b", data: "c\nd" }];
  const chunks = await collect(
    streamOf(events).pipeThrough(new TransformStream(sseWriterTransformer())),
  );
  assert.equal(chunks.length, 2);
  assert.deepEqual(chunks[0], enc.encode("data: a\n\n"));
  assert.deepEqual(chunks[1], enc.encode("event: b\ndata: c\ndata: d\n\n"));
  assert.deepEqual(await parseChunks(chunks), events);
});
