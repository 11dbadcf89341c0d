/**
 * What upstreams say about each credential's remaining quota, from their rate-limit headers
 * (`x-ratelimit-*` of OpenAI-compatible hosts, `anthropic-ratelimit-*`, `retry-after`), kept per
 * provider and credential for the admin API. Recorded in memory on the request path and written
 * to KV (`["quota", provider, credential]`, kept an hour) every few seconds, so every instance's
 * admin API and dashboard show the newest snapshot any instance saw.
 */

/** How often recorded snapshots are written to KV. */
const FLUSH_MS = 3_000;
/** A snapshot older than this says nothing useful about a rate-limit window. */
const SNAPSHOT_TTL_MS = 3600_000;

export interface QuotaSnapshot {
  /** When the headers were seen (ISO). */
  seen_at: string;
  status: number;
  remaining_requests?: number;
  remaining_tokens?: number;
  limit_requests?: number;
  limit_tokens?: number;
  /** As the upstream wrote it: a duration (`6m0s`, `1s`) or a timestamp. */
  reset_requests?: string;
  reset_tokens?: string;
  retry_after?: string;
}

const NUMERIC: Array<[keyof QuotaSnapshot, string[]]> = [
  ["remaining_requests", [
    "x-ratelimit-remaining-requests",
    "anthropic-ratelimit-requests-remaining",
  ]],
  ["remaining_tokens", ["x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"]],
  ["limit_requests", ["x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"]],
  ["limit_tokens", ["x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"]],
];
const TEXT: Array<[keyof QuotaSnapshot, string[]]> = [
  ["reset_requests", ["x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset"]],
  ["reset_tokens", ["x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset"]],
  ["retry_after", ["retry-after"]],
];

/** A snapshot from response headers, or undefined when they carry no quota information. */
export function quotaFromHeaders(headers: Headers, status: number): QuotaSnapshot | undefined {
  const snap: QuotaSnapshot = { seen_at: new Date().toISOString(), status };
  let found = false;
  for (const [field, names] of NUMERIC) {
    for (const n of names) {
      const v = headers.get(n);
      if (v !== null && v.trim() !== "" && Number.isFinite(Number(v))) {
        (snap[field] as number) = Number(v);
        found = true;
        break;
      }
    }
  }
  for (const [field, names] of TEXT) {
    for (const n of names) {
      const v = headers.get(n);
      if (v) {
        (snap[field] as string) = v.slice(0, 64);
        found = true;
        break;
      }
    }
  }
  return found ? snap : undefined;
}

interface Seen {
  headers: Headers;
  status: number;
  at: number;
}

/**
 * Recording is on the hot path, so it only keeps the last answer's headers per credential;
 * they are parsed when somebody asks.
 */
