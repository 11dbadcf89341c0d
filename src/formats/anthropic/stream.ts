import { withBlocks } from "../../ir/blockify.ts";
import { estimateInputTokens } from "../../ir/estimate_tokens.ts";
import type { IrEvent, IrRequest, IrUsage } from "../../ir/types.ts";
import { encodeSse, type SseEvent } from "../../sse.ts";
import {
  anthropicErrorType,
  anthropicStreamErrorMessage,
  statusForAnthropicErrorType,
} from "./errors.ts";
import {
  finishReasonToAnthropic,
  stopReasonToIr,
  toolUseId,
  usageToAnthropic,
  usageToIr,
} from "./response.ts";
import { streamEventSchema, type WireUsage } from "./schema.ts";
import { signatureToClient } from "./signature.ts";

type Out = TransformStreamDefaultController<Uint8Array>;

function send(controller: Out, event: string, data: unknown): void {
  controller.enqueue(encodeSse({ event, data: JSON.stringify(data) }));
}

/** The in-stream error event Anthropic clients understand (the SDK raises it as an APIError). */
export function anthropicErrorEvent(status: number, message: string): Uint8Array {
  return encodeSse({
    event: "error",
    data: JSON.stringify({
      type: "error",
      error: {
        type: anthropicErrorType(status),
        message: anthropicStreamErrorMessage(status, message),
      },
    }),
  });
}

/**
 * IR events → Anthropic Messages SSE, framed as Anthropic frames it: `message_start`, then per
 * content block `content_block_start` / `content_block_delta`s / `content_block_stop` (the IR's
 * blocks, made well-formed by `withBlocks`, map one to one), then `message_delta` (stop reason,
 * usage) and `message_stop`. An IR `error` event becomes `event: error` and ends the stream.
 * Every IR event is written as soon as it arrives.
 */
