/**
 * Reading a byte stream (an upstream body) into a buffer of our own. Its default reader
 * allocates a 64 KiB buffer for every read, however small the chunk: 7–9 µs a read and
 * megabytes of external memory per second of streaming, which set off garbage collections
 * (measured: 0.9 µs a read into a reused buffer). A fresh buffer cost 4–17 µs, so finished
 * readers give theirs back for the next. Used for bodies read whole; stream relays keep the
 * default reader (see `fused_stream.ts`: a read left pending in each idle stream cost RSS).
 */

/** The most one read returns; a larger chunk comes in several reads. */
export const READ_BYTES = 16 * 1024;
const SPARE_BUFFERS = 64;
const spare: ArrayBuffer[] = [];

/** A BYOB reader when the stream is a byte stream, else undefined (the stream stays unlocked). */
export function byobReaderOf(
  stream: ReadableStream<unknown>,
): ReadableStreamBYOBReader | undefined {
  try {
    return stream.getReader({ mode: "byob" }) as ReadableStreamBYOBReader;
  } catch {
    return undefined; // not a byte stream
  }
}

/** A read buffer: a spare one, else a new one. */
export function takeReadBuffer(): ArrayBuffer {
  return spare.pop() ?? new ArrayBuffer(READ_BYTES);
}

/** Gives a buffer back for later reads; one a pending read holds (detached) is left alone. */
export function giveBackReadBuffer(buffer: ArrayBuffer | undefined): void {
  if (buffer && !buffer.detached && spare.length < SPARE_BUFFERS) spare.push(buffer);
}
