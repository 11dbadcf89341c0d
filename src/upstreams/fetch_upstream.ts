import { UpstreamError } from "../errors.ts";

/** Thrown when the client went away; there is nobody left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super("client disconnected");
    this.name = "ClientGoneError";
  }
}

/**
 * fetch() for upstream calls: aborts when the client aborts, gives up with 504 when the
 * response headers do not arrive within `timeoutMs`, and maps network failures to 502
 * without leaking the underlying error text (it can name internal hosts).
 * Only the wait for headers is timed; the body keeps the client's signal.
 */
export async function fetchUpstream(
  url: string,
  init: RequestInit & { timeoutMs: number; clientSignal: AbortSignal },
): Promise<Response> {
  const { timeoutMs, clientSignal, ...rest } = init;
  if (clientSignal.aborted) throw new ClientGoneError();
  const controller = new AbortController();
  let timedOut = false;
  const onClientAbort = (): void => controller.abort();
  clientSignal.addEventListener("abort", onClientAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    const res = await fetch(url, { ...rest, signal: controller.signal, redirect: "manual" });
    return res;
  } catch (err) {
    clientSignal.removeEventListener("abort", onClientAbort);
    if (timedOut) {
      throw new UpstreamError(504, `Upstream did not answer within ${timeoutMs} ms.`, {
        code: "upstream_timeout",
      });
    }
    if (clientSignal.aborted) throw new ClientGoneError();
    throw new UpstreamError(502, `Upstream ${new URL(url).host} is unreachable.`, {
      code: "upstream_unreachable",
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into seconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}
