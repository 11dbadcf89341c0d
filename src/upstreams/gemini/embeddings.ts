import { RequestError, upstreamError } from "../../errors.ts";
import { GEMINI_MAX_BATCH, geminiEmbedRequest } from "../../formats/gemini/embeddings.ts";
import type { IrEmbedRequest, IrEmbedResult } from "../../ir/embeddings.ts";
import { estimateEmbedTokens } from "../openai/embeddings.ts";
import { postJsonToApi } from "../post.ts";
import type { CallContext } from "../types.ts";
import { geminiBaseUrl } from "./adapter.ts";
import { geminiErrorParser } from "./errors.ts";

/**
 * Gemini `:embedContent` for one text, `:batchEmbedContents` (100 at a time, Google's limit)
 * for several. Gemini reports no token usage: the count is the local estimate.
 */
export async function embedGemini(req: IrEmbedRequest, ctx: CallContext): Promise<IrEmbedResult> {
  const texts = req.input.map((item: string | number[]) => {
    if (typeof item !== "string") {
      throw new RequestError(
        `Token-array input can only go to OpenAI-compatible upstreams; '${req.model}' is served by a Gemini upstream: send text.`,
        "unsupported_input",
      );
    }
    return item;
  });
  const name = ctx.model.replace(/^models\//, "");
  const base = `${geminiBaseUrl(ctx.provider)}/v1beta/models/${encodeURIComponent(name)}`;
  const headers = new Headers({ "content-type": "application/json", accept: "application/json" });
  for (const [k, v] of Object.entries(ctx.provider.headers)) headers.set(k, v);
  if (ctx.apiKey) headers.set("x-goog-api-key", ctx.apiKey);
  const post = (method: string, body: unknown) =>
    postJsonToApi({
      url: `${base}:${method}`,
      headers,
      body: JSON.stringify(body),
      ctx,
      errorParser: geminiErrorParser,
      read: "json",
    });
  const vectors: number[][] = [];
  if (texts.length === 1) {
    const json = await post("embedContent", geminiEmbedRequest(req, texts[0]));
    vectors.push(valuesOf((json as { embedding?: unknown }).embedding));
  } else {
    for (let i = 0; i < texts.length; i += GEMINI_MAX_BATCH) {
      const chunk = texts.slice(i, i + GEMINI_MAX_BATCH);
      const json = await post("batchEmbedContents", {
        requests: chunk.map((t) => geminiEmbedRequest(req, t, `models/${name}`)),
      }) as { embeddings?: unknown };
      if (!Array.isArray(json.embeddings) || json.embeddings.length !== chunk.length) {
        throw upstreamError("upstream_bad_body", "The batch embeddings answer is incomplete.");
      }
      for (const e of json.embeddings) vectors.push(valuesOf(e));
    }
  }
  return { vectors, inputTokens: estimateEmbedTokens(req), estimated: true };
}

function valuesOf(embedding: unknown): number[] {
  const values = typeof embedding === "object" && embedding !== null
    ? Reflect.get(embedding, "values")
    : undefined;
  if (!Array.isArray(values) || !values.every((x) => typeof x === "number")) {
    throw upstreamError("upstream_bad_body", "The embeddings answer holds a malformed vector.");
  }
  return values;
}
