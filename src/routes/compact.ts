import { RequestError, UpstreamError } from "../errors.ts";
import { encodeCompaction } from "../formats/openai_responses/compaction.ts";
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
 */
export const COMPACTION_PROMPT =
  "Context compaction: the conversation above is about to be replaced by a summary, and " +
  "work will continue from that summary alone. Write it now, for yourself: the user's goals " +
  "and constraints, what has been done and decided, the current state (files, commands and " +
  "their results, errors), what remains open, and the next steps. Be concise but keep every " +
  "detail needed to continue. Do not call tools; answer with the summary only.";

/** User-message characters kept verbatim next to the summary. */
const RETAINED_USER_CHARS = 80_000;

export const compactionHooks: ConversationHooks = {
  rewrite(json) {
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return Promise.resolve(json as Record<string, unknown>); // the parser says what is wrong
    }
    const body = json as Record<string, unknown>;
    const input = typeof body.input === "string"
      ? [{ type: "message", role: "user", content: body.input }]
      : body.input;
    if (!Array.isArray(input)) {
      throw new RequestError("Missing required parameter: 'input' (the items to compact).");
    }
    const tools = Array.isArray(body.tools) ? body.tools : [];
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
    if (tools.length > 0) {
      ask.tools = tools;
      ask.tool_choice = "none";
    }
    if (body.reasoning !== undefined) ask.reasoning = body.reasoning;
    if (body.prompt_cache_key !== undefined) ask.prompt_cache_key = body.prompt_cache_key;
    return Promise.resolve(ask);
  },
  async answered(res, json) {
    if (!res.ok) return res;
    const answer = await res.json() as Record<string, unknown>;
    const summary = outputText(answer.output);
    if (summary === "") {
      throw new UpstreamError(502, "The model answered the compaction request with no summary.", {
        code: "empty_compaction",
      });
    }
    const input = (json.input as unknown[]).slice(0, -1); // without the compaction prompt
    return Response.json({
      id: typeof answer.id === "string" ? answer.id.replace(/^resp_/, "cmp_") : undefined,
      object: "response.compaction",
      created_at: answer.created_at ?? Math.floor(Date.now() / 1000),
      output: [
        ...retainedUserMessages(input),
        { type: "compaction", encrypted_content: encodeCompaction(summary) },
      ],
      usage: answer.usage,
    });
  },
};

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
