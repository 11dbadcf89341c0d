import type { CredentialDriver } from "../accounts/types.ts";
import type { ProviderType } from "../config/schema.ts";
import type { FormatId } from "../formats/client_format.ts";
import { anthropicUpstream } from "./anthropic/adapter.ts";
import { azureOpenAIUpstream } from "./azure_openai/adapter.ts";
import { bedrockUpstream } from "./bedrock/adapter.ts";
import { bedrockDriver } from "./bedrock/driver.ts";
import { azureOpenAIDriver } from "./azure_openai/driver.ts";
import { echoUpstream } from "./echo/adapter.ts";
import { geminiUpstream } from "./gemini/adapter.ts";
import { geminiCliUpstream } from "./gemini_cli/adapter.ts";
import { geminiCliDriver } from "./gemini_cli/driver.ts";
import { openAIUpstream } from "./openai/adapter.ts";
import { qwenUpstream } from "./qwen/adapter.ts";
import { qwenDriver } from "./qwen/driver.ts";
import type { CallContext, DiscoveredModel, Upstream } from "./types.ts";
import { listAnthropicModels, listGeminiModels, listOpenAIModels } from "./model_lists.ts";
import { forNonAnthropicUpstream } from "./encode_options.ts";
import { vertexUpstream } from "./vertex/adapter.ts";
import { vertexDriver } from "./vertex/driver.ts";

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

/** Everything the gateway knows about one provider type. */
export interface ProviderDescriptor {
  /** Speaks the upstream's API: IR in, IR out, plus the same-format fast path if any. */
  readonly adapter: Upstream;
  /** For types whose credentials are stored accounts (OAuth, service accounts) in KV. */
  readonly driver?: CredentialDriver;
  /** The client format forwarded untouched through `adapter.forwardNative`. */
  readonly nativeFormat?: FormatId;
  /**
   * Whether streams are recovered by default (`fallback.stream_recovery`): Gemini upstreams
   * break off mid-answer often enough; others opt in with `all_upstreams`.
   */
  readonly streamRecovery: boolean;
  /**
   * The upstream's model list, for providers with `discover` on
   * (`src/routing/model_discovery.ts`); types without one list only their configured models.
   */
  readonly listModels?: (ctx: CallContext) => Promise<DiscoveredModel[]>;
}

/**
 * One descriptor per provider type the config accepts: typed by the schema's enum, so a type
 * the config allows cannot lack an adapter.
 */
const PROVIDERS: { readonly [T in ProviderType]: ProviderDescriptor } = {
  openai: {
    adapter: nonAnthropic(openAIUpstream),
    nativeFormat: "openai_chat",
    streamRecovery: false,
    listModels: listOpenAIModels,
  },
  anthropic: {
    adapter: anthropicUpstream,
    nativeFormat: "anthropic",
    streamRecovery: false,
    listModels: listAnthropicModels,
  },
  gemini: {
    adapter: nonAnthropic(geminiUpstream),
    nativeFormat: "gemini",
    streamRecovery: true,
    listModels: listGeminiModels,
  },
  "gemini-cli": {
    adapter: nonAnthropic(geminiCliUpstream),
    driver: geminiCliDriver,
    streamRecovery: true,
  },
  qwen: {
    adapter: nonAnthropic(qwenUpstream),
    driver: qwenDriver,
    nativeFormat: "openai_chat",
    streamRecovery: false,
  },
  vertex: {
    adapter: nonAnthropic(vertexUpstream),
    driver: vertexDriver,
    nativeFormat: "gemini",
    streamRecovery: false,
  },
  echo: { adapter: echoUpstream, streamRecovery: false },
  bedrock: {
    adapter: bedrockUpstream,
    driver: bedrockDriver,
    nativeFormat: "anthropic",
    streamRecovery: false,
  },
  "azure-openai": {
    adapter: nonAnthropic(azureOpenAIUpstream),
    driver: azureOpenAIDriver,
    nativeFormat: "openai_responses",
    streamRecovery: false,
  },
};

/** The descriptor of a provider type. */
export function descriptorFor(type: ProviderType): ProviderDescriptor {
  return PROVIDERS[type];
}

/** The adapter of a provider type. */
export function upstreamFor(type: ProviderType): Upstream {
  return PROVIDERS[type].adapter;
}

/** The credential driver of a provider type whose accounts live in KV, else undefined. */
export function driverFor(type: ProviderType): CredentialDriver | undefined {
  return PROVIDERS[type].driver;
}
