import { builtinCapabilities, effortForBudget } from "../../ir/capabilities.ts";
import type { EncodeOptions } from "../../ir/encode_options.ts";
import type { IrPart, IrRequest, JsonObject } from "../../ir/types.ts";

/** One message of an OpenAI Chat request, as sent upstream. */
type WireMessage = Record<string, unknown>;

/**
 * IR request → OpenAI Chat Completions body, for OpenAI-compatible upstreams.
 * Reasoning from history is sent as `reasoning_content` (DeepSeek/Qwen style) only when it
 * carries no foreign signature; signed reasoning from other families is dropped. Reasoning
 * models (per `options.caps`, else the capability table) get `max_completion_tokens` and no
 * sampling settings other than the defaults, which they refuse.
 */
export function irToChatRequest(
  ir: IrRequest,
  model: string,
  options: EncodeOptions = {},
): Record<string, unknown> {
  const caps = options.caps ?? builtinCapabilities(model);
  const messages: WireMessage[] = [];
  const systemText = systemTextOf(ir.system);
  if (systemText !== "") messages.push({ role: "system", content: systemText });

  for (const msg of ir.messages) {
    switch (msg.role) {
      case "system":
        messages.push({ role: "system", content: systemTextOf(msg.parts) });
        break;
      case "user":
        messages.push({ role: "user", content: userContent(msg.parts) });
        break;
      case "assistant": {
        const text = textOf(msg.parts);
        const calls = msg.parts.flatMap((p) =>
          p.type === "tool_call"
            ? [{ id: p.id, type: "function", function: { name: p.name, arguments: p.arguments } }]
            : []
        );
        const out: WireMessage = {
          role: "assistant",
          content: text === "" && calls.length ? null : text,
        };
        if (calls.length) out.tool_calls = calls;
        messages.push(out);
        break;
      }
      case "tool":
        for (const p of msg.parts) {
          if (p.type !== "tool_result") continue;
          messages.push({ role: "tool", tool_call_id: p.toolCallId, content: textOf(p.content) });
        }
        // Some user turns carry text next to tool results (Anthropic allows it).
        if (msg.parts.some((p) => p.type === "text" || p.type === "image")) {
          messages.push({
            role: "user",
            content: userContent(msg.parts.filter((p) => p.type !== "tool_result")),
          });
        }
        break;
    }
  }

  const body: Record<string, unknown> = { model, messages };
  if (ir.stream) {
    body.stream = true;
    // Always ask for usage so every client format can report it.
    body.stream_options = { include_usage: true };
  }
  if (ir.maxTokens !== undefined) {
    body[caps.maxTokensParam] = caps.maxOutputTokens !== undefined
      ? Math.min(ir.maxTokens, caps.maxOutputTokens)
      : ir.maxTokens;
  }
  // Reasoning models refuse any temperature/top_p but the default (1).
  const dropped: string[] = [];
  if (ir.temperature !== undefined) {
    if (!caps.fixedSampling || ir.temperature === 1) body.temperature = ir.temperature;
    else dropped.push("temperature");
  }
  if (ir.topP !== undefined) {
    if (!caps.fixedSampling || ir.topP === 1) body.top_p = ir.topP;
    else dropped.push("top_p");
  }
  if (dropped.length > 0) options.onDropped?.(dropped);
  if (ir.stop.length) body.stop = ir.stop;
  if (ir.seed !== undefined) body.seed = ir.seed;
  if (ir.n !== undefined && ir.n !== 1) body.n = ir.n;
  if (ir.user !== undefined) body.user = ir.user;
  if (options.promptCacheKey && ir.promptCacheKey !== undefined) {
    body.prompt_cache_key = ir.promptCacheKey;
  }
  if (ir.tools.length) {
    body.tools = ir.tools.map((t) => ({
      type: "function",
      function: {
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        parameters: t.parameters,
      },
    }));
    if (ir.parallelToolCalls !== undefined) body.parallel_tool_calls = ir.parallelToolCalls;
  }
  if (ir.toolChoice) {
    body.tool_choice = ir.toolChoice.type === "tool"
      ? { type: "function", function: { name: ir.toolChoice.name } }
      : ir.toolChoice.type;
  }
  const rf = ir.responseFormat;
  if (rf?.type === "json_object") body.response_format = { type: "json_object" };
  if (rf?.type === "json_schema") {
    body.response_format = {
      type: "json_schema",
      json_schema: {
        name: rf.name ?? "response",
        schema: rf.schema,
        ...(rf.strict !== undefined ? { strict: rf.strict } : {}),
      },
    };
  }
  const budget = ir.reasoning?.budgetTokens;
  const effort = ir.reasoning?.effort ??
    (budget !== undefined && budget > 0 ? effortForBudget(budget) : undefined);
  if (effort && ir.reasoning?.enabled !== false) {
    // Models that do not reason refuse the parameter.
    if (caps.thinking !== "none") body.reasoning_effort = effort;
    else options.onDropped?.(["reasoning_effort"]);
  }
  return body;
}

/** System text: blocks joined by a blank line, as Anthropic and Claude Code separate them. */
function systemTextOf(parts: IrPart[]): string {
  return parts.flatMap((p) => p.type === "text" && p.text !== "" ? [p.text] : []).join("\n\n");
}

function textOf(parts: IrPart[]): string {
  return parts.map((p) => (p.type === "text" ? p.text : "")).join("");
}

function userContent(parts: IrPart[]): string | JsonObject[] {
  if (parts.every((p) => p.type === "text")) return textOf(parts);
  const out: JsonObject[] = [];
  for (const p of parts) {
    if (p.type === "text") out.push({ type: "text", text: p.text });
    else if (p.type === "image") {
      const url = p.source.kind === "url"
        ? p.source.url
        : `data:${p.source.mediaType};base64,${p.source.data}`;
      out.push({
        type: "image_url",
        image_url: p.detail ? { url, detail: p.detail } : { url },
      });
    }
  }
  return out;
}
