import { z } from "zod";

/**
 * What a model accepts, by model family: how it takes a thinking request, which parameters it
 * refuses, and its output limit where known. Encoders ask this table instead of hard-coding a
 * request shape; a provider's `capabilities` config overrides it for models it does not know
 * (Azure deployment names, fine-tunes, new releases).
 */
export interface ModelCapabilities {
  /**
   * How thinking is asked for. `adaptive`: only `thinking: {type: "adaptive"}` with
   * `output_config.effort` (Claude Opus 4.7 and later; `enabled`/`disabled` answer 400).
   * `adaptive_preferred`: both work, `enabled` is deprecated (Opus 4.6, Sonnet 4.6).
   * `budget`: `enabled` with `budget_tokens` only (Sonnet 4.5, Opus 4.5 and older).
   * `none`: the model does not reason; thinking settings (`reasoning_effort`, `thinking`) are
   * refused, so encoders leave them out (GPT-4 family, Claude 3.5 and older).
   */
  thinking: ThinkingStyle;
  /** The output-cap field an OpenAI-style upstream takes (reasoning models refuse `max_tokens`). */
  maxTokensParam: "max_tokens" | "max_completion_tokens";
  /** Whether a non-default `temperature`/`top_p` is refused (OpenAI reasoning models). */
  fixedSampling: boolean;
  /** The largest `max_tokens` the model accepts, where known; larger asks are lowered to it. */
  maxOutputTokens?: number;
}

export type ThinkingStyle = "adaptive" | "adaptive_preferred" | "budget" | "none";

/** One row of the table: the ids it matches and what differs from the defaults. */
interface Family {
  name: string;
  /** Tested against the model id with any provider prefix (`anthropic.`, `openai/`) removed. */
  match: RegExp;
  caps: Partial<ModelCapabilities>;
}

const DEFAULTS: ModelCapabilities = {
  thinking: "budget",
  maxTokensParam: "max_tokens",
  fixedSampling: false,
};

const REASONING: Partial<ModelCapabilities> = {
  maxTokensParam: "max_completion_tokens",
  fixedSampling: true,
};

/**
 * The families, first match wins. Claude ids also come Bedrock-style
 * (`anthropic.claude-opus-4-7-v1:0`, `us.anthropic.…`) and Vertex-style (`claude-opus-4-7@2026…`).
 */
const FAMILIES: readonly Family[] = [
  {
    name: "claude-opus-4.7+",
    match: /^claude-(opus-4[-.][7-9]|opus-[5-9]|fable-|mythos)/,
    caps: { thinking: "adaptive", maxOutputTokens: 128_000 },
  },
  {
    name: "claude-4.6",
    match: /^claude-(opus|sonnet)-4[-.]6/,
    caps: { thinking: "adaptive_preferred", maxOutputTokens: 128_000 },
  },
  { name: "claude-sonnet-4.5", match: /^claude-sonnet-4[-.]5/, caps: { maxOutputTokens: 64_000 } },
  { name: "claude-opus-4.5", match: /^claude-opus-4[-.]5/, caps: { maxOutputTokens: 64_000 } },
  { name: "claude-haiku-4.5", match: /^claude-haiku-4[-.]5/, caps: { maxOutputTokens: 64_000 } },
  {
    name: "claude-opus-4",
    match: /^claude-opus-4([-.][01])?([-@:]|$)/,
    caps: { maxOutputTokens: 32_000 },
  },
  {
    name: "claude-sonnet-4",
    match: /^claude-sonnet-4([-@:]|$)/,
    caps: { maxOutputTokens: 64_000 },
  },
  {
    name: "claude-3-7-sonnet",
    match: /^claude-(3-7-sonnet|3\.7-sonnet)/,
    caps: { maxOutputTokens: 64_000 },
  },
  { name: "claude-3-5", match: /^claude-3-5-/, caps: { thinking: "none", maxOutputTokens: 8_192 } },
  { name: "claude-3", match: /^claude-3-/, caps: { thinking: "none", maxOutputTokens: 4_096 } },
  // gpt-5-chat is the non-reasoning chat model: it takes sampling settings.
  {
    name: "gpt-5-chat",
    match: /^gpt-5(\.\d+)?-chat/,
    caps: { thinking: "none", maxTokensParam: "max_completion_tokens" },
  },
  { name: "gpt-4", match: /^(gpt-4|gpt-3\.5|chatgpt-)/, caps: { thinking: "none" } },
  { name: "gpt-5", match: /^gpt-5/, caps: { ...REASONING, maxOutputTokens: 128_000 } },
  { name: "o-series", match: /^o\d(-|$)/, caps: { ...REASONING, maxOutputTokens: 100_000 } },
];

