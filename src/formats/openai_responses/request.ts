import { RequestError } from "../../errors.ts";
import type {
  IrImagePart,
  IrMessage,
  IrOrigin,
  IrPart,
  IrRequest,
  IrTextPart,
  IrTool,
  IrToolChoice,
  JsonObject,
} from "../../ir/types.ts";
import { imageFromUrl } from "../openai_chat/request.ts";
import { decodeCallId, pushCarriedCall } from "../signature_carrier.ts";
import { compactionSummaryText, decodeCompaction } from "./compaction.ts";
import { decodeEnvelope } from "./reasoning_envelope.ts";
import type { ResponsesContentPart, ResponsesInputItem, ResponsesRequest } from "./schema.ts";

type ItemOf<K extends ResponsesInputItem["kind"]> = Extract<
  ResponsesInputItem,
  { kind: K }
>["value"];

/**
 * Converts a validated OpenAI Responses request into the IR.
 *
 * - `instructions` and the leading system/developer items form the IR system prompt; later
 *   system/developer items stay in place as `system` turns (as the Chat format does).
 * - Reasoning items, assistant messages and `function_call` items that follow one another are
 *   one assistant turn; `function_call_output` items become `tool` turns.
 * - Non-function tools and unknown item/part types are dropped; state the gateway cannot
 *   resolve (`previous_response_id`, `conversation`, `input_image.file_id`) is a 400.
 */
export function responsesRequestToIr(body: ResponsesRequest): IrRequest {
  if (body.previous_response_id != null) {
    throw new RequestError(
      "previous_response_id is not supported: this gateway stores no responses unless its " +
        "operator turns on 'responses: { store: true }' in the gateway config. Send the " +
        "whole conversation in 'input' (with store: false) instead.",
      "unsupported_parameter",
    );
  }
  if (body.conversation != null) {
    throw new RequestError(
      "conversation is not supported: this gateway is stateless and stores no conversations. " +
        "Send the whole conversation in 'input' instead.",
      "unsupported_parameter",
    );
  }

  const system: IrPart[] = [];
  if (body.instructions) system.push({ type: "text", text: body.instructions });
  const messages = typeof body.input === "string"
    ? (body.input === "" ? [] : [{ role: "user" as const, parts: textParts(body.input) }])
    : inputToMessages(body.input, system);

  const ir: IrRequest = {
    model: body.model,
    system,
    messages,
    tools: toolsToIr(body.tools ?? []),
    stop: [],
    stream: body.stream === true,
  };
  // Responses streams always end with usage: ask upstreams for it.
  if (ir.stream) ir.includeUsage = true;
  if (body.max_output_tokens != null) ir.maxTokens = body.max_output_tokens;
  if (body.temperature != null) ir.temperature = body.temperature;
  if (body.top_p != null) ir.topP = body.top_p;
  if (body.parallel_tool_calls != null) ir.parallelToolCalls = body.parallel_tool_calls;
  if (body.user != null) ir.user = body.user;
  if (body.prompt_cache_key != null) ir.promptCacheKey = body.prompt_cache_key;
  const choice = toolChoiceToIr(body.tool_choice);
  if (choice) ir.toolChoice = choice;
  const format = body.text?.format;
  if (format?.kind === "json_object") ir.responseFormat = { type: "json_object" };
  else if (format?.kind === "json_schema") {
    const f = format.value;
    ir.responseFormat = {
      type: "json_schema",
      schema: f.schema as JsonObject,
      ...(f.name !== undefined ? { name: f.name } : {}),
      ...(f.strict != null ? { strict: f.strict } : {}),
    };
  }
  const reasoning = reasoningToIr(body.reasoning);
  if (reasoning) ir.reasoning = reasoning;
  return ir;
}

function inputToMessages(items: ResponsesInputItem[], system: IrPart[]): IrMessage[] {
  const messages: IrMessage[] = [];
  // Function names by call id: outputs do not repeat the name, Gemini needs it.
  const callNames = new Map<string, string>();
  // Function-call signatures carried by reasoning items' envelopes, by call id.
  const callSignatures = new Map<string, { signature: string; origin?: IrOrigin }>();

  const assistantParts = (): IrPart[] => {
    const last = messages.at(-1);
    if (last?.role === "assistant") return last.parts;
    const message: IrMessage = { role: "assistant", parts: [] };
    messages.push(message);
    return message.parts;
  };

  items.forEach((item, index) => {
    switch (item.kind) {
      case "message": {
        const msg = item.value;
        const parts = contentToParts(msg.content, `input[${index}].content`);
        if (msg.role === "system" || msg.role === "developer") {
          if (messages.length === 0) system.push(...parts);
          else messages.push({ role: "system", parts });
        } else if (msg.role === "assistant") {
          assistantParts().push(...parts);
        } else {
          messages.push({ role: "user", parts });
        }
        break;
      }
      case "function_call": {
        const call = item.value;
        // The call's own signature rides in its call_id; older histories carry it in the
        // envelope of the reasoning item before it.
        const { id, carried } = decodeCallId(call.call_id);
        callNames.set(id, call.name);
        const signed = carried ?? callSignatures.get(id);
        pushCarriedCall(assistantParts(), {
          type: "tool_call",
          id,
          name: call.name,
          arguments: call.arguments.trim() === "" ? "{}" : call.arguments,
        }, signed);
        break;
      }
      case "function_call_output": {
        const out = item.value;
        const id = decodeCallId(out.call_id).id;
        const name = callNames.get(id);
        messages.push({
          role: "tool",
          parts: [{
            type: "tool_result",
            toolCallId: id,
            ...(name !== undefined ? { name } : {}),
            content: contentToParts(out.output, `input[${index}].output`).filter(isTextOrImage),
          }],
        });
        break;
      }
      case "reasoning": {
        const part = reasoningToPart(item.value, callSignatures);
        if (part) assistantParts().push(part);
        break;
      }
      case "compaction":
      case "compaction_summary": {
        // The gateway's own compaction: its summary as a user turn every upstream reads.
        // OpenAI's encrypted compaction is readable only by OpenAI (same-format routes get it
        // untouched); converted, it carries nothing and is dropped.
        const summary = decodeCompaction(item.value.encrypted_content);
        if (summary !== undefined) {
          messages.push({ role: "user", parts: textParts(compactionSummaryText(summary)) });
        }
        break;
      }
      case "other":
        // item_reference, web_search_call, custom tool calls...: nothing the IR can carry.
        break;
    }
  });
  return messages;
}

