import type { ErrorKind, GatewayError } from "../../errors.ts";

/** Anthropic error body: `{ type: "error", error: { type, message } }`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

const TYPES: Record<ErrorKind, string> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  not_found: "not_found_error",
  too_large: "request_too_large",
  rate_limit: "rate_limit_error",
  upstream: "api_error",
  timeout: "timeout_error",
  internal: "api_error",
};

/** Renders a gateway error in the Anthropic shape. */
export function toAnthropicError(err: GatewayError): AnthropicErrorBody {
  return { type: "error", error: { type: TYPES[err.kind], message: err.message } };
}
