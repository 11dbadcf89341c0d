import { UpstreamError } from "../../errors.ts";
import { parseRetryAfter } from "../fetch_upstream.ts";
import type { UpstreamErrorParser } from "../post.ts";

/** A Google API error body: `{error: {code, message, status, details}}`. */
export interface GoogleErrorBody {
  error: { code?: number; message?: string; status?: string; details?: unknown[] };
}

export function parseGoogleError(text: string): GoogleErrorBody | undefined {
  try {
    const v: unknown = JSON.parse(text);
    // Some Google front ends wrap the error in a one-element array.
    const body = Array.isArray(v) ? v[0] : v;
    if (typeof body === "object" && body !== null && "error" in body) {
      const error = (body as { error: unknown }).error;
      if (typeof error === "object" && error !== null) return body as GoogleErrorBody;
    }
  } catch {
    // Not JSON.
  }
  return undefined;
}

/** Seconds from a protobuf Duration string (`"17s"`, `"0.5s"`). */
function parseDuration(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}

/** The retry delay from `Retry-After`, else from a `google.rpc.RetryInfo` detail. */
export function googleRetryAfter(
  headers: Headers,
  body: GoogleErrorBody | undefined,
): number | undefined {
  const header = parseRetryAfter(headers.get("retry-after"));
  if (header !== undefined) return header;
  for (const detail of body?.error.details ?? []) {
    if (typeof detail !== "object" || detail === null) continue;
    const d = detail as Record<string, unknown>;
    const type = typeof d["@type"] === "string" ? d["@type"] : "";
    if (type.endsWith("google.rpc.RetryInfo") || "retryDelay" in d) {
      const seconds = parseDuration(d.retryDelay);
      if (seconds !== undefined) return seconds;
    }
  }
  return undefined;
}

/**
 * Google's error bodies (AI Studio, Vertex, Code Assist) → UpstreamError: the status (5xx → 502),
 * Google's message and status name (as the code), and the retry delay for 429s. `name` says
 * which upstream answered, in the message.
 */
export function googleErrorParser(name: string): UpstreamErrorParser {
  return (failure) => {
    const body = parseGoogleError(failure.text);
    const retryAfter = googleRetryAfter(failure.headers, body);
    const google = body?.error.status;
    const detail = body?.error.message ?? failure.text.slice(0, 500);
    return new UpstreamError(
      failure.clientStatus,
      `${name} upstream answered ${failure.status}${google ? ` ${google}` : ""}${
        detail ? `: ${detail}` : ""
      }`,
      {
        code: google ? google.toLowerCase() : "upstream_error",
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      },
    );
  };
}

/** AI Studio's and Code Assist's errors. */
export const geminiErrorParser: UpstreamErrorParser = googleErrorParser("Gemini");
