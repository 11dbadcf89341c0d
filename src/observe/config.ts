import { z } from "zod";

const DEFAULTS = {
  request_log_size: 500,
  request_log_ttl_hours: 24,
  flush_interval_ms: 3000,
  metrics_auth: false,
};

/**
 * `observability` in the config: the request log's size and lifetime, how often in-memory
 * counters are flushed to KV, and whether `GET /metrics` needs the admin token.
 */
export const observabilityConfigSchema = z.strictObject({
  /** Newest requests kept in the request log. */
  request_log_size: z.number().int().min(1).max(10_000).default(DEFAULTS.request_log_size),
  /** Log entries expire from KV after this many hours. */
  request_log_ttl_hours: z.number().positive().max(24 * 30).default(DEFAULTS.request_log_ttl_hours),
  /** How often counters and log entries are written to KV. */
  flush_interval_ms: z.number().int().min(100).max(60_000).default(DEFAULTS.flush_interval_ms),
  /** `GET /metrics` requires `Authorization: Bearer ADMIN_TOKEN` when true. */
  metrics_auth: z.boolean().default(DEFAULTS.metrics_auth),
}).default(DEFAULTS);

export type ObservabilityConfig = z.infer<typeof observabilityConfigSchema>;
