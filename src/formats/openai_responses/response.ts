import type {
  IrFinishReason,
  IrOrigin,
  IrRequest,
  IrResponse,
  IrUsage,
  JsonObject,
} from "../../ir/types.ts";
import { encodeCallId } from "../signature_carrier.ts";
import { encodeEnvelope, type ReasoningEnvelope } from "./reasoning_envelope.ts";

/** An `output_text` content part. */
export interface ResponsesOutputText {
  type: "output_text";
  text: string;
  annotations: never[];
  logprobs: never[];
}

export type ItemStatus = "in_progress" | "completed" | "incomplete";

export interface ResponsesMessageItem {
  id: string;
  type: "message";
  status: ItemStatus;
  role: "assistant";
  content: ResponsesOutputText[];
}

export interface ResponsesFunctionCallItem {
  id: string;
  type: "function_call";
  status: ItemStatus;
  arguments: string;
  call_id: string;
  name: string;
}

export interface ResponsesReasoningItem {
  id: string;
  type: "reasoning";
  summary: Array<{ type: "summary_text"; text: string }>;
  content?: Array<{ type: "reasoning_text"; text: string }>;
  encrypted_content?: string;
}

export type ResponsesOutputItem =
  | ResponsesMessageItem
  | ResponsesFunctionCallItem
  | ResponsesReasoningItem;

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = "in_progress" | "completed" | "incomplete" | "failed";

export interface ResponsesError {
  code: string;
  message: string;
}

