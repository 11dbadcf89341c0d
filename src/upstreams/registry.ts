import type { ProviderConfig } from "../config/schema.ts";
import { anthropicUpstream } from "./anthropic/adapter.ts";
import { azureOpenAIUpstream } from "./azure_openai/adapter.ts";
import { bedrockUpstream } from "./bedrock/adapter.ts";
import { echoUpstream } from "./echo/adapter.ts";
import { geminiUpstream } from "./gemini/adapter.ts";
import { geminiCliUpstream } from "./gemini_cli/adapter.ts";
import { qwenUpstream } from "./qwen/adapter.ts";
import { vertexUpstream } from "./vertex/adapter.ts";
import { openAIUpstream } from "./openai/adapter.ts";
import type { Upstream } from "./types.ts";

/** Every upstream type this build serves, by provider type. */
const UPSTREAMS: Readonly<Record<string, Upstream>> = {
  openai: openAIUpstream,
  anthropic: anthropicUpstream,
  gemini: geminiUpstream,
  "gemini-cli": geminiCliUpstream,
  qwen: qwenUpstream,
  vertex: vertexUpstream,
  echo: echoUpstream,
  bedrock: bedrockUpstream,
  "azure-openai": azureOpenAIUpstream,
};

/** The adapter for a provider type, if this build has one. */
export function upstreamFor(type: string): Upstream | undefined {
  return UPSTREAMS[type];
}

/** Whether this build can serve the provider's type. */
export function isRoutableProvider(p: ProviderConfig): boolean {
  return p.type in UPSTREAMS;
}
