import {
  describeTokenError,
  parseTokenAnswer,
  postTokenForm,
} from "../../accounts/token_endpoint.ts";
import { z } from "zod";
import { RequestError } from "../../errors.ts";
import { qwenApiBaseUrl } from "./base_url.ts";
import {
  type Credential,
  type CredentialDriver,
  type DriverContext,
  type OAuthCredential,
  RefreshRejectedError,
  type RefreshResult,
} from "../../accounts/types.ts";

/** Qwen Code's token endpoint and published OAuth client (public; no secret). */
export const QWEN_TOKEN_URL = "https://chat.qwen.ai/api/v1/oauth2/token";
export const QWEN_CLIENT_ID = "f0304373b74a44d2b584a3fb70ca9e56";

/** Upper bound for one refresh call, whatever the provider's (long, streaming) timeout is. */
const REFRESH_TIMEOUT_MS = 30_000;

/** Lifetime assumed when the answer carries no `expires_in` (Qwen's tokens last hours). */
const DEFAULT_EXPIRES_IN_S = 3600;

const token = z.string({ error: "expected a string" }).trim().min(1, {
  error: "must not be empty",
});

/** `~/.qwen/oauth_creds.json` as qwen-code writes it. */
const credsSchema = z.looseObject({
  access_token: token,
  refresh_token: token,
  token_type: z.string({ error: "expected a string" }).optional(),
  resource_url: z.string({ error: "expected a string" }).optional().refine(
    (v) => v === undefined || v.trim() === "" || isUsableResourceUrl(v),
    { error: "expected a host name such as portal.qwen.ai" },
  ),
  expiry_date: z.number({ error: "expected milliseconds since the epoch" }).finite()
    .nonnegative({ error: "expected milliseconds since the epoch" }).optional(),
  id_token: z.string({ error: "expected a string" }).optional(),
});

function isUsableResourceUrl(v: string): boolean {
  try {
    qwenApiBaseUrl(v);
    return true;
  } catch {
    return false;
  }
}

/** The token endpoint's answer; everything optional so a partial answer is still usable. */
const tokenAnswerSchema = z.looseObject({
  access_token: z.string().optional(),
  refresh_token: z.string().optional(),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().optional(),
  resource_url: z.string().optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});

type TokenAnswer = z.infer<typeof tokenAnswerSchema>;

/** Qwen Code OAuth accounts: rotating refresh tokens, OpenAI-compatible API per resource_url. */
export const qwenDriver: CredentialDriver = {
  type: "qwen",

  parseCredential(body: unknown): Credential {
    const parsed = credsSchema.safeParse(jsonBody(body));
    if (!parsed.success) {
      throw new RequestError(
        `Invalid Qwen credential (oauth_creds.json): ${describeIssues(parsed.error)}`,
        "invalid_credential",
      );
    }
    const c = parsed.data;
    const credential: OAuthCredential = {
      kind: "oauth",
      access_token: c.access_token,
      refresh_token: c.refresh_token,
      // No expiry means "unknown": treat the token as expired so the first use refreshes it.
      expiry_date: c.expiry_date ?? 0,
    };
    if (c.token_type) credential.token_type = c.token_type;
    if (c.resource_url?.trim()) credential.resource_url = c.resource_url.trim();
    if (c.id_token) credential.id_token = c.id_token;
    return credential;
  },

  async refresh(credential: Credential, ctx: DriverContext): Promise<RefreshResult> {
    if (credential.kind !== "oauth") {
      throw new Error("The qwen driver needs an OAuth credential.");
    }
    const secrets = [credential.refresh_token, credential.access_token];
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: credential.refresh_token,
      client_id: ctx.provider.client_id ?? QWEN_CLIENT_ID,
    });
    const res = await postTokenForm(ctx, ctx.provider.token_url ?? QWEN_TOKEN_URL, form, {
      name: "Qwen",
      timeoutMs: REFRESH_TIMEOUT_MS,
    });
    const text = await res.text().catch(() => "");
    const answer = parseTokenAnswer(tokenAnswerSchema, text);

    if (!res.ok || answer?.error) {
      const reason = describeTokenError(res.status, answer, text, secrets);
      // qwen-code treats any 400/401 from a refresh as a dead refresh token (it clears the
      // stored credentials); so do we, as does an explicit invalid_grant in any answer.
      if (res.status === 400 || res.status === 401 || answer?.error === "invalid_grant") {
        throw new RefreshRejectedError(`Qwen refused the refresh token (${reason}).`);
      }
      throw new Error(`Qwen token refresh failed (${reason}).`);
    }
    if (!answer?.access_token) {
      throw new Error(`Qwen token refresh failed (${res.status}: no access_token in the answer).`);
    }
    const expiresIn = answer.expires_in !== undefined && Number.isFinite(answer.expires_in) &&
        answer.expires_in > 0
      ? answer.expires_in
      : DEFAULT_EXPIRES_IN_S;
    const result: RefreshResult = {
      access_token: answer.access_token,
      expiry_date: Date.now() + expiresIn * 1000,
    };
    // Qwen rotates refresh tokens: the old one is now dead, the caller must store this one.
    if (answer.refresh_token) result.refresh_token = answer.refresh_token;
    if (answer.resource_url?.trim() && isUsableResourceUrl(answer.resource_url)) {
      result.resource_url = answer.resource_url.trim();
    }
    return result;
  },
};

/** Accepts the parsed JSON object or the file's text. */
function jsonBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    throw new RequestError("Invalid Qwen credential: the file is not JSON.", "invalid_credential");
  }
}

/** `field: problem` for each zod issue; zod's messages here never contain the input values. */
function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "credential"}: ${i.message}`).join("; ");
}
