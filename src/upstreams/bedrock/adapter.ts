import { relayAnswer } from "../../http/bytes_response.ts";
import { AwsV4Signer } from "aws4fetch";
import { UpstreamError, upstreamError } from "../../errors.ts";
import { anthropicResponseToIr } from "../../formats/anthropic/response.ts";
import {
  anthropicErrorEvent,
  anthropicSseToIrTransformer,
} from "../../formats/anthropic/stream.ts";
import { guardSseStream } from "../../http/stream_guard.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { anthropicHeaders } from "../anthropic/adapter.ts";
import { anthropicCloudBody, irToAnthropicCloudBody } from "../anthropic/cloud_body.ts";
import { postToUpstream } from "../post.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { bedrockError } from "./errors.ts";
import { bedrockStreamToAnthropicSse } from "./event_stream.ts";

export const BEDROCK_DEFAULT_REGION = "us-east-1";
/** The Messages API version Bedrock's Claude models take in the body. */
export const BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31";
const EVENT_STREAM = "application/vnd.amazon.eventstream";
const BROKEN_STREAM = "The Bedrock stream broke off before the answer was complete.";

export function bedrockRegion(ctx: Pick<CallContext, "provider">): string {
  return ctx.provider.region ?? BEDROCK_DEFAULT_REGION;
}

/** `{base}/model/{modelId}/invoke` or `/invoke-with-response-stream`; ids with `:` are escaped. */
export function bedrockUrl(ctx: Pick<CallContext, "provider" | "model">, stream: boolean): string {
  const base =
    (ctx.provider.base_url ?? `https://bedrock-runtime.${bedrockRegion(ctx)}.amazonaws.com`)
      .replace(/\/+$/, "");
  return `${base}/model/${encodeURIComponent(ctx.model)}/${
    stream ? "invoke-with-response-stream" : "invoke"
  }`;
}

/** The beta flags the Anthropic adapter would send as a header (client's on native calls). */
function betas(ctx: CallContext, native: boolean): string[] {
  const header = anthropicHeaders(ctx, { stream: false, native }).get("anthropic-beta");
  return header ? header.split(",") : [];
}

function bodyOptions(ctx: CallContext, native: boolean) {
  return { version: BEDROCK_ANTHROPIC_VERSION, keepStream: false, betas: betas(ctx, native) };
}

function secrets(ctx: CallContext): string[] {
  const aws = ctx.account?.aws;
  return aws ? [aws.secretAccessKey, ...(aws.sessionToken ? [aws.sessionToken] : [])] : [];
}

/**
 * POSTs a body SigV4-signed (aws4fetch) with the account's keys. Headers are built from scratch
 * (content type, accept, the provider's configured headers, the signature): nothing of the
 * client's travels, and beta flags go in the body, where Bedrock reads them.
 */
async function invoke(ctx: CallContext, body: string, stream: boolean): Promise<Response> {
  const aws = ctx.account?.aws;
  if (!aws) {
    throw upstreamError("no_usable_account", "No Bedrock account is available for this request.");
  }
  const headers = new Headers({
    "content-type": "application/json",
    accept: stream ? EVENT_STREAM : "application/json",
  });
  for (const [k, v] of Object.entries(ctx.provider.headers)) {
    if (k.toLowerCase() !== "anthropic-beta") headers.set(k, v);
  }
  const signed = await new AwsV4Signer({
    method: "POST",
    url: bedrockUrl(ctx, stream),
    headers,
    body,
    accessKeyId: aws.accessKeyId,
    secretAccessKey: aws.secretAccessKey,
    ...(aws.sessionToken ? { sessionToken: aws.sessionToken } : {}),
    service: "bedrock",
    region: bedrockRegion(ctx),
  }).sign();
  // An event stream is relayed as it comes (postToUpstream knows its content type).
  return await postToUpstream({ url: signed.url.toString(), headers: signed.headers, body, ctx });
}

/** The answer's event stream as Anthropic SSE bytes. */
function anthropicSseOf(res: Response): ReadableStream<Uint8Array> {
  if (!res.body) {
    throw new UpstreamError(502, "Bedrock answered with an empty body.", {
      code: "upstream_bad_body",
    });
  }
  if (!(res.headers.get("content-type") ?? "").includes(EVENT_STREAM)) {
    throw new UpstreamError(502, "Bedrock answered a stream request without an event stream.", {
      code: "upstream_bad_body",
    });
  }
  return res.body.pipeThrough(new TransformStream(bedrockStreamToAnthropicSse()));
}

/**
 * Amazon Bedrock, Claude models (`InvokeModel` / `InvokeModelWithResponseStream`) with AWS
 * access-key accounts. Bodies are Anthropic Messages bodies (`anthropic_version` in the body,
 * the model in the URL), so the Anthropic format module converts and Anthropic clients are
 * forwarded natively.
 */
export const bedrockUpstream: Upstream = {
  type: "bedrock",

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const body = irToAnthropicCloudBody(req, ctx.model, false, bodyOptions(ctx, false));
    const res = await invoke(ctx, JSON.stringify(body), false);
    if (!res.ok) throw await bedrockError(res, secrets(ctx));
    return anthropicResponseToIr(await res.json());
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const body = irToAnthropicCloudBody(req, ctx.model, true, bodyOptions(ctx, false));
    const res = await invoke(ctx, JSON.stringify(body), true);
    if (!res.ok) throw await bedrockError(res, secrets(ctx));
    return sseBodyToIr(anthropicSseOf(res), anthropicSseToIrTransformer());
  },

  async forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    const body = anthropicCloudBody(req.json, bodyOptions(ctx, true));
    const res = await invoke(ctx, JSON.stringify(body), req.stream);
    // Bedrock's error bodies are not Anthropic's: thrown, they are rendered in the caller's shape.
    if (!res.ok) throw await bedrockError(res, secrets(ctx));
    if (!req.stream) {
      return relayAnswer(res, {
        status: res.status,
        headers: { "content-type": "application/json" },
      });
    }
    const stream = guardSseStream(anthropicSseOf(res), {
      onError: () => anthropicErrorEvent(502, BROKEN_STREAM),
    });
    return new Response(stream, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  },
};
