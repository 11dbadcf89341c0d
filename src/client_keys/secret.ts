import { createHash } from "node:crypto";
import { constantTimeEqual } from "../auth/client_auth.ts";

/** The prefix every managed key starts with, so people (and secret scanners) recognise it. */
export const SECRET_PREFIX = "sk-lp-";

/** A new secret: the prefix and 256 random bits in base64url (43 characters). */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return SECRET_PREFIX + base64url(bytes);
}

/** A new record id: short, random, not derived from the secret. */
export function newKeyId(): string {
  return "ck_" + base64url(crypto.getRandomValues(new Uint8Array(9)));
}

/**
 * The stored form of a secret: its SHA-256 in hex. Synchronous (node:crypto) because it runs
 * on every request of a managed key; the secrets are 256 random bits, so no salt or slow hash
 * is needed.
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** What lists and logs show of a secret: the prefix and its last four characters. */
export function secretHint(secret: string): string {
  return `${SECRET_PREFIX}…${secret.slice(-4)}`;
}

/** Compares two hashes in constant time (which of a rotated key's hashes matched). */
export function sameHash(a: string, b: string): boolean {
  return constantTimeEqual(a, b);
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
