/**
 * Masks a secret for display: `sk-abcdef123456` → `sk-ab****3456`.
 * Short secrets show nothing but their length class, so masking never reveals most of a key.
 */
export function maskSecret(secret: string): string {
  if (secret.length <= 8) return "****";
  if (secret.length <= 12) return `${secret.slice(0, 2)}****${secret.slice(-2)}`;
  return `${secret.slice(0, 5)}****${secret.slice(-4)}`;
}

// Bearer tokens, OpenAI/Anthropic-style keys, Google API keys and OAuth access tokens.
const SECRET_PATTERNS: RegExp[] = [
  /\b(Bearer\s+)([A-Za-z0-9._~+\/=-]{8,})/gi,
  /\b(sk-[A-Za-z0-9_-]{6,})/g,
  /\b(AIza[0-9A-Za-z_-]{20,})/g,
  /\b(ya29\.[0-9A-Za-z._-]{10,})/g,
  /\b(gsk_[A-Za-z0-9]{10,})/g,
];

/** Masks every secret-looking substring of free text (log lines, error messages). */
export function maskSecretsInText(text: string, known: Iterable<string> = []): string {
  let out = text;
  for (const secret of known) {
    if (secret.length >= 4 && out.includes(secret)) {
      out = out.split(secret).join(maskSecret(secret));
    }
  }
  for (const re of SECRET_PATTERNS) {
    out = out.replace(
      re,
      (_m, a: string, b: unknown) => typeof b === "string" ? a + maskSecret(b) : maskSecret(a),
    );
  }
  return out;
}
