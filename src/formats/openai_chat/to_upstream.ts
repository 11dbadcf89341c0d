import type { IrPart, IrRequest, JsonObject } from "../../ir/types.ts";

/** One message of an OpenAI Chat request, as sent upstream. */
type WireMessage = Record<string, unknown>;

/**
 * IR request → OpenAI Chat Completions body, for OpenAI-compatible upstreams.
 * Reasoning from history is sent as `reasoning_content` (DeepSeek/Qwen style) only when it
 * carries no foreign signature; signed reasoning from other families is dropped.
 */
export function irToChatRequest(ir: IrRequest, model: string): Record<string, unknown> {
  const messages: WireMessage[] = [];
  const systemText = textOf(ir.system);
  if (systemText !== "") messages.push({ role: "system", content: systemText });

  for (const msg of ir.messages) {
    switch (msg.role) {
      case "system":
        messages.push({ role: "system", content: textOf(msg.parts) });
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
  if (ir.maxTokens !== undefined) body.max_tokens = ir.maxTokens;
  if (ir.temperature !== undefined) body.temperature = ir.temperature;
  if (ir.topP !== undefined) body.top_p = ir.topP;
  if (ir.stop.length) body.stop = ir.stop;
  if (ir.seed !== undefined) body.seed = ir.seed;
  if (ir.n !== undefined && ir.n !== 1) body.n = ir.n;
  if (ir.user !== undefined) body.user = ir.user;
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
  const effort = ir.reasoning?.effort ?? effortFromBudget(ir.reasoning?.budgetTokens);
  if (effort && ir.reasoning?.enabled !== false) body.reasoning_effort = effort;
  return body;
}

function effortFromBudget(budget: number | undefined): "low" | "medium" | "high" | undefined {
  if (budget === undefined) return undefined;
  return budget <= 2048 ? "low" : budget <= 16384 ? "medium" : "high";
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
