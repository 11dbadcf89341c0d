import type { Context } from "hono";
import { RequestError, toGatewayError } from "../errors.ts";
import { geminiEmbedToIr, irToGeminiEmbeddings } from "../formats/gemini/embeddings.ts";
import { irToOpenAIEmbeddings, openAIEmbedToIr } from "../formats/openai_embeddings.ts";
import { readJsonBody } from "../http/body.ts";
import type { IrEmbedRequest, IrEmbedResult } from "../ir/embeddings.ts";
import type { RequestRecord } from "../observe/observer.ts";
import { runAttempts } from "../routing/dispatch.ts";
import { ClientGoneError } from "../upstreams/fetch_upstream.ts";
import type { ConversationDeps } from "./conversation.ts";

/** One client format's embeddings request, parsed, and how to answer it. */
interface EmbedCall {
  ir: IrEmbedRequest;
  encode(result: IrEmbedResult): unknown;
}

/** `POST /v1/embeddings` (OpenAI shape). */
export function openAIEmbeddingsRoute(c: Context, deps: ConversationDeps): Promise<Response> {
  return handleEmbeddings(c, "openai_embeddings", (json) => {
    const { ir, encoding } = openAIEmbedToIr(json);
    return { ir, encode: (r) => irToOpenAIEmbeddings(r, ir.model, encoding) };
  }, deps);
}

/** Gemini `:embedContent` and `:batchEmbedContents` on `model`. */
export function geminiEmbeddingsRoute(
  c: Context,
  model: string,
  batch: boolean,
  deps: ConversationDeps,
): Promise<Response> {
  return handleEmbeddings(c, "gemini_embeddings", (json) => {
    const ir = geminiEmbedToIr(json, model, batch);
    return { ir, encode: (r) => irToGeminiEmbeddings(r, batch) };
  }, deps);
}

/**
 * Serves one embeddings request through the attempt loop chat uses (`runAttempts`): routing by
 * model, the credential pool, health and cooldowns, retries and fallbacks, stats and the
 * request log. Each attempt asks the routed upstream's `embed`; a type without one is a 400.
 */
async function handleEmbeddings(
  c: Context,
  format: string,
  parse: (json: unknown) => EmbedCall,
  deps: ConversationDeps,
): Promise<Response> {
  const observer = deps.observer;
  const rec = observer?.begin(format, "", false);
  try {
    const res = await serve(c, parse, deps, rec);
    return observer && rec ? await observer.track(rec, res) : res;
  } catch (err) {
    if (observer && rec) {
      observer.finish(rec, err instanceof ClientGoneError ? 499 : toGatewayError(err).status);
    }
    throw err;
  }
}

async function serve(
  c: Context,
  parse: (json: unknown) => EmbedCall,
  deps: ConversationDeps,
  rec: RequestRecord | undefined,
): Promise<Response> {
  const limits = deps.state().config.limits;
  const req = c.req.raw;
  const { json } = await readJsonBody(req, limits.max_body_bytes, {
    idleTimeoutMs: limits.body_idle_timeout_ms,
  });
  const call = parse(json);
  if (rec) rec.model = call.ir.model;
  return await runAttempts({
    model: call.ir.model,
    headers: req.headers,
    signal: () => req.signal,
    record: rec,
    async send(upstream, ctx) {
      if (!upstream.embed) {
        throw new RequestError(
          `The model '${call.ir.model}' is served by provider '${ctx.provider.id}' (type ` +
            `${upstream.type}), which cannot serve embeddings.`,
          "embeddings_unsupported",
        );
      }
      const result = await upstream.embed(call.ir, ctx);
      // Gemini answers carry no usage: the record keeps the count (estimated) for the stats.
      if (rec) rec.usage = { input: result.inputTokens };
      return Response.json(call.encode(result));
    },
  }, deps);
}
