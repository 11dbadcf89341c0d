import {
  describeTokenError,
  parseTokenAnswer,
  postTokenForm,
} from "../../accounts/token_endpoint.ts";
import { z } from "zod";
import { RequestError } from "../../errors.ts";
import {
  type Credential,
  type CredentialDriver,
  type DriverContext,
  RefreshRejectedError,
  type RefreshResult,
  type ServiceAccountCredential,
} from "../../accounts/types.ts";
import {
  importRs256Key,
  normalisePem,
  PemError,
  pkcs8FromPem,
  signRs256Jwt,
} from "./google_jwt.ts";

export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
export const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** Google caps assertion lifetimes at one hour. */
const ASSERTION_LIFETIME_S = 3600;
const REFRESH_TIMEOUT_MS = 30_000;
const DEFAULT_EXPIRES_IN_S = 3599;

const nonEmpty = z.string({ error: "expected a string" }).trim().min(1, {
  error: "must not be empty",
});

/** The service-account key JSON Google Cloud hands out (extra fields are ignored). */
const keySchema = z.looseObject({
  type: z.literal("service_account", {
    error: 'expected "service_account" (upload a service-account key, not user credentials)',
  }),
  project_id: nonEmpty,
  private_key_id: nonEmpty,
  private_key: nonEmpty,
  client_email: nonEmpty.refine((v) => v.includes("@"), { error: "expected an email address" }),
  token_uri: z.url({ error: "expected a URL" }).refine(
    (u) => u.startsWith("https://") || u.startsWith("http://"),
    { error: "expected an http(s) URL" },
  ).optional(),
});

const tokenAnswerSchema = z.looseObject({
  access_token: z.string().optional(),
  expires_in: z.coerce.number().optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});

type TokenAnswer = z.infer<typeof tokenAnswerSchema>;

/** Errors that mean the key itself is dead (deleted, disabled, or its account is gone). */
const REJECTING_ERRORS = new Set(["invalid_grant", "invalid_client", "unauthorized_client"]);

/**
 * Google Cloud service accounts for Vertex AI: no refresh token; each "refresh" mints a new
 * access token from a JWT signed with the account's private key.
 */
export const vertexDriver: CredentialDriver = {
  type: "vertex",

  parseCredential(body: unknown): Credential {
    const parsed = keySchema.safeParse(jsonBody(body));
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) =>
        `${i.path.join(".") || "credential"}: ${i.message}`
      ).join("; ");
      throw new RequestError(`Invalid Vertex service-account key: ${issues}`, "invalid_credential");
    }
    const k = parsed.data;
    const privateKey = normalisePem(k.private_key);
    try {
      pkcs8FromPem(privateKey);
    } catch (err) {
      if (!(err instanceof PemError)) throw err;
      throw new RequestError(
        `Invalid Vertex service-account key: private_key ${err.message}`,
        "invalid_credential",
      );
    }
    return {
      kind: "service_account",
      client_email: k.client_email,
      private_key: privateKey,
      private_key_id: k.private_key_id,
      project_id: k.project_id,
      token_uri: k.token_uri ?? GOOGLE_TOKEN_URL,
    };
  },

  async refresh(credential: Credential, ctx: DriverContext): Promise<RefreshResult> {
    if (credential.kind !== "service_account") {
      throw new Error("The vertex driver needs a service-account credential.");
    }
    const tokenUrl = ctx.provider.token_url ?? credential.token_uri;
    const assertion = await mintAssertion(credential, tokenUrl);
    const res = await postTokenForm(
      ctx,
      tokenUrl,
      new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }),
      { name: "Google", timeoutMs: REFRESH_TIMEOUT_MS },
    );
    const text = await res.text().catch(() => "");
    const answer = parseTokenAnswer(tokenAnswerSchema, text);
    const secrets = [assertion, ...(credential.access_token ? [credential.access_token] : [])];

    if (!res.ok || answer?.error) {
      const reason = describeTokenError(res.status, answer, text, secrets);
      if (isRejection(res.status, answer)) {
        throw new RefreshRejectedError(`Google refused the service-account key (${reason}).`);
      }
      throw new Error(`Vertex token request failed (${reason}).`);
    }
    if (!answer?.access_token) {
      throw new Error(`Vertex token request failed (${res.status}: no access_token).`);
    }
    const expiresIn = answer.expires_in !== undefined && Number.isFinite(answer.expires_in) &&
        answer.expires_in > 0
      ? answer.expires_in
      : DEFAULT_EXPIRES_IN_S;
    return { access_token: answer.access_token, expiry_date: Date.now() + expiresIn * 1000 };
  },
};

/** The signed JWT Google exchanges for an access token; `aud` is the endpoint it is sent to. */
async function mintAssertion(
  credential: ServiceAccountCredential,
  tokenUrl: string,
): Promise<string> {
  let key: CryptoKey;
  try {
    key = await importRs256Key(credential.private_key, credential.private_key_id);
  } catch {
    // A key that cannot be loaded will never work: mark the account instead of retrying.
    throw new RefreshRejectedError("The service-account private key could not be loaded.");
  }
  const iat = Math.floor(Date.now() / 1000);
  return await signRs256Jwt(
    { alg: "RS256", typ: "JWT", kid: credential.private_key_id },
    {
      iss: credential.client_email,
      scope: CLOUD_PLATFORM_SCOPE,
      aud: tokenUrl,
      iat,
      exp: iat + ASSERTION_LIFETIME_S,
    },
    key,
  );
}

/**
 * invalid_grant also covers assertions rejected for their timestamps, which means our clock is
 * off, not that the key is dead; those stay ordinary (retryable) errors.
 */
function isRejection(status: number, answer: TokenAnswer | undefined): boolean {
  if (status >= 500 || !answer?.error || !REJECTING_ERRORS.has(answer.error)) return false;
  const description = answer.error_description ?? "";
  return !/\b(iat|exp)\b|timeframe|clock/i.test(description);
}

function jsonBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    throw new RequestError(
      "Invalid Vertex service-account key: the file is not JSON.",
      "invalid_credential",
    );
  }
}
