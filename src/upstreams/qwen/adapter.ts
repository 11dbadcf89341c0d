import type { ProviderConfig } from "../../config/schema.ts";
import { UpstreamError } from "../../errors.ts";
import {
  chatResponseToIr,
  chatSseToIrTransformer,
} from "../../formats/openai_chat/from_upstream.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import { forwardOpenAI } from "../openai/forward.ts";
import { openAIErrorToUpstreamError, postChatCompletions } from "../openai/adapter.ts";
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
    throw new UpstreamError(503, "No Qwen account is available for this request.", {
      code: "no_account",
    });
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
    const token = accessToken(ctx);
    const body = req.json.model === ctx.model
      ? req.raw
      : JSON.stringify({ ...req.json, model: ctx.model });
    // forwardOpenAI takes its base URL and headers from the provider: hand it a per-attempt
    // copy pointing at this account's host.
    const res = await forwardOpenAI({
      provider: {
        ...ctx.provider,
        base_url: qwenBaseUrl(ctx),
        headers: configuredHeaders(ctx.provider),
      },
      path: "/chat/completions",
      body,
      apiKey: token,
      stream: req.stream,
      signal: ctx.signal,
      observe: ctx.observe,
    });
    if (res.ok) return res;
    // A relayed auth failure would hide the 401 the caller needs to refresh and retry.
    const text = await res.clone().text().catch(() => "");
    if (isAuthFailure(res.status, text)) throw authError(text, token);
    return res;
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const res = await post({ ...req, stream: false }, ctx);
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      throw new UpstreamError(502, "The Qwen upstream answered with a body that is not JSON.", {
        code: "upstream_bad_response",
      });
    }
    return chatResponseToIr(json, ctx.model);
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const res = await post({ ...req, stream: true }, ctx);
    if (!res.body) throw new UpstreamError(502, "The Qwen upstream sent an empty stream.");
    return sseBodyToIr(res.body, chatSseToIrTransformer(ctx.model));
  },
};

async function post(req: IrRequest, ctx: CallContext): Promise<Response> {
  const token = accessToken(ctx);
  const res = await postChatCompletions(req, ctx, {
    baseUrl: qwenBaseUrl(ctx),
    bearer: token,
    headers: configuredHeaders(ctx.provider),
  });
  if (res.ok) return res;
  const err = await openAIErrorToUpstreamError(res, token);
  if (isAuthFailure(res.status, err.message)) {
    throw new UpstreamError(401, err.message, { code: err.code ?? "invalid_token" });
  }
  throw err;
}

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
