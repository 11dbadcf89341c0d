import { hasBody } from "../http/bytes_response.ts";
import type { AccountLease } from "../accounts/types.ts";
import type { ProviderConfig } from "../config/schema.ts";
import { clientStatusOf, UpstreamError, upstreamError } from "../errors.ts";
import { maskSecretsInText } from "../observe/mask.ts";
import { fetchUpstream } from "./fetch_upstream.ts";

/**
 * What a POST needs from the attempt: the provider (timeouts, egress proxy), the credential
 * (its secrets are masked out of error text), the quota observer and the client's signal.
 * A CallContext is one.
 */
export interface UpstreamPostContext {
  readonly provider: ProviderConfig;
  readonly apiKey?: string;
  readonly account?: AccountLease;
  readonly observe?: (res: Response) => void;
  /**
   * Read only once the upstream is slow to answer: on the server's call contexts it is a
   * getter, and creating a request's signal costs throughput on the fast path.
   */
  readonly signal: AbortSignal;
}

/** A failed upstream answer, read and masked: what an error parser sees. */
export interface UpstreamFailure {
  /** The upstream's own status. */
  readonly status: number;
  /** What the client gets: the upstream's 4xx, else 502 (an upstream 5xx is a bad gateway). */
  readonly clientStatus: number;
  readonly headers: Headers;
  /** The body with the attempt's secrets masked. */
  readonly text: string;
}

/**
 * A format's reading of its API's error bodies: message, code and retry delay into an
 * UpstreamError with `failure.clientStatus` (or a status of its own, e.g. an auth failure).
 */
export type UpstreamErrorParser = (failure: UpstreamFailure) => UpstreamError;

/** One POST of a JSON body to an upstream API. */
export interface UpstreamPost {
  url: string;
  /** Built from scratch by the adapter: nothing of the client's request is copied here. */
  headers: HeadersInit;
  body: BodyInit;
  ctx: UpstreamPostContext;
}

/**
 * POSTs to an upstream with the provider's timeouts and returns its answer whatever the
 * status, for adapters that relay answers (same-format forwarding). The answer is read whole
 * unless it is SSE or `streamed` says it is a stream of another kind (Gemini's JSON array).
 */
export function postToUpstream(post: UpstreamPost, streamed?: boolean): Promise<Response> {
  const { provider } = post.ctx;
  return fetchUpstream(post.url, {
    method: "POST",
    headers: post.headers,
    body: post.body,
    timeoutMs: provider.timeout_ms,
    timeouts: provider,
    // The context itself: its `signal` is read only if the upstream is slow.
    clientSignal: post.ctx,
    proxyUrl: provider.proxy_url,
    observe: post.ctx.observe,
    streamed,
  });
}

/**
 * How the answer is read: `json` parses a whole JSON answer; `sse` and `json-array` give the
 * answer with its streamed body (an SSE answer, or Gemini's JSON array stream; `sse` reads a
 * non-SSE answer whole, for hosts that ignore the stream flag).
 */
export type UpstreamRead = "json" | "sse" | "json-array";

/**
 * POSTs a JSON body to an upstream API and reads the answer as the adapter says; a failed
 * answer becomes the UpstreamError the format's parser makes of it, and a body that is not
 * what was asked for becomes `upstream_bad_body`.
 */
export function postJsonToApi(
  post: UpstreamPost & { errorParser: UpstreamErrorParser; read: "json" },
): Promise<unknown>;
export function postJsonToApi(
  post: UpstreamPost & { errorParser: UpstreamErrorParser; read: "sse" | "json-array" },
): Promise<Response & { body: ReadableStream<Uint8Array> }>;
export async function postJsonToApi(
  post: UpstreamPost & { errorParser: UpstreamErrorParser; read: UpstreamRead },
): Promise<unknown> {
  const res = await postToUpstream(post, post.read === "json-array");
  if (!res.ok) throw post.errorParser(await readUpstreamFailure(res, post.ctx));
  if (post.read === "json") return await readUpstreamJson(res);
  if (!hasBody(res)) {
    throw upstreamError("upstream_bad_body", "The upstream answered without a body.");
  }
  return res;
}

/** A whole answer's JSON; anything else is `upstream_bad_body`. */
export async function readUpstreamJson(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch (err) {
    // Reading can fail on its own terms (cut off, silent): those keep their error.
    if (err instanceof UpstreamError) throw err;
    throw upstreamError("upstream_bad_body", "The upstream answered with a body that is not JSON.");
  }
}

/** A number the answer must carry (e.g. a token count); its absence is `upstream_bad_body`. */
export function numberField(json: unknown, field: string, what: string): number {
  const value: unknown = typeof json === "object" && json !== null
    ? Reflect.get(json, field)
    : undefined;
  if (typeof value !== "number") {
    throw upstreamError("upstream_bad_body", `${what} answered without a numeric ${field}.`);
  }
  return value;
}

/** Reads a failed answer for an error parser: its text with the attempt's secrets masked. */
export async function readUpstreamFailure(
  res: Response,
  ctx: Pick<UpstreamPostContext, "apiKey" | "account">,
): Promise<UpstreamFailure> {
  const raw = await res.text().catch(() => "");
  const secrets: string[] = [];
  if (ctx.apiKey) secrets.push(ctx.apiKey);
  if (ctx.account?.accessToken) secrets.push(ctx.account.accessToken);
  return {
    status: res.status,
    clientStatus: clientStatusOf(res.status),
    headers: res.headers,
    text: maskSecretsInText(raw, secrets),
  };
}

/** `Upstream answered 503: <text>` (the text truncated), for bodies a parser cannot read. */
export function describeFailure(failure: UpstreamFailure, name = "Upstream"): string {
  const text = failure.text.slice(0, 500);
  return `${name} answered ${failure.status}${text ? `: ${text}` : ""}`;
}

/**
 * GETs a JSON document from an upstream API (model lists) with the provider's timeouts; a
 * failed answer becomes the UpstreamError the format's parser makes of it.
 */
export async function getJsonFromApi(get: {
  url: string;
  headers: HeadersInit;
  ctx: UpstreamPostContext;
  errorParser: UpstreamErrorParser;
}): Promise<unknown> {
  const { provider } = get.ctx;
  const res = await fetchUpstream(get.url, {
    method: "GET",
    headers: get.headers,
    timeoutMs: provider.timeout_ms,
    timeouts: provider,
    clientSignal: get.ctx,
    proxyUrl: provider.proxy_url,
    observe: get.ctx.observe,
  });
  if (!res.ok) throw get.errorParser(await readUpstreamFailure(res, get.ctx));
  return await readUpstreamJson(res);
}
