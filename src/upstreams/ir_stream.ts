import { GatewayError } from "../errors.ts";
import { fuse } from "../http/fused_stream.ts";
import type { IrEvent } from "../ir/types.ts";
import { type SseEvent, sseParserTransformer } from "../sse.ts";

/**
 * Upstream SSE body → IR events through a format's decoder (after `unwrap`, for upstreams
 * that wrap each event in an envelope). A broken connection or a decoder failure becomes one
 * IR `error` event and a clean end, so client encoders can finish their stream well-formed;
 * cancelling (client gone) cancels the upstream body. Parser, unwrapper and decoder run fused
 * in one stream.
 */
export function sseBodyToIr(
  body: ReadableStream<Uint8Array>,
  decoder: Transformer<SseEvent, IrEvent>,
  unwrap?: Transformer<SseEvent, SseEvent>,
): ReadableStream<IrEvent> {
  const options = { onError: brokenStreamEvent };
  return unwrap
    ? fuse(body, [sseParserTransformer(), unwrap, decoder], options)
    : fuse(body, [sseParserTransformer(), decoder], options);
}

function brokenStreamEvent(err: unknown): IrEvent {
  // A typed failure (e.g. the idle timeout) says what happened; anything else is a break.
  return {
    type: "error",
    status: err instanceof GatewayError ? err.status : 502,
    message: err instanceof GatewayError
      ? err.message
      : "The upstream stream broke off before the answer was complete.",
  };
}
