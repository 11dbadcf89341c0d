import { RequestError } from "../../errors.ts";
import type { ClientFormat } from "../client_format.ts";
import { describeIssue } from "../describe_issue.ts";
import { geminiRequestToIr } from "./request.ts";
import { irResponseToGemini } from "./response.ts";
import { geminiRequestSchema } from "./schema.ts";
import { irToGeminiTransformer } from "./stream.ts";

/**
 * Gemini `generateContent` as a client-facing format. The model and streaming come from the URL
 * (`/v1beta/models/{model}:streamGenerateContent?alt=sse`), passed in as hints.
 */
export const geminiFormat: ClientFormat = {
  id: "gemini",
  caller: "gemini",
  knownFields: new Set([
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
    "model",
    "labels",
  ]),
  toIr(body, hints) {
    const parsed = geminiRequestSchema.safeParse(body);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    return geminiRequestToIr(parsed.data, hints);
  },
  fromIrResponse: (res, req) => irResponseToGemini(res, req),
  encodeStream: (_req, hints) =>
    hints.sse === true
      ? { contentType: "text/event-stream", transformer: irToGeminiTransformer({ sse: true }) }
      : {
        contentType: "application/json; charset=UTF-8",
        transformer: irToGeminiTransformer({ sse: false }),
      },
};

/** The `:countTokens` answer body. */
export function countTokensResponse(tokens: number): { totalTokens: number } {
  return { totalTokens: tokens };
}

export type GeminiMethod =
  | "generateContent"
  | "streamGenerateContent"
  | "countTokens"
  | "embedContent"
  | "batchEmbedContents";

const PATH =
  /^\/(v1|v1beta|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens|embedContent|batchEmbedContents)$/;

/**
 * Parses `/v1beta/models/{model}:{method}` (also `/v1/...`). Model names may contain dots and
 * dashes (`gemini-2.5-flash`); a percent-encoded name is decoded.
 */
export function geminiModelFromPath(
  path: string,
): { model: string; method: GeminiMethod } | undefined {
  const m = PATH.exec(path);
  if (!m) return undefined;
  let model: string;
  try {
    model = decodeURIComponent(m[2]);
  } catch {
    return undefined;
  }
  if (model === "" || model.includes("/")) return undefined;
  return { model, method: m[3] as GeminiMethod };
}
