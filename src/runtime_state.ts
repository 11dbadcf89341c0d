import type { Logger } from "./observe/logger.ts";
import { buildRoutingTable, type RoutingTable } from "./routing/routing_table.ts";
import type { ConfigSink } from "./config/layers.ts";
import type { Config } from "./config/schema.ts";

/** Everything derived from one config; swapped as a whole on reload. */
export interface RuntimeState {
  readonly config: Config;
  readonly routing: RoutingTable;
}

/**
 * Holds the current runtime state, built here where the server is composed (the config
 * module stays data); requests read `current` once and keep it for their lifetime.
 */
export class ConfigStore implements ConfigSink {
  #current: RuntimeState;
  readonly #logger: Logger;

  constructor(config: Config, logger: Logger) {
    this.#logger = logger;
    this.#current = this.#compile(config);
  }

  get current(): RuntimeState {
    return this.#current;
  }

  /** Installs a new, already validated config. */
  replace(config: Config): void {
    this.#current = this.#compile(config);
  }

  #compile(config: Config): RuntimeState {
    const secrets = [
      ...config.auth.api_keys,
      ...(config.auth.admin_token ? [config.auth.admin_token] : []),
      ...config.providers.flatMap((p) => p.api_keys),
    ];
    this.#logger.setSecrets(secrets);
    // Every provider type the schema accepts has an adapter (the registry is typed by the enum).
    return { config, routing: buildRoutingTable(config) };
  }
}
