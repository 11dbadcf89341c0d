import { RequestError, UpstreamError } from "../errors.ts";
import { encodeCompaction } from "../formats/openai_responses/compaction.ts";
import { formatSse } from "../sse.ts";
import type { ConversationHooks } from "./conversation.ts";

/**
 * `POST /v1/responses/compact` (Codex's remote compaction), served by the gateway on every
 * upstream: no provider type here speaks the Responses API natively (OpenAI-type providers
 * are reached over Chat Completions), so there is no upstream `/responses/compact` to forward
 * to. The gateway asks the routed model for a summary — the conversation, then
 * `COMPACTION_PROMPT` as a last user turn, tools declared but not callable — through the same
 * dispatch as a chat request (routing, rotation, stats), and answers as OpenAI does:
 * `{ object: "response.compaction", output: [...], usage }`, where `output` is the
 * conversation's user messages (newest ~80 000 characters, as Codex's own local compaction
 * keeps them) followed by one `compaction` item carrying the summary
 * (`src/formats/openai_responses/compaction.ts`). Codex replaces its history with `output`
 * and sends it on its next turns, where the compaction item becomes a user turn with the
 * summary.
 *
 * Request (Codex's `CompactionInput`): `model`, `input` (items), `instructions`, `tools`,
 * `parallel_tool_calls`, and optionally `reasoning`, `text`, `prompt_cache_key`,
 * `service_tier`.
 *
 * Codex 0.171 compacts through `/v1/responses` instead (v2, `compactionTriggerHooks`); the
 * same summary request serves both.
 */
export const COMPACTION_PROMPT =
  "Context compaction: the conversation above is about to be replaced by a summary, and " +
  "work will continue from that summary alone. Write it now, for yourself: the user's goals " +
  "and constraints, what has been done and decided, the current state (files, commands and " +
  "their results, errors), what remains open, and the next steps. Be concise but keep every " +
  "detail needed to continue. Do not call tools; answer with the summary only.";

/** User-message characters kept verbatim next to the summary. */
const RETAINED_USER_CHARS = 80_000;

/**
 * `POST /v1/responses/compact` (remote compaction v1): the conversation's user messages, then
 * one compaction item.
 */
export const compactionHooks: ConversationHooks = {
  rewrite(json) {
    if (!isRecord(json)) return Promise.resolve(json as Record<string, unknown>);
    const input = typeof json.input === "string"
      ? [{ type: "message", role: "user", content: json.input }]
      : json.input;
    if (!Array.isArray(input)) {
      throw new RequestError("Missing required parameter: 'input' (the items to compact).");
    }
    return Promise.resolve(summaryRequest(json, input));
  },
  async answered(res, json) {
    if (!res.ok) return res;
    const answer = await res.json() as Record<string, unknown>;
    const input = (json.input as unknown[]).slice(0, -1); // without the compaction prompt
    return Response.json({
      id: typeof answer.id === "string" ? answer.id.replace(/^resp_/, "cmp_") : undefined,
      object: "response.compaction",
      created_at: answer.created_at ?? Math.floor(Date.now() / 1000),
      output: [...retainedUserMessages(input), compactionItem(answer)],
      usage: answer.usage,
    });
  },
};

/** Compaction-trigger requests seen by `compactionTriggerHooks.rewrite`, with their stream flag. */
const triggered = new WeakMap<Request, { stream: boolean }>();

/**
 * Remote compaction v2 (what Codex 0.171 sends to OpenAI-named providers): a `POST
 * /v1/responses` whose last input item is `{"type":"compaction_trigger"}`. The answer — plain
 * or streamed, as asked — is a Responses object whose only output item is the compaction
 * item; Codex keeps the user messages itself and appends the item.
 */
export const compactionTriggerHooks: ConversationHooks = {
  rewrite(json, req) {
    const body = json as Record<string, unknown>;
    if (!isRecord(json) || !Array.isArray(json.input)) return Promise.resolve(body);
    const last: unknown = json.input.at(-1);
    if (!isRecord(last) || last.type !== "compaction_trigger") return Promise.resolve(body);
    triggered.set(req, { stream: json.stream === true });
    return Promise.resolve(summaryRequest(json, json.input.slice(0, -1)));
  },
  async answered(res, _json, req) {
    const trigger = triggered.get(req);
    if (!trigger || !res.ok) return res;
    const answer = await res.json() as Record<string, unknown>;
    const item = compactionItem(answer);
    const response = { ...answer, status: "completed", output: [item] };
    if (!trigger.stream) return Response.json(response);
    const started = { ...response, status: "in_progress", output: [], usage: null };
    const events: Array<[string, Record<string, unknown>]> = [
      ["response.created", { response: started }],
      ["response.in_progress", { response: started }],
      ["response.output_item.added", { output_index: 0, item }],
      ["response.output_item.done", { output_index: 0, item }],
      ["response.completed", { response }],
    ];
    const body = events.map(([type, payload], i) =>
      formatSse({
        event: type,
        data: JSON.stringify({ type, ...payload, sequence_number: i }),
      })
    ).join("");
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8" },
    });
  },
};

/** The summary request: the conversation, the prompt as the last user turn, tools not callable. */
function summaryRequest(
  body: Record<string, unknown>,
  input: unknown[],
): Record<string, unknown> {
  const ask: Record<string, unknown> = {
    model: body.model,
    input: [...input, { type: "message", role: "user", content: COMPACTION_PROMPT }],
    stream: false,
    store: false,
  };
  if (typeof body.instructions === "string" && body.instructions !== "") {
    ask.instructions = body.instructions;
  }
  // Histories with tool calls need the tools declared (Anthropic refuses them otherwise).
  const tools = Array.isArray(body.tools) ? body.tools : [];
  if (tools.length > 0) {
    ask.tools = tools;
    ask.tool_choice = "none";
  }
  if (body.reasoning !== undefined) ask.reasoning = body.reasoning;
  if (body.prompt_cache_key !== undefined) ask.prompt_cache_key = body.prompt_cache_key;
  return ask;
}

/** The compaction item carrying the summary the model wrote; 502 when it wrote none. */
function compactionItem(answer: Record<string, unknown>): Record<string, unknown> {
  const summary = outputText(answer.output);
  if (summary === "") {
    throw new UpstreamError(502, "The model answered the compaction request with no summary.", {
      code: "empty_compaction",
    });
  }
  return {
    id: `cmp_${crypto.randomUUID().replaceAll("-", "")}`,
    type: "compaction",
    encrypted_content: encodeCompaction(summary),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The assistant text of a Responses `output`. */
function outputText(output: unknown): string {
  if (!Array.isArray(output)) return "";
  const texts: string[] = [];
  for (const item of output) {
    if (item?.type !== "message" || !Array.isArray(item.content)) continue;
    for (const part of item.content) {
      if (part?.type === "output_text" && typeof part.text === "string") texts.push(part.text);
    }
  }
  return texts.join("").trim();
}

/** The newest user messages of `input` up to the budget, in their order. */
function retainedUserMessages(input: unknown[]): unknown[] {
  const kept: unknown[] = [];
  let budget = RETAINED_USER_CHARS;
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i] as Record<string, unknown> | null;
    if (typeof item !== "object" || item === null || item.role !== "user") continue;
    if (item.type !== undefined && item.type !== "message") continue;
    const size = JSON.stringify(item.content ?? "").length;
    if (size > budget) break;
    budget -= size;
    kept.push(item);
  }
  return kept.reverse();
}
