import { type ErrorKind, type GatewayError, isContextLengthError } from "../../errors.ts";

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
  context_length: "invalid_request_error",
  rate_limit: "rate_limit_error",
  quota: "insufficient_quota",
  upstream: "api_error",
  timeout: "timeout_error",
  internal: "server_error",
};

/**
 * Renders a gateway error in the OpenAI shape. A context-length error carries OpenAI's own
 * `context_length_exceeded` code (clients such as Codex compact the history on it) whatever
 * the upstream called it.
 */
export function toOpenAIError(err: GatewayError): OpenAIErrorBody {
  if (err.kind === "context_length") {
    return {
      error: {
        message: err.message,
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded",
      },
    };
  }
  const code = err.kind === "too_large" ? "request_too_large" : err.code ?? null;
  return { error: { message: err.message, type: TYPES[err.kind], param: null, code } };
}

/** The `type` and `code` of an OpenAI in-stream error chunk, from the IR error's status and text. */
export function openAIStreamErrorFields(
  status: number,
  message: string,
): { type: string; code: string | number } {
  if (status === 400 && isContextLengthError(message)) {
    return { type: "invalid_request_error", code: "context_length_exceeded" };
  }
  if (status === 413) return { type: "invalid_request_error", code: "request_too_large" };
  return { type: "api_error", code: status };
}
