import {
  UPSTREAM_CONDITIONS,
  type UpstreamCondition,
  UpstreamError,
  upstreamError,
} from "../errors.ts";
import { readBounded } from "../http/body.ts";
import { after, cancel, rearm } from "../http/deadline.ts";
import { HeldAnswer } from "../http/bytes_response.ts";
import { fuse } from "../http/fused_stream.ts";

/** Thrown when the client went away; there is nobody left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super("client disconnected");
    this.name = "ClientGoneError";
  }
}

/**
 * The client's abort signal, or an object whose `signal` is read only when needed (a call
 * context, whose `signal` is a getter). A server request creates its signal lazily and
 * following it costs a noticeable share of throughput, so the hot path passes the holder and
 * the signal is only followed once the upstream is slow to answer.
 */
export type ClientSignal = AbortSignal | { readonly signal: AbortSignal };

/**
 * How long an upstream may take before the client's signal is followed. Under load a quick
 * answer takes tens of ms, and at 20 ms most requests made their signal (a few µs each); a
 * client gone sooner only costs the upstream that long.
 */
const FOLLOW_CLIENT_AFTER_MS = 100;

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
 * internal hosts). A streamed body that stays silent longer than `idle_timeout_ms` errors with
 * 504, which the stream relays turn into a well-formed error event.
 * Once the client's signal is followed it stays followed, so a client that leaves during the
 * body also cancels the upstream. The caller says whether the answer is a stream (`streamed`);
 * an SSE content type is always one.
 */
export async function fetchUpstream(
  url: string,
  init: {
    method: string;
    headers?: HeadersInit;
    body?: BodyInit | null;
    timeoutMs: number;
    /** The provider's finer timeouts (pass the provider config). */
    timeouts?: UpstreamTimeouts;
    clientSignal: ClientSignal;
    proxyUrl?: string;
    /** Sees every upstream answer's status and headers (quota bookkeeping). */
    observe?: (res: Response) => void;
    /**
     * The answer is relayed as a stream whatever its content type (Gemini's JSON array
     * stream); otherwise only SSE is, and everything else is read whole.
     */
    streamed?: boolean;
  },
): Promise<Response> {
  const { timeoutMs, timeouts, clientSignal, proxyUrl, observe, streamed } = init;
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
  const lazy = !(clientSignal instanceof AbortSignal);
  const follow = (): void => {
    const signal = clientSignal instanceof AbortSignal ? clientSignal : clientSignal.signal;
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
  // One coarse deadline per request (`src/http/deadline.ts`, no `setTimeout`) walks through
  // the due steps: the grace period before the client's signal is followed, the connect probe,
  // then the first-byte deadline.
  const steps: [number, () => void][] = [];
  if (lazy && headersMs > FOLLOW_CLIENT_AFTER_MS) {
    steps.push([FOLLOW_CLIENT_AFTER_MS, follow]);
  } else {
    follow();
  }
  if (connectMs < headersMs) steps.push([connectMs, probe]);
  steps.push([headersMs, giveUp]);
  if (steps.length > 1) steps.sort((a, b) => a[0] - b[0]);
  let step = 0;
  const deadline = after(steps[0][0], () => {
    const [at, run] = steps[step++];
    run();
    if (step < steps.length && !settled) rearm(deadline, steps[step][0] - at);
  });
  if (failure === "client") {
    cancel(deadline);
    throw new ClientGoneError();
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method,
      headers: init.headers,
      body: uploadBody(init.body),
      signal: controller.signal,
      redirect: "manual",
      ...(client ? { client } : {}),
    });
  } catch (err) {
    // Read through a function: the closures above set it, which TS's narrowing cannot see.
    const why = failureOf();
    if (why === "timeout") {
      throw upstreamError("upstream_timeout", `Upstream did not answer within ${headersMs} ms.`);
    }
    if (why === "client") throw new ClientGoneError();
    const host = new URL(url).host;
    throw upstreamError(
      "upstream_unreachable",
      why === "connect"
        ? `Upstream ${host} could not be connected to within ${connectMs} ms.`
        : `Upstream ${host} is unreachable.`,
      { cause: err },
    );
  } finally {
    settled = true;
    cancel(deadline);
  }
  observe?.(res);
  const idleMs = timeouts?.idle_timeout_ms ?? timeoutMs;
  if (!res.body) return res;
  // A stream is relayed as it comes; every other answer is read whole here, so a body cut
  // short, a stall or an absurd size becomes a clean 502/504 before the client has seen a
  // byte (and the retry loop may still move on). Bedrock streams in AWS's binary event-stream
  // framing: relayed as it comes, like SSE.
  const contentType = res.headers.get("content-type") ?? "";
  if (
    streamed || contentType.includes("text/event-stream") ||
    contentType.includes("application/vnd.amazon.eventstream")
  ) {
    return new Response(watchIdle(res.body, idleMs, controller), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }
  return await readWhole(res, url, idleMs, controller);
}

