import { UpstreamError } from "../../errors.ts";
import { errorBodySchema } from "../../formats/anthropic/schema.ts";
import { parseRetryAfter } from "../fetch_upstream.ts";
import type { UpstreamErrorParser } from "../post.ts";

/** Whether a failed answer's text is an Anthropic error body (relayed as it is to Anthropic clients). */
export function isAnthropicErrorBody(text: string): boolean {
  return parseAnthropicError(text) !== undefined;
}

function parseAnthropicError(text: string) {
  try {
    const body = errorBodySchema.safeParse(JSON.parse(text));
    return body.success ? body.data.error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Anthropic error bodies (`{type: "error", error: {type, message}}`) → UpstreamError: the
 * message (prefixed with the upstream's status when the client gets another one), the error
 * type as the code (else `upstream_error`), and Retry-After.
 */
export const anthropicErrorParser: UpstreamErrorParser = (failure) => {
  const error = parseAnthropicError(failure.text);
  const detail = error ? error.message ?? error.type : undefined;
  const message = detail === undefined
    ? `Upstream answered ${failure.status}${failure.text ? `: ${failure.text.slice(0, 500)}` : ""}`
    : failure.clientStatus === failure.status
    ? detail
    : `Upstream answered ${failure.status}: ${detail}`;
  return new UpstreamError(failure.clientStatus, message, {
    code: error?.type ?? "upstream_error",
    retryAfter: parseRetryAfter(failure.headers.get("retry-after")),
  });
};
