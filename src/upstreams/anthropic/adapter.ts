import { hasBody, relayAnswer } from "../../http/bytes_response.ts";
import type { ProviderConfig } from "../../config/schema.ts";
import { irToAnthropicRequest } from "../../formats/anthropic/request.ts";
import { anthropicResponseToIr } from "../../formats/anthropic/response.ts";
import {
  anthropicErrorEvent,
  anthropicSseToIrTransformer,
} from "../../formats/anthropic/stream.ts";
import { guardSseStream } from "../../http/stream_guard.ts";
import type { IrEvent, IrRequest, IrResponse } from "../../ir/types.ts";
import { sseBodyToIr } from "../ir_stream.ts";
import { encodeOptionsFor } from "../encode_options.ts";
import { DEFAULT_BASE_URLS } from "../../config/presets.ts";
import {
  numberField,
  postJsonToApi,
  postToUpstream,
  readUpstreamFailure,
  readUpstreamJson,
  type UpstreamPost,
} from "../post.ts";
import type { CallContext, NativeForward, Upstream } from "../types.ts";
import { anthropicErrorParser, isAnthropicErrorBody } from "./errors.ts";

/** The API version our converted bodies are written for; native callers may send their own. */
export const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";

/** Upstream response headers worth relaying to the client on the native path. */
const RELAYED_HEADERS = /^(retry-after|request-id|anthropic-ratelimit-[a-z-]+)$/;

const BROKEN_STREAM = "The upstream stream broke off before the answer was complete.";

/**
 * Anthropic Messages upstreams (api.anthropic.com and Anthropic-compatible hosts). Anthropic
 * clients are forwarded natively; every other format goes through the IR.
 */
export const anthropicUpstream: Upstream = {
  type: "anthropic",
  countTokens: countAnthropicTokens,

  async forwardNative(req: NativeForward, ctx: CallContext): Promise<Response> {
    // Raw bytes go upstream unchanged unless an alias renames the model.
    const body = req.json.model === ctx.model
      ? req.raw
      : JSON.stringify({ ...req.json, model: ctx.model });
    const res = await postToUpstream(post(ctx, body, { stream: req.stream, native: true }));

    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (RELAYED_HEADERS.test(k)) out[k] = v;
    });
    if (!res.ok) {
      const failure = await readUpstreamFailure(res, ctx);
      // Anthropic's own error bodies are already in the caller's format: relay them.
      if (!isAnthropicErrorBody(failure.text)) throw anthropicErrorParser(failure);
      out["content-type"] = "application/json";
      return new Response(failure.text, { status: failure.clientStatus, headers: out });
    }

    const contentType = res.headers.get("content-type") ?? "application/json";
    out["content-type"] = contentType;
    if (!hasBody(res)) return new Response(null, { status: res.status, headers: out });
    if (!contentType.includes("text/event-stream")) {
      return relayAnswer(res, { status: res.status, headers: out });
    }
    out["cache-control"] = "no-cache";
    // An SSE answer is a fetch stream, never bytes read whole.
    const stream = guardSseStream(res.body as ReadableStream<Uint8Array>, {
      onError: () => anthropicErrorEvent(502, BROKEN_STREAM),
    });
    return new Response(stream, { status: res.status, headers: out });
  },

  async send(req: IrRequest, ctx: CallContext): Promise<IrResponse> {
    const body = irToAnthropicRequest({ ...req, stream: false }, ctx.model, encodeOptionsFor(ctx));
    const json = await postJsonToApi({
      ...post(ctx, JSON.stringify(body), { stream: false, native: false }),
      errorParser: anthropicErrorParser,
      read: "json",
    });
    return anthropicResponseToIr(json);
  },

  async stream(req: IrRequest, ctx: CallContext): Promise<ReadableStream<IrEvent>> {
    const body = irToAnthropicRequest({ ...req, stream: true }, ctx.model, encodeOptionsFor(ctx));
    const res = await postJsonToApi({
      ...post(ctx, JSON.stringify(body), { stream: true, native: false }),
      errorParser: anthropicErrorParser,
      read: "sse",
    });
    if (!(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      // Some Anthropic-compatible hosts ignore `stream: true` and answer with one Message.
      const json = await readUpstreamJson(res);
      return ReadableStream.from(responseEvents(anthropicResponseToIr(json)));
    }
    // A read failure mid-stream becomes an IR error event and a clean end.
    return sseBodyToIr(res.body, anthropicSseToIrTransformer());
  },
};

