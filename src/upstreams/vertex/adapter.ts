import type { FormatId } from "../../formats/client_format.ts";
import { geminiFormat } from "../../formats/gemini/format.ts";
import { upstreamGeminiRequest } from "../../formats/gemini/request.ts";
import { UpstreamError, upstreamError } from "../../errors.ts";
import { geminiResponseToIr } from "../../formats/gemini/response.ts";
import { geminiSseToIrTransformer } from "../../formats/gemini/stream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { relayGeminiAnswer } from "../gemini/adapter.ts";
import { googleErrorParser } from "../gemini/errors.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import { postJsonToApi, postToUpstream, readUpstreamFailure, type UpstreamPost } from "../post.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { claudeOnVertex, isClaudeModel, type VertexTarget } from "./claude.ts";

export const VERTEX_DEFAULT_LOCATION = "us-central1";

type Method = "generateContent" | "streamGenerateContent";

/**
 * The API root without a trailing slash or version: `provider.base_url` (a proxy, a fake), or
 * the regional host; the `global` location has a host without a region prefix.
 */
export function vertexBaseUrl(ctx: Pick<CallContext, "provider">): string {
  if (ctx.provider.base_url) {
    return ctx.provider.base_url.replace(/\/+$/, "").replace(/\/v1(beta1)?$/, "");
  }
  const location = vertexLocation(ctx);
  return location === "global"
    ? "https://aiplatform.googleapis.com"
    : `https://${location}-aiplatform.googleapis.com`;
}

export function vertexLocation(ctx: Pick<CallContext, "provider">): string {
  return ctx.provider.location ?? VERTEX_DEFAULT_LOCATION;
}

/**
 * `{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}`,
 * with `alt=sse` for SSE streams. The project comes from the account (its key's project_id, or
 * the user's override), else from the provider config.
 */
export function vertexUrl(ctx: CallContext, method: Method, sse: boolean): string {
  const project = ctx.account?.projectId ?? ctx.provider.project_id;
  if (!project) {
    throw new UpstreamError(502, "No Google Cloud project is known for this Vertex account.", {
      code: "vertex_project_missing",
    });
  }
  const location = vertexLocation(ctx);
  const model = encodeURIComponent(ctx.model.replace(/^(publishers\/google\/)?models\//, ""));
  return `${vertexBaseUrl(ctx)}/v1/projects/${encodeURIComponent(project)}/locations/${
    encodeURIComponent(location)
  }/publishers/google/models/${model}:${method}${sse ? "?alt=sse" : ""}`;
}

function accessToken(ctx: CallContext): string {
  const token = ctx.account?.accessToken;
  if (!token) {
    throw upstreamError("no_usable_account", "No Vertex account is available for this request.");
  }
  return token;
}

/**
 * The POST for one call; headers built from scratch: content type, the provider's configured
 * headers, the account's token.
 */
function post(ctx: CallContext, method: Method, sse: boolean, body: BodyInit): UpstreamPost {
  // The account is checked first: without one there is no project to build the URL from.
  const token = accessToken(ctx);
  const url = vertexUrl(ctx, method, sse);
  const headers = new Headers({
    "content-type": "application/json",
    accept: sse ? "text/event-stream" : "application/json",
  });
  for (const [k, v] of Object.entries(ctx.provider.headers)) headers.set(k, v);
  headers.set("authorization", `Bearer ${token}`);
  return { url, headers, body, ctx };
}

/** Where Claude requests go, as whom (the same account, project and location as Gemini's). */
function claudeTarget(ctx: CallContext): VertexTarget {
  const token = accessToken(ctx);
  return { base: vertexBaseUrl(ctx), location: vertexLocation(ctx), token };
}

async function buildBody(req: IrRequest, ctx: CallContext): Promise<string> {
  return JSON.stringify(await upstreamGeminiRequest(req, ctx.model, ctx.signal, ctx.imageFetch));
}

/**
 * A failed answer → UpstreamError as for Gemini (5xx → 502, RetryInfo → retryAfter); a 401
 * stays 401 so the caller refreshes the token and retries once.
 */
const vertexErrorParser = googleErrorParser("Vertex");

/**
 * Vertex AI with service-account tokens. Gemini models: bodies and answers are Gemini's, so the
 * Gemini format module does the conversion and Gemini clients are forwarded natively. Claude
 * models (`claude-*`) go to Anthropic's publisher endpoint with Anthropic bodies
 * (`./claude.ts`), and Anthropic clients are forwarded natively to them.
 */
export const vertexUpstream: Upstream = {
  type: "vertex",
  nativeFormatFor: (model: string): FormatId => isClaudeModel(model) ? "anthropic" : "gemini",

  countTokens(req: IrRequest, ctx: CallContext): Promise<number> {
    if (isClaudeModel(ctx.model)) return claudeOnVertex.countTokens(req, ctx, claudeTarget(ctx));
    // Gemini models are counted by the local estimate (the caller falls back to it).
    return Promise.reject(
      new UpstreamError(501, "Vertex counts tokens upstream for Claude models only."),
    );
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    if (isClaudeModel(ctx.model)) return await claudeOnVertex.send(req, ctx, claudeTarget(ctx));
    const body = await buildBody(req, ctx);
    const json = await postJsonToApi({
      ...post(ctx, "generateContent", false, body),
      errorParser: vertexErrorParser,
      read: "json",
    });
    return geminiResponseToIr(json, { model: ctx.model });
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    if (isClaudeModel(ctx.model)) return await claudeOnVertex.stream(req, ctx, claudeTarget(ctx));
    const body = await buildBody(req, ctx);
    const res = await postJsonToApi({
      ...post(ctx, "streamGenerateContent", true, body),
      errorParser: vertexErrorParser,
      read: "sse",
    });
    return sseBodyToIr(res.body, geminiSseToIrTransformer({ model: ctx.model }));
  },

  async forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    if (isClaudeModel(ctx.model)) {
      // A Gemini body (`contents`) for a Claude model is converted; an Anthropic one is relayed.
      return "contents" in req.json
        ? await claudeOnVertex.forwardConverted(geminiFormat, req, ctx, claudeTarget(ctx))
        : await claudeOnVertex.forwardAnthropic(req, ctx, claudeTarget(ctx));
    }
    const stream = req.hints.stream ?? req.stream;
    const sse = stream && req.hints.sse === true;
    // The model lives in the URL, so the client's bytes go upstream untouched; a stream that
    // is not SSE is Gemini's JSON array, relayed as it comes.
    const res = await postToUpstream(
      post(ctx, stream ? "streamGenerateContent" : "generateContent", sse, req.raw),
      stream && !sse,
    );
    // A 401 is thrown (not relayed) so the caller refreshes the token and retries.
    if (res.status === 401) throw vertexErrorParser(await readUpstreamFailure(res, ctx));
    return await relayGeminiAnswer(res, ctx, { sse, errorParser: vertexErrorParser });
  },
};
