import type { ProviderConfig, ProviderType } from "../config/schema.ts";
import { UpstreamError } from "../errors.ts";
import type { Logger } from "../observe/logger.ts";
import { type AccountStore, credentialExpiry, type SealedAccountInfo } from "./store.ts";
import {
  type Account,
  type AccountLease,
  AccountUnsupportedError,
  type Credential,
  type CredentialDriver,
  isStaticCredential,
  RefreshRejectedError,
  type RefreshResult,
} from "./types.ts";

/** Tokens this close to expiry are refreshed before use. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** How long a provider's account list is served from memory before KV is read again. */
const CACHE_TTL_MS = 5_000;
/** How long one refresh may hold an account's lease in KV. */
const REFRESH_LEASE_MS = 30_000;
/** How often an instance waiting on another's refresh looks at the result. */
const LEASE_POLL_MS = 50;

/** One account's outcome in a refresh job. */
export interface RefreshOutcome {
  provider: string;
  id: string;
  result: "refreshed" | "skipped" | "failed";
  detail?: string;
  expires_at?: number;
}

/** Per-account request counters of this instance. */
export interface AccountCounters {
  requests: number;
  errors: number;
}

/**
 * Chooses accounts for requests and keeps their tokens fresh. Refreshes are single-flight
 * per account inside the process, and compare-and-set against KV across processes: a
 * refresh never overwrites a credential that changed since it was read, and a refresh
 * token the provider rotated is stored before the new access token is used.
 */
export class AccountManager {
  readonly #store: AccountStore;
  readonly #driverFor: (type: ProviderType) => CredentialDriver | undefined;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #fetch: typeof fetch | undefined;
  readonly #cache = new Map<string, { at: number; accounts: Account[] }>();
  readonly #inflight = new Map<string, Promise<Account>>();
  readonly #counters = new Map<string, AccountCounters>();
  /** Identifies this instance's refresh leases in KV. */
  readonly #owner = crypto.randomUUID();

  constructor(options: {
    store: AccountStore;
    driverFor: (type: ProviderType) => CredentialDriver | undefined;
    logger: Logger;
    now?: () => number;
    fetch?: typeof fetch;
  }) {
    this.#store = options.store;
    this.#driverFor = options.driverFor;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch;
  }

  get store(): AccountStore {
    return this.#store;
  }

  /**
   * Whether the provider's type uses stored OAuth/service accounts. A type that also takes
   * keys (azure-openai) uses the config's `api_keys` when it has any, else its accounts.
   */
  usesAccounts(provider: ProviderConfig): boolean {
    const driver = this.#driverFor(provider.type);
    if (driver?.takesApiKeys && provider.api_keys.length > 0) return false;
    return driver !== undefined;
  }

  driverFor(type: ProviderType): CredentialDriver | undefined {
    return this.#driverFor(type);
  }

  /** The provider's accounts, from memory when read less than a few seconds ago. */
  async accountsOf(providerId: string): Promise<Account[]> {
    const hit = this.#cache.get(providerId);
    if (hit && this.#now() - hit.at < CACHE_TTL_MS) return hit.accounts;
    // A stale list is served while it is re-read in the background, so a slow or locked KV
    // never holds requests up; writes through the admin API invalidate, so they are seen.
    if (hit) {
      if (!this.#reloading.has(providerId)) {
        this.#reloading.add(providerId);
        this.#readAccounts(providerId, hit).catch(() => {}).finally(() =>
          this.#reloading.delete(providerId)
        );
      }
      return hit.accounts;
    }
    return await this.#readAccounts(providerId, undefined);
  }

  readonly #reloading = new Set<string>();

