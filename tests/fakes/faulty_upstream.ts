/**
 * An OpenAI Chat Completions upstream on raw TCP (127.0.0.1) that misbehaves on request: the
 * request's `model` names the fault. Raw sockets, not Deno.serve, so it can do what a server
 * library would prevent: close before the headers, cut a body short, stall mid-stream, lie
 * about lengths. It counts open connections and records when each one was closed by the
 * gateway, so tests can check that nothing stays behind.
 *
 * Models (faults): `ok` (well-behaved; JSON or SSE as asked), `reset-headers`, `reset-body`,
 * `reset-stream`, `stall-headers`, `stall-stream` (two chunks, then silence), `malformed-json`,
 * `truncated-sse` (an event cut in half, then the end), `unknown-event`, `error-200`,
 * `gzip`, `huge` (a multi-megabyte answer), `status-<code>` (an OpenAI error body).
 */

export interface FaultyUpstream {
  url: string;
  /** Connections currently open. */
  open(): number;
  /** Requests received, by model. */
  hits: Map<string, number>;
  /** Epoch ms at which the last connection that was stalling mid-answer saw the gateway close. */
  lastStallClosedAt(): number | undefined;
  close(): Promise<void>;
}

export const HUGE_TEXT_BYTES = 4 * 1024 * 1024;
export const OK_TEXT = "Hello from a faulty upstream.";
/** The pieces an `ok` stream sends, in order. */
export const STREAM_PIECES = ["Hel", "lo ", "from ", "a ", "faulty ", "upstream."];

const enc = new TextEncoder();
const dec = new TextDecoder();

export function startFaultyUpstream(): FaultyUpstream {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const hits = new Map<string, number>();
  let stallClosedAt: number | undefined;
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serveConn(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // already closed
        }
      });
    }
  })();

  async function serveConn(conn: Deno.Conn): Promise<void> {
    const reader = new ConnReader(conn);
    while (true) {
      const req = await reader.readRequest();
      if (!req) return;
      let model = "ok";
      let stream = false;
      try {
        const body = JSON.parse(req.body) as { model?: string; stream?: boolean };
        model = body.model ?? "ok";
        stream = body.stream === true;
      } catch {
        // not JSON: answer as `ok`
      }
      hits.set(model, (hits.get(model) ?? 0) + 1);
      const keepOpen = await answer(conn, reader, model, stream);
      if (!keepOpen) return;
    }
  }

  /** Writes the answer for one request; false when the connection must end afterwards. */
  async function answer(
    conn: Deno.Conn,
    reader: ConnReader,
    model: string,
    stream: boolean,
  ): Promise<boolean> {
    const write = (s: string | Uint8Array) =>
      writeAll(conn, typeof s === "string" ? enc.encode(s) : s);
    switch (model) {
      case "reset-headers":
        return false;
      case "reset-body":
        await write(head(200, "application/json", { "content-length": "1000" }));
        await write('{"id":"chatcmpl-1","object":"chat.completion","choices":[{"ind');
        return false;
      case "reset-stream":
        await write(head(200, "text/event-stream", { "transfer-encoding": "chunked" }));
        await write(chunked(sse(delta("Hel"))));
        await write(chunked(sse(delta("lo "))));
        return false;
      case "stall-headers":
        await reader.waitClosed();
        return false;
      case "stall-stream":
        await write(head(200, "text/event-stream", { "transfer-encoding": "chunked" }));
        await write(chunked(sse(delta("Hel"))));
        await write(chunked(sse(delta("lo "))));
        await reader.waitClosed();
        stallClosedAt = Date.now();
        return false;
      case "malformed-json":
        return await sendBody(conn, 200, "application/json", '{"id":"chatcmpl-1","choices":[');
      case "truncated-sse": {
        await write(head(200, "text/event-stream", { "transfer-encoding": "chunked" }));
        await write(chunked(sse(delta("Hel"))));
        await write(chunked('data: {"id":"chatcmpl-1","object":"chat.completion.chu'));
        await write("0\r\n\r\n");
        return true;
      }
      case "unknown-event": {
        await write(head(200, "text/event-stream", { "transfer-encoding": "chunked" }));
        await write(chunked(sse(delta("Hel"))));
        await write(chunked('event: surprise\ndata: {"whatever":true}\n\n'));
        await write(chunked(': a comment\n\ndata: {"id":"x","object":"mystery.kind"}\n\n'));
        await write(chunked(sse(delta("lo"))));
        await write(chunked(sse(finish())));
        await write(chunked("data: [DONE]\n\n"));
        await write("0\r\n\r\n");
        return true;
      }
      case "error-200":
        return await sendBody(
          conn,
          200,
          "application/json",
          JSON.stringify({ error: { message: "upstream is overloaded", type: "server_error" } }),
        );
      case "gzip": {
        const gz = await gzip(JSON.stringify(completion(OK_TEXT)));
        await write(
          head(200, "application/json", {
            "content-encoding": "gzip",
            "content-length": String(gz.byteLength),
          }),
        );
        await write(gz);
        return true;
      }
      case "huge":
        return await sendBody(
          conn,
          200,
          "application/json",
          JSON.stringify(completion("x".repeat(HUGE_TEXT_BYTES))),
        );
    }
    const status = /^status-(\d{3})$/.exec(model);
    if (status) {
      const code = Number(status[1]);
      return await sendBody(
        conn,
        code,
        "application/json",
        JSON.stringify({
          error: {
            message: `fake failure ${code}`,
            type: code === 429 ? "rate_limit_exceeded" : "server_error",
            code: code === 429 ? "rate_limit_exceeded" : null,
          },
        }),
        code === 429 ? { "retry-after": "30" } : {},
      );
    }
    if (!stream) {
      return await sendBody(conn, 200, "application/json", JSON.stringify(completion(OK_TEXT)));
    }
    await write(head(200, "text/event-stream", { "transfer-encoding": "chunked" }));
    for (const piece of STREAM_PIECES) await write(chunked(sse(delta(piece))));
    await write(chunked(sse(finish())));
    await write(chunked("data: [DONE]\n\n"));
    await write("0\r\n\r\n");
    return true;
  }

  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    open: () => conns.size,
    hits,
    lastStallClosedAt: () => stallClosedAt,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await serving.catch(() => {});
    },
  };
}