/** A `response` object as OpenAI returns it (the fields clients and the SDK read). */
export interface ResponsesResponse {
  id: string;
  object: "response";
  created_at: number;
  status: ResponseStatus;
  background: false;
  completed_at: number | null;
  error: ResponsesError | null;
  incomplete_details: { reason: "max_output_tokens" | "content_filter" } | null;
  instructions: null;
  max_output_tokens: number | null;
  max_tool_calls: null;
  model: string;
  output: ResponsesOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: null;
  reasoning: { effort: string | null; summary: string | null };
  service_tier: "default";
  store: false;
  temperature: number;
  text: { format: JsonObject };
  tool_choice: string | { type: "function"; name: string };
  tools: JsonObject[];
  top_p: number;
  truncation: "disabled";
  usage: ResponsesUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** An OpenAI-style id: prefix, underscore, 48 hex characters. */
export function newResponsesId(prefix: "resp" | "msg" | "fc" | "rs"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `${prefix}_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function usageToResponses(usage: IrUsage): ResponsesUsage {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: usage.cachedInputTokens ?? 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** How a finished answer ends: status, the incomplete reason, or the failure. */
export interface Outcome {
  status: "completed" | "incomplete" | "failed";
  incompleteDetails: ResponsesResponse["incomplete_details"];
  error: ResponsesError | null;
}

export function outcomeOf(reason: IrFinishReason): Outcome {
  switch (reason) {
    case "length":
      return {
        status: "incomplete",
        incompleteDetails: { reason: "max_output_tokens" },
        error: null,
      };
    case "content_filter":
      return { status: "incomplete", incompleteDetails: { reason: "content_filter" }, error: null };
    case "error":
      return {
        status: "failed",
        incompleteDetails: null,
        error: {
          code: "server_error",
          message: "The upstream model failed to finish the response.",
        },
      };
    default:
      return { status: "completed", incompleteDetails: null, error: null };
  }
}

/**
 * The `call_id` shown to the client: a call's own signature (a Gemini function call's
 * thoughtSignature) rides in it, as every client sends `call_id` back on the call and on its
 * output, while reasoning items are dropped by some (see signature_carrier.ts).
 */
export function callIdToClient(id: string, signature?: string, origin?: IrOrigin): string {
  if (signature === undefined) return id;
  return encodeCallId(id, { signature, ...(origin ? { origin } : {}) });
}

/** Whether reasoning text goes out as a summary (the client asked for one) or as raw text. */
export function reasoningAsSummary(req: IrRequest): boolean {
  return req.reasoning?.includeThoughts === true;
}

/** A finished reasoning item; `encrypted_content` carries what must survive the round trip. */
export function reasoningItem(
  id: string,
  text: string,
  env: ReasoningEnvelope,
  asSummary: boolean,
): ResponsesReasoningItem {
  const item: ResponsesReasoningItem = {
    id,
    type: "reasoning",
    summary: asSummary && text !== "" ? [{ type: "summary_text", text }] : [],
  };
  if (!asSummary && text !== "") item.content = [{ type: "reasoning_text", text }];
  const encrypted = encodeEnvelope(env);
  if (encrypted !== undefined) item.encrypted_content = encrypted;
  return item;
}

export function outputText(text: string): ResponsesOutputText {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}

/** The response object around `output`, echoing the request settings the SDK reads. */
export function buildResponse(
  fields: {
    id: string;
    createdAt: number;
    model: string;
    status: ResponseStatus;
    output: ResponsesOutputItem[];
    usage?: IrUsage;
    incompleteDetails?: ResponsesResponse["incomplete_details"];
    error?: ResponsesError | null;
  },
  req: IrRequest,
): ResponsesResponse {
  return {
    id: fields.id,
    object: "response",
    created_at: fields.createdAt,
    status: fields.status,
    background: false,
    completed_at: fields.status === "completed" ? Math.floor(Date.now() / 1000) : null,
    error: fields.error ?? null,
    incomplete_details: fields.incompleteDetails ?? null,
    instructions: null,
    max_output_tokens: req.maxTokens ?? null,
    max_tool_calls: null,
    model: fields.model,
    output: fields.output,
    parallel_tool_calls: req.parallelToolCalls ?? true,
    previous_response_id: null,
    reasoning: {
      effort: req.reasoning?.enabled === false ? "none" : req.reasoning?.effort ?? null,
      summary: reasoningAsSummary(req) ? "auto" : null,
    },
    service_tier: "default",
    // Nothing is stored: the gateway is stateless.
    store: false,
    temperature: req.temperature ?? 1,
    text: { format: textFormatOf(req) },
    tool_choice: toolChoiceOf(req),
    tools: req.tools.map((t) => ({
      type: "function",
      name: t.name,
      description: t.description ?? null,
      parameters: t.parameters,
      strict: null,
    })),
    top_p: req.topP ?? 1,
    truncation: "disabled",
    usage: fields.usage ? usageToResponses(fields.usage) : null,
    user: req.user ?? null,
    metadata: {},
  };
}

function textFormatOf(req: IrRequest): JsonObject {
  const f = req.responseFormat;
  if (f?.type === "json_schema") {
    return {
      type: "json_schema",
      name: f.name ?? "response",
      schema: f.schema,
      strict: f.strict ?? null,
    };
  }
  return { type: f?.type ?? "text" };
}

function toolChoiceOf(req: IrRequest): ResponsesResponse["tool_choice"] {
  const c = req.toolChoice;
  if (!c) return "auto";
  return c.type === "tool" ? { type: "function", name: c.name } : c.type;
}

/**
 * Converts an IR response into a Responses `response` object: reasoning parts become reasoning
 * items, runs of text one message item, tool calls `function_call` items (a Gemini signature on
 * a call rides in its `call_id`).
 */
export function irResponseToResponses(res: IrResponse, req: IrRequest): ResponsesResponse {
  const asSummary = reasoningAsSummary(req);
  const output: ResponsesOutputItem[] = [];
  for (const part of res.content) {
    const last = output.at(-1);
    if (part.type === "text") {
      if (part.text === "") continue;
      if (last?.type === "message") last.content[0].text += part.text;
      else {
        output.push({
          id: newResponsesId("msg"),
          type: "message",
          status: "completed",
          role: "assistant",
          content: [outputText(part.text)],
        });
      }
    } else if (part.type === "reasoning") {
      const env: ReasoningEnvelope = {};
      if (part.origin) env.origin = part.origin;
      if (part.signature !== undefined) env.signature = part.signature;
      if (part.redacted !== undefined) env.redacted = part.redacted;
      output.push(reasoningItem(newResponsesId("rs"), part.text, env, asSummary));
    } else if (part.type === "tool_call") {
      output.push({
        id: newResponsesId("fc"),
        type: "function_call",
        status: "completed",
        arguments: part.arguments === "" ? "{}" : part.arguments,
        call_id: callIdToClient(part.id, part.signature, part.origin),
        name: part.name,
      });
    }
    // Images and tool results have no Responses output item here; they are dropped.
  }

  const outcome = outcomeOf(res.finishReason);
  const tail = output.at(-1);
  if (outcome.status === "incomplete" && tail && tail.type !== "reasoning") {
    tail.status = "incomplete";
  }
  return buildResponse({
    id: res.id.startsWith("resp_") ? res.id : newResponsesId("resp"),
    createdAt: res.created,
    model: res.model,
    status: outcome.status,
    output,
    ...(res.usage ? { usage: res.usage } : {}),
    incompleteDetails: outcome.incompleteDetails,
    error: outcome.error,
  }, req);
}
