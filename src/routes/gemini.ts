import type { Context } from "hono";
import { NotFoundError } from "../errors.ts";
import {
  countTokensResponse,
  geminiFormat,
  geminiModelFromPath,
} from "../formats/gemini/format.ts";
import { readJsonBody } from "../http/body.ts";
import { type ConversationDeps, handleConversation } from "./conversation.ts";
import { countInputTokens } from "./count_tokens.ts";
import { geminiEmbeddingsRoute } from "./embeddings.ts";
import type { Logger } from "../observe/logger.ts";
import type { Admission } from "../limits/conversation_limits.ts";

/**
 * `POST /v1beta/models/{model}:{method}` (and `/v1/models/...`, the `@google/genai` default):
 * generateContent, streamGenerateContent (SSE with `?alt=sse`, else a streamed JSON array)
 * countTokens, which is answered locally by estimate, and embedContent / batchEmbedContents
 * (`src/routes/embeddings.ts`).
 */
export async function geminiRoute(
  c: Context,
  admission: Admission,
  deps: ConversationDeps & { logger: Logger },
): Promise<Response> {
  const url = new URL(c.req.url);
  const target = geminiModelFromPath(url.pathname);
  if (!target) {
    throw new NotFoundError(`No route for POST ${url.pathname}.`, "unknown_route");
  }
  if (target.method === "embedContent" || target.method === "batchEmbedContents") {
    return await geminiEmbeddingsRoute(
      c,
      target.model,
      target.method === "batchEmbedContents",
      deps,
    );
  }
  if (target.method === "countTokens") {
    const state = deps.state();
    const { json } = await readJsonBody(c.req.raw, state.config.limits.max_body_bytes, {
      idleTimeoutMs: state.config.limits.body_idle_timeout_ms,
    });
    const ir = geminiFormat.toIr(json, { model: target.model, stream: false });
    return Response.json(countTokensResponse(await countInputTokens(c, ir, deps)));
  }
  return await handleConversation(c, admission, geminiFormat, {
    model: target.model,
    stream: target.method === "streamGenerateContent",
    sse: url.searchParams.get("alt") === "sse",
  }, deps);
}
