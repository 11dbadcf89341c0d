import { KeyRotator } from "./accounts/key_rotation.ts";
import { createApp } from "./app.ts";
import type { Config } from "./config/schema.ts";
import { ConfigStore } from "./config/store.ts";
import type { Logger } from "./observe/logger.ts";

/** A gateway listening on a port. */
export interface RunningGateway {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  store: ConfigStore;
  shutdown(): Promise<void>;
}

/** Starts the gateway's HTTP server; used by main.ts and by the end-to-end tests. */
export function startGateway(
  options: { config: Config; logger: Logger; hostname: string; port: number; kv: Deno.Kv },
): Promise<RunningGateway> {
  const store = new ConfigStore(options.config, options.logger);
  const app = createApp({ store, logger: options.logger, keys: new KeyRotator() });
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        resolve({
          url: `http://${host}:${port}`,
          store,
          shutdown: () => server.shutdown(),
        });
      },
    }, app.fetch);
  });
}
