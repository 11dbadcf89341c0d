import type { Config } from "./config/schema.ts";
import { type LogLevel, parseLogLevel } from "./observe/logger.ts";

/** Process settings that come from the command line and the environment, not the config. */
export interface Settings {
  configPath: string;
  /** True when the path was given (flag or env): then a missing file is an error. */
  configExplicit: boolean;
  host: string;
  kvPath: string;
  logLevel: LogLevel;
  logJson: boolean;
  allowOpen: boolean;
  /** `KV_ENCRYPTION_KEY`: credentials are sealed at rest when set. */
  encryptionKey: string | undefined;
}

export const DEFAULT_CONFIG_PATH = "./local.json";
export const DEFAULT_KV_PATH = "./data/kv.sqlite3";

/** Reads `--config PATH` / `--config=PATH` and the environment. */
export function readSettings(args: string[], env: Record<string, string | undefined>): Settings {
  let flagPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--config" && i + 1 < args.length) flagPath = args[++i];
    else if (a.startsWith("--config=")) flagPath = a.slice("--config=".length);
  }
  const configPath = flagPath ?? nonEmpty(env.LLM_PROXY_CONFIG);
  return {
    configPath: configPath ?? DEFAULT_CONFIG_PATH,
    configExplicit: configPath !== undefined,
    host: nonEmpty(env.HOST) ?? "127.0.0.1",
    kvPath: nonEmpty(env.KV_PATH) ?? DEFAULT_KV_PATH,
    logLevel: parseLogLevel(env.LOG_LEVEL),
    logJson: (env.LOG_FORMAT ?? "").toLowerCase() === "json",
    allowOpen: env.ALLOW_OPEN === "1" || env.ALLOW_OPEN === "true",
    encryptionKey: nonEmpty(env.KV_ENCRYPTION_KEY),
  };
}

/** Whether a host name only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Refuses an open gateway on a public interface: without client keys anyone who can reach it
 * spends the operator's upstream keys. Returns the problem, or undefined when it is fine.
 */
export function exposureProblem(settings: Settings, config: Config): string | undefined {
  if (config.auth.api_keys.length > 0 || isLoopbackHost(settings.host) || settings.allowOpen) {
    return undefined;
  }
  return `HOST=${settings.host} is not loopback and no client keys are configured ` +
    `(auth.api_keys or PROXY_API_KEYS); set keys, or ALLOW_OPEN=1 to run open on purpose`;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}
