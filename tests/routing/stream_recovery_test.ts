import assert from "node:assert/strict";
import type { IrEvent, IrRequest } from "../../src/ir/types.ts";
import {
  continuationRequest,
  DEFAULT_CONTINUATION_PROMPTS,
  detectLanguage,
  OVERLAP_WINDOW,
  overlapLength,
  recoveryApplies,
  recoverySettings,
  withStreamRecovery,
} from "../../src/routing/stream_recovery.ts";

const START: IrEvent = { type: "start", id: "r1", model: "m", created: 1 };
const CUT: IrEvent = { type: "error", status: 502, message: "cut" };
const STOP: IrEvent = {
  type: "finish",
  reason: "stop",
  usage: { inputTokens: 30, outputTokens: 7 },
};

function text(t: string): IrEvent {
  return { type: "text_delta", text: t };
}

function streamOf(events: IrEvent[]): ReadableStream<IrEvent> {
  let i = 0;
  return new ReadableStream<IrEvent>({
    pull(c) {
      if (i < events.length) c.enqueue(events[i++]);
      else c.close();
    },
  }, { highWaterMark: 0 });
}

async function collect(stream: ReadableStream<IrEvent>): Promise<IrEvent[]> {
  const out: IrEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}

function textOf(events: IrEvent[]): string {
  return events.map((e) => (e.type === "text_delta" ? e.text : "")).join("");
}

/** A reask that serves the given continuations in order and records what it was asked. */
function reasks(...continuations: IrEvent[][]): {
  asked: string[];
  reask(partial: string): Promise<ReadableStream<IrEvent>>;
} {
  const asked: string[] = [];
  return {
    asked,
    reask(partial) {
      asked.push(partial);
      const next = continuations[asked.length - 1];
      if (!next) return Promise.reject(new Error("no more continuations"));
      return Promise.resolve(streamOf(next));
    },
  };
}

Deno.test("a stream cut mid-text is continued and stitched into one stream", async () => {
  const r = reasks([START, text(" over the"), text(" lazy dog."), STOP]);
  const out = await collect(
    withStreamRecovery(streamOf([START, text("The quick brown fox"), text(" jumps"), CUT]), {
      reask: r.reask,
      maxAttempts: 3,
    }),
  );
  assert.deepEqual(r.asked, ["The quick brown fox jumps"]);
  assert.equal(textOf(out), "The quick brown fox jumps over the lazy dog.");
  assert.deepEqual(out[0], START);
  assert.equal(out.filter((e) => e.type === "start").length, 1, "one start");
  assert.deepEqual(out.at(-1), STOP, "the continuation's finish ends the stream");
  assert.ok(!out.some((e) => e.type === "error"), "the cut is not forwarded");
});

Deno.test("a stream that just ends without finish counts as cut", async () => {
  const r = reasks([START, text(" world."), STOP]);
  const out = await collect(
    withStreamRecovery(streamOf([START, text("Hello")]), { reask: r.reask, maxAttempts: 1 }),
  );
  assert.equal(textOf(out), "Hello world.");
  assert.deepEqual(out.at(-1), STOP);
});

Deno.test("the text a continuation repeats (restarted sentence or word) is removed", async () => {
  const cases: Array<{ sent: string[]; cont: string[]; full: string }> = [
    {
      sent: ["The fox ran. Then it ", "jumped ov"],
      cont: ["Then it jumped over", " the dog."],
      full: "The fox ran. Then it jumped over the dog.",
    },
    // The repeat spans several small deltas of the continuation.
    { sent: ["Hello wor"], cont: ["w", "o", "rld!"], full: "Hello world!" },
    {
      sent: ["狐狸跳过了懒狗。然后它跑进森"],
      cont: ["然后它", "跑进森林。"],
      full: "狐狸跳过了懒狗。然后它跑进森林。",
    },
    // Seamless continuations are kept whole, even when a letter repeats ("bal" + "loon").
    { sent: ["a red bal"], cont: ["loon."], full: "a red balloon." },
    { sent: ["ends with"], cont: [" this."], full: "ends with this." },
  ];
  for (const c of cases) {
    const r = reasks([START, ...c.cont.map(text), STOP]);
    const out = await collect(
      withStreamRecovery(streamOf([START, ...c.sent.map(text), CUT]), {
        reask: r.reask,
        maxAttempts: 3,
      }),
    );
    assert.equal(textOf(out), c.full, JSON.stringify(c));
  }
});

