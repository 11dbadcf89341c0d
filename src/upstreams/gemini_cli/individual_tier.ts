import { AccountUnsupportedError } from "../../accounts/types.ts";

/**
 * Since 2026-06-18 Google serves Gemini CLI's OAuth client (Code Assist) only to paid Code
 * Assist Standard and Enterprise licences. Individual (free) and Google One (AI Pro/Ultra)
 * accounts are refused with "This client is no longer supported for Gemini Code Assist for
 * individuals…" — in `loadCodeAssist` as an ineligible tier with reason `UNSUPPORTED_CLIENT`,
 * or as the error of a generate call. Such an account can never work again: it is marked with
 * this reason instead of being retried.
 */
export const INDIVIDUAL_TIER_ENDED =
  "Google stopped serving Gemini CLI (Code Assist) to individual and Google One accounts on 2026-06-18; only Code Assist Standard and Enterprise licences are served";

const REFUSAL = /no longer supported for Gemini Code Assist for individuals/i;

/** Whether a Google message or reason code is the individual-tier refusal. */
export function isIndividualTierRefusal(
  text: string | null | undefined,
  code?: string | null,
): boolean {
  return code === "UNSUPPORTED_CLIENT" || REFUSAL.test(text ?? "");
}

/** The error that marks the account, quoting Google's own words. */
export function individualTierError(google: string | null | undefined): AccountUnsupportedError {
  const said = (google ?? "").trim().slice(0, 300);
  return new AccountUnsupportedError(
    `${INDIVIDUAL_TIER_ENDED}${said ? ` (Google: "${said}")` : ""}.`,
  );
}
