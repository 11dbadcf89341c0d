import { Hono } from "hono";
import { z } from "zod";
import type { AccountManager } from "../accounts/manager.ts";
import { credentialExpiry, type SealedAccountInfo } from "../accounts/store.ts";
import type { Account, Credential } from "../accounts/types.ts";
import { ADMIN_MAX_BODY_BYTES, adminTokenMiddleware } from "./admin_token.ts";
import type { ProviderConfig } from "../config/schema.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { GatewayError, NotFoundError, RequestError } from "../errors.ts";
import { describeIssue } from "../formats/describe_issue.ts";
import { readJsonBody } from "../http/body.ts";
import { maskSecret } from "../observe/mask.ts";
import type { QuotaBook, QuotaSnapshot } from "../observe/quota.ts";
import { type Cooldown, type Cooldowns, credentialIdOfAccount } from "../accounts/cooldowns.ts";

export interface AdminDeps {
  state: () => RuntimeState;
  accounts: AccountManager;
  quota: QuotaBook;
  /** Benches and ejections, shown per account and cleared by `POST …/{id}/reset`. */
  cooldowns: Cooldowns;
  /** Runs the six-hourly refresh job now. */
  runRefreshJob: () => Promise<unknown>;
}

/** Account fields safe to show: secrets masked, never the refresh token or private key. */
export interface AccountView {
  id: string;
  provider: string;
  label: string | null;
  /** "sealed" when the credential cannot be opened (KV_ENCRYPTION_KEY missing or wrong). */
  kind: Credential["kind"] | "sealed";
  secret: string;
  enabled: boolean;
  status: "active" | "disabled" | "refresh failed" | "unsupported" | typeof SEALED_STATUS;
  project_id: string | null;
  expires_at: string | null;
  last_error: string | null;
  last_refresh_at: string | null;
  requests: number;
  errors: number;
  /** The upstream's latest rate-limit headers for this credential, if it sent any. */
  quota: QuotaSnapshot | null;
  /** Out of rotation until then (ISO), for `bench_reason`: `rate_limit`, `auth`, `server`. */
  benched_until: string | null;
  bench_reason: string | null;
  bench_detail: string | null;
}

const patchSchema = z.strictObject({
  label: z.string().max(200).optional(),
  enabled: z.boolean().optional(),
  project_id: z.string().min(1).nullable().optional(),
});

/** The admin API of the contract: `Authorization: Bearer ADMIN_TOKEN`; 403 when no token is set. */
export function adminRoutes(deps: AdminDeps): Hono {
  const app = new Hono();

  app.use("*", adminTokenMiddleware(deps.state));

  app.get("/credentials", async (c) => {
    const out: AccountView[] = [];
    const quota = await deps.quota.all();
    for (const p of deps.state().config.providers) {
      const benched = await deps.cooldowns.active(p.id);
      for (const a of await deps.accounts.accountsOf(p.id)) {
        out.push(
          view(
            a,
            deps,
            quota[p.id]?.[credentialIdOfAccount(a)],
            benched.get(credentialIdOfAccount(a)),
          ),
        );
      }
      // Sealed with another key: listed with a status saying so, rather than vanishing.
      for (const a of deps.accounts.sealedAccountsOf(p.id)) out.push(sealedView(a, deps));
    }
    return c.json({ accounts: out });
  });

  // Ends a credential's bench or ejection now. `id` is an account id or, for a key from the
  // config file, its key id (`key-…`, as the dashboard and the request log show it).
  app.post("/credentials/:providerId/:id/reset", async (c) => {
    const provider = providerOf(deps, c.req.param("providerId"));
    const id = c.req.param("id");
    const account = (await deps.accounts.accountsOf(provider.id)).find((a) => a.id === id);
    const credentialId = account ? credentialIdOfAccount(account) : id;
    const cleared = await deps.cooldowns.clear(provider.id, credentialId);
    return c.json({ provider: provider.id, id, credential: credentialId, cleared });
  });

  app.post("/credentials/:providerId", async (c) => {
    const provider = providerOf(deps, c.req.param("providerId"));
    const { json } = await readJsonBody(c.req.raw, ADMIN_MAX_BODY_BYTES);
    const body = json as Record<string, unknown>;
    const label = optionalString(body, "label");
    const projectId = optionalString(body, "project_id");
    const credential = parseCredential(deps, provider, body);
    const now = Date.now();
    const account: Account = {
      id: crypto.randomUUID().slice(0, 8),
      provider: provider.id,
      enabled: true,
      status: "active",
      credential,
      created_at: now,
      updated_at: now,
    };
    if (label) account.label = label;
    // A service-account key names its own project; only other credentials take an override.
    if (projectId && credential.kind !== "service_account") {
      account.project_id = projectId;
      account.project_from_user = true;
    }
    if (!await deps.accounts.store.create(account)) {
      throw new GatewayError(409, "invalid_request", "Account id collision; try again.");
    }
    deps.accounts.invalidate(provider.id);
    const expiry = credentialExpiry(credential);
    return c.json({
      id: account.id,
      provider: provider.id,
      label: account.label ?? null,
      expires_at: expiry ? new Date(expiry).toISOString() : null,
    }, 201);
  });

  app.patch("/credentials/:providerId/:id", async (c) => {
    const provider = providerOf(deps, c.req.param("providerId"));
    const { json } = await readJsonBody(c.req.raw, 64 * 1024);
    const parsed = patchSchema.safeParse(json);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    const patch = parsed.data;
    const saved = await deps.accounts.store.update(provider.id, c.req.param("id"), (a) => {
      const next: Account = { ...a };
      if (patch.label !== undefined) next.label = patch.label;
      if (patch.enabled !== undefined) next.enabled = patch.enabled;
      if (patch.project_id === null) {
        delete next.project_id;
        delete next.project_from_user;
      } else if (patch.project_id !== undefined) {
        next.project_id = patch.project_id;
        next.project_from_user = true;
      }
      return next;
    });
    if (!saved) throw new NotFoundError("No such account.", "account_not_found");
    deps.accounts.invalidate(provider.id);
    return c.json(view(saved, deps, undefined, undefined));
  });

  app.delete("/credentials/:providerId/:id", async (c) => {
    const provider = providerOf(deps, c.req.param("providerId"));
    if (!await deps.accounts.store.delete(provider.id, c.req.param("id"))) {
      throw new NotFoundError("No such account.", "account_not_found");
    }
    deps.accounts.invalidate(provider.id);
    return c.json({ deleted: true });
  });

  app.post("/credentials/:providerId/:id/refresh", async (c) => {
    const provider = providerOf(deps, c.req.param("providerId"));
    if (!deps.accounts.usesAccounts(provider)) {
      throw new RequestError(`Provider '${provider.id}' has no refreshable accounts.`);
    }
    const id = c.req.param("id");
    if (!await deps.accounts.store.get(provider.id, id)) {
      throw new NotFoundError("No such account.", "account_not_found");
    }
    try {
      const fresh = await deps.accounts.refresh(provider, id, { force: true });
      return c.json({ refreshed: true, account: view(fresh, deps, undefined, undefined) });
    } catch (err) {
      const current = await deps.accounts.store.get(provider.id, id);
      return c.json({
        refreshed: false,
        error: err instanceof Error ? err.message : "refresh failed",
        account: current ? view(current.account, deps, undefined, undefined) : null,
      }, 502);
    }
  });

  app.post("/refresh", async (c) => c.json({ results: await deps.runRefreshJob() }));

  // Remaining quota per credential as upstreams last reported it (config keys by key id).
  app.get("/quota", async (c) => c.json({ quota: await deps.quota.all() }));

  return app;
}

