import type { RuntimeState } from "../runtime_state.ts";
import type { DiscoveredModel } from "../upstreams/types.ts";
import { discovers } from "../routing/model_discovery.ts";

/** A provider's discovered list, by provider id (`ModelDiscovery.models`). */
export type DiscoveredLists = (providerId: string) => readonly DiscoveredModel[];

/** OpenAI `GET /v1/models` shape. */
export function openAIModelList(
  state: RuntimeState,
  discovered?: DiscoveredLists,
  allows?: (model: string) => boolean,
): {
  object: "list";
  data: Array<{ id: string; object: "model"; created: number; owned_by: string }>;
} {
  const data = listedModels(state, discovered, allows).map((m) => ({
    id: m.id,
    object: "model" as const,
    created: m.created ?? 0,
    owned_by: m.owned_by,
  }));
  return { object: "list", data };
}

/** Gemini `GET /v1beta/models` shape. */
export function geminiModelList(
  state: RuntimeState,
  discovered?: DiscoveredLists,
  allows?: (model: string) => boolean,
): {
  models: Array<{
    name: string;
    displayName: string;
    supportedGenerationMethods: string[];
  }>;
} {
  return {
    models: listedModels(state, discovered, allows).map((m) => ({
      name: `models/${m.id}`,
      displayName: m.display_name ?? m.id,
      supportedGenerationMethods: ["generateContent", "streamGenerateContent", "countTokens"],
    })),
  };
}

/**
 * Anthropic `GET /v1/models` shape (what Claude Code's gateway model discovery reads), for
 * requests that carry `anthropic-version`. The whole list is one page.
 */
export function anthropicModelList(
  state: RuntimeState,
  discovered?: DiscoveredLists,
  allows?: (model: string) => boolean,
): {
  data: Array<{ id: string; display_name: string; created_at: string; type: "model" }>;
  has_more: false;
  first_id: string | null;
  last_id: string | null;
} {
  const data = listedModels(state, discovered, allows).map((m) => ({
    id: m.id,
    display_name: m.display_name ?? m.id,
    created_at: new Date((m.created ?? 0) * 1000).toISOString(),
    type: "model" as const,
  }));
  return {
    data,
    has_more: false,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  };
}

/** One entry of a model list, whatever its shape. */
export interface ListedModel {
  id: string;
  owned_by: string;
  display_name?: string;
  /** Unix seconds. */
  created?: number;
}

/**
 * The models clients may ask for: aliases and configured names first, then what discovering
 * providers' upstreams list (only models the provider's own patterns route to it, each once);
 * only those a managed key's allowlist names when it has one.
 */
export function listedModels(
  state: RuntimeState,
  discovered?: DiscoveredLists,
  allows?: (model: string) => boolean,
): ListedModel[] {
  const all = listedUnfiltered(state, discovered);
  return allows ? all.filter((m) => allows(m.id)) : all;
}

function listedUnfiltered(state: RuntimeState, discovered?: DiscoveredLists): ListedModel[] {
  const out: ListedModel[] = state.routing.models().map((id) => {
    const route = state.routing.resolve(id)[0];
    return {
      id,
      owned_by: route && id in state.config.models
        ? "llm-proxy"
        : route?.provider.id ?? "llm-proxy",
    };
  });
  if (!discovered) return out;
  const seen = new Set(out.map((m) => m.id));
  for (const provider of state.config.providers) {
    if (!discovers(provider) || !state.routing.provider(provider.id)) continue;
    for (const m of discovered(provider.id)) {
      // Names already listed are aliases or exact routes; resolving them here would turn an
      // alias's weighted rotation.
      if (seen.has(m.id)) continue;
      if (!state.routing.resolve(m.id).some((r) => r.provider.id === provider.id)) continue;
      seen.add(m.id);
      const entry: ListedModel = { id: m.id, owned_by: provider.id };
      if (m.display_name !== undefined) entry.display_name = m.display_name;
      if (m.created !== undefined) entry.created = m.created;
      out.push(entry);
    }
  }
  return out;
}