Deno.test("overlapLength: longest suffix/prefix match, short ones only at a word start", () => {
  assert.equal(overlapLength("Then it ran in", "Then it ran into"), 14);
  assert.equal(overlapLength("Hello wor", "world"), 3);
  assert.equal(overlapLength("Hello w", "world"), 1);
  assert.equal(overlapLength("a red bal", "loon"), 0);
  assert.equal(overlapLength("Mississi", "ssippi"), 0, "3 chars mid-word: seamless");
  assert.equal(overlapLength("Mississi", "ississippi"), 7);
  assert.equal(overlapLength("谢谢", "谢你"), 0, "a single CJK character is not trusted");
  assert.equal(overlapLength("abc", ""), 0);
  assert.equal(overlapLength("", "abc"), 0);
  const long = "x".repeat(OVERLAP_WINDOW + 50);
  assert.equal(overlapLength(long, long), OVERLAP_WINDOW, "bounded by the window");
});

Deno.test("a continuation that repeats a whole window of sent text streams on after it", async () => {
  const sent = "word ".repeat(60); // 300 chars
  const r = reasks([START, text(sent.slice(-OVERLAP_WINDOW)), text("end."), STOP]);
  const out = await collect(
    withStreamRecovery(streamOf([START, text(sent), CUT]), { reask: r.reask, maxAttempts: 1 }),
  );
  assert.equal(textOf(out), sent + "end.");
});

Deno.test("a cut while a tool call streams is not recovered: the error is forwarded", async () => {
  const r = reasks([START, text("never"), STOP]);
  const events: IrEvent[] = [
    START,
    text("Let me check."),
    { type: "tool_call_start", index: 0, id: "c1", name: "get_weather" },
    { type: "tool_call_delta", index: 0, argumentsDelta: '{"city":' },
    CUT,
  ];
  const out = await collect(
    withStreamRecovery(streamOf(events), { reask: r.reask, maxAttempts: 3 }),
  );
  assert.deepEqual(out, events);
  assert.deepEqual(r.asked, []);
});

Deno.test("a tool call that looked complete before the cut is not continued either", async () => {
  const r = reasks([START, text("never"), STOP]);
  const events: IrEvent[] = [
    START,
    { type: "tool_call_start", index: 0, id: "c1", name: "f" },
    { type: "tool_call_delta", index: 0, argumentsDelta: "{" },
    // OpenAI's decoder closes open calls when the stream breaks.
    { type: "tool_call_end", index: 0 },
    CUT,
  ];
  const out = await collect(
    withStreamRecovery(streamOf(events), { reask: r.reask, maxAttempts: 3 }),
  );
  assert.deepEqual(out, events);
  assert.deepEqual(r.asked, []);
});

Deno.test("attempts exhausted: the last error goes to the client", async () => {
  const last: IrEvent = { type: "error", status: 502, message: "cut again" };
  const r = reasks([START, text(" two"), CUT], [START, text(" three"), last]);
  const out = await collect(
    withStreamRecovery(streamOf([START, text("one"), CUT]), { reask: r.reask, maxAttempts: 2 }),
  );
  assert.deepEqual(r.asked, ["one", "one two"]);
  assert.equal(textOf(out), "one two three");
  assert.deepEqual(out.at(-1), last);
});

Deno.test("maxAttempts 0 forwards the error unchanged", async () => {
  const r = reasks([START, text("x"), STOP]);
  const events = [START, text("one"), CUT];
  const out = await collect(
    withStreamRecovery(streamOf(events), { reask: r.reask, maxAttempts: 0 }),
  );
  assert.deepEqual(out, events);
  assert.deepEqual(r.asked, []);
});

Deno.test("a failing re-ask forwards the original error", async () => {
  const r = reasks(); // rejects
  const events = [START, text("one"), CUT];
  const out = await collect(
    withStreamRecovery(streamOf(events), { reask: r.reask, maxAttempts: 3 }),
  );
  assert.deepEqual(out, events);
  assert.deepEqual(r.asked, ["one"]);
});

Deno.test("a refusal in the stream (4xx) is not re-asked", async () => {
  const r = reasks([START, text("x"), STOP]);
  const events: IrEvent[] = [START, text("one"), {
    type: "error",
    status: 429,
    message: "quota",
  }];
  const out = await collect(
    withStreamRecovery(streamOf(events), { reask: r.reask, maxAttempts: 3 }),
  );
  assert.deepEqual(out, events);
  assert.deepEqual(r.asked, []);
});

