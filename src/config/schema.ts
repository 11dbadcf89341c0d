import { z } from "zod";
import { OPENAI_COMPATIBLE_PRESETS } from "./presets.ts";
import { passthroughConfigSchema } from "../passthrough/config.ts";
import { observabilityConfigSchema } from "../observe/config.ts";
import {
  IMAGE_FETCH_DEFAULTS,
  imageFetchConfigSchema,
} from "../formats/gemini/image_fetch_config.ts";
import { capabilityOverrideSchema } from "../ir/capabilities.ts";
import { pricingSchema } from "../client_keys/pricing.ts";

/** Provider types the config accepts (the contract's full list; `src/upstreams/registry.ts` serves them). */
export const PROVIDER_TYPES = [
  "openai",
  "anthropic",
  "gemini",
  "gemini-cli",
  "qwen",
  "vertex",
  "echo",
  "bedrock",
  "azure-openai",
] as const;

export type ProviderType = typeof PROVIDER_TYPES[number];

const url = z.url({ error: "expected a URL", abort: true }).refine(
  (u) => u.startsWith("http://") || u.startsWith("https://"),
  { error: "expected an http(s) URL" },
);
const nonEmpty = z.string({ error: "expected a string" }).min(1, { error: "must not be empty" });
/** Extra upstream headers; names and values fetch() would refuse at request time (with a
 * misleading 502 "unreachable") are refused here, with their path. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headersSchema = z.record(
  z.string(),
  z.string({ error: "expected a string" }).regex(/^[^\r\n\0]*$/, {
    error: "a header value must not contain CR, LF or NUL",
  }),
).superRefine((headers, ctx) => {
  for (const name of Object.keys(headers)) {
    if (!HEADER_NAME.test(name)) {
      ctx.addIssue({
        code: "custom",
        message: `${JSON.stringify(name)} is not a valid HTTP header name`,
      });
    }
  }
});

export const providerSchema = z.strictObject({
  id: nonEmpty.regex(/^[A-Za-z0-9_.-]+$/, { error: "use letters, digits, '_', '.', '-'" }),
  type: z.enum(PROVIDER_TYPES, { error: `expected one of ${PROVIDER_TYPES.join(", ")}` }),
  preset: nonEmpty.optional(),
  base_url: url.optional(),
  token_url: url.optional(),
  api_keys: z.array(nonEmpty).default([]),
  models: z.array(nonEmpty).default([]),
  enabled: z.boolean().default(true),
  headers: headersSchema.default({}),
  timeout_ms: z.number().int().positive().max(3_600_000).default(300_000),
  /** Finer waits (`src/upstreams/fetch_upstream.ts`): TCP connect (default 10 s), response
   * headers and silence between stream chunks (both default to `timeout_ms`). */
  connect_timeout_ms: z.number().int().positive().max(3_600_000).optional(),
  first_byte_timeout_ms: z.number().int().positive().max(3_600_000).optional(),
  idle_timeout_ms: z.number().int().positive().max(3_600_000).optional(),
  location: nonEmpty.optional(),
  project_id: nonEmpty.optional(),
  /** AWS region (bedrock; default us-east-1). */
  region: nonEmpty.regex(/^[a-z0-9-]+$/, { error: "expected an AWS region like us-east-1" })
    .optional(),
  /** Azure OpenAI: the classic `deployments/{name}?api-version=…` routes (else the v1 routes). */
  api_version: nonEmpty.regex(/^[\w.-]+$/, { error: "expected an API version like 2024-10-21" })
    .optional(),
  /** Azure OpenAI: deployment name per model name, where they differ. */
  deployments: z.record(
    nonEmpty,
    nonEmpty.regex(/^[\w.-]+$/, {
      error: "expected a deployment name (letters, digits, '_', '.', '-')",
    }),
  ).optional(),
  /**
   * How keys/accounts are chosen: spread over all (round-robin), use one until it cools down
   * (fill-first), or keep each conversation on its account while it is healthy (session).
   */
  strategy: z.enum(["round-robin", "fill-first", "session"]).default("round-robin"),
  /** Egress proxy for this provider's upstream requests (http(s)://user:pass@host:port). */
  proxy_url: url.optional(),
  /**
   * List the upstream's own models on `/v1/models` (`src/routing/model_discovery.ts`); absent:
   * on when `models` holds `"*"`.
   */
  discover: z.boolean().optional(),
  /** count_tokens routes: a local estimate (default, free and fast) or the upstream's count. */
  count_tokens: z.enum(["estimate", "upstream"]).default("estimate"),
  /** OAuth client overrides (defaults: the providers' published CLI clients). */
  client_id: nonEmpty.optional(),
  client_secret: nonEmpty.optional(),
  /** What models accept, by model pattern (`"*"`, `my-deploy-*`), over `src/ir/capabilities.ts`. */
  capabilities: z.record(z.string(), capabilityOverrideSchema).optional(),
  /** Prompt-cache handling for requests converted to this provider (`src/ir/prompt_cache.ts`). */
  cache: z.strictObject({
    /** Drop Claude Code's per-request billing-header block before non-Anthropic upstreams. */
    strip_billing_header: z.boolean().default(true),
    /** Anthropic upstreams: mark system, tools and the last user turn as cache breakpoints. */
    auto_breakpoints: z.boolean().default(false),
  }).optional(),
});