  async #readAccounts(
    providerId: string,
    hit: { at: number; accounts: Account[] } | undefined,
  ): Promise<Account[]> {
    const generation = this.#generation;
    let list;
    const sealed: SealedAccountInfo[] = [];
    try {
      list = await this.#store.list(providerId, (err) => {
        this.#logger.warn(err.message);
        if (err.sealed) sealed.push(err.sealed);
      });
    } catch (err) {
      // KV trouble: keep serving with the last known accounts rather than failing requests.
      this.#logger.warn("account list unavailable; using the cached one", {
        provider: providerId,
        error: err instanceof Error ? err.message : "error",
      });
      if (hit) {
        // Try KV again after the usual interval, not on every request.
        if (generation === this.#generation) {
          this.#cache.set(providerId, { at: this.#now(), accounts: hit.accounts });
        }
        return hit.accounts;
      }
      throw new UpstreamError(503, "The account store (KV) is unavailable; retry shortly.", {
        code: "kv_unavailable",
        retryAfter: 1,
        cause: err,
      });
    }
    const accounts = list.map((v) => v.account).sort((a, b) => a.created_at - b.created_at);
    // A read that started before a write (invalidate) must not put the old list back.
    if (generation === this.#generation) {
      this.#cache.set(providerId, { at: this.#now(), accounts });
      this.#sealed.set(providerId, sealed);
    }
    return accounts;
  }

  readonly #sealed = new Map<string, SealedAccountInfo[]>();

  /**
   * The provider's accounts sealed with a key this instance does not have (KV_ENCRYPTION_KEY
   * missing or wrong), as of the last `accountsOf` read: listed by the admin API, never used.
   */
  sealedAccountsOf(providerId: string): SealedAccountInfo[] {
    return this.#sealed.get(providerId) ?? [];
  }

  #generation = 0;

  /** Drops the cached list so the next read sees KV (after any write). */
  invalidate(providerId: string): void {
    this.#generation++;
    this.#cache.delete(providerId);
  }

  /**
   * API keys added through the admin API for a key-based provider. Synchronous while the
   * cached account list is fresh, since this runs on every request.
   */
  apiKeysOf(providerId: string): string[] | Promise<string[]> {
    const hit = this.#cache.get(providerId);
    if (hit && this.#now() - hit.at < CACHE_TTL_MS) return keysOf(hit.accounts);
    // Unreadable KV: the provider's configured keys still serve; stored ones join later.
    return this.accountsOf(providerId).then(keysOf, () => NO_KEYS);
  }

  /** The provider's enabled, working accounts, oldest first (the credential pool orders them). */
  async usableAccounts(providerId: string): Promise<Account[]> {
    return (await this.accountsOf(providerId)).filter((a) =>
      a.enabled && a.status === "active" && a.credential.kind !== "api_key"
    );
  }

  /**
   * The first of `candidates` (default: every usable account, oldest first) that can be made
   * ready: a token valid for at least REFRESH_MARGIN_MS, refreshed if needed, set up (project
   * discovery). Accounts that cannot are logged and passed over. The order is the caller's:
   * rotation lives in the credential pool (`src/routing/credential_pool.ts`). Throws
   * UpstreamError 503 `no_usable_account` when none can be used.
   */
  async lease(
    provider: ProviderConfig,
    signal: AbortSignal,
    candidates?: readonly Account[],
  ): Promise<AccountLease> {
    const usable = candidates ?? await this.usableAccounts(provider.id);
    let lastProblem = "no active accounts";
    for (let account of usable) {
      try {
        if (!isFresh(account, this.#now())) {
          account = await this.refresh(provider, account.id, { force: false, signal });
        }
        try {
          account = await this.#prepared(provider, account, signal);
        } catch (err) {
          // The token was refused during setup: refresh once and try setup again.
          if ((err as { status?: unknown }).status !== 401) throw err;
          account = await this.refresh(provider, account.id, { force: true, signal });
          account = await this.#prepared(provider, account, signal);
        }
        return this.#lease(provider, account);
      } catch (err) {
        lastProblem = err instanceof Error ? err.message : String(err);
        if (err instanceof AccountUnsupportedError) {
          await this.markUnsupported(provider, account.id, err.message).catch(() => {});
        }
        this.#logger.warn(`account ${provider.id}/${account.id} unusable: ${lastProblem}`);
      }
    }
    throw new UpstreamError(
      503,
      `No usable account for provider '${provider.id}' (${lastProblem}).`,
      { code: "no_usable_account" },
    );
  }

  /**
   * After an upstream 401: refresh the account's token once, and lease it again. Static keys
   * (AWS) have no token to refresh: the upstream refused the key itself, so the account is
   * marked failed (and kept, for the operator to see and replace).
   */
  async relogin(provider: ProviderConfig, id: string, signal: AbortSignal): Promise<AccountLease> {
    const current = await this.#store.get(provider.id, id);
    if (current && isStaticCredential(current.account.credential)) {
      const reason = "The upstream refused the key (revoked, wrong secret or expired).";
      await this.#store.update(
        provider.id,
        id,
        (a) => ({ ...a, status: "refresh_failed", last_error: reason }),
      );
      this.invalidate(provider.id);
      this.#logger.warn(`account ${provider.id}/${id} marked failed: ${reason}`);
      throw new Error(`refresh rejected: ${reason}`);
    }
    const fresh = await this.refresh(provider, id, { force: true, signal });
    return this.#lease(provider, await this.#prepared(provider, fresh, signal));
  }

  /**
   * Marks an account `unsupported`: the provider refuses the account itself (not its token), so
   * it leaves the rotation for good, keeping the reason for the admin list and the doctor.
   */
  async markUnsupported(provider: ProviderConfig, id: string, reason: string): Promise<void> {
    await this.#store.update(
      provider.id,
      id,
      (a) =>
        a.status === "unsupported" ? null : { ...a, status: "unsupported", last_error: reason },
    );
    this.invalidate(provider.id);
    this.#logger.warn(`account ${provider.id}/${id} unsupported: ${reason}`);
  }

  #lease(provider: ProviderConfig, account: Account): AccountLease {
    const lease = toLease(account);
    lease.reportUnsupported = (reason) => this.markUnsupported(provider, account.id, reason);
    return lease;
  }

  /** Refreshes an account's token now (single-flight per account). */
  refresh(
    provider: ProviderConfig,
    id: string,
    options: { force: boolean; signal?: AbortSignal },
  ): Promise<Account> {
    const key = `${provider.id}/${id}`;
    const running = this.#inflight.get(key);
    if (running) return running;
    const job = this.#refresh(provider, id, options.force, options.signal)
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, job);
    return job;
  }

  /** Counts a request's outcome for an account (shown in the admin list). */
  record(providerId: string, accountId: string, ok: boolean): void {
    const key = `${providerId}/${accountId}`;
    const c = this.#counters.get(key) ?? { requests: 0, errors: 0 };
    c.requests++;
    if (!ok) c.errors++;
    this.#counters.set(key, c);
  }

  counters(providerId: string, accountId: string): AccountCounters {
    return this.#counters.get(`${providerId}/${accountId}`) ?? { requests: 0, errors: 0 };
  }

  /**
   * The six-hourly job: refreshes every enabled account whose token expires within
   * `horizonMs`, skips the rest; accounts already marked `refresh_failed` are left marked.
   */
  async runRefreshJob(providers: ProviderConfig[], horizonMs: number): Promise<RefreshOutcome[]> {
    const out: RefreshOutcome[] = [];
    for (const provider of providers) {
      if (!this.usesAccounts(provider)) continue;
      this.invalidate(provider.id);
      for (const account of await this.accountsOf(provider.id)) {
        const base = { provider: provider.id, id: account.id };
        const expiry = credentialExpiry(account.credential);
        if (!account.enabled) {
          out.push({ ...base, result: "skipped", detail: "disabled" });
        } else if (isStaticCredential(account.credential)) {
          out.push({ ...base, result: "skipped", detail: "static keys" });
        } else if (account.status === "refresh_failed") {
          out.push({ ...base, result: "skipped", detail: "refresh failed earlier" });
        } else if (account.status === "unsupported") {
          out.push({ ...base, result: "skipped", detail: "unsupported" });
        } else if (expiry !== undefined && expiry > this.#now() + horizonMs) {
          out.push({ ...base, result: "skipped", detail: "not due", expires_at: expiry });
        } else {
          try {
            const fresh = await this.refresh(provider, account.id, { force: true });
            out.push({
              ...base,
              result: "refreshed",
              expires_at: credentialExpiry(fresh.credential),
            });
          } catch (err) {
            out.push({
              ...base,
              result: "failed",
              detail: err instanceof Error ? err.message : "error",
            });
          }
        }
      }
    }
    return out;
  }

  async #refresh(
    provider: ProviderConfig,
    id: string,
    force: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Account> {
    const driver = this.#driverFor(provider.type);
    if (!driver) throw new Error(`provider type ${provider.type} has no refreshable accounts`);
    const current = await this.#store.get(provider.id, id);
    if (!current) throw new Error(`account ${provider.id}/${id} does not exist`);
    if (isStaticCredential(current.account.credential)) return current.account;
    // Another request or instance may have refreshed it meanwhile.
    if (!force && isFresh(current.account, this.#now())) return current.account;
    const used = grantOf(current.account.credential);
    if (!await this.#store.acquireRefreshLease(provider.id, id, this.#owner, REFRESH_LEASE_MS)) {
      // Another instance is refreshing this account: wait for its result instead.
      return await this.#awaitOtherRefresh(provider, id, used, force, signal);
    }
    try {
      // Re-read under the lease: a refresh that finished just before it need not be repeated.
      const held = await this.#store.get(provider.id, id);
      if (!held) throw new Error(`account ${provider.id}/${id} does not exist`);
      if (grantOf(held.account.credential) !== used) return held.account;
      return await this.#refreshHeld(provider, id, driver, held.account, used, signal);
    } finally {
      await this.#store.releaseRefreshLease(provider.id, id, this.#owner).catch(() => {});
    }
  }

  /** Polls until another instance's refresh lands (new grant or fresh token), then uses it. */
  async #awaitOtherRefresh(
    provider: ProviderConfig,
    id: string,
    used: string,
    force: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Account> {
    const deadline = this.#now() + REFRESH_LEASE_MS;
    while (this.#now() < deadline) {
      if (signal?.aborted) throw new Error("refresh cancelled");
      await new Promise((r) => setTimeout(r, LEASE_POLL_MS));
      const latest = await this.#store.get(provider.id, id);
      if (!latest) throw new Error(`account ${provider.id}/${id} was deleted during refresh`);
      const a = latest.account;
      if (a.status === "refresh_failed") throw new Error(`refresh failed: ${a.last_error ?? ""}`);
      if (grantOf(a.credential) !== used || (!force && isFresh(a, this.#now()))) {
        this.invalidate(provider.id);
        return a;
      }
      if (await this.#store.acquireRefreshLease(provider.id, id, this.#owner, REFRESH_LEASE_MS)) {
        // The other instance gave up without a result: refresh here.
        try {
          const driver = this.#driverFor(provider.type);
          if (!driver) throw new Error(`provider type ${provider.type} cannot refresh`);
          return await this.#refreshHeld(provider, id, driver, a, grantOf(a.credential), signal);
        } finally {
          await this.#store.releaseRefreshLease(provider.id, id, this.#owner).catch(() => {});
        }
      }
    }
    throw new Error(`refresh of ${provider.id}/${id} by another instance did not finish`);
  }

  async #refreshHeld(
    provider: ProviderConfig,
    id: string,
    driver: CredentialDriver,
    account: Account,
    used: string,
    signal: AbortSignal | undefined,
  ): Promise<Account> {
    let result: RefreshResult;
    try {
      result = await driver.refresh(account.credential, {
        provider,
        signal: signal ?? AbortSignal.timeout(30_000),
        fetch: this.#fetch,
      });
    } catch (err) {
      return await this.#refreshFailed(provider, id, used, err);
    }
    const now = this.#now();
    const saved = await this.#store.update(provider.id, id, (latest) => {
      // A newer grant was stored meanwhile (another refresh won): keep it, drop ours.
      if (grantOf(latest.credential) !== used) return null;
      return {
        ...latest,
        credential: applyRefresh(latest.credential, result),
        status: "active",
        last_error: undefined,
        last_refresh_at: now,
      };
    });
    this.invalidate(provider.id);
    if (!saved) throw new Error(`account ${provider.id}/${id} was deleted during refresh`);
    this.#logger.info(`refreshed account ${provider.id}/${id}`, {
      expires_at: new Date(credentialExpiry(saved.credential) ?? 0).toISOString(),
    });
    return saved;
  }

  async #refreshFailed(
    provider: ProviderConfig,
    id: string,
    used: string,
    err: unknown,
  ): Promise<Account> {
    const reason = err instanceof Error ? err.message : String(err);
    const rejected = err instanceof RefreshRejectedError;
    const latest = await this.#store.update(provider.id, id, (a) => {
      // Someone else refreshed with a rotated grant: our failure says nothing about it.
      if (grantOf(a.credential) !== used) return null;
      return rejected
        ? { ...a, status: "refresh_failed", last_error: reason }
        : { ...a, last_error: reason };
    });
    this.invalidate(provider.id);
    // Resolved elsewhere: another refresh stored a newer grant with a fresh token.
    if (
      latest && grantOf(latest.credential) !== used && latest.status === "active" &&
      isFresh(latest, this.#now())
    ) return latest;
    this.#logger.warn(`refresh of ${provider.id}/${id} failed: ${reason}`);
    throw new Error(rejected ? `refresh rejected: ${reason}` : `refresh failed: ${reason}`);
  }

  async #prepared(
    provider: ProviderConfig,
    account: Account,
    signal: AbortSignal,
  ): Promise<Account> {
    const driver = this.#driverFor(provider.type);
    if (!driver?.prepare || account.project_id) return account;
    const token = accessTokenOf(account.credential);
    if (!token) return account;
    const { project_id } = await driver.prepare(account, token, {
      provider,
      signal,
      fetch: this.#fetch,
    });
    if (!project_id) return account;
    const saved = await this.#store.update(
      provider.id,
      account.id,
      (a) => (a.project_id ? null : { ...a, project_id }),
    );
    this.invalidate(provider.id);
    return saved ?? { ...account, project_id };
  }
}

