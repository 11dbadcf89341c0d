import assert from "node:assert/strict";
import { startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { COMPACTION_PROMPT } from "../../src/routes/compact.ts";
import { decodeCompaction } from "../../src/formats/openai_responses/compaction.ts";
import { startTestGateway } from "./start_gateway.ts";

const KEY = "sk-client-compact-123456";

/**
 * `POST /v1/responses/compact` as Codex calls it (codex-rs `CompactionInput`: model, input,
 * instructions, tools, parallel_tool_calls, reasoning) and as it reads the answer
 * (`{ output: ResponseItem[] }`, with a `compaction` item it sends back on later turns).
 */
async function setup() {
  const anthropic = await startFakeAnthropic();
  const gateway = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [{
      id: "an",
      type: "anthropic",
      base_url: anthropic.url,
      api_keys: ["sk-ant-up"],
      models: ["claude-*"],
    }],
  });
  const post = (path: string, body: unknown) =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  return {
    anthropic,
    post,
    async close() {
      await gateway.close();
      await anthropic.close();
    },
  };
}

const HISTORY = [
  { type: "message", role: "user", content: [{ type: "input_text", text: "fix the bug in a.ts" }] },
  {
    type: "message",
    role: "assistant",
    content: [{ type: "output_text", text: "Looking at a.ts." }],
  },
  { type: "function_call", call_id: "call_1", name: "shell", arguments: '{"cmd":"cat a.ts"}' },
  { type: "function_call_output", call_id: "call_1", output: "const a = 1;" },
  { type: "message", role: "user", content: [{ type: "input_text", text: "and add a test" }] },
];
const TOOLS = [{
  type: "function",
  name: "shell",
  description: "run a command",
  parameters: { type: "object", properties: { cmd: { type: "string" } } },
}];

Deno.test("compaction on an Anthropic upstream: the gateway summarises, Codex's next turn carries it", async () => {
  const t = await setup();
  try {
    const res = await t.post("/v1/responses/compact", {
      model: "claude-sonnet-4-5",
      input: HISTORY,
      instructions: "You are Codex.",
      tools: TOOLS,
      parallel_tool_calls: false,
      reasoning: { effort: "medium", summary: "auto" },
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json();
    assert.equal(body.object, "response.compaction");
    assert.ok(body.usage.input_tokens > 0);
    const output = body.output as Array<Record<string, unknown>>;
    // The user messages, in order, then one compaction item.
    assert.deepEqual(output.slice(0, -1), [HISTORY[0], HISTORY[4]]);
    const compaction = output.at(-1)!;
    assert.equal(compaction.type, "compaction");
    assert.match(compaction.encrypted_content as string, /^llmproxy\.compaction\.v1\./);

    // Upstream: the whole history, then the prompt; tools declared, none callable.
    const asked = t.anthropic.requests.filter((r) => r.path === "/v1/messages").at(-1)!;
    assert.equal(asked.body.system !== undefined, true);
    assert.deepEqual(asked.body.tool_choice, { type: "none" });
    const messages = asked.body.messages as Array<{ role: string; content: unknown }>;
    const lastTurn = messages.at(-1)!;
    assert.equal(lastTurn.role, "user");
    assert.match(JSON.stringify(lastTurn.content), /Context compaction: the conversation above/);
    assert.ok(COMPACTION_PROMPT.startsWith("Context compaction"));
    const summary = decodeCompaction(compaction.encrypted_content as string)!;
    assert.match(summary, /^Hello from claude-sonnet-4-5: .*Context compaction/s);

    // Codex's next turn: the compacted history, then a new message (as `compaction_summary`
    // too, Codex's other spelling).
    for (const type of ["compaction", "compaction_summary"]) {
      const next = await t.post("/v1/responses", {
        model: "claude-sonnet-4-5",
        input: [
          ...output.slice(0, -1),
          { ...compaction, type },
          { type: "message", role: "user", content: "go on" },
        ],
        store: false,
      });
      assert.equal(next.status, 200, await next.clone().text());
      const turn = t.anthropic.requests.filter((r) => r.path === "/v1/messages").at(-1)!;
      const sent = JSON.stringify(turn.body.messages);
      assert.ok(sent.includes("Summary of the conversation so far"), sent);
      assert.ok(sent.includes(JSON.stringify(summary).slice(1, -1)), "the summary itself");
      assert.ok(sent.includes("go on"));
    }
  } finally {
    await t.close();
  }
});

Deno.test("compaction: OpenAI's own encrypted compaction item is dropped on a converted route; bad input is a 400", async () => {
  const t = await setup();
  try {
    const next = await t.post("/v1/responses", {
      model: "claude-sonnet-4-5",
      input: [
        { type: "compaction", encrypted_content: "gAAAAABopaque-openai-blob" },
        { type: "message", role: "user", content: "hello" },
      ],
    });
    assert.equal(next.status, 200, await next.clone().text());
    const turn = t.anthropic.requests.filter((r) => r.path === "/v1/messages").at(-1)!;
    assert.equal((turn.body.messages as unknown[]).length, 1);

    const noInput = await t.post("/v1/responses/compact", { model: "claude-sonnet-4-5" });
    assert.equal(noInput.status, 400);
    assert.match((await noInput.json()).error.message, /'input'/);
    const noContent = await t.post("/v1/responses", {
      model: "claude-sonnet-4-5",
      input: [{ type: "compaction" }],
    });
    assert.equal(noContent.status, 400);
    assert.match((await noContent.json()).error.message, /encrypted_content/);
  } finally {
    await t.close();
  }
});

Deno.test("compaction v2 (Codex 0.171): /v1/responses ending in compaction_trigger answers one compaction item, streamed or not", async () => {
  const t = await setup();
  try {
    const body = {
      model: "claude-sonnet-4-5",
      instructions: "You are Codex.",
      input: [...HISTORY, { type: "compaction_trigger" }],
      tools: TOOLS,
      tool_choice: "auto",
      parallel_tool_calls: false,
      store: false,
      include: ["reasoning.encrypted_content"],
    };
    const streamed = await t.post("/v1/responses", { ...body, stream: true });
    assert.equal(streamed.status, 200, await streamed.clone().text());
    assert.match(streamed.headers.get("content-type") ?? "", /text\/event-stream/);
    const events = (await streamed.text()).split("\n\n").filter((b) => b.trim() !== "")
      .map((b) => JSON.parse(b.split("\n").find((l) => l.startsWith("data: "))!.slice(6)));
    assert.deepEqual(events.map((e) => e.type), [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.output_item.done",
      "response.completed",
    ]);
    const done = events[3].item;
    assert.equal(done.type, "compaction");
    assert.match(decodeCompaction(done.encrypted_content) ?? "", /Context compaction/);
    assert.deepEqual(events[4].response.output, [done]);
    assert.ok(events[4].response.usage.input_tokens > 0);
    // The trigger itself never reaches the upstream; the prompt does, tools not callable.
    const asked = t.anthropic.requests.filter((r) => r.path === "/v1/messages").at(-1)!;
    assert.equal(asked.body.stream, undefined);
    assert.deepEqual(asked.body.tool_choice, { type: "none" });

    const plain = await t.post("/v1/responses", body);
    const answer = await plain.json();
    assert.equal(answer.output.length, 1);
    assert.equal(answer.output[0].type, "compaction");
  } finally {
    await t.close();
  }
});
