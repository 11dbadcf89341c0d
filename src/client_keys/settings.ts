import { z } from "zod";

/** A budget: tokens (input + output) and/or estimated cost per calendar period (UTC). */
export const budgetSchema = z.strictObject({
  period: z.enum(["day", "week", "month"]),
  tokens: z.number().int().positive().optional(),
  /** In the `pricing` table's currency; needs `pricing` for the models used. */
  cost: z.number().positive().optional(),
}).refine((b) => b.tokens !== undefined || b.cost !== undefined, {
  error: "a budget needs tokens and/or cost",
});

/** The settings of one managed key; every one optional (absent = no limit). */
export const keySettingsSchema = z.strictObject({
  /** Allowed model names: exact names, alias names, or globs with `*`. */
  models: z.array(z.string().min(1).max(200)).max(200).optional(),
  rpm: z.number().int().positive().optional(),
  /** Input + output tokens per minute. */
  tpm: z.number().int().positive().optional(),
  max_concurrent_streams: z.number().int().positive().optional(),
  budget: budgetSchema.optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
  enabled: z.boolean().optional(),
});

export type KeySettings = z.infer<typeof keySettingsSchema>;
export type Budget = z.infer<typeof budgetSchema>;

/** `POST /admin/keys` body. */
export const createKeySchema = keySettingsSchema.extend({
  label: z.string().trim().min(1).max(100),
});

/** `PATCH /admin/keys/{id}` body: any field; `null` clears a setting. */
export const patchKeySchema = z.strictObject({
  label: z.string().trim().min(1).max(100).optional(),
  models: keySettingsSchema.shape.models.nullable(),
  rpm: keySettingsSchema.shape.rpm.nullable(),
  tpm: keySettingsSchema.shape.tpm.nullable(),
  max_concurrent_streams: keySettingsSchema.shape.max_concurrent_streams.nullable(),
  budget: budgetSchema.optional().nullable(),
  expires_at: keySettingsSchema.shape.expires_at.nullable(),
  enabled: z.boolean().optional(),
});

/** `POST /admin/keys/{id}/rotate` body: how long the old secret keeps working (default 0). */
export const rotateSchema = z.strictObject({
  grace_seconds: z.number().int().min(0).max(30 * 86_400).default(0),
});

/** What KV stores for a key: never the secret, only its hash and a hint. */
export interface KeyRecord extends KeySettings {
  id: string;
  label: string;
  /** SHA-256 (hex) of the secret. */
  hash: string;
  /** `sk-lp-…abcd`. */
  hint: string;
  enabled: boolean;
  created_at: string;
  updated_at: string;
  /** After a rotation with a grace period: the old secret's hash and until when it works. */
  previous?: { hash: string; until: string };
}

/** A record as the admin API shows it: without hashes. */
export type KeyView = Omit<KeyRecord, "hash" | "previous"> & { previous_valid_until?: string };

export function viewOf(rec: KeyRecord): KeyView {
  const { hash: _hash, previous, ...rest } = rec;
  return previous ? { ...rest, previous_valid_until: previous.until } : rest;
}

/** Whether a key has any limit that needs counters or rate-limit headers. */
export function isLimited(rec: KeySettings): boolean {
  return rec.rpm !== undefined || rec.tpm !== undefined || rec.budget !== undefined ||
    rec.max_concurrent_streams !== undefined;
}

/** Compiles an allowlist into a test; undefined = every model. */
export function allowlist(models: string[] | undefined): ((model: string) => boolean) | undefined {
  if (!models) return undefined;
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const m of models) {
    if (m.includes("*")) {
      const body = m.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*");
      globs.push(new RegExp(`^${body}$`));
    } else exact.add(m);
  }
  return (model) => exact.has(model) || globs.some((g) => g.test(model));
}
