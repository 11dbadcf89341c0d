// The minimal forwarder: "the runtime's own limit". Deno.serve → fetch →
// Response, bodies streamed through untouched. The gateway cannot be faster
// than this, so its figures are judged against this one.
//
// Run standalone: `deno run -A bench/forwarder.ts UPSTREAM_URL`; prints one
// JSON line `{"url": "..."}` on stdout and exits when stdin closes.

import { stdinClosed } from "./upstream.ts";

export interface Forwarder {
  url: string;
  close(): Promise<void>;
}

/** Starts a pass-through proxy to `upstreamUrl` on an ephemeral 127.0.0.1 port. */
export function startForwarder(upstreamUrl: string): Promise<Forwarder> {
  const base = upstreamUrl.replace(/\/+$/, "");
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ hostname, port }): void => {
        resolve({ url: `http://${hostname}:${port}`, close: () => server.shutdown() });
      },
    }, async (req) => {
      const { pathname, search } = new URL(req.url);
      const res = await fetch(base + pathname + search, {
        method: req.method,
        headers: req.headers,
        body: req.body,
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    });
  });
}

if (import.meta.main) {
  const upstreamUrl = Deno.args[0];
  if (!upstreamUrl) throw new Error("usage: forwarder.ts UPSTREAM_URL");
  const forwarder = await startForwarder(upstreamUrl);
  console.log(JSON.stringify({ url: forwarder.url }));
  await stdinClosed();
  await forwarder.close();
}
