import type { Context } from "hono";
import { presentedKeys } from "../auth/client_auth.ts";
import type { Config } from "../config/schema.ts";
import { GatewayError, RequestError } from "../errors.ts";
import type { IrRequest } from "../ir/types.ts";

type LimitsConfig = Config["limits"];

/**
 * Per-request limits of the conversation routes: the number of messages, and how many streams
 * one client (its key, or its address when it presents none) may hold open at once. A stream's
 * slot is taken when the request is admitted and given back when its answer ends, fails, or
 * the client goes away; requests that never produce a stream give it back at once.
 */
export class ConversationLimits {
  readonly #open = new Map<string, number>();
  readonly #slots = new WeakMap<Request, string>();

  /** Throws a 400 (too many messages) or 429 (too many open streams) in the caller's format. */
  admit(c: Context, ir: IrRequest, limits: LimitsConfig): void {
    if (ir.messages.length > limits.max_messages) {
      throw new RequestError(
        `The request has ${ir.messages.length} messages; the limit is ${limits.max_messages}.`,
        "too_many_messages",
      );
    }
    const max = limits.max_concurrent_streams_per_key;
    if (!ir.stream || max <= 0) return;
    const key = clientKeyOf(c);
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
    this.#slots.set(c.req.raw, key);
  }

  /**
   * Runs a route handler so that a slot taken by `admit` is given back when the answer's
   * body ends (or at once, for an error or a bodiless answer).
   */
  async run(c: Context, handler: () => Response | Promise<Response>): Promise<Response> {
    const req = c.req.raw;
    let res: Response;
    try {
      res = await handler();
    } catch (err) {
      this.#release(req);
      throw err;
    }
    const key = this.#slots.get(req);
    if (key === undefined) return res;
    if (!res.body) {
      this.#release(req);
      return res;
    }
    return new Response(releasing(res.body, () => this.#release(req)), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }

  /** Streams open now, for one client key or in total (tests, soak). */
  openStreams(key?: string): number {
    if (key !== undefined) return this.#open.get(key) ?? 0;
    let n = 0;
    for (const v of this.#open.values()) n += v;
    return n;
  }

  #release(req: Request): void {
    const key = this.#slots.get(req);
    if (key === undefined) return;
    this.#slots.delete(req);
    const left = (this.#open.get(key) ?? 1) - 1;
    if (left <= 0) this.#open.delete(key);
    else this.#open.set(key, left);
  }
}

/** The client's key, else its address: whom a stream slot belongs to. */
function clientKeyOf(c: Context): string {
  const key = presentedKeys(c.req.raw.headers, new URL(c.req.url))[0];
  if (key) return `key:${key}`;
  const env: unknown = c.env;
  const addr = typeof env === "object" && env !== null && "remoteAddr" in env
    ? (env as { remoteAddr: { hostname?: string } }).remoteAddr.hostname
    : undefined;
  return `addr:${addr ?? "unknown"}`;
}

/** Relays a body and calls `done` once: at its end, on its failure, or when it is cancelled. */
function releasing(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          finish();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        finish();
        controller.error(err);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason).catch(() => {});
    },
  });
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