/** Shared, never changed: KV unreadable means no stored keys. */
const NO_KEYS: string[] = [];

/** One key list per cached account list: the same array each request, so callers can cache by it. */
const KEYS_OF = new WeakMap<Account[], string[]>();

function keysOf(accounts: Account[]): string[] {
  let keys = KEYS_OF.get(accounts);
  if (keys) return keys;
  keys = [];
  for (const a of accounts) {
    if (a.enabled && a.credential.kind === "api_key") keys.push(a.credential.api_key);
  }
  KEYS_OF.set(accounts, keys);
  return keys;
}

/** Whether the access token is valid for at least REFRESH_MARGIN_MS more. */
export function isFresh(account: Account, now: number): boolean {
  const c = account.credential;
  if (c.kind === "api_key" || c.kind === "aws_access_key") return true;
  const token = c.access_token;
  const expiry = c.expiry_date;
  return !!token && expiry !== undefined && expiry - now > REFRESH_MARGIN_MS;
}

/** What identifies the grant a refresh used: the refresh token, or the service-account key. */
function grantOf(c: Credential): string {
  if (c.kind === "oauth") return c.refresh_token;
  if (c.kind === "service_account") return c.private_key_id;
  if (c.kind === "aws_access_key") return c.access_key_id;
  if (c.kind === "entra_client") return `${c.tenant_id}:${c.client_id}:${c.client_secret}`;
  return c.api_key;
}

