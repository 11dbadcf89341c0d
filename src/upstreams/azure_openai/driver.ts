import { z } from "zod";
import {
  describeTokenError,
  parseTokenAnswer,
  postTokenForm,
} from "../../accounts/token_endpoint.ts";
import {
  type Credential,
  type CredentialDriver,
  type DriverContext,
  RefreshRejectedError,
  type RefreshResult,
} from "../../accounts/types.ts";
import { RequestError } from "../../errors.ts";

/** The scope Azure OpenAI (Cognitive Services) tokens are minted for. */
export const COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default";
const REFRESH_TIMEOUT_MS = 30_000;
const DEFAULT_EXPIRES_IN_S = 3599;

/** `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, or the provider's token_url. */
export function entraTokenUrl(tenantId: string, tokenUrl: string | undefined): string {
  return tokenUrl ??
    `https://login.microsoftonline.com/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;
}

const field = z.string({ error: "expected a string" }).trim().min(1, {
  error: "must not be empty",
});

const appSchema = z.object({
  tenant_id: field.regex(/^[\w.-]+$/, { error: "expected a tenant id (GUID) or domain" }),
  client_id: field,
  client_secret: field,
});

const tokenAnswerSchema = z.looseObject({
  access_token: z.string().optional(),
  expires_in: z.coerce.number().optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});

/**
 * Entra errors that mean the app registration itself is dead: a wrong or expired secret
 * (AADSTS7000215 / 7000222 → invalid_client), an app or tenant that no longer exists
 * (unauthorized_client, AADSTS700016, AADSTS90002).
 */
function isRejection(status: number, error: string | undefined, description: string): boolean {
  if (status >= 500 || !error) return false;
  return error === "invalid_client" || error === "unauthorized_client" ||
    /AADSTS(7000215|7000222|700016|90002)\b/.test(description);
}

/**
 * Azure OpenAI with Microsoft Entra ID: an app registration's client secret is exchanged for
 * an access token (client credentials grant) that lives about an hour; the account manager
 * refreshes it on demand and the cron keeps idle ones exercised.
 */
export const azureOpenAIDriver: CredentialDriver = {
  type: "azure-openai",
  takesApiKeys: true,

  parseCredential(body: unknown): Credential {
    const parsed = appSchema.safeParse(normalise(jsonBody(body)));
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) =>
        `${i.path.join(".") || "credential"}: ${i.message}`
      ).join("; ");
      throw new RequestError(
        `Invalid Entra ID app registration: ${issues} (expected {tenant_id, client_id, client_secret}; API keys go in the provider's api_keys)`,
        "invalid_credential",
      );
    }
    return { kind: "entra_client", ...parsed.data };
  },

  async refresh(credential: Credential, ctx: DriverContext): Promise<RefreshResult> {
    if (credential.kind !== "entra_client") {
      throw new Error("The azure-openai driver needs an Entra ID app registration.");
    }
    const res = await postTokenForm(
      ctx,
      entraTokenUrl(credential.tenant_id, ctx.provider.token_url),
      new URLSearchParams({
        grant_type: "client_credentials",
        client_id: credential.client_id,
        client_secret: credential.client_secret,
        scope: COGNITIVE_SERVICES_SCOPE,
      }),
      { name: "Entra ID", timeoutMs: REFRESH_TIMEOUT_MS },
    );
    const text = await res.text().catch(() => "");
    const answer = parseTokenAnswer(tokenAnswerSchema, text);
    const secrets = [
      credential.client_secret,
      ...(credential.access_token ? [credential.access_token] : []),
    ];
    if (!res.ok || answer?.error) {
      const reason = describeTokenError(res.status, answer, text, secrets);
      if (isRejection(res.status, answer?.error, answer?.error_description ?? "")) {
        throw new RefreshRejectedError(`Entra ID refused the app registration (${reason}).`);
      }
      throw new Error(`Entra ID token request failed (${reason}).`);
    }
    if (!answer?.access_token) {
      throw new Error(`Entra ID token request failed (${res.status}: no access_token).`);
    }
    const expiresIn = answer.expires_in !== undefined && answer.expires_in > 0
      ? answer.expires_in
      : DEFAULT_EXPIRES_IN_S;
    return { access_token: answer.access_token, expiry_date: Date.now() + expiresIn * 1000 };
  },
};

/** `az ad sp create-for-rbac` prints `{appId, password, tenant}`: accepted as it is. */
function normalise(body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const b = body as Record<string, unknown>;
  return {
    tenant_id: b.tenant_id ?? b.tenantId ?? b.tenant,
    client_id: b.client_id ?? b.clientId ?? b.appId,
    client_secret: b.client_secret ?? b.clientSecret ?? b.password,
  };
}

function jsonBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    throw new RequestError(
      "Invalid Entra ID app registration: the file is not JSON.",
      "invalid_credential",
    );
  }
}
