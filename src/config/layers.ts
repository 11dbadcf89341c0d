import type { Logger } from "../observe/logger.ts";
import { maskSecret } from "../observe/mask.ts";
import { type KvConfigEntry, type KvConfigStore, SealedConfigError } from "./kv_config.ts";
import { applyEnvOverrides, ConfigError, ENV_OVERRIDES, validateConfig } from "./load.ts";
import { type Config, configSchema } from "./schema.ts";

/** What takes each newly effective config (the server's runtime state, `src/runtime_state.ts`). */
export interface ConfigSink {
  replace(config: Config): void;
}

/** Where a part of the effective config came from. */
export type ConfigOrigin = "env" | "kv" | "file" | "default";

/**
 * The three config layers and their precedence: env > KV > file. A top-level section
 * (`providers`, `models`, `auth`, ...) stored in KV replaces the file's section whole, so
 * what an operator sees in `GET /admin/config` is what runs; env then overrides single fields.
 */
export class ConfigLayers {
  #file: Record<string, unknown>;
  #kv: KvConfigEntry | null = null;
  readonly #env: Record<string, string | undefined>;
  readonly #check?: (config: Config) => string | undefined;
  #store?: ConfigSink;
  #logger?: Logger;

  constructor(
    options: {
      fileRaw: unknown;
      env: Record<string, string | undefined>;
      /** Extra checks every effective config must pass (the exposure guard); returns the problem. */
      check?: (config: Config) => string | undefined;
    },
  ) {
    this.#file = asRecord(options.fileRaw);
    this.#env = options.env;
    this.#check = options.check;
  }

  /** The stored KV version in effect, or 0. */
  get kvVersion(): number {
    return this.#kv?.version ?? 0;
  }

  /** The config the layers give now. */
  effective(): Config {
    return this.compose(this.#file, this.#kv?.config ?? {});
  }

  /** Validates file + KV + env together; throws ConfigError naming every problem. */
  compose(fileRaw: Record<string, unknown>, kvRaw: Record<string, unknown>): Config {
    const config = applyEnvOverrides(validateConfig({ ...fileRaw, ...kvRaw }), this.#env);
    const problem = this.#check?.(config);
    if (problem) throw new ConfigError([problem]);
    return config;
  }

  /** With the file layer as it is, what a KV config would give (for validating a PUT). */
  withKv(kvRaw: Record<string, unknown>): Config {
    return this.compose(this.#file, kvRaw);
  }

  /**
   * Reads the KV layer at start-up. A stored config that no longer fits (e.g. the file
   * changed under it) is logged and left out rather than stopping the gateway.
   */
  async loadKv(store: KvConfigStore, logger: Logger): Promise<Config> {
    try {
      const entry = await store.current();
      if (entry) {
        this.compose(this.#file, entry.config);
        this.#kv = entry;
        logger.info(`config version ${entry.version} loaded from KV`);
      }
    } catch (err) {
      const problems = err instanceof ConfigError
        ? err.problems
        : [err instanceof SealedConfigError ? err.message : "KV unavailable"];
      logger.warn("config stored in KV not used; running on file and env", {
        problems: problems.join("; "),
      });
    }
    return this.effective();
  }

  /** From now on, layer changes are installed into this store. */
  bind(store: ConfigSink, logger: Logger): void {
    this.#store = store;
    this.#logger = logger;
  }

  /** A new file layer (hot reload); throws ConfigError and keeps the old one when invalid. */
  setFile(raw: unknown): void {
    const file = asRecord(raw);
    const config = this.compose(file, this.#kv?.config ?? {});
    this.#file = file;
    this.#store?.replace(config);
  }

  /** A new KV layer (a PUT here, or another instance's change); null clears it. */
  setKv(entry: KvConfigEntry | null): void {
    // Versions only grow, so a version already in effect is this instance's own write.
    if ((entry?.version ?? 0) === this.kvVersion) return;
    try {
      const config = this.compose(this.#file, entry?.config ?? {});
      this.#kv = entry;
      this.#store?.replace(config);
      this.#logger?.info(`config version ${entry?.version ?? 0} from KV applied`);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : ["cannot be applied"];
      this.#logger?.warn("config change in KV rejected; keeping the last good config", {
        problems: problems.join("; "),
      });
    }
  }

  /** Which layer each top-level section came from, plus `section.field` lines for env overrides. */
  origins(): Record<string, ConfigOrigin> {
    const kv = this.#kv?.config ?? {};
    const out: Record<string, ConfigOrigin> = {};
    for (const key of Object.keys(configSchema.shape)) {
      out[key] = key in kv ? "kv" : key in this.#file ? "file" : "default";
    }
    for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
      if ((this.#env[name] ?? "").trim() !== "") out[path] = "env";
    }
    return out;
  }
}

const SECRET_KEY = /(^|_)(keys?|token|secret|password|authorization)$/i;

/** A copy of a config with every secret masked: keys, tokens, header values, URL passwords. */
export function maskConfig(value: unknown, key = ""): unknown {
  if (typeof value === "string") {
    if (SECRET_KEY.test(key)) return maskSecret(value);
    return maskUrlPassword(value);
  }
  if (Array.isArray(value)) return value.map((v) => maskConfig(v, key));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // Header values are often credentials whatever the header is called.
      out[k] = key === "headers" && typeof v === "string" ? maskSecret(v) : maskConfig(v, k);
    }
    return out;
  }
  return value;
}

function maskUrlPassword(s: string): string {
  if (!/^https?:\/\/[^/@]*:[^/@]*@/i.test(s)) return s;
  try {
    const u = new URL(s);
    if (u.password) u.password = "****";
    return u.toString();
  } catch {
    return s;
  }
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : {};
}
