import type { GatewayError } from "../errors.ts";
import { toAnthropicError } from "./anthropic/errors.ts";
import { toGeminiError } from "./gemini/errors.ts";
import { toOpenAIError } from "./openai_chat/errors.ts";

/** The API family a caller speaks; decides the shape of every error it receives. */
export type CallerFormat = "openai" | "anthropic" | "gemini";

/**
 * Which format the caller speaks, from the route it called and how it authenticated.
 * Model listings answer Gemini callers (who authenticate with `x-goog-api-key` or `?key=`
 * and send no `Authorization`/`x-api-key`) in the Gemini shape.
 */
export function detectCallerFormat(url: URL, headers: Headers): CallerFormat {
  const path = url.pathname;
  if (path.startsWith("/v1/messages")) return "anthropic";
  if (path.startsWith("/v1beta/") || /^\/v1\/models\/[^/]+:/.test(path)) return "gemini";
  if (path === "/v1/models" || path === "/models") {
    const googleAuth = headers.has("x-goog-api-key") || url.searchParams.has("key");
    if (googleAuth && !headers.has("authorization") && !headers.has("x-api-key")) return "gemini";
  }
  return "openai";
}

/** Builds the error response in the caller's format, with `Retry-After` when the error has one. */
export function errorResponse(err: GatewayError, format: CallerFormat): Response {
  const body = format === "anthropic"
    ? toAnthropicError(err)
    : format === "gemini"
    ? toGeminiError(err)
    : toOpenAIError(err);
  const headers = new Headers({ "content-type": "application/json" });
  if (err.retryAfter !== undefined) headers.set("retry-after", String(Math.ceil(err.retryAfter)));
  if (err.headers) { for (const [k, v] of Object.entries(err.headers)) headers.set(k, v); }
  return new Response(JSON.stringify(body), { status: err.status, headers });
}
