import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { type Config, configSchema, crossCheckConfig } from "./schema.ts";

/** A config that cannot be used; `problems` has one line per problem, naming the field path. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** `["providers", 2, "base_url"]` → `providers[2].base_url`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(root)" : out;
}

/** One line per zod issue: `path: message`. */
export function formatIssues(error: z.ZodError, prefix = ""): string[] {
  return error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((k) => `${prefix}${formatPath([...issue.path, k])}: unknown key`)
      : [`${prefix}${formatPath(issue.path)}: ${issue.message}`]
  );
}

/** Parses config text as YAML for `.yaml`/`.yml` paths, JSON otherwise. */
export function parseConfigText(text: string, path: string): unknown {
  const yaml = /\.ya?ml$/i.test(path);
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new ConfigError([`${path}: not valid ${yaml ? "YAML" : "JSON"}: ${why}`]);
  }
}

/** Validates a parsed config object; throws ConfigError listing every problem. */
export function validateConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw ?? {});
  const problems = [
    ...(result.success ? [] : formatIssues(result.error)),
    ...crossCheckConfig(raw),
  ];
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

/** The environment variables that override config fields, and the field each one sets. */
export const ENV_OVERRIDES: Readonly<Record<string, string>> = {
  PORT: "port",
  PROXY_API_KEYS: "auth.api_keys",
  ADMIN_TOKEN: "auth.admin_token",
  MAX_RETRIES: "fallback.max_retries",
  COOLDOWN_SECONDS: "fallback.cooldown_seconds",
};

const envSchema = z.object({
  PORT: z.coerce.number({ error: "expected a port number" }).int().min(0).max(65535).optional(),
  PROXY_API_KEYS: z.string().optional(),
  ADMIN_TOKEN: z.string().min(1).optional(),
  MAX_RETRIES: z.coerce.number({ error: "expected a number" }).int().min(0).max(20).optional(),
  COOLDOWN_SECONDS: z.coerce.number({ error: "expected a number" }).min(0).optional(),
});

/** Applies the contract's environment overrides (env wins over the file). */
export function applyEnvOverrides(config: Config, env: Record<string, string | undefined>): Config {
  const picked = Object.fromEntries(
    Object.entries(envSchema.shape).map(([k]) => [k, emptyToUndefined(env[k])]),
  );
  const result = envSchema.safeParse(picked);
  if (!result.success) throw new ConfigError(formatIssues(result.error, "env "));
  const e = result.data;
  const out: Config = structuredClone(config);
  if (e.PORT !== undefined) out.port = e.PORT;
  if (e.PROXY_API_KEYS !== undefined) {
    out.auth.api_keys = e.PROXY_API_KEYS.split(",").map((k) => k.trim()).filter((k) => k !== "");
  }
  if (e.ADMIN_TOKEN !== undefined) out.auth.admin_token = e.ADMIN_TOKEN;
  if (e.MAX_RETRIES !== undefined) out.fallback.max_retries = e.MAX_RETRIES;
  if (e.COOLDOWN_SECONDS !== undefined) out.fallback.cooldown_seconds = e.COOLDOWN_SECONDS;
  return out;
}

function emptyToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v;
}

/** Where the config came from, for the start-up log line. */
export type ConfigSource = { kind: "file"; path: string } | { kind: "empty"; path: string };

/**
 * Reads, parses and validates the config file, then applies env overrides.
 * A missing file is an error only when the path was given explicitly; the default path
 * falls back to an empty, working config.
 */
export async function loadConfig(
  options: { path: string; explicit: boolean; env: Record<string, string | undefined> },
): Promise<{ config: Config; source: ConfigSource; raw: unknown }> {
  const { raw, source } = await readConfigFile(options);
  const config = applyEnvOverrides(validateConfig(raw), options.env);
  return { config, source, raw };
}

/** Reads and parses the config file without validating it; a missing default path is `{}`. */
export async function readConfigFile(
  options: { path: string; explicit: boolean },
): Promise<{ raw: unknown; source: ConfigSource }> {
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(options.path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound) || options.explicit) {
      const why = err instanceof Deno.errors.NotFound ? "file not found" : "cannot be read";
      throw new ConfigError([`${options.path}: ${why}`]);
    }
  }
  if (text === undefined) return { raw: {}, source: { kind: "empty", path: options.path } };
  return { raw: parseConfigText(text, options.path), source: { kind: "file", path: options.path } };
}
