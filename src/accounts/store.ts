import { z } from "zod";
import { KvConflictError, withKvRetry } from "../kv_retry.ts";
import type { SecretBox } from "./secret_box.ts";
import { GatewayError } from "../errors.ts";
import type { Account, Credential } from "./types.ts";

/**
 * The one module that owns `["accounts", providerId, accountId]` in KV. Records are
 * zod-validated on the way in and out; with a SecretBox the credential (tokens, refresh
 * tokens, private keys, API keys) is stored sealed with AES-GCM and never in clear.
 */

const PREFIX = "accounts";
/** Every account record is under this prefix. */
export const ACCOUNTS_PREFIX: Deno.KvKey = [PREFIX];

const oauthSchema = z.object({
  kind: z.literal("oauth"),
  access_token: z.string(),
  refresh_token: z.string(),
  expiry_date: z.number(),
  token_type: z.string().optional(),
  scope: z.string().optional(),
  id_token: z.string().optional(),
  resource_url: z.string().optional(),
});

const serviceAccountSchema = z.object({
  kind: z.literal("service_account"),
  client_email: z.string(),
  private_key: z.string(),
  private_key_id: z.string(),
  project_id: z.string(),
  token_uri: z.string(),
  access_token: z.string().optional(),
  expiry_date: z.number().optional(),
});

const apiKeySchema = z.object({ kind: z.literal("api_key"), api_key: z.string() });

const awsAccessKeySchema = z.object({
  kind: z.literal("aws_access_key"),
  access_key_id: z.string(),
  secret_access_key: z.string(),
  session_token: z.string().optional(),
});

const entraClientSchema = z.object({
  kind: z.literal("entra_client"),
  tenant_id: z.string(),
  client_id: z.string(),
  client_secret: z.string(),
  access_token: z.string().optional(),
  expiry_date: z.number().optional(),
});

const credentialSchema = z.discriminatedUnion("kind", [
  oauthSchema,
  serviceAccountSchema,
  apiKeySchema,
  awsAccessKeySchema,
  entraClientSchema,
]);

const storedSchema = z.object({
  id: z.string(),
  provider: z.string(),
  label: z.string().optional(),
  enabled: z.boolean(),
  status: z.enum(["active", "refresh_failed", "unsupported"]),
  project_id: z.string().optional(),
  project_from_user: z.boolean().optional(),
  last_error: z.string().optional(),
  created_at: z.number(),
  updated_at: z.number(),
  last_refresh_at: z.number().optional(),
  /** Kept outside the seal so listings and the cron need no decryption to see it. */
  expires_at: z.number().optional(),
  credential: credentialSchema.optional(),
  sealed: z.string().optional(),
});

type Stored = z.infer<typeof storedSchema>;

/** An account with the versionstamp it was read at, for atomic updates. */
export interface VersionedAccount {
  account: Account;
  versionstamp: string;
}

/** What is readable of a sealed record without the key (kept outside the seal). */
export type SealedAccountInfo = Omit<Account, "credential">;

/**
 * A stored record that could not be read (sealed with another key, or corrupt). A 409 when
 * an admin action needs it: the record is there, this instance cannot open it.
 */
export class UnreadableAccountError extends GatewayError {
  /** Set when the record is sealed and KV_ENCRYPTION_KEY is missing or wrong. */
  readonly sealed?: SealedAccountInfo;

  constructor(provider: string, id: string, why: string, sealed?: SealedAccountInfo) {
    super(409, "invalid_request", `account ${provider}/${id} cannot be read: ${why}`, {
      code: "account_unreadable",
    });
    this.name = "UnreadableAccountError";
    this.sealed = sealed;
  }
}

export class AccountStore {
  readonly #kv: Deno.Kv;
  readonly #box: SecretBox | undefined;

  constructor(kv: Deno.Kv, options: { box?: SecretBox } = {}) {
    this.#kv = kv;
    this.#box = options.box;
  }

