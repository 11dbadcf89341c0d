import type { IrRequest } from "../ir/types.ts";

/** Client headers that name a conversation (Claude Code, Codex and generic clients). */
const SESSION_HEADERS = ["x-session-id", "session-id", "session_id", "x-claude-code-session-id"];
/** Bounded so a flood of one-off conversations cannot grow memory without limit. */
const MAX_SESSIONS = 10_000;

/**
 * The conversation a request belongs to: a client session header when there is one, else the
 * request's `prompt_cache_key`, else a
 * hash of the conversation's opening (system prompt and first user turn), which stays the same
 * as the conversation grows — so an upstream's prompt cache keeps hitting the same account.
 */
export function sessionKeyOf(headers: Headers, ir: IrRequest): string {
  for (const h of SESSION_HEADERS) {
    const v = headers.get(h);
    if (v) return `h:${v}`;
  }
  // OpenAI's `prompt_cache_key` (Codex sends one per conversation) names the cache to hit.
  if (ir.promptCacheKey) return `k:${ir.promptCacheKey}`;
  let text = "";
  for (const p of ir.system) if (p.type === "text") text += p.text;
  const firstUser = ir.messages.find((m) => m.role === "user");
  for (const p of firstUser?.parts ?? []) if (p.type === "text") text += "\u0000" + p.text;
  return `c:${fnv1a(text)}`;
}

/** How long a conversation stays on its credential after its last request. */
const AFFINITY_TTL_MS = 3600_000;
/** A memory entry is trusted this long before KV is asked again (another instance may move it). */
const MEMORY_TTL_MS = 60_000;
/** The most a request waits for KV on a memory miss before choosing without affinity. */
const KV_WAIT_MS = 50;

interface Entry {
  id: string;
  at: number;
  /** When this instance last wrote it to KV (0: never; it came from KV). */
  written: number;
}

/**
 * Session → credential id per provider, shared through KV (`["affinity", provider, session]`,
 * expiring an hour after the last write) so a conversation keeps its credential, and its
 * upstream prompt cache, on every instance. A bounded memory cache (least recently used out)
 * answers the hot path; on a miss, KV is asked for at most 50 ms; writes never wait.
 */
export class SessionAffinity {
  readonly #map = new Map<string, Entry>();
  readonly #kv: Deno.Kv | undefined;
  readonly #now: () => number;

  constructor(kv?: Deno.Kv, now: () => number = Date.now) {
    this.#kv = kv;
    this.#now = now;
  }

  get(providerId: string, session: string): string | undefined | Promise<string | undefined> {
    const key = `${providerId}\u0000${session}`;
    const hit = this.#map.get(key);
    const now = this.#now();
    if (hit && now - hit.at < MEMORY_TTL_MS) {
      // Refresh its place in the LRU order.
      this.#map.delete(key);
      this.#map.set(key, hit);
      return hit.id;
    }
    if (!this.#kv) return hit?.id;
    return this.#fromKv(providerId, session, key, hit);
  }

  set(providerId: string, session: string, credentialId: string): void {
    const key = `${providerId}\u0000${session}`;
    const now = this.#now();
    const hit = this.#map.get(key);
    // Unchanged and written recently: no KV write (a write per request would cost throughput).
    const fresh = hit?.id === credentialId && now - hit.written < AFFINITY_TTL_MS / 4;
    this.#remember(key, { id: credentialId, at: now, written: fresh ? hit!.written : now });
    if (fresh || !this.#kv) return;
    this.#kv.set(kvKey(providerId, session), credentialId, { expireIn: AFFINITY_TTL_MS })
      .catch(() => {}); // KV trouble: affinity stays per instance until it is back
  }

  async #fromKv(
    providerId: string,
    session: string,
    key: string,
    stale: Entry | undefined,
  ): Promise<string | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = this.#kv!.get<string>(kvKey(providerId, session)).then(
      (e) => typeof e.value === "string" ? e.value : null,
      () => undefined,
    );
    const late = new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), KV_WAIT_MS));
    const found = await Promise.race([read, late]);
    clearTimeout(timer);
    if (found === undefined) return stale?.id; // KV slow or down: what this instance knew
    if (found === null) {
      if (stale) this.#map.delete(key);
      return undefined;
    }
    this.#remember(key, {
      id: found,
      at: this.#now(),
      written: stale?.id === found ? stale.written : 0,
    });
    return found;
  }

  #remember(key: string, entry: Entry): void {
    this.#map.delete(key);
    this.#map.set(key, entry);
    if (this.#map.size > MAX_SESSIONS) {
      this.#map.delete(this.#map.keys().next().value as string);
    }
  }
}

/** KV keys stay short: a long session header is hashed. */
function kvKey(providerId: string, session: string): Deno.KvKey {
  return ["affinity", providerId, session.length > 200 ? `#${fnv1a(session)}` : session];
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}
