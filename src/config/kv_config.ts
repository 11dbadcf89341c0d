import { z } from "zod";
import { withKvRetry } from "../kv_retry.ts";

/** The one module that owns the `["config", ...]` KV prefix. */
const CURRENT_KEY: Deno.KvKey = ["config", "current"];
const historyKey = (version: number): Deno.KvKey => ["config", "history", version];

/** One stored config version: the raw object as the operator wrote it (validated before saving). */
export interface KvConfigEntry {
  version: number;
  config: Record<string, unknown>;
  updated_at: string;
  /** What made this version: an edit or a rollback to an earlier version. */
  reason: "put" | "rollback";
  rolled_back_to?: number;
}

const entrySchema = z.object({
  version: z.number().int().positive(),
  config: z.record(z.string(), z.unknown()),
  updated_at: z.string(),
  reason: z.enum(["put", "rollback"]),
  rolled_back_to: z.number().int().positive().optional(),
});

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
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The current version, or null when no config was ever stored (or it was unreadable). */
  async current(): Promise<KvConfigEntry | null> {
    return parseEntry((await withKvRetry(() => this.#kv.get(CURRENT_KEY))).value);
  }

  /** Earlier versions, newest first. */
  async history(): Promise<KvConfigEntry[]> {
    const out: KvConfigEntry[] = [];
    const list = () =>
      Array.fromAsync(this.#kv.list({ prefix: ["config", "history"] }, { reverse: true }));
    for (const e of await withKvRetry(list)) {
      const entry = parseEntry(e.value);
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
    const cur = await this.current();
    const version = target ?? (cur ? cur.version - 1 : 0);
    if (version < 1) return { ok: false, reason: "no_previous" };
    const old = parseEntry((await withKvRetry(() => this.#kv.get(historyKey(version)))).value);
    if (!old || (cur && version >= cur.version)) {
      return { ok: false, reason: target === undefined ? "no_previous" : "no_such_version" };
    }
    return await this.#write(
      cur?.version ?? 0,
      () => ({ config: old.config, reason: "rollback", rolled_back_to: version }),
    );
  }

  async #write(
    expectedVersion: number | undefined,
    make: () => Pick<KvConfigEntry, "config" | "reason" | "rolled_back_to">,
  ): Promise<KvConfigWriteResult> {
    const read = await withKvRetry(() => this.#kv.get(CURRENT_KEY));
    const cur = parseEntry(read.value);
    const curVersion = cur?.version ?? 0;
    if (expectedVersion !== undefined && expectedVersion !== curVersion) {
      return { ok: false, reason: "conflict", current: curVersion };
    }
    const entry: KvConfigEntry = {
      version: curVersion + 1,
      updated_at: new Date().toISOString(),
      ...make(),
    };
    const res = await withKvRetry(() => {
      const op = this.#kv.atomic().check(read).set(CURRENT_KEY, entry).set(
        historyKey(entry.version),
        entry,
      );
      if (entry.version > HISTORY_LIMIT) op.delete(historyKey(entry.version - HISTORY_LIMIT));
      return op.commit();
    });
    if (!res.ok) {
      const now = await this.current();
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
      const entry = parseEntry(e.value);
      const version = entry?.version ?? 0;
      if (closed || version === known) return;
      known = version;
      onChange(entry);
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

function parseEntry(value: unknown): KvConfigEntry | null {
  const r = entrySchema.safeParse(value);
  return r.success ? r.data : null;
}
