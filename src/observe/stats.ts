import { bucketOf, LATENCY_BUCKETS_MS, percentile } from "./histogram.ts";

/** The counters kept per dimension (totals, provider, account, model). */
export interface Counts {
  requests: number;
  success: number;
  failure: number;
  rate_limited: number;
  retries: number;
  /** Credentials ejected for server-side failures (outlier detection). */
  ejections: number;
  /** Requests sent to an ejected credential because every credential was out (panic routing). */
  panics: number;
  input_tokens: number;
  output_tokens: number;
}

export type CountName = keyof Counts;

/** Everything counted so far (KV totals plus what this instance has not flushed yet). */
export interface StatsData {
  counts: Map<string, Counts>;
  /** `kind` (latency, ttfb) → provider → bucket counts. */
  histograms: Map<string, Map<string, number[]>>;
  /** provider → model → status → count. */
  statuses: Map<string, Map<string, Map<string, number>>>;
  /** minute (epoch ms) → requests, errors. */
  minutes: Map<number, { requests: number; errors: number }>;
}

const MINUTE = 60_000;
/** The chart shows the last hour; minute buckets are kept a little longer, then deleted. */
const MINUTES_KEPT = 120;
/** KV allows a bounded number of mutations per atomic operation. */
const MUTATIONS_PER_COMMIT = 500;

/**
 * In-memory counters flushed to KV under `["stats", ...]` with atomic sums, so several
 * instances add up to shared totals and nothing on the request path awaits KV. Counting is
 * plain property and array arithmetic; KV keys are only built when flushing. This module owns
 * the `stats` prefix.
 */
