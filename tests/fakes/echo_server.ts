import { gzipSync } from "node:zlib";

/** What the echo server saw of one HTTP request. */
export interface EchoedRequest {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: string;
}

/** A WebSocket close the echo server received from its client. */
export interface SeenClose {
  code: number;
  reason: string;
}

export interface EchoServer {
  url: string;
  port: number;
  /** HTTP requests answered so far (not counting WebSocket upgrades). */
  hits: number;
  /** `/stream` bodies the reader cancelled before their end. */
  cancelled: number;
  /** Closes received from WebSocket clients, in order. */
  closes: SeenClose[];
  /** Resolves with the next close received from a WebSocket client. */
  nextClose(): Promise<SeenClose>;
  close(): Promise<void>;
}

/**
 * A fake upstream on 127.0.0.1 speaking plain HTTP and WebSocket:
 * - any path: JSON echo of method, path, raw query, headers and body (`EchoedRequest`);
 * - `/stream?n=N&gap=MS`: N SSE events, MS apart, each flushed on its own;
 * - `/redirect?to=URL&status=S`: a redirect;
 * - `/gzip`: a gzip-encoded body with its `content-encoding` and `content-length`;
 * - `/cookies`: two `set-cookie` headers;
 * - WebSocket upgrade on any path: echoes text and binary frames; the text `close-me` makes the
 *   server close with 4001 "bye", `headers` answers with the handshake's headers; the chosen
 *   subprotocol is the first offered. `/deny` answers the upgrade with a plain 401.
 */
export function startEchoServer(): Promise<EchoServer> {
  const closes: SeenClose[] = [];
  const waiters: ((c: SeenClose) => void)[] = [];
  const state = { hits: 0, cancelled: 0 };
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen({ port }) {
        resolve({
          url: `http://127.0.0.1:${port}`,
          port,
          get hits() {
            return state.hits;
          },
          get cancelled() {
            return state.cancelled;
          },
          closes,
          nextClose: () => new Promise((r) => waiters.push(r)),
          close: () => server.shutdown(),
        });
      },
    }, async (req) => {
      const url = new URL(req.url);
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (url.pathname === "/deny") {
          return Response.json({ error: "no key" }, {
            status: 401,
            headers: { "x-upstream": "deny" },
          });
        }
        const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",")
          .map((p) => p.trim()).filter((p) => p);
        // Read now: the request's headers are gone once the upgrade completes.
        const handshake = JSON.stringify(Object.fromEntries(req.headers));
        const { socket, response } = Deno.upgradeWebSocket(
          req,
          offered.length ? { protocol: offered[0] } : {},
        );
        socket.onmessage = (e) => {
          if (e.data === "close-me") socket.close(4001, "bye");
          else if (e.data === "headers") {
            socket.send(handshake);
          } else socket.send(e.data);
        };
        socket.onclose = (e) => {
          const seen = { code: e.code, reason: e.reason };
          closes.push(seen);
          waiters.shift()?.(seen);
        };
        return response;
      }
      state.hits++;
      if (url.pathname === "/stream") {
        const n = Number(url.searchParams.get("n") ?? "3");
        const gap = Number(url.searchParams.get("gap") ?? "20");
        let i = 0;
        const enc = new TextEncoder();
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (i >= n) {
              controller.close();
              return;
            }
            if (i > 0) await new Promise((r) => setTimeout(r, gap));
            controller.enqueue(enc.encode(`data: {"i":${i++}}\n\n`));
          },
          cancel() {
            state.cancelled++;
          },
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      }
      if (url.pathname === "/redirect") {
        return new Response(null, {
          status: Number(url.searchParams.get("status") ?? "302"),
          headers: { location: url.searchParams.get("to") ?? "/" },
        });
      }
      if (url.pathname === "/gzip") {
        const body = new Uint8Array(gzipSync(new TextEncoder().encode("compressed hello")));
        return new Response(body, {
          headers: {
            "content-encoding": "gzip",
            "content-length": String(body.byteLength),
            "content-type": "text/plain",
          },
        });
      }
      if (url.pathname === "/cookies") {
        const headers = new Headers();
        headers.append("set-cookie", "a=1; Path=/");
        headers.append("set-cookie", "b=2; Path=/");
        headers.set("x-upstream", "yes");
        return new Response("ok", { headers });
      }
      const echoed: EchoedRequest = {
        method: req.method,
        path: url.pathname,
        search: url.search,
        headers: Object.fromEntries(req.headers),
        body: await req.text(),
      };
      return Response.json(echoed, { headers: { "x-upstream": "echo" } });
    });
  });
}