export function irToAnthropicSseTransformer(req: IrRequest): Transformer<IrEvent, Uint8Array> {
  let started = false;
  let done = false;
  let outputChars = 0;
  // The open text or reasoning block's number, and whether a reasoning block still has to be
  // announced: its first delta says whether it is thinking or redacted thinking.
  let block = 0;
  let reasoningPending = false;
  // Tool calls' block numbers by IR tool index: parallel calls may interleave arguments.
  const toolBlocks = new Map<number, number>();

  const start = (controller: Out, id?: string, model?: string): void => {
    if (started) return;
    started = true;
    send(controller, "message_start", {
      type: "message_start",
      message: {
        id: id ?? `msg_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`,
        type: "message",
        role: "assistant",
        model: model ?? req.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // The real count only arrives with the finish; message_delta repeats it then.
        usage: { input_tokens: estimateInputTokens(req), output_tokens: 0 },
      },
    });
  };

  // The block open on the wire: Anthropic's blocks are strictly one after another, so a tool
  // call still open in the IR (parallel calls) is stopped when the next block starts; its late
  // argument deltas, never seen from real upstreams, keep its index.
  let wireOpen: number | undefined;

  const blockStart = (controller: Out, index: number, block: Record<string, unknown>): void => {
    if (wireOpen !== undefined) blockStop(controller, wireOpen);
    wireOpen = index;
    send(controller, "content_block_start", {
      type: "content_block_start",
      index,
      content_block: block,
    });
  };

  const blockStop = (controller: Out, index: number): void => {
    if (wireOpen !== index) return;
    wireOpen = undefined;
    send(controller, "content_block_stop", { type: "content_block_stop", index });
  };

  const delta = (controller: Out, index: number, d: Record<string, unknown>): void =>
    send(controller, "content_block_delta", { type: "content_block_delta", index, delta: d });

  return withBlocks<Uint8Array>({
    event(event, controller) {
      if (done) return;
      if (event.type === "error") {
        done = true;
        controller.enqueue(anthropicErrorEvent(event.status, event.message));
        return;
      }
      if (event.type === "start") return start(controller, event.id, event.model);
      start(controller);
      switch (event.type) {
        case "text_start":
          block = event.block;
          return blockStart(controller, block, { type: "text", text: "" });
        case "text_delta":
          outputChars += event.text.length;
          return delta(controller, block, { type: "text_delta", text: event.text });
        case "reasoning_start":
          block = event.block;
          reasoningPending = true;
          return;
        case "reasoning_delta":
          if (event.redacted !== undefined) {
            // Redacted reasoning is a block of its own (see withBlocks).
            reasoningPending = false;
            return blockStart(controller, block, {
              type: "redacted_thinking",
              data: signatureToClient(event.redacted, event.origin),
            });
          }
          if (reasoningPending) {
            reasoningPending = false;
            blockStart(controller, block, { type: "thinking", thinking: "", signature: "" });
          }
          if (event.text !== "") {
            outputChars += event.text.length;
            delta(controller, block, { type: "thinking_delta", thinking: event.text });
          }
          if (event.signature) {
            delta(controller, block, {
              type: "signature_delta",
              signature: signatureToClient(event.signature, event.origin),
            });
          }
          return;
        case "tool_call_start": {
          const index = event.block ?? 0; // always set behind withBlocks
          toolBlocks.set(event.index, index);
          return blockStart(controller, index, {
            type: "tool_use",
            id: toolUseId(event.id, event.signature, event.origin),
            name: event.name,
            input: {},
          });
        }
        case "tool_call_delta": {
          const index = toolBlocks.get(event.index);
          if (index === undefined || event.argumentsDelta === "") return;
          outputChars += event.argumentsDelta.length;
          return delta(controller, index, {
            type: "input_json_delta",
            partial_json: event.argumentsDelta,
          });
        }
        case "text_end":
        case "reasoning_end":
          return blockStop(controller, event.block);
        case "tool_call_end": {
          const index = toolBlocks.get(event.index);
          toolBlocks.delete(event.index);
          if (index !== undefined) blockStop(controller, index);
          return;
        }
        case "finish": {
          const usage: IrUsage = event.usage ??
            { inputTokens: estimateInputTokens(req), outputTokens: Math.ceil(outputChars / 4) };
          send(controller, "message_delta", {
            type: "message_delta",
            delta: { stop_reason: finishReasonToAnthropic(event.reason), stop_sequence: null },
            // Cumulative totals: input repeated here since message_start only had an estimate.
            usage: usageToAnthropic(usage),
          });
          send(controller, "message_stop", { type: "message_stop" });
          done = true;
          return;
        }
      }
    },
    flush(controller) {
      // The IR stream ended without finish or error: the answer is incomplete, say so.
      if (!done) {
        controller.enqueue(
          anthropicErrorEvent(502, "The upstream stream ended before the answer was complete."),
        );
      }
    },
  });
}

interface BlockState {
  kind: "text" | "thinking" | "tool" | "other";
  tool?: number;
  hasArgs?: boolean;
}

/**
 * Anthropic SSE events (from `sseParserTransformer`) → IR events. Blocks map to deltas as they come;
 * tool_use blocks get 0-based tool indices; usage from `message_start` (input) and
 * `message_delta` (cumulative output, sometimes input) is emitted once, with the finish at
 * `message_stop`. `ping` and unknown events are ignored; `event: error` becomes an IR error.
 */
