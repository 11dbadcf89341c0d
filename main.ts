import { REFRESH_CRON_SCHEDULE } from "./src/accounts/refresh_job.ts";
import { ConfigError, loadConfig } from "./src/config/load.ts";
import { watchConfigFile } from "./src/config/watch.ts";
import { ConfigLayers } from "./src/config/layers.ts";
import { onDenoDeploy } from "./src/config/platform.ts";
import { openGatewayKv } from "./src/kv.ts";
import { createLogger } from "./src/observe/logger.ts";
import { startGateway } from "./src/server.ts";
import { exposureProblem, readSettings } from "./src/settings.ts";

// Deno Deploy requires crons at module top level, registered before anything is awaited;
// the handler runs the job once the gateway is up.
const jobs: { refresh?: () => Promise<unknown> } = {};
Deno.cron("refresh-accounts", REFRESH_CRON_SCHEDULE, async () => {
  await jobs.refresh?.();
});

const env = Deno.env.toObject();
const settings = readSettings(Deno.args, env);
// On Deploy the gateway is public whatever HOST says, so the open-gateway guard applies.
const guarded = onDenoDeploy(env) ? { ...settings, host: "deno-deploy" } : settings;
const logger = createLogger({ level: settings.logLevel, json: settings.logJson });

let loaded;
try {
  loaded = await loadConfig({
    path: settings.configPath,
    explicit: settings.configExplicit,
    env,
  });
} catch (err) {
  const problems = err instanceof ConfigError ? err.problems : ["config cannot be loaded"];
  for (const line of problems) console.error(`config error: ${line}`);
  Deno.exit(2);
}
const { config, source } = loaded;
// Env > KV > file; the KV layer is read once the KV is open (in startGateway).
const layers = new ConfigLayers({
  fileRaw: loaded.raw,
  env,
  check: (c) => exposureProblem(guarded, c),
});
const exposure = exposureProblem(guarded, config);
if (exposure) {
  console.error(`refusing to start: ${exposure}`);
  Deno.exit(2);
}
if (source.kind === "empty") {
  logger.info(`no config file at ${source.path}; starting with an empty config`);
}
if (config.auth.api_keys.length === 0) {
  logger.warn("no client keys configured: the gateway is open to anyone who can reach it");
}

const kv = await openGatewayKv(settings.kvPath);
const gateway = await startGateway({
  config,
  logger,
  hostname: settings.host,
  port: config.port,
  kv,
  encryptionKey: settings.encryptionKey,
  layers,
});
jobs.refresh = gateway.refreshJob;
logger.info(`llm-proxy listening on ${gateway.url}`, {
  config: source.kind === "file" ? source.path : "(empty)",
});
// Deploy bundles the file read-only; edits there go through PUT /admin/config instead.
if (source.kind === "file" && !onDenoDeploy(env)) {
  watchConfigFile({
    path: settings.configPath,
    layers,
    logger,
  });
}