  /** Every readable account, optionally of one provider; unreadable ones go to `onUnreadable`. */
  async list(
    provider?: string,
    onUnreadable?: (err: UnreadableAccountError) => void,
  ): Promise<VersionedAccount[]> {
    const out: VersionedAccount[] = [];
    const prefix = provider === undefined ? [PREFIX] : [PREFIX, provider];
    const entries = await withKvRetry(() => Array.fromAsync(this.#kv.list({ prefix })));
    for (const entry of entries) {
      try {
        out.push({
          account: await this.#decode(entry.value, entry.key),
          versionstamp: entry.versionstamp,
        });
      } catch (err) {
        if (err instanceof UnreadableAccountError) onUnreadable?.(err);
        else throw err;
      }
    }
    return out;
  }

  async get(provider: string, id: string): Promise<VersionedAccount | null> {
    const entry = await withKvRetry(() => this.#kv.get([PREFIX, provider, id]));
    if (entry.value === null || entry.versionstamp === null) return null;
    return {
      account: await this.#decode(entry.value, entry.key),
      versionstamp: entry.versionstamp,
    };
  }

  /** Stores a new account; false when the id is taken. */
  async create(account: Account): Promise<boolean> {
    const key = [PREFIX, account.provider, account.id];
    const value = await this.#encode(account);
    const res = await withKvRetry(() =>
      this.#kv.atomic().check({ key, versionstamp: null }).set(key, value).commit()
    );
    return res.ok;
  }

  /** Replaces the account only if it is unchanged since `versionstamp` (compare-and-set). */
  async replace(account: Account, versionstamp: string): Promise<string | null> {
    const key = [PREFIX, account.provider, account.id];
    const value = await this.#encode(account);
    const res = await withKvRetry(() =>
      this.#kv.atomic().check({ key, versionstamp }).set(key, value).commit()
    );
    return res.ok ? res.versionstamp : null;
  }

  /**
   * Read-modify-write with a versionstamp check, retried on conflict (bounded). `change`
   * gets the latest record and returns the new one, or null to leave it alone.
   */
  async update(
    provider: string,
    id: string,
    change: (current: Account) => Account | null,
    attempts = 8,
  ): Promise<Account | null> {
    for (let i = 0; i < attempts; i++) {
      const current = await this.get(provider, id);
      if (!current) return null;
      const next = change(current.account);
      if (!next) return current.account;
      next.updated_at = Date.now();
      if (await this.replace(next, current.versionstamp)) return next;
      // Lost to another writer: a short random pause so the contenders spread out.
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (i + 1)));
    }
    throw new KvConflictError(`account ${provider}/${id} changed concurrently too often`);
  }

  /**
   * Takes the account's refresh lease (`["refresh_lock", provider, id]`) for `ttlMs`, so two
   * gateway instances never refresh one account at once. An expired lease is taken over.
   */
  async acquireRefreshLease(
    provider: string,
    id: string,
    owner: string,
    ttlMs: number,
  ): Promise<boolean> {
    const key = ["refresh_lock", provider, id];
    const now = Date.now();
    const held = await withKvRetry(() => this.#kv.get<{ owner: string; until: number }>(key));
    if (held.value && held.value.until > now && held.value.owner !== owner) return false;
    const res = await withKvRetry(() =>
      this.#kv.atomic().check({ key, versionstamp: held.versionstamp })
        .set(key, { owner, until: now + ttlMs }, { expireIn: ttlMs }).commit()
    );
    return res.ok;
  }

  /** Gives the lease back if this owner still holds it. */
  async releaseRefreshLease(provider: string, id: string, owner: string): Promise<void> {
    const key = ["refresh_lock", provider, id];
    const held = await withKvRetry(() => this.#kv.get<{ owner: string; until: number }>(key));
    if (held.value?.owner !== owner) return;
    await withKvRetry(() =>
      this.#kv.atomic().check({ key, versionstamp: held.versionstamp }).delete(key).commit()
    );
  }

  async delete(provider: string, id: string): Promise<boolean> {
    const key = [PREFIX, provider, id];
    const entry = await withKvRetry(() => this.#kv.get(key));
    if (entry.versionstamp === null) return false;
    await withKvRetry(() => this.#kv.delete(key));
    return true;
  }

  async #encode(account: Account): Promise<Stored> {
    const { credential, ...rest } = account;
    const stored: Stored = { ...rest };
    const expiry = credentialExpiry(credential);
    if (expiry !== undefined) stored.expires_at = expiry;
    if (this.#box) stored.sealed = await this.#box.seal(credential);
    else stored.credential = credential;
    return storedSchema.parse(stored);
  }

  async #decode(value: unknown, key: Deno.KvKey): Promise<Account> {
    const provider = String(key[1]);
    const id = String(key[2]);
    const parsed = storedSchema.safeParse(value);
    if (!parsed.success) throw new UnreadableAccountError(provider, id, "not a valid record");
    const { sealed, credential, expires_at: _expires, ...rest } = parsed.data;
    let cred: Credential;
    if (sealed !== undefined) {
      if (!this.#box) {
        throw new UnreadableAccountError(
          provider,
          id,
          "it is encrypted; set KV_ENCRYPTION_KEY",
          rest,
        );
      }
      let opened: unknown;
      try {
        opened = await this.#box.open(sealed);
      } catch {
        throw new UnreadableAccountError(provider, id, "KV_ENCRYPTION_KEY does not match", rest);
      }
      const c = credentialSchema.safeParse(opened);
      if (!c.success) throw new UnreadableAccountError(provider, id, "corrupt credential");
      cred = c.data as Credential;
    } else if (credential !== undefined) {
      cred = credential as Credential;
    } else {
      throw new UnreadableAccountError(provider, id, "no credential");
    }
    return { ...rest, credential: cred };
  }
}

/** When the credential's access token expires (ms), if it has one. */
export function credentialExpiry(c: Credential): number | undefined {
  if (c.kind === "api_key" || c.kind === "aws_access_key") return undefined;
  return c.expiry_date;
}
