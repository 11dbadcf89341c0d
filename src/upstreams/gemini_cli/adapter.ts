import { UpstreamError } from "../../errors.ts";
import { irToGeminiRequest } from "../../formats/gemini/request.ts";
import { geminiResponseToIr } from "../../formats/gemini/response.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { fetchUpstream } from "../fetch_upstream.ts";
import { geminiUpstreamError } from "../gemini/errors.ts";
import { individualTierError, isIndividualTierRefusal } from "./individual_tier.ts";
import type { CallContext, Upstream } from "../types.ts";
import { codeAssistHeaders, type CodeAssistMethod, codeAssistUrl } from "./code_assist.ts";
import { buildCodeAssistRequest, codeAssistSseToIr, unwrapCodeAssistResponse } from "./envelope.ts";

interface Lease {
  accessToken: string;
  projectId: string;
}

/**
 * The account is what makes a Code Assist call possible; without one (or without the project
 * its discovery stores) the gateway is misconfigured, which is not the client's fault.
 */
function leaseOf(ctx: CallContext): Lease {
  const account = ctx.account;
  if (!account || account.accessToken === "") {
    throw new UpstreamError(500, "The gemini-cli provider has no usable account for this call.", {
      code: "account_missing",
    });
  }
  if (!account.projectId) {
    throw new UpstreamError(
      500,
      "The gemini-cli account has no Code Assist project yet (project discovery has not run).",
      { code: "account_not_prepared" },
    );
  }
  return { accessToken: account.accessToken, projectId: account.projectId };
}

async function post(
  ctx: CallContext,
  lease: Lease,
  method: CodeAssistMethod,
  body: unknown,
  sse = false,
): Promise<Response> {
  const res = await fetchUpstream(codeAssistUrl(ctx.provider, method, sse), {
    method: "POST",
    headers: codeAssistHeaders(ctx.provider, lease.accessToken, {
      model: ctx.model,
      accept: sse ? "text/event-stream" : "application/json",
    }),
    body: JSON.stringify(body),
    timeoutMs: ctx.provider.timeout_ms,
    timeouts: ctx.provider,
    clientSignal: ctx.signal,
    proxyUrl: ctx.provider.proxy_url,
    observe: ctx.observe,
  });
  // Google's error bodies (RetryInfo for 429s, UNAUTHENTICATED for 401s) map like Gemini's.
  if (!res.ok) {
    const err = await geminiUpstreamError(res, [lease.accessToken]);
    // An individual/Google One account: refused for good, so it leaves the rotation.
    if (isIndividualTierRefusal(err.message)) {
      await ctx.account?.reportUnsupported?.(individualTierError(err.message).message);
    }
    throw err;
  }
  return res;
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    throw new UpstreamError(
      502,
      "The Code Assist upstream answered with a body that is not JSON.",
      {
        code: "upstream_bad_response",
      },
    );
  }
}

/**
 * Google Code Assist with Gemini CLI OAuth accounts (`gemini-cli`). Every client format goes
 * through the IR: the Gemini body is built by the Gemini format module and wrapped in Code
 * Assist's envelope; answers are unwrapped and decoded by the same module.
 */
export const geminiCliUpstream: Upstream = {
  type: "gemini-cli",
  countTokens: (req, ctx) => countCodeAssistTokens(req, ctx),

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const lease = leaseOf(ctx);
    const body = await buildCodeAssistRequest(req, {
      model: ctx.model,
      project: lease.projectId,
      signal: ctx.signal,
    });
    const res = await post(ctx, lease, "generateContent", body);
    return geminiResponseToIr(unwrapCodeAssistResponse(await readJson(res)), { model: ctx.model });
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const lease = leaseOf(ctx);
    const body = await buildCodeAssistRequest(req, {
      model: ctx.model,
      project: lease.projectId,
      signal: ctx.signal,
    });
    const res = await post(ctx, lease, "streamGenerateContent", body, true);
    if (!res.body) {
      throw new UpstreamError(502, "The Code Assist upstream answered without a body.", {
        code: "upstream_bad_response",
      });
    }
    return codeAssistSseToIr(res.body, { model: ctx.model });
  },
};

/**
 * Counts prompt tokens with Code Assist's `countTokens` (`{request: {model: "models/…",
 * contents}}` → `{totalTokens}`), for callers that want Google's count over a local estimate.
 */
export async function countCodeAssistTokens(req: IrRequest, ctx: CallContext): Promise<number> {
  const lease = leaseOf(ctx);
  const gemini = await irToGeminiRequest(req, { model: ctx.model, images: { signal: ctx.signal } });
  const res = await post(ctx, lease, "countTokens", {
    request: { model: `models/${ctx.model.replace(/^models\//, "")}`, contents: gemini.contents },
  });
  const json = await readJson(res);
  const total = typeof json === "object" && json !== null && "totalTokens" in json
    ? json.totalTokens
    : undefined;
  if (typeof total !== "number") {
    throw new UpstreamError(502, "The Code Assist upstream answered countTokens unexpectedly.", {
      code: "upstream_bad_response",
    });
  }
  return total;
}
