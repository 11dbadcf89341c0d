// Closed-loop HTTP/1.1 load generator over raw TCP.
//
// Why not autocannon: it runs under Deno's npm layer, but it records latency
// in whole milliseconds (hdr-histogram integers), too coarse for a 0.15 ms
// overhead target. Why not fetch: its client costs far more CPU per request
// than the servers under test, and on a 2-core box the load generator's CPU
// is taken from them. A raw keep-alive socket with pre-encoded requests and a
// minimal response parser is the cheapest client we can write.
//
// It runs inside a Worker (see load_worker.ts), never on the event loop of a
// measured server.

import { STREAM_CONTENT_CHUNKS, streamContentPieces } from "./upstream.ts";

export interface Endpoint {
  hostname: string;
  port: number;
}

export function endpointOf(url: string): Endpoint {
  const u = new URL(url);
  return { hostname: u.hostname, port: Number(u.port || 80) };
}

/**
 * The client key every bench request presents. Shaped like a managed key (`sk-lp-`) so that
 * `--client-key managed` can store it as one; an open gateway ignores it.
 */
export const BENCH_CLIENT_KEY = "sk-lp-bench-client-key-000000000000000000000000";

/**
 * Encodes a POST request once, so the hot loop only writes bytes. `headers`
 * are added as given (e.g. `anthropic-version` for the Messages API).
 */
export function encodePost(
  url: string,
  path: string,
  body: string,
  accept: string,
  headers: Record<string, string> = {},
): Uint8Array {
  const u = new URL(url);
  const payload = new TextEncoder().encode(body);
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const head = `POST ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n` +
    `Accept: ${accept}\r\nAuthorization: Bearer ${BENCH_CLIENT_KEY}\r\n${extra}` +
    `Content-Length: ${payload.length}\r\n\r\n`;
  const headBytes = new TextEncoder().encode(head);
  const out = new Uint8Array(headBytes.length + payload.length);
  out.set(headBytes);
  out.set(payload, headBytes.length);
  return out;
}

export interface HttpResult {
  status: number;
  /** performance.now() when the response head was parsed. */
  headersAt: number;
  /** performance.now() when the first body byte was parsed (NaN if no body). */
  firstBodyAt: number;
  /** performance.now() when the response was complete. */
  doneAt: number;
  bodyBytes: number;
  /** Socket reads that delivered body bytes: a rough "was it batched" gauge. */
  bodyReads: number;
  /** Body pieces, only when requested (streaming checks). */
  body: Uint8Array[] | null;
  /** Server asked to close the connection after this response. */
  close: boolean;
}

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  UntilClose,
  Done,
}

function indexOfCrlf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to - 1; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10) return i;
  }
  return -1;
}

const LATIN1 = new TextDecoder("latin1");

function latin1(buf: Uint8Array, from: number, to: number): string {
  return LATIN1.decode(buf.subarray(from, to));
}

