import { messagesHead } from "../request_head.ts";
import { RequestError } from "../../errors.ts";
import type { ClientFormat } from "../client_format.ts";
import { describeIssue } from "../describe_issue.ts";
import { chatRequestToIr } from "./request.ts";
import { irResponseToChat } from "./response.ts";
import { chatRequestSchema } from "./schema.ts";
import { irToChatSseTransformer } from "./stream.ts";

/** OpenAI Chat Completions as a client-facing format. */
export const openAIChatFormat: ClientFormat = {
  id: "openai_chat",
  caller: "openai",
  knownFields: new Set(Object.keys(chatRequestSchema.shape)),
  head: messagesHead,
  toIr(body) {
    const parsed = chatRequestSchema.safeParse(body);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    return chatRequestToIr(parsed.data);
  },
  fromIrResponse: (res) => irResponseToChat(res),
  encodeStream: (req) => ({
    contentType: "text/event-stream; charset=utf-8",
    transformer: irToChatSseTransformer({ includeUsage: req.includeUsage === true }),
  }),
};
