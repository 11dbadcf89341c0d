/**
 * AES-GCM encryption of credential records at rest, keyed by `KV_ENCRYPTION_KEY`.
 * The key string is stretched with SHA-256 into a 256-bit AES key, so any long random
 * string works (e.g. `openssl rand -base64 32`). Each record gets a fresh 96-bit IV.
 */
export class SecretBox {
  readonly #key: Promise<CryptoKey>;

  constructor(secret: string) {
    this.#key = crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret)).then((raw) =>
      crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"])
    );
  }

  /** JSON value → `v1.<iv>.<ciphertext>` (base64url). */
  async seal(value: unknown): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plain = new TextEncoder().encode(JSON.stringify(value));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await this.#key, plain);
    return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
  }

  /** Reverses `seal`; throws when the key is wrong or the data was tampered with. */
  async open(sealed: string): Promise<unknown> {
    const [version, iv, data] = sealed.split(".");
    if (version !== "v1" || !iv || !data) throw new Error("unknown sealed format");
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64Url(iv) },
      await this.#key,
      fromBase64Url(data),
    );
    return JSON.parse(new TextDecoder().decode(plain));
  }
}

function toBase64Url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
