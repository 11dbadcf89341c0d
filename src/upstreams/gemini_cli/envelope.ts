/**
 * Code Assist wraps Gemini bodies in envelopes: requests as `{model, project, user_prompt_id,
 * request: <generateContent body>}`, answers (and each SSE `data:` line) as `{response:
 * <GenerateContentResponse>, traceId}`. Everything inside is plain Gemini, so the Gemini format
 * module does the real conversion; this module only wraps and unwraps.
 */
import type { ImageFetchSettings } from "../../formats/gemini/image_fetch.ts";
import { type GeminiRequestBody, upstreamGeminiRequest } from "../../formats/gemini/request.ts";
import { geminiSseToIrTransformer } from "../../formats/gemini/stream.ts";
import type { IrEvent, IrRequest } from "../../ir/types.ts";
import type { SseEvent } from "../../sse.ts";
import { sseBodyToIr } from "../ir_stream.ts";

/** The `generateContent` / `streamGenerateContent` request body of Code Assist. */
export interface CodeAssistRequest {
  model: string;
  project: string;
  user_prompt_id: string;
  request: GeminiRequestBody;
}

/**
 * Builds the request envelope. The inner body is exactly what the Gemini upstream would send;
 * it carries no `model` (Code Assist takes it from the envelope and rejects unknown fields).
 */
export async function buildCodeAssistRequest(
  req: IrRequest,
  options: { model: string; project: string; signal: AbortSignal; imageFetch?: ImageFetchSettings },
): Promise<CodeAssistRequest> {
  const request = await upstreamGeminiRequest(
    req,
    options.model,
    options.signal,
    options.imageFetch,
  );
  return {
    model: options.model,
    project: options.project,
    // Gemini CLI sends one id per user prompt; a fresh one per call keeps attempts distinct.
    user_prompt_id: crypto.randomUUID(),
    request,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * `{response, traceId}` → the GenerateContentResponse inside, with the trace id as response id
 * when the response has none (as Gemini CLI does). Anything else (an `{error}` element, an
 * unwrapped body) is returned unchanged for the Gemini decoder to judge.
 */
export function unwrapCodeAssistResponse(body: unknown): unknown {
  if (!isRecord(body) || !isRecord(body.response)) return body;
  const inner = body.response;
  if (inner.responseId === undefined && typeof body.traceId === "string" && body.traceId !== "") {
    return { ...inner, responseId: body.traceId };
  }
  return inner;
}

/** SSE events carrying envelopes → SSE events carrying the bare Gemini chunks, one for one. */
export function unwrapEnvelopeTransformer(): Transformer<SseEvent, SseEvent> {
  return {
    transform(event, controller) {
      let json: unknown;
      try {
        json = JSON.parse(event.data);
      } catch {
        // Not JSON: the Gemini decoder turns it into an error event.
        controller.enqueue(event);
        return;
      }
      const inner = unwrapCodeAssistResponse(json);
      controller.enqueue(inner === json ? event : { ...event, data: JSON.stringify(inner) });
    },
  };
}

/**
 * A Code Assist SSE body → IR events: unwrap each envelope, then Gemini SSE → IR, fused with
 * the SSE parser in one stream; a broken body ends with an error event (see `sseBodyToIr`).
 */
export function codeAssistSseToIr(
  body: ReadableStream<Uint8Array>,
  options: { model?: string } = {},
): ReadableStream<IrEvent> {
  return sseBodyToIr(body, geminiSseToIrTransformer(options), unwrapEnvelopeTransformer());
}
