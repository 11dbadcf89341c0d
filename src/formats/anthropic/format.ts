import { messagesHead } from "../request_head.ts";
import { RequestError } from "../../errors.ts";
import type { ClientFormat } from "../client_format.ts";
import { describeIssue } from "../describe_issue.ts";
import { anthropicRequestToIr } from "./request.ts";
import { irResponseToAnthropic } from "./response.ts";
import { messagesRequestSchema } from "./schema.ts";
import { irToAnthropicSseTransformer } from "./stream.ts";

/** Anthropic Messages (`POST /v1/messages`) as a client-facing format. */
export const anthropicFormat: ClientFormat = {
  id: "anthropic",
  caller: "anthropic",
  knownFields: new Set(Object.keys(messagesRequestSchema.shape)),
  head: messagesHead,
  toIr(body) {
    const parsed = messagesRequestSchema.safeParse(body);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    return anthropicRequestToIr(parsed.data);
  },
  fromIrResponse: (res, req) => irResponseToAnthropic(res, req),
  encodeStream: (req) => ({
    contentType: "text/event-stream; charset=utf-8",
    transformer: irToAnthropicSseTransformer(req),
  }),
};

/** The `/v1/messages/count_tokens` answer body. */
export function countTokensResponse(tokens: number): { input_tokens: number } {
  return { input_tokens: tokens };
}
