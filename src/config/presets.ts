import { PROVIDER_PRESETS } from "../passthrough/presets.ts";

/**
 * Base URLs of well-known OpenAI-compatible hosts, so a provider can say `"preset": "groq"`
 * instead of spelling the URL. Derived from the one preset table the pass-through routes use.
 */
export const OPENAI_COMPATIBLE_PRESETS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(PROVIDER_PRESETS).map(([name, p]) => [name, p.target + p.openai_path]),
);

/** Default base URLs per provider type, used when a provider gives neither `base_url` nor `preset`. */
export const DEFAULT_BASE_URLS: Readonly<Record<string, string>> = {
  anthropic: PROVIDER_PRESETS.anthropic.target,
  gemini: PROVIDER_PRESETS.gemini.target,
};
