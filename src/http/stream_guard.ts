import { fuse, type Stage } from "./fused_stream.ts";

/**
 * Relays an upstream SSE body to the client chunk by chunk, as it arrives, and makes sure a
 * failure after the first byte still ends the client's stream well-formed: bytes are released
 * only up to the last complete event (almost always the whole chunk), so when the upstream
 * breaks, the partial event is dropped and `onError` supplies a complete error event instead.
 * A fused stage: on a fused body (the idle watch's) it adds no stream of its own.
 */
export function guardSseStream(
  body: ReadableStream<Uint8Array>,
  options: { onError: (err: unknown) => Uint8Array; onEnd?: () => void },
): ReadableStream<Uint8Array> {
  return fuse(body, [sseGuard(options)]);
}

function sseGuard(
  options: { onError: (err: unknown) => Uint8Array; onEnd?: () => void },
): Stage<Uint8Array, Uint8Array> {
  let pending: Uint8Array | null = null;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    options.onEnd?.();
  };
  return {
    transform(value, controller) {
      const chunk: Uint8Array = pending ? concat(pending, value) : value;
      const cut = lastEventBoundary(chunk);
      if (cut === chunk.byteLength) {
        pending = null;
        controller.enqueue(chunk);
        return;
      }
      pending = cut === 0 ? chunk : chunk.subarray(cut);
      if (cut > 0) controller.enqueue(chunk.subarray(0, cut));
    },
    flush(controller) {
      const tail = pending;
      pending = null;
      if (tail && !isBlank(tail)) {
        const last = tail[tail.byteLength - 1];
        // Whole lines missing only the closing blank line: complete the event. A line cut in
        // half is a broken answer: end with the error event instead of the fragment.
        if (last === 10 || last === 13) controller.enqueue(concat(tail, NEWLINE));
        else controller.enqueue(options.onError(new Error("stream ended mid-event")));
      }
      finish();
    },
    rescue(err) {
      pending = null;
      finish();
      return options.onError(err);
    },
    cancel() {
      finish();
    },
  };
}

/**
 * Index just after the last event boundary: a line ending (LF, CR or CRLF) directly followed
 * by another, i.e. an empty line. Returns 0 when the bytes hold no complete event.
 */
function lastEventBoundary(bytes: Uint8Array): number {
  for (let i = bytes.byteLength - 1; i >= 1; i--) {
    const c = bytes[i];
    if (c !== 10 && c !== 13) continue;
    // The line ending at i: CRLF counts as one ending, so step back over its CR.
    let j = c === 10 && bytes[i - 1] === 13 ? i - 2 : i - 1;
    if (j < 0) continue;
    const p = bytes[j];
    if (p === 10 || p === 13) return i + 1;
    j = -1;
  }
  return 0;
}

const NEWLINE = new Uint8Array([10]);

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 10 && b !== 13 && b !== 32 && b !== 9) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
