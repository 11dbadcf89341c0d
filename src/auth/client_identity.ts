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
  url: URL,
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
  return { id: keyId(match), hint: maskSecret(match), kind: "key" };
}

function addressIdentity(addr: string | undefined): ClientIdentity {
  const a = addr ?? "unknown";
  return { id: `addr:${a}`, hint: a, kind: "address" };
}

// The identity resolved for each request by the route guard, for the handlers behind it.
const bound = new WeakMap<Request, ClientIdentity>();

/** Records the identity the guard resolved for `req`. */
export function bindClientIdentity(req: Request, identity: ClientIdentity): void {
  bound.set(req, identity);
}

/**
 * The identity the guard resolved for `req`. A request that did not pass the guard (unit
 * tests calling a handler directly) is treated as an open gateway's: its address, unknown.
 */
export function clientIdentityOf(req: Request): ClientIdentity {
  let identity = bound.get(req);
  if (!identity) {
    // Bound too: the limits key a stream slot by this very object.
    identity = addressIdentity(undefined);
    bound.set(req, identity);
  }
  return identity;
}
