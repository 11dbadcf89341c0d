const encoder = new TextEncoder();

/**
 * The key a client presented, by any of the contract's ways: `Authorization: Bearer K`,
 * `x-api-key: K`, `x-goog-api-key: K` or `?key=K`. Returns every candidate so a client that
 * sends several (an SDK default plus a real key) is still accepted when one matches.
 */
export function presentedKeys(headers: Headers, url: URL | string): string[] {
  const keys: string[] = [];
  const auth = headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) keys.push(m[1].trim());
  }
  const xApiKey = headers.get("x-api-key");
  if (xApiKey) keys.push(xApiKey.trim());
  const goog = headers.get("x-goog-api-key");
  if (goog) keys.push(goog.trim());
  // The request URL is parsed only when its query may name a key (most clients send none).
  const query = typeof url !== "string"
    ? url.searchParams.get("key")
    : url.includes("key=")
    ? new URL(url).searchParams.get("key")
    : null;
  if (query) keys.push(query);
  return keys;
}

/** Compares two strings in time that depends only on the presented string's length. */
export function constantTimeEqual(presented: string, expected: string): boolean {
  const a = encoder.encode(presented);
  const b = encoder.encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ (b.length === 0 ? 0 : b[i % b.length]);
  return diff === 0;
}

/** True when any presented key equals any configured key; every pair is compared in full. */
export function isAuthorized(presented: string[], configured: readonly string[]): boolean {
  let ok = false;
  for (const p of presented) {
    for (const k of configured) {
      // No early exit: the time taken does not reveal which key (if any) matched.
      if (constantTimeEqual(p, k)) ok = true;
    }
  }
  return ok;
}
