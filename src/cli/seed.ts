/**
 * `deno task seed --provider gcli path/to/creds.json [--url https://my-gateway] [--label L]
 * [--project P] [--token ADMIN_TOKEN]`: posts a credential file (as the provider's CLI wrote
 * it) to the gateway's admin API. The admin token comes from `--token` or `ADMIN_TOKEN`.
 */

import { splitFlags } from "./flags.ts";

export interface SeedOptions {
  provider: string;
  file: string;
  url: string;
  token: string;
  label?: string;
  project?: string;
}

/** Parses the command line; returns the problem as a string when it is incomplete. */
export function parseSeedArgs(
  args: string[],
  env: Record<string, string | undefined>,
): SeedOptions | string {
  const split = splitFlags(args);
  if (typeof split === "string") return split;
  const { flags, positional } = split;
  const provider = flags.get("provider");
  const file = positional[0];
  const token = flags.get("token") ?? env.ADMIN_TOKEN;
  if (!provider || !file) {
    return "usage: deno task seed --provider ID path/to/creds.json [--url URL] [--label L] [--project P]";
  }
  if (!token) return "set ADMIN_TOKEN (or pass --token) to the gateway's admin token";
  const options: SeedOptions = {
    provider,
    file,
    token,
    url: (flags.get("url") ?? env.LLM_PROXY_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, ""),
  };
  const label = flags.get("label");
  if (label) options.label = label;
  const project = flags.get("project");
  if (project) options.project = project;
  return options;
}

/** Sends the file; returns the gateway's answer text and whether it was accepted. */
export async function seedCredential(options: SeedOptions): Promise<{ ok: boolean; text: string }> {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(await Deno.readTextFile(options.file));
  } catch {
    return { ok: false, text: `${options.file}: not a readable JSON file` };
  }
  if (options.label) body.label = options.label;
  if (options.project) body.project_id = options.project;
  const res = await fetch(
    `${options.url}/admin/credentials/${encodeURIComponent(options.provider)}`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    },
  );
  return { ok: res.ok, text: await res.text() };
}

if (import.meta.main) {
  const parsed = parseSeedArgs(Deno.args, Deno.env.toObject());
  if (typeof parsed === "string") {
    console.error(parsed);
    Deno.exit(2);
  }
  try {
    const { ok, text } = await seedCredential(parsed);
    (ok ? console.log : console.error)(text);
    Deno.exit(ok ? 0 : 1);
  } catch (err) {
    console.error(`cannot reach ${parsed.url}: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
