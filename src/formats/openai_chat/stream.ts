import { withBlocks } from "../../ir/blockify.ts";
import type { IrEvent } from "../../ir/types.ts";
import { encodeSse } from "../../sse.ts";
import { encodeCallId, ReasoningCarrier } from "../signature_carrier.ts";
import { finishReasonToChat, usageToChat } from "./response.ts";
import { openAIStreamErrorFields } from "./errors.ts";

/**
 * IR events → OpenAI Chat Completions SSE bytes: a role delta first, content and tool-call
 * deltas, the finish chunk, the usage chunk when the client asked for it, then `[DONE]`.
 * An error event becomes an in-stream `{"error": ...}` chunk, which the OpenAI SDK raises.
 * Behind `withBlocks`: tool-call deltas only ever follow their start.
 */
export function irToChatSseTransformer(
  options: { includeUsage: boolean },
): Transformer<IrEvent, Uint8Array> {
  let id = "chatcmpl-gateway";
  let model = "";
  let created = Math.floor(Date.now() / 1000);
  let started = false;
  let done = false;
  const carrier = new ReasoningCarrier();

  const chunk = (delta: Record<string, unknown>, finish: string | null = null): Uint8Array =>
    encodeSse({
      data: JSON.stringify({
        id,
        object: "chat.completion.chunk",
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
      }),
    });

  const ensureStarted = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (started) return;
    started = true;
    controller.enqueue(chunk({ role: "assistant", content: "" }));
  };

  return withBlocks<Uint8Array>({
    event(event, controller) {
      if (done) return;
      switch (event.type) {
        case "start":
          id = event.id;
          model = event.model;
          created = event.created;
          ensureStarted(controller);
          break;
        case "text_delta":
          ensureStarted(controller);
          controller.enqueue(chunk({ content: event.text }));
          break;
        case "reasoning_delta":
          ensureStarted(controller);
          carrier.event(event);
          if (event.text !== "") controller.enqueue(chunk({ reasoning_content: event.text }));
          break;
        case "tool_call_start":
          ensureStarted(controller);
          controller.enqueue(chunk({
            tool_calls: [{
              index: event.index,
              // Signatures ride in the id (see signature_carrier.ts).
              id: encodeCallId(event.id, carrier.take(event.signature, event.origin)),
              type: "function",
              function: { name: event.name, arguments: "" },
            }],
          }));
          break;
        case "tool_call_delta":
          // withBlocks guarantees the call's start went out first.
          controller.enqueue(chunk({
            tool_calls: [{ index: event.index, function: { arguments: event.argumentsDelta } }],
          }));
          break;
        case "finish":
          ensureStarted(controller);
          controller.enqueue(chunk({}, finishReasonToChat(event.reason)));
          if (options.includeUsage && event.usage) {
            controller.enqueue(encodeSse({
              data: JSON.stringify({
                id,
                object: "chat.completion.chunk",
                created,
                model,
                choices: [],
                usage: usageToChat(event.usage),
              }),
            }));
          }
          controller.enqueue(encodeSse({ data: "[DONE]" }));
          done = true;
          break;
        case "error":
          controller.enqueue(encodeSse({
            data: JSON.stringify({
              error: {
                message: event.message,
                ...openAIStreamErrorFields(event.status, event.message),
              },
            }),
          }));
          done = true;
          break;
        default:
          // Block starts and ends: Chat chunks carry no block structure.
          break;
      }
    },
  });
}
