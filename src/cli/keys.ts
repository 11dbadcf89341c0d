/**
 * `deno task keys <command>`: manages client keys through the gateway's admin API
 * (`/admin/keys`). The admin token comes from `--token` or `ADMIN_TOKEN`, the gateway's URL
 * from `--url` or `LLM_PROXY_URL` (default http://127.0.0.1:8000).
 *
 *   create --label L [--models a,b*] [--rpm N] [--tpm N] [--streams N]
 *          [--budget-period day|week|month] [--budget-tokens N] [--budget-cost X] [--expires ISO]
 *   list | show ID | usage ID | rotate ID [--grace SECONDS] | disable ID | enable ID | revoke ID
 */

import { splitFlags } from "./flags.ts";

export interface KeysCall {
  method: string;
  /** Path under the gateway's URL. */
  path: string;
  body?: Record<string, unknown>;
  url: string;
  token: string;
}

const USAGE = "usage: deno task keys create --label L [--models a,b] [--rpm N] [--tpm N] " +
  "[--streams N] [--budget-period day|week|month] [--budget-tokens N] [--budget-cost X] " +
  "[--expires ISO] | list | show ID | usage ID | rotate ID [--grace S] | disable ID | " +
  "enable ID | revoke ID   [--url URL] [--token ADMIN_TOKEN]";

/** Parses the command line into one admin API call; returns the problem as a string. */
export function parseKeysArgs(
  args: string[],
  env: Record<string, string | undefined>,
): KeysCall | string {
  const split = splitFlags(args);
  if (typeof split === "string") return split;
  const { flags, positional } = split;
  const [command, id] = positional;
  const token = flags.get("token") ?? env.ADMIN_TOKEN;
  if (!command) return USAGE;
  if (!token) return "set ADMIN_TOKEN (or pass --token) to the gateway's admin token";
  const url = (flags.get("url") ?? env.LLM_PROXY_URL ?? "http://127.0.0.1:8000").replace(
    /\/+$/,
    "",
  );
  const base = { url, token };
  const one = (method: string, suffix = "", body?: Record<string, unknown>): KeysCall | string =>
    id ? { ...base, method, path: `/admin/keys/${encodeURIComponent(id)}${suffix}`, body } : USAGE;
  const num = (name: string): number | undefined =>
    flags.has(name) ? Number(flags.get(name)) : undefined;
  switch (command) {
    case "create": {
      const label = flags.get("label");
      if (!label) return "create needs --label";
      const body: Record<string, unknown> = { label };
      if (flags.has("models")) body.models = flags.get("models")!.split(",").map((m) => m.trim());
      if (flags.has("rpm")) body.rpm = num("rpm");
      if (flags.has("tpm")) body.tpm = num("tpm");
      if (flags.has("streams")) body.max_concurrent_streams = num("streams");
      if (flags.has("expires")) body.expires_at = flags.get("expires");
      if (flags.has("budget-tokens") || flags.has("budget-cost")) {
        body.budget = {
          period: flags.get("budget-period") ?? "month",
          tokens: num("budget-tokens"),
          cost: num("budget-cost"),
        };
      }
      return { ...base, method: "POST", path: "/admin/keys", body };
    }
    case "list":
      return { ...base, method: "GET", path: "/admin/keys" };
    case "show":
      return one("GET");
    case "usage":
      return one("GET", "/usage");
    case "rotate":
      return one("POST", "/rotate", { grace_seconds: num("grace") ?? 0 });
    case "disable":
      return one("PATCH", "", { enabled: false });
    case "enable":
      return one("PATCH", "", { enabled: true });
    case "revoke":
      return one("DELETE");
    default:
      return USAGE;
  }
}

/** Makes the call; returns the gateway's answer (pretty JSON) and whether it succeeded. */
export async function runKeysCall(call: KeysCall): Promise<{ ok: boolean; text: string }> {
  const res = await fetch(`${call.url}${call.path}`, {
    method: call.method,
    headers: { authorization: `Bearer ${call.token}`, "content-type": "application/json" },
    body: call.body === undefined ? undefined : JSON.stringify(call.body),
  });
  const text = await res.text();
  try {
    return { ok: res.ok, text: JSON.stringify(JSON.parse(text), null, 2) };
  } catch {
    return { ok: res.ok, text };
  }
}

if (import.meta.main) {
  const parsed = parseKeysArgs(Deno.args, Deno.env.toObject());
  if (typeof parsed === "string") {
    console.error(parsed);
    Deno.exit(2);
  }
  try {
    const { ok, text } = await runKeysCall(parsed);
    (ok ? console.log : console.error)(text);
    Deno.exit(ok ? 0 : 1);
  } catch (err) {
    console.error(`cannot reach ${parsed.url}: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
