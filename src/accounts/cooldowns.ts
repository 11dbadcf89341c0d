import { withKvRetry } from "../kv_retry.ts";

/**
 * Cooldowns of keys and accounts: `["cooldown", providerId, credentialId]` in KV with
 * `expireIn`, so every instance skips a rate-limited credential, mirrored in memory so the
 * request path reads no KV. The mirror re-reads a provider's cooldowns at most every couple of
 * seconds; writes go to both.
 */

const MIRROR_TTL_MS = 2_000;
/** How long a request waits for its cooldown's KV write before going on without it. */
const SAVE_WAIT_MS = 250;
const EMPTY: Map<string, Cooldown> = new Map();

export interface Cooldown {
  /** Milliseconds since the epoch. */
  until: number;
  /** `rate_limit`, `auth`, or `server` (an outlier ejection). */
  reason: string;
  /** What caused it, for the dashboard (e.g. `3 consecutive failures, last 500`). */
  detail?: string;
}

export class Cooldowns {
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  readonly #mirror = new Map<string, Map<string, Cooldown>>();
  readonly #loadedAt = new Map<string, number>();
  readonly #loading = new Map<string, Promise<void>>();
  /** Cooldowns set here whose KV write has not settled yet (`provider\0credential`). */
  readonly #pending = new Set<string>();
  /** When (in set order) each local cooldown was set, so a reload that read KV before it keeps it. */
  readonly #setSeq = new Map<string, number>();
  #seq = 0;

  readonly #onKvError: (err: unknown) => void;

  /** `onKvError` hears of KV failures, which never fail a request (the memory mirror holds). */
  constructor(
    kv: Deno.Kv,
    now: () => number = Date.now,
    onKvError: (err: unknown) => void = () => {},
  ) {
    this.#kv = kv;
    this.#now = now;
    this.#onKvError = onKvError;
  }

  /** The provider's active cooldowns (refreshed from KV when the mirror is stale). */
  active(providerId: string): Map<string, Cooldown> | Promise<Map<string, Cooldown>> {
    const at = this.#loadedAt.get(providerId) ?? 0;
    // Synchronous when the mirror is fresh: this runs on every request.
    if (this.#now() - at <= MIRROR_TTL_MS) return this.#current(providerId);
    // Once loaded, a stale mirror is served while it reloads in the background: a slow or
    // locked KV (up to seconds per try) never holds a request up.
    if (at > 0) {
      this.#load(providerId);
      return this.#current(providerId);
    }
    return this.#load(providerId).then(() => this.#current(providerId));
  }

  #current(providerId: string): Map<string, Cooldown> {
    const map = this.#mirror.get(providerId);
    if (!map) return EMPTY;
    if (map.size > 0) {
      const now = this.#now();
      for (const [id, c] of map) {
        if (c.until > now) continue;
        map.delete(id);
        this.#pending.delete(`${providerId}\u0000${id}`);
        this.#setSeq.delete(`${providerId}\u0000${id}`);
      }
    }
    return map;
  }

  /**
   * Cools a credential down; a shorter cooldown never shortens a longer one. Resolves with
   * when the cooldown in force ends (what the request log and the admin API both show), or
   * undefined for no cooldown.
   */
  async coolDown(
    providerId: string,
    credentialId: string,
    seconds: number,
    reason: string,
    detail?: string,
  ): Promise<number | undefined> {
    if (seconds <= 0) return undefined;
    const until = this.#now() + seconds * 1000;
    const map = this.#mirror.get(providerId) ?? new Map<string, Cooldown>();
    const current = map.get(credentialId);
    if (current && current.until >= until) return current.until;
    // A rate limit or refusal still running keeps its reason when an ejection extends it:
    // panic routing may pick ejected credentials, never rate-limited ones.
    if (
      current && current.until > this.#now() && current.reason !== "server" && reason === "server"
    ) {
      reason = current.reason;
      detail = current.detail;
    }
    const value: Cooldown = detail ? { until, reason, detail } : { until, reason };
    map.set(credentialId, value);
    this.#mirror.set(providerId, map);
    const pendingKey = `${providerId}\u0000${credentialId}`;
    this.#pending.add(pendingKey);
    this.#setSeq.set(pendingKey, ++this.#seq);
    const saved = withKvRetry(() =>
      this.#kv.set(["cooldown", providerId, credentialId], value, {
        expireIn: Math.ceil(seconds * 1000),
      })
    ).then(() => {
      this.#pending.delete(pendingKey);
    }, (err) => {
      // KV trouble must not fail the request: the in-memory cooldown still holds here (it stays
      // pending, so a later reload keeps it until it ends).
      this.#onKvError(err);
    });
    // Usually done in a millisecond; a locked KV file would otherwise hold the request up for
    // its whole busy timeout (5 s per try), so the write finishes in the background then.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([saved, new Promise<void>((r) => timer = setTimeout(r, SAVE_WAIT_MS))]);
    clearTimeout(timer);
    return until;
  }

  /**
   * Ends a credential's cooldown or ejection now (the admin API's reset). Other instances see
   * it at their next mirror reload (within a couple of seconds). True when there was one.
   */
  async clear(providerId: string, credentialId: string): Promise<boolean> {
    const key = ["cooldown", providerId, credentialId];
    const had = this.#mirror.get(providerId)?.delete(credentialId) ?? false;
    this.#pending.delete(`${providerId}\u0000${credentialId}`);
    this.#setSeq.delete(`${providerId}\u0000${credentialId}`);
    const stored = await withKvRetry(() => this.#kv.get(key));
    await withKvRetry(() => this.#kv.delete(key));
    return had || stored.value !== null;
  }

  async #load(providerId: string): Promise<void> {
    const running = this.#loading.get(providerId);
    if (running) return await running;
    const startSeq = this.#seq;
    const job = (async () => {
      const map = new Map<string, Cooldown>();
      try {
        const entries = await withKvRetry(() =>
          Array.fromAsync(this.#kv.list<Cooldown>({ prefix: ["cooldown", providerId] }))
        );
        for (const e of entries) {
          const v = e.value;
          if (v && typeof v.until === "number") map.set(String(e.key[2]), v);
        }
        // Keep local cooldowns whose KV write is still in flight or was set after this read
        // began (only those: a cooldown an operator cleared elsewhere must not come back).
        for (const [id, c] of this.#mirror.get(providerId) ?? []) {
          const key = `${providerId}\u0000${id}`;
          if (!this.#pending.has(key) && (this.#setSeq.get(key) ?? 0) <= startSeq) continue;
          if (!map.has(id) || map.get(id)!.until < c.until) map.set(id, c);
        }
        this.#mirror.set(providerId, map);
      } catch (err) {
        // Keep the old mirror when KV cannot be read.
        this.#onKvError(err);
      }
      this.#loadedAt.set(providerId, this.#now());
    })().finally(() => this.#loading.delete(providerId));
    this.#loading.set(providerId, job);
    return await job;
  }
}

/**
 * The id the pool, cooldowns and quota know a stored account by: a stored API key by its
 * key id (like the config's keys), any other account by its own id.
 */
export function credentialIdOfAccount(
  a: { id: string; credential: { kind: string; api_key?: string } },
): string {
  return a.credential.kind === "api_key" && a.credential.api_key !== undefined
    ? keyId(a.credential.api_key)
    : a.id;
}

/** A stable, non-secret id for an API key (FNV-1a), for cooldown keys and logs. */
export function keyId(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return `key-${(h >>> 0).toString(16).padStart(8, "0")}`;
}
