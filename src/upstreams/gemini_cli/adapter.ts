import { upstreamError } from "../../errors.ts";
import { irToGeminiRequest } from "../../formats/gemini/request.ts";
import { geminiResponseToIr } from "../../formats/gemini/response.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { geminiErrorParser } from "../gemini/errors.ts";
import { numberField, postJsonToApi, type UpstreamPost } from "../post.ts";
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
 * its discovery stores) there is nothing to call with, which is not the client's fault.
 */
function leaseOf(ctx: CallContext): Lease {
  const account = ctx.account;
  if (!account || account.accessToken === "") {
    throw upstreamError(
      "no_usable_account",
      "The gemini-cli provider has no usable account for this call.",
    );
  }
  if (!account.projectId) {
    throw upstreamError(
      "account_not_prepared",
      "The gemini-cli account has no Code Assist project yet (project discovery has not run).",
    );
  }
  return { accessToken: account.accessToken, projectId: account.projectId };
}

/**
 * The POST of one Code Assist call. Google's error bodies (RetryInfo for 429s, UNAUTHENTICATED
 * for 401s) map like Gemini's (`geminiErrorParser`).
 */
function post(
  ctx: CallContext,
  lease: Lease,
  method: CodeAssistMethod,
  body: unknown,
  sse = false,
): UpstreamPost {
  return {
    url: codeAssistUrl(ctx.provider, method, sse),
    headers: codeAssistHeaders(ctx.provider, lease.accessToken, {
      model: ctx.model,
      accept: sse ? "text/event-stream" : "application/json",
    }),
    body: JSON.stringify(body),
    ctx,
  };
}

/**
 * `postJsonToApi` for Code Assist: an answer saying the account is an individual/Google One
 * one (served no more since 2026-06-18) marks the account, which then leaves the rotation for
 * good, before the error goes on to the attempt loop.
 */
async function postCodeAssist(
  ctx: CallContext,
  request: UpstreamPost,
  read: "json" | "sse",
): Promise<unknown> {
  try {
    return read === "json"
      ? await postJsonToApi({ ...request, errorParser: geminiErrorParser, read: "json" })
      : await postJsonToApi({ ...request, errorParser: geminiErrorParser, read: "sse" });
  } catch (err) {
    if (err instanceof Error && isIndividualTierRefusal(err.message)) {
      await ctx.account?.reportUnsupported?.(individualTierError(err.message).message);
    }
    throw err;
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
      imageFetch: ctx.imageFetch,
    });
    const json = await postCodeAssist(ctx, post(ctx, lease, "generateContent", body), "json");
    return geminiResponseToIr(unwrapCodeAssistResponse(json), { model: ctx.model });
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const lease = leaseOf(ctx);
    const body = await buildCodeAssistRequest(req, {
      model: ctx.model,
      project: lease.projectId,
      signal: ctx.signal,
      imageFetch: ctx.imageFetch,
    });
    const res = await postCodeAssist(
      ctx,
      post(ctx, lease, "streamGenerateContent", body, true),
      "sse",
    ) as Response & { body: ReadableStream<Uint8Array> };
    return codeAssistSseToIr(res.body, { model: ctx.model });
  },
};

/**
 * Counts prompt tokens with Code Assist's `countTokens` (`{request: {model: "models/…",
 * contents}}` → `{totalTokens}`), for callers that want Google's count over a local estimate.
 */
export async function countCodeAssistTokens(req: IrRequest, ctx: CallContext): Promise<number> {
  const lease = leaseOf(ctx);
  const gemini = await irToGeminiRequest(req, {
    model: ctx.model,
    images: { signal: ctx.signal, settings: ctx.imageFetch },
  });
  const json = await postJsonToApi({
    ...post(ctx, lease, "countTokens", {
      request: { model: `models/${ctx.model.replace(/^models\//, "")}`, contents: gemini.contents },
    }),
    errorParser: geminiErrorParser,
    read: "json",
  });
  return numberField(json, "totalTokens", "Code Assist countTokens");
}
