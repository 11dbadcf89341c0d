import { UpstreamError } from "../../errors.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { forwardOpenAI } from "./forward.ts";

/**
 * OpenAI-compatible upstreams. Chat Completions clients are forwarded natively; other
 * formats go through the IR.
 */
export const openAIUpstream: Upstream = {
  type: "openai",
  nativeFormat: "openai_chat",

  forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    // Raw bytes go upstream unchanged unless an alias renames the model.
    const body = req.json.model === ctx.model
      ? req.raw
      : JSON.stringify({ ...req.json, model: ctx.model });
    return forwardOpenAI({
      provider: ctx.provider,
      path: "/chat/completions",
      body,
      apiKey: ctx.apiKey,
      stream: req.stream,
      signal: ctx.signal,
    });
  },

  send(): Promise<never> {
    return Promise.reject(notYet());
  },
  stream(): Promise<never> {
    return Promise.reject(notYet());
  },
};

function notYet(): UpstreamError {
  return new UpstreamError(400, "This upstream is reachable from OpenAI Chat clients only.", {
    code: "unsupported_conversion",
  });
}
