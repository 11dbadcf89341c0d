import { relayAnswer } from "../../http/bytes_response.ts";
import { clientStatusOf, UpstreamError } from "../../errors.ts";
import { irToAnthropicRequest } from "../../formats/anthropic/request.ts";
import { anthropicResponseToIr } from "../../formats/anthropic/response.ts";
import { errorBodySchema } from "../../formats/anthropic/schema.ts";
import {
  anthropicErrorEvent,
  anthropicSseToIrTransformer,
} from "../../formats/anthropic/stream.ts";
import type { ClientFormat } from "../../formats/client_format.ts";
import { fuse } from "../../http/fused_stream.ts";
import { guardSseStream } from "../../http/stream_guard.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { anthropicHeaders } from "../anthropic/adapter.ts";
import { anthropicCloudBody, irToAnthropicCloudBody } from "../anthropic/cloud_body.ts";
import { fetchUpstream } from "../fetch_upstream.ts";
import { googleErrorParser } from "../gemini/errors.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import type { CallContext, NativeForward } from "../types.ts";

/**
 * Claude on Vertex AI: Anthropic's publisher endpoint under the same project, location and
 * service-account token as Gemini models. Bodies are Anthropic Messages bodies with
 * `anthropic_version: "vertex-2023-10-16"` and the model in the URL (`stream` stays in the
 * body); answers and in-stream events are Anthropic's. Errors come in two shapes: Google's
 * (auth, quota, routing) and Anthropic's (the model's own refusals).
 */

export const VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16";
const BODY = { version: VERTEX_ANTHROPIC_VERSION, keepStream: true } as const;
const BROKEN_STREAM = "The Vertex stream broke off before the answer was complete.";

/** Claude model ids (`claude-sonnet-4-5@20250929`), optionally with the publisher path. */
export function isClaudeModel(model: string): boolean {
  return /^(publishers\/anthropic\/models\/)?claude-/.test(model);
}

type Specifier = "rawPredict" | "streamRawPredict";