const aliasRouteSchema = z.strictObject({
  provider: nonEmpty,
  model: nonEmpty,
  priority: z.number().int().default(1),
  weight: z.number().positive().default(1),
  enabled: z.boolean().default(true),
});

const aliasSchema = z.strictObject({
  routes: z.array(aliasRouteSchema).min(1, { error: "an alias needs at least one route" }),
  enabled: z.boolean().default(true),
});

export const configSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(8000),
  auth: z.strictObject({
    api_keys: z.array(nonEmpty).default([]),
    admin_token: nonEmpty.optional(),
  }).default({ api_keys: [] }),
  providers: z.array(providerSchema).default([]),
  models: z.record(z.string(), aliasSchema).default({}),
  model_priority: z.array(nonEmpty).default([]),
  fallback: z.strictObject({
    max_retries: z.number().int().min(0).max(20).default(3),
    cooldown_seconds: z.number().min(0).default(300),
    alias_fallback: z.record(z.string(), z.array(nonEmpty)).default({}),
    /**
     * Re-asking a stream that ended before its finish and stitching the continuation in
     * (`src/routing/stream_recovery.ts`). Absent: on for gemini and gemini-cli, 3 attempts.
     */
    stream_recovery: z.strictObject({
      enabled: z.boolean().default(true),
      max_attempts: z.number().int().min(0).max(10).default(3),
      /** Also recover the other upstream types' text streams. */
      all_upstreams: z.boolean().default(false),
      /** Continuation instructions by language; absent ones use the built-in text. */
      prompts: z.strictObject({
        en: nonEmpty.optional(),
        zh: nonEmpty.optional(),
        ja: nonEmpty.optional(),
        ko: nonEmpty.optional(),
      }).default({}),
    }).optional(),
  }).default({ max_retries: 3, cooldown_seconds: 300, alias_fallback: {} }),
  detection: z.strictObject({
    error_codes: z.array(nonEmpty).default(["429", "5xx"]),
    error_patterns: z.array(nonEmpty).default(["rate_limit", "quota", "insufficient_quota"]),
  }).default({
    error_codes: ["429", "5xx"],
    error_patterns: ["rate_limit", "quota", "insufficient_quota"],
  }),
  /**
   * What server-side failures do to a credential (`src/routing/credential_health.ts`), modelled
   * on Envoy's outlier detection: 5xx answers, connection errors and timeouts eject a key or
   * account only after `consecutive_failures` in a row, for `base_ejection_seconds` × the times
   * it was ejected (capped at `max_ejection_seconds`); at most `max_ejection_percent` of a
   * provider's credentials are ejected at once (always at least one). When every credential
   * for a model is out for server-side reasons, the one whose ejection ends first is still tried
   * (`panic_routing`). A 429's `Retry-After` benches for at most `max_cooldown_seconds`.
   */
  failure_policy: z.strictObject({
    consecutive_failures: z.number().int().min(1).max(1000).default(3),
    base_ejection_seconds: z.number().min(0).max(86_400).default(30),
    max_ejection_seconds: z.number().min(0).max(86_400).default(300),
    max_ejection_percent: z.number().min(0).max(100).default(50),
    max_cooldown_seconds: z.number().min(0).max(30 * 86_400).default(3600),
    panic_routing: z.boolean().default(true),
  }).prefault({}),
  limits: z.strictObject({
    /** Largest accepted request body; larger ones get 413. */
    max_body_bytes: z.number().int().positive().default(20 * 1024 * 1024),
    /** Most messages (turns) in one conversation request; more get 400. */
    max_messages: z.number().int().positive().default(10_000),
    /** Largest total of request header names and values on client routes; more get 431. */
    max_header_bytes: z.number().int().positive().default(32 * 1024),
    /** Streams one client key (or address, without a key) may hold open; 0 = no limit. */
    max_concurrent_streams_per_key: z.number().int().min(0).default(0),
    /** Image URLs downloaded for Gemini upstreams: how many, how large, how many at a time. */
    image_fetch: imageFetchConfigSchema,
    /** Request-body bytes all requests in flight may hold together; beyond, 503 + Retry-After. */
    max_inflight_body_bytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Longest pause while a request body arrives; beyond, 408 and the connection is closed. */
    body_idle_timeout_ms: z.number().int().positive().max(3_600_000).default(30_000),
  }).default({
    max_body_bytes: 20 * 1024 * 1024,
    max_messages: 10_000,
    max_header_bytes: 32 * 1024,
    max_concurrent_streams_per_key: 0,
    image_fetch: IMAGE_FETCH_DEFAULTS,
    max_inflight_body_bytes: 256 * 1024 * 1024,
    body_idle_timeout_ms: 30_000,
  }),
  /** Background refresh of discovered model lists (providers with `discover`). */
  discovery: z.strictObject({
    /** How often the lists are fetched again; the first fetch is at start. */
    refresh_seconds: z.number().int().min(10).max(86_400).default(600),
  }).prefault({}),
  passthrough: passthroughConfigSchema,
  observability: observabilityConfigSchema,
  /** Prices per million tokens by model name: managed keys' cost estimates and cost budgets. */
  pricing: pricingSchema,
  /** Managed client keys (`src/client_keys/`, `/admin/keys`). */
  client_keys: z.strictObject({
    /** How often counters are written to KV and the shared totals read back (the staleness). */
    sync_ms: z.number().int().min(100).max(60_000).default(1000),
    /** Keys with their own `/metrics` series (the busiest); the rest are summed as `other`. */
    metrics_top: z.number().int().min(0).max(1000).default(20),
  }).prefault({}),
  /** Stateful Responses (`previous_response_id`, `GET`/`DELETE /v1/responses/{id}`), kept in KV. */
  responses: z.strictObject({
    store: z.boolean().default(false),
    ttl_days: z.number().positive().max(3650).default(30),
  }).prefault({}),
});

