import { bucketOf, type WindowKind } from "./windows.ts";

const PREFIX = ["client_keys", "n"] as const;
const LAST_USED = ["client_keys", "last_used"] as const;
/** Mutations per atomic commit (KV allows more; small commits keep each one cheap). */
const CHUNK = 200;
/** Day buckets older than this are deleted: usage keeps 30 days of history. */
const KEEP_DAYS = 31;

/** Counted per key and window; cost in millionths (KV sums are integers). */
export const USAGE_METRICS = [
  "requests",
  "errors",
  "input_tokens",
  "output_tokens",
  "cache_read_tokens",
  "cache_write_tokens",
  "cost_micro",
] as const;
export type UsageMetric = typeof USAGE_METRICS[number];

/** A counted quantity's window: the four limit windows, or `total` (all time, bucket 0). */
export type CounterWindow = WindowKind | "total";

/**
 * One counter as this instance knows it: what it counted itself (`local`, of which `flushed`
 * is already in KV and `pending` not yet), and what the other instances had counted at the
 * last read (`others`). Its value is `local + others`, so one instance alone is exact.
 */
interface Cell {
  key: Deno.KvKey;
  window: CounterWindow;
  bucket: number;
  local: number;
  flushed: number;
  pending: number;
  others: number;
}

/**
 * Per-key counters shared by every instance through KV atomic sums. Increments are counted in
 * memory at once and written in batches on each `sync` (flush, then read the current windows'
 * totals back); the request path only ever reads memory. Another instance's increments are seen
 * here at most two sync intervals after they happened.
 */
export class Counters {
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  readonly #cells = new Map<string, Cell>();
  readonly #dirty = new Set<Cell>();
  readonly #lastUsed = new Map<string, number>();
  #syncing: Promise<void> | undefined;
  #lastPrunedDay = -1;

  constructor(kv: Deno.Kv, now: () => number) {
    this.#kv = kv;
    this.#now = now;
  }

  /** The current value of a counter (this instance's exact count plus the others' last read). */
  value(id: string, window: CounterWindow, bucket: number, metric: string): number {
    const cell = this.#cells.get(cellName(window, bucket, id, metric));
    return cell === undefined ? 0 : cell.local + cell.others;
  }

  add(id: string, window: CounterWindow, bucket: number, metric: string, n: number): void {
    if (n <= 0) return;
    const cell = this.#cell(window, bucket, id, metric);
    cell.local += n;
    cell.pending += n;
    this.#dirty.add(cell);
  }

  used(id: string, at: number): void {
    if ((this.#lastUsed.get(id) ?? 0) < at) this.#lastUsed.set(id, at);
  }

  /** Writes pending increments, then reads back the current windows (one sync at a time). */
  sync(): Promise<void> {
    if (this.#syncing) return this.#syncing;
    this.#syncing = (async () => {
      try {
        await this.#flush();
        await this.#read();
        await this.#prune();
      } finally {
        this.#syncing = undefined;
      }
    })();
    return this.#syncing;
  }

  async #flush(): Promise<void> {
    const cells = [...this.#dirty];
    this.#dirty.clear();
    const used = [...this.#lastUsed];
    this.#lastUsed.clear();
    const taken = cells.map((c) => {
      const n = c.pending;
      c.pending = 0;
      return n;
    });
    for (let i = 0; i < cells.length || (i === 0 && used.length > 0); i += CHUNK) {
      const op = this.#kv.atomic();
      const part = cells.slice(i, i + CHUNK);
      part.forEach((c, j) => op.sum(c.key, BigInt(taken[i + j])));
      if (i === 0) {
        for (const [id, at] of used) op.max([...LAST_USED, id], BigInt(at));
      }
      try {
        await op.commit();
        part.forEach((c, j) => c.flushed += taken[i + j]);
      } catch (err) {
        // Kept for the next sync: nothing counted is lost while KV is away.
        part.forEach((c, j) => {
          c.pending += taken[i + j];
          this.#dirty.add(c);
        });
        if (i === 0) { for (const [id, at] of used) this.used(id, at); }
        throw err;
      }
    }
  }

  async #read(): Promise<void> {
    const now = this.#now();
    for (const window of ["minute", "day", "week", "month"] as const) {
      const bucket = bucketOf(window, now);
      for await (const e of this.#kv.list<Deno.KvU64>({ prefix: [...PREFIX, window, bucket] })) {
        const [, , , , id, metric] = e.key as [string, string, string, number, string, string];
        const cell = this.#cell(window, bucket, id, metric);
        // What KV holds beyond what this instance wrote is the others' share.
        cell.others = Math.max(0, Number(e.value.value) - cell.flushed);
      }
    }
  }

  /** Forgets cells of ended windows (and deletes ended minute buckets and old days in KV). */
  async #prune(): Promise<void> {
    const now = this.#now();
    const current = {
      minute: bucketOf("minute", now),
      day: bucketOf("day", now),
      week: bucketOf("week", now),
      month: bucketOf("month", now),
      total: 0,
    };
    const gone: Deno.KvKey[] = [];
    for (const [name, c] of this.#cells) {
      if (c.pending > 0) continue;
      if (c.window === "total" || c.bucket < current[c.window]) {
        this.#cells.delete(name);
        if (c.window === "minute") gone.push(c.key);
      }
    }
    for (let i = 0; i < gone.length; i += CHUNK) {
      const op = this.#kv.atomic();
      for (const k of gone.slice(i, i + CHUNK)) op.delete(k);
      await op.commit();
    }
    if (this.#lastPrunedDay !== current.day) {
      this.#lastPrunedDay = current.day;
      const old: Deno.KvKey[] = [];
      const iter = this.#kv.list({
        start: [...PREFIX, "day", 0],
        end: [...PREFIX, "day", current.day - KEEP_DAYS],
      });
      for await (const e of iter) old.push(e.key);
      for (let i = 0; i < old.length; i += CHUNK) {
        const op = this.#kv.atomic();
        for (const k of old.slice(i, i + CHUNK)) op.delete(k);
        await op.commit();
      }
    }
  }

  #cell(window: CounterWindow, bucket: number, id: string, metric: string): Cell {
    const name = cellName(window, bucket, id, metric);
    let cell = this.#cells.get(name);
    if (cell === undefined) {
      cell = {
        key: [...PREFIX, window, bucket, id, metric],
        window,
        bucket,
        local: 0,
        flushed: 0,
        pending: 0,
        others: 0,
      };
      this.#cells.set(name, cell);
    }
    return cell;
  }
}

/** The KV key of a stored counter (for reading usage history). */
export function counterKey(
  window: CounterWindow,
  bucket: number,
  id: string,
  metric: string,
): Deno.KvKey {
  return [...PREFIX, window, bucket, id, metric];
}

export function lastUsedKey(id: string): Deno.KvKey {
  return [...LAST_USED, id];
}

function cellName(window: CounterWindow, bucket: number, id: string, metric: string): string {
  return `${window}\u0000${bucket}\u0000${id}\u0000${metric}`;
}
