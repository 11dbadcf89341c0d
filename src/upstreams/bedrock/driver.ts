import { z } from "zod";
import { RequestError } from "../../errors.ts";
import type { Credential, CredentialDriver } from "../../accounts/types.ts";

const field = z.string({ error: "expected a string" }).trim().min(1, {
  error: "must not be empty",
});

/**
 * `{access_key_id, secret_access_key, session_token?}`; the AWS CLI's names (`AccessKeyId`,
 * `SecretAccessKey`, `SessionToken`, as `aws sts` and `aws configure export-credentials`
 * print them) are accepted too.
 */
const keysSchema = z.object({
  access_key_id: field.regex(/^[A-Z0-9]{16,128}$/, {
    error: "expected an AWS access key id (letters and digits, e.g. AKIA…)",
  }),
  secret_access_key: field.min(16, { error: "is too short for an AWS secret access key" }),
  session_token: field.optional(),
});

/**
 * Amazon Bedrock accounts: AWS access keys that sign each request (SigV4). Nothing to refresh;
 * a key AWS refuses marks its account failed (`AccountManager.relogin`).
 */
export const bedrockDriver: CredentialDriver = {
  type: "bedrock",

  parseCredential(body: unknown): Credential {
    const input = normalise(jsonBody(body));
    const parsed = keysSchema.safeParse(input);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) =>
        `${i.path.join(".") || "credential"}: ${i.message}`
      ).join("; ");
      throw new RequestError(`Invalid AWS access keys: ${issues}`, "invalid_credential");
    }
    const k = parsed.data;
    return {
      kind: "aws_access_key",
      access_key_id: k.access_key_id,
      secret_access_key: k.secret_access_key,
      ...(k.session_token ? { session_token: k.session_token } : {}),
    };
  },

  refresh(): Promise<never> {
    // The account manager never refreshes static keys; reaching this is a wiring mistake.
    return Promise.reject(new Error("AWS access keys have no token to refresh."));
  },
};

function normalise(body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return body;
  const b = body as Record<string, unknown>;
  const creds = typeof b.Credentials === "object" && b.Credentials !== null
    ? b.Credentials as Record<string, unknown>
    : b;
  return {
    access_key_id: creds.access_key_id ?? creds.AccessKeyId,
    secret_access_key: creds.secret_access_key ?? creds.SecretAccessKey,
    session_token: creds.session_token ?? creds.SessionToken ?? undefined,
  };
}

function jsonBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    throw new RequestError("Invalid AWS access keys: the file is not JSON.", "invalid_credential");
  }
}