export class QuotaBook {
  readonly #latest = new Map<string, Map<string, Seen>>();
  /** `provider\0credential` → until when the upstream said nothing is left. */
  readonly #exhausted = new Map<string, number>();
  readonly #kv: Deno.Kv | undefined;
  /** Recorded since the last flush: `[provider, credential]`. */
  #dirty = new Map<string, [string, string]>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Without `kv` (unit tests), snapshots stay in this instance's memory. */
  constructor(kv?: Deno.Kv) {
    this.#kv = kv;
    if (kv) {
      this.#timer = setInterval(() => void this.flush(), FLUSH_MS);
      // The timer must not keep a finished process (or a test) alive.
      Deno.unrefTimer(this.#timer);
    }
  }

  record(providerId: string, credentialId: string, headers: Headers, status: number): void {
    let map = this.#latest.get(providerId);
    if (!map) this.#latest.set(providerId, map = new Map());
    const at = Date.now();
    const seen = map.get(credentialId);
    // One record per credential, updated in place: this runs on every answer.
    if (seen) {
      seen.headers = headers;
      seen.status = status;
      seen.at = at;
    } else {
      map.set(credentialId, { headers, status, at });
    }
    const key = `${providerId}\u0000${credentialId}`;
    if (this.#kv && !this.#dirty.has(key)) this.#dirty.set(key, [providerId, credentialId]);
    // Two header reads per answer: enough to notice "0 requests left" before the next 429.
    const left = headers.get("x-ratelimit-remaining-requests") ??
      headers.get("anthropic-ratelimit-requests-remaining");
    if (left === "0") {
      const reset = headers.get("x-ratelimit-reset-requests") ??
        headers.get("anthropic-ratelimit-requests-reset");
      this.#exhausted.set(key, resetTime(reset, at) ?? at + 1000);
    } else if (this.#exhausted.size > 0) {
      this.#exhausted.delete(key);
    }
  }

  /** Whether any credential is currently marked exhausted (a cheap pre-check). */
  get anyExhausted(): boolean {
    return this.#exhausted.size > 0;
  }

  /** Whether the upstream's last word on this credential was "no requests left until reset". */
  exhausted(providerId: string, credentialId: string, now = Date.now()): boolean {
    if (this.#exhausted.size === 0) return false;
    const until = this.#exhausted.get(`${providerId}\u0000${credentialId}`);
    return until !== undefined && until > now;
  }

  /** This instance's own snapshot of one credential. */
  get(providerId: string, credentialId: string): QuotaSnapshot | undefined {
    const seen = this.#latest.get(providerId)?.get(credentialId);
    return seen ? snapshotOf(seen) : undefined;
  }

  /**
   * Every snapshot that carries quota information, by provider then credential id: the newest
   * of what any instance wrote to KV and what this one has not flushed yet.
   */
  async all(): Promise<Record<string, Record<string, QuotaSnapshot>>> {
    const out: Record<string, Record<string, QuotaSnapshot>> = {};
    const put = (p: string, id: string, snap: QuotaSnapshot): void => {
      const entries = out[p] ??= {};
      const had = entries[id];
      if (!had || had.seen_at < snap.seen_at) entries[id] = snap;
    };
    if (this.#kv) {
      try {
        for await (const e of this.#kv.list<QuotaSnapshot>({ prefix: ["quota"] })) {
          if (e.value && typeof e.value.seen_at === "string") {
            put(String(e.key[1]), String(e.key[2]), e.value);
          }
        }
      } catch {
        // KV unreadable: this instance's own snapshots still answer.
      }
    }
    for (const [p, map] of this.#latest) {
      for (const [id, seen] of map) {
        const snap = snapshotOf(seen);
        if (snap) put(p, id, snap);
      }
    }
    return out;
  }

  /** Writes the snapshots recorded since the last flush to KV. Never throws. */
  async flush(): Promise<void> {
    if (!this.#kv || this.#dirty.size === 0) return;
    const dirty = this.#dirty;
    this.#dirty = new Map();
    // Batched: one atomic commit per 100 snapshots, not a KV write per credential (with 50 keys
    // the per-key writes cost the gateway a few percent of its CPU in the benchmark).
    let op = this.#kv.atomic();
    let n = 0;
    const commit = () => op.commit().then(() => {}, () => {}); // written again next time
    for (const [providerId, credentialId] of dirty.values()) {
      const snap = this.get(providerId, credentialId);
      if (!snap) continue;
      op.set(["quota", providerId, credentialId], snap, { expireIn: SNAPSHOT_TTL_MS });
      if (++n % 100 === 0) {
        await commit();
        op = this.#kv.atomic();
      }
    }
    if (n % 100 !== 0) await commit();
  }

  /** Stops the flush timer after a last flush (shutdown). */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.flush();
  }
}

/**
 * When a rate-limit window resets: OpenAI-style durations (`120ms`, `1s`, `6m0s`, `1h2m3.5s`)
 * count from when the answer was seen; Anthropic sends an RFC 3339 time.
 */
export function resetTime(value: string | null, seenAt: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  const duration =
    /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/
      .exec(v);
  if (duration && v !== "") {
    const [, h, m, sec, ms] = duration;
    const total = Number(h ?? 0) * 3600_000 + Number(m ?? 0) * 60_000 + Number(sec ?? 0) * 1000 +
      Number(ms ?? 0);
    return seenAt + total;
  }
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function snapshotOf(seen: Seen): QuotaSnapshot | undefined {
  const snap = quotaFromHeaders(seen.headers, seen.status);
  if (snap) snap.seen_at = new Date(seen.at).toISOString();
  return snap;
}
