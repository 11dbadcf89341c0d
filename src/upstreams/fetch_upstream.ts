import { UpstreamError } from "../errors.ts";

/** Thrown when the client went away; there is nobody left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super("client disconnected");
    this.name = "ClientGoneError";
  }
}

/**
 * The client's abort signal, or a function that produces it. A server request creates its
 * signal lazily and following it costs a noticeable share of throughput, so the hot path
 * passes a function and the signal is only followed once the upstream is slow to answer.
 */
export type ClientSignal = AbortSignal | (() => AbortSignal);

/** How long an upstream may take before the client's signal is followed. */
const FOLLOW_CLIENT_AFTER_MS = 20;

/**
 * fetch() for upstream calls: aborts when the client aborts, gives up with 504 when the
 * response headers do not arrive within `timeoutMs`, and maps network failures to 502
 * without leaking the underlying error text (it can name internal hosts).
 * Only the wait for headers is timed. Once the client's signal is followed it stays
 * followed, so a client that leaves during the body also cancels the upstream.
 */
export async function fetchUpstream(
  url: string,
  init: RequestInit & {
    timeoutMs: number;
    clientSignal: ClientSignal;
    proxyUrl?: string;
    /** Sees every upstream answer's status and headers (quota bookkeeping). */
    observe?: (res: Response) => void;
  },
): Promise<Response> {
  const { timeoutMs, clientSignal, proxyUrl, observe, ...rest } = init;
  const client = proxyUrl ? egressClient(proxyUrl) : undefined;
  const controller = new AbortController();
  let timedOut = false;
  let clientGone = false;
  const onClientAbort = (): void => {
    clientGone = true;
    controller.abort();
  };
  const follow = (): void => {
    const signal = typeof clientSignal === "function" ? clientSignal() : clientSignal;
    if (signal.aborted) onClientAbort();
    else signal.addEventListener("abort", onClientAbort, { once: true });
  };
  const giveUp = (): void => {
    timedOut = true;
    controller.abort();
  };
  let timer: ReturnType<typeof setTimeout>;
  if (typeof clientSignal === "function" && timeoutMs > FOLLOW_CLIENT_AFTER_MS) {
    // One timer per request: first the grace period, then the rest of the timeout.
    timer = setTimeout(() => {
      follow();
      timer = setTimeout(giveUp, timeoutMs - FOLLOW_CLIENT_AFTER_MS);
    }, FOLLOW_CLIENT_AFTER_MS);
  } else {
    follow();
    timer = setTimeout(giveUp, timeoutMs);
  }
  if (clientGone) {
    clearTimeout(timer);
    throw new ClientGoneError();
  }
  try {
    const res = await fetch(url, {
      ...rest,
      signal: controller.signal,
      redirect: "manual",
      ...(client ? { client } : {}),
    });
    observe?.(res);
    return res;
  } catch (err) {
    if (timedOut) {
      throw new UpstreamError(504, `Upstream did not answer within ${timeoutMs} ms.`, {
        code: "upstream_timeout",
      });
    }
    if (clientGone) throw new ClientGoneError();
    throw new UpstreamError(502, `Upstream ${new URL(url).host} is unreachable.`, {
      code: "upstream_unreachable",
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
}

const egressClients = new Map<string, Deno.HttpClient>();

/** One HTTP client per egress proxy (`proxy_url` of a provider), kept for reuse. */
function egressClient(proxyUrl: string): Deno.HttpClient {
  let client = egressClients.get(proxyUrl);
  if (!client) {
    client = Deno.createHttpClient({ proxy: { url: proxyUrl } });
    egressClients.set(proxyUrl, client);
  }
  return client;
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
