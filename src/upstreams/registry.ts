import type { ProviderConfig } from "../config/schema.ts";
import { echoUpstream } from "./echo/adapter.ts";
import type { Upstream } from "./types.ts";

/** Upstream types reached through the IR adapter interface. */
const IR_UPSTREAMS: Readonly<Record<string, Upstream>> = {
  echo: echoUpstream,
};

/** The IR adapter for a provider type, if this build has one. */
export function irUpstreamFor(type: string): Upstream | undefined {
  return IR_UPSTREAMS[type];
}

/**
 * Whether this build can serve the provider: `openai` is forwarded in its own format;
 * the other types need an IR adapter.
 */
export function isRoutableProvider(p: ProviderConfig): boolean {
  return p.type === "openai" || p.type in IR_UPSTREAMS;
}