function accessTokenOf(c: Credential): string | undefined {
  return c.kind === "api_key" || c.kind === "aws_access_key" ? undefined : c.access_token;
}

function applyRefresh(c: Credential, r: RefreshResult): Credential {
  if (c.kind === "oauth") {
    return {
      ...c,
      access_token: r.access_token,
      expiry_date: r.expiry_date,
      refresh_token: r.refresh_token ?? c.refresh_token,
      ...(r.id_token ? { id_token: r.id_token } : {}),
      ...(r.resource_url ? { resource_url: r.resource_url } : {}),
    };
  }
  if (c.kind === "service_account" || c.kind === "entra_client") {
    return { ...c, access_token: r.access_token, expiry_date: r.expiry_date };
  }
  return c;
}

function toLease(a: Account): AccountLease {
  const c = a.credential;
  const lease: AccountLease = { id: a.id, accessToken: accessTokenOf(c) ?? "" };
  const project = a.project_id ?? (c.kind === "service_account" ? c.project_id : undefined);
  if (project) lease.projectId = project;
  if (c.kind === "oauth" && c.resource_url) lease.resourceUrl = c.resource_url;
  if (c.kind === "aws_access_key") {
    lease.aws = { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key };
    if (c.session_token) lease.aws.sessionToken = c.session_token;
  }
  return lease;
}