/** Bedrock region/vendor prefixes and router prefixes (`openai/gpt-5`, `models/…`). */
const PREFIX = /^(?:(?:[a-z]{2,4}\.)?anthropic\.|models\/|[a-z0-9-]+\/)/;

/** The model id as the table matches it: lower case, without a provider prefix. */
function normalize(model: string): string {
  return model.trim().toLowerCase().replace(PREFIX, "");
}

/** The table's answer for a model id, before any config override. */
export function builtinCapabilities(model: string): ModelCapabilities {
  const id = normalize(model);
  const family = FAMILIES.find((f) => f.match.test(id));
  return { ...DEFAULTS, ...family?.caps };
}

/** The config's spelling of an override (`providers[].capabilities.<model pattern>`). */
export const capabilityOverrideSchema = z.strictObject({
  thinking: z.enum(["adaptive", "adaptive_preferred", "budget", "none"]).optional(),
  max_tokens_param: z.enum(["max_tokens", "max_completion_tokens"]).optional(),
  fixed_sampling: z.boolean().optional(),
  max_output_tokens: z.number().int().positive().optional(),
});

export type CapabilityOverride = z.infer<typeof capabilityOverrideSchema>;

/** Overrides keyed by model pattern: an exact id, or a glob with `*` (`"*"` is every model). */
export type CapabilityOverrides = Record<string, CapabilityOverride>;

/**
 * What `model` accepts: the table's row, then every matching override in config order
 * (`"*"` first is the usual way to set a provider-wide default and refine single models after).
 */
export function capabilitiesFor(
  model: string,
  overrides: CapabilityOverrides | undefined,
): Readonly<ModelCapabilities> {
  // Memoised per config object and model: matching the table is a dozen regexes, and this runs
  // on every request (the same-format OpenAI path included).
  const byModel = cacheFor(overrides);
  let caps = byModel.get(model);
  if (!caps) {
    if (byModel.size >= MAX_CACHED_MODELS) byModel.clear();
    caps = Object.freeze(computeCapabilities(model, overrides));
    byModel.set(model, caps);
  }
  return caps;
}

const MAX_CACHED_MODELS = 1000;
const NO_OVERRIDES: CapabilityOverrides = {};
const CACHE = new WeakMap<CapabilityOverrides, Map<string, Readonly<ModelCapabilities>>>();

function cacheFor(
  overrides: CapabilityOverrides | undefined,
): Map<string, Readonly<ModelCapabilities>> {
  const key = overrides ?? NO_OVERRIDES;
  let map = CACHE.get(key);
  if (!map) CACHE.set(key, map = new Map());
  return map;
}

function computeCapabilities(
  model: string,
  overrides: CapabilityOverrides | undefined,
): ModelCapabilities {
  const caps = builtinCapabilities(model);
  if (!overrides) return caps;
  for (const [pattern, o] of Object.entries(overrides)) {
    if (!globMatches(pattern, model)) continue;
    if (o.thinking !== undefined) caps.thinking = o.thinking;
    if (o.max_tokens_param !== undefined) caps.maxTokensParam = o.max_tokens_param;
    if (o.fixed_sampling !== undefined) caps.fixedSampling = o.fixed_sampling;
    if (o.max_output_tokens !== undefined) caps.maxOutputTokens = o.max_output_tokens;
  }
  return caps;
}

function globMatches(pattern: string, model: string): boolean {
  if (!pattern.includes("*")) return pattern === model;
  const source = pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`).test(model);
}

/** An effort level for a token budget, for targets that think by level (OpenAI, adaptive Claude). */
export function effortForBudget(budget: number): "low" | "medium" | "high" {
  return budget <= 2048 ? "low" : budget <= 16384 ? "medium" : "high";
}
