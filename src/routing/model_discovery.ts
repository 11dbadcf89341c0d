import type { ProviderConfig } from "../config/schema.ts";
import type { Logger } from "../observe/logger.ts";
import type { RuntimeState } from "../runtime_state.ts";
import { descriptorFor } from "../upstreams/registry.ts";
import type { DiscoveredModel } from "../upstreams/types.ts";
import type { CredentialPool } from "./credential_pool.ts";
import { callContext } from "./dispatch.ts";

/** KV prefix of the cached lists: `["discovered_models", providerId]`. */
const KV_PREFIX = "discovered_models";
/** A KV value holds at most 64 KiB: a longer list is cut to fit. */
const MAX_KV_BYTES = 60_000;

/** Whether a provider lists its upstream's models: `discover`, else on for `"models": ["*"]`. */
export function discovers(p: ProviderConfig): boolean {
  return p.discover ?? p.models.includes("*");
}

/** A cached list as KV holds it: when it was fetched (ms) and what it held. */
interface StoredList {
  at: number;
  models: DiscoveredModel[];
}

export interface DiscoveryDeps {
  kv: Deno.Kv;
  state: () => RuntimeState;
  pool: CredentialPool;
  logger: Logger;
}

/**
 * The upstreams' own model lists, for providers with `discover` on. Fetched in the background
 * (at start, then every `discovery.refresh_seconds`) with a credential from the pool, kept in
 * memory and in KV (a new instance starts with the last lists), and read only from memory on
 * the request path. A slow or failing upstream leaves its last list in place.
 */
export class ModelDiscovery {
  readonly #deps: DiscoveryDeps;
  readonly #lists = new Map<string, DiscoveredModel[]>();
  /** When each list was fetched (by any instance, for lists loaded from KV). */
  readonly #fetchedAt = new Map<string, number>();
  readonly #closing = new AbortController();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: DiscoveryDeps) {
    this.#deps = deps;
  }

  /**
   * Loads the cached lists, refreshes those older than the refresh period (an instance that
   * starts often, as on Deno Deploy, does not list the upstreams each time), and starts the
   * refresh timer (unref'd).
   */
  async start(): Promise<void> {
    try {
      for await (const e of this.#deps.kv.list<StoredList>({ prefix: [KV_PREFIX] })) {
        const id = e.key[1];
        if (typeof id !== "string" || !Array.isArray(e.value?.models)) continue;
        this.#lists.set(id, e.value.models);
        this.#fetchedAt.set(id, e.value.at);
      }
    } catch {
      this.#deps.logger.warn("KV unavailable for discovered model lists; fetching them afresh");
    }
    const every = this.#deps.state().config.discovery.refresh_seconds * 1000;
    void this.refresh(Date.now() - every);
    this.#timer = setInterval(() => void this.refresh(), every);
    Deno.unrefTimer(this.#timer);
  }

  /** The last list of a provider's upstream (empty before the first answer). */
  models(providerId: string): readonly DiscoveredModel[] {
    return this.#lists.get(providerId) ?? [];
  }

  /**
   * Fetches every discovering provider's list at once (those fetched after `staleBefore`, ms,
   * are kept); a refresh under way is joined.
   */
  refresh(staleBefore = Infinity): Promise<void> {
    this.#running ??= this.#refreshAll(staleBefore).finally(() => this.#running = undefined);
    return this.#running;
  }

  /** Stops the timer and aborts a refresh under way. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#closing.abort();
    await this.#running;
  }

  async #refreshAll(staleBefore: number): Promise<void> {
    const providers = this.#deps.state().config.providers.filter((p) =>
      p.enabled && discovers(p) && descriptorFor(p.type).listModels !== undefined &&
      (this.#fetchedAt.get(p.id) ?? -Infinity) <= staleBefore
    );
    await Promise.all(providers.map((p) => this.#refreshOne(p)));
  }

  async #refreshOne(provider: ProviderConfig): Promise<void> {
    const list = descriptorFor(provider.type).listModels;
    if (!list || this.#closing.signal.aborted) return;
    const signal = () => this.#closing.signal;
    try {
      const credential = await this.#deps.pool.acquire(provider, { tried: new Set(), signal });
      if (!credential) {
        this.#deps.logger.info("model discovery: no usable credential", { provider: provider.id });
        return;
      }
      const route = { provider, model: "", priority: 0, weight: 1 };
      const ctx = callContext(this.#deps, route, credential, { headers: new Headers(), signal });
      const models = fitKv(await list(ctx));
      if (this.#closing.signal.aborted) return;
      const at = Date.now();
      this.#lists.set(provider.id, models);
      this.#fetchedAt.set(provider.id, at);
      const stored: StoredList = { at, models };
      await this.#deps.kv.set([KV_PREFIX, provider.id], stored).catch(() => {});
    } catch (err) {
      if (this.#closing.signal.aborted) return;
      this.#deps.logger.warn("model discovery failed; the last list stays", {
        provider: provider.id,
        error: err instanceof Error ? err.message.slice(0, 200) : "error",
      });
    }
  }
}

/** The list cut to what one KV value holds. */
function fitKv(models: DiscoveredModel[]): DiscoveredModel[] {
  let out = models;
  while (out.length > 0 && JSON.stringify(out).length > MAX_KV_BYTES) {
    out = out.slice(0, Math.floor(out.length * 0.8));
  }
  return out;
}
