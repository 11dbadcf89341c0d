import type { IrOrigin } from "../../ir/types.ts";

/**
 * Anthropic clients (Claude Code) hand thinking blocks back verbatim on the next turn, and the
 * `signature`/`data` fields are opaque to them. When the reasoning came from another family
 * (a Gemini thoughtSignature, OpenAI encrypted reasoning) we tag the value with its origin, so
 * that when the history returns it goes back to the family that can validate it instead of
 * being mistaken for an Anthropic signature.
 */
const TAG = "llmproxy.";
const ORIGINS: readonly IrOrigin[] = ["openai", "anthropic", "gemini"];

/** The value to show an Anthropic client for a signature (or redacted data) of `origin`. */
export function signatureToClient(value: string, origin: IrOrigin | undefined): string {
  if (origin === undefined || origin === "anthropic") return value;
  return `${TAG}${origin}.${value}`;
}

/** Reads a signature (or redacted data) an Anthropic client sent back. */
export function signatureFromClient(value: string): { value: string; origin: IrOrigin } {
  if (value.startsWith(TAG)) {
    const rest = value.slice(TAG.length);
    const dot = rest.indexOf(".");
    const origin = rest.slice(0, dot) as IrOrigin;
    if (dot > 0 && ORIGINS.includes(origin)) return { value: rest.slice(dot + 1), origin };
  }
  return { value, origin: "anthropic" };
}
