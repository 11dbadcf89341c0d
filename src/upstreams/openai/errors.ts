import { UpstreamError } from "../../errors.ts";
import { parseRetryAfter } from "../fetch_upstream.ts";
import type { UpstreamErrorParser } from "../post.ts";

/**
 * OpenAI-style error bodies (`{error: {message, code}}`) → UpstreamError with the message, the
 * code (else `upstream_error`) and Retry-After; a body that is not one keeps its (truncated,
 * masked) text.
 */
export const openAIErrorParser: UpstreamErrorParser = (failure) => {
  let message = failure.text.slice(0, 500);
  let code: string | undefined;
  try {
    const body = JSON.parse(failure.text) as { error?: { message?: string; code?: unknown } };
    if (body.error?.message) message = body.error.message;
    if (typeof body.error?.code === "string") code = body.error.code;
  } catch {
    // Not JSON: keep the text.
  }
  return new UpstreamError(
    failure.clientStatus,
    `Upstream error (${failure.status}): ${message || "no details"}`,
    {
      code: code ?? "upstream_error",
      retryAfter: parseRetryAfter(failure.headers.get("retry-after")),
    },
  );
};

/** Whether a failed answer's text is an OpenAI error body (relayed as it is to same-format clients). */
export function isOpenAIErrorBody(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && "error" in v &&
      typeof (v as { error: unknown }).error === "object";
  } catch {
    return false;
  }
}
