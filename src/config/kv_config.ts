import { z } from "zod";
import type { SecretBox } from "../accounts/secret_box.ts";
import { withKvRetry } from "../kv_retry.ts";

/** The one module that owns the `["config", ...]` KV prefix. */
const CURRENT_KEY: Deno.KvKey = ["config", "current"];
const historyKey = (version: number): Deno.KvKey => ["config", "history", version];
/** Every stored config record (current and history) is under this prefix. */
export const CONFIG_PREFIX: Deno.KvKey = ["config"];

/** One stored config version: the raw object as the operator wrote it (validated before saving). */
export interface KvConfigEntry {
  version: number;
  config: Record<string, unknown>;
  updated_at: string;
  /** What made this version: an edit or a rollback to an earlier version. */
  reason: "put" | "rollback";
  rolled_back_to?: number;
}

/**
 * A stored entry as in KV: the version fields in clear, the config either in clear
 * (`config`, no KV_ENCRYPTION_KEY) or sealed whole with the accounts' SecretBox (`sealed`), so
 * no key, token, header value or client secret of it is ever stored readable.
 */
const storedSchema = z.object({
  version: z.number().int().positive(),
  config: z.record(z.string(), z.unknown()).optional(),
  sealed: z.string().optional(),
  updated_at: z.string(),
  reason: z.enum(["put", "rollback"]),
  rolled_back_to: z.number().int().positive().optional(),
});

type Stored = z.infer<typeof storedSchema>;

/** The stored config is sealed and cannot be opened: KV_ENCRYPTION_KEY missing or wrong. */
export class SealedConfigError extends Error {
  constructor(version: number) {
    super(
      `stored config version ${version} is sealed; KV_ENCRYPTION_KEY missing or wrong`,
    );
    this.name = "SealedConfigError";
  }
}

/** Why a write did not happen. */
export type KvConfigWriteResult =
  | { ok: true; entry: KvConfigEntry }
  | { ok: false; reason: "conflict"; current: number }
  | { ok: false; reason: "no_previous" | "no_such_version" };

/** How often an unconditional put re-reads and tries again after losing to another writer. */
const PUT_ATTEMPTS = 8;

/** How many earlier versions are kept; older history entries are deleted on write. */
export const HISTORY_LIMIT = 20;

/**
 * The config stored in Deno KV: the current version under `["config","current"]` and every
 * version under `["config","history",version]`. Writes are atomic on the current entry's
 * versionstamp, so of two concurrent writers exactly one wins.
 */
export class KvConfigStore {
  readonly #kv: Deno.Kv;
  readonly #box: SecretBox | undefined;

  /** With a SecretBox (KV_ENCRYPTION_KEY) every version is written sealed. */
  constructor(kv: Deno.Kv, options: { box?: SecretBox } = {}) {
    this.#kv = kv;
    this.#box = options.box;
  }

  /**
   * The current version, or null when no config was ever stored (or it is not a valid
   * record). Throws SealedConfigError when it is sealed and cannot be opened.
   */
  async current(): Promise<KvConfigEntry | null> {
    return await this.#open((await withKvRetry(() => this.#kv.get(CURRENT_KEY))).value);
  }

