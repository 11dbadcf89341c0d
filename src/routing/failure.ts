import type { Config } from "../config/schema.ts";

/** What a failed attempt means for routing. */
export interface FailureVerdict {
  /** Try another credential or route before answering the client. */
  retry: boolean;
  /**
   * `server` and `network` are server-side failures: they count towards ejection
   * (`src/routing/credential_health.ts`). `rate_limit` and `auth` bench the credential for
   * `cooldownSeconds`. `client` failures are the request's fault: they bench nothing.
   */
  kind: "rate_limit" | "auth" | "server" | "network" | "client";
  /** For `rate_limit` and `auth`: bench the credential this long (seconds). */
  cooldownSeconds: number;
}

/** A failed attempt as the dispatch loop saw it. */
export interface FailureFacts {
  status: number;
  /** The upstream's error body (or the gateway's message for a thrown error). */
  text: string;
  /** Seconds, from `Retry-After` or Gemini's `retryDelay`. */
  retryAfter?: number;
  /** Connection refused or reset, or a timeout: nothing usable came back. */
  network?: boolean;
  /** A structured code the gateway already knows (an adapter's `UpstreamError.code`). */
  code?: string;
}

/** An auth failure (revoked or wrong key) benches the credential for at least an hour. */
const AUTH_COOLDOWN_SECONDS = 3600;

/** `429`, `5xx`, `4xx` style patterns from the config. */
function codeMatches(pattern: string, status: number): boolean {
  const p = pattern.trim().toLowerCase();
  if (/^\d{3}$/.test(p)) return Number(p) === status;
  if (/^\dxx$/.test(p)) return Math.floor(status / 100) === Number(p[0]);
  return false;
}

/**
 * Classifies an upstream failure with the config's `detection` rules.
 * - 429 is a rate limit, benched for its `Retry-After` (else `cooldown_seconds`), capped at
 *   `failure_policy.max_cooldown_seconds`: one absurd header must not bench a key for years.
 * - 401/403 mark the credential bad (a 403 whose text matches a pattern is a quota limit).
 * - 5xx (as listed in `error_codes`), connection errors and timeouts are server-side.
 * - Any other 4xx is the request's fault and goes back as it is. `error_patterns` never read
 *   the free text of such an answer, because those bodies echo what the client sent (a
 *   `"reasoning_effort": "quota"` would otherwise bench every key for every client); they
 *   match its structured error code/type fields only.
 */
export function classifyFailure(failure: FailureFacts, config: Config): FailureVerdict {
  const policy = config.failure_policy;
  const cap = (s: number): number => Math.min(Math.max(0, s), policy.max_cooldown_seconds);
  if (failure.network) return { retry: true, kind: "network", cooldownSeconds: 0 };
  const status = failure.status;
  const patterns = config.detection.error_patterns;
  const rateLimit: FailureVerdict = {
    retry: true,
    kind: "rate_limit",
    cooldownSeconds: cap(failure.retryAfter ?? config.fallback.cooldown_seconds),
  };
  if (status === 429) return rateLimit;
  const serverSide = status === 403 || status >= 500;
  const codes = structuredCodes(failure);
  const hit = patterns.some((p) => {
    const needle = p.toLowerCase();
    return codes.some((c) => c.includes(needle)) ||
      (serverSide && failure.text.toLowerCase().includes(needle));
  });
  if (hit && status !== 401) return rateLimit;
  if (status === 401 || status === 403) {
    return {
      retry: true,
      kind: "auth",
      cooldownSeconds: cap(Math.max(AUTH_COOLDOWN_SECONDS, config.fallback.cooldown_seconds)),
    };
  }
  if (config.detection.error_codes.some((p) => codeMatches(p, status))) {
    // A 4xx listed by the operator (e.g. `4xx`) is treated as a limit, as configured.
    return status >= 500 ? { retry: true, kind: "server", cooldownSeconds: 0 } : rateLimit;
  }
  return { retry: false, kind: "client", cooldownSeconds: 0 };
}

/**
 * The machine-readable fields of an error body, lowercased: OpenAI `error.code` / `error.type`,
 * Anthropic `error.type`, Google `error.status` and `error.details[].reason`, plus the
 * adapter's own code. Never the message.
 */
export function structuredCodes(failure: Pick<FailureFacts, "text" | "code">): string[] {
  const out: string[] = [];
  if (failure.code) out.push(failure.code.toLowerCase());
  const text = failure.text.trim();
  if (!text.startsWith("{") && !text.startsWith("[")) return out;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return out;
  }
  if (Array.isArray(body)) body = body[0]; // Gemini's stream endpoints wrap errors in an array
  if (!isRecord(body)) return out;
  const add = (v: unknown): void => {
    if (typeof v === "string" && v.length <= 200) out.push(v.toLowerCase());
  };
  const err = isRecord(body.error) ? body.error : body;
  add(err.code);
  add(err.type);
  add(err.status);
  if (Array.isArray(err.details)) {
    for (const d of err.details.slice(0, 8)) if (isRecord(d)) add(d.reason);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
