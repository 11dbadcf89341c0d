import type { IrEvent, IrRequest, IrResponse } from "../ir/types.ts";
import type { CallerFormat } from "./caller_format.ts";
import type { RequestHead } from "./request_head.ts";

/** The four client-facing API formats. */
export type FormatId = "openai_chat" | "openai_responses" | "anthropic" | "gemini";

/** What the route knows besides the body (Gemini puts the model and streaming in the URL). */
export interface RequestHints {
  /** Model from the URL path, when the format carries it there. */
  model?: string;
  /** Streaming decided by the route (Gemini `:streamGenerateContent`). */
  stream?: boolean;
  /** Gemini `?alt=sse`: SSE framing instead of a streamed JSON array. */
  sse?: boolean;
}

/** An encoded stream and the content type it is sent with. */
export interface EncodedStream {
  contentType: string;
  /** IR events → bytes; run with `fuse` (or `new TransformStream(transformer)`). */
  transformer: Transformer<IrEvent, Uint8Array>;
}

/**
 * One client-facing API format: its request body into the IR, and IR answers back into its
 * wire shapes. Each format module exports one object implementing this.
 */
export interface ClientFormat {
  readonly id: FormatId;
  /** Decides the error shape for this format's callers. */
  readonly caller: CallerFormat;
  /** Top-level body fields this format understands; others are dropped when converting. */
  readonly knownFields: ReadonlySet<string>;
  /** Validates the body (zod) and converts it; throws RequestError with a clear message. */
  toIr(body: unknown, hints: RequestHints): IrRequest;
  /**
   * Only the fields the gateway reads before dispatch, checked (`src/formats/request_head.ts`),
   * for formats an upstream may be forwarded natively; without it the IR is always made.
   */
  head?(body: Record<string, unknown>, hints: RequestHints): RequestHead;
  /** The non-streaming answer body. */
  fromIrResponse(res: IrResponse, req: IrRequest): unknown;
  /** IR events → this format's stream bytes. Never errors: an `error` event becomes the in-stream error form. */
  encodeStream(req: IrRequest, hints: RequestHints): EncodedStream;
}
