import { allowlist, isLimited, type KeyRecord } from "./settings.ts";
import { hashSecret, sameHash, SECRET_PREFIX } from "./secret.ts";

const PREFIX = ["client_keys", "key"] as const;
/** Bumped on every change, so instances reload the index only when something changed. */
const VERSION = ["client_keys", "version"] as const;

/** A key as the hot path sees it: its record plus what is derived from it once. */
export interface ManagedKey {
  readonly record: KeyRecord;
  readonly allows: ((model: string) => boolean) | undefined;
  readonly limited: boolean;
  readonly expiresAt: number | undefined;
}

/** The outcome of looking a presented secret up: a usable key, a refused one, or none. */
export type Identity = { kind: "key"; key: ManagedKey } | { kind: "refused" } | undefined;

/**
 * Managed client keys in KV (records hold a hash of the secret, never the secret) with an
 * in-memory index by hash. The index is reloaded in the background every `refreshMs` and
 * after every local change, so the request path never waits on KV; a change made on another
 * instance applies here within `refreshMs`.
 */
export class KeyStore {
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  #byHash = new Map<string, ManagedKey>();
  #byId = new Map<string, ManagedKey>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #loading: Promise<void> | undefined;
  #version: string | null = null;
  #loaded = false;
  #onError: (err: unknown) => void;

  constructor(
    kv: Deno.Kv,
    options: { now?: () => number; onError?: (err: unknown) => void } = {},
  ) {
    this.#kv = kv;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
  }

  /** Loads the index once and keeps it fresh every `refreshMs`. */
  async start(refreshMs: number): Promise<void> {
    await this.reload().catch(this.#onError);
    this.#timer = setInterval(() => void this.#reloadIfChanged().catch(this.#onError), refreshMs);
    Deno.unrefTimer(this.#timer);
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * True once any managed key exists: the gateway then asks every client for a key. Also true
   * until the index could be read once (KV down at start): fail closed rather than open.
   */
  get any(): boolean {
    return !this.#loaded || this.#byId.size > 0;
  }

  /**
   * Finds the key among the presented ones (only `sk-lp-` ones are hashed). Disabled, expired
   * and rotated-out keys are `refused`: the caller answers the same 401 as for an unknown key.
   */
  identify(presented: readonly string[]): Identity {
    let refused = false;
    for (const p of presented) {
      if (!p.startsWith(SECRET_PREFIX)) continue;
      // The lookup is by SHA-256 of the secret: its timing reveals nothing about stored secrets.
      const hash = hashSecret(p);
      const key = this.#byHash.get(hash);
      if (!key) continue;
      const rec = key.record;
      const now = this.#now();
      const previous = rec.previous !== undefined && !sameHash(hash, rec.hash);
      if (
        !rec.enabled || (key.expiresAt !== undefined && now >= key.expiresAt) ||
        (previous && Date.parse(rec.previous!.until) <= now)
      ) {
        refused = true;
        continue;
      }
      return { kind: "key", key };
    }
    return refused ? { kind: "refused" } : undefined;
  }

  byId(id: string): ManagedKey | undefined {
    return this.#byId.get(id);
  }

  all(): ManagedKey[] {
    return [...this.#byId.values()];
  }

  async get(id: string): Promise<KeyRecord | null> {
    return (await this.#kv.get<KeyRecord>([...PREFIX, id])).value;
  }

  async put(rec: KeyRecord): Promise<void> {
    await this.#kv.atomic().set([...PREFIX, rec.id], rec).sum(VERSION, 1n).commit();
    await this.reload();
  }

  async delete(id: string): Promise<boolean> {
    const had = (await this.#kv.get([...PREFIX, id])).versionstamp !== null;
    await this.#kv.atomic().delete([...PREFIX, id]).sum(VERSION, 1n).commit();
    await this.reload();
    return had;
  }

  /** One KV read per tick: the index is rebuilt only when another instance changed a key. */
  async #reloadIfChanged(): Promise<void> {
    const v = (await this.#kv.get<Deno.KvU64>(VERSION)).versionstamp;
    if (this.#loaded && v === this.#version) return;
    await this.reload();
  }

  async list(): Promise<KeyRecord[]> {
    const out: KeyRecord[] = [];
    for await (const e of this.#kv.list<KeyRecord>({ prefix: PREFIX })) out.push(e.value);
    return out;
  }

  /** Rebuilds the index from KV (one at a time). */
  reload(): Promise<void> {
    if (this.#loading) return this.#loading.then(() => this.#reload());
    return this.#reload();
  }

  #reload(): Promise<void> {
    this.#loading = (async () => {
      try {
        // The version is read first: a change made during the listing is picked up next tick.
        const version = (await this.#kv.get(VERSION)).versionstamp;
        const byHash = new Map<string, ManagedKey>();
        const byId = new Map<string, ManagedKey>();
        for (const rec of await this.list()) {
          const key: ManagedKey = {
            record: rec,
            allows: allowlist(rec.models),
            limited: isLimited(rec),
            expiresAt: rec.expires_at === undefined ? undefined : Date.parse(rec.expires_at),
          };
          byId.set(rec.id, key);
          byHash.set(rec.hash, key);
          if (rec.previous) byHash.set(rec.previous.hash, key);
        }
        this.#byHash = byHash;
        this.#byId = byId;
        this.#version = version;
        this.#loaded = true;
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }
}
