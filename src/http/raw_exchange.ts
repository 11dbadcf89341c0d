import { type IncomingMessage, request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { headerRecord, inboundResponseHeaders } from "../passthrough/headers.ts";

/** A resolved address, as the system resolver gives it. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Why an exchange failed, with the status and code the gateway answers with. */
export class ExchangeError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ExchangeError";
    this.status = status;
    this.code = code;
  }
}

/**
 * One raw HTTP exchange with an upstream. node:http is used rather than fetch because fetch
 * adds its own `user-agent`, `accept-language` and `accept-encoding` and silently decompresses
 * while keeping `content-encoding`: a privacy relay must send only the client's headers and
 * relay the upstream's bytes as they are. And fetch has no resolver hook, so it could not be
 * held to the addresses the SSRF guard checked.
 */
export interface RawRequest {
  method: string;
  url: URL;
  headers: readonly [string, string][];
  body: Uint8Array | undefined;
  /** The client's signal: its disconnect cancels the upstream call, also mid-body. */
  signal: AbortSignal;
  /** Until the response headers arrive; 504 after. */
  timeoutMs: number;
  /** When set, the connection goes to these (already checked) addresses only. */
  addresses?: readonly ResolvedAddress[];
}

/** Sends one request; resolves with the upstream's response, its body streamed unbuffered. */
export function sendRaw(r: RawRequest): Promise<Response> {
  return new Promise((resolve, reject) => {
    if (r.signal.aborted) {
      reject(new ExchangeError(499, "client_gone", "The client went away."));
      return;
    }
    const headers = headerRecord(r.headers);
    headers.host = r.url.host;
    if (r.body !== undefined) headers["content-length"] = String(r.body.byteLength);
    const options: RequestOptions = {
      method: r.method,
      hostname: r.url.hostname.replace(/^\[|\]$/g, ""),
      port: r.url.port || undefined,
      path: (r.url.pathname || "/") + r.url.search,
      headers,
      ...(r.addresses ? { lookup: pinnedLookup(r.addresses) } : {}),
    };
    const req = (r.url.protocol === "https:" ? httpsRequest : httpRequest)(options);
    let settled = false;
    const fail = (err: ExchangeError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.signal.removeEventListener("abort", onAbort);
      req.destroy();
      reject(err);
    };
    const onAbort = (): void => {
      req.destroy();
      fail(new ExchangeError(499, "client_gone", "The client went away."));
    };
    const timer = setTimeout(() => {
      fail(
        new ExchangeError(
          504,
          "upstream_timeout",
          `Upstream ${r.url.host} did not answer within ${r.timeoutMs} ms.`,
        ),
      );
    }, r.timeoutMs);
    r.signal.addEventListener("abort", onAbort, { once: true });
    req.on("error", () => {
      // The error text can name internal hosts or addresses: it stays out of the answer.
      fail(
        new ExchangeError(502, "upstream_unreachable", `Upstream ${r.url.host} is unreachable.`),
      );
    });
    req.on("response", (res: IncomingMessage) => {
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      const status = res.statusCode ?? 502;
      if (status < 200 || status > 599) {
        res.destroy();
        r.signal.removeEventListener("abort", onAbort);
        reject(new ExchangeError(502, "upstream_bad_status", `Upstream answered ${status}.`));
        return;
      }
      const noBody = r.method === "HEAD" || status === 204 || status === 304;
      if (noBody) {
        res.resume();
        r.signal.removeEventListener("abort", onAbort);
      }
      resolve(
        new Response(
          noBody ? null : bodyStream(res, () => r.signal.removeEventListener("abort", onAbort)),
          {
            status,
            statusText: res.statusMessage,
            headers: inboundResponseHeaders(res.rawHeaders),
          },
        ),
      );
    });
    req.end(r.body);
  });
}

/** The response body as a Web stream: chunks pass as they arrive, with backpressure. */
export function bodyStream(res: IncomingMessage, done: () => void): ReadableStream<Uint8Array> {
  // Node emits several ending events ('end', 'error', 'aborted', 'close'); only the first counts.
  let finished = false;
  const finish = (): boolean => {
    if (finished) return false;
    finished = true;
    done();
    return true;
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      res.on("data", (chunk: Uint8Array) => {
        if (finished) return;
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 0) <= 0) res.pause();
      });
      res.on("end", () => {
        if (finish()) controller.close();
      });
      const failed = (): void => {
        if (finish()) controller.error(new Error("upstream body failed"));
      };
      res.on("error", failed);
      res.on("aborted", failed);
      res.on("close", () => {
        if (!res.complete) failed();
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      finish();
      res.destroy();
    },
  }, { highWaterMark: 1 });
}

/** A node:net lookup that only ever hands out the addresses the guard checked. */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return ((
    _host: string,
    opts: { all?: boolean },
    cb: (err: Error | null, address: string | ResolvedAddress[], family?: number) => void,
  ) => {
    if (opts?.all) cb(null, [...addresses]);
    else cb(null, addresses[0].address, addresses[0].family);
  }) as LookupFunction;
}
