import { isContextLengthError } from "../../errors.ts";
import { withBlocks } from "../../ir/blockify.ts";
import type { IrEvent, IrRequest, IrUsage } from "../../ir/types.ts";
import { encodeSse } from "../../sse.ts";
import type { ReasoningEnvelope } from "./reasoning_envelope.ts";
import {
  buildResponse,
  callIdToClient,
  type ItemStatus,
  newResponsesId,
  outcomeOf,
  outputText,
  reasoningAsSummary,
  reasoningItem,
  type ResponsesError,
  type ResponsesFunctionCallItem,
  type ResponsesMessageItem,
  type ResponsesOutputItem,
  type ResponsesResponse,
  type ResponseStatus,
} from "./response.ts";

type Controller = TransformStreamDefaultController<Uint8Array>;

interface OpenMessage {
  index: number;
  id: string;
  text: string;
}

interface OpenReasoning {
  index: number;
  id: string;
  text: string;
  env: ReasoningEnvelope;
  /** Whether the summary part / reasoning_text content part was announced. */
  partOpen: boolean;
}

interface OpenCall {
  index: number;
  id: string;
  callId: string;
  name: string;
  args: string;
}

/** Responses `error` codes (also used in `response.failed`) by HTTP status. */
export function errorCodeForStatus(status: number, message = ""): string {
  if (status === 429) return "rate_limit_exceeded";
  if (status === 400 && isContextLengthError(message)) return "context_length_exceeded";
  if (status >= 400 && status < 500) return "invalid_prompt";
  return "server_error";
}

/**
 * IR events → OpenAI Responses SSE: named events, each with `type` and an increasing
 * `sequence_number` from 0. `response.created` and `response.in_progress` open the stream; each
 * output item (reasoning, message, function call) is announced with `response.output_item.added`,
 * filled by its delta events as soon as each IR event arrives, and closed with its `.done`
 * events and `response.output_item.done`; the stream ends with `response.completed` (or
 * `response.incomplete` for length/content-filter stops) carrying the full response and usage.
 * An IR error becomes an `error` event, which the OpenAI SDK raises, then `response.failed`,
 * which Codex reads.
 */