Deno.test("a thought cut before any text is asked again; the retry's thoughts and text flow on", async () => {
  const r = reasks([
    START,
    { type: "reasoning_delta", text: "Thinking again." },
    text("Answer."),
    STOP,
  ]);
  const out = await collect(
    withStreamRecovery(
      streamOf([START, { type: "reasoning_delta", text: "Thinking..." }, CUT]),
      { reask: r.reask, maxAttempts: 3 },
    ),
  );
  assert.deepEqual(r.asked, [""]);
  assert.deepEqual(out, [
    START,
    { type: "reasoning_delta", text: "Thinking..." },
    { type: "reasoning_delta", text: "Thinking again." },
    text("Answer."),
    STOP,
  ]);
});

Deno.test("once text was sent, a continuation's reasoning is dropped", async () => {
  const r = reasks([START, { type: "reasoning_delta", text: "hmm" }, text(" two."), STOP]);
  const out = await collect(
    withStreamRecovery(streamOf([START, text("One"), CUT]), { reask: r.reask, maxAttempts: 3 }),
  );
  assert.deepEqual(out, [START, text("One"), text(" two."), STOP]);
});

Deno.test("a stream that fails before its start gets the continuation's start", async () => {
  const r = reasks([START, text("Hi"), STOP]);
  const out = await collect(
    withStreamRecovery(streamOf([CUT]), { reask: r.reask, maxAttempts: 1 }),
  );
  assert.deepEqual(out, [START, text("Hi"), STOP]);
});

Deno.test("no buffering: each upstream event is forwarded before the next is produced", async () => {
  let produced = 0;
  const events = [START, text("a"), text(" b"), text(" c"), CUT];
  const first = new ReadableStream<IrEvent>({
    pull(c) {
      if (produced < events.length) c.enqueue(events[produced++]);
      else c.close();
    },
  }, { highWaterMark: 0 });
  let contProduced = 0;
  const contEvents = [START, text("c d"), text(" e"), text(" f"), STOP];
  const cont = new ReadableStream<IrEvent>({
    pull(c) {
      if (contProduced < contEvents.length) c.enqueue(contEvents[contProduced++]);
      else c.close();
    },
  }, { highWaterMark: 0 });
  const reader = withStreamRecovery(first, {
    reask: () => Promise.resolve(cont),
    maxAttempts: 1,
  }).getReader();
  for (let k = 1; k <= 4; k++) {
    const { value } = await reader.read();
    assert.deepEqual(value, events[k - 1]);
    assert.equal(produced, k, `event ${k} forwarded before event ${k + 1} was produced`);
  }
  // The continuation's first delta is held only until it cannot be a repeat any more.
  assert.deepEqual((await reader.read()).value, text(" d"));
  assert.equal(contProduced, 2, "start dropped, first delta checked for overlap");
  assert.deepEqual((await reader.read()).value, text(" e"));
  assert.equal(contProduced, 3);
  assert.deepEqual((await reader.read()).value, text(" f"));
  assert.deepEqual((await reader.read()).value, STOP);
  assert.equal((await reader.read()).done, true);
});

Deno.test("the overlap check holds back at most the window", async () => {
  let contProduced = 0;
  const sent = "ab".repeat(200);
  // Deltas that keep matching the sent tail: held until the window is full, then released.
  const contEvents = [START, ...Array.from({ length: 150 }, () => text("ab")), STOP];
  const cont = new ReadableStream<IrEvent>({
    pull(c) {
      if (contProduced < contEvents.length) c.enqueue(contEvents[contProduced++]);
      else c.close();
    },
  }, { highWaterMark: 0 });
  const reader = withStreamRecovery(streamOf([START, text(sent), CUT]), {
    reask: () => Promise.resolve(cont),
    maxAttempts: 1,
  }).getReader();
  await reader.read(); // start
  await reader.read(); // sent text
  const { value } = await reader.read();
  // 100 deltas of 2 chars fill the window; all of it repeats the sent tail, so it is dropped
  // and the next delta is the first one forwarded.
  assert.equal(contProduced, 1 + OVERLAP_WINDOW / 2 + 1);
  assert.deepEqual(value, text("ab"));
  await reader.cancel();
});

Deno.test("cancelling the recovered stream cancels the upstream stream", async () => {
  let cancelled = false;
  const first = new ReadableStream<IrEvent>({
    start(c) {
      c.enqueue(START);
    },
    cancel() {
      cancelled = true;
    },
  });
  const reader = withStreamRecovery(first, {
    reask: () => Promise.reject(new Error("unused")),
    maxAttempts: 3,
  }).getReader();
  await reader.read();
  await reader.cancel("client gone");
  assert.ok(cancelled);
});

