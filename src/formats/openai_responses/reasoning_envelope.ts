import { z } from "zod";
import type { IrOrigin } from "../../ir/types.ts";

/**
 * The `encrypted_content` of reasoning items this gateway emits. The gateway is stateless and
 * Responses clients (Codex with `store: false`) send reasoning items back verbatim on the next
 * turn, so `encrypted_content` is where backend-bound opaque data survives the round trip:
 * Anthropic thinking signatures / redacted thinking, Gemini thought signatures, and the
 * signatures Gemini attaches to function calls (keyed by call id, since a `function_call` item
 * has no field for them). OpenAI's own encrypted reasoning passes through untouched.
 */
export interface ReasoningEnvelope {
  origin?: IrOrigin;
  signature?: string;
  redacted?: string;
  /** Signatures of the function calls that follow this reasoning item. */
  calls?: Array<{ callId: string; signature: string; origin?: IrOrigin }>;
}

/** Marks our envelopes; anything else is treated as OpenAI's own encrypted reasoning. */
const PREFIX = "llmproxy.v1.";

const origin = z.enum(["openai", "anthropic", "gemini"]).optional();
const envelopeSchema = z.object({
  o: origin,
  s: z.string().optional(),
  r: z.string().optional(),
  c: z.array(z.object({ i: z.string(), s: z.string(), o: origin })).optional(),
});

/** Whether the envelope carries anything worth sending. */
export function hasEnvelopeData(env: ReasoningEnvelope): boolean {
  return env.signature !== undefined || env.redacted !== undefined ||
    (env.calls?.length ?? 0) > 0;
}

/** Envelope → `encrypted_content`, or undefined when there is nothing to carry. */
export function encodeEnvelope(env: ReasoningEnvelope): string | undefined {
  if (!hasEnvelopeData(env)) return undefined;
  // OpenAI's own encrypted reasoning goes back exactly as it came.
  if (
    env.origin === "openai" && env.redacted !== undefined && env.signature === undefined &&
    !env.calls?.length
  ) {
    return env.redacted;
  }
  const wire: z.input<typeof envelopeSchema> = {};
  if (env.origin) wire.o = env.origin;
  if (env.signature !== undefined) wire.s = env.signature;
  if (env.redacted !== undefined) wire.r = env.redacted;
  if (env.calls?.length) {
    wire.c = env.calls.map((c) => ({
      i: c.callId,
      s: c.signature,
      ...(c.origin ? { o: c.origin } : {}),
    }));
  }
  return PREFIX + toBase64Url(JSON.stringify(wire));
}

/** `encrypted_content` → envelope; foreign content is OpenAI's encrypted reasoning. */
export function decodeEnvelope(content: string): ReasoningEnvelope {
  const foreign: ReasoningEnvelope = { origin: "openai", redacted: content };
  if (!content.startsWith(PREFIX)) return foreign;
  let json: unknown;
  try {
    json = JSON.parse(fromBase64Url(content.slice(PREFIX.length)));
  } catch {
    return foreign;
  }
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) return foreign;
  const wire = parsed.data;
  const env: ReasoningEnvelope = {};
  if (wire.o) env.origin = wire.o;
  if (wire.s !== undefined) env.signature = wire.s;
  if (wire.r !== undefined) env.redacted = wire.r;
  if (wire.c?.length) {
    env.calls = wire.c.map((c) => ({
      callId: c.i,
      signature: c.s,
      ...(c.o ? { origin: c.o } : {}),
    }));
  }
  return env;
}

/** UTF-8 text → base64url without padding. */
export function toBase64Url(text: string): string {
  return new TextEncoder().encode(text).toBase64({ alphabet: "base64url", omitPadding: true });
}

/** base64url → UTF-8 text; throws on bytes that are not UTF-8. */
export function fromBase64Url(text: string): string {
  const bytes = Uint8Array.fromBase64(text, { alphabet: "base64url" });
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
