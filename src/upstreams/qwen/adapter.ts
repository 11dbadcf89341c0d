import type { ProviderConfig } from "../../config/schema.ts";
import { UpstreamError, upstreamError } from "../../errors.ts";
import {
  chatResponseToIr,
  chatSseToIrTransformer,
} from "../../formats/openai_chat/from_upstream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import { chatCompletionsPost } from "../openai/adapter.ts";
import { openAIErrorParser } from "../openai/errors.ts";
import { forwardOpenAI, type OpenAITarget } from "../openai/forward.ts";
import { postJsonToApi, type UpstreamErrorParser } from "../post.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { qwenApiBaseUrl } from "./base_url.ts";

/**
 * Headers qwen-code sends with OAuth tokens (DashScopeOpenAICompatibleProvider.buildHeaders):
 * the auth type tells the portal the bearer is a Qwen OAuth token, and cache control enables
 * prompt caching. The CLI's User-Agent is not imitated; `provider.headers` can set one.
 */
export const QWEN_DEFAULT_HEADERS: Readonly<Record<string, string>> = {
  "x-dashscope-authtype": "qwen-oauth",
  "x-dashscope-cachecontrol": "enable",
};

/**
 * How the portal says a token is no longer good when it does not answer 401; qwen-code's own
 * auth-error test matches the same phrases before refreshing.
 */
const AUTH_FAILURE =
  /invalid access token|token (has )?expired|invalid api[ _-]?key|unauthori[sz]ed/i;

/** The API base for this attempt: `provider.base_url` wins, else the account's resource_url. */
export function qwenBaseUrl(ctx: CallContext): string {
  if (ctx.provider.base_url) return ctx.provider.base_url.replace(/\/+$/, "");
  try {
    return qwenApiBaseUrl(ctx.account?.resourceUrl);
  } catch {
    throw new UpstreamError(502, "The Qwen account's resource_url is not a usable API host.", {
      code: "invalid_resource_url",
    });
  }
}

function accessToken(ctx: CallContext): string {
  const token = ctx.account?.accessToken;
  if (!token) {
    throw upstreamError("no_usable_account", "No Qwen account is available for this request.");
  }
  return token;
}

/** The provider's headers over Qwen's defaults; client headers never reach the upstream. */
function configuredHeaders(provider: ProviderConfig): Record<string, string> {
  const out: Record<string, string> = { ...QWEN_DEFAULT_HEADERS };
  for (const [k, v] of Object.entries(provider.headers)) out[k.toLowerCase()] = v;
  return out;
}

/**
 * Qwen Code OAuth accounts: OpenAI Chat Completions at `https://{resource_url}/v1` with the
 * account's bearer token. Chat clients are forwarded natively; other formats use the IR.
 */
export const qwenUpstream: Upstream = {
  type: "qwen",

  async forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    const t = target(ctx);
    const body = req.json.model === ctx.model
      ? req.raw
      : JSON.stringify({ ...req.json, model: ctx.model });
    const res = await forwardOpenAI(ctx, t, body, req.stream, qwenErrorParser);
    if (res.ok) return res;
    // A relayed auth failure would hide the 401 the caller needs to refresh and retry.
    const text = await res.clone().text().catch(() => "");
    if (isAuthFailure(res.status, text)) throw authError(text, t.bearer ?? "");
    return res;
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const json = await postJsonToApi({
      ...chatCompletionsPost({ ...req, stream: false }, ctx, target(ctx)),
      errorParser: qwenErrorParser,
      read: "json",
    });
    return chatResponseToIr(json, ctx.model);
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const res = await postJsonToApi({
      ...chatCompletionsPost({ ...req, stream: true }, ctx, target(ctx)),
      errorParser: qwenErrorParser,
      read: "sse",
    });
    return sseBodyToIr(res.body, chatSseToIrTransformer(ctx.model));
  },
};

/** This account's host and token, with the provider's headers over Qwen's defaults. */
function target(ctx: CallContext): OpenAITarget {
  return {
    bearer: accessToken(ctx),
    baseUrl: qwenBaseUrl(ctx),
    headers: configuredHeaders(ctx.provider),
  };
}

/** OpenAI's error bodies; an auth failure the portal words as a 400/403 becomes the 401 it is. */
const qwenErrorParser: UpstreamErrorParser = (failure) => {
  const err = openAIErrorParser(failure);
  if (!isAuthFailure(failure.status, err.message)) return err;
  return new UpstreamError(401, err.message, { code: err.code ?? "invalid_token" });
};

function isAuthFailure(status: number, text: string): boolean {
  return status === 401 || ((status === 400 || status === 403) && AUTH_FAILURE.test(text));
}

function authError(text: string, token: string): UpstreamError {
  const safe = maskSecretsInText(text, [token]).slice(0, 500);
  return new UpstreamError(
    401,
    `Qwen upstream refused the access token${safe ? `: ${safe}` : ""}`,
    {
      code: "invalid_token",
    },
  );
}