export function anthropicSseToIrTransformer(): Transformer<SseEvent, IrEvent> {
  let done = false;
  let nextTool = 0;
  const blocks = new Map<number, BlockState>();
  let usage: WireUsage = {};
  let stopReason: string | null | undefined;
  let sawDelta = false;

  const fail = (
    controller: TransformStreamDefaultController<IrEvent>,
    status: number,
    message: string,
  ): void => {
    done = true;
    controller.enqueue({ type: "error", status, message });
  };

  return {
    transform(sse, controller) {
      if (done) return;
      let json: unknown;
      try {
        json = JSON.parse(sse.data);
      } catch {
        if (sse.event === "ping") return;
        return fail(controller, 502, "The upstream sent a malformed stream event.");
      }
      // Anthropic repeats the event name as `type` in the data; trust the name if it is missing.
      if (
        sse.event !== undefined && typeof json === "object" && json !== null && !("type" in json)
      ) {
        json = { ...json, type: sse.event };
      }
      const parsed = streamEventSchema.safeParse(json);
      if (!parsed.success) {
        return fail(controller, 502, "The upstream sent a malformed stream event.");
      }
      const ev = parsed.data;
      switch (ev.type) {
        case "message_start":
          if (ev.message.usage) usage = { ...ev.message.usage };
          controller.enqueue({
            type: "start",
            id: ev.message.id,
            model: ev.message.model,
            created: Math.floor(Date.now() / 1000),
          });
          return;
        case "content_block_start": {
          const b = ev.content_block;
          if (b.type === "text") {
            blocks.set(ev.index, { kind: "text" });
            if (b.text) controller.enqueue({ type: "text_delta", text: b.text });
          } else if (b.type === "thinking") {
            blocks.set(ev.index, { kind: "thinking" });
            if (b.thinking) controller.enqueue({ type: "reasoning_delta", text: b.thinking });
          } else if (b.type === "redacted_thinking" && b.data) {
            blocks.set(ev.index, { kind: "other" });
            controller.enqueue({
              type: "reasoning_delta",
              text: "",
              redacted: b.data,
              origin: "anthropic",
            });
          } else if (b.type === "tool_use") {
            const tool = nextTool++;
            const input = b.input != null && typeof b.input === "object" &&
                Object.keys(b.input).length > 0
              ? JSON.stringify(b.input)
              : "";
            blocks.set(ev.index, { kind: "tool", tool, hasArgs: input !== "" });
            controller.enqueue({
              type: "tool_call_start",
              index: tool,
              id: b.id ?? `toolu_${ev.index}`,
              name: b.name ?? "",
            });
            if (input !== "") {
              controller.enqueue({ type: "tool_call_delta", index: tool, argumentsDelta: input });
            }
          } else {
            // Server tool blocks and newer kinds: no IR equivalent.
            blocks.set(ev.index, { kind: "other" });
          }
          return;
        }
        case "content_block_delta": {
          const block = blocks.get(ev.index);
          const d = ev.delta;
          if (!block) return;
          if (d.type === "text_delta" && block.kind === "text" && d.text) {
            controller.enqueue({ type: "text_delta", text: d.text });
          } else if (d.type === "thinking_delta" && block.kind === "thinking" && d.thinking) {
            controller.enqueue({ type: "reasoning_delta", text: d.thinking });
          } else if (d.type === "signature_delta" && block.kind === "thinking" && d.signature) {
            controller.enqueue({
              type: "reasoning_delta",
              text: "",
              signature: d.signature,
              origin: "anthropic",
            });
          } else if (
            d.type === "input_json_delta" && block.kind === "tool" && block.tool !== undefined &&
            d.partial_json
          ) {
            block.hasArgs = true;
            controller.enqueue({
              type: "tool_call_delta",
              index: block.tool,
              argumentsDelta: d.partial_json,
            });
          }
          return;
        }
        case "content_block_stop": {
          const block = blocks.get(ev.index);
          if (block?.kind === "tool" && block.tool !== undefined) {
            // A tool called without arguments still needs a complete JSON text.
            if (!block.hasArgs) {
              controller.enqueue({
                type: "tool_call_delta",
                index: block.tool,
                argumentsDelta: "{}",
              });
            }
            controller.enqueue({ type: "tool_call_end", index: block.tool });
          }
          blocks.delete(ev.index);
          return;
        }
        case "message_delta":
          sawDelta = true;
          if (ev.delta?.stop_reason != null) stopReason = ev.delta.stop_reason;
          // message_delta counts are cumulative: present fields replace, never add.
          for (const [k, v] of Object.entries(ev.usage ?? {})) {
            if (typeof v === "number") usage = { ...usage, [k]: v };
          }
          return;
        case "message_stop":
          done = true;
          controller.enqueue({
            type: "finish",
            reason: stopReasonToIr(stopReason),
            usage: usageToIr(usage),
          });
          return;
        case "error":
          return fail(
            controller,
            statusForAnthropicErrorType(ev.error?.type),
            ev.error?.message ?? "The upstream reported an error.",
          );
        default:
          // ping, and event types added after this was written.
          return;
      }
    },
    flush(controller) {
      if (done) return;
      // Tolerate a host that ends right after message_delta; anything earlier is truncated.
      if (sawDelta) {
        controller.enqueue({
          type: "finish",
          reason: stopReasonToIr(stopReason),
          usage: usageToIr(usage),
        });
      } else {
        fail(controller, 502, "The upstream stream ended before the answer was complete.");
      }
    },
  };
}
