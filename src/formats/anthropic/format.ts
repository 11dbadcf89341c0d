import { RequestError } from "../../errors.ts";
import { estimateInputTokens } from "../../ir/estimate_tokens.ts";
import type { IrRequest } from "../../ir/types.ts";
import type { ClientFormat } from "../client_format.ts";
import { describeIssue } from "../describe_issue.ts";
import { anthropicRequestToIr } from "./request.ts";
import { irResponseToAnthropic } from "./response.ts";
import { messagesRequestSchema } from "./schema.ts";
import { IrToAnthropicSseStream } from "./stream.ts";

/** Anthropic Messages (`POST /v1/messages`) as a client-facing format. */
export const anthropicFormat: ClientFormat = {
  id: "anthropic",
  caller: "anthropic",
  toIr(body) {
    const parsed = messagesRequestSchema.safeParse(body);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    return anthropicRequestToIr(parsed.data);
  },
  fromIrResponse: (res, req) => irResponseToAnthropic(res, req),
  encodeStream: (req) => ({
    contentType: "text/event-stream; charset=utf-8",
    stream: new IrToAnthropicSseStream(req),
  }),
};

/**
 * The `/v1/messages/count_tokens` answer, estimated locally: Claude Code calls it often and it
 * must never cost an upstream call (see `estimateInputTokens` for the rule).
 */
export function countTokensResponse(ir: IrRequest): { input_tokens: number } {
  return { input_tokens: estimateInputTokens(ir) };
}
