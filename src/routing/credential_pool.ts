import { type Cooldown, type Cooldowns, keyId } from "../accounts/cooldowns.ts";
import type { AccountManager } from "../accounts/manager.ts";
import type { Account, AccountLease } from "../accounts/types.ts";
import type { ProviderConfig } from "../config/schema.ts";
import { GatewayError } from "../errors.ts";
import type { QuotaBook } from "../observe/quota.ts";
import type { SessionAffinity } from "./session_affinity.ts";

/** A credential chosen for one attempt. */
export interface PooledCredential {
  /** The account id, a key's hash id (`key-…`), or `no-key` for a keyless provider. */
  id: string;
  apiKey?: string;
  /** A leased account with a token valid for a few minutes at least. */
  account?: AccountLease;
}

export interface AcquireOptions {
  /** Credentials this request has already tried on this route. */
  tried: ReadonlySet<string>;
  /** The conversation's key, for `strategy: session`. */
  session?: string;
  /** The client's signal, produced only when an account has to be refreshed. */
  signal: () => AbortSignal;
}

export interface PoolDeps {
  accounts: AccountManager;
  cooldowns: Cooldowns;
  quota: QuotaBook;
  affinity: SessionAffinity;
}

/** A stored account or an API key (from the config or added through the admin API). */
interface Candidate {
  id: string;
  apiKey?: string;
  account?: Account;
}

const KEYLESS = "no-key";
const KEY_IDS = new Map<string, string>();

/** A key's id, memoised: hashing 50 keys on every request would show in the benchmark. */
export function credentialIdOfKey(key: string): string {
  let id = KEY_IDS.get(key);
  if (id === undefined) {
    if (KEY_IDS.size > 10_000) KEY_IDS.clear();
    KEY_IDS.set(key, id = keyId(key));
  }
  return id;
}

/**
 * One pool over every kind of credential a provider has: API keys from the config, keys added
 * through the admin API, and stored OAuth/service accounts. It skips credentials that are
 * benched (rate limit, auth) or ejected (server failures), prefers those with headroom (the
 * upstream has not said "0 requests left"), and orders the rest by the provider's strategy:
 * round-robin, fill-first, or session (a conversation's earlier credential first). Round-robin
 * positions are per process (a shared position would cost a KV write per request).
 */
export class CredentialPool {
  readonly #deps: PoolDeps;
  readonly #next = new Map<string, number>();

  constructor(deps: PoolDeps) {
    this.#deps = deps;
  }

  /** Whether the provider's credentials are stored accounts (OAuth, service accounts). */
  usesAccounts(provider: ProviderConfig): boolean {
    return this.#deps.accounts.usesAccounts(provider);
  }

  /** How many credentials the provider has now (0 for a keyless provider). */
  async size(provider: ProviderConfig): Promise<number> {
    const all = await this.#candidates(provider);
    return all === KEYLESS ? 1 : all.length;
  }