export class StatsStore {
  #kv: Deno.Kv;
  #pending = emptyData();
  #onError: (err: unknown) => void;
  #lastPrune = 0;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(kv: Deno.Kv, onError: (err: unknown) => void = () => {}) {
    this.#kv = kv;
    this.#onError = onError;
  }

  /** The pending counters of a dimension entry (`all` with name "", `provider`, `account`, `model`), to add to. */
  counts(dim: string, name: string): Counts {
    const id = dim + "\u0001" + name;
    let c = this.#pending.counts.get(id);
    if (!c) {
      c = emptyCounts();
      this.#pending.counts.set(id, c);
    }
    return c;
  }

  /** Adds to one counter of a dimension entry. */
  count(dim: string, name: string, metric: CountName, n = 1): void {
    this.counts(dim, name)[metric] += n;
  }

  /** Records one duration sample of `kind` for a provider. */
  observe(kind: "latency" | "ttfb", provider: string, ms: number): void {
    bucketsOf(this.#pending, kind, provider)[bucketOf(ms)]++;
  }

  /** Counts one final answer by provider, model and status (for `/metrics`). */
  status(provider: string, model: string, status: number): void {
    addStatus(this.#pending, provider, model, String(status), 1);
  }

  /** Counts one request (and whether it failed) in the current minute, for the chart. */
  minute(at: number, failed: boolean): void {
    const m = minuteOf(this.#pending, at - (at % MINUTE));
    m.requests++;
    if (failed) m.errors++;
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

  /** Writes pending counts to KV. A failure is reported and the counts kept for the next try. */
  flush(now = Date.now()): Promise<void> {
    return this.#exclusive(() => this.#flush(now));
  }

  async #flush(now: number): Promise<void> {
    const pending = toEntries(this.#pending);
    this.#pending = emptyData();
    for (let i = 0; i < pending.length; i += MUTATIONS_PER_COMMIT) {
      const chunk = pending.slice(i, i + MUTATIONS_PER_COMMIT);
      try {
        const op = this.#kv.atomic();
        for (const [key, n] of chunk) op.sum(key, BigInt(n));
        await op.commit();
      } catch (err) {
        for (const [key, n] of chunk) applyEntry(this.#pending, key, n);
        this.#onError(err);
      }
    }
    if (now - this.#lastPrune > MINUTE) {
      this.#lastPrune = now;
      await this.#pruneMinutes(now).catch(this.#onError);
    }
  }

  async #pruneMinutes(now: number): Promise<void> {
    const cutoff = now - MINUTES_KEPT * MINUTE;
    const old = this.#kv.list({ start: ["stats", "m"], end: ["stats", "m", cutoff] });
    for await (const e of old) await this.#kv.delete(e.key);
  }

  /** KV totals plus this instance's unflushed counts. */
  read(): Promise<StatsData> {
    return this.#exclusive(() => this.#read());
  }

  async #read(): Promise<StatsData> {
    const data = emptyData();
    for await (const e of this.#kv.list<unknown>({ prefix: ["stats"] })) {
      const v = e.value;
      if (v instanceof Deno.KvU64) applyEntry(data, e.key, Number(v.value));
      else if (typeof v === "bigint") applyEntry(data, e.key, Number(v));
    }
    for (const [key, n] of toEntries(this.#pending)) applyEntry(data, key, n);
    return data;
  }
}

function emptyData(): StatsData {
  return { counts: new Map(), histograms: new Map(), statuses: new Map(), minutes: new Map() };
}

/** The KV keys and amounts of everything non-zero in `data`. */
function toEntries(data: StatsData): [Deno.KvKey, number][] {
  const out: [Deno.KvKey, number][] = [];
  for (const [id, counts] of data.counts) {
    const [dim, name] = id.split("\u0001");
    for (const metric in counts) {
      const n = counts[metric as CountName];
      if (n) out.push([["stats", "c", dim, name, metric], n]);
    }
  }
  for (const [kind, byProvider] of data.histograms) {
    for (const [provider, buckets] of byProvider) {
      buckets.forEach((n, i) => {
        if (n) out.push([["stats", "h", kind, provider, i], n]);
      });
    }
  }
  for (const [provider, byModel] of data.statuses) {
    for (const [model, byStatus] of byModel) {
      for (const [status, n] of byStatus) {
        if (n) out.push([["stats", "s", provider, model, status], n]);
      }
    }
  }
  for (const [minute, m] of data.minutes) {
    if (m.requests) out.push([["stats", "m", minute, "requests"], m.requests]);
    if (m.errors) out.push([["stats", "m", minute, "errors"], m.errors]);
  }
  return out;
}

/** Adds one KV entry's amount into `data`, by the shape of its key. */
function applyEntry(data: StatsData, key: Deno.KvKey, n: number): void {
  const [, kind, a, b, c] = key;
  if (kind === "c") {
    const id = `${String(a)}\u0001${String(b)}`;
    const counts = getOr(data.counts, id, emptyCounts);
    const metric = String(c) as CountName;
    if (metric in counts) counts[metric] += n;
  } else if (kind === "h") {
    const buckets = bucketsOf(data, String(a), String(b));
    const i = Number(c);
    if (i >= 0 && i < buckets.length) buckets[i] += n;
  } else if (kind === "s") {
    addStatus(data, String(a), String(b), String(c), n);
  } else if (kind === "m") {
    const m = minuteOf(data, Number(a));
    if (b === "requests") m.requests += n;
    else if (b === "errors") m.errors += n;
  }
}

function bucketsOf(data: StatsData, kind: string, provider: string): number[] {
  const byProvider = getOr(data.histograms, kind, () => new Map<string, number[]>());
  return getOr(
    byProvider,
    provider,
    () => new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
  );
}

function addStatus(data: StatsData, provider: string, model: string, status: string, n: number) {
  const byModel = getOr(data.statuses, provider, () => new Map<string, Map<string, number>>());
  const byStatus = getOr(byModel, model, () => new Map<string, number>());
  byStatus.set(status, (byStatus.get(status) ?? 0) + n);
}

function minuteOf(data: StatsData, minute: number): { requests: number; errors: number } {
  return getOr(data.minutes, minute, () => ({ requests: 0, errors: 0 }));
}

export function emptyCounts(): Counts {
  return {
    requests: 0,
    success: 0,
    failure: 0,
    rate_limited: 0,
    retries: 0,
    ejections: 0,
    panics: 0,
    input_tokens: 0,
    output_tokens: 0,
  };
}

/** The counts of one dimension entry. */
export function countsOf(data: StatsData, dim: string, name: string): Counts {
  return data.counts.get(`${dim}\u0001${name}`) ?? emptyCounts();
}

/** Every entry of a dimension, by name. */
export function dimension(data: StatsData, dim: string): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  const prefix = `${dim}\u0001`;
  for (const [id, counts] of data.counts) {
    if (id.startsWith(prefix)) out[id.slice(prefix.length)] = counts;
  }
  return out;
}

/** Bucket counts of one kind summed over providers. */
export function mergedHistogram(data: StatsData, kind: string): number[] {
  const out = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  for (const buckets of data.histograms.get(kind)?.values() ?? []) {
    buckets.forEach((n, i) => out[i] += n);
  }
  return out;
}

/** Median and 95th percentile of one kind, in ms (null without samples). */
export function quantiles(
  data: StatsData,
  kind: string,
): { p50: number | null; p95: number | null } {
  const merged = mergedHistogram(data, kind);
  return { p50: percentile(merged, 0.5) ?? null, p95: percentile(merged, 0.95) ?? null };
}

function getOr<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}