/** One keep-alive HTTP/1.1 connection; one request in flight at a time. */
export class HttpConn {
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(64 * 1024);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async open(ep: Endpoint): Promise<HttpConn> {
    const conn = await Deno.connect({ hostname: ep.hostname, port: ep.port });
    conn.setNoDelay(true);
    return new HttpConn(conn);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async request(req: Uint8Array, keepBody: boolean): Promise<HttpResult> {
    let written = 0;
    while (written < req.length) written += await this.#conn.write(req.subarray(written));

    const r: HttpResult = {
      status: 0,
      headersAt: NaN,
      firstBodyAt: NaN,
      doneAt: NaN,
      bodyBytes: 0,
      bodyReads: 0,
      body: keepBody ? [] : null,
      close: false,
    };
    let state = State.Head as State;
    let remaining = 0; // bytes left in a Content-Length body or in a chunk
    let len = 0; // valid bytes in #buf
    let pos = 0; // parse position in #buf

    const takeBody = (n: number): void => {
      if (n === 0) return;
      if (r.bodyBytes === 0) r.firstBodyAt = performance.now();
      r.bodyBytes += n;
      if (r.body) r.body.push(this.#buf.slice(pos, pos + n));
      pos += n;
    };

    while (true) {
      // Compact, then grow if a single head/line does not fit.
      if (pos > 0) {
        this.#buf.copyWithin(0, pos, len);
        len -= pos;
        pos = 0;
      }
      if (len === this.#buf.length) {
        const bigger = new Uint8Array(this.#buf.length * 2);
        bigger.set(this.#buf);
        this.#buf = bigger;
      }
      const n = await this.#conn.read(this.#buf.subarray(len));
      if (n === null) {
        if (state === State.UntilClose) {
          r.doneAt = performance.now();
          r.close = true;
          return r;
        }
        throw new Error(`connection closed by server (state ${state}, ${len} bytes pending)`);
      }
      len += n;
      const bodyBefore = r.bodyBytes;

      parse: while (pos < len) {
        switch (state) {
          case State.Head: {
            let end = -1;
            for (let i = pos; i < len - 3; i++) {
              if (
                this.#buf[i] === 13 && this.#buf[i + 1] === 10 && this.#buf[i + 2] === 13 &&
                this.#buf[i + 3] === 10
              ) {
                end = i;
                break;
              }
            }
            if (end < 0) break parse;
            const lines = latin1(this.#buf, pos, end).split("\r\n");
            r.status = Number(lines[0].slice(9, 12));
            let contentLength = -1;
            let chunked = false;
            for (let i = 1; i < lines.length; i++) {
              const colon = lines[i].indexOf(":");
              const name = lines[i].slice(0, colon).trim().toLowerCase();
              const value = lines[i].slice(colon + 1).trim().toLowerCase();
              if (name === "content-length") contentLength = Number(value);
              else if (name === "transfer-encoding") chunked = value.includes("chunked");
              else if (name === "connection") r.close = value.includes("close");
            }
            r.headersAt = performance.now();
            pos = end + 4;
            if (r.status === 204 || r.status === 304 || (r.status >= 100 && r.status < 200)) {
              state = State.Done;
            } else if (chunked) state = State.ChunkSize;
            else if (contentLength >= 0) {
              remaining = contentLength;
              state = remaining === 0 ? State.Done : State.Length;
            } else state = State.UntilClose;
            break;
          }
          case State.Length: {
            const n = Math.min(remaining, len - pos);
            takeBody(n);
            remaining -= n;
            if (remaining === 0) state = State.Done;
            break;
          }
          case State.ChunkSize: {
            const eol = indexOfCrlf(this.#buf, pos, len);
            if (eol < 0) break parse;
            const line = latin1(this.#buf, pos, eol);
            const semi = line.indexOf(";");
            remaining = parseInt(semi >= 0 ? line.slice(0, semi) : line, 16);
            if (Number.isNaN(remaining)) throw new Error(`bad chunk size line ${line}`);
            pos = eol + 2;
            state = remaining === 0 ? State.Trailer : State.ChunkData;
            break;
          }
          case State.ChunkData: {
            const n = Math.min(remaining, len - pos);
            takeBody(n);
            remaining -= n;
            if (remaining === 0) state = State.ChunkDataEnd;
            break;
          }
          case State.ChunkDataEnd: {
            if (len - pos < 2) break parse;
            pos += 2;
            state = State.ChunkSize;
            break;
          }
          case State.Trailer: {
            const eol = indexOfCrlf(this.#buf, pos, len);
            if (eol < 0) break parse;
            const empty = eol === pos;
            pos = eol + 2;
            if (empty) state = State.Done;
            break;
          }
          case State.UntilClose: {
            takeBody(len - pos);
            break;
          }
          case State.Done:
            break parse;
        }
      }
      if (r.bodyBytes > bodyBefore) r.bodyReads++;
      if (state === State.Done) {
        r.doneAt = performance.now();
        if (pos !== len) throw new Error(`${len - pos} unexpected bytes after response`);
        if (r.close) this.close();
        return r;
      }
    }
  }
}

export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function latencyStats(values: ArrayLike<number>): LatencyStats {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  // Nearest-rank percentile.
  const at = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1], mean: sum / n };
}

export interface ClosedLoopOptions {
  url: string;
  request: Uint8Array;
  connections: number;
  durationMs: number;
}

export interface ClosedLoopResult {
  requests: number;
  elapsedMs: number;
  rps: number;
  latencyMs: LatencyStats;
  non2xx: number;
  errors: number;
  firstError: string | null;
}

/**
 * N connections, each sending its next request as soon as the previous
 * response is complete, until the deadline. Connections are opened before
 * the clock starts.
 */
export async function closedLoop(opts: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const ep = endpointOf(opts.url);
  const conns = await Promise.all(
    Array.from({ length: opts.connections }, () => HttpConn.open(ep)),
  );
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let non2xx = 0;
  let errors = 0;
  let firstError: string | null = null;
  const start = performance.now();
  const deadline = start + opts.durationMs;

  const loop = async (index: number): Promise<void> => {
    let conn = conns[index];
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const r = await conn.request(opts.request, false);
        if (count === latencies.length) {
          const bigger = new Float64Array(latencies.length * 2);
          bigger.set(latencies);
          latencies = bigger;
        }
        latencies[count++] = r.doneAt - t0;
        if (r.status < 200 || r.status > 299) non2xx++;
        if (r.close) conn = await HttpConn.open(ep);
      } catch (e) {
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
        conn.close();
        if (errors > 1000) return; // The target is broken; stop hammering it.
        try {
          conn = await HttpConn.open(ep);
        } catch {
          return;
        }
      }
    }
    conn.close();
  };
  await Promise.all(conns.map((_, i) => loop(i)));
  const elapsedMs = performance.now() - start;
  return {
    requests: count,
    elapsedMs,
    rps: count / (elapsedMs / 1000),
    latencyMs: latencyStats(latencies.subarray(0, count)),
    non2xx,
    errors,
    firstError,
  };
}

export interface StreamCheck {
  complete: boolean;
  contentChunks: number;
  events: number;
  problem: string | null;
}

const EXPECTED_CONTENT = streamContentPieces().join("");

/**
 * The SSE dialect a stream is checked against: OpenAI Chat chunks ending in
 * `data: [DONE]`, or Anthropic Messages events (`event: message_start` …
 * `event: message_stop`).
 */
export type StreamFormat = "openai-chat" | "anthropic";

/**
 * Checks a streamed answer against what the upstream sent: every content
 * piece present, one delta each, in order, and the stream properly ended.
 */
export function checkStream(body: Uint8Array[], format: StreamFormat = "openai-chat"): StreamCheck {
  const events = sseEvents(new TextDecoder().decode(concat(body)));
  return format === "anthropic" ? checkAnthropicStream(events) : checkChatStream(events);
}

interface SseEvent {
  /** The `event:` field, null when absent. */
  event: string | null;
  data: string;
}

function sseEvents(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    let event: string | null = null;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("event:")) event = line.slice(6).trim();
    }
    if (data.length === 0 && event === null) continue; // Blank tail or comment-only block.
    out.push({ event, data: data.join("\n") });
  }
  return out;
}

function contentProblem(contentChunks: number, content: string): string | null {
  if (contentChunks !== STREAM_CONTENT_CHUNKS) {
    return `${contentChunks} content chunks, expected ${STREAM_CONTENT_CHUNKS}`;
  }
  if (content !== EXPECTED_CONTENT) return "content differs from what the upstream sent";
  return null;
}

/** OpenAI Chat SSE: every content delta present, in order, a finish_reason, then [DONE]. */
function checkChatStream(events: SseEvent[]): StreamCheck {
  let contentChunks = 0;
  let content = "";
  let done = false;
  let finish = false;
  let problem: string | null = null;
  for (const { data } of events) {
    if (done) problem ??= "event after [DONE]";
    if (data === "[DONE]") {
      done = true;
      continue;
    }
    try {
      const chunk = JSON.parse(data) as {
        choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
      };
      const choice = chunk.choices?.[0];
      const piece = choice?.delta?.content;
      if (typeof piece === "string" && piece !== "") {
        contentChunks++;
        content += piece;
      }
      if (typeof choice?.finish_reason === "string") finish = true;
    } catch {
      problem ??= `unparsable event: ${data.slice(0, 80)}`;
    }
  }
  if (!done) problem ??= "no [DONE]";
  if (!finish) problem ??= "no finish_reason";
  problem ??= contentProblem(contentChunks, content);
  return { complete: problem === null, contentChunks, events: events.length, problem };
}

/**
 * Anthropic Messages SSE: `event: message_start` first; text deltas
 * (`content_block_delta` / `text_delta`) only inside an open content block,
 * one per upstream piece, concatenating to the upstream's content; a
 * `message_delta` with a stop_reason; `event: message_stop` last. Each
 * event's `event:` name must match its data's `type`; `event: error` fails.
 */
function checkAnthropicStream(events: SseEvent[]): StreamCheck {
  let contentChunks = 0;
  let content = "";
  let started = false;
  let stopped = false;
  let stopReason = false;
  const open = new Set<number>();
  let problem: string | null = null;
  for (const { event, data } of events) {
    if (stopped) problem ??= "event after message_stop";
    let json: {
      type?: unknown;
      index?: unknown;
      delta?: { type?: unknown; text?: unknown; stop_reason?: unknown };
      error?: { message?: unknown };
    };
    try {
      json = JSON.parse(data);
    } catch {
      problem ??= `unparsable event: ${(event ?? "") + " " + data.slice(0, 80)}`;
      continue;
    }
    if (event === null) problem ??= `no event: line for data of type ${String(json.type)}`;
    else if (json.type !== event) {
      problem ??= `event: ${event} carries data of type ${String(json.type)}`;
    }
    const type = event ?? String(json.type);
    if (!started && type !== "message_start") problem ??= `first event is ${type}`;
    const index = typeof json.index === "number" ? json.index : NaN;
    switch (type) {
      case "message_start":
        if (started) problem ??= "second message_start";
        started = true;
        break;
      case "content_block_start":
        if (open.has(index) || Number.isNaN(index)) problem ??= `bad content_block_start ${index}`;
        open.add(index);
        break;
      case "content_block_delta":
        if (!open.has(index)) problem ??= `content_block_delta outside block ${index}`;
        if (json.delta?.type === "text_delta" && typeof json.delta.text === "string") {
          contentChunks++;
          content += json.delta.text;
        }
        break;
      case "content_block_stop":
        if (!open.delete(index)) problem ??= `content_block_stop of block ${index} not open`;
        break;
      case "message_delta":
        if (typeof json.delta?.stop_reason === "string") stopReason = true;
        break;
      case "message_stop":
        stopped = true;
        break;
      case "ping":
        break;
      case "error":
        problem ??= `error event: ${String(json.error?.message).slice(0, 120)}`;
        break;
      default:
        problem ??= `unknown event ${type}`;
    }
  }
  if (!started) problem ??= "no event: message_start";
  if (!stopped) problem ??= "no event: message_stop";
  if (!stopReason) problem ??= "no stop_reason in message_delta";
  if (open.size > 0) problem ??= "a content block was never stopped";
  problem ??= contentProblem(contentChunks, content);
  return { complete: problem === null, contentChunks, events: events.length, problem };
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface StreamOptions {
  url: string;
  request: Uint8Array;
  count: number;
  /** SSE dialect to check the streams against; default "openai-chat". */
  format?: StreamFormat;
  /** Pause after each stream before the next request (default none: back to back). */
  pauseMs?: number;
}

export interface StreamResult {
  requests: number;
  complete: number;
  /** Time to the first body byte (the first SSE event), ms. */
  ttfbMs: LatencyStats;
  /** Time to the end of the stream, ms. */
  totalMs: LatencyStats;
  /** Socket reads per stream at the client. */
  readsPerStream: LatencyStats;
  non2xx: number;
  errors: number;
  firstProblem: string | null;
}

/** Sequential streams over one keep-alive connection. */
export async function streamSequential(opts: StreamOptions): Promise<StreamResult> {
  const ep = endpointOf(opts.url);
  let conn = await HttpConn.open(ep);
  const ttfb: number[] = [];
  const total: number[] = [];
  const reads: number[] = [];
  let complete = 0;
  let non2xx = 0;
  let errors = 0;
  let firstProblem: string | null = null;
  for (let i = 0; i < opts.count; i++) {
    const t0 = performance.now();
    try {
      const r = await conn.request(opts.request, true);
      if (r.status !== 200) {
        non2xx++;
        firstProblem ??= `HTTP ${r.status}`;
      } else {
        ttfb.push(r.firstBodyAt - t0);
        total.push(r.doneAt - t0);
        reads.push(r.bodyReads);
        const check = checkStream(r.body ?? [], opts.format);
        if (check.complete) complete++;
        else firstProblem ??= check.problem;
      }
      if (r.close) conn = await HttpConn.open(ep);
      if (opts.pauseMs) await new Promise((resolve) => setTimeout(resolve, opts.pauseMs));
    } catch (e) {
      errors++;
      firstProblem ??= e instanceof Error ? e.message : String(e);
      conn.close();
      conn = await HttpConn.open(ep);
    }
  }
  conn.close();
  return {
    requests: opts.count,
    complete,
    ttfbMs: latencyStats(ttfb),
    totalMs: latencyStats(total),
    readsPerStream: latencyStats(reads),
    non2xx,
    errors,
    firstProblem,
  };
}
