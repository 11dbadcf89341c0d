import type { RuntimeState } from "../runtime_state.ts";

/** OpenAI `GET /v1/models` shape. */
export function openAIModelList(state: RuntimeState, allows?: (model: string) => boolean): {
  object: "list";
  data: Array<{ id: string; object: "model"; created: number; owned_by: string }>;
} {
  const data = visible(state, allows).map((id) => {
    const route = state.routing.resolve(id)[0];
    return {
      id,
      object: "model" as const,
      created: 0,
      owned_by: route && id in state.config.models
        ? "llm-proxy"
        : route?.provider.id ?? "llm-proxy",
    };
  });
  return { object: "list", data };
}

/** Gemini `GET /v1beta/models` shape. */
export function geminiModelList(state: RuntimeState, allows?: (model: string) => boolean): {
  models: Array<{
    name: string;
    displayName: string;
    supportedGenerationMethods: string[];
  }>;
} {
  return {
    models: visible(state, allows).map((id) => ({
      name: `models/${id}`,
      displayName: id,
      supportedGenerationMethods: ["generateContent", "streamGenerateContent", "countTokens"],
    })),
  };
}

/** The routable models, only those a managed key's allowlist names when it has one. */
function visible(state: RuntimeState, allows: ((model: string) => boolean) | undefined): string[] {
  const all = state.routing.models();
  return allows ? all.filter(allows) : all;
}
