/**
 * Credential driver for `gemini-cli` accounts: Google OAuth tokens as Gemini CLI stores them in
 * `~/.gemini/oauth_creds.json`, refreshed at Google's token endpoint with the CLI's published
 * installed-app client, and a one-time Code Assist project discovery.
 */
import { z } from "zod";
import { RequestError } from "../../errors.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { discoverCodeAssistProject } from "./setup.ts";
import {
  type Account,
  type Credential,
  type CredentialDriver,
  type DriverContext,
  type OAuthCredential,
  RefreshRejectedError,
  type RefreshResult,
} from "../../accounts/types.ts";

export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
/**
 * Gemini CLI's OAuth client (packages/core/src/code_assist/oauth2.ts). An installed-app client:
 * Google documents that its "secret" is not confidential, so publishing it is expected.
 */
export const GEMINI_CLI_CLIENT_ID =
  "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
export const GEMINI_CLI_CLIENT_SECRET = "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";

const REFRESH_TIMEOUT_MS = 15_000;
/** OAuth errors that no retry will fix: the account must be signed in again. */
const REJECTED = new Set(["invalid_grant", "unauthorized_client", "invalid_client"]);

function fieldError(what: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined ? "is missing" : `must be ${what}`;
}

const EXPIRY_DATE = "must be a number (milliseconds since 1970)";
const optionalText = z.string({ error: fieldError("a string") }).nullish();

/** `oauth_creds.json`; unknown fields (other tools add some) are ignored. */
const credsFileSchema = z.looseObject({
  access_token: optionalText,
  refresh_token: z.string({ error: fieldError("a string") }).min(1, { error: "is empty" }),
  expiry_date: z.union([z.number(), z.string().regex(/^\d+$/, { error: EXPIRY_DATE })], {
    error: EXPIRY_DATE,
  }).nullish(),
  // Files written by Go's oauth2 package (and some converters) carry an RFC 3339 `expiry`.
  expiry: z.string({ error: fieldError("a date string") }).nullish(),
  token_type: optionalText,
  scope: optionalText,
  id_token: optionalText,
});

const tokenAnswerSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).nullish(),
  refresh_token: z.string().nullish(),
  id_token: z.string().nullish(),
  token_type: z.string().nullish(),
  scope: z.string().nullish(),
});

const tokenErrorSchema = z.looseObject({
  error: z.string().optional(),
  error_description: z.string().optional(),
});

function invalid(message: string): RequestError {
  return new RequestError(`Invalid gemini-cli credential: ${message}`, "invalid_credential");
}

/** Milliseconds since the epoch; a seconds value (some converters write those) is scaled. */
function expiryOf(file: z.infer<typeof credsFileSchema>): number {
  if (file.expiry_date !== undefined && file.expiry_date !== null) {
    const n = Number(file.expiry_date);
    return n > 0 && n < 1e11 ? n * 1000 : n;
  }
  if (file.expiry) {
    const ms = Date.parse(file.expiry);
    if (Number.isNaN(ms)) throw invalid("expiry must be an ISO 8601 date.");
    return ms;
  }
  // Unknown expiry: treat the access token as expired so the first use refreshes it.
  return 0;
}

function parseCredential(body: unknown): Credential {
  let value = body;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      throw invalid("the file is not valid JSON (expected ~/.gemini/oauth_creds.json).");
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("expected the JSON object of ~/.gemini/oauth_creds.json.");
  }
  if ((value as Record<string, unknown>).type === "service_account") {
    throw invalid(
      "this is a Google Cloud service-account key; add it to a provider of type vertex.",
    );
  }
  const parsed = credsFileSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "file"} ${i.message}`);
    throw invalid(`${problems.join("; ")} (expected ~/.gemini/oauth_creds.json).`);
  }
  const file = parsed.data;
  const access = file.access_token ?? "";
  const cred: OAuthCredential = {
    kind: "oauth",
    access_token: access,
    refresh_token: file.refresh_token,
    expiry_date: access === "" ? 0 : expiryOf(file),
  };
  if (file.token_type) cred.token_type = file.token_type;
  if (file.scope) cred.scope = file.scope;
  if (file.id_token) cred.id_token = file.id_token;
  return cred;
}

async function refresh(credential: Credential, ctx: DriverContext): Promise<RefreshResult> {
  if (credential.kind !== "oauth" || credential.refresh_token === "") {
    throw new RefreshRejectedError("The gemini-cli account has no OAuth refresh token.");
  }
  const url = ctx.provider.token_url ?? GOOGLE_TOKEN_URL;
  const clientSecret = ctx.provider.client_secret ?? GEMINI_CLI_CLIENT_SECRET;
  const secrets = [credential.refresh_token, credential.access_token, clientSecret];
  const form = new URLSearchParams({
    grant_type: "refresh_token",
    refresh_token: credential.refresh_token,
    client_id: ctx.provider.client_id ?? GEMINI_CLI_CLIENT_ID,
    client_secret: clientSecret,
  });
  // Expiry counts from before the request, so it never ends up later than Google's.
  const startedAt = Date.now();
  let res: Response;
  try {
    res = await (ctx.fetch ?? fetch)(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: form,
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(REFRESH_TIMEOUT_MS)]),
      redirect: "manual",
    });
  } catch {
    throw new Error(
      ctx.signal.aborted
        ? "The token refresh was cancelled."
        : `Google token endpoint ${new URL(url).host} is unreachable or did not answer.`,
    );
  }
  const text = await res.text().catch(() => "");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }

  if (!res.ok) {
    const err = tokenErrorSchema.safeParse(json);
    const code = err.success ? err.data.error : undefined;
    const description = err.success && err.data.error_description
      ? `: ${maskSecretsInText(err.data.error_description, secrets).slice(0, 300)}`
      : "";
    if ((res.status === 400 || res.status === 401) && code && REJECTED.has(code)) {
      throw new RefreshRejectedError(`Google refused the refresh token (${code})${description}`);
    }
    throw new Error(
      `Google token endpoint answered ${res.status}${code ? ` ${code}` : ""}${description}`,
    );
  }

  const answer = tokenAnswerSchema.safeParse(json);
  if (!answer.success) {
    throw new Error("Google token endpoint answered without an access token.");
  }
  const data = answer.data;
  const result: RefreshResult = {
    access_token: data.access_token,
    // Google answers ≈3599 s; an answer without it is treated as a one-hour token.
    expiry_date: startedAt + (data.expires_in ?? 3600) * 1000,
  };
  // Google does not rotate refresh tokens, but if it ever sends one it must be kept.
  if (data.refresh_token) result.refresh_token = data.refresh_token;
  if (data.id_token) result.id_token = data.id_token;
  return result;
}

async function prepare(
  account: Account,
  accessToken: string,
  ctx: DriverContext,
): Promise<{ project_id?: string }> {
  // A project the user named wins over discovery.
  if (account.project_from_user && account.project_id) return { project_id: account.project_id };
  const project = await discoverCodeAssistProject({
    provider: ctx.provider,
    accessToken,
    signal: ctx.signal,
    ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
  });
  return { project_id: project };
}

/** Gemini CLI OAuth accounts (Google Code Assist). */
export const geminiCliDriver: CredentialDriver = {
  type: "gemini-cli",
  parseCredential,
  refresh,
  prepare,
};
