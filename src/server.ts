import { Cooldowns } from "./accounts/cooldowns.ts";
import { SessionAffinity } from "./routing/session_affinity.ts";
import { QuotaBook } from "./observe/quota.ts";
import { driverFor } from "./upstreams/registry.ts";
import { CredentialPool } from "./routing/credential_pool.ts";
import { CredentialHealth } from "./routing/credential_health.ts";
import { ModelDiscovery } from "./routing/model_discovery.ts";
import { AccountManager } from "./accounts/manager.ts";
import { runRefreshJob } from "./accounts/refresh_job.ts";
import { SecretBox } from "./accounts/secret_box.ts";
import { AccountStore } from "./accounts/store.ts";
import { createApp } from "./app.ts";
import type { Config } from "./config/schema.ts";
import { ConfigStore } from "./runtime_state.ts";
import { ConfigLayers } from "./config/layers.ts";
import { KvConfigStore, SealedConfigError } from "./config/kv_config.ts";
import { resealAtStart } from "./kv_reseal.ts";
import { ResponseStore } from "./responses_state/store.ts";
import type { Logger } from "./observe/logger.ts";
import { Observer } from "./observe/observer.ts";
import { withRequestId } from "./observe/request_context.ts";
import { ClientKeys } from "./client_keys/service.ts";
import { KeyStore } from "./client_keys/store.ts";

/** A gateway listening on a port. */
export interface RunningGateway {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  store: ConfigStore;
  accounts: AccountManager;
  /** File, KV and env config layers (`src/config/layers.ts`). */
  layers: ConfigLayers;
  /** Stats and the request log; flushed to KV on a timer and at shutdown. */
  observer: Observer;
  /** The six-hourly account refresh job (what the cron runs). */
  refreshJob(): Promise<unknown>;
  /** The request handler the server runs (for in-process benchmarks and tests). */
  handler(req: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  shutdown(): Promise<void>;
}

/** Starts the gateway's HTTP server; used by main.ts and by the end-to-end tests. */
export async function startGateway(
  options: {
    config: Config;
    logger: Logger;
    hostname: string;
    port: number;
    kv: Deno.Kv;
    /** `KV_ENCRYPTION_KEY`: seals credentials at rest when set. */
    encryptionKey?: string;
    /** Injected into credential drivers (tests). */
    fetch?: typeof fetch;
    /** main.ts passes the file layer and env; without it, `config` is the file layer. */
    layers?: ConfigLayers;
    /** How often other instances' KV config changes are polled for (default 5 s). */
    configPollMs?: number;
  },
): Promise<RunningGateway> {
  const layers = options.layers ?? new ConfigLayers({ fileRaw: options.config, env: {} });
  const box = options.encryptionKey ? new SecretBox(options.encryptionKey) : undefined;
  if (box) await resealAtStart(options.kv, box, options.logger);
  else {
    options.logger.warn(
      "KV_ENCRYPTION_KEY is not set: account credentials, stored API keys and configs saved " +
        "with PUT /admin/config are kept in KV in clear",
    );
  }
  const kvConfig = new KvConfigStore(options.kv, { box });
  const store = new ConfigStore(await layers.loadKv(kvConfig, options.logger), options.logger);
  layers.bind(store, options.logger);
  const following = kvConfig.follow(layers.kvVersion, (entry) => layers.setKv(entry), {
    pollMs: options.configPollMs,
    onError: (err) =>
      options.logger.warn(
        err instanceof SealedConfigError
          ? `config change in KV not applied: ${err.message}`
          : "KV unavailable for config changes; will retry",
      ),
  });
  const accounts = new AccountManager({
    store: new AccountStore(options.kv, { box }),
    driverFor,
    logger: options.logger,
    fetch: options.fetch,
  });
  const refreshJob = () => runRefreshJob({ accounts, store, logger: options.logger });
  const observer = new Observer(
    options.kv,
    () => store.current.config.observability,
    options.logger,
  );
  const cooldowns = new Cooldowns(
    options.kv,
    Date.now,
    (err) =>
      options.logger.warn("KV unavailable for cooldowns; kept in memory", {
        error: err instanceof Error ? err.message : "error",
      }),
  );
  const quota = new QuotaBook(options.kv);
  const affinity = new SessionAffinity(options.kv);
  const clientKeys = new ClientKeys({
    store: new KeyStore(options.kv, { onError: kvWarning(options.logger, "client keys") }),
    kv: options.kv,
    pricing: () => store.current.config.pricing,
    onError: kvWarning(options.logger, "client key counters"),
  });
  await clientKeys.start(store.current.config.client_keys.sync_ms);
  observer.onFinish = (rec, status) => clientKeys.attribute(rec, status);
  const pool = new CredentialPool({ accounts, cooldowns, quota, affinity });
  const discovery = new ModelDiscovery({
    kv: options.kv,
    state: () => store.current,
    pool,
    logger: options.logger,
  });
  await discovery.start();
  const app = createApp({
    store,
    logger: options.logger,
    accounts,
    cooldowns,
    pool,
    health: new CredentialHealth(cooldowns),
    quota,
    refreshJob,
    configAdmin: { state: () => store.current, layers, kvConfig },
    observer,
    clientKeys,
    discovered: (id) => discovery.models(id),
    responses: new ResponseStore(options.kv),
  });
  const handler = withRequestId<Deno.ServeHandlerInfo>(app.fetch);
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        resolve({
          url: `http://${host}:${port}`,
          store,
          accounts,
          layers,
          observer,
          refreshJob,
          handler,
          shutdown: async () => {
            await following.close();
            await discovery.close();
            await server.shutdown();
            await observer.close();
            await clientKeys.close();
            await quota.close();
          },
        });
      },
    }, handler);
  });
}

function kvWarning(logger: Logger, what: string): (err: unknown) => void {
  return (err) =>
    logger.warn(`KV unavailable for ${what}; kept in memory`, {
      error: err instanceof Error ? err.message : "error",
    });
}
