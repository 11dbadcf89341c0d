import { z } from "zod";

/** Defaults: Gemini takes at most 20 MB of inline data per request, so more is never useful. */
export const IMAGE_FETCH_DEFAULTS = {
  max_images: 16,
  max_total_bytes: 20 * 1024 * 1024,
  max_image_bytes: 20 * 1024 * 1024,
  concurrency: 4,
};

/**
 * `limits.image_fetch` in the config: bounds on downloading a request's image URLs (Gemini
 * upstreams take image bytes, not links), so a small request cannot make the gateway download
 * without end. Which hosts may be fetched is the SSRF guard's `passthrough.allow_private` /
 * `passthrough.allow_hosts`.
 */
export const imageFetchConfigSchema = z.strictObject({
  /** Distinct image URLs one request may ask to fetch; more get 400 `too_many_images` (0: none). */
  max_images: z.number().int().min(0).max(1000).default(IMAGE_FETCH_DEFAULTS.max_images),
  /** Bytes downloaded for one request's images together; more get 400 `images_too_large`. */
  max_total_bytes: z.number().int().positive().default(IMAGE_FETCH_DEFAULTS.max_total_bytes),
  /** Bytes of one image; more get 400 `invalid_image_url`. */
  max_image_bytes: z.number().int().positive().default(IMAGE_FETCH_DEFAULTS.max_image_bytes),
  /** Downloads one request runs at a time. */
  concurrency: z.number().int().min(1).max(64).default(IMAGE_FETCH_DEFAULTS.concurrency),
}).default(IMAGE_FETCH_DEFAULTS);

export type ImageFetchConfig = z.infer<typeof imageFetchConfigSchema>;