function head(status: number, contentType: string, extra: Record<string, string>): string {
  let s = `HTTP/1.1 ${status} X\r\ncontent-type: ${contentType}\r\n`;
  for (const [k, v] of Object.entries(extra)) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}

async function sendBody(
  conn: Deno.Conn,
  status: number,
  contentType: string,
  body: string,
  extra: Record<string, string> = {},
): Promise<boolean> {
  const bytes = enc.encode(body);
  await writeAll(
    conn,
    enc.encode(head(status, contentType, { ...extra, "content-length": String(bytes.byteLength) })),
  );
  await writeAll(conn, bytes);
  return true;
}

function chunked(s: string): string {
  return `${enc.encode(s).byteLength.toString(16)}\r\n${s}\r\n`;
}

function sse(obj: unknown): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}

function delta(content: string): unknown {
  return {
    id: "chatcmpl-f",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  };
}

function finish(): unknown {
  return {
    id: "chatcmpl-f",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
  };
}

function completion(text: string): unknown {
  return {
    id: "chatcmpl-f",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{
      index: 0,
      message: { role: "assistant", content: text },
      finish_reason: "stop",
    }],
    usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
  };
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
}

/** Reads HTTP/1.1 requests (content-length bodies) off a connection. */
class ConnReader {
  #buf = new Uint8Array(0);
  #closed = false;
  constructor(private conn: Deno.Conn) {}

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) {
      this.#closed = true;
      return false;
    }
    const next = new Uint8Array(this.#buf.byteLength + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.byteLength);
    this.#buf = next;
    return true;
  }

  async readRequest(): Promise<{ head: string; body: string } | undefined> {
    let end: number;
    while ((end = indexOfCrlf2(this.#buf)) === -1) {
      if (!await this.#fill()) return undefined;
    }
    const headText = dec.decode(this.#buf.subarray(0, end));
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headText)?.[1] ?? "0");
    while (this.#buf.byteLength < end + 4 + length) {
      if (!await this.#fill()) return undefined;
    }
    const body = dec.decode(this.#buf.subarray(end + 4, end + 4 + length));
    this.#buf = this.#buf.slice(end + 4 + length);
    return { head: headText, body };
  }

  /** Resolves when the peer closes the connection (what an aborted upstream request does). */
  async waitClosed(): Promise<void> {
    while (!this.#closed && await this.#fill()) {
      // discard whatever arrives
    }
  }
}

function indexOfCrlf2(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.byteLength; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}
