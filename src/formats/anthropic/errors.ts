import {
  type ErrorKind,
  type GatewayError,
  isContextLengthError,
  PROMPT_TOO_LONG,
} from "../../errors.ts";

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
  context_length: "invalid_request_error",
  rate_limit: "rate_limit_error",
  quota: "billing_error",
  upstream: "api_error",
  timeout: "timeout_error",
  internal: "api_error",
};

/** Renders a gateway error in the Anthropic shape. */
export function toAnthropicError(err: GatewayError): AnthropicErrorBody {
  const message = err.kind === "context_length" ? promptTooLong(err.message) : err.message;
  return { type: "error", error: { type: TYPES[err.kind], message } };
}

/**
 * A context-length error in Anthropic's wording: Claude Code compacts the conversation when a
 * 400's message starts with "prompt is too long", so other providers' wording gets that opening.
 */
export function promptTooLong(message: string): string {
  return message.toLowerCase().startsWith(PROMPT_TOO_LONG)
    ? message
    : `${PROMPT_TOO_LONG}: ${message}`;
}

/** The message of an in-stream Anthropic error: context-length errors in Anthropic's wording. */
export function anthropicStreamErrorMessage(status: number, message: string): string {
  return status === 400 && isContextLengthError(message) ? promptTooLong(message) : message;
}

/** The Anthropic error type for an HTTP status (used for in-stream `event: error`). */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return "api_error";
  }
}

/** The HTTP status Anthropic documents for an error type (inverse of `anthropicErrorType`). */
export function statusForAnthropicErrorType(type: string | null | undefined): number {
  switch (type) {
    case "invalid_request_error":
      return 400;
    case "authentication_error":
      return 401;
    case "billing_error":
      return 402;
    case "permission_error":
      return 403;
    case "not_found_error":
      return 404;
    case "request_too_large":
      return 413;
    case "rate_limit_error":
      return 429;
    case "timeout_error":
      return 504;
    case "overloaded_error":
      return 529;
    default:
      return 500;
  }
}
