import { type Context, Hono } from "hono";
import type { AccountManager } from "../accounts/manager.ts";
import { type Cooldowns, credentialIdOfAccount } from "../accounts/cooldowns.ts";
import { z } from "zod";
import { adminTokenMiddleware, requireAdminToken } from "./admin_token.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { RequestError } from "../errors.ts";
import { renderMetrics } from "../observe/metrics.ts";
import type { Observer } from "../observe/observer.ts";
import { countsOf, dimension, quantiles, type StatsData } from "../observe/stats.ts";

export interface StatsRouteDeps {
  state: () => RuntimeState;
  observer: Observer;
  accounts: AccountManager;
  cooldowns: Cooldowns;
}

/** A credential that is cooling down: the account id (or a config key's hash id), until when. */
interface CooldownView {
  provider: string;
  account: string;
  until: string;
  /** `rate_limit`, `auth`, or `server` (ejected after consecutive server-side failures). */
  reason: string;
  detail: string | null;
}

const limitSchema = z.coerce.number().int().min(1).max(10_000);

/** `GET /admin/stats` and `GET /admin/logs?limit=N`, behind the admin token. */
export function statsRoutes(deps: StatsRouteDeps): Hono {
  const app = new Hono();
  app.use("/stats", adminTokenMiddleware(deps.state));
  app.use("/logs", adminTokenMiddleware(deps.state));

  app.get("/stats", async (c) => {
    const data = await deps.observer.stats.read();
    return c.json({
      ...statsView(data, deps.observer.startedAt),
      cooldowns: await cooldownViews(deps),
    });
  });

  app.get("/logs", async (c) => {
    const raw = c.req.query("limit");
    let limit = 50;
    if (raw !== undefined) {
      const parsed = limitSchema.safeParse(raw);
      if (!parsed.success) {
        throw new RequestError("limit: expected a whole number from 1 to 10000.");
      }
      limit = parsed.data;
    }
    return c.json({ entries: await deps.observer.log.recent(limit) });
  });

  return app;
}

/** `GET /metrics`: open unless `observability.metrics_auth` asks for the admin token. */
export async function metricsResponse(c: Context, deps: StatsRouteDeps): Promise<Response> {
  if (deps.state().config.observability.metrics_auth) {
    requireAdminToken(c.req.header("authorization"), deps.state().config.auth.admin_token);
  }
  const data = await deps.observer.stats.read();
  return new Response(renderMetrics(data, (Date.now() - deps.observer.startedAt) / 1000), {
    headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
  });
}

async function cooldownViews(deps: StatsRouteDeps): Promise<CooldownView[]> {
  const out: CooldownView[] = [];
  const now = Date.now();
  for (const p of deps.state().config.providers) {
    const active = new Map(await deps.cooldowns.active(p.id));
    if (active.size === 0) continue;
    // Stored accounts are shown by account id; their cooldowns are kept by credential id.
    for (const a of await deps.accounts.accountsOf(p.id)) {
      const id = credentialIdOfAccount(a);
      const c = active.get(id);
      if (!c || c.until <= now) continue;
      active.delete(id);
      out.push({
        provider: p.id,
        account: a.id,
        until: iso(c.until),
        reason: c.reason,
        detail: c.detail ?? null,
      });
    }
    for (const [id, c] of active) {
      if (c.until > now) {
        out.push({
          provider: p.id,
          account: id,
          until: iso(c.until),
          reason: c.reason,
          detail: c.detail ?? null,
        });
      }
    }
  }
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The JSON of `GET /admin/stats`. */
export function statsView(
  data: StatsData,
  startedAt: number,
  now = Date.now(),
): Record<string, unknown> {
  const totals = countsOf(data, "all", "");
  const minute = now - (now % 60_000);
  const timeline = [];
  for (let i = 59; i >= 0; i--) {
    const at = minute - i * 60_000;
    const m = data.minutes.get(at);
    timeline.push({
      minute: new Date(at).toISOString(),
      requests: m?.requests ?? 0,
      errors: m?.errors ?? 0,
    });
  }
  return {
    started_at: new Date(startedAt).toISOString(),
    uptime_seconds: Math.round((now - startedAt) / 1000),
    totals: {
      ...totals,
      success_rate: totals.requests ? totals.success / totals.requests : null,
    },
    latency_ms: quantiles(data, "latency"),
    ttfb_ms: quantiles(data, "ttfb"),
    providers: dimension(data, "provider"),
    accounts: dimension(data, "account"),
    models: dimension(data, "model"),
    timeline,
  };
}
