import { upstreamError } from "../../errors.ts";
import { base64ToVector, type IrEmbedRequest, type IrEmbedResult } from "../../ir/embeddings.ts";
import { textTokens } from "../../ir/estimate_tokens.ts";
import { postJsonToApi } from "../post.ts";
import type { CallContext } from "../types.ts";
import { openAIErrorParser } from "./errors.ts";
import { openAIBaseUrl } from "./forward.ts";

/**
 * OpenAI-compatible `POST {base}/embeddings`. An OpenAI caller's body goes as it came (only the
 * model renamed for an alias); other callers' requests are written in OpenAI's shape. Vectors
 * come back as floats whichever encoding the upstream used.
 */
export async function embedOpenAI(req: IrEmbedRequest, ctx: CallContext): Promise<IrEmbedResult> {
  const body: Record<string, unknown> = req.openai
    ? { ...req.openai, model: ctx.model }
    : { model: ctx.model, input: req.input };
  if (!req.openai && req.dimensions !== undefined) body.dimensions = req.dimensions;
  const headers = new Headers({ "content-type": "application/json", accept: "application/json" });
  for (const [k, v] of Object.entries(ctx.provider.headers)) headers.set(k, v);
  if (ctx.apiKey) headers.set("authorization", `Bearer ${ctx.apiKey}`);
  const json = await postJsonToApi({
    url: `${openAIBaseUrl(ctx.provider)}/embeddings`,
    headers,
    body: JSON.stringify(body),
    ctx,
    errorParser: openAIErrorParser,
    read: "json",
  }) as { data?: unknown; usage?: { prompt_tokens?: unknown } };
  if (!Array.isArray(json.data)) {
    throw upstreamError("upstream_bad_body", "The embeddings answer has no data array.");
  }
  const items = (json.data as Array<{ index?: unknown; embedding?: unknown }>)
    .map((d, i) => ({ index: typeof d?.index === "number" ? d.index : i, e: d?.embedding }))
    .sort((a, b) => a.index - b.index);
  const vectors = items.map(({ e }) => {
    if (typeof e === "string") return base64ToVector(e);
    if (Array.isArray(e) && e.every((x) => typeof x === "number")) return e as number[];
    throw upstreamError("upstream_bad_body", "The embeddings answer holds a malformed vector.");
  });
  const reported = json.usage?.prompt_tokens;
  if (typeof reported === "number") return { vectors, inputTokens: reported, estimated: false };
  return { vectors, inputTokens: estimateEmbedTokens(req), estimated: true };
}

/** The local estimate (`src/ir/estimate_tokens.ts`) for upstreams that report no usage. */
export function estimateEmbedTokens(req: IrEmbedRequest): number {
  return req.input.reduce(
    (n: number, item: string | number[]) =>
      n + (typeof item === "string" ? textTokens(item) : item.length),
    0,
  );
}
