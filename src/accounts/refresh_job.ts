import type { ConfigStore } from "../runtime_state.ts";
import type { Logger } from "../observe/logger.ts";
import type { AccountManager, RefreshOutcome } from "./manager.ts";

/** The cron runs every six hours; tokens expiring before the next run are refreshed now. */
export const REFRESH_CRON_SCHEDULE = "0 */6 * * *";
export const REFRESH_HORIZON_MS = 6 * 60 * 60_000;

/** The refresh job: what the cron and `POST /admin/refresh` run. */
export async function runRefreshJob(
  deps: { accounts: AccountManager; store: ConfigStore; logger: Logger },
): Promise<RefreshOutcome[]> {
  const providers = deps.store.current.config.providers.filter((p) => p.enabled);
  const results = await deps.accounts.runRefreshJob(providers, REFRESH_HORIZON_MS);
  const count = (r: RefreshOutcome["result"]) => results.filter((x) => x.result === r).length;
  deps.logger.info("account refresh job done", {
    refreshed: count("refreshed"),
    skipped: count("skipped"),
    failed: count("failed"),
  });
  return results;
}
