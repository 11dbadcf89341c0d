import { withBlocks } from "../../ir/blockify.ts";
import type { IrEvent, IrFinishReason, IrUsage } from "../../ir/types.ts";
import { encodeSse, type SseEvent } from "../../sse.ts";
import { ReasoningCarrier } from "../signature_carrier.ts";
import {
  argsFromJson,
  type CallIdSource,
  callSignature,
  geminiModelPartToIr,
  randomCallIds,
} from "./parts.ts";
import {
  finishReasonToGemini,
  finishReasonToIr,
  newResponseId,
  usageToGemini,
  usageToIr,
} from "./response.ts";
import { type GeminiResponseBody, geminiResponseSchema, type GeminiWirePart } from "./schema.ts";

const encoder = new TextEncoder();

/** Google RPC status names for HTTP codes, as Gemini's error bodies carry them. */
export function googleStatusName(code: number): string {
  switch (code) {
    case 400:
    case 413:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ABORTED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 499:
      return "CANCELLED";
    case 501:
      return "UNIMPLEMENTED";
    case 502:
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
  }
}

/** One streamed Gemini element in SSE framing, with Google's CRLF line endings. */
export function geminiSseChunk(body: unknown): Uint8Array {
  return encodeSse({ data: JSON.stringify(body) }, "\r\n");
}

/** The in-stream error element (`{"error": {code, message, status}}`), which the SDK raises. */
export function geminiErrorChunk(status: number, message: string): {
  error: { code: number; message: string; status: string };
} {
  const code = status >= 400 && status < 600 ? status : 500;
  return { error: { code, message, status: googleStatusName(code) } };
}

interface PendingCall {
  name: string;
  args: string;
  signature?: string;
}

/**
 * IR events → Gemini `streamGenerateContent` bytes: with `sse`, `data: {chunk}` events; without,
 * one JSON array written element by element (`[` first element, `,\r\n` before each next one,
 * `]` at the end). Text and thoughts go out as they arrive; a function call is sent whole, in one
 * chunk, when its arguments are complete (Gemini clients expect an `args` object). The last
 * chunk carries `finishReason` and `usageMetadata`. An error event becomes an error element.
 */
export function irToGeminiTransformer(options: { sse: boolean }): Transformer<IrEvent, Uint8Array> {
  let id = "";
  let model = "";
  let elements = 0;
  let done = false;
  let pendingSignature: string | undefined;
  // Open function calls by IR tool index, each sent whole at its end (withBlocks ends them all
  // before the finish).
  const calls = new Map<number, PendingCall>();
  // Foreign signed reasoning rides on the next function call (see signature_carrier.ts).
  const carrier = new ReasoningCarrier();

  const write = (
    controller: TransformStreamDefaultController<Uint8Array>,
    body: unknown,
  ): void => {
    if (options.sse) controller.enqueue(geminiSseChunk(body));
    else {
      const prefix = elements === 0 ? "[" : ",\r\n";
      controller.enqueue(encoder.encode(prefix + JSON.stringify(body)));
    }
    elements++;
  };

  const chunk = (
    parts: GeminiWirePart[],
    end?: { reason: IrFinishReason; usage?: IrUsage },
  ): GeminiResponseBody => {
    const candidate: NonNullable<GeminiResponseBody["candidates"]>[number] = {
      content: { role: "model", parts },
    };
    if (end) candidate.finishReason = finishReasonToGemini(end.reason);
    candidate.index = 0;
    const body: GeminiResponseBody = { candidates: [candidate] };
    if (end?.usage) body.usageMetadata = usageToGemini(end.usage);
    body.modelVersion = model;
    body.responseId = id;
    return body;
  };

  /** A part takes the signature of an empty signed reasoning event that came before it. */
  const signed = (part: GeminiWirePart): GeminiWirePart => {
    if (pendingSignature !== undefined && part.thoughtSignature === undefined) {
      part.thoughtSignature = pendingSignature;
    }
    pendingSignature = undefined;
    return part;
  };

  const emitCall = (
    controller: TransformStreamDefaultController<Uint8Array>,
    call: PendingCall,
  ): void => {
    const part: GeminiWirePart = {
      functionCall: { name: call.name, args: argsFromJson(call.args) },
    };
    if (call.signature !== undefined) part.thoughtSignature = call.signature;
    write(controller, chunk([signed(part)]));
  };

  const close = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (!options.sse) controller.enqueue(encoder.encode(elements === 0 ? "[]" : "]"));
    done = true;
  };

  return withBlocks<Uint8Array>({
    event(event, controller) {
      if (done) return;
      switch (event.type) {
        case "start":
          id = event.id;
          model = event.model;
          break;
        case "text_delta":
          if (event.text !== "") write(controller, chunk([signed({ text: event.text })]));
          break;
        case "reasoning_delta": {
          carrier.event(event);
          const signature = event.origin === "gemini" ? event.signature : undefined;
          if (event.text === "") {
            if (signature !== undefined) pendingSignature = signature;
            break;
          }
          const part: GeminiWirePart = { text: event.text, thought: true };
          if (signature !== undefined) part.thoughtSignature = signature;
          write(controller, chunk([signed(part)]));
          break;
        }
        case "tool_call_start": {
          const call: PendingCall = { name: event.name, args: "" };
          const signature = callSignature(event, carrier);
          if (signature !== undefined) call.signature = signature;
          calls.set(event.index, call);
          break;
        }
        case "tool_call_delta": {
          const call = calls.get(event.index);
          if (call) call.args += event.argumentsDelta;
          break;
        }
        case "tool_call_end": {
          const call = calls.get(event.index);
          calls.delete(event.index);
          if (call) emitCall(controller, call);
          break;
        }
        case "finish": {
          // Every chunk needs a non-empty part list: the SDK's chat drops the turn otherwise.
          const last: GeminiWirePart = pendingSignature !== undefined
            ? { text: "", thoughtSignature: pendingSignature }
            : { text: "" };
          pendingSignature = undefined;
          write(controller, chunk([last], { reason: event.reason, usage: event.usage }));
          close(controller);
          break;
        }
        case "error":
          write(controller, geminiErrorChunk(event.status, event.message));
          close(controller);
          break;
        default:
          // Text and reasoning boundaries: Gemini parts carry no block structure.
          break;
      }
    },
    flush(controller) {
      if (!done) close(controller);
    },
  });
}

