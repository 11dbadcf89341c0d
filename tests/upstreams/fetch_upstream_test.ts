import assert from "node:assert/strict";
import { UpstreamError } from "../../src/errors.ts";
import {
  ClientGoneError,
  fetchUpstream,
  probeConnect,
  UpstreamIdleError,
  watchIdle,
} from "../../src/upstreams/fetch_upstream.ts";

/** A loopback server that accepts connections and never answers. */
function silentServer(): { url: string; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of listener) conns.push(c);
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    close() {
      listener.close();
      for (const c of conns) c.close();
    },
  };
}

function deadPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("probeConnect: a listening host connects, a closed port does not", async () => {
  const s = silentServer();
  try {
    assert.equal(await probeConnect(s.url, 1000), true);
    assert.equal(await probeConnect(`http://127.0.0.1:${deadPort()}`, 1000), false);
  } finally {
    s.close();
  }
});

Deno.test("a slow but reachable upstream is not taken for a dead one: 504 at first_byte_timeout_ms", async () => {
  const s = silentServer();
  try {
    const started = Date.now();
    await assert.rejects(
      fetchUpstream(s.url, {
        method: "POST",
        body: "{}",
        timeoutMs: 60_000,
        timeouts: { connect_timeout_ms: 30, first_byte_timeout_ms: 250 },
        clientSignal: new AbortController().signal,
      }),
      (err: unknown) => {
        assert.ok(err instanceof UpstreamError);
        assert.equal(err.status, 504);
        assert.equal(err.code, "upstream_timeout");
        return true;
      },
    );
    const took = Date.now() - started;
    assert.ok(took >= 240 && took < 2000, `gave up after ${took} ms`);
  } finally {
    s.close();
  }
});

Deno.test("watchIdle: a body silent for longer than the idle timeout errors with 504 and aborts the upstream", async () => {
  const upstream = new AbortController();
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulls++ === 0) c.enqueue(new Uint8Array([1]));
      // then silence until aborted
      return new Promise((_, reject) =>
        upstream.signal.addEventListener("abort", () => reject(new Error("aborted")))
      );
    },
  });
  const reader = watchIdle(body, 80, upstream).getReader();
  assert.deepEqual((await reader.read()).value, new Uint8Array([1]));
  const started = Date.now();
  // The watch runs on the shared coarse deadline, which keeps no process alive by itself (a
  // real body is a pending fetch, which does).
  const alive = setTimeout(() => {}, 5_000);
  await assert.rejects(reader.read(), (err: unknown) => err instanceof UpstreamIdleError);
  clearTimeout(alive);
  assert.ok(upstream.signal.aborted);
  assert.ok(Date.now() - started < 1000);
});

Deno.test("watchIdle: a client reading slowly is not the upstream's silence", async () => {
  const upstream = new AbortController();
  const body = ReadableStream.from([new Uint8Array([1]), new Uint8Array([2])]);
  const reader = watchIdle(body, 30, upstream).getReader();
  await reader.read();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual((await reader.read()).value, new Uint8Array([2]));
  assert.equal((await reader.read()).done, true);
  assert.equal(upstream.signal.aborted, false);
});

Deno.test("a client signal behind a getter is read once the upstream is slow, and followed", async () => {
  let reads = 0;
  const client = new AbortController();
  const holder = {
    get signal(): AbortSignal {
      reads++;
      return client.signal;
    },
  };
  // A silent upstream: the signal is read and followed, and the client leaving aborts the call.
  const s = silentServer();
  try {
    setTimeout(() => client.abort(), 100);
    await assert.rejects(
      fetchUpstream(s.url, { method: "POST", body: "{}", timeoutMs: 5_000, clientSignal: holder }),
      ClientGoneError,
    );
    assert.equal(reads, 1);
  } finally {
    s.close();
  }
});

Deno.test("a success status with an error body is a 502; other bodies keep their status", async () => {
  const bodies = new Map<string, { body: string; status: number }>([
    ["openai", { body: '{"error":{"message":"overloaded"}}', status: 502 }],
    ["spaced", { body: ' \n{ \t"error" : {"message":"x"}}', status: 502 }],
    ["anthropic", { body: '{"type":"error","error":{"type":"overloaded_error"}}', status: 502 }],
    ["anthropic-spaced", { body: '{ "type" : "error" }', status: 502 }],
    ["answer", { body: '{"id":"chatcmpl-1","error":null,"choices":[]}', status: 200 }],
    ["message", { body: '{"type":"message","content":[]}', status: 200 }],
    ["errorless-key", { body: '{"errors":[]}', status: 200 }],
    ["array", { body: '[{"error":1}]', status: 200 }],
    ["empty", { body: "", status: 200 }],
    ["brace-only", { body: "{", status: 200 }],
  ]);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new Response(bodies.get(new URL(req.url).pathname.slice(1))?.body, {
        headers: { "content-type": "application/json" },
      }),
  );
  try {
    for (const [name, want] of bodies) {
      const res = await fetchUpstream(`http://127.0.0.1:${server.addr.port}/${name}`, {
        method: "GET",
        timeoutMs: 5000,
        clientSignal: new AbortController().signal,
      });
      assert.equal(res.status, want.status, name);
      assert.equal(await res.text(), want.body, name);
    }
  } finally {
    await server.shutdown();
  }
});
