/**
 * Base URLs of well-known OpenAI-compatible hosts, so a provider can say `"preset": "groq"`
 * instead of spelling the URL. Data only; the pass-through feature reuses this table.
 */
export const OPENAI_COMPATIBLE_PRESETS: Readonly<Record<string, string>> = {
  openai: "https://api.openai.com/v1",
  groq: "https://api.groq.com/openai/v1",
  deepseek: "https://api.deepseek.com/v1",
  openrouter: "https://openrouter.ai/api/v1",
  mistral: "https://api.mistral.ai/v1",
  xai: "https://api.x.ai/v1",
  together: "https://api.together.xyz/v1",
  fireworks: "https://api.fireworks.ai/inference/v1",
  cerebras: "https://api.cerebras.ai/v1",
  perplexity: "https://api.perplexity.ai",
  siliconflow: "https://api.siliconflow.cn/v1",
  moonshot: "https://api.moonshot.cn/v1",
  zhipu: "https://open.bigmodel.cn/api/paas/v4",
  dashscope: "https://dashscope.aliyuncs.com/compatible-mode/v1",
  novita: "https://api.novita.ai/v3/openai",
  github: "https://models.github.ai/inference",
  ollama: "http://127.0.0.1:11434/v1",
};

/** Default base URLs per provider type, used when a provider gives neither `base_url` nor `preset`. */
export const DEFAULT_BASE_URLS: Readonly<Record<string, string>> = {
  anthropic: "https://api.anthropic.com",
  gemini: "https://generativelanguage.googleapis.com",
};