/** A reasoning item → an IR reasoning part (or nothing), registering carried call signatures. */
function reasoningToPart(
  item: ItemOf<"reasoning">,
  callSignatures: Map<string, { signature: string; origin?: IrOrigin }>,
): IrPart | undefined {
  // Raw reasoning text when present, else the summary; one part each way round-trips exactly.
  const content = (item.content ?? []).map((c) => c.text).filter((t) => t !== "");
  const summary = (item.summary ?? []).map((s) => s.text).filter((t) => t !== "");
  const text = (content.length > 0 ? content : summary).join("\n\n");
  const env = item.encrypted_content ? decodeEnvelope(item.encrypted_content) : {};
  for (const call of env.calls ?? []) {
    callSignatures.set(call.callId, {
      signature: call.signature,
      ...(call.origin ? { origin: call.origin } : {}),
    });
  }
  if (text === "" && env.signature === undefined && env.redacted === undefined) return undefined;
  return {
    type: "reasoning",
    text,
    ...(env.signature !== undefined ? { signature: env.signature } : {}),
    ...(env.redacted !== undefined ? { redacted: env.redacted } : {}),
    ...(env.origin ? { origin: env.origin } : {}),
  };
}

function textParts(text: string): IrTextPart[] {
  return text === "" ? [] : [{ type: "text", text }];
}

function contentToParts(content: string | ResponsesContentPart[], path: string): IrPart[] {
  if (typeof content === "string") return textParts(content);
  const parts: IrPart[] = [];
  content.forEach((part, i) => {
    switch (part.kind) {
      case "input_text":
      case "output_text":
      case "text":
        parts.push(...textParts(part.value.text));
        break;
      case "refusal":
        parts.push(...textParts(part.value.refusal));
        break;
      case "input_image": {
        const image = part.value;
        if (image.image_url == null) {
          throw new RequestError(
            `Invalid value for '${path}[${i}].file_id': file references are not supported ` +
              "by this gateway (it stores no files); send the image as image_url (an http(s) " +
              "or data: URL).",
            "unsupported_parameter",
          );
        }
        parts.push(imageFromUrl(image.image_url, image.detail ?? undefined));
        break;
      }
      case "other":
        // input_file, input_audio...: the IR has no part for them.
        break;
    }
  });
  return parts;
}

function toolsToIr(tools: NonNullable<ResponsesRequest["tools"]>): IrTool[] {
  const out: IrTool[] = [];
  for (const tool of tools) {
    if (tool.kind !== "function") continue;
    const fn = tool.value;
    out.push({
      name: fn.name,
      ...(fn.description != null ? { description: fn.description } : {}),
      parameters: (fn.parameters as JsonObject | null | undefined) ??
        { type: "object", properties: {} },
    });
  }
  return out;
}

function toolChoiceToIr(choice: ResponsesRequest["tool_choice"]): IrToolChoice | undefined {
  if (choice == null) return undefined;
  if (typeof choice === "string") return { type: choice };
  switch (choice.kind) {
    case "function":
      return { type: "tool", name: choice.value.name };
    case "allowed_tools":
      // The IR cannot restrict the tool set per request; keep the mode.
      return choice.value.mode ? { type: choice.value.mode } : undefined;
    default:
      return undefined;
  }
}

function reasoningToIr(reasoning: ResponsesRequest["reasoning"]): IrRequest["reasoning"] {
  if (!reasoning) return undefined;
  const out: NonNullable<IrRequest["reasoning"]> = {};
  const effort = reasoning.effort;
  if (effort === "none") out.enabled = false;
  else if (effort === "minimal" || effort === "low" || effort === "medium" || effort === "high") {
    out.effort = effort;
  } else if (effort === "xhigh") out.effort = "high";
  // Asking for a summary means the client wants to see the model's reasoning.
  if (reasoning.summary != null && reasoning.summary !== "none") out.includeThoughts = true;
  return Object.keys(out).length > 0 ? out : undefined;
}

function isTextOrImage(part: IrPart): part is IrTextPart | IrImagePart {
  return part.type === "text" || part.type === "image";
}
