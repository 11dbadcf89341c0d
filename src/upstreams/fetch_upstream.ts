import { UpstreamError } from "../errors.ts";
import { readBounded } from "../http/body.ts";

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

/** Default for `connect_timeout_ms`: a TCP handshake that takes longer is a dead host. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * A provider's timeout settings (the provider config object fits). `timeout_ms` is the
 * default for the other two waits; `connect_timeout_ms` defaults to 10 s.
 */
export interface UpstreamTimeouts {
  timeout_ms?: number;
  /** How long the TCP connection to the upstream (or its egress proxy) may take. */
  connect_timeout_ms?: number;
  /** How long the response headers may take once the request is sent. */
  first_byte_timeout_ms?: number;
  /** How long a streamed (SSE) body may stay silent between two chunks. */
  idle_timeout_ms?: number;
}

/**
 * fetch() for upstream calls: aborts when the client aborts, gives up with 504 when the
 * response headers do not arrive within the first-byte timeout (`first_byte_timeout_ms`, else
 * `timeoutMs`), with 502 when the host cannot even be connected to within `connect_timeout_ms`,
 * and maps network failures to 502 without leaking the underlying error text (it can name
 * internal hosts). An SSE body that stays silent longer than `idle_timeout_ms` errors with
 * 504, which the stream relays turn into a well-formed error event.
 * Once the client's signal is followed it stays followed, so a client that leaves during the
 * body also cancels the upstream.
 */
