import assert from "node:assert/strict";
import fc from "fast-check";
import { blockify, BlockNormaliser } from "../../src/ir/blockify.ts";
import type { IrEvent } from "../../src/ir/types.ts";

function normalise(events: IrEvent[]): IrEvent[] {
  const blocks = new BlockNormaliser();
  const out: IrEvent[] = [];
  for (const e of events) blocks.feed(e, (x) => out.push(x));
  return out;
}

/**
 * Throws unless `events` is well-formed as `BlockNormaliser` promises: blocks numbered in start
 * order, deltas inside their block, text and reasoning overlapping nothing, everything ended
 * before `finish`.
 */
function assertWellFormed(events: IrEvent[]): void {
  let open: { kind: "text" | "reasoning"; block: number } | undefined;
  const tools = new Set<number>();
  let next = 0;
  let ended = false;
  for (const e of events) {
    assert.ok(!ended, `event after the end: ${e.type}`);
    switch (e.type) {
      case "text_start":
      case "reasoning_start":
        assert.equal(open, undefined, `${e.type} while a block is open`);
        assert.equal(tools.size, 0, `${e.type} while a tool call is open`);
        assert.equal(e.block, next++);
        open = { kind: e.type === "text_start" ? "text" : "reasoning", block: e.block };
        break;
      case "tool_call_start":
        assert.equal(open, undefined, "tool call inside a text or reasoning block");
        assert.ok(!tools.has(e.index), "tool call started twice");
        assert.equal(e.block, next++);
        tools.add(e.index);
        break;
      case "text_delta":
        assert.equal(open?.kind, "text");
        assert.notEqual(e.text, "");
        break;
      case "reasoning_delta":
        assert.equal(open?.kind, "reasoning");
        break;
      case "tool_call_delta":
        assert.ok(tools.has(e.index), "argument delta outside its call");
        break;
      case "text_end":
      case "reasoning_end":
        assert.equal(open?.kind, e.type === "text_end" ? "text" : "reasoning");
        assert.equal(open?.block, e.block);
        open = undefined;
        break;
      case "tool_call_end":
        assert.ok(tools.delete(e.index), "end of a call that is not open");
        break;
      case "finish":
        assert.equal(open, undefined, "finish with a block open");
        assert.equal(tools.size, 0, "finish with a tool call open");
        ended = true;
        break;
      case "error":
        ended = true;
        break;
      case "start":
        break;
    }
  }
}

const textOf = (events: IrEvent[]): string =>
  events.map((e) => e.type === "text_delta" ? e.text : "").join("");
const reasoningOf = (events: IrEvent[]): string =>
  events.map((e) => e.type === "reasoning_delta" ? e.text : "").join("");

const anyEvent: fc.Arbitrary<IrEvent> = fc.oneof(
  fc.constant<IrEvent>({ type: "start", id: "r", model: "m", created: 1 }),
  fc.string({ maxLength: 4 }).map((text): IrEvent => ({ type: "text_delta", text })),
  fc.record({
    text: fc.string({ maxLength: 4 }),
    signature: fc.option(fc.constant("sig"), { nil: undefined }),
    redacted: fc.option(fc.constant("red"), { nil: undefined }),
  }).map(({ text, signature, redacted }): IrEvent => ({
    type: "reasoning_delta",
    text,
    ...(signature ? { signature } : {}),
    ...(redacted ? { redacted } : {}),
  })),
  fc.nat(3).map((index): IrEvent => ({
    type: "tool_call_start",
    index,
    id: `c${index}`,
    name: "f",
  })),
  fc.record({ index: fc.nat(3), argumentsDelta: fc.string({ maxLength: 4 }) })
    .map((d): IrEvent => ({ type: "tool_call_delta", ...d })),
  fc.nat(3).map((index): IrEvent => ({ type: "tool_call_end", index })),
  fc.nat(5).map((block): IrEvent => ({ type: "text_start", block })),
  fc.nat(5).map((block): IrEvent => ({ type: "text_end", block })),
  fc.nat(5).map((block): IrEvent => ({ type: "reasoning_start", block })),
  fc.nat(5).map((block): IrEvent => ({ type: "reasoning_end", block })),
  fc.constantFrom("stop", "length", "tool_calls", "error" as const)
    .map((reason): IrEvent => ({ type: "finish", reason })),
  fc.constant<IrEvent>({ type: "error", status: 502, message: "x" }),
);

Deno.test("blockify: any event sequence comes out well-formed, text and reasoning preserved up to the end", () => {
  fc.assert(
    fc.property(fc.array(anyEvent, { maxLength: 40 }), (events) => {
      const out = normalise(events);
      assertWellFormed(out);
      const endAt = events.findIndex((e) => e.type === "finish" || e.type === "error");
      const kept = endAt < 0 ? events : events.slice(0, endAt + 1);
      assert.equal(textOf(out), textOf(kept));
      assert.equal(reasoningOf(out), reasoningOf(kept));
    }),
    { numRuns: 500 },
  );
});

