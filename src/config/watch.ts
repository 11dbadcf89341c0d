import type { Logger } from "../observe/logger.ts";
import type { ConfigLayers } from "./layers.ts";
import { ConfigError, readConfigFile } from "./load.ts";

/**
 * Reloads the config file when it changes. Watches the file's directory, because editors
 * often save by writing a new file and renaming it over the old one. An invalid edit keeps
 * the last good config and logs each problem. The new file goes in as the file layer, so the
 * KV config and env keep their precedence over it.
 */
export function watchConfigFile(
  options: {
    path: string;
    layers: ConfigLayers;
    logger: Logger;
    debounceMs?: number;
  },
): { close(): void } {
  const { path, layers, logger } = options;
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const name = path.slice(path.lastIndexOf("/") + 1);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(dir, { recursive: false });
  } catch {
    logger.warn(`cannot watch ${path} for changes; hot reload is off`);
    return { close() {} };
  }

  const reload = async (): Promise<void> => {
    try {
      const { raw } = await readConfigFile({ path, explicit: true });
      layers.setFile(raw);
      logger.info(`config reloaded from ${path}`);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : ["cannot be loaded"];
      logger.warn(`config edit rejected; keeping the last good config`, {
        problems: problems.join("; "),
      });
    }
  };

  (async () => {
    try {
      for await (const event of watcher) {
        if (closed) break;
        if (!event.paths.some((p) => p.endsWith("/" + name) || p === name)) continue;
        clearTimeout(timer);
        timer = setTimeout(reload, options.debounceMs ?? 150);
      }
    } catch {
      // The watcher closed; nothing to do.
    }
  })();

  return {
    close() {
      closed = true;
      clearTimeout(timer);
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
    },
  };
}
