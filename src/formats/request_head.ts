import { RequestError } from "../errors.ts";

/**
 * What the gateway itself reads of a chat request before dispatch — routing (`model`), limits
 * (`messages`, `stream`), managed keys and stats. A same-format request is forwarded as its
 * bytes, so this is all that is checked of it: the upstream judges the rest in the client's
 * own format, as it would without the gateway. The full IR (zod validation and conversion) is
 * made only when a route converts.
 */
export interface RequestHead {
  model: string;
  stream: boolean;
  /** Entries of the conversation array (`messages`). */
  messages: number;
}

/**
 * The head of a body whose conversation is `messages` and whose model and stream flag are
 * top-level fields (OpenAI Chat, Anthropic Messages), checked with the same messages the full
 * schemas give for these fields.
 */
export function messagesHead(body: Record<string, unknown>): RequestHead {
  const model = body.model;
  if (typeof model !== "string") {
    throw invalid("model", "model is required and must be a string");
  }
  if (model === "") throw invalid("model", "model must not be empty");
  const messages = body.messages;
  if (!Array.isArray(messages)) {
    throw invalid("messages", "messages is required and must be an array");
  }
  if (messages.length === 0) {
    throw invalid("messages", "messages must contain at least one message");
  }
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    throw invalid("stream", "expected a boolean");
  }
  return { model, stream: stream === true, messages: messages.length };
}

function invalid(field: string, message: string): RequestError {
  return new RequestError(`Invalid value for '${field}': ${message}`);
}
