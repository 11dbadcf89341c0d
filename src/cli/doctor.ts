/**
 * `deno task doctor`: checks a running gateway end to end and prints a table. Exits 1 when a
 * check fails, so it can gate a deploy or run from cron.
 *
 *   deno task doctor --url https://your-app.deno.net --key sk-client-1 --admin-token change-me
 *
 * Flags win over env: LLM_PROXY_URL, PROXY_API_KEY (or the first of PROXY_API_KEYS), ADMIN_TOKEN.
 * `--probe` sends one tiny chat request per provider (costs a few tokens each); without it a
 * provider counts as reachable when its models are listed and an account or key is usable.
 */
import { z } from "zod";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface CheckRow {
  check: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorOptions {
  url: string;
  key?: string;
  adminToken?: string;
  probe: boolean;
  timeoutMs: number;
  fetch?: typeof fetch;
}

const modelListSchema = z.object({
  data: z.array(z.object({ id: z.string(), owned_by: z.string().optional() })),
});
const configViewSchema = z.object({
  config: z.object({
    providers: z.array(z.object({
      id: z.string(),
      type: z.string(),
      enabled: z.boolean().optional(),
      api_keys: z.array(z.string()).optional(),
      models: z.array(z.string()).optional(),
    })).default([]),
  }),
});
const accountsSchema = z.object({
  accounts: z.array(z.object({
    id: z.string(),
    provider: z.string(),
    label: z.string().nullable().optional(),
    enabled: z.boolean(),
    status: z.string(),
    expires_at: z.string().nullable(),
    last_error: z.string().nullable().optional(),
  })),
});

/** Runs every check in order; later checks that need an earlier answer are skipped without it. */
export async function runDoctor(options: DoctorOptions): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  const base = options.url.replace(/\/+$/, "");
  const get = (path: string, headers: Record<string, string> = {}) =>
    request(options, `${base}${path}`, { headers });

  const health = await get("/health");
  rows.push(
    health.status === 200
      ? { check: "health", status: "ok", detail: `${base}/health answers 200` }
      : { check: "health", status: "fail", detail: health.error ?? `HTTP ${health.status}` },
  );
  if (health.status !== 200) return rows;

  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const anonymous = await get("/v1/models");
  let models: z.infer<typeof modelListSchema>["data"] = [];
  if (options.key) {
    const withKey = await get("/v1/models", bearer(options.key));
    const parsed = modelListSchema.safeParse(withKey.json);
    if (withKey.status === 200 && parsed.success) {
      models = parsed.data.data;
      rows.push({
        check: "client auth",
        status: "ok",
        detail: `key accepted; ${models.length} models`,
      });
    } else {
      rows.push({
        check: "client auth",
        status: "fail",
        detail: `key refused: HTTP ${withKey.status}`,
      });
    }
  } else {
    rows.push({ check: "client auth", status: "skip", detail: "no client key given (--key)" });
    const parsed = modelListSchema.safeParse(anonymous.json);
    if (anonymous.status === 200 && parsed.success) models = parsed.data.data;
  }
  rows.push(
    anonymous.status === 401
      ? { check: "open access", status: "ok", detail: "requests without a key get 401" }
      : anonymous.status === 200
      ? {
        check: "open access",
        status: "warn",
        detail: "no client keys: anyone who reaches it can use it",
      }
      : { check: "open access", status: "fail", detail: `unexpected HTTP ${anonymous.status}` },
  );

  let providers: z.infer<typeof configViewSchema>["config"]["providers"] = [];
  let accounts: z.infer<typeof accountsSchema>["accounts"] | undefined;
  if (!options.adminToken) {
    rows.push({
      check: "admin auth",
      status: "skip",
      detail: "no admin token given (--admin-token)",
    });
  } else {
    const refused = await get("/admin/config", bearer("doctor-wrong-token"));
    const cfg = await get("/admin/config", bearer(options.adminToken));
    const parsed = configViewSchema.safeParse(cfg.json);
    if (cfg.status === 200 && parsed.success && refused.status === 401) {
      providers = parsed.data.config.providers.filter((p) => p.enabled !== false);
      rows.push({
        check: "admin auth",
        status: "ok",
        detail: "token accepted, wrong token refused",
      });
    } else if (cfg.status === 200 && parsed.success) {
      providers = parsed.data.config.providers.filter((p) => p.enabled !== false);
      rows.push({
        check: "admin auth",
        status: "fail",
        detail: `a wrong token got HTTP ${refused.status}`,
      });
    } else {
      rows.push({
        check: "admin auth",
        status: "fail",
        detail: `token refused: HTTP ${cfg.status}`,
      });
    }
    const acc = await get("/admin/credentials", bearer(options.adminToken));
    const accParsed = accountsSchema.safeParse(acc.json);
    if (acc.status === 200 && accParsed.success) accounts = accParsed.data.accounts;
  }

  for (const p of providers) {
    rows.push(await providerRow(options, base, p, models, accounts));
  }
  for (const a of accounts ?? []) rows.push(accountRow(a));
  if (options.adminToken && providers.length === 0) {
    rows.push({ check: "providers", status: "warn", detail: "no enabled provider configured" });
  }
  return rows;
}

