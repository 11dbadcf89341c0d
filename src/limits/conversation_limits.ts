import type { ClientIdentity } from "../auth/client_identity.ts";
import type { Config } from "../config/schema.ts";
import { GatewayError, RequestError } from "../errors.ts";
import { BodyBudget } from "./body_budget.ts";
import { fuseAnswer } from "../http/fused_stream.ts";
import type { RequestHead } from "../formats/request_head.ts";

type LimitsConfig = Config["limits"];

/**
 * One admitted request: its caller and what it holds until its answer ends (a share of the
 * body budget, a stream slot). The route guard makes one per request and hands it to the
 * handler, so nothing is looked up by request later.
 */
export class Admission {
  readonly identity: ClientIdentity;
  /** Bytes of the in-flight body budget. */
  bytes = 0;
  /** The identity id whose stream slot this request took, if it took one. */
  slot: string | undefined = undefined;
  /** The answer is a stream: the request (its IR) stays in memory until the stream ends. */
  stream = false;
  released = false;
  /**
   * Someone else gives it back when the answer ends (the observer's stream tap, see
   * `handleConversation`): one wrapper per stream instead of two.
   */
  deferred = false;

  constructor(identity: ClientIdentity) {
    this.identity = identity;
  }
}

/**
 * Per-request limits of the conversation routes: a process-wide budget of request-body bytes
 * in flight (`BodyBudget`), the number of messages, and how many streams one client (its
 * identity: the client key that authenticated it, or its address on an open gateway) may hold
 * open at once. What a request holds is given back when its answer ends, fails, or the client
 * goes away — for a plain (non-stream) answer as soon as it is ready. Plain inputs: the route
 * layer passes the request's admission (made by `enter`), its IR and the limits config.
 */
export class ConversationLimits {
  readonly bodies = new BodyBudget();
  readonly #open = new Map<string, number>();

  /**
   * Before the body is read: takes the request's share of the in-flight body budget
   * (`bodyBytes`, see `bodyShare`), or throws 503 with `Retry-After`.
   */
  enter(identity: ClientIdentity, bodyBytes: number, limits: LimitsConfig): Admission {
    const admission = new Admission(identity);
    admission.bytes = this.bodies.take(bodyBytes, limits.max_inflight_body_bytes);
    return admission;
  }

  /** Throws a 400 (too many messages) or 429 (too many open streams) in the caller's format. */
  admit(admission: Admission, head: RequestHead, limits: LimitsConfig): void {
    if (head.messages > limits.max_messages) {
      throw new RequestError(
        `The request has ${head.messages} messages; the limit is ${limits.max_messages}.`,
        "too_many_messages",
      );
    }
    if (!head.stream) return;
    admission.stream = true;
    const max = limits.max_concurrent_streams_per_key;
    if (max <= 0 || admission.slot !== undefined) return;
    const key = admission.identity.id;
    const open = this.#open.get(key) ?? 0;
    if (open >= max) {
      throw new GatewayError(
        429,
        "rate_limit",
        `This client already has ${open} streams open (limit ${max}); wait for one to end.`,
        { code: "too_many_concurrent_streams", retryAfter: 1 },
      );
    }
    this.#open.set(key, open + 1);
    admission.slot = key;
  }

  /**
   * Runs a route handler so that what `enter` and `admit` took is given back when a stream's
   * body ends, or at once for a plain answer, an error or a bodiless answer.
   */
  async run(
    admission: Admission,
    handler: () => Response | Promise<Response>,
  ): Promise<Response> {
    let res: Response;
    try {
      res = await handler();
    } catch (err) {
      this.release(admission);
      throw err;
    }
    // Released by whoever took it over, or nothing held: the answer is returned untouched.
    if (admission.deferred || (admission.bytes === 0 && admission.slot === undefined)) return res;
    // `stream` first: touching `res.body` turns an in-memory answer into a stream, which
    // costs Deno's fast path for fixed-length bodies.
    if (!admission.stream || !res.body) {
      this.release(admission);
      return res;
    }
    // Given back at the stream's end, failure or cancel (a failure cancels the stages).
    const done = (): void => this.release(admission);
    return fuseAnswer(res, [{ flush: done, cancel: done }]);
  }

  /** Streams open now, for one client identity id or in total (tests, soak). */
  openStreams(key?: string): number {
    if (key !== undefined) return this.#open.get(key) ?? 0;
    let n = 0;
    for (const v of this.#open.values()) n += v;
    return n;
  }

  /** Gives back what the admission holds (once; later calls do nothing). */
  release(admission: Admission): void {
    if (admission.released) return;
    admission.released = true;
    this.bodies.give(admission.bytes);
    const slot = admission.slot;
    if (slot === undefined) return;
    const left = (this.#open.get(slot) ?? 1) - 1;
    if (left <= 0) this.#open.delete(slot);
    else this.#open.set(slot, left);
  }
}

/** Sum of header name and value lengths: what `limits.max_header_bytes` bounds. */
export function headerBytes(headers: Headers): number {
  let n = 0;
  // forEach, not the iterator: no [name, value] array per header on the hot path.
  headers.forEach((v, k) => n += k.length + v.length + 4);
  return n;
}

/** The 431 for requests whose headers exceed `limits.max_header_bytes`. */
export function headersTooLarge(size: number, max: number): GatewayError {
  return new GatewayError(
    431,
    "invalid_request",
    `Request headers take ${size} bytes; the limit is ${max}.`,
    { code: "request_header_fields_too_large" },
  );
}
