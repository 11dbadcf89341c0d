import { z } from "zod";

/** Prices of one model per million tokens (any one currency, used for every model). */
export const modelPriceSchema = z.strictObject({
  input: z.number().min(0).default(0),
  output: z.number().min(0).default(0),
  cache_read: z.number().min(0).optional(),
  cache_write: z.number().min(0).optional(),
});

/** The config's optional `pricing` table: model name → prices per million tokens. */
export const pricingSchema = z.record(z.string(), modelPriceSchema).default({});

export type Pricing = z.infer<typeof pricingSchema>;

/** Token counts of one answer, as far as the upstream reported them. */
export interface UsageCounts {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/**
 * The estimated cost of an answer: from the served model's prices, else the asked model's
 * (an alias); 0 without a price. Cache reads and writes without their own price cost as input.
 */
export function costOf(pricing: Pricing, models: (string | null)[], u: UsageCounts): number {
  let price;
  for (const m of models) {
    if (m !== null && Object.hasOwn(pricing, m)) {
      price = pricing[m];
      break;
    }
  }
  if (!price) return 0;
  return (u.input * price.input + u.output * price.output +
    u.cacheRead * (price.cache_read ?? price.input) +
    u.cacheWrite * (price.cache_write ?? price.input)) / 1_000_000;
}