/** `{base}/v1/projects/{p}/locations/{l}/publishers/anthropic/models/{model}:{specifier}`. */
export function vertexClaudeUrl(
  ctx: CallContext,
  base: string,
  location: string,
  model: string,
  specifier: Specifier,
): string {
  const project = ctx.account?.projectId ?? ctx.provider.project_id;
  if (!project) {
    throw new UpstreamError(502, "No Google Cloud project is known for this Vertex account.", {
      code: "vertex_project_missing",
    });
  }
  // Versioned ids (`claude-sonnet-4-5@20250929`) keep their `@`, as Anthropic's SDK sends them.
  const id = encodeURIComponent(model.replace(/^publishers\/anthropic\/models\//, ""))
    .replaceAll("%40", "@");
  return `${base}/v1/projects/${encodeURIComponent(project)}/locations/${
    encodeURIComponent(location)
  }/publishers/anthropic/models/${id}:${specifier}`;
}

/** Where and as whom: the Vertex adapter supplies its base URL, location and token. */
export interface VertexTarget {
  base: string;
  location: string;
  token: string;
}

async function post(
  ctx: CallContext,
  target: VertexTarget,
  url: string,
  body: string,
  options: { stream: boolean; native: boolean },
): Promise<Response> {
  // Anthropic's protocol headers (betas) pass; the client's version header is not Vertex's.
  const headers = anthropicHeaders(ctx, options);
  headers.delete("anthropic-version");
  headers.set("authorization", `Bearer ${target.token}`);
  return await fetchUpstream(url, {
    method: "POST",
    headers,
    body,
    timeoutMs: ctx.provider.timeout_ms,
    timeouts: ctx.provider,
    clientSignal: ctx.signal,
    proxyUrl: ctx.provider.proxy_url,
    observe: ctx.observe,
  });
}

function url(ctx: CallContext, target: VertexTarget, stream: boolean): string {
  return vertexClaudeUrl(
    ctx,
    target.base,
    target.location,
    ctx.model,
    stream ? "streamRawPredict" : "rawPredict",
  );
}

/** Google-shaped errors from the Vertex front end (auth, quota) before Claude is reached. */
const vertexGoogleError = googleErrorParser("Vertex");

/**
 * A failed answer: an Anthropic error body keeps its type (and is relayable to Anthropic
 * callers as it is); a Google one is read as the Gemini adapter reads it. A 401 stays 401 so
 * the caller refreshes the token and retries once.
 */
export async function vertexClaudeFailure(
  res: Response,
  secrets: string[],
): Promise<{ error: UpstreamError; anthropicBody?: string }> {
  const text = maskSecretsInText(await res.text().catch(() => ""), secrets);
  let parsed: ReturnType<typeof errorBodySchema.safeParse> | undefined;
  try {
    parsed = errorBodySchema.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) {
    return {
      error: vertexGoogleError({
        status: res.status,
        clientStatus: clientStatusOf(res.status),
        headers: res.headers,
        text,
      }),
    };
  }
  const detail = parsed.data.error.message ?? parsed.data.error.type ?? "error";
  const status = clientStatusOf(res.status);
  return {
    error: new UpstreamError(status, `Vertex Claude answered ${res.status}: ${detail}`, {
      code: parsed.data.error.type ?? "upstream_error",
    }),
    anthropicBody: text,
  };
}

/** Claude models through Vertex, for the Vertex adapter to delegate to. */
export const claudeOnVertex = {
  async send(req: IrRequest, ctx: CallContext, target: VertexTarget): Promise<IrResponse> {
    const body = irToAnthropicCloudBody(req, ctx.model, false, BODY);
    const res = await post(ctx, target, url(ctx, target, false), JSON.stringify(body), {
      stream: false,
      native: false,
    });
    if (!res.ok) throw (await vertexClaudeFailure(res, [target.token])).error;
    return anthropicResponseToIr(await res.json());
  },

  async stream(
    req: IrRequest,
    ctx: CallContext,
    target: VertexTarget,
  ): Promise<ReadableStream<IrEvent>> {
    const body = irToAnthropicCloudBody(req, ctx.model, true, BODY);
    const res = await post(ctx, target, url(ctx, target, true), JSON.stringify(body), {
      stream: true,
      native: false,
    });
    if (!res.ok) throw (await vertexClaudeFailure(res, [target.token])).error;
    if (!res.body) {
      throw new UpstreamError(502, "The Vertex upstream answered without a body.", {
        code: "upstream_bad_response",
      });
    }
    return sseBodyToIr(res.body, anthropicSseToIrTransformer());
  },

  /** An Anthropic client's body, forwarded with only the model and version moved. */
  async forwardAnthropic(
    req: NativeForward,
    ctx: CallContext,
    target: VertexTarget,
  ): Promise<Response> {
    const body = anthropicCloudBody(req.json, BODY);
    const res = await post(ctx, target, url(ctx, target, req.stream), JSON.stringify(body), {
      stream: req.stream,
      native: true,
    });
    if (!res.ok) {
      const failure = await vertexClaudeFailure(res, [target.token]);
      if (failure.anthropicBody === undefined || res.status === 401) throw failure.error;
      return new Response(failure.anthropicBody, {
        status: failure.error.status,
        headers: { "content-type": "application/json" },
      });
    }
    const contentType = res.headers.get("content-type") ?? "application/json";
    if (!res.body || !contentType.includes("text/event-stream")) {
      return relayAnswer(res, {
        status: res.status,
        headers: { "content-type": contentType },
      });
    }
    const stream = guardSseStream(res.body, {
      onError: () => anthropicErrorEvent(502, BROKEN_STREAM),
    });
    return new Response(stream, {
      headers: { "content-type": contentType, "cache-control": "no-cache" },
    });
  },

  /** Vertex's `count-tokens:rawPredict` for the anthropic publisher (the model in the body). */
  async countTokens(req: IrRequest, ctx: CallContext, target: VertexTarget): Promise<number> {
    const { max_tokens: _m, stream: _s, ...body } = irToAnthropicRequest(
      { ...req, stream: false },
      ctx.model,
    ) as unknown as Record<string, unknown>;
    const countUrl = vertexClaudeUrl(
      ctx,
      target.base,
      target.location,
      "count-tokens",
      "rawPredict",
    );
    const res = await post(
      ctx,
      target,
      countUrl,
      JSON.stringify({ anthropic_version: VERTEX_ANTHROPIC_VERSION, ...body }),
      { stream: false, native: false },
    );
    if (!res.ok) throw (await vertexClaudeFailure(res, [target.token])).error;
    const json = await res.json() as { input_tokens?: unknown };
    if (typeof json.input_tokens !== "number") {
      throw new UpstreamError(502, "Vertex answered count-tokens unexpectedly.");
    }
    return json.input_tokens;
  },

  /**
   * A Gemini client's body for a Claude model (the routing forwards Gemini bodies to the
   * Vertex adapter natively): converted through the IR as any other format would be.
   */
  async forwardConverted(
    format: ClientFormat,
    req: NativeForward,
    ctx: CallContext,
    target: VertexTarget,
  ): Promise<Response> {
    const ir = format.toIr(req.json, req.hints);
    if (!ir.stream) {
      return Response.json(format.fromIrResponse(await claudeOnVertex.send(ir, ctx, target), ir));
    }
    const events = await claudeOnVertex.stream(ir, ctx, target);
    const encoded = format.encodeStream(ir, req.hints);
    return new Response(fuse(events, [encoded.transformer]), {
      headers: { "content-type": encoded.contentType, "cache-control": "no-cache" },
    });
  },
};
