/**
 * Typed errors carrying an HTTP status and a message that is safe to show to a client.
 * Each API format renders them in its own error shape (see `src/formats/<format>/errors.ts`).
 */

/** The kind of error, independent of any API format; formats map it to their own type names. */
export type ErrorKind =
  | "invalid_request"
  | "authentication"
  | "permission"
  | "not_found"
  | "too_large"
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
    const kind: ErrorKind = status === 504
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

/** Turns anything thrown into a GatewayError without leaking internals (no stack, no cause text). */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError(500, "internal", "Internal gateway error.", { code: "internal_error" });
}
