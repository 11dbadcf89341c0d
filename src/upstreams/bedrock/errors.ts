import { UpstreamError } from "../../errors.ts";
import { maskSecretsInText } from "../../observe/mask.ts";
import { parseRetryAfter } from "../fetch_upstream.ts";

/**
 * Bedrock errors name their type in `x-amzn-ErrorType` (`ThrottlingException:http://…`) or the
 * body's `__type`, with `{"message": "…"}` as the body. In event streams the same types arrive
 * in lowerCamelCase (`throttlingException`). The status the gateway answers with:
 * - throttling, quota and "model not ready" → 429, so the verdict rules bench the credential;
 * - a refused key or signature → 401, so the account is marked failed (static keys cannot be
 *   refreshed);
 * - AWS server-side failures → 502 (504 for a model timeout); the rest keep AWS's 4xx.
 */
const STATUS_BY_TYPE: Readonly<Record<string, number>> = {
  throttlingexception: 429,
  servicequotaexceededexception: 429,
  modelnotreadyexception: 429,
  toomanyrequestsexception: 429,
  unrecognizedclientexception: 401,
  invalidsignatureexception: 401,
  expiredtokenexception: 401,
  invalidclienttokenid: 401,
  accessdeniedexception: 403,
  validationexception: 400,
  resourcenotfoundexception: 404,
  modeltimeoutexception: 504,
  modelerrorexception: 502,
  modelstreamerrorexception: 502,
  internalserverexception: 502,
  serviceunavailableexception: 502,
};

/** The gateway status for a Bedrock error type (any casing); unknown types are 502. */
export function bedrockErrorStatus(type: string): number {
  return STATUS_BY_TYPE[type.toLowerCase()] ?? 502;
}

/** `ThrottlingException` from `ThrottlingException:http://internal.amazon.com/…` or `ns#Type`. */
function typeName(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  const name = raw.split(":")[0].split("#").pop()?.trim();
  return name ? name : undefined;
}

/** A failed Bedrock answer → UpstreamError (masked message, AWS type as the code). */
export async function bedrockError(res: Response, secrets: string[]): Promise<UpstreamError> {
  const raw = await res.text().catch(() => "");
  const text = maskSecretsInText(raw, secrets);
  let body: { message?: unknown; Message?: unknown; __type?: unknown } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const type = typeName(res.headers.get("x-amzn-errortype")) ??
    typeName(typeof body?.__type === "string" ? body.__type : undefined);
  const detail = typeof body?.message === "string"
    ? body.message
    : typeof body?.Message === "string"
    ? body.Message
    : text.slice(0, 300);
  const status = type
    ? bedrockErrorStatus(type)
    : res.status === 429
    ? 429
    : res.status >= 500 || res.status < 400
    ? 502
    : res.status;
  const message = `Bedrock answered ${res.status}${type ? ` ${type}` : ""}${
    detail ? `: ${detail}` : ""
  }`;
  return new UpstreamError(status, message, {
    code: type ?? "upstream_error",
    retryAfter: parseRetryAfter(res.headers.get("retry-after")),
  });
}
