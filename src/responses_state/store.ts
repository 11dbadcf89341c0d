/**
 * Stored OpenAI Responses (`store: true` with `responses.store` on): what `previous_response_id`,
 * `GET /v1/responses/{id}` and `DELETE /v1/responses/{id}` read. Every record is kept under the
 * client identity that made it, so one key can never reach another's responses.
 *
 * KV layout, all entries with the same `expireIn`:
 * - `["responses", owner, id, "head"]` → `{ version, chunks, expiresAt }`
 * - `["responses", owner, id, "chunk", version, i]` → a slice of the record's JSON (≤ 60 000
 *   bytes: KV refuses values over 64 KiB).
 * The chunks are written first and the head last, under a fresh version: a reader never sees
 * a half-written record, and a rewrite never mixes two versions' chunks.
 * KV's own expiry is lazy, so the head carries `expiresAt` and a reader treats a past one as
 * gone (the clock is injectable for tests).
 */

/** One stored response: the transcript it continued from and the answer's full object. */
export interface StoredResponse {
  /** Every input item up to this response (earlier turns expanded), in Responses item shape. */
  input: unknown[];
  /** The Responses object as the client received it (`output`, `usage`, `id`...). */
  response: Record<string, unknown>;
}

interface Head {
  version: string;
  chunks: number;
  expiresAt: number;
}

const PREFIX = "responses";
/** Bytes of JSON text per chunk; KV values are limited to 64 KiB. */
const CHUNK_BYTES = 60_000;
/** Chunks per atomic write: KV limits a commit's total size (800 KB) and mutation count. */
const CHUNKS_PER_COMMIT = 10;

export interface ResponseStoreOptions {
  /** Milliseconds since the epoch; `Date.now` unless a test moves time. */
  now?: () => number;
}

export class ResponseStore {
  readonly #kv: Deno.Kv;
  readonly #now: () => number;

  constructor(kv: Deno.Kv, options: ResponseStoreOptions = {}) {
    this.#kv = kv;
    this.#now = options.now ?? Date.now;
  }

  /** Keeps `record` under `owner` for `ttlMs`; replaces an earlier record with the same id. */
  async put(owner: string, id: string, record: StoredResponse, ttlMs: number): Promise<void> {
    const bytes = new TextEncoder().encode(JSON.stringify(record));
    const version = crypto.randomUUID();
    const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
    const expireIn = ttlMs;
    for (let first = 0; first < chunks; first += CHUNKS_PER_COMMIT) {
      const op = this.#kv.atomic();
      for (let i = first; i < Math.min(chunks, first + CHUNKS_PER_COMMIT); i++) {
        const slice = bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
        op.set([PREFIX, owner, id, "chunk", version, i], slice, { expireIn });
      }
      const res = await op.commit();
      if (!res.ok) throw new Error("KV refused a stored response chunk");
    }
    const previous = await this.#kv.get<Head>([PREFIX, owner, id, "head"]);
    const head: Head = { version, chunks, expiresAt: this.#now() + ttlMs };
    await this.#kv.set([PREFIX, owner, id, "head"], head, { expireIn });
    // A replaced record's chunks are dropped now rather than left to expire.
    if (previous.value) await this.#deleteChunks(owner, id, previous.value.version);
  }

  /** The record `owner` stored as `id`, or undefined (none, another owner's, or expired). */
  async get(owner: string, id: string): Promise<StoredResponse | undefined> {
    const head = (await this.#kv.get<Head>([PREFIX, owner, id, "head"])).value;
    if (!head || head.expiresAt <= this.#now()) return undefined;
    const keys: Deno.KvKey[] = [];
    for (let i = 0; i < head.chunks; i++) keys.push([PREFIX, owner, id, "chunk", head.version, i]);
    const parts: Uint8Array[] = [];
    // getMany reads at most 10 keys at a time.
    for (let i = 0; i < keys.length; i += 10) {
      for (const entry of await this.#kv.getMany<Uint8Array[]>(keys.slice(i, i + 10))) {
        if (!(entry.value instanceof Uint8Array)) return undefined; // expired underneath
        parts.push(entry.value);
      }
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return JSON.parse(new TextDecoder().decode(all)) as StoredResponse;
  }

  /** Deletes `owner`'s record `id`; false when there was none (or it is another owner's). */
  async delete(owner: string, id: string): Promise<boolean> {
    const head = (await this.#kv.get<Head>([PREFIX, owner, id, "head"])).value;
    if (!head || head.expiresAt <= this.#now()) return false;
    await this.#kv.delete([PREFIX, owner, id, "head"]);
    await this.#deleteChunks(owner, id, head.version);
    return true;
  }

  async #deleteChunks(owner: string, id: string, version: string): Promise<void> {
    let op = this.#kv.atomic();
    let n = 0;
    for await (const e of this.#kv.list({ prefix: [PREFIX, owner, id, "chunk", version] })) {
      op.delete(e.key);
      if (++n % 100 === 0) {
        await op.commit();
        op = this.#kv.atomic();
      }
    }
    await op.commit();
  }
}
