import { bucketOf, LATENCY_BUCKETS_MS, percentile } from "./histogram.ts";

/** The counters kept per dimension (totals, provider, account, model). */
export interface Counts {
  requests: number;
  success: number;
  failure: number;
  rate_limited: number;
  retries: number;
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
 * instances add up to shared totals and nothing on the request path awaits KV. This module
 * owns the `stats` prefix.
 */
export class StatsStore {
  #kv: Deno.Kv;
  #pending = new Map<string, { key: Deno.KvKey; n: number }>();
  #onError: (err: unknown) => void;
  #lastPrune = 0;

  constructor(kv: Deno.Kv, onError: (err: unknown) => void = () => {}) {
    this.#kv = kv;
    this.#onError = onError;
  }

  /** Adds to a counter of a dimension: `all` (name ""), `provider`, `account`, `model`. */
  count(dim: string, name: string, metric: CountName, n = 1): void {
    if (n !== 0) this.#add(["stats", "c", dim, name, metric], n);
  }

  /** Records one duration sample of `kind` for a provider. */
  observe(kind: "latency" | "ttfb", provider: string, ms: number): void {
    this.#add(["stats", "h", kind, provider, bucketOf(ms)], 1);
  }

  /** Counts one final answer by provider, model and status (for `/metrics`). */
  status(provider: string, model: string, status: number): void {
    this.#add(["stats", "s", provider, model, String(status)], 1);
  }

  /** Counts one request (and whether it failed) in the current minute, for the chart. */
  minute(at: number, failed: boolean): void {
    const m = at - (at % MINUTE);
    this.#add(["stats", "m", m, "requests"], 1);
    if (failed) this.#add(["stats", "m", m, "errors"], 1);
  }

  #add(key: Deno.KvKey, n: number): void {
    const id = key.join("\u0001");
    const entry = this.#pending.get(id);
    if (entry) entry.n += n;
    else this.#pending.set(id, { key, n });
  }

  /** Writes pending counts to KV. A failure is reported and the counts kept for the next try. */
  async flush(now = Date.now()): Promise<void> {
    const pending = [...this.#pending.values()];
    this.#pending = new Map();
    for (let i = 0; i < pending.length; i += MUTATIONS_PER_COMMIT) {
      const chunk = pending.slice(i, i + MUTATIONS_PER_COMMIT);
      try {
        const op = this.#kv.atomic();
        for (const e of chunk) op.sum(e.key, BigInt(e.n));
        await op.commit();
      } catch (err) {
        for (const e of chunk) this.#add(e.key, e.n);
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
  async read(): Promise<StatsData> {
    const data: StatsData = {
      counts: new Map(),
      histograms: new Map(),
      statuses: new Map(),
      minutes: new Map(),
    };
    const apply = (key: Deno.KvKey, n: number): void => {
      const [, kind, a, b, c] = key;
      if (kind === "c") {
        const id = `${String(a)}\u0001${String(b)}`;
        const counts = data.counts.get(id) ?? emptyCounts();
        const metric = String(c) as CountName;
        if (metric in counts) counts[metric] += n;
        data.counts.set(id, counts);
      } else if (kind === "h") {
        const byProvider = getOr(data.histograms, String(a), () => new Map<string, number[]>());
        const buckets = getOr(
          byProvider,
          String(b),
          () => new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
        );
        const i = Number(c);
        if (i >= 0 && i < buckets.length) buckets[i] += n;
      } else if (kind === "s") {
        const byModel = getOr(
          data.statuses,
          String(a),
          () => new Map<string, Map<string, number>>(),
        );
        const byStatus = getOr(byModel, String(b), () => new Map<string, number>());
        byStatus.set(String(c), (byStatus.get(String(c)) ?? 0) + n);
      } else if (kind === "m") {
        const m = getOr(data.minutes, Number(a), () => ({ requests: 0, errors: 0 }));
        if (b === "requests") m.requests += n;
        else if (b === "errors") m.errors += n;
      }
    };
    for await (const e of this.#kv.list<unknown>({ prefix: ["stats"] })) {
      const v = e.value;
      if (v instanceof Deno.KvU64) apply(e.key, Number(v.value));
      else if (typeof v === "bigint") apply(e.key, Number(v));
    }
    for (const e of this.#pending.values()) apply(e.key, e.n);
    return data;
  }
}

export function emptyCounts(): Counts {
  return {
    requests: 0,
    success: 0,
    failure: 0,
    rate_limited: 0,
    retries: 0,
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
