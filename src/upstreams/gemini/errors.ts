import { UpstreamError } from "../../errors.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { parseRetryAfter } from "../fetch_upstream.ts";

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

/** The status the gateway answers with: an upstream server error is a bad gateway. */
export function clientStatus(upstreamStatus: number): number {
  return upstreamStatus >= 500 || upstreamStatus < 400 ? 502 : upstreamStatus;
}

/**
 * Turns a failed Gemini answer into an UpstreamError: the status (5xx → 502), Google's message
 * with secrets masked, and the retry delay for 429s.
 */
export async function geminiUpstreamError(
  res: Response,
  secrets: string[],
): Promise<UpstreamError> {
  const text = maskSecretsInText(await res.text().catch(() => ""), secrets);
  const body = parseGoogleError(text);
  const status = clientStatus(res.status);
  const retryAfter = googleRetryAfter(res.headers, body);
  const google = body?.error.status;
  const detail = body?.error.message ?? text.slice(0, 500);
  return new UpstreamError(
    status,
    `Gemini upstream answered ${res.status}${google ? ` ${google}` : ""}${
      detail ? `: ${detail}` : ""
    }`,
    {
      code: google ? google.toLowerCase() : "upstream_error",
      ...(retryAfter !== undefined ? { retryAfter } : {}),
    },
  );
}
