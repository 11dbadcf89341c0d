/**
 * `deno task seed --provider gcli path/to/creds.json [--url https://my-gateway] [--label L]
 * [--project P] [--token ADMIN_TOKEN]`: posts a credential file (as the provider's CLI wrote
 * it) to the gateway's admin API. The admin token comes from `--token` or `ADMIN_TOKEN`.
 * The file is JSON (an OAuth file, a service-account key, an Azure app registration as
 * `az ad sp create-for-rbac` prints it, AWS keys as `aws sts` prints them), or an AWS shared
 * credentials file (`~/.aws/credentials`, the profile chosen with `--profile`, default
 * `default`).
 */

import { splitFlags } from "./flags.ts";

export interface SeedOptions {
  provider: string;
  file: string;
  url: string;
  token: string;
  label?: string;
  project?: string;
  /** The profile to read from an AWS credentials file. */
  profile?: string;
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
    return "usage: deno task seed --provider ID path/to/creds.json [--url URL] [--label L] [--project P] [--profile AWS_PROFILE]";
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
  const profile = flags.get("profile");
  if (profile) options.profile = profile;
  return options;
}

/** Sends the file; returns the gateway's answer text and whether it was accepted. */
export async function seedCredential(options: SeedOptions): Promise<{ ok: boolean; text: string }> {
  let text: string;
  try {
    text = await Deno.readTextFile(options.file);
  } catch {
    return { ok: false, text: `${options.file}: not a readable file` };
  }
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = awsProfile(text, options.profile ?? "default");
  }
  if (!body) {
    return {
      ok: false,
      text: `${options.file}: neither JSON nor an AWS credentials file with profile [${
        options.profile ?? "default"
      }]`,
    };
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

/**
 * The keys of one profile in an AWS shared credentials file (INI: `[profile]` sections with
 * `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`), as the admin API takes them.
 */
export function awsProfile(text: string, profile: string): Record<string, unknown> | undefined {
  const values = new Map<string, string>();
  let section: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    const kv = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    if (kv && section === profile) values.set(kv[1].toLowerCase(), kv[2].trim());
  }
  const id = values.get("aws_access_key_id");
  const secret = values.get("aws_secret_access_key");
  if (!id || !secret) return undefined;
  const token = values.get("aws_session_token");
  return {
    access_key_id: id,
    secret_access_key: secret,
    ...(token ? { session_token: token } : {}),
  };
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
