import {
  chatResponseToIr,
  chatSseToIrTransformer,
} from "../../formats/openai_chat/from_upstream.ts";
import { irToChatRequest } from "../../formats/openai_chat/to_upstream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import { encodeOptionsFor } from "../encode_options.ts";
import { capabilitiesFor } from "../../ir/capabilities.ts";
import { postJsonToApi, type UpstreamPost } from "../post.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { openAIErrorParser } from "./errors.ts";
import { embedOpenAI } from "./embeddings.ts";
import { forwardOpenAI, openAIBaseUrl, type OpenAITarget } from "./forward.ts";

/** The provider's own endpoint and key. */
function target(ctx: CallContext): OpenAITarget {
  return {
    baseUrl: openAIBaseUrl(ctx.provider),
    bearer: ctx.apiKey,
    headers: ctx.provider.headers,
  };
}

/**
 * OpenAI-compatible upstreams. Chat Completions clients are forwarded natively; other
 * formats go through the IR.
 */
export const openAIUpstream: Upstream = {
  type: "openai",
  embed: embedOpenAI,

  forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    return forwardOpenAI(ctx, target(ctx), nativeBody(req, ctx), req.stream);
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const json = await postJsonToApi({
      ...chatCompletionsPost({ ...req, stream: false }, ctx, target(ctx)),
      errorParser: openAIErrorParser,
      read: "json",
    });
    return chatResponseToIr(json, ctx.model);
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const res = await postJsonToApi({
      ...chatCompletionsPost({ ...req, stream: true }, ctx, target(ctx)),
      errorParser: openAIErrorParser,
      read: "sse",
    });
    return sseBodyToIr(res.body, chatSseToIrTransformer(ctx.model));
  },
};

/**
 * The Chat body to forward: the client's raw bytes unless an alias renames the model or the
 * model refuses what the client sent (reasoning models: `max_tokens`, non-default sampling;
 * GPT-4 models: `reasoning_effort`), which is fixed rather than bounced as a 400.
 */
function nativeBody(req: NativeForward, ctx: CallContext): BodyInit {
  const json = req.json;
  let out: Record<string, unknown> | undefined = json.model === ctx.model
    ? undefined
    : { ...json, model: ctx.model };
  const caps = capabilitiesFor(ctx.model, ctx.provider.capabilities);
  if (caps.maxTokensParam === "max_completion_tokens" && json.max_tokens != null) {
    out ??= { ...json };
    out.max_completion_tokens ??= json.max_tokens;
    delete out.max_tokens;
  }
  const dropped = caps.fixedSampling
    ? ["temperature", "top_p"].filter((k) => json[k] != null && json[k] !== 1)
    : [];
  if (caps.thinking === "none" && json.reasoning_effort != null) dropped.push("reasoning_effort");
  if (dropped.length > 0) {
    out ??= { ...json };
    for (const k of dropped) delete out[k];
    encodeOptionsFor(ctx).onDropped?.(dropped);
  }
  return out ? JSON.stringify(out) : req.raw;
}

/**
 * An IR request as an OpenAI Chat Completions POST to `{baseUrl}/chat/completions`, with
 * headers built from scratch (content type, the target's headers, its bearer token). Shared by
 * every OpenAI-compatible upstream.
 */
export function chatCompletionsPost(
  req: IrRequest,
  ctx: CallContext,
  target: OpenAITarget,
  /** The model name the upstream knows (Azure: the deployment); default `ctx.model`. */
  model: string = ctx.model,
): UpstreamPost {
  // A plain record, as on the forwarding path: a Headers object validated every set (measured
  // at 2 % of a converted request's CPU).
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: req.stream ? "text/event-stream" : "application/json",
  };
  for (const k in target.headers) headers[k.toLowerCase()] = target.headers[k];
  if (target.bearer) headers.authorization = `Bearer ${target.bearer}`;
  return {
    url: `${target.baseUrl}/chat/completions${target.query ?? ""}`,
    headers,
    body: JSON.stringify(irToChatRequest(req, model, encodeOptionsFor(ctx, model))),
    ctx,
  };
}
