import { upstreamError } from "../../errors.ts";
import type { IrFinishReason, IrPart, IrRequest, IrResponse, IrUsage } from "../../ir/types.ts";
import { type CallIdSource, geminiModelPartToIr, irModelParts, randomCallIds } from "./parts.ts";
import {
  type GeminiResponseBody,
  type GeminiResponseParsed,
  geminiResponseSchema,
  type GeminiUsageMetadata,
} from "./schema.ts";

const FILTER_REASONS = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
  "IMAGE_RECITATION",
  "MODEL_ARMOR",
]);

/**
 * Gemini `finishReason` → IR. A function call still ends with `STOP` on the wire, so `STOP`
 * with calls in the answer is `tool_calls`.
 */
export function finishReasonToIr(
  reason: string | null | undefined,
  hasToolCalls: boolean,
): IrFinishReason {
  if (reason === "STOP") return hasToolCalls ? "tool_calls" : "stop";
  if (reason === "MAX_TOKENS") return "length";
  if (reason && FILTER_REASONS.has(reason)) return "content_filter";
  if (!reason && hasToolCalls) return "tool_calls";
  return "other";
}

/** IR finish reason → Gemini `finishReason`. */
export function finishReasonToGemini(reason: IrFinishReason): string {
  switch (reason) {
    case "stop":
    case "tool_calls":
      return "STOP";
    case "length":
      return "MAX_TOKENS";
    case "content_filter":
      return "SAFETY";
    default:
      return "OTHER";
  }
}

/**
 * `usageMetadata` → IR usage. Gemini counts thoughts apart from `candidatesTokenCount`; the IR
 * (like OpenAI) counts them inside output tokens, with `reasoningTokens` as the detail.
 * Cached tokens are part of `promptTokenCount`, as in the IR.
 */
export function usageToIr(u: GeminiResponseParsed["usageMetadata"]): IrUsage | undefined {
  if (!u) return undefined;
  const thoughts = u.thoughtsTokenCount ?? 0;
  const usage: IrUsage = {
    inputTokens: (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0),
    outputTokens: (u.candidatesTokenCount ?? 0) + thoughts,
  };
  if (u.cachedContentTokenCount != null) usage.cachedInputTokens = u.cachedContentTokenCount;
  if (u.thoughtsTokenCount != null) usage.reasoningTokens = u.thoughtsTokenCount;
  return usage;
}

/** IR usage → `usageMetadata`. */
export function usageToGemini(usage: IrUsage): GeminiUsageMetadata {
  const thoughts = usage.reasoningTokens ?? 0;
  const out: GeminiUsageMetadata = {
    promptTokenCount: usage.inputTokens,
    candidatesTokenCount: Math.max(0, usage.outputTokens - thoughts),
    totalTokenCount: usage.inputTokens + usage.outputTokens,
  };
  if (usage.cachedInputTokens !== undefined) {
    out.cachedContentTokenCount = usage.cachedInputTokens;
  }
  if (usage.reasoningTokens !== undefined) out.thoughtsTokenCount = usage.reasoningTokens;
  return out;
}

/** Converts an IR response into a Gemini `GenerateContentResponse`. */
export function irResponseToGemini(res: IrResponse, _req?: IrRequest): GeminiResponseBody {
  const parts = irModelParts(res.content, { side: "client" });
  // An empty part list makes the SDK's chat drop the turn: keep one (empty) text part.
  if (parts.length === 0) parts.push({ text: "" });
  const out: GeminiResponseBody = {
    candidates: [{
      content: { role: "model", parts },
      finishReason: finishReasonToGemini(res.finishReason),
      index: 0,
    }],
  };
  if (res.usage) out.usageMetadata = usageToGemini(res.usage);
  out.modelVersion = res.model;
  out.responseId = res.id;
  return out;
}

/** A fresh response id when the upstream gave none. */
export function newResponseId(): string {
  return `gemini-${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

/**
 * Converts a Gemini `GenerateContentResponse` from an upstream into the IR (first candidate).
 * Function calls get fresh unique ids, as the ids must not repeat across a client's turns.
 * A prompt blocked before generation (`promptFeedback.blockReason`) is `content_filter`.
 */
export function geminiResponseToIr(
  body: unknown,
  options: { model?: string; ids?: CallIdSource } = {},
): IrResponse {
  const parsed = geminiResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw upstreamError(
      "upstream_bad_body",
      "The Gemini upstream answered with an unexpected body.",
    );
  }
  const data = parsed.data;
  const ids = options.ids ?? randomCallIds();
  const candidate = data.candidates?.[0];
  const content: IrPart[] = [];
  for (const part of candidate?.content?.parts ?? []) {
    content.push(...geminiModelPartToIr(part, ids));
  }
  const hasCalls = content.some((p) => p.type === "tool_call");
  const finishReason = !candidate && data.promptFeedback?.blockReason
    ? "content_filter"
    : finishReasonToIr(candidate?.finishReason, hasCalls);
  const res: IrResponse = {
    id: data.responseId ?? newResponseId(),
    model: data.modelVersion ?? options.model ?? "",
    created: Math.floor(Date.now() / 1000),
    content,
    finishReason,
  };
  const usage = usageToIr(data.usageMetadata);
  if (usage) res.usage = usage;
  return res;
}