/** Request bodies larger than this go upstream as a stream of slices of one buffer. */
export const STREAMED_UPLOAD_BYTES = 1024 * 1024;
const UPLOAD_SLICE_BYTES = 64 * 1024;
const utf8 = new TextEncoder();

/**
 * The body to hand to fetch(). fetch() copies a byte or string body whole, more than once, on
 * its way out (about 3x a large body, measured), so a large one is sent as a stream of views
 * into one buffer instead (chunked transfer encoding): the upload then costs no copy.
 */
function uploadBody(body: BodyInit | null | undefined): BodyInit | null | undefined {
  let bytes: Uint8Array | undefined;
  if (typeof body === "string") {
    // Measured in UTF-16 units: a body of fewer units cannot have more than 3x as many bytes.
    if (body.length * 3 <= STREAMED_UPLOAD_BYTES) return body;
    bytes = utf8.encode(body);
  } else if (body instanceof Uint8Array) {
    bytes = body;
  }
  if (bytes === undefined || bytes.byteLength <= STREAMED_UPLOAD_BYTES) return body;
  const whole = bytes;
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= whole.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(whole.subarray(offset, offset + UPLOAD_SLICE_BYTES));
      offset += UPLOAD_SLICE_BYTES;
    },
  });
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
  const deadline = after(idleMs, () => {
    idled = true;
    upstream.abort();
  });
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    bytes = Number.isFinite(declared) && declared <= MAX_UPSTREAM_BODY_BYTES
      ? new Uint8Array(await res.arrayBuffer())
      : await readBounded(res.body as ReadableStream<Uint8Array>, MAX_UPSTREAM_BODY_BYTES);
  } catch (err) {
    if (idled) throw new UpstreamIdleError(idleMs);
    throw upstreamError(
      "upstream_body_broken",
      `Upstream ${new URL(url).host} broke off its answer.`,
      { cause: err },
    );
  } finally {
    cancel(deadline);
  }
  if (!bytes) {
    throw upstreamError(
      "upstream_answer_too_large",
      `Upstream answer is larger than ${MAX_UPSTREAM_BODY_BYTES} bytes.`,
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
  return new WholeResponse(bytes, { status, statusText: res.statusText }, headers);
}

const ERROR_KEY = utf8.encode('"error"');
const TYPE_KEY = utf8.encode('"type"');

/**
 * Whether a JSON answer is an error object (OpenAI/Gemini `{"error":`, Anthropic's
 * `{"type": "error"`). Matched on the bytes: building the head as a string to test a pattern
 * allocated 1.5 KB per answer (measured), a tenth of the gateway's own allocation.
 */
function isErrorBody(bytes: Uint8Array): boolean {
  let i = skipJsonSpace(bytes, 0);
  if (bytes[i] !== 0x7b) return false; // {
  i = skipJsonSpace(bytes, i + 1);
  if (startsWithAt(bytes, i, ERROR_KEY)) {
    return bytes[skipJsonSpace(bytes, i + ERROR_KEY.length)] === 0x3a; // :
  }
  if (!startsWithAt(bytes, i, TYPE_KEY)) return false;
  i = skipJsonSpace(bytes, i + TYPE_KEY.length);
  if (bytes[i] !== 0x3a) return false;
  return startsWithAt(bytes, skipJsonSpace(bytes, i + 1), ERROR_KEY);
}

function skipJsonSpace(bytes: Uint8Array, i: number): number {
  while (i < bytes.length) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) break;
    i++;
  }
  return i;
}

function startsWithAt(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let j = 0; j < prefix.length; j++) if (bytes[at + j] !== prefix[j]) return false;
  return true;
}

/**
 * An upstream answer read whole, whose `json()` reports malformed JSON as a 502, not a bug.
 * Its headers are the upstream answer's own object, not a copy: copying them cost as much as
 * the rest of the answer's construction (measured), and nobody changes them.
 */
class WholeResponse extends HeldAnswer {
  override async json(): Promise<unknown> {
    const text = await this.text();
    try {
      return JSON.parse(text);
    } catch {
      throw upstreamError("upstream_bad_body", "Upstream answered with malformed JSON.");
    }
  }
}

/** The error a silent SSE body ends with; relays render it as an error event. */
export class UpstreamIdleError extends UpstreamError {
  constructor(idleMs: number) {
    super(
      UPSTREAM_CONDITIONS.upstream_idle_timeout,
      `Upstream sent nothing for ${idleMs} ms in the middle of its answer.`,
      { code: "upstream_idle_timeout" satisfies UpstreamCondition },
    );
  }
}

/**
 * Relays a body and errors it with UpstreamIdleError (aborting the upstream request) when a
 * read waits longer than `idleMs`. Only time spent waiting on the upstream counts: a client
 * that reads slowly (backpressure) is not the upstream's silence. It is the base of the relay
 * chain: the layers the answer goes through later are fused into this one stream.
 */
export function watchIdle(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  upstream: AbortController,
): ReadableStream<Uint8Array> {
  return fuse(body, [], {
    idle: {
      ms: idleMs,
      onIdle: () => upstream.abort(),
      error: () => new UpstreamIdleError(idleMs),
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
