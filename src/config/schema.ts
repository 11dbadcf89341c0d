import { z } from "zod";
import { OPENAI_COMPATIBLE_PRESETS } from "../upstreams/presets.ts";

/** Provider types the config accepts (the contract's full list; see `SUPPORTED_TYPES` for what routes today). */
export const PROVIDER_TYPES = [
  "openai",
  "anthropic",
  "gemini",
  "gemini-cli",
  "qwen",
  "vertex",
  "echo",
] as const;

export type ProviderType = typeof PROVIDER_TYPES[number];

const url = z.url({ error: "expected a URL" }).refine(
  (u) => u.startsWith("http://") || u.startsWith("https://"),
  { error: "expected an http(s) URL" },
);
const nonEmpty = z.string({ error: "expected a string" }).min(1, { error: "must not be empty" });

export const providerSchema = z.strictObject({
  id: nonEmpty.regex(/^[A-Za-z0-9_.-]+$/, { error: "use letters, digits, '_', '.', '-'" }),
  type: z.enum(PROVIDER_TYPES, { error: `expected one of ${PROVIDER_TYPES.join(", ")}` }),
  preset: nonEmpty.optional(),
  base_url: url.optional(),
  token_url: url.optional(),
  api_keys: z.array(nonEmpty).default([]),
  models: z.array(nonEmpty).default([]),
  enabled: z.boolean().default(true),
  headers: z.record(z.string(), z.string()).default({}),
  timeout_ms: z.number().int().positive().max(3_600_000).default(300_000),
  location: nonEmpty.optional(),
  project_id: nonEmpty.optional(),
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
  }).default({ max_retries: 3, cooldown_seconds: 300, alias_fallback: {} }),
  detection: z.strictObject({
    error_codes: z.array(nonEmpty).default(["429", "5xx"]),
    error_patterns: z.array(nonEmpty).default(["rate_limit", "quota", "insufficient_quota"]),
  }).default({
    error_codes: ["429", "5xx"],
    error_patterns: ["rate_limit", "quota", "insufficient_quota"],
  }),
  limits: z.strictObject({
    /** Largest accepted request body; larger ones get 413. */
    max_body_bytes: z.number().int().positive().default(20 * 1024 * 1024),
  }).default({ max_body_bytes: 20 * 1024 * 1024 }),
}).superRefine((cfg, ctx) => {
  const ids = new Set<string>();
  cfg.providers.forEach((p, i) => {
    if (ids.has(p.id)) {
      ctx.addIssue({
        code: "custom",
        path: ["providers", i, "id"],
        message: `duplicate provider id "${p.id}"`,
      });
    }
    ids.add(p.id);
    if (p.preset !== undefined && !(p.preset in OPENAI_COMPATIBLE_PRESETS)) {
      ctx.addIssue({
        code: "custom",
        path: ["providers", i, "preset"],
        message: `unknown preset "${p.preset}" (known: ${
          Object.keys(OPENAI_COMPATIBLE_PRESETS).join(", ")
        })`,
      });
    }
    if (p.type === "openai" && p.base_url === undefined && p.preset === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["providers", i, "base_url"],
        message: "required for type openai (or give a preset)",
      });
    }
  });
  for (const [alias, def] of Object.entries(cfg.models)) {
    def.routes.forEach((r, i) => {
      if (!ids.has(r.provider)) {
        ctx.addIssue({
          code: "custom",
          path: ["models", alias, "routes", i, "provider"],
          message: `unknown provider "${r.provider}"`,
        });
      }
    });
  }
  cfg.model_priority.forEach((id, i) => {
    if (!ids.has(id)) {
      ctx.addIssue({
        code: "custom",
        path: ["model_priority", i],
        message: `unknown provider "${id}"`,
      });
    }
  });
});

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
