import { GatewayError } from "../errors.ts";
import type { IrEvent } from "../ir/types.ts";
import { type SseEvent, SseParserStream } from "../sse.ts";

/**
 * Upstream SSE body → IR events through a format's decoder. A broken connection or a
 * decoder failure becomes one IR `error` event and a clean end, so client encoders can
 * finish their stream well-formed; cancelling (client gone) cancels the upstream body.
 */
export function sseBodyToIr(
  body: ReadableStream<Uint8Array>,
  decoder: TransformStream<SseEvent, IrEvent>,
): ReadableStream<IrEvent> {
  const reader = body.pipeThrough(new SseParserStream()).pipeThrough(decoder).getReader();
  return new ReadableStream<IrEvent>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        // A typed failure (e.g. the idle timeout) says what happened; anything else is a break.
        controller.enqueue({
          type: "error",
          status: err instanceof GatewayError ? err.status : 502,
          message: err instanceof GatewayError
            ? err.message
            : "The upstream stream broke off before the answer was complete.",
        });
        controller.close();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  });
}
