/**
 * Typed errors carrying an HTTP status and a message that is safe to show to a client.
 * Each API format renders them in its own error shape (see `src/formats/<format>/errors.ts`).
 */
import { isTransientKvError, KvConflictError } from "./kv_retry.ts";

/** The kind of error, independent of any API format; formats map it to their own type names. */
export type ErrorKind =
  | "invalid_request"
  | "authentication"
  | "permission"
  | "not_found"
  | "too_large"
  /** The prompt does not fit the model's context window (a 400 in every API). */
  | "context_length"
  | "rate_limit"
  | "quota"
  | "upstream"
  | "timeout"
  | "internal";

/** Base class: everything a format needs to render an error for the caller. */
export class GatewayError extends Error {
  readonly status: number;
  readonly kind: ErrorKind;
  /** Machine-readable code, e.g. `model_not_found`. */
  readonly code: string | undefined;
  /** Seconds, sent as `Retry-After` when set. */
  readonly retryAfter: number | undefined;
  /** Extra headers for the error answer (rate-limit headers of a managed client key). */
  headers: Record<string, string> | undefined;

  constructor(
    status: number,
    kind: ErrorKind,
    message: string,
    options: { code?: string; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "GatewayError";
    this.status = status;
    this.kind = kind;
    this.code = options.code;
    this.retryAfter = options.retryAfter;
  }
}

/** The request itself is wrong (bad JSON, wrong types, missing fields). */
export class RequestError extends GatewayError {
  constructor(message: string, code = "invalid_request", status = 400) {
    super(status, status === 413 ? "too_large" : "invalid_request", message, { code });
    this.name = "RequestError";
  }
}

/** Missing or wrong client key. */
export class AuthError extends GatewayError {
  constructor(message = "Invalid or missing API key.") {
    super(401, "authentication", message, { code: "invalid_api_key" });
    this.name = "AuthError";
  }
}

/** Unknown model or route. */
export class NotFoundError extends GatewayError {
  constructor(message: string, code = "not_found") {
    super(404, "not_found", message, { code });
    this.name = "NotFoundError";
  }
}

/** The upstream failed: unreachable (502), timed out (504), or answered with an error. */
export class UpstreamError extends GatewayError {
  constructor(
    status: number,
    message: string,
    options: { code?: string; retryAfter?: number; cause?: unknown } = {},
  ) {
    const kind: ErrorKind = status === 413
      ? "too_large"
      : status === 400 && isContextLengthError(message, options.code)
      ? "context_length"
      : status === 504
      ? "timeout"
      : status === 429
      ? "rate_limit"
      : status === 401
      ? "authentication"
      : status === 403
      ? "permission"
      : status === 404
      ? "not_found"
      : status >= 400 && status < 500
      ? "invalid_request"
      : "upstream";
    super(status, kind, message, options);
    this.name = "UpstreamError";
  }
}

/**
 * Whether an upstream's error says the prompt exceeds the model's context window, in any
 * provider's wording: OpenAI's `context_length_exceeded` ("maximum context length is …"),
 * Anthropic's "prompt is too long: N tokens > M maximum", Gemini's "input token count (N)
 * exceeds the maximum number of tokens allowed (M)".
 */
export function isContextLengthError(message: string, code?: string): boolean {
  return code === "context_length_exceeded" || CONTEXT_LENGTH_WORDING.test(message);
}

const CONTEXT_LENGTH_WORDING =
  /prompt is too long|maximum context length|context[_ ]length[_ ]exceeded|context window|input token count.*exceeds the maximum/i;

/** The opening Claude Code and the Anthropic SDKs look for in a context-length error. */
export const PROMPT_TOO_LONG = "prompt is too long";

/** Turns anything thrown into a GatewayError without leaking internals (no stack, no cause text). */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  // KV contention left over after withKvRetry's bounded retries: the caller may retry.
  if (isTransientKvError(err)) {
    return new UpstreamError(503, "The KV store is busy (locked by another process); retry.", {
      code: "kv_busy",
      retryAfter: 1,
    });
  }
  if (err instanceof KvConflictError) {
    return new GatewayError(409, "invalid_request", `${err.message}; read it again and retry.`, {
      code: "kv_conflict",
    });
  }
  return new GatewayError(500, "internal", "Internal gateway error.", { code: "internal_error" });
}

/**
 * One status and code per upstream condition, whichever adapter meets it. An answer the upstream
 * gave with its own error status keeps that status (4xx) or becomes a 502 (5xx), with the code
 * from its body or `upstream_error`; these are the conditions the gateway itself detects.
 */
export const UPSTREAM_CONDITIONS = {
  /** The answer is not what the API promises: not JSON, no body, not the expected shape. */
  upstream_bad_body: 502,
  /** The answer was cut off while being read. */
  upstream_body_broken: 502,
  /** The answer exceeded the gateway's size bound for a whole answer. */
  upstream_answer_too_large: 502,
  /** The host could not be reached or connected to. */
  upstream_unreachable: 502,
  /** The response headers did not arrive within the first-byte timeout. */
  upstream_timeout: 504,
  /** A streamed answer went silent for longer than the idle timeout. */
  upstream_idle_timeout: 504,
  /** The attempt has no account (or no token) it could call the upstream with. */
  no_usable_account: 503,
  /** The account exists but is not set up for calls yet (e.g. Code Assist project discovery). */
  account_not_prepared: 503,
} as const satisfies Record<string, number>;

export type UpstreamCondition = keyof typeof UPSTREAM_CONDITIONS;

/** The UpstreamError for a condition, with the condition's status and code. */
export function upstreamError(
  condition: UpstreamCondition,
  message: string,
  options: { retryAfter?: number; cause?: unknown } = {},
): UpstreamError {
  return new UpstreamError(UPSTREAM_CONDITIONS[condition], message, {
    ...options,
    code: condition,
  });
}

/** The status the gateway answers an upstream error status with: a server error is a bad gateway. */
export function clientStatusOf(upstreamStatus: number): number {
  return upstreamStatus >= 500 || upstreamStatus < 400 ? 502 : upstreamStatus;
}