  /**
   * A credential that is neither benched nor in `tried`, or undefined when there is none.
   * Synchronous work only while the caches are fresh; an account may need a token refresh.
   */
  async acquire(
    provider: ProviderConfig,
    options: AcquireOptions,
  ): Promise<PooledCredential | undefined> {
    const { tried, session } = options;
    const maybeCooling = this.#deps.cooldowns.active(provider.id);
    const cooling = maybeCooling instanceof Promise ? await maybeCooling : maybeCooling;
    const all = await this.#candidates(provider);
    if (all === KEYLESS) return tried.size === 0 ? { id: KEYLESS } : undefined;
    if (all.length === 0) return undefined;
    const quota = this.#deps.quota;
    const strategy = provider.strategy;
    const maybePreferred = session && strategy === "session"
      ? this.#deps.affinity.get(provider.id, session)
      : undefined;
    const preferred = maybePreferred instanceof Promise ? await maybePreferred : maybePreferred;
    // The hot path: nothing tried, benched, exhausted or preferred — no filtering, no arrays.
    if (
      tried.size === 0 && cooling.size === 0 && !quota.anyExhausted && preferred === undefined &&
      !all[0].account
    ) {
      const picked = all[strategy === "fill-first" ? 0 : this.#advance(provider.id, all.length)];
      return this.#chosen(provider, session, { id: picked.id, apiKey: picked.apiKey });
    }
    const usable = all.filter((c) => !tried.has(c.id) && !cooling.has(c.id));
    if (usable.length === 0) return undefined;
    // Headroom: credentials the upstream has not reported as out of requests go first.
    const roomy = quota.anyExhausted
      ? usable.filter((c) => !quota.exhausted(provider.id, c.id))
      : usable;
    const ordered = this.#order(provider, roomy.length > 0 ? roomy : usable, preferred);
    if (roomy.length > 0 && roomy.length < usable.length) {
      for (const c of usable) if (!roomy.includes(c)) ordered.push(c);
    }
    return await this.#ready(provider, session, ordered, options.signal);
  }

  /**
   * Panic routing: the provider's credential (not in `tried`) whose server-side ejection ends
   * first, with when it ends. Rate-limited and failed-auth credentials are never chosen here.
   */
  async panicCandidate(
    provider: ProviderConfig,
    tried: ReadonlySet<string>,
  ): Promise<{ id: string; until: number } | undefined> {
    const all = await this.#candidates(provider);
    const ids = all === KEYLESS ? [KEYLESS] : all.map((c) => c.id);
    let best: { id: string; until: number } | undefined;
    for (const [id, c] of await this.#deps.cooldowns.active(provider.id)) {
      if (c.reason !== "server" || tried.has(id) || !ids.includes(id)) continue;
      if (!best || c.until < best.until) best = { id, until: c.until };
    }
    return best;
  }

  /** The named credential, benched or not (panic routing). */
  async acquireExact(
    provider: ProviderConfig,
    id: string,
    signal: () => AbortSignal,
  ): Promise<PooledCredential | undefined> {
    const all = await this.#candidates(provider);
    if (all === KEYLESS) return id === KEYLESS ? { id } : undefined;
    const c = all.find((x) => x.id === id);
    return c ? await this.#ready(provider, undefined, [c], signal) : undefined;
  }

  /** The provider's benched and ejected credentials (for the final answer's `Retry-After`). */
  async benched(provider: ProviderConfig): Promise<Cooldown[]> {
    return [...(await this.#deps.cooldowns.active(provider.id)).values()];
  }

  /** After an upstream 401 on an account: its token refreshed once, leased again. */
  async relogin(
    provider: ProviderConfig,
    credential: PooledCredential,
    signal: AbortSignal,
  ): Promise<PooledCredential> {
    const account = await this.#deps.accounts.relogin(provider, credential.id, signal);
    return { id: credential.id, account };
  }

  /** Counts an account's outcome (shown in the admin list). */
  record(provider: ProviderConfig, credential: PooledCredential, ok: boolean): void {
    if (credential.account) this.#deps.accounts.record(provider.id, credential.id, ok);
  }

  #advance(providerId: string, n: number): number {
    const i = this.#next.get(providerId) ?? 0;
    this.#next.set(providerId, (i + 1) % n);
    return i % n;
  }

  /** Strategy order: the preferred credential first, then fill-first or round-robin. */
  #order(provider: ProviderConfig, list: Candidate[], preferred?: string): Candidate[] {
    const sticky = preferred === undefined ? -1 : list.findIndex((c) => c.id === preferred);
    const start = sticky >= 0
      ? sticky
      : provider.strategy === "fill-first"
      ? 0
      : this.#advance(provider.id, list.length);
    const out: Candidate[] = [];
    for (let i = 0; i < list.length; i++) out.push(list[(start + i) % list.length]);
    return out;
  }

  /** The first of `ordered` that can be used now (an account may need a refresh or setup). */
  async #ready(
    provider: ProviderConfig,
    session: string | undefined,
    ordered: Candidate[],
    signal: () => AbortSignal,
  ): Promise<PooledCredential | undefined> {
    if (!ordered[0].account) {
      return this.#chosen(provider, session, { id: ordered[0].id, apiKey: ordered[0].apiKey });
    }
    const accounts = ordered.flatMap((c) => c.account ? [c.account] : []);
    try {
      const lease = await this.#deps.accounts.lease(provider, signal(), accounts);
      return this.#chosen(provider, session, { id: lease.id, account: lease });
    } catch (err) {
      if (err instanceof GatewayError && err.code === "no_usable_account") return undefined;
      throw err;
    }
  }

  #chosen(
    provider: ProviderConfig,
    session: string | undefined,
    credential: PooledCredential,
  ): PooledCredential {
    if (session && provider.strategy === "session") {
      this.#deps.affinity.set(provider.id, session, credential.id);
    }
    return credential;
  }

  /** Every credential of the provider, or KEYLESS for a key provider with no key at all. */
  async #candidates(provider: ProviderConfig): Promise<Candidate[] | typeof KEYLESS> {
    const accounts = this.#deps.accounts;
    if (accounts.usesAccounts(provider)) {
      return (await accounts.usableAccounts(provider.id)).map((a) => ({ id: a.id, account: a }));
    }
    const maybeStored = accounts.apiKeysOf(provider.id);
    const stored = maybeStored instanceof Promise ? await maybeStored : maybeStored;
    if (provider.api_keys.length + stored.length === 0) return KEYLESS;
    return keyCandidates(provider.api_keys, stored);
  }
}

/**
 * Candidates for the config's keys plus the stored ones, cached per pair of list objects: the
 * config's list and the account manager's stored-key list are the same arrays request after
 * request, so the hot path allocates nothing here, whatever the number of keys.
 */
const KEY_LISTS = new WeakMap<readonly string[], WeakMap<readonly string[], Candidate[]>>();

function keyCandidates(configured: readonly string[], stored: readonly string[]): Candidate[] {
  let byStored = KEY_LISTS.get(configured);
  if (!byStored) KEY_LISTS.set(configured, byStored = new WeakMap());
  let list = byStored.get(stored);
  if (!list) {
    list = [...configured, ...stored].map((k) => ({ id: credentialIdOfKey(k), apiKey: k }));
    byStored.set(stored, list);
  }
  return list;
}
