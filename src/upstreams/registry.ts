import type { ProviderConfig } from "../config/schema.ts";
import { anthropicUpstream } from "./anthropic/adapter.ts";
import { echoUpstream } from "./echo/adapter.ts";
import { geminiUpstream } from "./gemini/adapter.ts";
import { geminiCliUpstream } from "./gemini_cli/adapter.ts";
import { qwenUpstream } from "./qwen/adapter.ts";
import { vertexUpstream } from "./vertex/adapter.ts";
import { openAIUpstream } from "./openai/adapter.ts";
import type { Upstream } from "./types.ts";
import { forNonAnthropicUpstream } from "./encode_options.ts";

/**
 * A non-Anthropic upstream whose converted requests first lose what only Anthropic should see
 * (Claude Code's billing-header block, which defeats other providers' prompt caches).
 */
function nonAnthropic(upstream: Upstream): Upstream {
  return {
    ...upstream,
    send: (req, ctx) => upstream.send(forNonAnthropicUpstream(req, ctx.provider), ctx),
    stream: (req, ctx) => upstream.stream(forNonAnthropicUpstream(req, ctx.provider), ctx),
  };
}

/** Every upstream type this build serves, by provider type. */
const UPSTREAMS: Readonly<Record<string, Upstream>> = {
  openai: nonAnthropic(openAIUpstream),
  anthropic: anthropicUpstream,
  gemini: nonAnthropic(geminiUpstream),
  "gemini-cli": nonAnthropic(geminiCliUpstream),
  qwen: nonAnthropic(qwenUpstream),
  vertex: nonAnthropic(vertexUpstream),
  echo: echoUpstream,
};

/** The adapter for a provider type, if this build has one. */
export function upstreamFor(type: string): Upstream | undefined {
  return UPSTREAMS[type];
}

/** Whether this build can serve the provider's type. */
export function isRoutableProvider(p: ProviderConfig): boolean {
  return p.type in UPSTREAMS;
}
