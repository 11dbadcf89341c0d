import type { ProviderConfig } from "../config/schema.ts";
import { capabilitiesFor } from "../ir/capabilities.ts";
import type { EncodeOptions } from "../ir/encode_options.ts";
import { withoutBillingHeader } from "../ir/prompt_cache.ts";
import type { IrRequest } from "../ir/types.ts";
import type { CallContext } from "./types.ts";

/** The encoder options for one attempt: the model's capabilities and the provider's cache settings. */
export function encodeOptionsFor(ctx: CallContext, model: string = ctx.model): EncodeOptions {
  const provider = ctx.provider;
  return {
    caps: capabilitiesFor(model, provider.capabilities),
    // Only OpenAI's own API documents it; other OpenAI-compatible hosts may refuse the field.
    promptCacheKey: provider.type === "openai",
    autoBreakpoints: provider.cache?.auto_breakpoints === true,
    onDropped: (fields) =>
      ctx.logger?.debug("parameters the model refuses were left out", {
        provider: provider.id,
        model,
        fields: fields.join(","),
      }),
  };
}

/**
 * The IR as a non-Anthropic upstream should see it: without Claude Code's billing-header
 * block (on by default; `cache.strip_billing_header: false` keeps it).
 */
export function forNonAnthropicUpstream(req: IrRequest, provider: ProviderConfig): IrRequest {
  if (provider.cache?.strip_billing_header === false) return req;
  const system = withoutBillingHeader(req.system);
  return system === req.system ? req : { ...req, system };
}