export function irToResponsesSseTransformer(req: IrRequest): Transformer<IrEvent, Uint8Array> {
  const asSummary = reasoningAsSummary(req);
  let id = newResponsesId("resp");
  let model = req.model;
  let createdAt = Math.floor(Date.now() / 1000);
  let seq = 0;
  let started = false;
  let done = false;
  // Finished items by output index; open items reserve their index until they close.
  const output: Array<ResponsesOutputItem | undefined> = [];
  // The open items: behind withBlocks a message or reasoning item overlaps nothing, while
  // parallel function calls (by IR tool index) may interleave their arguments.
  let message: OpenMessage | undefined;
  let reasoning: OpenReasoning | undefined;
  const calls = new Map<number, OpenCall>();

  const emit = (c: Controller, type: string, payload: Record<string, unknown>): void => {
    const data = JSON.stringify({ type, ...payload, sequence_number: seq++ });
    c.enqueue(encodeSse({ event: type, data }));
  };

  const snapshot = (
    status: ResponseStatus,
    extra: {
      usage?: IrUsage;
      incompleteDetails?: ResponsesResponse["incomplete_details"];
      error?: ResponsesError | null;
    } = {},
  ) =>
    buildResponse({
      id,
      createdAt,
      model,
      status,
      output: output.filter((item): item is ResponsesOutputItem => item !== undefined),
      ...extra,
    }, req);

  const ensureStarted = (c: Controller): void => {
    if (started) return;
    started = true;
    emit(c, "response.created", { response: snapshot("in_progress") });
    emit(c, "response.in_progress", { response: snapshot("in_progress") });
  };

  const reserve = (): number => {
    output.push(undefined);
    return output.length - 1;
  };

  // ---- message items ----------------------------------------------------------------------

  const messageItem = (m: OpenMessage, status: ItemStatus): ResponsesMessageItem => ({
    id: m.id,
    type: "message",
    status,
    role: "assistant",
    content: status === "in_progress" ? [] : [outputText(m.text)],
  });

  const openMessage = (c: Controller): void => {
    const m: OpenMessage = { index: reserve(), id: newResponsesId("msg"), text: "" };
    message = m;
    emit(c, "response.output_item.added", {
      output_index: m.index,
      item: messageItem(m, "in_progress"),
    });
    emit(c, "response.content_part.added", {
      item_id: m.id,
      output_index: m.index,
      content_index: 0,
      part: outputText(""),
    });
  };

  const closeMessage = (c: Controller, status: ItemStatus = "completed"): void => {
    const m = message;
    if (!m) return;
    message = undefined;
    const ref = { item_id: m.id, output_index: m.index, content_index: 0 };
    emit(c, "response.output_text.done", { ...ref, text: m.text, logprobs: [] });
    emit(c, "response.content_part.done", { ...ref, part: outputText(m.text) });
    const item = messageItem(m, status);
    output[m.index] = item;
    emit(c, "response.output_item.done", { output_index: m.index, item });
  };

  // ---- reasoning items --------------------------------------------------------------------

  const openReasoning = (c: Controller): void => {
    const r: OpenReasoning = {
      index: reserve(),
      id: newResponsesId("rs"),
      text: "",
      env: {},
      partOpen: false,
    };
    reasoning = r;
    emit(c, "response.output_item.added", {
      output_index: r.index,
      item: { id: r.id, type: "reasoning", summary: [] },
    });
  };

  const reasoningText = (c: Controller, r: OpenReasoning, delta: string): void => {
    const ref = { item_id: r.id, output_index: r.index };
    if (!r.partOpen) {
      r.partOpen = true;
      if (asSummary) {
        emit(c, "response.reasoning_summary_part.added", {
          ...ref,
          summary_index: 0,
          part: { type: "summary_text", text: "" },
        });
      } else {
        emit(c, "response.content_part.added", {
          ...ref,
          content_index: 0,
          part: { type: "reasoning_text", text: "" },
        });
      }
    }
    r.text += delta;
    if (asSummary) {
      emit(c, "response.reasoning_summary_text.delta", { ...ref, summary_index: 0, delta });
    } else {
      emit(c, "response.reasoning_text.delta", { ...ref, content_index: 0, delta });
    }
  };

  const closeReasoning = (c: Controller): void => {
    const r = reasoning;
    if (!r) return;
    reasoning = undefined;
    const ref = { item_id: r.id, output_index: r.index };
    if (r.partOpen && asSummary) {
      emit(c, "response.reasoning_summary_text.done", { ...ref, summary_index: 0, text: r.text });
      emit(c, "response.reasoning_summary_part.done", {
        ...ref,
        summary_index: 0,
        part: { type: "summary_text", text: r.text },
      });
    } else if (r.partOpen) {
      emit(c, "response.reasoning_text.done", { ...ref, content_index: 0, text: r.text });
      emit(c, "response.content_part.done", {
        ...ref,
        content_index: 0,
        part: { type: "reasoning_text", text: r.text },
      });
    }
    const item = reasoningItem(r.id, r.text, r.env, asSummary);
    output[r.index] = item;
    emit(c, "response.output_item.done", { output_index: r.index, item });
  };

  // ---- function call items ----------------------------------------------------------------

  const callItem = (call: OpenCall, status: ItemStatus): ResponsesFunctionCallItem => ({
    id: call.id,
    type: "function_call",
    status,
    arguments: call.args,
    call_id: call.callId,
    name: call.name,
  });

  const closeCall = (c: Controller, irIndex: number, status: ItemStatus): void => {
    const call = calls.get(irIndex);
    if (!call) return;
    calls.delete(irIndex);
    const ref = { item_id: call.id, output_index: call.index };
    // Empty arguments are `{}`, never "" (which no client can parse).
    if (call.args === "") {
      call.args = "{}";
      emit(c, "response.function_call_arguments.delta", { ...ref, delta: "{}" });
    }
    emit(c, "response.function_call_arguments.done", { ...ref, arguments: call.args });
    const item = callItem(call, status);
    output[call.index] = item;
    emit(c, "response.output_item.done", { output_index: call.index, item });
  };

  /** Open items as they stand, for the failed response: marked incomplete, not closed. */
  const fillOpen = (): void => {
    if (message) output[message.index] = messageItem(message, "incomplete");
    if (reasoning) {
      output[reasoning.index] = reasoningItem(
        reasoning.id,
        reasoning.text,
        reasoning.env,
        asSummary,
      );
    }
    for (const call of calls.values()) output[call.index] = callItem(call, "incomplete");
  };

  const fail = (c: Controller, status: number, text: string): void => {
    ensureStarted(c);
    const code = errorCodeForStatus(status, text);
    emit(c, "error", { code, message: text, param: null });
    fillOpen();
    emit(c, "response.failed", {
      response: snapshot("failed", { error: { code, message: text } }),
    });
    done = true;
  };

  return withBlocks<Uint8Array>({
    event(event, c) {
      if (done) return;
      if (event.type !== "start" && event.type !== "error") ensureStarted(c);
      switch (event.type) {
        case "start":
          if (!started) {
            // OpenAI ids keep their form; anything else gets a resp_ id of our own.
            if (event.id.startsWith("resp_")) id = event.id;
            model = event.model || model;
            createdAt = event.created;
          }
          ensureStarted(c);
          break;
        case "text_start":
          openMessage(c);
          break;
        case "text_delta": {
          const m = message;
          if (!m) break; // withBlocks opens the item first; kept for the type checker.
          m.text += event.text;
          emit(c, "response.output_text.delta", {
            item_id: m.id,
            output_index: m.index,
            content_index: 0,
            delta: event.text,
            logprobs: [],
          });
          break;
        }
        case "text_end":
          closeMessage(c, event.cut ? "incomplete" : "completed");
          break;
        case "reasoning_start":
          openReasoning(c);
          break;
        case "reasoning_delta": {
          const r = reasoning;
          if (!r) break;
          if (event.text !== "") reasoningText(c, r, event.text);
          if (event.signature !== undefined) r.env.signature = event.signature;
          if (event.redacted !== undefined) r.env.redacted = event.redacted;
          if (event.origin) r.env.origin = event.origin;
          break;
        }
        case "reasoning_end":
          closeReasoning(c);
          break;
        case "tool_call_start": {
          const call: OpenCall = {
            index: reserve(),
            id: newResponsesId("fc"),
            // A call's own signature rides in its call_id.
            callId: callIdToClient(event.id, event.signature, event.origin),
            name: event.name,
            args: "",
          };
          calls.set(event.index, call);
          emit(c, "response.output_item.added", {
            output_index: call.index,
            item: callItem(call, "in_progress"),
          });
          break;
        }
        case "tool_call_delta": {
          const call = calls.get(event.index);
          if (!call || event.argumentsDelta === "") break;
          call.args += event.argumentsDelta;
          emit(c, "response.function_call_arguments.delta", {
            item_id: call.id,
            output_index: call.index,
            delta: event.argumentsDelta,
          });
          break;
        }
        case "tool_call_end":
          closeCall(c, event.index, event.cut ? "incomplete" : "completed");
          break;
        case "finish": {
          // Every item has ended (withBlocks), `cut` where the answer stopped inside it.
          const outcome = outcomeOf(event.reason);
          const type = outcome.status === "completed"
            ? "response.completed"
            : outcome.status === "incomplete"
            ? "response.incomplete"
            : "response.failed";
          emit(c, type, {
            response: snapshot(outcome.status, {
              ...(event.usage ? { usage: event.usage } : {}),
              incompleteDetails: outcome.incompleteDetails,
              error: outcome.error,
            }),
          });
          done = true;
          break;
        }
        case "error":
          fail(c, event.status, event.message);
          break;
      }
    },
    flush(c) {
      // An upstream stream that just stops must not look like a finished answer.
      if (!done) fail(c, 502, "The upstream stream ended before the response was complete.");
    },
  });
}
