import {
  chatResponseToIr,
  chatSseToIrTransformer,
} from "../../formats/openai_chat/from_upstream.ts";
import { irToChatRequest } from "../../formats/openai_chat/to_upstream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import { postJsonToApi, type UpstreamPost } from "../post.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { openAIErrorParser } from "./errors.ts";
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

  forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    // Raw bytes go upstream unchanged unless an alias renames the model.
    const body = req.json.model === ctx.model
      ? req.raw
      : JSON.stringify({ ...req.json, model: ctx.model });
    return forwardOpenAI(ctx, target(ctx), body, req.stream);
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
 * An IR request as an OpenAI Chat Completions POST to `{baseUrl}/chat/completions`, with
 * headers built from scratch (content type, the target's headers, its bearer token). Shared by
 * every OpenAI-compatible upstream.
 */
export function chatCompletionsPost(
  req: IrRequest,
  ctx: CallContext,
  target: OpenAITarget,
): UpstreamPost {
  const headers = new Headers({
    "content-type": "application/json",
    accept: req.stream ? "text/event-stream" : "application/json",
  });
  for (const [k, v] of Object.entries(target.headers)) headers.set(k, v);
  if (target.bearer) headers.set("authorization", `Bearer ${target.bearer}`);
  return {
    url: `${target.baseUrl}/chat/completions`,
    headers,
    body: JSON.stringify(irToChatRequest(req, ctx.model)),
    ctx,
  };
}
