import type { ErrorKind, GatewayError } from "../../errors.ts";

/** Google API error body: `{ error: { code, message, status } }`. */
export interface GeminiErrorBody {
  error: { code: number; message: string; status: string };
}

const STATUSES: Record<ErrorKind, string> = {
  invalid_request: "INVALID_ARGUMENT",
  authentication: "UNAUTHENTICATED",
  permission: "PERMISSION_DENIED",
  not_found: "NOT_FOUND",
  too_large: "INVALID_ARGUMENT",
  context_length: "INVALID_ARGUMENT",
  rate_limit: "RESOURCE_EXHAUSTED",
  quota: "RESOURCE_EXHAUSTED",
  upstream: "UNAVAILABLE",
  timeout: "DEADLINE_EXCEEDED",
  internal: "INTERNAL",
};

/** Renders a gateway error in the Gemini (Google RPC) shape. */
export function toGeminiError(err: GatewayError): GeminiErrorBody {
  return { error: { code: err.status, message: err.message, status: STATUSES[err.kind] } };
}
