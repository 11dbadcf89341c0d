import type {
  IrImagePart,
  IrMessage,
  IrPart,
  IrRequest,
  IrTextPart,
  IrTool,
  IrToolChoice,
  JsonObject,
} from "../../ir/types.ts";
import { decodeCallId, pushCarriedCall } from "../signature_carrier.ts";
import type { ChatMessage, ChatRequest } from "./schema.ts";

type Content = ChatMessage["content"];

/** Converts a validated OpenAI Chat Completions request into the IR. */
export function chatRequestToIr(body: ChatRequest): IrRequest {
  const system: IrPart[] = [];
  const messages: IrMessage[] = [];
  for (const msg of body.messages) {
    switch (msg.role) {
      case "system":
      case "developer":
        // Leading system turns become the system prompt; later ones stay in place.
        if (messages.length === 0) system.push(...contentToParts(msg.content));
        else messages.push({ role: "system", parts: contentToParts(msg.content) });
        break;
      case "user":
        messages.push({ role: "user", parts: contentToParts(msg.content) });
        break;
      case "assistant": {
        const parts: IrPart[] = [];
        if (typeof msg.reasoning_content === "string" && msg.reasoning_content !== "") {
          parts.push({ type: "reasoning", text: msg.reasoning_content });
        }
        parts.push(...contentToParts(msg.content));
        for (const call of msg.tool_calls ?? []) {
          // Signatures ride in the ids this gateway gave out (see signature_carrier.ts).
          const { id, carried } = decodeCallId(call.id);
          pushCarriedCall(parts, {
            type: "tool_call",
            id,
            name: call.function.name,
            arguments: call.function.arguments === "" ? "{}" : call.function.arguments,
          }, carried);
        }
        messages.push({ role: "assistant", parts });
        break;
      }
      case "tool":
        messages.push({
          role: "tool",
          parts: [{
            type: "tool_result",
            toolCallId: decodeCallId(msg.tool_call_id).id,
            content: contentToParts(msg.content).filter(isTextOrImage),
          }],
        });
        break;
      case "function":
        // Legacy function messages carry no id: the function name stands in for it.
        messages.push({
          role: "tool",
          parts: [{
            type: "tool_result",
            toolCallId: msg.name,
            name: msg.name,
            content: contentToParts(msg.content).filter(isTextOrImage),
          }],
        });
        break;
    }
  }

  const tools: IrTool[] = [];
  for (const tool of body.tools ?? []) {
    if (tool.type !== "function" || !("function" in tool)) continue;
    const fn = tool.function as { name: string; description?: string; parameters?: JsonObject };
    tools.push({
      name: fn.name,
      ...(fn.description !== undefined ? { description: fn.description } : {}),
      parameters: fn.parameters ?? { type: "object", properties: {} },
    });
  }

  const ir: IrRequest = {
    model: body.model,
    system,
    messages,
    tools,
    stop: body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop,
    stream: body.stream === true,
  };
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens != null) ir.maxTokens = maxTokens;
  if (body.temperature != null) ir.temperature = body.temperature;
  if (body.top_p != null) ir.topP = body.top_p;
  if (body.seed != null) ir.seed = body.seed;
  if (body.n != null) ir.n = body.n;
  if (body.user !== undefined) ir.user = body.user;
  if (body.parallel_tool_calls != null) ir.parallelToolCalls = body.parallel_tool_calls;
  if (body.stream_options?.include_usage === true) ir.includeUsage = true;
  const choice = toolChoiceToIr(body.tool_choice);
  if (choice) ir.toolChoice = choice;
  const format = body.response_format;
  if (format) {
    if (format.type === "json_schema" && format.json_schema?.schema) {
      ir.responseFormat = {
        type: "json_schema",
        schema: format.json_schema.schema as JsonObject,
        ...(format.json_schema.name ? { name: format.json_schema.name } : {}),
        ...(format.json_schema.strict != null ? { strict: format.json_schema.strict } : {}),
      };
    } else if (format.type === "json_object") {
      ir.responseFormat = { type: "json_object" };
    }
  }
  if (body.prompt_cache_key != null) ir.promptCacheKey = body.prompt_cache_key;
  const effort = body.reasoning_effort;
  if (effort === "minimal" || effort === "low" || effort === "medium" || effort === "high") {
    ir.reasoning = { effort };
  } else if (effort === "xhigh") ir.reasoning = { effort: "high" };
  else if (effort === "none") ir.reasoning = { enabled: false };
  return ir;
}

function toolChoiceToIr(choice: ChatRequest["tool_choice"]): IrToolChoice | undefined {
  if (choice == null) return undefined;
  if (typeof choice === "string") return { type: choice };
  return { type: "tool", name: choice.function.name };
}

function contentToParts(content: Content): IrPart[] {
  if (content == null) return [];
  if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }];
  const parts: IrPart[] = [];
  for (const part of content) {
    if (part.type === "text" && typeof part.text === "string") {
      if (part.text !== "") parts.push({ type: "text", text: part.text });
    } else if (part.type === "image_url" && "image_url" in part) {
      const image = part.image_url as { url: string; detail?: string };
      parts.push(imageFromUrl(image.url, image.detail));
    }
  }
  return parts;
}

/** `data:image/png;base64,...` becomes inline data; anything else stays a URL. */
export function imageFromUrl(url: string, detail?: string): IrImagePart {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  const image: IrImagePart = m
    ? { type: "image", source: { kind: "base64", mediaType: m[1], data: m[2] } }
    : { type: "image", source: { kind: "url", url } };
  if (detail !== undefined) image.detail = detail;
  return image;
}

function isTextOrImage(part: IrPart): part is IrTextPart | IrImagePart {
  return part.type === "text" || part.type === "image";
}
