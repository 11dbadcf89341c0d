/**
 * What upstreams say about each credential's remaining quota, from their rate-limit headers
 * (`x-ratelimit-*` of OpenAI-compatible hosts, `anthropic-ratelimit-*`, `retry-after`), kept per
 * provider and credential for the admin API. In memory: it describes the last few minutes.
 */

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

  record(providerId: string, credentialId: string, headers: Headers, status: number): void {
    let map = this.#latest.get(providerId);
    if (!map) this.#latest.set(providerId, map = new Map());
    const at = Date.now();
    map.set(credentialId, { headers, status, at });
    // Two header reads per answer: enough to notice "0 requests left" before the next 429.
    const left = headers.get("x-ratelimit-remaining-requests") ??
      headers.get("anthropic-ratelimit-requests-remaining");
    const key = `${providerId}\u0000${credentialId}`;
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

  get(providerId: string, credentialId: string): QuotaSnapshot | undefined {
    const seen = this.#latest.get(providerId)?.get(credentialId);
    return seen ? snapshotOf(seen) : undefined;
  }

  /** Every snapshot that carries quota information, by provider then credential id. */
  all(): Record<string, Record<string, QuotaSnapshot>> {
    const out: Record<string, Record<string, QuotaSnapshot>> = {};
    for (const [p, map] of this.#latest) {
      const entries: Record<string, QuotaSnapshot> = {};
      for (const [id, seen] of map) {
        const snap = snapshotOf(seen);
        if (snap) entries[id] = snap;
      }
      if (Object.keys(entries).length > 0) out[p] = entries;
    }
    return out;
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
