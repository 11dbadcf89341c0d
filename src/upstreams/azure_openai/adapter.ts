import { UpstreamError, upstreamError } from "../../errors.ts";
import {
  chatResponseToIr,
  chatSseToIrTransformer,
} from "../../formats/openai_chat/from_upstream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import { chatCompletionsPost } from "../openai/adapter.ts";
import { openAIErrorParser } from "../openai/errors.ts";
import { forwardOpenAI, type OpenAITarget } from "../openai/forward.ts";
import { postJsonToApi } from "../post.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";

/** The deployment serving a model: the provider's `deployments` map, else the model name. */
export function azureDeployment(ctx: Pick<CallContext, "provider" | "model">): string {
  return ctx.provider.deployments?.[ctx.model] ?? ctx.model;
}

/**
 * The Chat Completions target: the v1 routes (`{endpoint}/openai/v1/chat/completions`, the
 * deployment as the body's model), or with `api_version` the classic
 * `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`.
 */
export function azureChatTarget(
  ctx: Pick<CallContext, "provider" | "model">,
): { baseUrl: string; query?: string } {
  const endpoint = azureEndpoint(ctx);
  const version = ctx.provider.api_version;
  if (!version) return { baseUrl: `${endpoint}/openai/v1` };
  return {
    baseUrl: `${endpoint}/openai/deployments/${encodeURIComponent(azureDeployment(ctx))}`,
    query: `?api-version=${encodeURIComponent(version)}`,
  };
}

/** The resource endpoint (`https://NAME.openai.azure.com`), from `base_url`. */
function azureEndpoint(ctx: Pick<CallContext, "provider">): string {
  const base = (ctx.provider.base_url ?? "").replace(/\/+$/, "");
  const endpoint = base.replace(/\/openai(\/v1)?$/, "");
  if (!endpoint) {
    throw new UpstreamError(502, "An azure-openai provider needs base_url (its endpoint).");
  }
  return endpoint;
}

/** `api-key` for keys from the config; an Entra ID account's token as a bearer. */
function auth(ctx: CallContext): { bearer: string | undefined; headers: Record<string, string> } {
  const headers = { ...ctx.provider.headers };
  if (ctx.account?.accessToken) return { bearer: ctx.account.accessToken, headers };
  if (ctx.apiKey) return { bearer: undefined, headers: { ...headers, "api-key": ctx.apiKey } };
  throw upstreamError("no_usable_account", "No Azure OpenAI key or Entra ID account is available.");
}

/** A converted request as a Chat Completions POST to the deployment. */
function chatPost(req: IrRequest, ctx: CallContext) {
  const target: OpenAITarget = { ...azureChatTarget(ctx), ...auth(ctx) };
  // The context is not spread (a class instance: its lazy signal would be lost).
  return chatCompletionsPost(req, ctx, target, azureDeployment(ctx));
}

/**
 * Azure OpenAI: OpenAI's wire formats on a resource endpoint, with API keys (`api-key` header)
 * or Entra ID app registrations (bearer tokens). Responses clients are forwarded natively to
 * the Responses route; every other format goes through the IR to Chat Completions. The
 * deployment name replaces the model either way.
 */
export const azureOpenAIUpstream: Upstream = {
  type: "azure-openai",

  forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    const endpoint = azureEndpoint(ctx);
    const version = ctx.provider.api_version;
    // `{endpoint}/openai/v1/responses`, or `{endpoint}/openai/responses?api-version=…`.
    const target: OpenAITarget = {
      ...auth(ctx),
      baseUrl: version ? `${endpoint}/openai` : `${endpoint}/openai/v1`,
      path: "/responses",
    };
    if (version) target.query = `?api-version=${encodeURIComponent(version)}`;
    const body = JSON.stringify({ ...req.json, model: azureDeployment(ctx) });
    return forwardOpenAI(ctx, target, body, req.stream);
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const json = await postJsonToApi({
      ...chatPost({ ...req, stream: false }, ctx),
      errorParser: openAIErrorParser,
      read: "json",
    });
    return chatResponseToIr(json, ctx.model);
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const res = await postJsonToApi({
      ...chatPost({ ...req, stream: true }, ctx),
      errorParser: openAIErrorParser,
      read: "sse",
    });
    return sseBodyToIr(res.body, chatSseToIrTransformer(ctx.model));
  },
};
