import type { IrPart } from "./types.ts";

/**
 * Claude Code opens its system prompt with `x-anthropic-billing-header: cc_version=…;
 * cch=<nonce>;`, a block whose nonce changes on every request. Anthropic reads it; for any
 * other upstream it is the first thing in the prompt, so their prefix caches never hit.
 */
export const BILLING_HEADER_PREFIX = "x-anthropic-billing-header:";

/** Whether a system part is Claude Code's billing-header block. */
export function isBillingHeader(part: IrPart): boolean {
  return part.type === "text" && part.text.trimStart().startsWith(BILLING_HEADER_PREFIX);
}

/** The system parts without Claude Code's billing-header block (the same array when absent). */
export function withoutBillingHeader(system: IrPart[]): IrPart[] {
  return system.some(isBillingHeader) ? system.filter((p) => !isBillingHeader(p)) : system;
}
