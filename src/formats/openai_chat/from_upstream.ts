import type { IrEvent, IrFinishReason, IrPart, IrResponse, IrUsage } from "../../ir/types.ts";
import type { SseEvent } from "../../sse.ts";

interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

interface WireToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface WireChoice {
  message?: {
    content?: string | null;
    reasoning_content?: string | null;
    reasoning?: string | null;
    tool_calls?: WireToolCall[] | null;
  };
  delta?: {
    content?: string | null;
    reasoning_content?: string | null;
    reasoning?: string | null;
    tool_calls?: WireToolCall[] | null;
  };
  finish_reason?: string | null;
}

interface WireCompletion {
  id?: string;
  model?: string;
  created?: number;
  choices?: WireChoice[];
  usage?: WireUsage | null;
  error?: { message?: string; code?: unknown };
}

/** OpenAI `finish_reason` → IR. */
export function chatFinishToIr(reason: string | null | undefined): IrFinishReason {
  switch (reason) {
    case "stop":
      return "stop";
    case "length":
      return "length";
    case "tool_calls":
    case "function_call":
      return "tool_calls";
    case "content_filter":
      return "content_filter";
    default:
      return "other";
  }
}

export function chatUsageToIr(u: WireUsage | null | undefined): IrUsage | undefined {
  if (!u) return undefined;
  const usage: IrUsage = {
    inputTokens: u.prompt_tokens ?? 0,
    outputTokens: u.completion_tokens ?? 0,
  };
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (cached !== undefined) usage.cachedInputTokens = cached;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (reasoning !== undefined) usage.reasoningTokens = reasoning;
  return usage;
}

/** An OpenAI `chat.completion` body → IR response. */
export function chatResponseToIr(body: unknown, fallbackModel: string): IrResponse {
  const b = (body ?? {}) as WireCompletion;
  const choice = b.choices?.[0];
  const msg = choice?.message ?? {};
  const content: IrPart[] = [];
  const reasoning = msg.reasoning_content ?? msg.reasoning;
  if (reasoning) content.push({ type: "reasoning", text: reasoning });
  if (msg.content) content.push({ type: "text", text: msg.content });
  for (const call of msg.tool_calls ?? []) {
    content.push({
      type: "tool_call",
      id: call.id ?? `call_${crypto.randomUUID().slice(0, 8)}`,
      name: call.function?.name ?? "",
      arguments: call.function?.arguments || "{}",
    });
  }
  const res: IrResponse = {
    id: b.id ?? `chatcmpl-${crypto.randomUUID()}`,
    model: b.model ?? fallbackModel,
    created: b.created ?? Math.floor(Date.now() / 1000),
    content,
    finishReason: chatFinishToIr(choice?.finish_reason),
  };
  const usage = chatUsageToIr(b.usage);
  if (usage) res.usage = usage;
  return res;
}

/**
 * OpenAI Chat SSE events → IR events. Tool calls are keyed by the upstream's `index`; the
 * finish is held until the usage chunk (or `[DONE]`) so usage is reported exactly once.
 */
export function chatSseToIrTransformer(fallbackModel: string): Transformer<SseEvent, IrEvent> {
  let started = false;
  let finish: IrFinishReason | undefined;
  let usage: IrUsage | undefined;
  let ended = false;
  const open = new Map<number, number>();

  const end = (controller: TransformStreamDefaultController<IrEvent>): void => {
    if (ended) return;
    ended = true;
    for (const index of open.values()) controller.enqueue({ type: "tool_call_end", index });
    open.clear();
    if (finish === undefined) {
      controller.enqueue({
        type: "error",
        status: 502,
        message: "The upstream stream ended before the answer was complete.",
      });
      return;
    }
    controller.enqueue(
      usage ? { type: "finish", reason: finish, usage } : { type: "finish", reason: finish },
    );
  };

  return {
    transform(event, controller) {
      if (ended) return;
      if (event.data === "[DONE]") return end(controller);
      let chunk: WireCompletion;
      try {
        chunk = JSON.parse(event.data);
      } catch {
        return; // Malformed chunk: skip it rather than kill the answer.
      }
      if (chunk.error) {
        ended = true;
        controller.enqueue({
          type: "error",
          status: 502,
          message: chunk.error.message ?? "Upstream error",
        });
        return;
      }
      if (!started) {
        started = true;
        controller.enqueue({
          type: "start",
          id: chunk.id ?? `chatcmpl-${crypto.randomUUID()}`,
          model: chunk.model ?? fallbackModel,
          created: chunk.created ?? Math.floor(Date.now() / 1000),
        });
      }
      const u = chatUsageToIr(chunk.usage);
      if (u) usage = u;
      const choice = chunk.choices?.[0];
      if (!choice) return;
      const delta = choice.delta ?? {};
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (reasoning) controller.enqueue({ type: "reasoning_delta", text: reasoning });
      if (delta.content) controller.enqueue({ type: "text_delta", text: delta.content });
      for (const call of delta.tool_calls ?? []) {
        const upstreamIndex = call.index ?? 0;
        let index = open.get(upstreamIndex);
        if (index === undefined) {
          index = open.size;
          open.set(upstreamIndex, index);
          controller.enqueue({
            type: "tool_call_start",
            index,
            id: call.id ?? `call_${crypto.randomUUID().slice(0, 8)}`,
            name: call.function?.name ?? "",
          });
        }
        const args = call.function?.arguments;
        if (args) controller.enqueue({ type: "tool_call_delta", index, argumentsDelta: args });
      }
      if (choice.finish_reason) finish = chatFinishToIr(choice.finish_reason);
    },
    flush(controller) {
      end(controller);
    },
  };
}
