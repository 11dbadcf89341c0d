import type { ErrorKind, GatewayError } from "../../errors.ts";

/** OpenAI error body: `{ error: { message, type, param, code } }`. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const TYPES: Record<ErrorKind, string> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  not_found: "invalid_request_error",
  too_large: "invalid_request_error",
  rate_limit: "rate_limit_error",
  quota: "insufficient_quota",
  upstream: "api_error",
  timeout: "timeout_error",
  internal: "server_error",
};

/** Renders a gateway error in the OpenAI shape. */
export function toOpenAIError(err: GatewayError): OpenAIErrorBody {
  return {
    error: { message: err.message, type: TYPES[err.kind], param: null, code: err.code ?? null },
  };
}