/**
 * Cross-field checks (ids unique, references resolve, presets known). They work on the raw
 * input so they are reported together with the schema's own problems, not after them.
 * Returns `path: message` lines.
 */
export function crossCheckConfig(raw: unknown): string[] {
  const problems: string[] = [];
  const obj = isRecord(raw) ? raw : {};
  const providers = Array.isArray(obj.providers) ? obj.providers : [];
  const ids = new Set<string>();
  providers.forEach((p: unknown, i: number) => {
    if (!isRecord(p)) return;
    if (typeof p.id === "string") {
      if (ids.has(p.id)) problems.push(`providers[${i}].id: duplicate provider id "${p.id}"`);
      ids.add(p.id);
    }
    if (typeof p.preset === "string" && !(p.preset in OPENAI_COMPATIBLE_PRESETS)) {
      problems.push(
        `providers[${i}].preset: unknown preset "${p.preset}" (known: ${
          Object.keys(OPENAI_COMPATIBLE_PRESETS).join(", ")
        })`,
      );
    }
    if (p.type === "azure-openai" && p.base_url === undefined) {
      problems.push(
        `providers[${i}].base_url: required for type azure-openai (the resource endpoint)`,
      );
    }
    if (p.type === "openai" && p.base_url === undefined && p.preset === undefined) {
      problems.push(`providers[${i}].base_url: required for type openai (or give a preset)`);
    }
  });
  if (isRecord(obj.models)) {
    for (const [alias, def] of Object.entries(obj.models)) {
      const routes = isRecord(def) && Array.isArray(def.routes) ? def.routes : [];
      routes.forEach((r: unknown, i: number) => {
        if (isRecord(r) && typeof r.provider === "string" && !ids.has(r.provider)) {
          problems.push(`models.${alias}.routes[${i}].provider: unknown provider "${r.provider}"`);
        }
      });
    }
  }
  if (Array.isArray(obj.model_priority)) {
    obj.model_priority.forEach((id: unknown, i: number) => {
      if (typeof id === "string" && !ids.has(id)) {
        problems.push(`model_priority[${i}]: unknown provider "${id}"`);
      }
    });
  }
  return problems;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