async function providerRow(
  options: DoctorOptions,
  base: string,
  p: z.infer<typeof configViewSchema>["config"]["providers"][number],
  models: z.infer<typeof modelListSchema>["data"],
  accounts: z.infer<typeof accountsSchema>["accounts"] | undefined,
): Promise<CheckRow> {
  const check = `provider ${p.id}`;
  const listed = models.filter((m) => m.owned_by === p.id).map((m) => m.id);
  const model = listed[0] ?? p.models?.[0];
  const usable = (accounts ?? []).filter((a) =>
    a.provider === p.id && a.enabled && a.status === "active"
  );
  const hasKeys = (p.api_keys ?? []).length > 0 || p.type === "echo";
  if (!hasKeys && accounts !== undefined && usable.length === 0) {
    return { check, status: "fail", detail: `${p.type}: no API key and no active account` };
  }
  if (!model) return { check, status: "warn", detail: `${p.type}: no model routes to it` };
  if (!options.probe) {
    return {
      check,
      status: "ok",
      detail: `${p.type}: ${listed.length} models listed (use --probe to call it)`,
    };
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const started = Date.now();
  const res = await request(options, `${base}/v1/chat/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify({
      model,
      max_tokens: 1,
      messages: [{ role: "user", content: "ping" }],
    }),
  });
  const ms = Date.now() - started;
  if (res.status === 200) return { check, status: "ok", detail: `${model} answered in ${ms} ms` };
  return {
    check,
    status: "fail",
    detail: `${model}: HTTP ${res.status}${res.error ? ` ${res.error}` : ""} ${
      errorMessage(res.json)
    }`.trim(),
  };
}

function accountRow(a: z.infer<typeof accountsSchema>["accounts"][number]): CheckRow {
  const name = `account ${a.provider}/${a.id}${a.label ? ` (${a.label})` : ""}`;
  if (!a.enabled) return { check: name, status: "warn", detail: "disabled" };
  if (a.status !== "active") {
    return {
      check: name,
      status: "fail",
      detail: `${a.status}${a.last_error ? `: ${a.last_error}` : ""}`,
    };
  }
  if (a.expires_at === null) return { check: name, status: "ok", detail: "active, no expiry" };
  const left = Date.parse(a.expires_at) - Date.now();
  // Access tokens are refreshed before use; an expired one is only a problem if refresh fails.
  const when = left > 0
    ? `expires in ${Math.round(left / 60_000)} min`
    : "token expired; refreshed on next use";
  return { check: name, status: "ok", detail: `active, ${when}` };
}

async function request(
  options: DoctorOptions,
  url: string,
  init: RequestInit,
): Promise<{ status: number; json?: unknown; error?: string }> {
  try {
    const res = await (options.fetch ?? fetch)(url, {
      ...init,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  } catch (err) {
    const why = err instanceof DOMException && err.name === "TimeoutError"
      ? `no answer within ${options.timeoutMs} ms`
      : err instanceof Error
      ? err.message.split("\n")[0]
      : "request failed";
    return { status: 0, error: why };
  }
}

function errorMessage(json: unknown): string {
  const parsed = z.object({ error: z.object({ message: z.string() }) }).safeParse(json);
  return parsed.success ? parsed.data.error.message.slice(0, 160) : "";
}

/** A plain-text table: CHECK | STATUS | DETAIL. */
export function formatTable(rows: CheckRow[]): string {
  const w1 = Math.max(5, ...rows.map((r) => r.check.length));
  const line = (a: string, b: string, c: string) => `${a.padEnd(w1)}  ${b.padEnd(6)}  ${c}`;
  return [
    line("CHECK", "STATUS", "DETAIL"),
    ...rows.map((r) => line(r.check, r.status.toUpperCase(), r.detail)),
  ].join("\n");
}

/** Reads flags (`--url X` or `--url=X`) with env fallbacks. */
export function parseDoctorArgs(
  args: string[],
  env: Record<string, string | undefined>,
): DoctorOptions {
  const flags = new Map<string, string>();
  let probe = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--probe") probe = true;
    else if (a.startsWith("--") && a.includes("=")) {
      flags.set(a.slice(2, a.indexOf("=")), a.slice(a.indexOf("=") + 1));
    } else if (a.startsWith("--") && i + 1 < args.length) flags.set(a.slice(2), args[++i]);
    else throw new Error(`unknown argument: ${a}`);
  }
  const firstKey = (env.PROXY_API_KEYS ?? "").split(",").map((k) => k.trim()).find((k) => k);
  const timeout = Number(flags.get("timeout") ?? "15000");
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error("--timeout must be milliseconds");
  return {
    url: flags.get("url") ?? env.LLM_PROXY_URL ?? `http://127.0.0.1:${env.PORT ?? "8000"}`,
    key: flags.get("key") ?? env.PROXY_API_KEY ?? firstKey,
    adminToken: flags.get("admin-token") ?? env.ADMIN_TOKEN,
    probe,
    timeoutMs: timeout,
  };
}

if (import.meta.main) {
  let options: DoctorOptions;
  try {
    options = parseDoctorArgs(Deno.args, Deno.env.toObject());
  } catch (err) {
    console.error(`doctor: ${err instanceof Error ? err.message : err}`);
    console.error("usage: deno task doctor [--url URL] [--key KEY] [--admin-token T] [--probe]");
    Deno.exit(2);
  }
  const rows = await runDoctor(options);
  console.log(formatTable(rows));
  Deno.exit(rows.some((r) => r.status === "fail") ? 1 : 0);
}
