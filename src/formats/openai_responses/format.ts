import { RequestError } from "../../errors.ts";
import type { ClientFormat } from "../client_format.ts";
import { describeIssue } from "../describe_issue.ts";
import { responsesRequestToIr } from "./request.ts";
import { irResponseToResponses } from "./response.ts";
import { responsesRequestSchema } from "./schema.ts";
import { irToResponsesSseTransformer } from "./stream.ts";

/** OpenAI Responses (`POST /v1/responses`) as a client-facing format; errors use the OpenAI shape. */
export const openAIResponsesFormat: ClientFormat = {
  id: "openai_responses",
  caller: "openai",
  knownFields: new Set(Object.keys(responsesRequestSchema.shape)),
  toIr(body) {
    const parsed = responsesRequestSchema.safeParse(body);
    if (!parsed.success) throw new RequestError(describeIssue(parsed.error.issues[0]));
    return responsesRequestToIr(parsed.data);
  },
  fromIrResponse: (res, req) => irResponseToResponses(res, req),
  encodeStream: (req) => ({
    contentType: "text/event-stream; charset=utf-8",
    transformer: irToResponsesSseTransformer(req),
  }),
};
