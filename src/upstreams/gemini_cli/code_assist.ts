/**
 * Google Code Assist API (`cloudcode-pa.googleapis.com/v1internal`), the backend Gemini CLI talks
 * to with its OAuth accounts: URLs and the client identity shared by the upstream adapter and the
 * credential driver's project discovery.
 */
import type { ProviderConfig } from "../../config/schema.ts";

export const CODE_ASSIST_DEFAULT_BASE_URL = "https://cloudcode-pa.googleapis.com";
const API_VERSION = "v1internal";

/** The Gemini CLI release whose client identity we present (its User-Agent names a version). */
export const GEMINI_CLI_VERSION = "0.46.0";

/** The `metadata` Gemini CLI sends with loadCodeAssist / onboardUser. */
export const CLIENT_METADATA = {
  ideType: "IDE_UNSPECIFIED",
  platform: "PLATFORM_UNSPECIFIED",
  pluginType: "GEMINI",
} as const;

/** Code Assist methods, called as `{base}/v1internal:{method}`. */
export type CodeAssistMethod =
  | "loadCodeAssist"
  | "onboardUser"
  | "generateContent"
  | "streamGenerateContent"
  | "countTokens";

/** `{base}/v1internal`, from the provider's base_url (with or without `/v1internal`). */
export function codeAssistRoot(p: ProviderConfig): string {
  const base = (p.base_url ?? CODE_ASSIST_DEFAULT_BASE_URL).replace(/\/+$/, "");
  return base.endsWith(`/${API_VERSION}`) ? base : `${base}/${API_VERSION}`;
}

/** `{base}/v1internal:{method}`, with `?alt=sse` for streams. */
export function codeAssistUrl(p: ProviderConfig, method: CodeAssistMethod, sse = false): string {
  return `${codeAssistRoot(p)}:${method}${sse ? "?alt=sse" : ""}`;
}

/** `{base}/v1internal/{operations/...}`: where a long-running operation is polled. */
export function codeAssistOperationUrl(p: ProviderConfig, name: string): string {
  const path = name.replace(/^\/+/, "").split("/").map(encodeURIComponent).join("/");
  return `${codeAssistRoot(p)}/${path}`;
}

/** Node's names for the platform and architecture, as Gemini CLI reports them. */
function nodePlatform(): string {
  const os = Deno.build.os;
  return os === "windows" ? "win32" : os;
}

function nodeArch(): string {
  const arch = Deno.build.arch;
  return arch === "x86_64" ? "x64" : arch === "aarch64" ? "arm64" : arch;
}

/**
 * Gemini CLI's User-Agent: `GeminiCLI/<version>/<model> (<platform>; <arch>; terminal)`
 * (packages/core/src/core/contentGenerator.ts). Code Assist expects a client to be named.
 */
export function geminiCliUserAgent(model?: string): string {
  const product = model
    ? `GeminiCLI/${GEMINI_CLI_VERSION}/${model}`
    : `GeminiCLI/${GEMINI_CLI_VERSION}`;
  return `${product} (${nodePlatform()}; ${nodeArch()}; terminal)`;
}

/**
 * Request headers built from scratch: JSON, Gemini CLI's User-Agent, the provider's configured
 * headers (which may override the User-Agent), then the bearer token, which nothing overrides.
 */
export function codeAssistHeaders(
  p: ProviderConfig,
  accessToken: string,
  options: { model?: string; accept?: string } = {},
): Headers {
  const headers = new Headers({
    "content-type": "application/json",
    accept: options.accept ?? "application/json",
    "user-agent": geminiCliUserAgent(options.model),
  });
  for (const [k, v] of Object.entries(p.headers)) headers.set(k, v);
  headers.set("authorization", `Bearer ${accessToken}`);
  return headers;
}
