import type { ModelCapabilities } from "./capabilities.ts";

/**
 * What an upstream encoder needs to know besides the IR request: what the target model
 * accepts, and the provider's prompt-cache settings. Built per attempt from the provider's
 * config (`src/upstreams/encode_options.ts`); every field is optional so tests and
 * callers without a provider get the plain conversion.
 */
export interface EncodeOptions {
  /** The target model's capabilities (`src/ir/capabilities.ts`). */
  caps?: ModelCapabilities;
  /** Send the client's `prompt_cache_key` (OpenAI's own API takes it). */
  promptCacheKey?: boolean;
  /** Anthropic: mark system, tools and the last user turn as cache breakpoints. */
  autoBreakpoints?: boolean;
  /** Told about parameters the target refuses and the encoder therefore left out. */
  onDropped?: (fields: string[]) => void;
}
