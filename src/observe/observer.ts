import type { ObservabilityConfig } from "./config.ts";
import { fuseAnswer } from "../http/fused_stream.ts";
import { wholeBytesOf } from "../http/bytes_response.ts";
import type { Logger } from "./logger.ts";
import { maskSecretsInText } from "./mask.ts";
import { currentRequestClient, currentRequestId, newRequestId } from "./request_context.ts";
import { type AttemptEntry, type RequestEntry, RequestLog } from "./request_log.ts";
import { type Counts, StatsStore } from "./stats.ts";
import { scanUsage, type TokenUsage } from "./usage_scan.ts";

/** Distinct model names counted before the rest are folded into `other` (bounded labels). */
const MAX_MODELS = 64;
/** Bytes of the head and of the tail of an answer kept to find its usage. */
const SCAN_BYTES = 4096;
const DECODER = new TextDecoder();
/** The model label of requests that never reached a provider (unknown model, bad request). */
const UNROUTED = "(unrouted)";

/** One request being served: filled in by the route and the retry loop, then finished. */
export class RequestRecord {
  readonly id: string;
  readonly start = performance.now();
  readonly at = Date.now();
  readonly format: string;
  /** The caller's identity id (never its key), when the route guard resolved one. */
  readonly client = currentRequestClient();
  model: string;
  stream: boolean;
  attempts: AttemptEntry[] = [];
  provider: string | null = null;
  account: string | null = null;
  servedModel: string | null = null;
  ttfb: number | null = null;
  usage: TokenUsage = {};
  /** The managed client key (`src/client_keys/`) by id and label; null for operator keys. */
  clientKey: { id: string; label: string } | null = null;
  done = false;
  /** Called once when the request is finished (counted), whatever its end. */
  onDone: (() => void) | undefined = undefined;

  constructor(format: string, model: string, stream: boolean) {
    this.id = currentRequestId() ?? newRequestId();
    this.format = format;
    this.model = model;
    this.stream = stream;
  }

  /** The attempt now being made (provider, credential id, upstream model). */
  route(provider: string, account: string, model: string): void {
    this.provider = provider;
    this.account = account;
    this.servedModel = model;
  }

  /** The attempt now being made goes to an ejected credential (panic routing). */
  panic = false;
  /** Panic routings made for this request. */
  panics = 0;

  /** A failed attempt that the retry loop moves on from (or answers with). */
  failed(
    status: number,
    reason: string,
    health: { ejected?: boolean; until?: number } = {},
  ): void {
    const entry: AttemptEntry = {
      provider: this.provider ?? "",
      account: this.account ?? "",
      status,
      reason,
    };
    if (health.ejected) entry.ejected = true;
    if (health.until !== undefined) entry.benched_until = new Date(health.until).toISOString();
    if (this.panic) entry.panic = true;
    this.attempts.push(entry);
  }
}

/**
 * Collects per-request records into in-memory stats and the request log, both flushed to KV
 * on a timer and at shutdown, so the request path never waits on KV.
 */
export class Observer {
  readonly stats: StatsStore;
  readonly log: RequestLog;
  readonly startedAt = Date.now();
  #models = new Set<string>();
  #timer: ReturnType<typeof setInterval>;
  #logger: Logger;
  #flushing: Promise<void> | undefined;
  #config: () => ObservabilityConfig;
  /** Called once per finished record after it is counted (managed keys' usage). */
  onFinish: ((rec: RequestRecord, status: number) => void) | undefined;

