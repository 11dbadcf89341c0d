import type { RuntimeState } from "../runtime_state.ts";
import { GatewayError } from "../errors.ts";
import { renderKeyMetrics } from "./metrics.ts";
import type { RequestRecord } from "../observe/observer.ts";
import { counterKey, Counters, lastUsedKey, USAGE_METRICS, type UsageMetric } from "./counters.ts";
import { costOf, type Pricing } from "./pricing.ts";
import type { Identity, KeyStore, ManagedKey } from "./store.ts";
import { bucketEnd, bucketOf, dayName, type WindowKind } from "./windows.ts";

const HISTORY_DAYS = 30;

/** `GET /admin/keys/{id}/usage`. */
export interface UsageView {
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost: number;
  last_used_at: string | null;
  /** The last 30 days (UTC), oldest first, days without traffic included. */
  days: Array<{ date: string } & Omit<UsageView, "days" | "last_used_at" | "limits">>;
  /** Where the key stands against its limits now (this instance's view). */
  limits: {
    rpm?: { limit: number; used: number; resets_at: string };
    tpm?: { limit: number; used: number; resets_at: string };
    budget?: {
      period: WindowKind;
      tokens?: { limit: number; used: number };
      cost?: { limit: number; used: number };
      resets_at: string;
    };
    max_concurrent_streams?: { limit: number; open: number };
  };
}

export interface ClientKeysOptions {
  store: KeyStore;
  kv: Deno.Kv;
  /** The config's `pricing` table, read at each answer (reloads apply). */
  pricing: () => Pricing;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/**
 * Managed client keys on the request path: who is calling (`identify`), whether the request may
 * go on (`admit`: allowlist, rpm, tpm, streams, budget, all from memory), and what it used
 * (`attribute`, from the observer's finished record). Counters reach KV in batches every sync.
 */
export class ClientKeys {
  readonly store: KeyStore;
  readonly counters: Counters;
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  readonly #pricing: () => Pricing;
  readonly #onError: (err: unknown) => void;
  readonly #byRequest = new WeakMap<Request, ManagedKey>();
  readonly #streamSlots = new WeakSet<RequestRecord>();
  readonly #open = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: ClientKeysOptions) {
    this.store = options.store;
    this.#kv = options.kv;
    this.#now = options.now ?? Date.now;
    this.#pricing = options.pricing;
    this.#onError = options.onError ?? (() => {});
    this.counters = new Counters(options.kv, this.#now);
  }