Deno.test("blockify: a normalised stream passes through unchanged (decoders may emit blocks)", () => {
  fc.assert(
    fc.property(fc.array(anyEvent, { maxLength: 40 }), (events) => {
      const once = normalise(events);
      assert.deepEqual(normalise(once), once);
    }),
    { numRuns: 300 },
  );
});

/**
 * Bare deltas as decoders emit them: tool calls in sequence or with their arguments
 * interleaved (`late`: a call's last delta comes after the next call started), ends sometimes
 * left out.
 */
const decoderStream: fc.Arbitrary<{ events: IrEvent[]; args: Map<number, string> }> = fc.array(
  fc.oneof(
    fc.string({ minLength: 1, maxLength: 4 }).map((text) => ({ kind: "text" as const, text })),
    fc.string({ minLength: 1, maxLength: 4 }).map((text) => ({ kind: "reasoning" as const, text })),
    fc.record({
      kind: fc.constant("tool" as const),
      deltas: fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
      end: fc.boolean(),
      late: fc.boolean(),
    }),
  ),
  { maxLength: 12 },
).map((parts) => {
  const events: IrEvent[] = [];
  const args = new Map<number, string>();
  let tool = 0;
  // Held back from the previous call; it goes out right after the next call's start.
  let late: IrEvent[] = [];
  const flushLate = () => {
    events.push(...late);
    late = [];
  };
  for (const p of parts) {
    if (p.kind !== "tool") {
      flushLate();
      events.push(
        p.kind === "text"
          ? { type: "text_delta", text: p.text }
          : { type: "reasoning_delta", text: p.text },
      );
      continue;
    }
    const index = tool++;
    events.push({ type: "tool_call_start", index, id: `c${index}`, name: "f" });
    flushLate();
    const deltas: IrEvent[] = p.deltas.map((d) => ({
      type: "tool_call_delta",
      index,
      argumentsDelta: d,
    }));
    if (p.late && deltas.length > 0 && !p.end) late = deltas.splice(-1);
    events.push(...deltas);
    if (p.end) events.push({ type: "tool_call_end", index });
    args.set(index, p.deltas.join(""));
  }
  flushLate();
  events.push({ type: "finish", reason: "stop" });
  return { events, args };
});

Deno.test("blockify: decoder-style delta streams keep all text, reasoning and tool arguments", () => {
  fc.assert(
    fc.property(decoderStream, ({ events, args }) => {
      const out = normalise(events);
      assertWellFormed(out);
      assert.equal(textOf(out), textOf(events));
      assert.equal(reasoningOf(out), reasoningOf(events));
      const got = new Map<number, string>();
      for (const e of out) {
        if (e.type === "tool_call_start") got.set(e.index, "");
        if (e.type === "tool_call_delta") got.set(e.index, got.get(e.index) + e.argumentsDelta);
      }
      assert.deepEqual(got, args);
      // Nothing was invented: every delta that went in came out, in order.
      const deltas = (xs: IrEvent[]) => xs.filter((e) => e.type.endsWith("_delta"));
      assert.deepEqual(deltas(out), deltas(events));
    }),
    { numRuns: 300 },
  );
});

Deno.test("blockify: numbers blocks, seals signed reasoning, and closes before finish only", async () => {
  const events: IrEvent[] = [
    { type: "start", id: "r", model: "m", created: 1 },
    { type: "reasoning_delta", text: "think" },
    { type: "reasoning_delta", text: "", signature: "s", origin: "anthropic" },
    { type: "reasoning_delta", text: "more" },
    { type: "text_delta", text: "hi" },
    { type: "tool_call_start", index: 0, id: "c", name: "f" },
    { type: "tool_call_delta", index: 0, argumentsDelta: "{}" },
    { type: "finish", reason: "tool_calls" },
    { type: "text_delta", text: "late" },
  ];
  const out = await Array.fromAsync(
    ReadableStream.from(events).pipeThrough(new TransformStream(blockify())),
  );
  assert.deepEqual(out.map((e) => e.type + ("block" in e ? e.block : "")), [
    "start",
    "reasoning_start0",
    "reasoning_delta",
    "reasoning_delta",
    "reasoning_end0",
    "reasoning_start1",
    "reasoning_delta",
    "reasoning_end1",
    "text_start2",
    "text_delta",
    "text_end2",
    "tool_call_start3",
    "tool_call_delta",
    "tool_call_end",
    "finish",
  ]);
  // An error abandons the open block.
  const cut = normalise([{ type: "text_delta", text: "a" }, {
    type: "error",
    status: 502,
    message: "x",
  }]);
  assert.deepEqual(cut.map((e) => e.type), ["text_start", "text_delta", "error"]);
});
