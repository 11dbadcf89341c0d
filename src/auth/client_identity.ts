import { keyId } from "../accounts/cooldowns.ts";
import { maskSecret } from "../observe/mask.ts";
import { constantTimeEqual, presentedKeys } from "./client_auth.ts";

/**
 * Who is calling, resolved once per request and used by auth, limits, stats and the log.
 * Never the key itself: a hash id and a masked hint.
 */
export interface ClientIdentity {
  /** `key-<hash>` for a configured client key, `addr:<ip>` for a client without one. */
  id: string;
  /** For people: the masked key (`sk-ab****1234`) or the address. */
  hint: string;
  /** `key`: a configured client key matched. `address`: no keys are configured (open gateway). */
  kind: "key" | "address";
}

/**
 * Resolves the caller's identity by one precedence: the first presented key — in the order
 * `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`, `?key=` — that equals a configured
 * client key. Other presented values (an SDK's placeholder) are ignored, so they cannot stand
 * in for the key that authenticated. Undefined when keys are configured and none matches (401).
 * With no client keys configured nothing authenticates a key, so the identity is the address:
 * a made-up key would otherwise be a fresh identity per request.
 */
export function resolveClientIdentity(
  headers: Headers,
  /** The request URL (parsed only when its query may hold `key=`). */
  url: URL | string,
  configured: readonly string[],
  remoteAddr: string | undefined,
): ClientIdentity | undefined {
  if (configured.length === 0) return addressIdentity(remoteAddr);
  let match: string | undefined;
  for (const p of presentedKeys(headers, url)) {
    for (const k of configured) {
      // Every pair is compared in full: the time taken does not reveal which key matched.
      if (constantTimeEqual(p, k) && match === undefined) match = k;
    }
  }
  if (match === undefined) return undefined;
  let identity = KEY_IDENTITIES.get(match);
  if (identity === undefined) {
    identity = Object.freeze({ id: keyId(match), hint: maskSecret(match), kind: "key" });
    remember(KEY_IDENTITIES, match, identity);
  }
  return identity;
}

/**
 * Identities are the same for every request of a key or an address, so they are made once
 * (hashing and masking a key on every request showed in the benchmark). Bounded: a flood of
 * addresses only empties the cache.
 */
const KEY_IDENTITIES = new Map<string, ClientIdentity>();
const ADDRESS_IDENTITIES = new Map<string, ClientIdentity>();
const MAX_CACHED = 10_000;

function remember(cache: Map<string, ClientIdentity>, key: string, id: ClientIdentity): void {
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(key, id);
}

function addressIdentity(addr: string | undefined): ClientIdentity {
  const a = addr ?? "unknown";
  let identity = ADDRESS_IDENTITIES.get(a);
  if (identity === undefined) {
    identity = Object.freeze({ id: `addr:${a}`, hint: a, kind: "address" });
    remember(ADDRESS_IDENTITIES, a, identity);
  }
  return identity;
}