  /** Loads the keys and starts syncing counters (flush, then read back) every `syncMs`. */
  async start(syncMs: number): Promise<void> {
    await this.store.start(Math.max(syncMs, 1000));
    // Budgets and limits start from the shared totals, not from zero, after a restart.
    await this.counters.sync().catch(this.#onError);
    this.#timer = setInterval(() => void this.counters.sync().catch(this.#onError), syncMs);
    Deno.unrefTimer(this.#timer);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.store.close();
    await this.counters.sync().catch(this.#onError);
  }

  /** True once a managed key exists: every client then has to present a key. */
  get required(): boolean {
    return this.store.any;
  }

  /** Looks the presented keys up and remembers a usable one for this request. */
  identify(req: Request, presented: readonly string[]): Identity {
    const id = this.store.identify(presented);
    if (id?.kind === "key") this.#byRequest.set(req, id.key);
    return id;
  }

  /** The managed key this request was identified by, if any. */
  keyOf(req: Request): ManagedKey | undefined {
    return this.#byRequest.get(req);
  }

  /**
   * Admits one conversation request of a managed key or throws: 403 `model_not_allowed`,
   * 429 `insufficient_quota` (budget spent) or 429 `rate_limit_exceeded` /
   * `too_many_concurrent_streams`, each with `Retry-After` and the rate-limit headers.
   */
  admit(req: Request, model: string, stream: boolean, rec: RequestRecord | undefined): void {
    const key = this.#byRequest.get(req);
    if (!key) return;
    // Attribution finds the key from the record itself (no per-request map entry).
    if (rec) rec.clientKey = { id: key.record.id, label: key.record.label };
    if (key.allows && !key.allows(model)) {
      throw new GatewayError(
        403,
        "permission",
        `This key may not use the model '${model.slice(0, 100)}'.`,
        { code: "model_not_allowed" },
      );
    }
    if (!key.limited) return;
    const r = key.record;
    const id = r.id;
    const now = this.#now();
    const refuse = (err: GatewayError): never => {
      err.headers = this.rateHeaders(key);
      throw err;
    };
    if (r.budget) {
      const b = r.budget;
      const bucket = bucketOf(b.period, now);
      const tokens = this.counters.value(id, b.period, bucket, "input_tokens") +
        this.counters.value(id, b.period, bucket, "output_tokens");
      const cost = this.counters.value(id, b.period, bucket, "cost_micro") / 1_000_000;
      if (
        (b.tokens !== undefined && tokens >= b.tokens) || (b.cost !== undefined && cost >= b.cost)
      ) {
        const resets = bucketEnd(b.period, now);
        refuse(
          new GatewayError(
            429,
            "quota",
            `This key's ${b.period}ly budget is spent; it resets at ${
              new Date(resets).toISOString()
            }.`,
            { code: "insufficient_quota", retryAfter: (resets - now) / 1000 },
          ),
        );
      }
    }
    const minute = bucketOf("minute", now);
    const wait = (bucketEnd("minute", now) - now) / 1000;
    if (r.rpm !== undefined && this.counters.value(id, "minute", minute, "admitted") >= r.rpm) {
      refuse(
        new GatewayError(429, "rate_limit", `Rate limit reached: ${r.rpm} requests per minute.`, {
          code: "rate_limit_exceeded",
          retryAfter: wait,
        }),
      );
    }
    if (r.tpm !== undefined && this.counters.value(id, "minute", minute, "tokens") >= r.tpm) {
      refuse(
        new GatewayError(429, "rate_limit", `Rate limit reached: ${r.tpm} tokens per minute.`, {
          code: "rate_limit_exceeded",
          retryAfter: wait,
        }),
      );
    }
    const max = r.max_concurrent_streams;
    const takesSlot = stream && max !== undefined && rec !== undefined;
    if (takesSlot && (this.#open.get(id) ?? 0) >= max) {
      refuse(
        new GatewayError(
          429,
          "rate_limit",
          `This key already has ${max} streams open (its limit); wait for one to end.`,
          { code: "too_many_concurrent_streams", retryAfter: 1 },
        ),
      );
    }
    this.counters.add(id, "minute", minute, "admitted", 1);
    if (takesSlot) {
      this.#open.set(id, (this.#open.get(id) ?? 0) + 1);
      this.#streamSlots.add(rec);
    }
  }

  /**
   * OpenAI-style rate-limit headers for a limited key (rpm and tpm), sent on every answer;
   * undefined for a key without per-minute limits.
   */
  rateHeaders(key: ManagedKey): Record<string, string> | undefined {
    const r = key.record;
    if (r.rpm === undefined && r.tpm === undefined) return undefined;
    const now = this.#now();
    const minute = bucketOf("minute", now);
    const reset = `${Math.ceil((bucketEnd("minute", now) - now) / 1000)}s`;
    const out: Record<string, string> = {};
    if (r.rpm !== undefined) {
      const used = this.counters.value(r.id, "minute", minute, "admitted");
      out["x-ratelimit-limit-requests"] = String(r.rpm);
      out["x-ratelimit-remaining-requests"] = String(Math.max(0, r.rpm - used));
      out["x-ratelimit-reset-requests"] = reset;
    }
    if (r.tpm !== undefined) {
      const used = this.counters.value(r.id, "minute", minute, "tokens");
      out["x-ratelimit-limit-tokens"] = String(r.tpm);
      out["x-ratelimit-remaining-tokens"] = String(Math.max(0, r.tpm - used));
      out["x-ratelimit-reset-tokens"] = reset;
    }
    return out;
  }

  /** Counts a finished request against its key (the observer calls this once per record). */
  attribute(rec: RequestRecord, status: number): void {
    if (rec.clientKey === null) return;
    const id = rec.clientKey.id;
    if (this.#streamSlots.has(rec)) {
      this.#streamSlots.delete(rec);
      const left = (this.#open.get(id) ?? 1) - 1;
      if (left <= 0) this.#open.delete(id);
      else this.#open.set(id, left);
    }
    const now = this.#now();
    const u = rec.usage;
    const usage = {
      input: u.input ?? 0,
      output: u.output ?? 0,
      cacheRead: u.cacheRead ?? 0,
      cacheWrite: u.cacheWrite ?? 0,
    };
    const cost = costOf(this.#pricing(), [rec.servedModel, rec.model], usage);
    const values: Record<UsageMetric, number> = {
      requests: 1,
      errors: status >= 400 ? 1 : 0,
      input_tokens: usage.input,
      output_tokens: usage.output,
      cache_read_tokens: usage.cacheRead,
      cache_write_tokens: usage.cacheWrite,
      cost_micro: Math.round(cost * 1_000_000),
    };
    const c = this.counters;
    for (const m of USAGE_METRICS) {
      c.add(id, "total", 0, m, values[m]);
      c.add(id, "day", bucketOf("day", now), m, values[m]);
    }
    for (const w of ["week", "month"] as const) {
      const b = bucketOf(w, now);
      for (const m of ["input_tokens", "output_tokens", "cost_micro"] as const) {
        c.add(id, w, b, m, values[m]);
      }
    }
    c.add(id, "minute", bucketOf("minute", now), "tokens", usage.input + usage.output);
    c.used(id, now);
  }

  /** `/metrics` with the per-key series appended (top keys by requests, the rest as `other`). */
  async withKeyMetrics(res: Response, state: RuntimeState): Promise<Response> {
    if (res.status !== 200 || !this.store.any) return res;
    await this.counters.sync().catch(this.#onError);
    const extra = await renderKeyMetrics(
      this.#kv,
      this.store,
      state.config.client_keys.metrics_top,
    );
    return new Response((await res.text()) + extra, { headers: res.headers });
  }

  /** Today's counts and the limits' state of a key, from memory (the dashboard's list). */
  summary(key: ManagedKey): { today: Record<string, number>; limits: UsageView["limits"] } {
    const now = this.#now();
    const day = bucketOf("day", now);
    const v = (m: string) => this.counters.value(key.record.id, "day", day, m);
    return {
      today: {
        requests: v("requests"),
        errors: v("errors"),
        input_tokens: v("input_tokens"),
        output_tokens: v("output_tokens"),
        cost: v("cost_micro") / 1_000_000,
      },
      limits: this.#limitsView(key, now),
    };
  }

  /** Streams a key holds open on this instance. */
  openStreams(id: string): number {
    return this.#open.get(id) ?? 0;
  }

  /** A key's usage from KV (after writing this instance's pending counts). */
  async usage(key: ManagedKey): Promise<UsageView> {
    await this.counters.sync().catch(this.#onError);
    const id = key.record.id;
    const now = this.#now();
    const today = bucketOf("day", now);
    const read = async (window: "total" | "day", bucket: number) => {
      const entries = await this.#kv.getMany<Deno.KvU64[]>(
        USAGE_METRICS.map((m) => counterKey(window, bucket, id, m)),
      );
      const out = {} as Record<UsageMetric, number>;
      USAGE_METRICS.forEach((m, i) => out[m] = Number(entries[i].value?.value ?? 0n));
      return out;
    };
    const shape = (v: Record<UsageMetric, number>) => ({
      requests: v.requests,
      errors: v.errors,
      input_tokens: v.input_tokens,
      output_tokens: v.output_tokens,
      cache_read_tokens: v.cache_read_tokens,
      cache_write_tokens: v.cache_write_tokens,
      cost: v.cost_micro / 1_000_000,
    });
    const days = [];
    for (let d = today - HISTORY_DAYS + 1; d <= today; d++) {
      days.push({ date: dayName(d), ...shape(await read("day", d)) });
    }
    const last = (await this.#kv.get<Deno.KvU64>(lastUsedKey(id))).value;
    return {
      ...shape(await read("total", 0)),
      last_used_at: last ? new Date(Number(last.value)).toISOString() : null,
      days,
      limits: this.#limitsView(key, now),
    };
  }

  #limitsView(key: ManagedKey, now: number): UsageView["limits"] {
    const r = key.record;
    const c = this.counters;
    const out: UsageView["limits"] = {};
    const minute = bucketOf("minute", now);
    const minuteEnd = new Date(bucketEnd("minute", now)).toISOString();
    if (r.rpm !== undefined) {
      out.rpm = {
        limit: r.rpm,
        used: c.value(r.id, "minute", minute, "admitted"),
        resets_at: minuteEnd,
      };
    }
    if (r.tpm !== undefined) {
      out.tpm = {
        limit: r.tpm,
        used: c.value(r.id, "minute", minute, "tokens"),
        resets_at: minuteEnd,
      };
    }
    if (r.budget) {
      const b = r.budget;
      const bucket = bucketOf(b.period, now);
      out.budget = {
        period: b.period,
        resets_at: new Date(bucketEnd(b.period, now)).toISOString(),
      };
      if (b.tokens !== undefined) {
        out.budget.tokens = {
          limit: b.tokens,
          used: c.value(r.id, b.period, bucket, "input_tokens") +
            c.value(r.id, b.period, bucket, "output_tokens"),
        };
      }
      if (b.cost !== undefined) {
        out.budget.cost = {
          limit: b.cost,
          used: c.value(r.id, b.period, bucket, "cost_micro") / 1_000_000,
        };
      }
    }
    if (r.max_concurrent_streams !== undefined) {
      out.max_concurrent_streams = {
        limit: r.max_concurrent_streams,
        open: this.openStreams(r.id),
      };
    }
    return out;
  }
}

/**
 * Runs a client route for a limited key and puts the rate-limit headers on its answer, error
 * answers included (through the thrown error's `headers`).
 */
export async function withRateHeaders(
  keys: ClientKeys,
  key: ManagedKey,
  run: () => Response | Promise<Response>,
): Promise<Response> {
  let res: Response;
  try {
    res = await run();
  } catch (err) {
    if (err instanceof GatewayError && !err.headers) err.headers = keys.rateHeaders(key);
    throw err;
  }
  const headers = keys.rateHeaders(key);
  if (!headers) return res;
  try {
    for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    return res;
  } catch {
    // Immutable headers (a relayed fetch answer): rebuild around the same body.
    const out = new Response(res.body, res);
    for (const [k, v] of Object.entries(headers)) out.headers.set(k, v);
    return out;
  }
}
