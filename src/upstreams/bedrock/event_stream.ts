import { EventStreamCodec, type Message } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { anthropicErrorEvent } from "../../formats/anthropic/stream.ts";
import { encodeSse } from "../../sse.ts";
import { bedrockErrorStatus } from "./errors.ts";

/**
 * Bedrock's `InvokeModelWithResponseStream` answer is AWS's binary event-stream framing
 * (`application/vnd.amazon.eventstream`): each message has a length prelude, CRC-checked
 * headers (`:message-type`, `:event-type` / `:exception-type`) and a body. For Claude each
 * `chunk` event's body is `{"bytes": base64}` and the bytes are one Anthropic stream event.
 * AWS's own codec decodes the messages; this module only splits the byte stream at the length
 * preludes and turns each message into the Anthropic SSE event it carries.
 */

/** The codec the adapter and the test fakes share (the fake encodes with it). */
export const eventStreamCodec: EventStreamCodec = new EventStreamCodec(toUtf8, fromUtf8);

/** Larger than any real message (Bedrock chunks are a few KiB); a bigger prelude is garbage. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const decoder = new TextDecoder();

/** A header's string value, if it has one. */
export function headerString(message: Message, name: string): string | undefined {
  const h = message.headers[name];
  return h && h.type === "string" ? h.value : undefined;
}

/**
 * Event-stream bytes → Anthropic SSE bytes. An `exception` or `error` message (throttling,
 * model errors mid-answer) becomes one Anthropic `event: error` and ends the stream; a frame
 * that does not decode (bad CRC, truncated) errors the stream, which the relays render as a
 * well-formed error event.
 */
export function bedrockStreamToAnthropicSse(): Transformer<Uint8Array, Uint8Array> {
  let buffered: Uint8Array = new Uint8Array(0);
  let done = false;
  return {
    transform(chunk, controller) {
      if (done) return;
      buffered = buffered.byteLength === 0 ? chunk : concat(buffered, chunk);
      while (buffered.byteLength >= 4) {
        const total = new DataView(buffered.buffer, buffered.byteOffset, 4).getUint32(0);
        if (total < 16 || total > MAX_MESSAGE_BYTES) {
          throw new Error("Bedrock sent a malformed event-stream frame.");
        }
        if (buffered.byteLength < total) break;
        const message = eventStreamCodec.decode(buffered.subarray(0, total));
        buffered = buffered.subarray(total);
        const out = messageToSse(message);
        if (out.bytes) controller.enqueue(out.bytes);
        if (out.end) {
          done = true;
          controller.terminate();
          return;
        }
      }
    },
    flush() {
      if (!done && buffered.byteLength > 0) {
        throw new Error("Bedrock's event stream ended in the middle of a message.");
      }
    },
  };
}

function messageToSse(message: Message): { bytes?: Uint8Array; end?: boolean } {
  const type = headerString(message, ":message-type");
  if (type === "event") {
    if (headerString(message, ":event-type") !== "chunk") return {};
    const payload = parseJson(decoder.decode(message.body)) as { bytes?: unknown } | undefined;
    if (typeof payload?.bytes !== "string") {
      return { bytes: anthropicErrorEvent(502, "Bedrock sent a chunk without bytes."), end: true };
    }
    const data = decoder.decode(Uint8Array.from(atob(payload.bytes), (c) => c.charCodeAt(0)));
    const event = parseJson(data) as { type?: unknown } | undefined;
    if (typeof event?.type !== "string") {
      return { bytes: anthropicErrorEvent(502, "Bedrock sent a malformed chunk."), end: true };
    }
    return { bytes: encodeSse({ event: event.type, data }) };
  }
  // `exception` (modelled: throttlingException, modelStreamErrorException, …) or `error`.
  const name = headerString(message, ":exception-type") ??
    headerString(message, ":error-code") ?? "InternalServerException";
  const body = parseJson(decoder.decode(message.body)) as { message?: unknown } | undefined;
  const text = typeof body?.message === "string"
    ? body.message
    : headerString(message, ":error-message") ?? name;
  const status = bedrockErrorStatus(name);
  return { bytes: anthropicErrorEvent(status, `Bedrock ${name}: ${text}`), end: true };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