  /** `config` is read again at every flush, so a reloaded config applies without a restart. */
  constructor(kv: Deno.Kv, config: () => ObservabilityConfig, logger: Logger) {
    this.#logger = logger;
    this.#config = config;
    const initial = config();
    const onError = (err: unknown) =>
      logger.warn("KV write failed for stats or request log", {
        error: err instanceof Error ? err.message : "error",
      });
    this.stats = new StatsStore(kv, onError);
    this.log = new RequestLog(kv, {
      size: initial.request_log_size,
      ttlMs: initial.request_log_ttl_hours * 3600_000,
      onError,
    });
    this.#timer = setInterval(() => void this.flush(), initial.flush_interval_ms);
    // The timer must not keep a finished process (or a test) alive.
    Deno.unrefTimer(this.#timer);
  }

  begin(format: string, model: string, stream: boolean): RequestRecord {
    return new RequestRecord(format, model, stream);
  }

  /**
   * Finishes a record once its answer is known. A plain answer is already in memory: its bytes
   * are scanned for usage and sent as bytes (a stream body would cost Deno's fast path for
   * fixed-length bodies). A stream is tapped: TTFB at its first chunk, usage from its first and
   * last chunks, finished when it ends or the client leaves.
   */
  track(rec: RequestRecord, res: Response): Response | Promise<Response> {
    // `res.body` is not touched for plain answers: reading it turns an in-memory body into a
    // stream, which costs Deno's fast path for fixed-length bodies.
    if (res.status < 400 && !rec.stream) return this.#trackPlain(rec, res);
    if (res.status >= 400 || !res.body) {
      rec.ttfb = performance.now() - rec.start;
      this.finish(rec, res.status);
      return res;
    }
    return this.#trackStream(rec, res);
  }

  #trackPlain(rec: RequestRecord, res: Response): Response | Promise<Response> {
    // Bytes the answer holds are scanned where they are and the answer goes on as it is.
    const held = wholeBytesOf(res);
    if (held !== undefined) {
      this.#finishPlain(rec, res.status, held);
      return res;
    }
    return res.bytes().then((bytes) => {
      this.#finishPlain(rec, res.status, bytes);
      return new Response(bytes, {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    });
  }

  #finishPlain(rec: RequestRecord, status: number, bytes: Uint8Array): void {
    rec.ttfb = performance.now() - rec.start;
    const n = bytes.byteLength;
    const usage = scanUsage(
      n <= 2 * SCAN_BYTES ? DECODER.decode(bytes) : DECODER.decode(bytes.subarray(0, SCAN_BYTES)) +
        DECODER.decode(bytes.subarray(n - SCAN_BYTES)),
    );
    // An answer without usage fields (Gemini embeddings) keeps what its handler recorded.
    if (usage.input !== undefined || usage.output !== undefined) rec.usage = usage;
    this.finish(rec, status);
  }

  #trackStream(rec: RequestRecord, res: Response): Response {
    let head: Uint8Array | undefined;
    let prev: Uint8Array | undefined;
    let last: Uint8Array | undefined;
    const finish = (status: number): void => {
      if (rec.done) return;
      const parts: Uint8Array[] = [];
      for (const p of [head, prev, last]) if (p && !parts.includes(p)) parts.push(p);
      const text = DECODER.decode(concat(parts));
      rec.usage = scanUsage(text);
      this.finish(rec, status);
    };
    const tap: Transformer<Uint8Array, Uint8Array> = {
      transform(chunk, controller) {
        if (head === undefined) {
          rec.ttfb = performance.now() - rec.start;
          head = chunk;
        }
        // Only references are kept: the last two chunks, cut to the scan size when read.
        prev = last;
        last = chunk;
        controller.enqueue(chunk);
      },
      flush() {
        finish(res.status);
      },
      cancel() {
        finish(499);
      },
    };
    return fuseAnswer(res, [tap]);
  }

  /** Counts a finished request and adds it to the log. Never throws. */
  finish(rec: RequestRecord, status: number): void {
    if (rec.done) return;
    rec.done = true;
    try {
      this.#count(rec, status);
      this.onFinish?.(rec, status);
    } catch (err) {
      this.#logger.warn("request not counted", { error: err instanceof Error ? err.message : "" });
    } finally {
      rec.onDone?.();
    }
  }

