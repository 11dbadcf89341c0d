import { upstreamError } from "../../errors.ts";
import { estimateInputTokens, textTokens } from "../../ir/estimate_tokens.ts";
import type {
  IrFinishReason,
  IrOrigin,
  IrPart,
  IrRequest,
  IrResponse,
  IrUsage,
} from "../../ir/types.ts";
import { encodeCallId } from "../signature_carrier.ts";
import { messageResponseSchema, type WireUsage } from "./schema.ts";
import { signatureToClient } from "./signature.ts";
import { type AnthropicMessage, type AnthropicUsage, toolInputObject } from "./types.ts";

/** Anthropic `stop_reason` → IR finish reason. */
export function stopReasonToIr(reason: string | null | undefined): IrFinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
    case null:
    case undefined:
      return "stop";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      // pause_turn (a server tool paused a long turn) and anything newer.
      return "other";
  }
}

/** IR finish reason → Anthropic `stop_reason`. */
export function finishReasonToAnthropic(reason: IrFinishReason): string {
  switch (reason) {
    case "length":
      return "max_tokens";
    case "tool_calls":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      return "end_turn";
  }
}

/**
 * Anthropic usage → IR usage. Anthropic's `input_tokens` excludes cached and cache-writing
 * tokens; the IR's `inputTokens` is the whole prompt (as OpenAI's `prompt_tokens`), so the
 * cache fields are added in and cache reads are also reported as `cachedInputTokens`.
 */
export function usageToIr(usage: WireUsage): IrUsage {
  const read = usage.cache_read_input_tokens ?? 0;
  const created = usage.cache_creation_input_tokens ?? 0;
  const out: IrUsage = {
    inputTokens: (usage.input_tokens ?? 0) + read + created,
    outputTokens: usage.output_tokens ?? 0,
  };
  if (usage.cache_read_input_tokens != null) out.cachedInputTokens = read;
  if (created > 0) out.cacheWriteTokens = created;
  return out;
}

/** IR usage → Anthropic usage (the inverse split of `usageToIr`). */
export function usageToAnthropic(usage: IrUsage): AnthropicUsage {
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
  const written = Math.min(usage.cacheWriteTokens ?? 0, usage.inputTokens - cached);
  const out: AnthropicUsage = {
    input_tokens: usage.inputTokens - cached - written,
    output_tokens: usage.outputTokens,
  };
  if (usage.cachedInputTokens !== undefined) out.cache_read_input_tokens = cached;
  if (written > 0) out.cache_creation_input_tokens = written;
  return out;
}

/** Converts an IR response into an Anthropic Message for an Anthropic client. */
export function irResponseToAnthropic(res: IrResponse, req: IrRequest): AnthropicMessage {
  const content: AnthropicMessage["content"] = [];
  for (const part of res.content) {
    if (part.type === "text") {
      if (part.text !== "") content.push({ type: "text", text: part.text });
    } else if (part.type === "tool_call") {
      content.push({
        type: "tool_use",
        id: toolUseId(part.id, part.signature, part.origin),
        name: part.name,
        input: toolInputObject(part.arguments),
      });
    } else if (part.type === "reasoning") {
      if (part.redacted !== undefined) {
        content.push({
          type: "redacted_thinking",
          data: signatureToClient(part.redacted, part.origin),
        });
      } else {
        content.push({
          type: "thinking",
          thinking: part.text,
          signature: signatureToClient(part.signature ?? "", part.origin),
        });
      }
    }
  }
  return {
    id: res.id,
    type: "message",
    role: "assistant",
    model: res.model,
    content,
    stop_reason: finishReasonToAnthropic(res.finishReason),
    stop_sequence: null,
    // Some upstreams report no usage; an estimate beats zeros for clients that track context.
    usage: usageToAnthropic(res.usage ?? estimateUsage(req, res.content)),
  };
}

/**
 * The `tool_use.id` shown to an Anthropic client: a call signed by another family (a Gemini
 * function call's thoughtSignature) carries its signature in the id (see signature_carrier.ts).
 */
export function toolUseId(id: string, signature?: string, origin?: IrOrigin): string {
  if (signature === undefined || origin === "anthropic") return id;
  return encodeCallId(id, { signature, ...(origin ? { origin } : {}) });
}

function estimateUsage(req: IrRequest, content: IrPart[]): IrUsage {
  let out = 0;
  for (const p of content) {
    if (p.type === "text" || p.type === "reasoning") out += textTokens(p.text);
    else if (p.type === "tool_call") out += textTokens(p.name) + textTokens(p.arguments);
  }
  return { inputTokens: estimateInputTokens(req), outputTokens: out };
}

/**
 * Converts an Anthropic Message (an upstream's non-streaming answer) into the IR.
 * Throws `upstream_bad_body` (502) when the body is not a Message.
 */
export function anthropicResponseToIr(body: unknown): IrResponse {
  const parsed = messageResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw upstreamError(
      "upstream_bad_body",
      "The upstream answered with something that is not a Message.",
    );
  }
  const msg = parsed.data;
  const content: IrPart[] = [];
  for (const block of msg.content) {
    switch (block.type) {
      case "text":
        if (block.text !== "") content.push({ type: "text", text: block.text });
        break;
      case "thinking": {
        const part: IrPart = { type: "reasoning", text: block.thinking };
        if (block.signature != null && block.signature !== "") {
          part.signature = block.signature;
          part.origin = "anthropic";
        }
        content.push(part);
        break;
      }
      case "redacted_thinking":
        content.push({ type: "reasoning", text: "", redacted: block.data, origin: "anthropic" });
        break;
      case "tool_use":
        content.push({
          type: "tool_call",
          id: block.id,
          name: block.name,
          arguments: JSON.stringify(block.input ?? {}),
        });
        break;
    }
  }
  const res: IrResponse = {
    id: msg.id,
    model: msg.model,
    created: Math.floor(Date.now() / 1000),
    content,
    finishReason: stopReasonToIr(msg.stop_reason),
  };
  if (msg.usage) res.usage = usageToIr(msg.usage);
  return res;
}