export async function fetchUpstream(
  url: string,
  init: RequestInit & {
    timeoutMs: number;
    /** The provider's finer timeouts (pass the provider config). */
    timeouts?: UpstreamTimeouts;
    clientSignal: ClientSignal;
    proxyUrl?: string;
    /** Sees every upstream answer's status and headers (quota bookkeeping). */
    observe?: (res: Response) => void;
  },
): Promise<Response> {
  const { timeoutMs, timeouts, clientSignal, proxyUrl, observe, ...rest } = init;
  const headersMs = timeouts?.first_byte_timeout_ms ?? timeoutMs;
  const connectMs = timeouts?.connect_timeout_ms ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const client = proxyUrl ? egressClient(proxyUrl) : undefined;
  const controller = new AbortController();
  let failure: "timeout" | "connect" | "client" | undefined;
  let settled = false;
  const failureOf = (): typeof failure => failure;
  const onClientAbort = (): void => {
    failure ??= "client";
    controller.abort();
  };
  const follow = (): void => {
    const signal = typeof clientSignal === "function" ? clientSignal() : clientSignal;
    if (signal.aborted) onClientAbort();
    else signal.addEventListener("abort", onClientAbort, { once: true });
  };
  const giveUp = (): void => {
    failure ??= "timeout";
    controller.abort();
  };
  // fetch() does not tell when its connection is up, so a slow answer gets a separate TCP
  // probe of the same host: if that cannot connect either, the host is down (502, and the
  // retry loop moves to the next route at once) rather than merely slow to answer.
  const probe = (): void => {
    probeConnect(proxyUrl ?? url, connectMs).then((ok) => {
      if (!ok && !settled) {
        failure ??= "connect";
        controller.abort();
      }
    });
  };
  // One timer per request walks through the due steps: the grace period before the client's
  // signal is followed, the connect probe, then the first-byte deadline.
  const steps: [number, () => void][] = [];
  if (typeof clientSignal === "function" && headersMs > FOLLOW_CLIENT_AFTER_MS) {
    steps.push([FOLLOW_CLIENT_AFTER_MS, follow]);
  } else {
    follow();
  }
  if (connectMs < headersMs) steps.push([connectMs, probe]);
  steps.push([headersMs, giveUp]);
  if (steps.length > 1) steps.sort((a, b) => a[0] - b[0]);
  let step = 0;
  let timer: ReturnType<typeof setTimeout>;
  const next = (): void => {
    const [at, run] = steps[step++];
    run();
    if (step < steps.length) timer = setTimeout(next, steps[step][0] - at);
  };
  timer = setTimeout(next, steps[0][0]);
  if (failure === "client") {
    clearTimeout(timer);
    throw new ClientGoneError();
  }
  let res: Response;
  try {
    res = await fetch(url, {
      ...rest,
      signal: controller.signal,
      redirect: "manual",
      ...(client ? { client } : {}),
    });
  } catch (err) {
    // Read through a function: the closures above set it, which TS's narrowing cannot see.
    const why = failureOf();
    if (why === "timeout") {
      throw new UpstreamError(504, `Upstream did not answer within ${headersMs} ms.`, {
        code: "upstream_timeout",
      });
    }
    if (why === "client") throw new ClientGoneError();
    const host = new URL(url).host;
    throw new UpstreamError(
      502,
      why === "connect"
        ? `Upstream ${host} could not be connected to within ${connectMs} ms.`
        : `Upstream ${host} is unreachable.`,
      { code: "upstream_unreachable", cause: err },
    );
  } finally {
    settled = true;
    clearTimeout(timer);
  }
  observe?.(res);
  const idleMs = timeouts?.idle_timeout_ms ?? timeoutMs;
  if (!res.body) return res;
  const contentType = res.headers.get("content-type") ?? "";
  // Bedrock streams in AWS's binary event-stream framing: relayed as it comes, like SSE.
  if (
    contentType.includes("text/event-stream") ||
    contentType.includes("application/vnd.amazon.eventstream")
  ) {
    return new Response(watchIdle(res.body, idleMs, controller), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }
  // Gemini's streamed JSON array is relayed as it comes; every other answer is read whole
  // here, so a body cut short, a stall or an absurd size becomes a clean 502/504 before the
  // client has seen a byte (and the retry loop may still move on).
  if (url.includes(":streamGenerateContent")) return res;
  return await readWhole(res, url, idleMs, controller);
}

/** Largest upstream answer read whole (a JSON answer; streams are not bounded by it). */
export const MAX_UPSTREAM_BODY_BYTES = 64 * 1024 * 1024;

async function readWhole(
  res: Response,
  url: string,
  idleMs: number,
  upstream: AbortController,
): Promise<Response> {
  let idled = false;
  const timer = setTimeout(() => {
    idled = true;
    upstream.abort();
  }, idleMs);
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    bytes = Number.isFinite(declared) && declared <= MAX_UPSTREAM_BODY_BYTES
      ? new Uint8Array(await res.arrayBuffer())
      : await readBounded(res.body as ReadableStream<Uint8Array>, MAX_UPSTREAM_BODY_BYTES);
  } catch (err) {
    if (idled) throw new UpstreamIdleError(idleMs);
    throw new UpstreamError(502, `Upstream ${new URL(url).host} broke off its answer.`, {
      code: "upstream_body_broken",
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
  if (!bytes) {
    throw new UpstreamError(
      502,
      `Upstream answer is larger than ${MAX_UPSTREAM_BODY_BYTES} bytes.`,
      { code: "upstream_answer_too_large" },
    );
  }
  // Decompressed already by fetch: the relayed headers must not claim an encoding or length.
  let headers = res.headers;
  if (headers.has("content-encoding")) {
    headers = new Headers(headers);
    headers.delete("content-encoding");
    headers.delete("content-length");
  }
  // A success status with an error body (some hosts do this under load) is an error: as a 502
  // it is classified, retried and rendered like any other upstream failure.
  const status = res.ok && isErrorBody(bytes) ? 502 : res.status;
  return new WholeResponse(bytes, { status, statusText: res.statusText, headers });
}

/**
 * The bytes of an answer `fetchUpstream` read whole, else its body stream: relaying the bytes
 * lets the server send them in one write instead of pumping a stream.
 */
export function relayBody(res: Response): BodyInit | null {
  return res instanceof WholeResponse && !res.bodyUsed ? res.whole : res.body;
}

const ERROR_BODY = /^\s*\{\s*"(error"\s*:|type"\s*:\s*"error")/;
const ascii = new TextDecoder();

/** Whether a JSON answer is an error object (OpenAI/Gemini `{"error":`, Anthropic's type). */
function isErrorBody(bytes: Uint8Array): boolean {
  return ERROR_BODY.test(ascii.decode(bytes.subarray(0, 48)));
}

/** An upstream answer read whole, whose `json()` reports malformed JSON as a 502, not a bug. */
class WholeResponse extends Response {
  readonly whole: Uint8Array<ArrayBuffer>;

  constructor(bytes: Uint8Array<ArrayBuffer>, init: ResponseInit) {
    super(bytes, init);
    this.whole = bytes;
  }

  override async json(): Promise<unknown> {
    const text = await this.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new UpstreamError(502, "Upstream answered with malformed JSON.", {
        code: "upstream_malformed",
      });
    }
  }
}

/** The error a silent SSE body ends with; relays render it as an error event. */
export class UpstreamIdleError extends UpstreamError {
  constructor(idleMs: number) {
    super(504, `Upstream sent nothing for ${idleMs} ms in the middle of its answer.`, {
      code: "upstream_idle_timeout",
    });
  }
}

/**
 * Relays a body and errors it with UpstreamIdleError (aborting the upstream request) when a
 * read waits longer than `idleMs`. Only time spent waiting on the upstream counts: a client
 * that reads slowly (backpressure) is not the upstream's silence. One timer per stream, re-armed
 * lazily, so chunks cost no timer work.
 */
export function watchIdle(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  upstream: AbortController,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let waitingSince = 0;
  let idled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = (): void => {
    timer = undefined;
    if (waitingSince === 0) return;
    const left = waitingSince + idleMs - Date.now();
    if (left > 0) {
      timer = setTimeout(check, left);
      return;
    }
    idled = true;
    upstream.abort();
  };
  const stop = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    waitingSince = 0;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      waitingSince = Date.now();
      timer ??= setTimeout(check, idleMs);
      try {
        const { done, value } = await reader.read();
        waitingSince = 0;
        if (done) {
          stop();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        stop();
        controller.error(idled ? new UpstreamIdleError(idleMs) : err);
      }
    },
    async cancel(reason) {
      stop();
      await reader.cancel(reason).catch(() => {});
    },
  });
}

/**
 * Whether a TCP connection to the URL's host and port can be made within `ms`. Only used
 * for answers that are already slow, so it costs the fast path nothing.
 */
export async function probeConnect(target: string, ms: number): Promise<boolean> {
  let hostname: string;
  let port: number;
  try {
    const u = new URL(target);
    hostname = u.hostname.replace(/^\[|\]$/g, "");
    port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  } catch {
    return true; // not ours to judge: fetch reports a bad URL itself
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = Deno.connect({ hostname, port });
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    const conn = await Promise.race([attempt, timedOut]);
    if (conn === "timeout") {
      // Close the connection should it still come up later.
      attempt.then((c) => c.close(), () => {});
      return false;
    }
    conn.close();
    return true;
  } catch {
    return false;
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
