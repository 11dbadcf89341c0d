/** One failed (or final) attempt of a request: where it went and why it moved on. */
export interface AttemptEntry {
  provider: string;
  /** Account id, or the hash id of an API key; never the secret itself. */
  account: string;
  status: number;
  /** The verdict: `server`, `network`, `rate_limit`, `auth` or `client`. */
  reason: string;
  /** This failure ejected the credential (outlier detection) or benched it (limit, auth). */
  ejected?: boolean;
  benched_until?: string;
  /** Tried although ejected: every credential for the model was out (panic routing). */
  panic?: boolean;
}

/** One request in the recent-request log: never bodies, never secrets. */
export interface RequestEntry {
  id: string;
  time: string;
  format: string;
  model: string;
  served_model: string | null;
  provider: string | null;
  account: string | null;
  status: number;
  attempts: AttemptEntry[];
  latency_ms: number;
  ttfb_ms: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  stream: boolean;
  /** Who asked: the client identity id (`key-<hash>` or `addr:<ip>`), never the key. */
  client?: string;
  /** The managed client key's label; null for operator keys (absent in older entries). */
  client_key?: string | null;
}

/** An entry, or a function building it: the request path defers masking and formatting. */
export type PendingEntry = RequestEntry | (() => RequestEntry);

function materialize(e: PendingEntry): RequestEntry {
  return typeof e === "function" ? e() : e;
}

/** Entries are trimmed to the configured size once this share of it was written anew. */
const TRIM_EVERY = 0.1;

/**
 * The recent-request log: entries are buffered in memory and written in batches under
 * `["log", timeMs, requestId]` with `expireIn`, and trimmed to the newest `size`. This module
 * owns the `log` prefix.
 */
export class RequestLog {
  #kv: Deno.Kv;
  #buffer: PendingEntry[] = [];
  #onError: (err: unknown) => void;
  #sinceTrim = 0;
  #lock: Promise<unknown> = Promise.resolve();
  size: number;
  ttlMs: number;

  constructor(
    kv: Deno.Kv,
    options: { size: number; ttlMs: number; onError?: (err: unknown) => void },
  ) {
    this.#kv = kv;
    this.size = options.size;
    this.ttlMs = options.ttlMs;
    this.#onError = options.onError ?? (() => {});
  }

  /** Buffers one entry; the buffer never holds more than the log's size. */
  add(entry: PendingEntry): void {
    this.#buffer.push(entry);
    if (this.#buffer.length > this.size) this.#buffer.shift();
  }

  /**
   * Flushes and reads run one at a time: a read during a flush would see the counts neither in
   * memory (taken by the flush) nor in KV (not yet committed).
   */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Writes buffered entries to KV; failed batches are reported and dropped, never retried. */
  flush(): Promise<void> {
    return this.#exclusive(() => this.#flush());
  }

  async #flush(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer.map(materialize);
    this.#buffer = [];
    for (let i = 0; i < batch.length; i += 100) {
      const op = this.#kv.atomic();
      for (const e of batch.slice(i, i + 100)) {
        op.set(["log", Date.parse(e.time), e.id], e, { expireIn: this.ttlMs });
      }
      try {
        await op.commit();
      } catch (err) {
        this.#onError(err);
      }
    }
    this.#sinceTrim += batch.length;
    if (this.#sinceTrim >= Math.max(1, this.size * TRIM_EVERY)) {
      this.#sinceTrim = 0;
      await this.#trim().catch(this.#onError);
    }
  }

  /** Deletes all but the newest `size` entries. */
  async #trim(): Promise<void> {
    let kept = 0;
    let op = this.#kv.atomic();
    let ops = 0;
    for await (const e of this.#kv.list({ prefix: ["log"] }, { reverse: true })) {
      if (++kept <= this.size) continue;
      op.delete(e.key);
      if (++ops >= 500) {
        await op.commit();
        op = this.#kv.atomic();
        ops = 0;
      }
    }
    if (ops > 0) await op.commit();
  }

  /** The newest entries first, unflushed ones included. */
  recent(limit: number): Promise<RequestEntry[]> {
    return this.#exclusive(() => this.#recent(limit));
  }

  async #recent(limit: number): Promise<RequestEntry[]> {
    const n = Math.max(0, Math.min(limit, this.size));
    const out = this.#buffer.slice(-n).reverse().map(materialize);
    const seen = new Set(out.map((e) => e.id));
    if (out.length < n) {
      const cutoff = Date.now() - this.ttlMs;
      const iter = this.#kv.list<RequestEntry>({ prefix: ["log"] }, {
        reverse: true,
        limit: n - out.length + seen.size,
      });
      for await (const e of iter) {
        if (out.length >= n) break;
        // Expiry in KV is lazy: an entry past its time may still be listed.
        if (seen.has(e.value.id) || Date.parse(e.value.time) < cutoff) continue;
        out.push(e.value);
      }
    }
    return out;
  }
}