/**
 * Parsed Gemini SSE events (`streamGenerateContent?alt=sse`) → IR events. Gemini sends each
 * function call whole, so it becomes start + one delta with the full JSON + end. Usage counts
 * are cumulative per chunk: the last one is reported once, on `finish`, which is emitted when
 * the upstream stream ends. A stream that ends without a `finishReason` was cut off: that is an
 * error event (502), not a silent finish. An `error` element becomes an error event.
 */
export function geminiSseToIrTransformer(
  options: { model?: string; ids?: CallIdSource } = {},
): Transformer<SseEvent, IrEvent> {
  const ids = options.ids ?? randomCallIds();
  let started = false;
  let done = false;
  let toolIndex = 0;
  let finishReason: string | undefined;
  let blocked = false;
  let usage: IrUsage | undefined;

  const fail = (
    controller: TransformStreamDefaultController<IrEvent>,
    status: number,
    message: string,
  ): void => {
    controller.enqueue({ type: "error", status, message });
    done = true;
  };

  return {
    transform(event, controller) {
      if (done) return;
      let json: unknown;
      try {
        json = JSON.parse(event.data);
      } catch {
        return fail(controller, 502, "The Gemini upstream sent a chunk that is not JSON.");
      }
      const parsed = geminiResponseSchema.safeParse(json);
      if (!parsed.success) {
        return fail(controller, 502, "The Gemini upstream sent an unexpected chunk.");
      }
      const data = parsed.data;
      if (data.error) {
        const code = data.error.code ?? 500;
        const status = code >= 500 || code < 400 ? 502 : code;
        const name = data.error.status ? `${data.error.status}: ` : "";
        return fail(
          controller,
          status,
          `Gemini upstream error ${name}${data.error.message ?? ""}`,
        );
      }
      if (!started) {
        started = true;
        controller.enqueue({
          type: "start",
          id: data.responseId ?? newResponseId(),
          model: data.modelVersion ?? options.model ?? "",
          created: Math.floor(Date.now() / 1000),
        });
      }
      const candidate = data.candidates?.[0];
      for (const part of candidate?.content?.parts ?? []) {
        for (const p of geminiModelPartToIr(part, ids)) {
          if (p.type === "text") controller.enqueue({ type: "text_delta", text: p.text });
          else if (p.type === "reasoning") {
            controller.enqueue({
              type: "reasoning_delta",
              text: p.text,
              ...(p.signature !== undefined ? { signature: p.signature } : {}),
              origin: "gemini",
            });
          } else if (p.type === "tool_call") {
            const index = toolIndex++;
            controller.enqueue({
              type: "tool_call_start",
              index,
              id: p.id,
              name: p.name,
              ...(p.signature !== undefined ? { signature: p.signature, origin: "gemini" } : {}),
            });
            controller.enqueue({ type: "tool_call_delta", index, argumentsDelta: p.arguments });
            controller.enqueue({ type: "tool_call_end", index });
          }
        }
      }
      if (candidate?.finishReason) finishReason = candidate.finishReason;
      if (!candidate && data.promptFeedback?.blockReason) blocked = true;
      const u = usageToIr(data.usageMetadata);
      if (u) usage = u;
    },
    flush(controller) {
      if (done) return;
      if (!finishReason && !blocked) {
        return fail(
          controller,
          502,
          "The Gemini upstream stream ended before the answer was complete.",
        );
      }
      const reason = blocked ? "content_filter" : finishReasonToIr(finishReason, toolIndex > 0);
      controller.enqueue({ type: "finish", reason, ...(usage ? { usage } : {}) });
    },
  };
}