Deno.test("detectLanguage by script", () => {
  assert.equal(detectLanguage("The quick brown fox"), "en");
  assert.equal(detectLanguage("敏捷的棕色狐狸跳过了那只懒狗"), "zh");
  assert.equal(detectLanguage("素早い茶色の狐がのろまな犬を飛び越えた"), "ja");
  assert.equal(detectLanguage("カタカナだけ"), "ja");
  assert.equal(detectLanguage("빠른 갈색 여우가 게으른 개를 뛰어넘었다"), "ko");
  assert.equal(detectLanguage("使用 console.log 函数打印日志，然后检查输出结果"), "zh");
  assert.equal(detectLanguage("I learned the word 猫 today while studying"), "en");
  assert.equal(detectLanguage("12345 ..."), "en");
  assert.equal(detectLanguage(""), "en");
});

const IR: IrRequest = {
  model: "m",
  system: [],
  messages: [{ role: "user", parts: [{ type: "text", text: "讲一个故事" }] }],
  tools: [],
  stop: [],
  stream: true,
};

Deno.test("continuationRequest: original turns + partial answer + instruction in its language", () => {
  const prompts = { ...DEFAULT_CONTINUATION_PROMPTS };
  const req = continuationRequest(IR, "从前有一只狐狸", prompts);
  assert.deepEqual(req.messages, [
    IR.messages[0],
    { role: "assistant", parts: [{ type: "text", text: "从前有一只狐狸" }] },
    { role: "user", parts: [{ type: "text", text: prompts.zh }] },
  ]);
  assert.equal(req.stream, true);
  assert.equal(IR.messages.length, 1, "the original request is not changed");

  // Text without letters: the last user turn decides.
  const code = continuationRequest(IR, "```\n1 + 2", prompts);
  assert.deepEqual(code.messages.at(-1), {
    role: "user",
    parts: [{ type: "text", text: prompts.zh }],
  });
  const ko = continuationRequest(IR, "옛날 옛적에", prompts);
  assert.deepEqual(ko.messages.at(-1)?.parts, [{ type: "text", text: prompts.ko }]);
  const ja = continuationRequest(IR, "むかしむかし", prompts);
  assert.deepEqual(ja.messages.at(-1)?.parts, [{ type: "text", text: prompts.ja }]);
  const en = continuationRequest(IR, "Once upon a time", prompts);
  assert.deepEqual(en.messages.at(-1)?.parts, [{ type: "text", text: prompts.en }]);

  // Nothing to continue from: the same request again.
  assert.equal(continuationRequest(IR, "", prompts), IR);

  // A prefilled assistant turn is continued, not followed by a second assistant turn.
  const prefilled: IrRequest = {
    ...IR,
    messages: [...IR.messages, { role: "assistant", parts: [{ type: "text", text: "{" }] }],
  };
  const p = continuationRequest(prefilled, '"狐狸": 1', prompts);
  assert.deepEqual(p.messages.slice(1), [
    {
      role: "assistant",
      parts: [{ type: "text", text: "{" }, { type: "text", text: '"狐狸": 1' }],
    },
    { role: "user", parts: [{ type: "text", text: prompts.zh }] },
  ]);
});

Deno.test("recoverySettings defaults and recoveryApplies by upstream type", () => {
  const d = recoverySettings(undefined);
  assert.deepEqual(d, {
    enabled: true,
    maxAttempts: 3,
    allUpstreams: false,
    prompts: DEFAULT_CONTINUATION_PROMPTS,
  });
  assert.equal(recoveryApplies(d, "gemini", true), true);
  assert.equal(recoveryApplies(d, "gemini-cli", true), true);
  assert.equal(recoveryApplies(d, "gemini", false), false, "only streams");
  assert.equal(recoveryApplies(d, "openai", true), false);
  assert.equal(recoveryApplies(d, "vertex", true), false);

  const all = recoverySettings({
    enabled: true,
    max_attempts: 1,
    all_upstreams: true,
    prompts: { en: "Go on." },
  });
  assert.equal(recoveryApplies(all, "openai", true), true);
  assert.equal(all.prompts.en, "Go on.");
  assert.equal(all.prompts.zh, DEFAULT_CONTINUATION_PROMPTS.zh);

  const off = recoverySettings({
    enabled: false,
    max_attempts: 3,
    all_upstreams: true,
    prompts: {},
  });
  assert.equal(recoveryApplies(off, "gemini", true), false);
  const zero = recoverySettings({
    enabled: true,
    max_attempts: 0,
    all_upstreams: false,
    prompts: {},
  });
  assert.equal(recoveryApplies(zero, "gemini", true), false);
});
