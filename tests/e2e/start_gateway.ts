import { validateConfig } from "../../src/config/load.ts";
import { createLogger, type Logger } from "../../src/observe/logger.ts";
import { type RunningGateway, startGateway } from "../../src/server.ts";

/** A gateway on an ephemeral loopback port with a real in-memory KV, and its captured log lines. */
export interface TestGateway extends RunningGateway {
  logs: string[];
  logger: Logger;
  close(): Promise<void>;
}

export async function startTestGateway(
  rawConfig: unknown,
  options: { kvPath?: string; encryptionKey?: string } = {},
): Promise<TestGateway> {
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", write: (l) => logs.push(l) });
  const kv = await Deno.openKv(options.kvPath ?? ":memory:");
  const config = validateConfig({ port: 0, ...(rawConfig as Record<string, unknown>) });
  const gw = await startGateway({
    config,
    logger,
    hostname: "127.0.0.1",
    port: 0,
    kv,
    encryptionKey: options.encryptionKey,
  });
  return {
    ...gw,
    logs,
    logger,
    async close() {
      await gw.shutdown();
      kv.close();
    },
  };
}