  #count(rec: RequestRecord, status: number): void {
    const latency = performance.now() - rec.start;
    const s = this.stats;
    const failed = status >= 400;
    const provider = rec.provider ?? "";
    // A request no route took keeps its asked model in the log only: clients choose that name,
    // and labels must stay bounded.
    const model = rec.servedModel === null ? UNROUTED : this.#modelLabel(rec.servedModel);
    const limited = status === 429 ? 1 : 0;
    const input = rec.usage.input ?? 0;
    const output = rec.usage.output ?? 0;
    const add = (c: Counts): void => {
      c.requests++;
      if (failed) c.failure++;
      else c.success++;
      c.input_tokens += input;
      c.output_tokens += output;
      c.rate_limited += limited;
    };
    const all = s.counts("all", "");
    add(all);
    add(s.counts("model", model));
    if (rec.provider) {
      add(s.counts("provider", provider));
      if (rec.account) add(s.counts("account", provider + "/" + rec.account));
    }
    // Each failed attempt counts against the account (and provider) that failed it.
    all.panics += rec.panics;
    for (const a of rec.attempts) {
      const rateLimited = a.reason === "rate_limit" ? 1 : 0;
      const ejected = a.ejected && a.reason !== "rate_limit" && a.reason !== "auth" ? 1 : 0;
      all.retries++;
      all.rate_limited += rateLimited;
      all.ejections += ejected;
      for (
        const c of [
          s.counts("provider", a.provider),
          s.counts("account", a.provider + "/" + a.account),
        ]
      ) {
        c.requests++;
        c.failure++;
        c.retries++;
        c.rate_limited += rateLimited;
        c.ejections += ejected;
      }
    }
    s.observe("latency", provider, latency);
    if (rec.ttfb !== null) s.observe("ttfb", provider, rec.ttfb);
    s.status(provider, model, status);
    s.minute(rec.at, failed);
    // The entry (masking, dates) is built when the log is flushed or read, not here.
    this.log.add(() => entryOf(rec, status, latency));
  }

  #modelLabel(model: string): string {
    if (this.#models.has(model)) return model;
    if (this.#models.size >= MAX_MODELS || model.length > 100) return "other";
    this.#models.add(model);
    return model;
  }

  /** Writes what is pending to KV (one flush at a time). */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    this.#flushing = (async () => {
      try {
        const config = this.#config();
        this.log.size = config.request_log_size;
        this.log.ttlMs = config.request_log_ttl_hours * 3600_000;
        await this.stats.flush();
        await this.log.flush();
      } catch (err) {
        this.#logger.warn("stats flush failed", { error: err instanceof Error ? err.message : "" });
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    await this.flush();
  }
}

function entryOf(rec: RequestRecord, status: number, latency: number): RequestEntry {
  const entry: RequestEntry = {
    id: rec.id,
    time: new Date(rec.at).toISOString(),
    format: rec.format,
    model: mask(rec.model),
    served_model: rec.servedModel,
    provider: rec.provider,
    account: rec.account === null ? null : mask(rec.account),
    status,
    attempts: rec.attempts.map((a) => ({ ...a, account: mask(a.account) })),
    latency_ms: Math.round(latency),
    ttfb_ms: rec.ttfb === null ? null : Math.round(rec.ttfb),
    input_tokens: rec.usage.input ?? null,
    output_tokens: rec.usage.output ?? null,
    stream: rec.stream,
    client_key: rec.clientKey?.label ?? null,
  };
  if (rec.client !== undefined) entry.client = rec.client;
  return entry;
}

function mask(text: string): string {
  return maskSecretsInText(text.slice(0, 200));
}

function concat(parts: Uint8Array[]): Uint8Array {
  // Each part is cut to the scan size: only the start of the head and the end of the tail count.
  const cut = parts.map((p, i) =>
    p.byteLength <= SCAN_BYTES
      ? p
      : i === 0 && parts.length > 1
      ? p.subarray(0, SCAN_BYTES)
      : p.subarray(p.byteLength - SCAN_BYTES)
  );
  const out = new Uint8Array(cut.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of cut) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
