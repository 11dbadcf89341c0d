import type { ProviderConfig } from "../config/schema.ts";

/**
 * Accounts of OAuth and service-account providers (gemini-cli, qwen, vertex), stored in KV
 * under `["accounts", providerId, accountId]` by `src/accounts/store.ts`. The credential
 * fields hold secrets; they are encrypted at rest when `KV_ENCRYPTION_KEY` is set and always
 * masked in answers and logs.
 */

/** OAuth tokens as the providers' CLIs write them (`oauth_creds.json`), normalised. */
export interface OAuthCredential {
  kind: "oauth";
  access_token: string;
  refresh_token: string;
  /** Access-token expiry, milliseconds since the epoch. */
  expiry_date: number;
  token_type?: string;
  scope?: string;
  id_token?: string;
  /** Qwen: the API host for this account, e.g. `portal.qwen.ai`. */
  resource_url?: string;
}

/** A Google Cloud service-account key, plus the access token minted from it. */
export interface ServiceAccountCredential {
  kind: "service_account";
  client_email: string;
  private_key: string;
  private_key_id: string;
  project_id: string;
  token_uri: string;
  access_token?: string;
  /** Milliseconds since the epoch; absent until the first token is minted. */
  expiry_date?: number;
}

/** A plain API key stored through the admin API, rotated together with the config's keys. */
export interface ApiKeyCredential {
  kind: "api_key";
  api_key: string;
}

/**
 * AWS access keys (Bedrock): static, never refreshed; requests are SigV4-signed with them.
 * A key AWS refuses (deleted, wrong secret, expired session token) marks the account failed.
 */
export interface AwsAccessKeyCredential {
  kind: "aws_access_key";
  access_key_id: string;
  secret_access_key: string;
  /** Temporary (STS) credentials carry one; it expires with them. */
  session_token?: string;
}

/** A Microsoft Entra ID app registration (Azure OpenAI), plus the token minted from it. */
export interface EntraClientCredential {
  kind: "entra_client";
  tenant_id: string;
  client_id: string;
  client_secret: string;
  access_token?: string;
  /** Milliseconds since the epoch; absent until the first token is minted. */
  expiry_date?: number;
}

export type Credential =
  | OAuthCredential
  | ServiceAccountCredential
  | ApiKeyCredential
  | AwsAccessKeyCredential
  | EntraClientCredential;

/** Credentials that sign requests themselves and have no token to refresh. */
export function isStaticCredential(c: Credential): boolean {
  return c.kind === "api_key" || c.kind === "aws_access_key";
}

/** `unsupported`: the provider refuses the account itself for good (see AccountUnsupportedError). */
export type AccountStatus = "active" | "refresh_failed" | "unsupported";

/** One stored account. */
export interface Account {
  id: string;
  provider: string;
  label?: string;
  enabled: boolean;
  status: AccountStatus;
  credential: Credential;
  /** Google Cloud project: user-supplied, discovered (gemini-cli) or from the key (vertex). */
  project_id?: string;
  /** True when the user supplied project_id (it then wins over discovery). */
  project_from_user?: boolean;
  last_error?: string;
  /** Milliseconds since the epoch. */
  created_at: number;
  updated_at: number;
  last_refresh_at?: number;
}

/** What a successful refresh changes. */
export interface RefreshResult {
  access_token: string;
  /** Milliseconds since the epoch. */
  expiry_date: number;
  /** Providers that rotate refresh tokens (Qwen) return the new one; it must be stored. */
  refresh_token?: string;
  id_token?: string;
  resource_url?: string;
}

/** A refresh the provider refused for good (revoked or invalid grant): the account is marked. */
export class RefreshRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RefreshRejectedError";
  }
}

/**
 * The provider refuses this account for good, for a reason a refresh cannot fix (Gemini CLI:
 * individual and Google One accounts since 2026-06-18). The account is marked `unsupported`
 * with the reason and no longer tried; it stays listed so the operator sees why.
 */
export class AccountUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AccountUnsupportedError";
  }
}

/** Options passed to drivers: the provider config (URLs are overridable) and cancellation. */
export interface DriverContext {
  provider: ProviderConfig;
  signal: AbortSignal;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

/**
 * Per provider type: how to read a credential file and how to get a fresh access token.
 * Network failures throw ordinary errors (retried later); a refused grant throws
 * RefreshRejectedError (the account is marked `refresh_failed`).
 */
export interface CredentialDriver {
  readonly type: string;
  /** The type can also be configured with `api_keys` (which then take the place of accounts). */
  readonly takesApiKeys?: boolean;
  /** Validates the uploaded file (the CLI's own JSON); throws RequestError with a clear message. */
  parseCredential(body: unknown): Credential;
  /**
   * Never called for static credentials (AWS keys, see isStaticCredential): they have nothing
   * to refresh, and an upstream 401 marks such an account failed at once.
   */
  refresh(credential: Credential, ctx: DriverContext): Promise<RefreshResult>;
  /**
   * One-time setup with a valid token (gemini-cli: project discovery and onboarding).
   * Returns the project id to store, if any.
   */
  prepare?(
    account: Account,
    accessToken: string,
    ctx: DriverContext,
  ): Promise<{ project_id?: string }>;
}

/** The account chosen for one attempt, as adapters see it. */
export interface AccountLease {
  id: string;
  accessToken: string;
  projectId?: string;
  /** Qwen: API host from the credential. */
  resourceUrl?: string;
  /**
   * Marks the account `unsupported` with the reason (an adapter that sees the provider refuse
   * the account itself, mid-request). Set by the account manager.
   */
  reportUnsupported?: (reason: string) => Promise<void>;
  /** Bedrock: the keys requests are signed with (no bearer token). */
  aws?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}
