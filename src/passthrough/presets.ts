/**
 * The one table of well-known providers. Pass-through (`/{preset}/...`) forwards to `target`
 * plus the rest of the path; OpenAI-compatible uses (a provider's `"preset"`, supplier routing)
 * append `openai_path` to it. Data only: `src/config/presets.ts` derives its base URLs from
 * here, and `passthrough.presets` in the config can add or override entries.
 */
export interface ProviderPreset {
  /** Origin, with a path prefix where the provider needs one; no trailing slash. */
  readonly target: string;
  /** Where the OpenAI-compatible API lives under `target` ("" when at its root). */
  readonly openai_path: string;
  /**
   * The target is this machine or a private network: the preset is off until the operator
   * enables it (`passthrough.local_presets`, `ollama_url` or `allow_private`), else every
   * client key would get raw access to a local service.
   */
  readonly local?: true;
}

export const PROVIDER_PRESETS: Readonly<Record<string, ProviderPreset>> = {
  openai: { target: "https://api.openai.com", openai_path: "/v1" },
  // Anthropic and Gemini each serve an OpenAI-compatible API beside their own.
  anthropic: { target: "https://api.anthropic.com", openai_path: "/v1" },
  gemini: { target: "https://generativelanguage.googleapis.com", openai_path: "/v1beta/openai" },
  groq: { target: "https://api.groq.com/openai", openai_path: "/v1" },
  deepseek: { target: "https://api.deepseek.com", openai_path: "/v1" },
  openrouter: { target: "https://openrouter.ai/api", openai_path: "/v1" },
  mistral: { target: "https://api.mistral.ai", openai_path: "/v1" },
  xai: { target: "https://api.x.ai", openai_path: "/v1" },
  together: { target: "https://api.together.xyz", openai_path: "/v1" },
  fireworks: { target: "https://api.fireworks.ai/inference", openai_path: "/v1" },
  cerebras: { target: "https://api.cerebras.ai", openai_path: "/v1" },
  cohere: { target: "https://api.cohere.ai", openai_path: "/compatibility/v1" },
  perplexity: { target: "https://api.perplexity.ai", openai_path: "" },
  siliconflow: { target: "https://api.siliconflow.cn", openai_path: "/v1" },
  moonshot: { target: "https://api.moonshot.cn", openai_path: "/v1" },
  zhipu: { target: "https://open.bigmodel.cn", openai_path: "/api/paas/v4" },
  dashscope: { target: "https://dashscope.aliyuncs.com", openai_path: "/compatible-mode/v1" },
  novita: { target: "https://api.novita.ai", openai_path: "/v3/openai" },
  huggingface: { target: "https://router.huggingface.co", openai_path: "/v1" },
  github: { target: "https://models.github.ai", openai_path: "/inference" },
  // Local by default; `passthrough.ollama_url` (or a provider's `base_url`) points elsewhere.
  ollama: { target: "http://127.0.0.1:11434", openai_path: "/v1", local: true },
};

/**
 * First path segments a preset may not take: they are the generic proxy's schemes, the
 * supplier routes, or the gateway's own routes, which a preset of that name would shadow.
 */
export const RESERVED_PRESET_NAMES: ReadonlySet<string> = new Set([
  "http",
  "https",
  "ws",
  "wss",
  "v1",
  "v1beta",
  "v2",
  "admin",
  "health",
  "healthz",
  "metrics",
  "models",
  "chat",
  "responses",
]);
