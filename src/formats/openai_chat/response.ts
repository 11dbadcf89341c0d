import type { IrFinishReason, IrResponse, IrUsage } from "../../ir/types.ts";
import { encodeCallId, ReasoningCarrier } from "../signature_carrier.ts";

/** The OpenAI `usage` object. */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
  completion_tokens_details?: { reasoning_tokens: number };
}

export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A `chat.completion` object as OpenAI returns it. */
export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: "assistant";
      content: string | null;
      reasoning_content?: string;
      tool_calls?: ChatToolCall[];
      refusal: null;
    };
    finish_reason: string;
    logprobs: null;
  }>;
  usage?: ChatUsage;
}

/** IR finish reason → OpenAI `finish_reason`. */
export function finishReasonToChat(reason: IrFinishReason): string {
  switch (reason) {
    case "length":
      return "length";
    case "tool_calls":
      return "tool_calls";
    case "content_filter":
      return "content_filter";
    default:
      return "stop";
  }
}

export function usageToChat(usage: IrUsage): ChatUsage {
  const out: ChatUsage = {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
  if (usage.cachedInputTokens !== undefined) {
    out.prompt_tokens_details = { cached_tokens: usage.cachedInputTokens };
  }
  if (usage.reasoningTokens !== undefined) {
    out.completion_tokens_details = { reasoning_tokens: usage.reasoningTokens };
  }
  return out;
}

/** Converts an IR response into an OpenAI `chat.completion`. */
export function irResponseToChat(res: IrResponse): ChatCompletion {
  let text = "";
  let reasoning = "";
  const toolCalls: ChatToolCall[] = [];
  const carrier = new ReasoningCarrier();
  for (const part of res.content) {
    if (part.type === "text") text += part.text;
    else if (part.type === "reasoning") {
      reasoning += part.text;
      carrier.part(part);
    } else if (part.type === "tool_call") {
      toolCalls.push({
        // Signatures have no field in Chat: they ride in the id (see signature_carrier.ts).
        id: encodeCallId(part.id, carrier.take(part.signature, part.origin)),
        type: "function",
        function: { name: part.name, arguments: part.arguments },
      });
    }
  }
  const message: ChatCompletion["choices"][number]["message"] = {
    role: "assistant",
    content: text === "" && toolCalls.length > 0 ? null : text,
    refusal: null,
  };
  if (reasoning !== "") message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const out: ChatCompletion = {
    id: res.id,
    object: "chat.completion",
    created: res.created,
    model: res.model,
    choices: [{
      index: 0,
      message,
      finish_reason: finishReasonToChat(res.finishReason),
      logprobs: null,
    }],
  };
  if (res.usage) out.usage = usageToChat(res.usage);
  return out;
}