/** Anthropic's `/v1/messages/count_tokens` for the converted request. */
async function countAnthropicTokens(req: IrRequest, ctx: CallContext): Promise<number> {
  const { max_tokens: _m, stream: _s, ...body } = irToAnthropicRequest(
    { ...req, stream: false },
    ctx.model,
    { caps: encodeOptionsFor(ctx).caps },
  ) as unknown as Record<string, unknown>;
  const json = await postJsonToApi({
    url: `${anthropicMessagesUrl(ctx.provider)}/count_tokens`,
    headers: anthropicHeaders(ctx, { stream: false, native: false }),
    body: JSON.stringify(body),
    ctx,
    errorParser: anthropicErrorParser,
    read: "json",
  });
  return numberField(json, "input_tokens", "Anthropic count_tokens");
}

/** `${base}/v1/messages`; a base URL given with or without its trailing `/v1` both work. */
export function anthropicMessagesUrl(provider: ProviderConfig): string {
  const base = (provider.base_url ?? DEFAULT_BASE_URLS.anthropic).replace(/\/+$/, "")
    .replace(/\/v1$/, "");
  return `${base}/v1/messages`;
}

/**
 * Upstream headers, built from scratch so nothing identifying the client (IPs, cookies, its
 * gateway key) leaks. Native callers' `anthropic-version` and `anthropic-beta` are protocol
 * headers and pass; a provider's configured `anthropic-beta` is merged with the client's.
 */
export function anthropicHeaders(
  ctx: CallContext,
  options: { stream: boolean; native: boolean },
): Headers {
  const headers = new Headers({
    "content-type": "application/json",
    accept: options.stream ? "text/event-stream" : "application/json",
    "anthropic-version": DEFAULT_ANTHROPIC_VERSION,
  });
  const betas: string[] = [];
  if (options.native) {
    const version = ctx.clientHeaders.get("anthropic-version")?.trim();
    if (version && /^[\w.-]{1,64}$/.test(version)) headers.set("anthropic-version", version);
    betas.push(...splitList(ctx.clientHeaders.get("anthropic-beta")));
  }
  for (const [k, v] of Object.entries(ctx.provider.headers)) {
    if (k.toLowerCase() === "anthropic-beta") betas.push(...splitList(v));
    else headers.set(k, v);
  }
  if (betas.length > 0) headers.set("anthropic-beta", [...new Set(betas)].join(","));
  if (ctx.apiKey) headers.set("x-api-key", ctx.apiKey);
  return headers;
}

function splitList(value: string | null | undefined): string[] {
  return (value ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function post(
  ctx: CallContext,
  body: BodyInit,
  options: { stream: boolean; native: boolean },
): UpstreamPost {
  return {
    url: anthropicMessagesUrl(ctx.provider),
    headers: anthropicHeaders(ctx, options),
    body,
    ctx,
  };
}

/** A whole answer as the IR events a stream of it would have produced. */
function responseEvents(res: IrResponse): IrEvent[] {
  const events: IrEvent[] = [
    { type: "start", id: res.id, model: res.model, created: res.created },
  ];
  let tool = 0;
  for (const part of res.content) {
    if (part.type === "text") events.push({ type: "text_delta", text: part.text });
    else if (part.type === "reasoning") {
      const ev: IrEvent = { type: "reasoning_delta", text: part.text };
      if (part.signature !== undefined) ev.signature = part.signature;
      if (part.redacted !== undefined) ev.redacted = part.redacted;
      if (part.origin !== undefined) ev.origin = part.origin;
      events.push(ev);
    } else if (part.type === "tool_call") {
      const index = tool++;
      events.push(
        { type: "tool_call_start", index, id: part.id, name: part.name },
        { type: "tool_call_delta", index, argumentsDelta: part.arguments },
        { type: "tool_call_end", index },
      );
    }
  }
  events.push({
    type: "finish",
    reason: res.finishReason,
    ...(res.usage ? { usage: res.usage } : {}),
  });
  return events;
}
