import assert from "node:assert/strict";
import {
  closePayload,
  encodeFrame,
  FrameDecoder,
  FrameError,
  OPCODE,
} from "../../src/passthrough/ws_frames.ts";

/** A server-to-client frame (unmasked), as an upstream sends it. */
function serverFrame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const len = payload.byteLength;
  const head = len < 126 ? [len] : len < 65536 ? [126, len >> 8, len & 0xff] : [
    127,
    ...new Uint8Array(new BigUint64Array([BigInt(len)]).buffer).reverse(),
  ];
  return new Uint8Array([(fin ? 0x80 : 0) | opcode, ...head, ...payload]);
}

/** Undoes a client frame's masking. */
function unmask(frame: Uint8Array): { opcode: number; payload: Uint8Array } {
  assert.equal(frame[0] & 0x80, 0x80, "FIN");
  assert.equal(frame[1] & 0x80, 0x80, "client frames are masked");
  let len = frame[1] & 0x7f;
  let at = 2;
  if (len === 126) {
    len = (frame[2] << 8) | frame[3];
    at = 4;
  } else if (len === 127) {
    len = Number(new DataView(frame.buffer, frame.byteOffset).getBigUint64(2));
    at = 10;
  }
  const mask = frame.subarray(at, at + 4);
  const payload = frame.subarray(at + 4).map((b, i) => b ^ mask[i & 3]);
  assert.equal(payload.byteLength, len);
  return { opcode: frame[0] & 0x0f, payload };
}

const enc = new TextEncoder();

Deno.test("encodeFrame: masked client frames of every length class", () => {
  for (const size of [0, 5, 125, 126, 65535, 65536, 200_000]) {
    const payload = new Uint8Array(size).map((_, i) => i % 256);
    const { opcode, payload: back } = unmask(encodeFrame(OPCODE.binary, payload));
    assert.equal(opcode, OPCODE.binary);
    assert.deepEqual(back, payload, `size ${size}`);
  }
});

Deno.test("FrameDecoder: messages split at any byte boundary, fragments joined", () => {
  const stream = new Uint8Array([
    ...serverFrame(OPCODE.text, enc.encode("héllo")),
    ...serverFrame(OPCODE.binary, new Uint8Array(70_000).fill(7)),
    ...serverFrame(OPCODE.text, enc.encode("frag"), false),
    ...serverFrame(OPCODE.ping, enc.encode("p")),
    ...serverFrame(OPCODE.continuation, enc.encode("mented"), true),
    ...serverFrame(OPCODE.close, closePayload(4001, "bye")),
  ]);
  for (const step of [1, 7, 1000, stream.byteLength]) {
    const decoder = new FrameDecoder(1 << 20);
    const out = [];
    for (let i = 0; i < stream.byteLength; i += step) {
      out.push(...decoder.push(stream.subarray(i, i + step)));
    }
    assert.equal(out.length, 5, `step ${step}`);
    assert.deepEqual(out[0], { kind: "text", data: "héllo" });
    assert.equal(out[1].kind, "binary");
    assert.equal(out[1].kind === "binary" && out[1].data.byteLength, 70_000);
    assert.deepEqual(out[2], { kind: "ping", data: enc.encode("p") });
    assert.deepEqual(out[3], { kind: "text", data: "fragmented" });
    assert.deepEqual(out[4], { kind: "close", code: 4001, reason: "bye" });
  }
});

Deno.test("FrameDecoder: protocol violations end the connection with the fitting code", () => {
  const cases: [Uint8Array, number][] = [
    [new Uint8Array([0x81, 0x81, 1, 2, 3, 4, 0x61]), 1002], // masked server frame
    [new Uint8Array([0xc1, 0x01, 0x61]), 1002], // RSV1 without an extension
    [serverFrame(OPCODE.continuation, enc.encode("x")), 1002], // nothing to continue
    [serverFrame(OPCODE.text, new Uint8Array([0xff, 0xfe])), 1007], // not UTF-8
    [serverFrame(OPCODE.ping, new Uint8Array(126)), 1002], // control frame too long
    [serverFrame(OPCODE.binary, new Uint8Array(2000)), 1009], // over the message limit
    [serverFrame(0x3, new Uint8Array(0)), 1002], // unknown opcode
  ];
  for (const [bytes, code] of cases) {
    assert.throws(
      () => new FrameDecoder(1024).push(bytes),
      (err: unknown) => err instanceof FrameError && err.closeCode === code,
      `expected ${code}`,
    );
  }
});

Deno.test("closePayload: local-only codes are never sent; reasons are capped", () => {
  assert.equal(closePayload(1005).byteLength, 0);
  assert.equal(closePayload(1006).byteLength, 0);
  assert.equal(closePayload(undefined).byteLength, 0);
  assert.deepEqual([...closePayload(1001, "x")], [0x03, 0xe9, 0x78]);
  assert.equal(closePayload(1000, "r".repeat(500)).byteLength, 125);
});