function providerOf(deps: AdminDeps, id: string): ProviderConfig {
  const p = deps.state().config.providers.find((x) => x.id === id);
  if (!p) throw new NotFoundError(`No provider '${id}' in the config.`, "provider_not_found");
  return p;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v.trim() === "") {
    throw new RequestError(`'${key}' must be a non-empty string.`);
  }
  return v.trim();
}

/** The provider's own credential file, or `{ "api_key": "..." }` for key-based providers. */
function parseCredential(
  deps: AdminDeps,
  provider: ProviderConfig,
  body: Record<string, unknown>,
): Credential {
  const driver = deps.accounts.driverFor(provider.type);
  if (driver) {
    const { label: _l, ...file } = body;
    return driver.parseCredential(file);
  }
  if (provider.type === "echo") {
    throw new RequestError(`Provider '${provider.id}' is a demo and takes no credentials.`);
  }
  const key = body.api_key;
  if (typeof key !== "string" || key.trim() === "") {
    throw new RequestError(
      `Provider '${provider.id}' (type ${provider.type}) takes { "api_key": "..." }.`,
    );
  }
  return { kind: "api_key", api_key: key.trim() };
}

/** The status of an account whose sealed credential this instance cannot open. */
export const SEALED_STATUS = "sealed; KV_ENCRYPTION_KEY missing or wrong";

function sealedView(a: SealedAccountInfo, deps: AdminDeps): AccountView {
  const counters = deps.accounts.counters(a.provider, a.id);
  return {
    id: a.id,
    provider: a.provider,
    label: a.label ?? null,
    kind: "sealed",
    secret: "****",
    enabled: a.enabled,
    status: SEALED_STATUS,
    project_id: a.project_id ?? null,
    expires_at: null,
    last_error: a.last_error ?? null,
    last_refresh_at: a.last_refresh_at ? new Date(a.last_refresh_at).toISOString() : null,
    requests: counters.requests,
    errors: counters.errors,
    quota: null,
    benched_until: null,
    bench_reason: null,
    bench_detail: null,
  };
}

function view(
  a: Account,
  deps: AdminDeps,
  quota: QuotaSnapshot | undefined,
  bench: Cooldown | undefined,
): AccountView {
  const c = a.credential;
  const secret = c.kind === "api_key"
    ? c.api_key
    : c.kind === "oauth"
    ? c.refresh_token
    : c.kind === "aws_access_key"
    ? c.access_key_id
    : c.kind === "entra_client"
    ? c.client_secret
    : c.private_key_id;
  const expiry = credentialExpiry(c);
  const counters = deps.accounts.counters(a.provider, a.id);
  return {
    id: a.id,
    provider: a.provider,
    label: a.label ?? (c.kind === "service_account" ? c.client_email : null),
    kind: c.kind,
    secret: maskSecret(secret),
    enabled: a.enabled,
    status: !a.enabled
      ? "disabled"
      : a.status === "refresh_failed"
      ? "refresh failed"
      : a.status === "unsupported"
      ? "unsupported"
      : "active",
    project_id: a.project_id ?? (c.kind === "service_account" ? c.project_id : null),
    expires_at: expiry ? new Date(expiry).toISOString() : null,
    last_error: a.last_error ?? null,
    last_refresh_at: a.last_refresh_at ? new Date(a.last_refresh_at).toISOString() : null,
    requests: counters.requests,
    errors: counters.errors,
    quota: quota ?? null,
    benched_until: bench ? new Date(bench.until).toISOString() : null,
    bench_reason: bench?.reason ?? null,
    bench_detail: bench?.detail ?? null,
  };
}
