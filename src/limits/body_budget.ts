import { declaredLength } from "../http/body.ts";
import { GatewayError } from "../errors.ts";

/**
 * A process-wide budget of request-body bytes in flight (`limits.max_inflight_body_bytes`):
 * a request's share is taken before its body is read and given back when its answer ends, so
 * many large requests at once cannot exhaust memory. A request that does not fit gets 503 with
 * `Retry-After`. One request larger than the whole budget is still let in when nothing else
 * is in flight, so a budget below `max_body_bytes` cannot lock such requests out for good.
 */
export class BodyBudget {
  #inUse = 0;

  /** Takes `bytes` of the budget `max`, or throws the 503. Returns what to give back. */
  take(bytes: number, max: number): number {
    if (bytes <= 0) return 0;
    if (this.#inUse > 0 && this.#inUse + bytes > max) {
      throw new GatewayError(
        503,
        "upstream",
        `The gateway is holding its limit of request bodies in flight (${max} bytes); retry shortly.`,
        { code: "inflight_body_budget_exhausted", retryAfter: 1 },
      );
    }
    this.#inUse += bytes;
    return bytes;
  }

  give(bytes: number): void {
    this.#inUse = Math.max(0, this.#inUse - bytes);
  }

  /** Bytes held now (tests, metrics). */
  get inUse(): number {
    return this.#inUse;
  }
}

/**
 * What a request's body counts against the budget: its declared `Content-Length`, or, for a
 * body sent without one (chunked), `max_body_bytes`, the most it may turn out to be. The header
 * is read first: `req.body` makes a stream object, which costs the small-body fast path.
 */
export function bodyShare(req: Request, maxBodyBytes: number): number {
  const declared = declaredLength(req.headers);
  if (declared !== undefined) return Math.min(declared, maxBodyBytes);
  return req.body === null ? 0 : maxBodyBytes;
}
