/**
 * RS256 JWT signing for Google's service-account flow (RFC 7523 JWT bearer grant), with
 * WebCrypto only. Error messages describe the key's shape and never contain key material.
 */

/** A private key that cannot be used; the message is safe to show (it never echoes the key). */
export class PemError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PemError";
  }
}

const encoder = new TextEncoder();

/** Base64url without padding, as JWTs use. */
export function base64UrlEncode(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let binary = "";
  // Chunked so large inputs do not overflow the argument list of fromCharCode.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// DER of the rsaEncryption OID (1.2.840.113549.1.1.1), found in every PKCS#8 RSA key header.
const RSA_OID = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/**
 * Normalises a PEM as users paste it: key files keep `\n` escapes when copied out of JSON by
 * hand, and Windows editors add CRs.
 */
export function normalisePem(pem: string): string {
  return pem.replaceAll("\\n", "\n").replaceAll("\r", "").trim();
}

/** PEM (`-----BEGIN PRIVATE KEY-----`, PKCS#8 RSA) → DER bytes; throws PemError otherwise. */
export function pkcs8FromPem(pem: string): Uint8Array<ArrayBuffer> {
  const text = normalisePem(pem);
  if (text.includes("BEGIN RSA PRIVATE KEY")) {
    throw new PemError(
      "is a PKCS#1 key (BEGIN RSA PRIVATE KEY); Google service-account keys are PKCS#8 " +
        "(BEGIN PRIVATE KEY) — convert it with `openssl pkcs8 -topk8 -nocrypt`",
    );
  }
  if (text.includes("BEGIN ENCRYPTED PRIVATE KEY")) {
    throw new PemError("is an encrypted key; an unencrypted PKCS#8 key is required");
  }
  const m = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(text);
  if (!m) throw new PemError("is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)");
  const body = m[1].replace(/\s+/g, "");
  if (body === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw new PemError("is not valid base64 between the PEM markers");
  }
  let binary: string;
  try {
    binary = atob(body);
  } catch {
    throw new PemError("is not valid base64 between the PEM markers");
  }
  const der = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
  if (der.length < 64 || der[0] !== 0x30 || !hasRsaOid(der.subarray(0, 48))) {
    throw new PemError("is not a PKCS#8 RSA private key");
  }
  return der;
}

function hasRsaOid(head: Uint8Array): boolean {
  outer: for (let i = 0; i + RSA_OID.length <= head.length; i++) {
    for (let j = 0; j < RSA_OID.length; j++) if (head[i + j] !== RSA_OID[j]) continue outer;
    return true;
  }
  return false;
}

interface CachedKey {
  pem: string;
  key: Promise<CryptoKey>;
}

// Imported keys per private_key_id, so minting a token does not re-parse the PEM each time.
// Small and insertion-ordered: the oldest entry goes first when it is full.
const KEY_CACHE_SIZE = 64;
const keyCache = new Map<string, CachedKey>();

/**
 * Imports (or returns the cached) signing key for a service-account key. The cache is keyed by
 * `keyId` and checks the PEM too, so a re-uploaded key with a reused id is not served stale.
 */
export function importRs256Key(pem: string, keyId: string): Promise<CryptoKey> {
  const hit = keyCache.get(keyId);
  if (hit && hit.pem === pem) return hit.key;
  const der = pkcs8FromPem(pem);
  const key = crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const entry: CachedKey = { pem, key };
  keyCache.delete(keyId);
  keyCache.set(keyId, entry);
  if (keyCache.size > KEY_CACHE_SIZE) {
    const oldest = keyCache.keys().next().value;
    if (oldest !== undefined) keyCache.delete(oldest);
  }
  // A key WebCrypto refuses must not stay cached; the caller still sees the rejection.
  key.catch(() => {
    if (keyCache.get(keyId) === entry) keyCache.delete(keyId);
  });
  return key;
}

/** Number of cached keys (for tests). */
export function cachedKeyCount(): number {
  return keyCache.size;
}

/** `base64url(header).base64url(claims).base64url(RS256 signature)`. */
export async function signRs256Jwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: CryptoKey,
): Promise<string> {
  const input = `${base64UrlEncode(JSON.stringify(header))}.${
    base64UrlEncode(JSON.stringify(claims))
  }`;
  const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, encoder.encode(input));
  return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
}
