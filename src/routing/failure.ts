import type { Config } from "../config/schema.ts";

/** What a failed attempt means for routing. */
export interface FailureVerdict {
  /** Try another credential or route before answering the client. */
  retry: boolean;
  /** `rate_limit` failures make the final answer a 429 with the earliest cooldown end. */
  kind: "rate_limit" | "auth" | "server" | "network" | "client";
  /** Cool the credential down for this long (seconds); 0 = no cooldown. */
  cooldownSeconds: number;
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
 * Classifies an upstream failure with the config's `detection` rules: status codes with
 * wildcards and body patterns (matched case-insensitively). 401/403 mark the credential bad;
 * other client errors are the request's fault and are returned as they are.
 */
export function classifyFailure(
  failure: { status: number; text: string; retryAfter?: number; network?: boolean },
  config: Config,
): FailureVerdict {
  const cooldown = failure.retryAfter ?? config.fallback.cooldown_seconds;
  if (failure.network) return { retry: true, kind: "network", cooldownSeconds: 0 };
  const text = failure.text.toLowerCase();
  const patternHit = config.detection.error_patterns.some((p) => text.includes(p.toLowerCase()));
  if (failure.status === 429 || (patternHit && failure.status !== 401)) {
    return { retry: true, kind: "rate_limit", cooldownSeconds: cooldown };
  }
  if (failure.status === 401 || failure.status === 403) {
    return {
      retry: true,
      kind: "auth",
      cooldownSeconds: Math.max(AUTH_COOLDOWN_SECONDS, config.fallback.cooldown_seconds),
    };
  }
  if (config.detection.error_codes.some((p) => codeMatches(p, failure.status))) {
    return {
      retry: true,
      kind: failure.status >= 500 ? "server" : "rate_limit",
      cooldownSeconds: cooldown,
    };
  }
  return { retry: false, kind: "client", cooldownSeconds: 0 };
}