  /** Earlier versions, newest first; versions that cannot be opened are left out. */
  async history(): Promise<KvConfigEntry[]> {
    const out: KvConfigEntry[] = [];
    const list = () =>
      Array.fromAsync(this.#kv.list({ prefix: ["config", "history"] }, { reverse: true }));
    for (const e of await withKvRetry(list)) {
      const entry = await this.#open(e.value).catch(() => null);
      if (entry) out.push(entry);
    }
    return out;
  }

  /**
   * Stores a new version. `expectedVersion` (0 = nothing stored yet) makes the write
   * conditional on what the writer last read. Without it the write never overwrites a version
   * written between its read and its commit either: it reads again and retries (bounded), so
   * concurrent unconditional writers all land, one after the other.
   */
  async put(
    config: Record<string, unknown>,
    expectedVersion?: number,
  ): Promise<KvConfigWriteResult> {
    for (let i = 1;; i++) {
      const result = await this.#write(expectedVersion, () => ({ config, reason: "put" }));
      if (result.ok || expectedVersion !== undefined || i >= PUT_ATTEMPTS) return result;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * i));
    }
  }

  /** Makes a copy of an earlier version the new current one (default: the one before current). */
  async rollback(target?: number): Promise<KvConfigWriteResult> {
    const cur = parseStored((await withKvRetry(() => this.#kv.get(CURRENT_KEY))).value);
    const version = target ?? (cur ? cur.version - 1 : 0);
    if (version < 1) return { ok: false, reason: "no_previous" };
    const old = await this.#open(
      (await withKvRetry(() => this.#kv.get(historyKey(version)))).value,
    ).catch(() => null);
    if (!old || (cur && version >= cur.version)) {
      return { ok: false, reason: target === undefined ? "no_previous" : "no_such_version" };
    }
    return await this.#write(
      cur?.version ?? 0,
      () => ({ config: old.config, reason: "rollback", rolled_back_to: version }),
    );
  }

  /** A stored record as an entry: opened when sealed; null when it is not a valid record. */
  async #open(value: unknown): Promise<KvConfigEntry | null> {
    const stored = parseStored(value);
    if (!stored) return null;
    const { sealed, config, ...meta } = stored;
    if (sealed === undefined) return config ? { ...meta, config } : null;
    if (!this.#box) throw new SealedConfigError(stored.version);
    let opened: unknown;
    try {
      opened = await this.#box.open(sealed);
    } catch {
      throw new SealedConfigError(stored.version);
    }
    const c = z.record(z.string(), z.unknown()).safeParse(opened);
    return c.success ? { ...meta, config: c.data } : null;
  }

  async #seal(entry: KvConfigEntry): Promise<Stored> {
    if (!this.#box) return entry;
    const { config, ...meta } = entry;
    return { ...meta, sealed: await this.#box.seal(config) };
  }

  async #write(
    expectedVersion: number | undefined,
    make: () => Pick<KvConfigEntry, "config" | "reason" | "rolled_back_to">,
  ): Promise<KvConfigWriteResult> {
    const read = await withKvRetry(() => this.#kv.get(CURRENT_KEY));
    // Only the version is needed, so a sealed current entry never has to be opened here.
    const curVersion = parseStored(read.value)?.version ?? 0;
    if (expectedVersion !== undefined && expectedVersion !== curVersion) {
      return { ok: false, reason: "conflict", current: curVersion };
    }
    const entry: KvConfigEntry = {
      version: curVersion + 1,
      updated_at: new Date().toISOString(),
      ...make(),
    };
    const stored = await this.#seal(entry);
    const res = await withKvRetry(() => {
      const op = this.#kv.atomic().check(read).set(CURRENT_KEY, stored).set(
        historyKey(entry.version),
        stored,
      );
      if (entry.version > HISTORY_LIMIT) op.delete(historyKey(entry.version - HISTORY_LIMIT));
      return op.commit();
    });
    if (!res.ok) {
      const now = parseStored((await withKvRetry(() => this.#kv.get(CURRENT_KEY))).value);
      return { ok: false, reason: "conflict", current: now?.version ?? 0 };
    }
    return { ok: true, entry };
  }

  /**
   * Calls `onChange` whenever the current version changes, from any instance: `kv.watch`
   * where the backend notifies (Deno Deploy), plus a poll, because a local SQLite file shared
   * by several processes only notifies the process that wrote it.
   */
  follow(
    knownVersion: number,
    onChange: (entry: KvConfigEntry | null) => void,
    options: { pollMs?: number; onError?: (err: unknown) => void } = {},
  ): { close(): Promise<void> } {
    let known = knownVersion;
    let closed = false;
    const seen = (e: Deno.KvEntryMaybe<unknown>): void => {
      const version = parseStored(e.value)?.version ?? 0;
      if (closed || version === known) return;
      known = version;
      this.#open(e.value).then(
        // A newer version seen while this one was being opened wins.
        (entry) => {
          if (!closed && known === version) onChange(entry);
        },
        (err) => options.onError?.(err),
      );
    };
    const stream = this.#kv.watch([CURRENT_KEY]);
    const reader = stream.getReader();
    const watching = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done || closed) break;
          seen(value[0]);
        }
      } catch (err) {
        if (!closed) options.onError?.(err);
      }
    })();
    let polling: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      polling = (async () => {
        try {
          seen(await this.#kv.get(CURRENT_KEY));
        } catch (err) {
          if (!closed) options.onError?.(err);
        }
      })();
    }, options.pollMs ?? 5_000);
    return {
      // Resolves once no KV operation of this follower is pending, so the KV can be closed.
      async close() {
        closed = true;
        clearInterval(timer);
        await reader.cancel().catch(() => {});
        await Promise.all([watching, polling]);
      },
    };
  }
}

function parseStored(value: unknown): Stored | null {
  const r = storedSchema.safeParse(value);
  return r.success ? r.data : null;
}
