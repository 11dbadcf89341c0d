/**
 * The WebSocket wire format (RFC 6455 §5) for the relay's upstream side, where the gateway is
 * the client: frames it sends are masked, frames it receives are not. Extensions are never
 * negotiated, so the RSV bits must be zero.
 */

export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** One complete message or control frame received from the upstream. */
export type UpstreamMessage =
  | { kind: "text"; data: string }
  | { kind: "binary"; data: Uint8Array<ArrayBuffer> }
  | { kind: "ping"; data: Uint8Array<ArrayBuffer> }
  | { kind: "pong" }
  | { kind: "close"; code: number; reason: string };

/** The upstream broke the protocol; the relay ends the connection with `closeCode`. */
export class FrameError extends Error {
  readonly closeCode: number;

  constructor(message: string, closeCode = 1002) {
    super(message);
    this.name = "FrameError";
    this.closeCode = closeCode;
  }
}

/** A client-to-server frame: FIN set, masked with a fresh random key. */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = payload.byteLength;
  const headerLen = 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + 4;
  const frame = new Uint8Array(headerLen + len);
  frame[0] = 0x80 | opcode;
  let at = 2;
  if (len < 126) {
    frame[1] = 0x80 | len;
  } else if (len < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = len >> 8;
    frame[3] = len & 0xff;
    at = 4;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(len));
    at = 10;
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, at);
  at += 4;
  for (let i = 0; i < len; i++) frame[at + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/** A close frame's payload: the code (when it may be sent) and a reason of at most 123 bytes. */
export function closePayload(code: number | undefined, reason = ""): Uint8Array {
  // 1005, 1006 and 1015 only describe a close locally; they never go on the wire.
  if (code === undefined || code === 1005 || code === 1006 || code === 1015) {
    return new Uint8Array(0);
  }
  const text = new TextEncoder().encode(reason).slice(0, 123);
  const out = new Uint8Array(2 + text.byteLength);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses the upstream's byte stream into messages, joining fragments. `maxMessageBytes`
 * bounds one message; beyond it a `FrameError` with 1009 is thrown.
 */
export class FrameDecoder {
  // Received bytes stay in their chunks until a whole frame is there: no copying per chunk.
  #chunks: Uint8Array[] = [];
  #head = 0;
  #size = 0;
  #fragments: Uint8Array<ArrayBuffer>[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  readonly #maxMessageBytes: number;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Adds received bytes; returns the messages they complete. */
  push(chunk: Uint8Array): UpstreamMessage[] {
    if (chunk.byteLength > 0) {
      this.#chunks.push(chunk);
      this.#size += chunk.byteLength;
    }
    const out: UpstreamMessage[] = [];
    while (true) {
      const frame = this.#nextFrame();
      if (!frame) break;
      const message = this.#onFrame(frame.fin, frame.opcode, frame.payload);
      if (message) out.push(message);
    }
    return out;
  }

  /** Returns the first `n` buffered bytes (n <= size), removing them when `consume`. */
  #take(n: number, consume = true): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    let at = 0;
    let i = this.#head;
    while (at < n) {
      const c = this.#chunks[i];
      const used = Math.min(c.byteLength, n - at);
      out.set(c.subarray(0, used), at);
      at += used;
      if (consume && used < c.byteLength) this.#chunks[i] = c.subarray(used);
      else i++;
    }
    if (consume) {
      this.#size -= n;
      this.#head = i;
      // Drop consumed chunks now and then rather than shifting the array each time.
      if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
        this.#chunks = this.#chunks.slice(this.#head);
        this.#head = 0;
      }
    }
    return out;
  }

  #nextFrame():
    | { fin: boolean; opcode: number; payload: Uint8Array<ArrayBuffer> }
    | undefined {
    if (this.#size < 2) return undefined;
    const b = this.#take(Math.min(this.#size, 10), false);
    if ((b[0] & 0x70) !== 0) throw new FrameError("reserved bits set without an extension");
    if ((b[1] & 0x80) !== 0) throw new FrameError("a server frame must not be masked");
    let len = b[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.byteLength < 4) return undefined;
      len = (b[2] << 8) | b[3];
      at = 4;
    } else if (len === 127) {
      if (b.byteLength < 10) return undefined;
      const big = new DataView(b.buffer).getBigUint64(2);
      if (big > BigInt(this.#maxMessageBytes)) throw new FrameError("message too big", 1009);
      len = Number(big);
      at = 10;
    }
    if (len > this.#maxMessageBytes) throw new FrameError("message too big", 1009);
    if (this.#size < at + len) return undefined;
    this.#take(at);
    const payload = this.#take(len);
    return { fin: (b[0] & 0x80) !== 0, opcode: b[0] & 0x0f, payload };
  }

  #onFrame(
    fin: boolean,
    opcode: number,
    payload: Uint8Array<ArrayBuffer>,
  ): UpstreamMessage | undefined {
    if (opcode >= 0x8) {
      if (!fin || payload.byteLength > 125) throw new FrameError("bad control frame");
      if (opcode === OPCODE.ping) return { kind: "ping", data: payload };
      if (opcode === OPCODE.pong) return { kind: "pong" };
      if (opcode === OPCODE.close) {
        if (payload.byteLength === 0) return { kind: "close", code: 1005, reason: "" };
        if (payload.byteLength === 1) throw new FrameError("bad close payload");
        return {
          kind: "close",
          code: (payload[0] << 8) | payload[1],
          reason: this.#text(payload.subarray(2)),
        };
      }
      throw new FrameError(`unknown control opcode ${opcode}`);
    }
    if (opcode === OPCODE.continuation) {
      if (this.#fragmentOpcode === 0) throw new FrameError("continuation without a start");
    } else if (opcode === OPCODE.text || opcode === OPCODE.binary) {
      if (this.#fragmentOpcode !== 0) throw new FrameError("new message inside a fragmented one");
      this.#fragmentOpcode = opcode;
    } else {
      throw new FrameError(`unknown opcode ${opcode}`);
    }
    this.#fragmentBytes += payload.byteLength;
    if (this.#fragmentBytes > this.#maxMessageBytes) throw new FrameError("message too big", 1009);
    this.#fragments.push(payload);
    if (!fin) return undefined;
    const kind = this.#fragmentOpcode;
    const data = this.#fragments.length === 1 ? this.#fragments[0] : concat(this.#fragments);
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = 0;
    return kind === OPCODE.text ? { kind: "text", data: this.#text(data) } : {
      kind: "binary",
      data,
    };
  }

  #text(bytes: Uint8Array): string {
    try {
      return decoder.decode(bytes);
    } catch {
      throw new FrameError("text is not valid UTF-8", 1007);
    }
  }
}

function concat(parts: Uint8Array<ArrayBuffer>[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
